/**
 * Text traces of the kvm tracepoints: the raw ftrace buffer
 * (/sys/kernel/tracing/trace, trace_pipe), `trace-cmd report` (with or without
 * `-l`, `-t`, several input files) and `perf script` over kvm:* events.
 *
 * References for the line layout: kernel/trace/trace_output.c
 * (trace_print_context: `%16s-%-7d [%03d] flags ts: `; lat_print_generic:
 * `%8.8s-%-5d %3d` + flags), trace-cmd's trace-read.c / libtraceevent's
 * tep_print_event (same two layouts; `CPU:%d [%lld EVENTS DROPPED]` and
 * `CPU:%d [EVENTS DROPPED]` before the first record after a gap; a
 * `file: ` prefix on every line when several files are reported), the
 * kernel's `CPU:%d [LOST %lu EVENTS]` and `##### CPU %u buffer started ####`,
 * and perf's builtin-script.c (`comm pid [cpu] ts: kvm:kvm_exit: `).
 * The payload decoders (kvm_payloads.ts) follow the print formats under
 * events/kvm/* (copied in fixtures/tracefs/) and older kernels' trace.h.
 *
 * Line shapes handled. "real": quoted from a real capture (issue 3 quotes these
 * lines as such); "composed": written from the format strings above, no capture:
 *   CPU 0/KVM-7289    [023] d....  2925.640967: kvm_exit: vcpu 0 reason EXTERNAL_INTERRUPT …  (real)
 *   kvm-5664  [000] 11906.220188: kvm_exit: reason io_instruction rip 0xc01e4473               (real)
 *   CPU 0/KV-7289    23d..1. 2925.640967: kvm_exit: …                  (trace-cmd report -l; composed)
 *   [001]   770.850307:                       kvm:kvm_exit: …          (perf script, no comm; real)
 *   qemu-system-x86 18971 [015] 95922.997039: kvm:kvm_exit: …         (perf script; composed)
 *   trace.dat:     CPU 0/KVM-7289 [023] …                              (trace-cmd report, several files; composed)
 * Oddities: comm names with spaces, slashes and colons, cut to 8 characters
 * in the latency layout (pairing is by pid, never by comm); latency flags of 4
 * or 5 characters or none; 6 or 9 decimals; `rip` missing; SVM reasons with a
 * space (`PF excp`); `reason UNKNOWN (74)` from libtraceevent.
 */
import type { ExitChunk } from '../model/chunk.js';
import { bytesView, lit, parseUint, skipSpaces, startsWithAt } from './bytes.js';
import { ExitAssembler } from './exit-assembler.js';
import type { EventSink } from './events.js';
import type { TimeBase } from '../model/time.js';
import { LineSplitter, type LineBatch, type OpenedInput } from './input.js';
import { KvmPayloadDecoder, EV_EXIT, EV_ENTRY, EV_MMIO, EV_NONE, EV_PIO, eventKind } from './kvm-payloads.js';
import type { ReadOptions, ReadState, TraceFormat } from './types.js';
import { writeTraceCmd } from './trace-cmd-writer.js';

const KVM_COLON = lit('kvm:');
const CPU_COLON = lit('CPU:');
const LOST = lit('[LOST ');
const LOST_EVENTS = lit('[LOST EVENTS]');
const DROPPED = lit('EVENTS DROPPED]');
const BUFFER_STARTED = lit('buffer started');
const CPU_SP = lit('CPU ');
const CPUS_EQ = lit('cpus=');

/** pre.kind before eventKind was asked. */
const KIND_UNKNOWN = -2;

/** Line prefix fields, filled by parsePrefix; kind: eventKind of the event name when already known. */
const pre = { pid: -1, tgid: -1, cpu: -1, tsNs: 0, tsBig: false, tsSec: 0, tsFrac: 0, event: 0, eventEnd: 0, payload: 0, perf: false, kind: KIND_UNKNOWN };

const POW10 = [1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
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
  pre.tsBig = sec > 9_000_000;
  pre.tsNs = pre.tsBig ? 0 : sec * 1e9 + pre.tsFrac;
  return true;
}

