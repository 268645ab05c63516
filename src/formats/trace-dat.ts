/**
 * trace-cmd's binary trace.dat (versions 6 and 7; compression none, zstd,
 * zlib), read natively: the layout in tracing/trace-dat-file.ts, ring-buffer
 * pages walked per CPU (tracing/ring-buffer.ts), CPUs merged by record time,
 * kvm payloads decoded through the file's own event formats
 * (tracing/kvm-decoder.ts) into the shared ExitAssembler.
 *
 * Accounting: `lines` = data records read, `events` = kvm records used,
 * `skipped` = other records, rejections by byte offset (`file:@0x1f000: …`).
 * A page flagged with missed events is a lost-events marker on its CPU, like
 * `CPU:N [N EVENTS DROPPED]` in text. The file's kallsyms is handed on as the
 * host's symbols. Structural damage (wrong magic, unknown version or
 * compression, a truncated file, a record type without a format) stops the
 * read with one ExitscopeError naming the file and offset; what was read
 * before it stays counted.
 *
 * Writing: version 6, uncompressed (tracing/trace-dat-writer.ts).
 */
import { createReadStream } from 'node:fs';
import type { ExitChunk } from '../model/chunk.js';
import { ExitscopeError } from '../model/errors.js';
import { ExitAssembler } from './exit-assembler.js';
import { ftraceFormat } from './ftrace.js';
import type { OpenedInput } from './input.js';
import { decodeFields, type FieldValue } from './tracing/event-format.js';
import { KIND_OTHER, KIND_UNKNOWN, KvmRecordDecoder } from './tracing/kvm-decoder.js';
import { CpuStream, StreamMerger } from './tracing/ring-buffer.js';
import { FileSource, FormatError, hex } from './tracing/source.js';
import { readTraceDatLayout, type TraceDatLayout } from './tracing/trace-dat-file.js';
import { writeTraceDat } from './tracing/trace-dat-writer.js';
import type { ReadOptions, ReadState, TraceFormat } from './types.js';
import { traceDatInfo } from './binary-formats.js';

/** Tuning for tests: pages per positional read of uncompressed data. */
export interface TraceDatTuning {
  blockPages?: number;
}

function wrap(path: string, e: unknown): unknown {
  if (e instanceof FormatError) return new ExitscopeError(`${path}:@${hex(e.offset)}: ${e.message}`);
  return e;
}

/** An opened trace.dat: layout, CPU streams (primed) and the time conversion. */
class OpenedTraceDat {
  readonly layout: TraceDatLayout;
  readonly streams: CpuStream[] = [];
  readonly merger: StreamMerger;
  /** Absolute raw time of offset 0. */
  base = 0n;

  constructor(readonly src: FileSource, tuning: TraceDatTuning, onBadPage: (where: string, why: string) => void) {
    this.layout = readTraceDatLayout(src);
    const L = this.layout;
    const { header, pageHeader } = L.meta;
    if (L.meta.events.failures.length) L.notes.push(`${L.meta.events.failures.length} event formats did not parse (their records are counted as rejected): ${L.meta.events.failures.slice(0, 3).join('; ')}`);
    let base: bigint | null = null;
    for (const ref of L.cpus) {
      const s = new CpuStream(src, ref, pageHeader, header.pageSize, header.littleEndian, L.compression, 0n, tuning.blockPages ?? 64);
      s.onBadPage = onBadPage;
      const t = s.peekFirstPageTs();
      if (t === null) continue;
      if (base === null || t < base) base = t;
      this.streams.push(s);
    }
    this.base = base ?? 0n;
    for (const s of this.streams) s.setBase(this.base);
    this.merger = new StreamMerger(this.streams);
  }

  /** Absolute nanoseconds of a stream time offset (TSC2NSEC and OFFSET applied). */
  absNs(ts: number): bigint {
    const L = this.layout;
    let raw = this.base + BigInt(ts);
    const t = L.tsc2nsec;
    if (t && t.mult) raw = ((raw * BigInt(t.mult)) >> BigInt(t.shift)) & 0xffffffffffffffffn;
    return raw + L.tsOffset;
  }

  /** True when stream offsets are plain nanoseconds (no TSC conversion). */
  get plainNs(): boolean {
    const t = this.layout.tsc2nsec;
    return !(t && t.mult);
  }
}

