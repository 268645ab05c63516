/**
 * Decoders for the printed payloads of the kvm tracepoints (the text after
 * `kvm_exit: `), one per event, each feeding the ExitAssembler. The print
 * formats: events/kvm/<event>/format (fixtures/tracefs/*.format) for 5.x/6.x,
 * arch/x86/kvm/trace.h of older kernels for the rest:
 *   kvm_exit   `vcpu %u reason %s%s%s rip 0x%lx info1 … info2 … intr_info … error_code … [requests …]`
 *              old: `reason %s rip 0x%lx info %llx %llx`; libtraceevent: `reason UNKNOWN (%llu)`
 *   kvm_entry  `vcpu %u[, rip 0x%lx]`
 *   kvm_pio    `pio_%s at 0x%x size %d count %d[ val 0x%x …]`
 *   kvm_mmio   `mmio %s len %u gpa 0x%llx val 0x%llx` (read / write / unsatisfied-read)
 *   kvm_msr    `msr_%s %x = 0x%llx[ (#GP)]`
 *   kvm_fast_mmio `fast mmio at gpa 0x%llx` (always a write: an ioeventfd doorbell)
 *   kvm_userspace_exit `reason %s (%d)` (the exit went on to the VMM)
 */
import { DIR_READ, DIR_WRITE, F_FAILED_ENTRY, F_GPA, F_MSR, F_PORT, F_SIZE, F_VALUE } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import { newU64Out, parseHexU64Bytes } from '../model/u64.js';
import { HEX_DIGIT, ReasonCache, bytesEqual, bytesView, cur, lit, parseUint, skipSpaces, tokenEnd } from './bytes.js';
import { clearDetail, detailFields, EV_ENTRY, EV_EXIT, EV_FAST_MMIO, EV_MMIO, EV_MSR, EV_NONE, EV_PIO, EV_USERSPACE, EVENT_NAMES } from './exit-assembler.js';
import type { EventSink } from './events.js';

export { EV_ENTRY, EV_EXIT, EV_FAST_MMIO, EV_MMIO, EV_MSR, EV_NONE, EV_PIO, EV_USERSPACE, EVENT_NAMES };

const NAMES = EVENT_NAMES.map((n) => lit(n));

/** Kind of the event named by b[s, e), or EV_NONE for other kvm events. */
export function eventKind(b: Uint8Array, s: number, e: number): number {
  // Dispatch on the letter after `kvm_` before comparing whole names (most lines are exits and entries).
  const c = b[s + 4];
  const from = c === 101 ? EV_EXIT : c === 112 ? EV_PIO : c === 109 ? EV_MMIO : c === 102 ? EV_FAST_MMIO : c === 117 ? EV_USERSPACE : -1;
  if (from < 0) return EV_NONE;
  const to = c === 101 ? EV_ENTRY : c === 109 ? EV_MSR : from;
  for (let k = from; k <= to; k++) if (bytesEqual(b, s, e, NAMES[k])) return k;
  return EV_NONE;
}

const K_VCPU = lit('vcpu');
const K_REASON = lit('reason');
const K_RIP = lit('rip');
const K_FAILED = lit('FAILED_VMENTRY');
const K_EXCP = lit('excp');
const K_UNKNOWN = lit('UNKNOWN');
const K_AT = lit('at');
const K_SIZE = lit('size');
const K_VAL = lit('val');
const K_LEN = lit('len');
const K_GPA = lit('gpa');
const K_PIO_READ = lit('pio_read');
const K_PIO_WRITE = lit('pio_write');
const K_MSR_READ = lit('msr_read');
const K_MSR_WRITE = lit('msr_write');
const K_READ = lit('read');
const K_WRITE = lit('write');
const K_UNSAT = lit('unsatisfied-read');

const u64 = newU64Out();

/**
 * The hex number of the token at s (it ends at a blank or e) into u64; cur.pos = its end.
 * The usual `0x` and 1 to 8 hex digits are read as the token is scanned; any other token by
 * parseHexU64Bytes (a second quick path there, for `0x` and 8 digits or fewer, was reached only by
 * tokens the first had refused, such as `0x12zz`, and gave what parseHexU64Bytes gives).
 */
function hexToken(b: Buffer, s: number, e: number): boolean {
  if (s + 2 < e && b[s] === 48 && b[s + 1] === 120) {
    let p = s + 2, lo = 0, d = 0;
    while (p < e && (d = HEX_DIGIT[b[p]]) >= 0) { lo = lo * 16 + d; p++; }
    const n = p - s - 2;
    if (n >= 1 && n <= 8 && (p === e || b[p] === 32 || b[p] === 9)) {
      cur.pos = p;
      u64[0] = 0;
      u64[1] = lo;
      return true;
    }
  }
  let p = s;
  while (p < e && b[p] !== 32 && b[p] !== 9) p++;
  cur.pos = p;
  return parseHexU64Bytes(b, s, p, u64);
}