/**
 * The context before the timestamp, read backwards from k: `[cpu]` with
 * optional flags after it, or the latency layout's `cpu` glued to its flags
 * (`23d..1.`), then the pid as the trailing digits of `comm-pid` or a
 * separate `pid` token (perf script).
 */
function parseContext(b: Buffer, s: number, k: number): void {
  pre.cpu = -1;
  pre.pid = -1;
  pre.tgid = -1;
  k = skipBack(b, s, k);
  if (k >= s && b[k] !== 93) {
    // A token without brackets: latency flags ("d..1." / "...."), or the
    // latency layout's "<cpu><flags>" (`%3d` then the flags, no space).
    let m = k;
    while (m >= s && b[m] !== 32 && b[m] !== 9) m--;
    const t0 = m + 1;
    let d = t0;
    while (d <= k && isDigit(b[d])) d++;
    const allDigits = d > k;
    if (!allDigits) {
      const flagsLen = k - d + 1;
      if (d > t0 && flagsLen >= 3 && flagsLen <= 6) {
        // latency layout: cpu digits then flags
        let v = 0;
        for (let p = t0; p < d; p++) v = v * 10 + (b[p] - 48);
        pre.cpu = v;
        k = skipBack(b, s, m);
      } else if (d === t0 && k - t0 + 1 >= 4 && k - t0 + 1 <= 6) {
        k = skipBack(b, s, m); // plain flags before the timestamp, after [cpu]
      }
    }
  }
  if (pre.cpu < 0 && k >= s && b[k] === 93) {
    let m = k - 1;
    let v = 0, mul = 1;
    while (m >= s && isDigit(b[m])) { v += (b[m] - 48) * mul; mul *= 10; m--; }
    if (m >= s && b[m] === 91 && mul > 1) { pre.cpu = v; k = skipBack(b, s, m - 1); }
  }
  if (k >= s && b[k] === 41) {
    // `(  7280)`: the thread group (QEMU process) with the record-tgid option; `(-----)` when unknown.
    let m = k - 1, v = 0, mul = 1;
    while (m >= s && isDigit(b[m])) { v += (b[m] - 48) * mul; mul *= 10; m--; }
    while (m >= s && (b[m] === 32 || b[m] === 45)) m--;
    if (m >= s && b[m] === 40) { if (mul > 1) pre.tgid = v; k = skipBack(b, s, m - 1); }
  }
  if (k >= s) {
    let m = k, v = 0, mul = 1;
    while (m >= s && isDigit(b[m])) { v += (b[m] - 48) * mul; mul *= 10; m--; }
    if (mul > 1 && (m < s || b[m] === 45 || b[m] === 32 || b[m] === 9)) pre.pid = v;
  }
}

/**
 * The first `kvm_` starting in b[from, e) (its bytes may run past e, as with
 * Buffer.indexOf), or -1. A Horspool scan in JS: the needle's last byte `_`
 * is rare, so most steps skip 4 bytes, and a short search costs no native call.
 */
export function findKvm(b: Buffer, from: number, e: number): number {
  let i = from;
  while (i < e) {
    const c = b[i + 3];
    if (c === 95) {
      if (b[i] === 107 && b[i + 1] === 118 && b[i + 2] === 109) return i;
      i += 4;
    } else if (c === 109) i += 1;
    else if (c === 118) i += 2;
    else if (c === 107) i += 3;
    else i += 4;
  }
  return -1;
}

/**
 * Lines whose event this thread's text readers searched for because no remembered context starts them.
 * A line of a thread seen just before never needs that: a test holds the remembered contexts to it, since
 * the search finds the same event, only slower.
 */
export const ftraceContextSearches = { count: 0 };

/**
 * Locates `kvm_<name>:` (or perf's `kvm:kvm_<name>:`) after a `sec.frac:`
 * timestamp and parses the context before it. False when the line carries
 * no kvm event there.
 */
