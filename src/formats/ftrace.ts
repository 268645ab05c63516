/**
 * Text traces of the kvm tracepoints: the raw ftrace buffer
 * (/sys/kernel/tracing/trace, trace_pipe), `trace-cmd report`, and
 * `perf script` over kvm:* events. Reference for the payloads: the print
 * formats under events/kvm/* (copied in fixtures/tracefs/) and, for older
 * kernels, arch/x86/kvm/trace.h of their day. Line prefix: kernel/trace/trace.c
 * print_trace_fmt() / trace-cmd's trace-output, perf's builtin-script.c.
 *
 * Lines handled (each from a real capture):
 *   challenge-24797 [003] .... 83184.290337: kvm_exit: reason IO_INSTRUCTION rip 0xff info e90008 0
 *   kvm-5664  [000] 11906.220188: kvm_exit: reason io_instruction rip 0xc01e4473
 *   qemu-system-x86-18971   [015] d.... 95922.997039: kvm_exit: vcpu 0 reason EXCEPTION_NMI rip 0xfd0bd info1 0x0… intr_info 0x80000306 error_code 0x00000000
 *   CPU 0/KVM-7289    [023] d....  2925.640967: kvm_exit: vcpu 0 reason EXTERNAL_INTERRUPT intr_info 0x800000ec
 *   [001]   770.850307:                       kvm:kvm_exit: vcpu 0 reason TRIPLE_FAULT rip 0x100146 …
 *   qemu-system-x86 18971 [015] 95922.997039: kvm:kvm_exit: …           (perf script: comm, pid)
 * Oddities: comm names with spaces and slashes; `comm-pid` (ftrace) or
 * `comm pid` (perf) or neither; latency flags of 4 or 5 characters or none;
 * 6 or 9 decimals; old (`reason X rip R info A B`), 5.x (`vcpu N reason …
 * info1 … info2 …`) and 6.x (`… requests …`) kvm_exit; `rip` missing; SVM
 * reasons with a space (`PF excp`); ` FAILED_VMENTRY` after the reason;
 * `CPU:N [LOST N EVENTS]` and `##### CPU N buffer started ####` (pairing on
 * that host CPU is reset, not guessed across the gap).
 *
 * Pairing: each kvm_exit waits for the next kvm_entry of the same vcpu thread
 * (the pid, else the `vcpu N` field, else the host CPU); its duration is the
 * difference. kvm_pio/kvm_mmio/kvm_msr/kvm_fast_mmio/kvm_userspace_exit lines
 * in between attach to it. An exit followed by another exit, or still open at
 * a lost-events marker or at the end, is kept as unpaired (counted, untimed).
 */
import { DIR_READ, DIR_WRITE, ExitChunk, DEFAULT_CHUNK_ROWS, F_FAILED_ENTRY, F_GPA, F_MSR, F_PORT, F_SIZE, F_UNPAIRED, F_USERSPACE, F_VALUE } from '../model/chunk.js';
import { TimeBase } from '../model/time.js';
import { newU64Out, parseHexU64Bytes } from '../model/u64.js';
import { ReasonCache, bytesEqual, cur, lit, parseUint, skipSpaces, startsWithAt, tokenEnd } from './bytes.js';
import { lineBatches, type OpenedInput } from './input.js';
import type { ReadOptions, ReadState, TraceFormat } from './types.js';

const KVM_ = lit('kvm_');
const KVM_COLON = lit('kvm:');
const EV_EXIT = lit('kvm_exit');
const EV_ENTRY = lit('kvm_entry');
const EV_PIO = lit('kvm_pio');
const EV_MMIO = lit('kvm_mmio');
const EV_MSR = lit('kvm_msr');
const EV_FAST_MMIO = lit('kvm_fast_mmio');
const EV_USER = lit('kvm_userspace_exit');
const K_VCPU = lit('vcpu');
const K_REASON = lit('reason');
const K_RIP = lit('rip');
const K_FAILED = lit('FAILED_VMENTRY');
const K_EXCP = lit('excp');
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
const CPU_LOST = lit('CPU:');
const LOST = lit('[LOST ');
const BUFFER_STARTED = lit('buffer started');

const u64 = newU64Out();

/**
 * Per-thread pending exits: row `slot` of an ExitChunk holds each thread's open
 * exit (vcpu -1 until a line names it); beside it, what pairing alone needs.
 */