/** Past a 3-letter keyword at p (its bytes as the top 24 bits of `word`), the blank after it and any more; -1 when p holds something else. */
function afterWord3(v: DataView, b: Buffer, p: number, e: number, word: number): number {
  if (p + 3 >= e || (v.getUint32(p) & 0xffffff00) !== word) return -1;
  const c = b[p + 3];
  return c === 32 || c === 9 ? skipSpaces(b, p + 4, e) : -1;
}

/** Decimal digits at p, then a blank: the value in cur.val and the position past the blanks; -1 otherwise. */
function decimalThenBlanks(b: Buffer, p: number, e: number): number {
  let x = 0, c = 0;
  const s = p;
  while (p < e && (c = b[p]) >= 48 && c <= 57) { x = x * 10 + (c - 48); p++; }
  if (p === s || p >= e || (c !== 32 && c !== 9)) return -1;
  cur.val = x;
  return skipSpaces(b, p, e);
}

/**
 * The payload's end, `val 0xV` and nothing after it: 1 with the value in u64, 0 when the value is not hex (the general
 * reader keeps no value then either), -1 when the payload ends otherwise.
 */
function valThenEnd(v: DataView, b: Buffer, p: number, e: number): number {
  p = afterWord3(v, b, p, e, 0x76616c00);
  if (p < 0) return -1;
  const has = hexToken(b, p, e);
  return skipSpaces(b, cur.pos, e) < e ? -1 : has ? 1 : 0;
}

/**
 * Payloads of kvm_exit, kvm_pio and kvm_mmio this thread's decoders read with the token loops because the
 * straight-line readers declined them. The usual layouts never go there: a test holds the straight-line
 * readers to that, since the token loops give the same records, only slower.
 */
export const kvmPayloadTokenLoops = { count: 0 };

/** Decodes one input's payloads; keeps the input's reason spellings and vendor. */
export class KvmPayloadDecoder {
  readonly reasons = new ReasonCache();
  constructor(private readonly asm: EventSink) {}

  /** null when decoded, else why the payload was rejected. */
  decode(kind: number, b: Buffer, p: number, e: number, ts: () => number, cpu: number, pid: number): string | null {
    switch (kind) {
      case EV_EXIT: if (this.exitFast(b, p, e, ts, cpu, pid)) return null; kvmPayloadTokenLoops.count++; return this.exit(b, p, e, ts, cpu, pid);
      case EV_ENTRY: return this.entry(b, p, e, ts, cpu, pid);
      case EV_PIO: if (this.pioFast(b, p, e, cpu, pid)) return null; kvmPayloadTokenLoops.count++; return this.pio(b, p, e, cpu, pid);
      case EV_MMIO: if (this.mmioFast(b, p, e, cpu, pid)) return null; kvmPayloadTokenLoops.count++; return this.mmio(b, p, e, cpu, pid, false);
      case EV_FAST_MMIO: return this.mmio(b, p, e, cpu, pid, true);
      case EV_MSR: return this.msr(b, p, e, cpu, pid);
      case EV_USERSPACE: this.asm.userspace(cpu, pid); return null;
      default: return null;
    }
  }

  /**
   * exit() for the usual `vcpu N reason NAME rip 0x… …`, with one result:
   * true when it recorded the exit, false (having done nothing) when the
   * payload is laid out otherwise and exit() must read it. What follows the rip
   * is never looked at, as in exit() once it has a reason and a rip.
   */
  private exitFast(b: Buffer, p: number, e: number, ts: () => number, cpu: number, pid: number): boolean {
    let c = 0;
    while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
    // `vcpu` + blank + digits (older kernels print none)
    if (p + 5 >= e) return false;
    const v = bytesView(b);
    let vcpu = -1;
    if (v.getUint32(p) === 0x76637075) {
      if ((c = b[p + 4]) !== 32 && c !== 9) return false;
      p += 5;
      while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
      const d0 = p;
      vcpu = 0;
      while (p < e && (c = b[p]) >= 48 && c <= 57) { vcpu = vcpu * 10 + (c - 48); p++; }
      if (p === d0) return false;
      while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
    }
    // `reason` + blank + NAME
    if (p + 6 >= e || v.getUint32(p) !== 0x72656173 || v.getUint16(p + 4) !== 0x6f6e || ((c = b[p + 6]) !== 32 && c !== 9)) return false;
    p += 7;
    while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
    const rs = p;
    let reason = this.reasons.known(b, v, rs, e);
    if (reason >= 0) p = cur.pos;
    else while (p < e && (c = b[p]) !== 32 && c !== 9) p++;
    const re = p;
    if (re === rs) return false;
    while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
    // `rip` + blank + hex: the token after NAME is neither `excp` nor `(code)`.
    if (p + 3 >= e || (v.getUint32(p) & 0xffffff00) !== 0x72697000 || ((c = b[p + 3]) !== 32 && c !== 9)) return false;
    p += 4;
    while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
    if (!hexToken(b, p, e)) return false;
    const ripHi = u64[0], ripLo = u64[1];
    if (reason < 0) reason = this.reasons.rememberToken(b, v, rs, re, e);
    this.asm.exit(ts(), cpu, pid, vcpu, reason, ripHi, ripLo, 0);
    return true;
  }