function parseKvmPrefix(b: Buffer, s: number, e: number): boolean {
  if (prefixFromContext(b, s, e)) return true;
  ftraceContextSearches.count++;
  let from = s;
  for (;;) {
    const i = findKvm(b, from, e);
    if (i < 0) return false;
    from = i + 1;
    let j = i + 4;
    while (j < e && ((b[j] >= 97 && b[j] <= 122) || b[j] === 95)) j++;
    if (j >= e || b[j] !== 58 || (j + 1 < e && b[j + 1] !== 32)) continue;
    let h = i;
    pre.perf = false;
    if (i - 4 >= s && startsWithAt(b, i - 4, e, KVM_COLON)) { h = i - 4; pre.perf = true; }
    if (h > s && b[h - 1] !== 32 && b[h - 1] !== 9) continue;
    let k = h - 1;
    while (k >= s && (b[k] === 32 || b[k] === 9)) k--;
    if (k < s || b[k] !== 58) continue;
    const tsEnd = k;
    k--;
    while (k >= s && (isDigit(b[k]) || b[k] === 46)) k--;
    if (!parseTs(b, k + 1, tsEnd)) continue;
    pre.event = i;
    pre.eventEnd = j;
    pre.payload = j + 1;
    pre.kind = KIND_UNKNOWN;
    parseContext(b, s, k);
    rememberContext(b, s, k + 1);
    return true;
  }
}

/**
 * The contexts (the bytes before the timestamp) of recent event lines and what
 * parseContext read from them. trace-cmd pads comm, pid, cpu and flags to fixed
 * widths and a vcpu thread writes line after line, so most lines begin with
 * the bytes of one a little before (a table of 256, placed by their length and
 * last 16 bytes: many vcpu threads on many CPUs; emptied for each new parser). Then the context's fields are the same
 * (parseContext reads nothing else), and no `kvm_` that starts in it can be
 * the event: none did on that line, and the bytes past the context that their
 * checks reach (the timestamp's first digit) cannot pass them either. What
 * follows the context is checked as parseKvmPrefix does, else it decides.
 */
const CTX_BITS = 8, CTX_N = 1 << CTX_BITS, CTX_MAX = 128;
const ctxBytes = new Uint8Array(CTX_N * CTX_MAX);
const ctxView = new DataView(ctxBytes.buffer);
const ctxLen = new Int32Array(CTX_N).fill(-1);
// Int32, as most pids are: a context whose fields do not fit is not remembered (an 11-digit pid stays as parseContext read it).
const ctxCpu = new Int32Array(CTX_N), ctxPid = new Int32Array(CTX_N), ctxTgid = new Int32Array(CTX_N);
/** The lengths of the last two contexts remembered or found (padded layouts have one). */
let ctxLen0 = -1, ctxLen1 = -1;

/**
 * Forgets every remembered context: each parser starts with none, so what one input's lines read never depends on
 * the inputs this thread read before (the table only saves searches; any content gives the same fields).
 */
function forgetContexts(): void {
  ctxLen.fill(-1);
  ctxLen0 = -1;
  ctxLen1 = -1;
}

/** The table slot of the context b[t - len, t): its length and last 16 bytes (the pid, cpu and flags; v: bytesView(b)). */
function ctxSlot(v: DataView, t: number, len: number): number {
  let h = Math.imul(len, 0x9e3779b1);
  if (len >= 4) h = Math.imul(h ^ v.getInt32(t - 4), 0x85ebca6b);
  if (len >= 8) h = Math.imul(h ^ v.getInt32(t - 8), 0xc2b2ae35);
  if (len >= 12) h = Math.imul(h ^ v.getInt32(t - 12), 0x85ebca6b);
  if (len >= 16) h = Math.imul(h ^ v.getInt32(t - 16), 0xc2b2ae35);
  return (h ^ (h >>> 15)) >>> (32 - CTX_BITS);
}

/** After parseContext(b, s, t - 1): keep b[s, t) and its fields. */
function rememberContext(b: Buffer, s: number, t: number): void {
  const len = t - s;
  if (len > CTX_MAX || pre.cpu !== (pre.cpu | 0) || pre.pid !== (pre.pid | 0) || pre.tgid !== (pre.tgid | 0)) return;
  const c = ctxSlot(bytesView(b), t, len);
  ctxLen[c] = len;
  for (let p = 0, q = c * CTX_MAX; p < len; p++, q++) ctxBytes[q] = b[s + p];
  ctxCpu[c] = pre.cpu; ctxPid[c] = pre.pid; ctxTgid[c] = pre.tgid;
  if (len !== ctxLen0) { ctxLen1 = ctxLen0; ctxLen0 = len; }
}