class Pending {
  n = 0;
  private cap = 64;
  rows = new ExitChunk(64);
  active = new Uint8Array(64);
  lastTs = new Float64Array(64).fill(-Infinity);
  threadVcpu = new Int32Array(64).fill(-1);
  cpu = new Int32Array(64);
  private readonly bySlotKey = new Map<number, number>();

  slot(key: number): number {
    let s = this.bySlotKey.get(key);
    if (s === undefined) {
      s = this.n++;
      if (s >= this.cap) this.grow();
      this.bySlotKey.set(key, s);
    }
    return s;
  }

  find(key: number): number {
    return this.bySlotKey.get(key) ?? -1;
  }

  private grow(): void {
    const cap = this.cap * 2;
    const rows = new ExitChunk(cap);
    for (let s = 0; s < this.cap; s++) rows.copyRow(this.rows, s);
    this.rows = rows;
    const g = <T extends Float64Array | Int32Array | Uint8Array>(a: T, fill: number): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.fill(fill);
      b.set(a);
      return b;
    };
    this.active = g(this.active, 0);
    this.lastTs = g(this.lastTs, -Infinity);
    this.threadVcpu = g(this.threadVcpu, -1);
    this.cpu = g(this.cpu, 0);
    this.cap = cap;
  }
}

/** Line prefix fields, filled by parsePrefix. */
const pre = { pid: -1, cpu: -1, tsNs: 0, tsBig: false, tsSec: 0, tsFrac: 0, tsDigits: 0, event: 0, eventEnd: 0, payload: 0, perf: false };