  private exit(b: Buffer, p: number, e: number, ts: () => number, cpu: number, pid: number): string | null {
    let vcpu = -1, reason = -1, ripHi = 0, ripLo = 0, flags = 0;
    while (p < e) {
      p = skipSpaces(b, p, e);
      if (p >= e) break;
      const te = tokenEnd(b, p, e);
      if (bytesEqual(b, p, te, K_VCPU)) {
        const v = parseUint(b, skipSpaces(b, te, e), e);
        if (v < 0) return 'kvm_exit: expected a number after "vcpu"';
        vcpu = v; p = cur.pos;
      } else if (bytesEqual(b, p, te, K_REASON)) {
        const rs = skipSpaces(b, te, e);
        let re = tokenEnd(b, rs, e);
        if (re === rs) return 'kvm_exit: empty reason';
        const n2 = skipSpaces(b, re, e);
        if (bytesEqual(b, rs, re, K_UNKNOWN) && n2 < e && b[n2] === 40) {
          // libtraceevent's `UNKNOWN (74)`: keep the code, name it from the vendor's table.
          const code = parseUint(b, n2 + 1, e);
          if (code < 0 || cur.pos >= e || b[cur.pos] !== 41) return 'kvm_exit: bad UNKNOWN (code)';
          if (this.reasons.isa === 'svm') reason = REASONS.byNativeCode('svm', code);
          else {
            // VMX: the basic reason is the low 16 bits; bit 31 is a failed VM entry (libtraceevent prints the whole word).
            reason = REASONS.byNativeCode('vmx', code % 65536);
            if (code >= 0x80000000) flags |= F_FAILED_ENTRY;
          }
          p = cur.pos + 1;
          continue;
        }
        // SVM exception reasons carry a space: "PF excp".
        if (n2 < e && bytesEqual(b, n2, tokenEnd(b, n2, e), K_EXCP)) re = tokenEnd(b, n2, e);
        reason = this.reasons.lookup(b, rs, re);
        p = re;
      } else if (bytesEqual(b, p, te, K_RIP)) {
        const hs = skipSpaces(b, te, e);
        const he = tokenEnd(b, hs, e);
        if (!parseHexU64Bytes(b, hs, he, u64)) return `kvm_exit: rip '${b.toString('latin1', hs, he)}' is not hex`;
        ripHi = u64[0]; ripLo = u64[1];
        // Everything after the rip (info1, info2, intr_info, error_code, requests) says nothing exitscope uses.
        if (reason >= 0) break;
        p = he;
      } else if (bytesEqual(b, p, te, K_FAILED)) {
        flags |= F_FAILED_ENTRY; p = te;
      } else p = te;
    }
    if (reason < 0) return 'kvm_exit without a reason';
    this.asm.exit(ts(), cpu, pid, vcpu, reason, ripHi, ripLo, flags);
    return null;
  }

  private entry(b: Buffer, p: number, e: number, ts: () => number, cpu: number, pid: number): string | null {
    let vcpu = -1;
    while (p < e && (b[p] === 32 || b[p] === 9)) p++;
    // the first token is `vcpu`
    if (p + 4 <= e && b[p] === 118 && b[p + 1] === 99 && b[p + 2] === 112 && b[p + 3] === 117 && (p + 4 === e || b[p + 4] === 32 || b[p + 4] === 9)) {
      p += 4;
      while (p < e && (b[p] === 32 || b[p] === 9)) p++;
      vcpu = parseUint(b, p, e);
      if (vcpu < 0) return 'kvm_entry: expected a number after "vcpu"';
    }
    this.asm.entry(ts(), cpu, pid, vcpu);
    return null;
  }