/** parseKvmPrefix for a line that starts with a remembered context; false when it does not (or is otherwise unusual). */
function prefixFromContext(b: Buffer, s: number, e: number): boolean {
  const view = bytesView(b);
  for (let r = 0; r < 2; r++) {
    const len = r === 0 ? ctxLen0 : ctxLen1;
    if (len < 0) return false;
    const t = s + len;
    if (t >= e) continue;
    const c = ctxSlot(view, t, len);
    if (ctxLen[c] !== len) continue;
    // compare from the end (the cpu and pid differ first), 4 bytes at a time
    const base = c * CTX_MAX - s;
    let p = t - 4;
    while (p >= s && view.getUint32(p) === ctxView.getUint32(base + p)) p -= 4;
    if (p >= s) continue;
    p += 3;
    while (p >= s && b[p] === ctxBytes[base + p]) p--;
    if (p >= s) continue;
    if (r === 1) { ctxLen1 = ctxLen0; ctxLen0 = len; }
    return prefixAfterContext(b, t, e, c);
  }
  return false;
}

/** `sec.frac:` at t, blanks, `kvm:`?, `kvm_<name>:` and a blank or the end. */
function prefixAfterContext(b: Buffer, t: number, e: number, c: number): boolean {
  // The timestamp, read as parseTs reads it (same arithmetic, same checks): `sec.frac:`.
  let p = t, x = 0, sec = 0, frac = 0;
  while (p < e && (x = b[p]) >= 48 && x <= 57) { sec = sec * 10 + (x - 48); p++; }
  if (p >= e || x !== 46) return false;
  const f0 = ++p;
  while (p < e && (x = b[p]) >= 48 && x <= 57) { frac = frac * 10 + (x - 48); p++; }
  const digits = p - f0;
  if (p >= e || x !== 58 || digits === 0 || digits > 9) return false;
  p++;
  if (p >= e || (b[p] !== 32 && b[p] !== 9)) return false;
  while (p < e && (b[p] === 32 || b[p] === 9)) p++;
  // [`kvm:`] `kvm_<name>:`, the usual names (and their kind) from one word
  let i = p;
  if (i + 9 > e) return false;
  const v = bytesView(b);
  let w = v.getUint32(i);
  let perf = false;
  if (w === 0x6b766d3a) { // kvm:
    perf = true;
    i += 4;
    if (i + 9 > e) return false;
    w = v.getUint32(i);
  }
  if (w !== 0x6b766d5f) return false; // kvm_
  w = v.getUint32(i + 4);
  let j: number, kind: number;
  if (w === 0x65786974 && b[i + 8] === 58) { j = i + 8; kind = EV_EXIT; } // exit:
  else if (w === 0x70696f3a) { j = i + 7; kind = EV_PIO; } // pio:
  else if (w === 0x656e7472 && i + 9 < e && b[i + 8] === 121 && b[i + 9] === 58) { j = i + 9; kind = EV_ENTRY; } // entry:
  else if (w === 0x6d6d696f && b[i + 8] === 58) { j = i + 8; kind = EV_MMIO; } // mmio:
  else {
    j = i + 4;
    while (j < e && (((x = b[j]) >= 97 && x <= 122) || x === 95)) j++;
    kind = KIND_UNKNOWN;
  }
  if (j >= e || b[j] !== 58 || (j + 1 < e && b[j + 1] !== 32)) return false;
  pre.tsSec = sec;
  pre.tsFrac = frac * POW10[9 - digits];
  pre.tsBig = sec > 9_000_000;
  pre.tsNs = pre.tsBig ? 0 : sec * 1e9 + pre.tsFrac;
  pre.perf = perf;
  pre.event = i;
  pre.eventEnd = j;
  pre.payload = j + 1;
  pre.kind = kind;
  pre.cpu = ctxCpu[c]; pre.pid = ctxPid[c]; pre.tgid = ctxTgid[c];
  return true;
}