export async function* readTraceDat(input: OpenedInput, state: ReadState, opts: ReadOptions, tuning: TraceDatTuning = {}): AsyncGenerator<ExitChunk> {
  const { diag, counters } = state;
  const st = diag.stats;
  const path = input.path;
  for (const c of ['port', 'size', 'dir', 'value', 'gpa', 'msr', 'vm'] as const) state.columns.add(c);
  if (input.gzip) throw new ExitscopeError(`${path}: a gzip-compressed trace.dat: decompress it first (gunzip), exitscope reads trace.dat files in place`);
  let src: FileSource;
  try {
    src = new FileSource(path);
  } catch (e) {
    throw new ExitscopeError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    let T: OpenedTraceDat;
    try {
      T = new OpenedTraceDat(src, tuning, (where, why) => { st.lines++; diag.rejectAt(where, why); });
    } catch (e) {
      throw wrap(path, e);
    }
    const L = T.layout;
    for (const n of L.notes) diag.note(n);
    if (L.meta.kallsyms) state.embeddedKallsyms = L.meta.kallsyms;
    if (L.latencyTextAt >= 0) {
      // A latency-format file: the rest is ftrace's text output; the text reader takes it.
      diag.note('latency-format trace.dat: its text part was read by the ftrace text reader');
      src.close();
      const chunks = createReadStream(path, { start: L.latencyTextAt }) as AsyncIterable<Buffer>;
      yield* ftraceFormat.read({ path, head: Buffer.alloc(0), chunks, gzip: false, close: async () => undefined }, state, opts);
      return;
    }
    st.format = `trace.dat v${L.version}${L.compression !== 'none' ? ` (${L.compression})` : ''}`;
    const asm = new ExitAssembler(counters, diag, opts.chunkRows, state.vms);
    const dec = new KvmRecordDecoder(L.meta.events, asm, L.meta.header.littleEndian);
    const ct = L.meta.events.commonType();
    const cp = L.meta.events.commonPid();
    const le = L.meta.header.littleEndian;
    const M = T.merger;
    const plain = T.plainNs;
    let zero = NaN;
    let cur: CpuStream | null = null;
    const tsFn = (): number => {
      const s = cur!;
      if (plain) {
        if (zero !== zero) { asm.time.offsetOfBigInt(T.absNs(s.ts)); zero = s.ts; }
        return s.ts - zero;
      }
      return asm.time.offsetOfBigInt(T.absNs(s.ts));
    };
    try {
      M.start();
      let n = 0;
      for (;;) {
        const s = M.peek();
        if (s === null) break;
        cur = s;
        const cpu = s.ref.cpu;
        if (s.missed !== 0) asm.lost(cpu, s.missed);
        st.lines++;
        const dv = s.dv, p = s.recPos, len = s.recLen;
        if (len < ct.offset + ct.size || len < cp.offset + cp.size) {
          diag.rejectAt(s.where(), `record of ${len} bytes is too short for its common fields`);
        } else {
          const id = ct.size === 2 ? dv.getUint16(p + ct.offset, le) : dv.getUint32(p + ct.offset, le) & 0xffff;
          const kind = dec.kindById[id];
          if (kind >= 0) {
            const pid = dv.getInt32(p + cp.offset, le);
            const err = dec.decode(kind, dv, p, len, tsFn, cpu, pid);
            if (err === null) st.events++;
            else diag.rejectAt(s.where(), err);
          } else if (kind === KIND_OTHER) {
            st.skipped++;
          } else if (kind === KIND_UNKNOWN) {
            st.lines--;
            throw new ExitscopeError(`${path}:${s.where()}: record of event type ${id} on CPU ${cpu}, which has no format in this file (its event formats are incomplete: record again, or \`trace-cmd report\` it on the recording host)`);
          }
        }
        M.consume();
        if ((++n & 0xffff) === 0) yield* asm.drain();
      }
    } catch (e) {
      throw wrap(path, e);
    }
    yield* asm.finish();
    asm.notes(diag);
  } finally {
    try { src.close(); } catch { /* already closed */ }
  }
}

export interface DecodedRecord {
  /** Absolute timestamp, ns (TSC and OFFSET options applied). */
  ts: bigint;
  cpu: number;
  pid: number;
  system: string;
  name: string;
  /** The event's own fields (not the common_* ones). */
  fields: Record<string, FieldValue>;
  /** Lost events flagged before this record on its CPU (0 none, -1 unknown count). */
  missed: number;
}

/**
 * Every record of a trace.dat, decoded generically through the embedded
 * formats, in merged time order (for tests and dumps; not the fast path).
 */
export async function* traceDatRecords(path: string, tuning: TraceDatTuning = {}): AsyncGenerator<DecodedRecord> {
  const src = new FileSource(path);
  try {
    const T = new OpenedTraceDat(src, tuning, () => undefined);
    const ev = T.layout.meta.events;
    const le = T.layout.meta.header.littleEndian;
    const ct = ev.commonType(), cp = ev.commonPid();
    T.merger.start();
    for (;;) {
      const s = T.merger.peek();
      if (!s) break;
      const data = s.buf.subarray(s.recPos, s.recPos + s.recLen);
      const dv = s.dv;
      const id = dv.getUint16(s.recPos + ct.offset, le);
      const fmt = ev.byId.get(id);
      yield {
        ts: T.absNs(s.ts), cpu: s.ref.cpu, pid: dv.getInt32(s.recPos + cp.offset, le),
        system: fmt?.system ?? '?', name: fmt?.name ?? `type ${id}`,
        fields: fmt ? decodeFields(fmt, data, le) : {}, missed: s.missed,
      };
      T.merger.consume();
    }
  } catch (e) {
    throw wrap(path, e);
  } finally {
    src.close();
  }
}

export const traceDatFormat: TraceFormat = {
  ...traceDatInfo,
  read: (input, state, opts) => readTraceDat(input, state, opts),
  write: (chunks, opts) => writeTraceDat(chunks, opts),
};