  /**
   * pio() for the usual `pio_read|pio_write at 0xPORT size N count N val 0xV`:
   * true when it recorded the detail, false (having done nothing) when the
   * payload is laid out otherwise and pio() must read it.
   */
  private pioFast(b: Buffer, p: number, e: number, cpu: number, pid: number): boolean {
    let c = 0;
    while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
    if (p + 9 >= e) return false;
    const v = bytesView(b);
    if (v.getUint32(p) !== 0x70696f5f) return false; // pio_
    let dir: number;
    const w = v.getUint32(p + 4);
    if (w === 0x77726974 && b[p + 8] === 101 && ((c = b[p + 9]) === 32 || c === 9)) { dir = DIR_WRITE; p += 10; } // write
    else if (w === 0x72656164 && ((c = b[p + 8]) === 32 || c === 9)) { dir = DIR_READ; p += 9; } // read
    else return false;
    while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
    // `at` + blank + hex port
    if (p + 2 >= e || v.getUint16(p) !== 0x6174 || ((c = b[p + 2]) !== 32 && c !== 9)) return false;
    p += 3;
    while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
    if (!hexToken(b, p, e) || u64[0] !== 0 || u64[1] > 0xffff) return false;
    const port = u64[1];
    p = cur.pos;
    while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
    // `size` + blank + digits + blank
    if (p + 4 >= e || v.getUint32(p) !== 0x73697a65 || ((c = b[p + 4]) !== 32 && c !== 9)) return false;
    p = decimalThenBlanks(b, skipSpaces(b, p + 5, e), e);
    if (p < 0) return false;
    const size = cur.val;
    // `count` + blank + digits + blank (no keyword among them)
    if (p + 5 >= e || v.getUint32(p) !== 0x636f756e || b[p + 4] !== 116 || ((c = b[p + 5]) !== 32 && c !== 9)) return false;
    p = decimalThenBlanks(b, skipSpaces(b, p + 6, e), e);
    if (p < 0) return false;
    const val = valThenEnd(v, b, p, e);
    if (val < 0) return false;
    const d = detailFields;
    d.dir = dir; d.port = port; d.size = size; d.gpaHi = 0; d.gpaLo = 0; d.msr = 0;
    if (val === 1) { d.valHi = u64[0]; d.valLo = u64[1]; d.flags = F_PORT | F_SIZE | F_VALUE; }
    else { d.valHi = 0; d.valLo = 0; d.flags = F_PORT | F_SIZE; }
    this.asm.detail(EV_PIO, cpu, pid);
    return true;
  }

  private pio(b: Buffer, p: number, e: number, cpu: number, pid: number): string | null {
    const d = clearDetail();
    while (p < e) {
      p = skipSpaces(b, p, e);
      if (p >= e) break;
      const te = tokenEnd(b, p, e);
      const va = skipSpaces(b, te, e);
      const vz = tokenEnd(b, va, e);
      if (bytesEqual(b, p, te, K_PIO_READ)) d.dir = DIR_READ;
      else if (bytesEqual(b, p, te, K_PIO_WRITE)) d.dir = DIR_WRITE;
      else if (bytesEqual(b, p, te, K_AT)) {
        if (!parseHexU64Bytes(b, va, vz, u64) || u64[0] !== 0 || u64[1] > 0xffff) return 'kvm_pio: bad port';
        d.port = u64[1]; d.flags |= F_PORT; p = vz; continue;
      } else if (bytesEqual(b, p, te, K_SIZE)) {
        const v = parseUint(b, va, e);
        if (v < 0) return 'kvm_pio: bad size';
        d.size = v; d.flags |= F_SIZE; p = cur.pos; continue;
      } else if (bytesEqual(b, p, te, K_VAL)) {
        if (parseHexU64Bytes(b, va, vz, u64)) { d.valHi = u64[0]; d.valLo = u64[1]; d.flags |= F_VALUE; }
        p = vz; continue;
      }
      p = te;
    }
    this.asm.detail(EV_PIO, cpu, pid);
    return null;
  }