/** A non-kvm event line (`… [cpu] … ts: name: …` or the latency layout): skipped as unrelated. */
function looksLikeEventLine(b: Buffer, s: number, e: number): boolean {
  // a "digits.digits:" followed by " name:"
  for (let p = s; p < e; p++) {
    if (b[p] !== 58 || p === s || !isDigit(b[p - 1])) continue;
    let q = p - 1, dot = false;
    while (q >= s && (isDigit(b[q]) || b[q] === 46)) { if (b[q] === 46) dot = true; q--; }
    if (!dot || (q >= s && b[q] !== 32 && b[q] !== 9)) continue;
    const n = skipSpaces(b, p + 1, e);
    let r = n;
    while (r < e && b[r] !== 58 && b[r] !== 32) r++;
    if (r > n && r < e && b[r] === 58) return true;
  }
  return false;
}

/** trace-cmd report's own lines: `cpus=4`, `version = 6`, `CPU 3 is empty`, `CPU0 data recorded at offset=...`. */
const TC_HEADER = /^(cpus=\d+|version = \d+|CPU ?\d+ (is empty|data recorded)|trace-cmd:|\s*$)/;
function isTraceCmdHeader(b: Buffer, p: number, e: number): boolean {
  return TC_HEADER.test(b.toString('latin1', p, Math.min(e, p + 48)));
}

/** `NAME: cpus=N` (several files in one trace-cmd report): the file prefix NAME, else null. */
function filePrefixDeclared(b: Buffer, p: number, e: number): string | null {
  const colon = b.indexOf(58, p);
  if (colon <= p || colon >= e) return null;
  const q = skipSpaces(b, colon + 1, e);
  if (!startsWithAt(b, q, e, CPUS_EQ)) return null;
  for (let k = p; k < colon; k++) if (b[k] === 32 || b[k] === 9) return null;
  return b.toString('latin1', p, colon);
}

/** What a text line parser reports besides the records it passes on. */
export interface LineAccounting {
  stats: { events: number; skipped: number };
  reject(line: number, reason: string): void;
  /** guestEvents and the like: counters the parser itself owns. */
  counters: { guestEvents: number };
}

/**
 * One text input's line handling: layout, markers and payload decoders,
 * passing records to a sink (the pairing engine, or a worker's recorder).
 * Keeps what a line needs from earlier ones: the flavour, several-file
 * prefixes, whether events began.
 */
export class TextLineParser {
  flavour = '';
  private readonly dec: KvmPayloadDecoder;
  /** Several-file reports: the declared file prefixes, the host's, and event lines per prefix. */
  private readonly prefixes: string[] = [];
  private readonly prefixBytes: Uint8Array[] = [];
  private readonly prefixEvents: number[] = [];
  private hostPrefix = -1;
  private eventsSeen = false;
  /** Events began and the input declared no file prefixes: handleLine may take its shortcut. */
  private plain = false;
  private readonly tsOffset: () => number;

  constructor(private readonly sink: EventSink, readonly time: TimeBase, private readonly acc: LineAccounting) {
    this.dec = new KvmPayloadDecoder(sink);
    forgetContexts();
    this.tsOffset = () => (pre.tsBig ? time.offsetOfBigInt(BigInt(pre.tsSec) * 1_000_000_000n + BigInt(pre.tsFrac)) : time.offsetOfNumber(pre.tsNs));
  }

  /** The head of the input: trace-cmd's own header lines name the flavour. */
  sniffHead(head: string): void {
    // The head is read as latin1: a UTF-8 BOM is these three characters (handleLine strips it from line 1 too).
    if (/^\s*(cpus=\d+|version = \d+)/m.test(head.replace(/^\xef\xbb\xbf/, ''))) this.flavour = 'trace-cmd';
  }