const POW10 = [1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/**
 * Locates `kvm_<name>:` and parses the prefix before it. Returns false when the
 * line has no kvm event in the expected place.
 */
function parseKvmPrefix(b: Buffer, s: number, e: number): boolean {
  let from = s;
  for (;;) {
    const i = b.indexOf(KVM_, from);
    if (i < 0 || i >= e) return false;
    from = i + 1;
    // Event name: [a-z_]+ then ':'.
    let j = i + 4;
    while (j < e && ((b[j] >= 97 && b[j] <= 122) || b[j] === 95)) j++;
    if (j >= e || b[j] !== 58 || (j + 1 < e && b[j + 1] !== 32)) continue;
    let h = i;
    pre.perf = false;
    if (i - 4 >= s && startsWithAt(b, i - 4, e, KVM_COLON)) { h = i - 4; pre.perf = true; }
    if (h > s && b[h - 1] !== 32 && b[h - 1] !== 9) continue;
    // Timestamp "sec.frac:" before the event.
    let k = h - 1;
    while (k >= s && (b[k] === 32 || b[k] === 9)) k--;
    if (k < s || b[k] !== 58) continue;
    const tsEnd = k;
    k--;
    while (k >= s && ((b[k] >= 48 && b[k] <= 57) || b[k] === 46)) k--;
    const tsStart = k + 1;
    if (!parseTs(b, tsStart, tsEnd)) continue;
    pre.event = i;
    pre.eventEnd = j;
    pre.payload = j + 1;
    // Before the timestamp: [latency flags] [cpu] comm-pid | comm pid.
    pre.cpu = -1;
    pre.pid = -1;
    k = skipBack(b, s, k);
    if (k >= s && b[k] !== 93) {
      // Latency flags like "d..1." / "...." / "dNh1": 4-5 characters, not all digits (a pid is).
      let m = k, digitsOnly = true;
      while (m >= s && b[m] !== 32 && b[m] !== 9) { if (b[m] < 48 || b[m] > 57) digitsOnly = false; m--; }
      const len = k - m;
      if (!digitsOnly && len >= 4 && len <= 5) k = skipBack(b, s, m);
    }
    if (k >= s && b[k] === 93) {
      let m = k - 1;
      let v = 0, mul = 1;
      while (m >= s && b[m] >= 48 && b[m] <= 57) { v += (b[m] - 48) * mul; mul *= 10; m--; }
      if (m >= s && b[m] === 91 && mul > 1) { pre.cpu = v; k = skipBack(b, s, m - 1); }
    }
    if (k >= s) {
      // pid: trailing digits of "comm-pid" or a separate "pid" token.
      let m = k, v = 0, mul = 1;
      while (m >= s && b[m] >= 48 && b[m] <= 57) { v += (b[m] - 48) * mul; mul *= 10; m--; }
      if (mul > 1 && (m < s || b[m] === 45 || b[m] === 32 || b[m] === 9)) pre.pid = v;
    }
    return true;
  }
}

function skipBack(b: Buffer, s: number, k: number): number {
  while (k >= s && (b[k] === 32 || b[k] === 9)) k--;
  return k;
}

function parseTs(b: Buffer, s: number, e: number): boolean {
  let sec = 0, frac = 0, digits = 0, dot = false, any = false;
  for (let p = s; p < e; p++) {
    const c = b[p];
    if (c === 46) { if (dot) return false; dot = true; continue; }
    any = true;
    if (dot) { if (++digits > 9) return false; frac = frac * 10 + (c - 48); }
    else sec = sec * 10 + (c - 48);
  }
  if (!any || !dot || digits === 0) return false;
  pre.tsSec = sec;
  pre.tsFrac = frac * POW10[9 - digits];
  pre.tsDigits = digits;
  pre.tsBig = sec > 9_000_000;
  pre.tsNs = pre.tsBig ? 0 : sec * 1e9 + pre.tsFrac;
  return true;
}

/** A non-kvm event line (`… [cpu] … ts: name: …`): skipped as unrelated rather than rejected. */
function looksLikeEventLine(b: Buffer, s: number, e: number): boolean {
  const lb = b.indexOf(91, s);
  if (lb < 0 || lb >= e) return false;
  let p = lb + 1;
  const d0 = p;
  while (p < e && b[p] >= 48 && b[p] <= 57) p++;
  if (p === d0 || p >= e || b[p] !== 93) return false;
  // a "digits.digits:" after the cpu field
  for (; p < e; p++) {
    if (b[p] === 58 && p > 0 && b[p - 1] >= 48 && b[p - 1] <= 57) {
      let q = p - 1, dot = false;
      while (q > lb && ((b[q] >= 48 && b[q] <= 57) || b[q] === 46)) { if (b[q] === 46) dot = true; q--; }
      if (dot) return true;
    }
  }
  return false;
}

async function* readText(input: OpenedInput, state: ReadState, opts: ReadOptions): AsyncGenerator<ExitChunk> {
  const { diag } = state;
  const st = diag.stats;
  for (const c of ['port', 'size', 'dir', 'value', 'gpa', 'msr'] as const) state.columns.add(c);
  const counters = state.counters;
  counters.lostEvents = 0;
  counters.unpairedExits = 0;
  counters.unpairedEntries = 0;
  counters.timeWentBackwards = 0;
  let flavour = '';
  const time = new TimeBase();
  const rows = opts.chunkRows ?? DEFAULT_CHUNK_ROWS;
  const ready: ExitChunk[] = [];
  let chunk = new ExitChunk(rows);
  const reasons = new ReasonCache();
  const P = new Pending();
  /** Host CPU -> slot whose pending exit ran there (detail events without pid/vcpu). */
  const cpuSlot = new Map<number, number>();
  let syntheticVcpus = 0;
  let lines = 0;

  const tsOffset = (): number => (pre.tsBig ? time.offsetOfBigInt(BigInt(pre.tsSec) * 1_000_000_000n + BigInt(pre.tsFrac)) : time.offsetOfNumber(pre.tsNs));

  const emit = (s: number, dur: number): void => {
    const R = P.rows;
    let v = R.vcpu[s] >= 0 ? R.vcpu[s] : P.threadVcpu[s];
    if (v < 0) {
      v = 1000 + s;
      if (syntheticVcpus++ === 0) diag.note('some exits came from threads whose vcpu number the trace never names: numbered 1000+');
    }
    const i = chunk.copyRow(R, s);
    chunk.vcpu[i] = v;
    chunk.dur[i] = dur;
    if (dur !== dur) { chunk.flags[i] |= F_UNPAIRED; counters.unpairedExits++; }
    P.active[s] = 0;
    if (chunk.full) {
      chunk.tsBaseNs = time.baseNs;
      ready.push(chunk);
      chunk = new ExitChunk(rows);
    }
  };

  const resetCpu = (cpu: number): void => {
    for (let s = 0; s < P.n; s++) if (P.active[s] && (cpu < 0 || P.cpu[s] === cpu)) emit(s, NaN);
  };

  const threadKey = (vcpu: number): number => (pre.pid >= 0 ? pre.pid : vcpu >= 0 ? -1 - vcpu : -1_000_000 - Math.max(pre.cpu, 0));

  /** Slot for a detail event or entry: by thread, else by the host CPU's open exit. */
  const detailSlot = (vcpu: number): number => {
    let s = P.find(threadKey(vcpu));
    if ((s < 0 || !P.active[s]) && pre.pid < 0) {
      const c = cpuSlot.get(pre.cpu);
      if (c !== undefined && P.active[c]) s = c;
    }
    return s;
  };

  const handleExit = (b: Buffer, p: number, e: number): string | null => {
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
        // SVM exception reasons carry a space: "PF excp".
        const n2 = skipSpaces(b, re, e);
        if (n2 < e && bytesEqual(b, n2, tokenEnd(b, n2, e), K_EXCP)) re = tokenEnd(b, n2, e);
        if (re === rs) return 'kvm_exit: empty reason';
        reason = reasons.lookup(b, rs, re);
        p = re;
      } else if (bytesEqual(b, p, te, K_RIP)) {
        const hs = skipSpaces(b, te, e);
        const he = tokenEnd(b, hs, e);
        if (!parseHexU64Bytes(b, hs, he, u64)) return `kvm_exit: rip '${b.toString('latin1', hs, he)}' is not hex`;
        ripHi = u64[0]; ripLo = u64[1]; p = he;
      } else if (bytesEqual(b, p, te, K_FAILED)) {
        flags |= F_FAILED_ENTRY; p = te;
      } else p = te;
    }
    if (reason < 0) return 'kvm_exit without a reason';
    const ts = tsOffset();
    const s = P.slot(threadKey(vcpu));
    if (ts < P.lastTs[s]) { counters.timeWentBackwards++; if (P.active[s]) emit(s, NaN); }
    else if (P.active[s]) emit(s, NaN);
    P.lastTs[s] = ts;
    P.active[s] = 1;
    // Row s of the pending chunk is this thread's open exit; detail lines fill its other columns.
    const R = P.rows;
    R.ts[s] = ts; R.vcpu[s] = vcpu; R.reason[s] = reason; R.ripHi[s] = ripHi; R.ripLo[s] = ripLo; R.dur[s] = NaN;
    R.flags[s] = flags; R.dir[s] = 0; R.port[s] = 0; R.size[s] = 0;
    R.valHi[s] = 0; R.valLo[s] = 0; R.gpaHi[s] = 0; R.gpaLo[s] = 0; R.msr[s] = 0;
    P.cpu[s] = pre.cpu;
    if (vcpu >= 0) P.threadVcpu[s] = vcpu;
    cpuSlot.set(pre.cpu, s);
    return null;
  };

  const handleEntry = (b: Buffer, p: number, e: number): string | null => {
    let vcpu = -1;
    p = skipSpaces(b, p, e);
    const te = tokenEnd(b, p, e);
    if (bytesEqual(b, p, te, K_VCPU)) {
      vcpu = parseUint(b, skipSpaces(b, te, e), e);
      if (vcpu < 0) return 'kvm_entry: expected a number after "vcpu"';
    }
    const ts = tsOffset();
    let s = detailSlot(vcpu);
    if (s < 0) s = P.slot(threadKey(vcpu));
    if (vcpu >= 0) P.threadVcpu[s] = vcpu;
    if (!P.active[s]) { counters.unpairedEntries++; P.lastTs[s] = Math.max(P.lastTs[s], ts); return null; }
    const dur = ts - P.rows.ts[s];
    if (dur < 0) { counters.timeWentBackwards++; emit(s, NaN); P.lastTs[s] = ts; return null; }
    if (P.rows.vcpu[s] < 0 && vcpu >= 0) P.rows.vcpu[s] = vcpu;
    emit(s, dur);
    P.lastTs[s] = ts;
    return null;
  };

  const handleDetail = (b: Buffer, ev: number, p: number, e: number): string | null => {
    const s = detailSlot(-1);
    const open = s >= 0 && P.active[s] === 1;
    let f = 0, port = 0, size = 0, dir = 0, vHi = 0, vLo = 0, gHi = 0, gLo = 0, msr = 0;
    while (p < e) {
      p = skipSpaces(b, p, e);
      if (p >= e) break;
      const te = tokenEnd(b, p, e);
      // The value token after a key: b[va, vz).
      const va = skipSpaces(b, te, e);
      const vz = tokenEnd(b, va, e);
      if (ev === 0) { // kvm_pio
        if (bytesEqual(b, p, te, K_PIO_READ)) dir = DIR_READ;
        else if (bytesEqual(b, p, te, K_PIO_WRITE)) dir = DIR_WRITE;
        else if (bytesEqual(b, p, te, K_AT)) {
          if (!parseHexU64Bytes(b, va, vz, u64) || u64[0] !== 0 || u64[1] > 0xffff) return 'kvm_pio: bad port';
          port = u64[1]; f |= F_PORT; p = vz; continue;
        } else if (bytesEqual(b, p, te, K_SIZE)) {
          const v = parseUint(b, va, e);
          if (v < 0) return 'kvm_pio: bad size';
          size = v; f |= F_SIZE; p = cur.pos; continue;
        } else if (bytesEqual(b, p, te, K_VAL)) {
          if (parseHexU64Bytes(b, va, vz, u64)) { vHi = u64[0]; vLo = u64[1]; f |= F_VALUE; }
          p = vz; continue;
        }
      } else if (ev === 1 || ev === 3) { // kvm_mmio, kvm_fast_mmio
        if (bytesEqual(b, p, te, K_WRITE)) dir = DIR_WRITE;
        else if (bytesEqual(b, p, te, K_READ) || bytesEqual(b, p, te, K_UNSAT)) dir = DIR_READ;
        else if (bytesEqual(b, p, te, K_LEN)) {
          const v = parseUint(b, va, e);
          if (v < 0) return 'kvm_mmio: bad len';
          size = v; f |= F_SIZE; p = cur.pos; continue;
        } else if (bytesEqual(b, p, te, K_GPA)) {
          if (!parseHexU64Bytes(b, va, vz, u64)) return 'kvm_mmio: bad gpa';
          gHi = u64[0]; gLo = u64[1]; f |= F_GPA; p = vz; continue;
        } else if (bytesEqual(b, p, te, K_VAL)) {
          if (parseHexU64Bytes(b, va, vz, u64)) { vHi = u64[0]; vLo = u64[1]; f |= F_VALUE; }
          p = vz; continue;
        }
        if (ev === 3) dir = DIR_WRITE;
      } else if (ev === 2) { // kvm_msr: "msr_write 6e0 = 0x..."
        const read = bytesEqual(b, p, te, K_MSR_READ);
        if (read || bytesEqual(b, p, te, K_MSR_WRITE)) {
          dir = read ? DIR_READ : DIR_WRITE;
          if (!parseHexU64Bytes(b, va, vz, u64) || u64[0] !== 0) return 'kvm_msr: bad msr index';
          msr = u64[1]; f |= F_MSR; p = vz;
          const eq = skipSpaces(b, p, e);
          if (eq < e && b[eq] === 61) {
            const a2 = skipSpaces(b, eq + 1, e), z2 = tokenEnd(b, a2, e);
            if (parseHexU64Bytes(b, a2, z2, u64)) { vHi = u64[0]; vLo = u64[1]; f |= F_VALUE; }
            p = z2;
          }
          continue;
        }
      } else if (ev === 4) { // kvm_userspace_exit
        f |= F_USERSPACE;
        break;
      }
      p = te;
    }
    if (!open) return null; // a detail with no open exit (trace start, lost events): nothing to attach to
    const R = P.rows;
    R.flags[s] |= f;
    if (f & F_PORT) R.port[s] = port;
    if (f & F_SIZE) R.size[s] = size;
    if (dir) R.dir[s] = dir;
    if (f & F_VALUE) { R.valHi[s] = vHi; R.valLo[s] = vLo; }
    if (f & F_GPA) { R.gpaHi[s] = gHi; R.gpaLo[s] = gLo; }
    if (f & F_MSR) R.msr[s] = msr;
    return null;
  };

  const handleLine = (b: Buffer, s: number, e: number, line: number): void => {
    if (line === 1 && e - s >= 3 && b[s] === 0xef && b[s + 1] === 0xbb && b[s + 2] === 0xbf) s += 3;
    const p0 = skipSpaces(b, s, e);
    if (p0 >= e) { st.skipped++; return; }
    if (b[p0] === 35) { // '#': header/comment; "##### CPU N buffer started ####" resets that CPU
      if (b.indexOf(BUFFER_STARTED, p0) >= 0 && b.indexOf(BUFFER_STARTED, p0) < e) {
        const c = b.indexOf(lit('CPU '), p0);
        const cpu = c >= 0 && c < e ? parseUint(b, c + 4, e) : -1;
        if (cpu >= 0) resetCpu(cpu);
      }
      st.skipped++;
      return;
    }
    if (startsWithAt(b, p0, e, CPU_LOST)) {
      const cpu = parseUint(b, p0 + 4, e);
      const l = b.indexOf(LOST, p0);
      if (cpu >= 0 && l >= 0 && l < e) {
        const n = parseUint(b, l + LOST.length, e);
        counters.lostEvents += Math.max(n, 0);
        resetCpu(cpu);
        st.skipped++;
        return;
      }
    }
    if (!parseKvmPrefix(b, p0, e)) {
      if (looksLikeEventLine(b, p0, e) || isTraceCmdHeader(b, p0, e)) st.skipped++;
      else diag.reject(line, `not a trace event line: '${b.toString('latin1', p0, Math.min(e, p0 + 60)).replace(/[^\x20-\x7e]/g, '?')}'`);
      return;
    }
    if (!flavour) flavour = pre.perf ? 'perf-script' : 'ftrace';
    const ev = pre.event, evEnd = pre.eventEnd;
    let err: string | null = null;
    if (bytesEqual(b, ev, evEnd, EV_EXIT)) err = handleExit(b, pre.payload, e);
    else if (bytesEqual(b, ev, evEnd, EV_ENTRY)) err = handleEntry(b, pre.payload, e);
    else if (bytesEqual(b, ev, evEnd, EV_PIO)) err = handleDetail(b, 0, pre.payload, e);
    else if (bytesEqual(b, ev, evEnd, EV_MMIO)) err = handleDetail(b, 1, pre.payload, e);
    else if (bytesEqual(b, ev, evEnd, EV_MSR)) err = handleDetail(b, 2, pre.payload, e);
    else if (bytesEqual(b, ev, evEnd, EV_FAST_MMIO)) err = handleDetail(b, 3, pre.payload, e);
    else if (bytesEqual(b, ev, evEnd, EV_USER)) err = handleDetail(b, 4, pre.payload, e);
    else { st.skipped++; return; }
    if (err !== null) diag.reject(line, err);
    else st.events++;
  };

  let first = true;
  for await (const batch of lineBatches(input.chunks)) {
    if (first) {
      first = false;
      const head = batch.buf.toString('latin1', 0, Math.min(batch.buf.length, 4096));
      if (/^\s*(cpus=\d+|version = \d+)/m.test(head)) flavour = 'trace-cmd';
    }
    const { buf, bounds } = batch;
    for (let k = 0; k < batch.count; k++) handleLine(buf, bounds[2 * k], bounds[2 * k + 1], batch.firstLine + k);
    lines = batch.firstLine + batch.count - 1;
    while (ready.length) yield ready.shift()!;
  }
  resetCpu(-1);
  st.lines = lines;
  st.format = flavour || 'ftrace';
  if (st.events === 0 && lines > 0) diag.note('no kvm_exit/kvm_entry events in this file (was the kvm tracepoint enabled?)');
  if (counters.unpairedExits > 0 || counters.unpairedEntries > 0) diag.note('exits without a following entry (or entries without an exit) are counted but left out of time statistics');
  while (ready.length) yield ready.shift()!;
  chunk.tsBaseNs = time.baseNs;
  if (chunk.length) yield chunk;
}

/** trace-cmd report's own lines: `cpus=4`, `version = 6`, `CPU 3 is empty`, `CPU0 data recorded at offset=...`. */
const TC_HEADER = /^(cpus=\d+|version = \d+|CPU ?\d+ (is empty|data recorded)|trace-cmd:)/;
function isTraceCmdHeader(b: Buffer, p: number, e: number): boolean {
  return TC_HEADER.test(b.toString('latin1', p, Math.min(e, p + 48)));
}

export const ftraceFormat: TraceFormat = {
  name: 'ftrace',
  describe: 'ftrace / trace-cmd report / perf script text with kvm:kvm_exit and kvm:kvm_entry events',
  sniff(head) {
    if (/^\s*(# tracer:|cpus=\d+|version = \d+)/m.test(head)) return true;
    return /\d+\.\d{3,9}:\s+(kvm:)?kvm_[a-z_]+:/.test(head);
  },
  read: readText,
};