  /**
   * mmio() for kvm_mmio's usual `mmio read|write|unsatisfied-read len N gpa
   * 0xG val 0xV`: true when it recorded the detail, false (having done
   * nothing) when the payload is laid out otherwise and mmio() must read it.
   */
  private mmioFast(b: Buffer, p: number, e: number, cpu: number, pid: number): boolean {
    let c = 0;
    while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
    if (p + 10 >= e) return false;
    const v = bytesView(b);
    if (v.getUint32(p) !== 0x6d6d696f || ((c = b[p + 4]) !== 32 && c !== 9)) return false; // mmio
    p += 5;
    while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
    const ds = p;
    while (p < e && (c = b[p]) !== 32 && c !== 9) p++;
    if (p >= e) return false;
    const n = p - ds;
    let dir: number;
    if (n === 5 && v.getUint32(ds) === 0x77726974 && b[ds + 4] === 101) dir = DIR_WRITE; // write
    else if (n === 4 && v.getUint32(ds) === 0x72656164) dir = DIR_READ; // read
    else if (bytesEqual(b, ds, p, K_UNSAT)) dir = DIR_READ;
    else return false;
    while (p < e && ((c = b[p]) === 32 || c === 9)) p++;
    // `len` + blank + digits + blank, `gpa` + blank + hex
    p = afterWord3(v, b, p, e, 0x6c656e00);
    if (p < 0 || (p = decimalThenBlanks(b, p, e)) < 0) return false;
    const size = cur.val;
    p = afterWord3(v, b, p, e, 0x67706100);
    if (p < 0 || !hexToken(b, p, e)) return false;
    const gpaHi = u64[0], gpaLo = u64[1];
    const val = valThenEnd(v, b, skipSpaces(b, cur.pos, e), e);
    if (val < 0) return false;
    const d = detailFields;
    d.dir = dir; d.port = 0; d.size = size; d.gpaHi = gpaHi; d.gpaLo = gpaLo; d.msr = 0;
    if (val === 1) { d.valHi = u64[0]; d.valLo = u64[1]; d.flags = F_SIZE | F_GPA | F_VALUE; }
    else { d.valHi = 0; d.valLo = 0; d.flags = F_SIZE | F_GPA; }
    this.asm.detail(EV_MMIO, cpu, pid);
    return true;
  }

  private mmio(b: Buffer, p: number, e: number, cpu: number, pid: number, fast: boolean): string | null {
    const d = clearDetail();
    while (p < e) {
      p = skipSpaces(b, p, e);
      if (p >= e) break;
      const te = tokenEnd(b, p, e);
      const va = skipSpaces(b, te, e);
      const vz = tokenEnd(b, va, e);
      if (bytesEqual(b, p, te, K_WRITE)) d.dir = DIR_WRITE;
      else if (bytesEqual(b, p, te, K_READ) || bytesEqual(b, p, te, K_UNSAT)) d.dir = DIR_READ;
      else if (bytesEqual(b, p, te, K_LEN)) {
        const v = parseUint(b, va, e);
        if (v < 0) return 'kvm_mmio: bad len';
        d.size = v; d.flags |= F_SIZE; p = cur.pos; continue;
      } else if (bytesEqual(b, p, te, K_GPA)) {
        if (!parseHexU64Bytes(b, va, vz, u64)) return `${fast ? 'kvm_fast_mmio' : 'kvm_mmio'}: bad gpa`;
        d.gpaHi = u64[0]; d.gpaLo = u64[1]; d.flags |= F_GPA; p = vz; continue;
      } else if (bytesEqual(b, p, te, K_VAL)) {
        if (parseHexU64Bytes(b, va, vz, u64)) { d.valHi = u64[0]; d.valLo = u64[1]; d.flags |= F_VALUE; }
        p = vz; continue;
      }
      p = te;
    }
    // A fast MMIO exit is an ioeventfd doorbell: always a write.
    if (fast) d.dir = DIR_WRITE;
    this.asm.detail(fast ? EV_FAST_MMIO : EV_MMIO, cpu, pid);
    return null;
  }

  private msr(b: Buffer, p: number, e: number, cpu: number, pid: number): string | null {
    const d = clearDetail();
    p = skipSpaces(b, p, e);
    const te = tokenEnd(b, p, e);
    const read = bytesEqual(b, p, te, K_MSR_READ);
    if (!read && !bytesEqual(b, p, te, K_MSR_WRITE)) return 'kvm_msr: expected msr_read or msr_write';
    d.dir = read ? DIR_READ : DIR_WRITE;
    const va = skipSpaces(b, te, e), vz = tokenEnd(b, va, e);
    if (!parseHexU64Bytes(b, va, vz, u64) || u64[0] !== 0) return 'kvm_msr: bad msr index';
    d.msr = u64[1]; d.flags |= F_MSR;
    const eq = skipSpaces(b, vz, e);
    if (eq < e && b[eq] === 61) {
      const a2 = skipSpaces(b, eq + 1, e), z2 = tokenEnd(b, a2, e);
      if (parseHexU64Bytes(b, a2, z2, u64)) { d.valHi = u64[0]; d.valLo = u64[1]; d.flags |= F_VALUE; }
    }
    this.asm.detail(EV_MSR, cpu, pid);
    return null;
  }
}