  /** Markers: returns true when the line was one (and was handled). */
  private marker(b: Buffer, p0: number, e: number): boolean {
    const sink = this.sink;
    if (b[p0] === 35) { // '#': header/comment; "##### CPU N buffer started ####" resets that CPU
      const bs = b.indexOf(BUFFER_STARTED, p0);
      if (bs >= 0 && bs < e) {
        const c = b.indexOf(CPU_SP, p0);
        const cpu = c >= 0 && c < e ? parseUint(b, c + 4, e) : -1;
        if (cpu >= 0) sink.bufferStarted(cpu);
      }
      return true;
    }
    if (!startsWithAt(b, p0, e, CPU_COLON)) return false;
    const cpu = parseUint(b, p0 + 4, e);
    if (cpu < 0) return false;
    const q = skipSpaces(b, p0 + 4 + String(cpu).length, e);
    if (startsWithAt(b, q, e, LOST_EVENTS)) { sink.lost(cpu, -1); return true; }
    if (startsWithAt(b, q, e, LOST)) {
      sink.lost(cpu, parseUint(b, q + LOST.length, e));
      return true;
    }
    if (q < e && b[q] === 91) { // "[N EVENTS DROPPED]" or "[EVENTS DROPPED]"
      const n = parseUint(b, q + 1, e);
      const r = n >= 0 ? skipSpaces(b, (String(n).length) + q + 1, e) : q + 1;
      if (startsWithAt(b, r, e, DROPPED)) { sink.lost(cpu, n); return true; }
    }
    return false;
  }

  handleLine(b: Buffer, s: number, e: number, line: number): void {
    const acc = this.acc, st = acc.stats;
    if (this.plain && line !== 1) {
      // What the code below does with a line that starts with a remembered context, once events began in a one-file input.
      let p0 = s;
      while (p0 < e && (b[p0] === 32 || b[p0] === 9)) p0++;
      const c0 = b[p0];
      if (p0 < e && c0 !== 35 && !(c0 === 67 && b[p0 + 3] === 58) && prefixFromContext(b, p0, e)) {
        const kind = pre.kind !== KIND_UNKNOWN ? pre.kind : eventKind(b, pre.event, pre.eventEnd);
        if (pre.tgid > 0) this.sink.setTgid(pre.pid, pre.tgid);
        if (kind === EV_NONE) { st.skipped++; return; }
        const err = this.dec.decode(kind, b, pre.payload, e, this.tsOffset, pre.cpu, pre.pid);
        if (err !== null) acc.reject(line, err);
        else st.events++;
        return;
      }
    }
    if (line === 1 && e - s >= 3 && b[s] === 0xef && b[s + 1] === 0xbb && b[s + 2] === 0xbf) s += 3;
    let p0 = skipSpaces(b, s, e);
    if (p0 >= e) { st.skipped++; return; }
    let from = -1;
    if (this.prefixes.length) {
      for (let k = 0; k < this.prefixBytes.length; k++) {
        const pb = this.prefixBytes[k];
        if (startsWithAt(b, p0, e, pb) && p0 + pb.length < e && b[p0 + pb.length] === 58) {
          from = k;
          p0 = skipSpaces(b, p0 + pb.length + 1, e);
          break;
        }
      }
    }
    // `NAME: cpus=N` only heads a several-file report, before its first event.
    const declared = this.eventsSeen || from >= 0 ? null : filePrefixDeclared(b, p0, e);
    if (declared !== null) {
      this.prefixes.push(declared); this.prefixBytes.push(lit(declared)); this.prefixEvents.push(0);
      this.flavour = 'trace-cmd';
      st.skipped++;
      return;
    }
    if (from >= 0 && this.hostPrefix >= 0 && from !== this.hostPrefix) {
      // Another file of a several-file report: the guest's side.
      if (looksLikeEventLine(b, p0, e) || parseKvmPrefix(b, p0, e)) acc.counters.guestEvents++;
      st.skipped++;
      return;
    }
    // markers start with `#` or `CPU:`
    const c0 = b[p0];
    if (p0 >= e || ((c0 === 35 || (c0 === 67 && b[p0 + 3] === 58)) && this.marker(b, p0, e))) { st.skipped++; return; }
    if (!parseKvmPrefix(b, p0, e)) {
      const event = looksLikeEventLine(b, p0, e);
      // Event lines per file, for the guest's count once the host is known (a file's header lines are not events).
      if (from >= 0 && event) this.prefixEvents[from]++;
      if (event || isTraceCmdHeader(b, p0, e)) st.skipped++;
      else acc.reject(line, `not a trace event line: '${b.toString('latin1', p0, Math.min(e, p0 + 60)).replace(/[^\x20-\x7e]/g, '?')}'`);
      return;
    }
    const kind = pre.kind !== KIND_UNKNOWN ? pre.kind : eventKind(b, pre.event, pre.eventEnd);
    this.eventsSeen = true;
    if (from >= 0 && this.hostPrefix < 0) {
      // The host is the file whose kvm_exit/kvm_entry comes first. A kvm detail line before that (a guest's own kvm_pio,
      // or the host's with no exit yet to belong to) is no host record: counted with its file's events and skipped
      // (its thread's tgid not taken either).
      if (kind === EV_EXIT || kind === EV_ENTRY) this.hostPrefix = from;
      else { this.prefixEvents[from]++; st.skipped++; return; }
    }
    if (pre.tgid > 0) this.sink.setTgid(pre.pid, pre.tgid);
    if (!this.flavour) this.flavour = pre.perf ? 'perf-script' : 'ftrace';
    // Declared file prefixes come before the first event: none now, none later.
    this.plain = this.prefixes.length === 0;
    if (kind === EV_NONE) { st.skipped++; return; }
    const err = this.dec.decode(kind, b, pre.payload, e, this.tsOffset, pre.cpu, pre.pid);
    if (err !== null) acc.reject(line, err);
    else st.events++;
  }

  /** Every line of a batch (the loop here, not in an async reader: see csvLineParser's handleBatch). */
  handleBatch(batch: LineBatch): void {
    const { buf, bounds, count, firstLine } = batch;
    for (let k = 0; k < count; k++) this.handleLine(buf, bounds[2 * k], bounds[2 * k + 1], firstLine + k);
  }

  /** End of input: other files' event lines seen before the host's first kvm event are the guest's. */
  finish(): void {
    this.prefixEvents.forEach((n, k) => { if (this.hostPrefix >= 0 && k !== this.hostPrefix) this.acc.counters.guestEvents += n; });
  }
}

async function* readText(input: OpenedInput, state: ReadState, opts: ReadOptions): AsyncGenerator<ExitChunk> {
  const { diag, counters } = state;
  const st = diag.stats;
  for (const c of ['port', 'size', 'dir', 'value', 'gpa', 'msr', 'vm'] as const) state.columns.add(c);
  const asm = new ExitAssembler(counters, diag, opts.chunkRows, state.vms, state.pool);
  const parser = new TextLineParser(asm, asm.time, { stats: st, reject: (l, r) => diag.reject(l, r), counters });
  const lines = new LineSplitter((line) => diag.reject(line, 'line longer than 1 MiB: not a trace line'));
  let first = true;
  for await (const batch of lines.batches(input.chunks)) {
    if (first) {
      first = false;
      parser.sniffHead(batch.buf.toString('latin1', 0, Math.min(batch.buf.length, 4096)));
    }
    parser.handleBatch(batch);
    yield* asm.drain(opts.flush);
  }
  yield* asm.finish();
  parser.finish();
  st.lines = lines.lines;
  st.format = parser.flavour || 'ftrace';
  asm.notes(diag);
}

export const ftraceFormat: TraceFormat = {
  name: 'ftrace',
  aliases: ['trace-cmd', 'perf-script', 'text', 'perf'],
  describe: 'ftrace / trace-cmd report / perf script text with kvm:kvm_exit and kvm:kvm_entry events',
  sniff(_head, text) {
    if (/^\s*(# tracer:|cpus=\d+|version = \d+)/m.test(text)) return true;
    if (/^\s*\S+: cpus=\d+\s*$/m.test(text)) return true;
    return /\d+\.\d{3,9}:\s+(kvm:)?kvm_[a-z_]+:/.test(text);
  },
  read: readText,
  // `perf-script` (and `perf`) write perf script's layout; the other names trace-cmd report's.
  write: (chunks, opts) => writeTraceCmd(chunks, { layout: opts.as === 'perf-script' || opts.as === 'perf' ? 'perf-script' : 'trace-cmd' }),
};

/** The context fields of one line (for tests of the line layout). */
export function parseLinePrefix(line: string): { pid: number; tgid: number; cpu: number; event: string } | null {
  const b = Buffer.from(line, 'latin1');
  if (!parseKvmPrefix(b, 0, b.length)) return null;
  return { pid: pre.pid, tgid: pre.tgid, cpu: pre.cpu, event: b.toString('latin1', pre.event, pre.eventEnd) };
}
