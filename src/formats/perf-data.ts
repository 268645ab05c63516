/**
 * perf.data (`perf record -e 'kvm:*'`, `perf kvm stat record`; file mode,
 * pipe mode, `-z` compressed records), read natively: the layout in
 * perf/perf-file.ts, tracepoint payloads (PERF_SAMPLE_RAW) decoded through
 * the event formats of its HEADER_TRACING_DATA (tracing/tracing-data.ts,
 * tracing/kvm-decoder.ts), samples sorted by time across CPUs with perf's
 * FINISHED_ROUND semantics (perf/ordered-queue.ts) before they are paired.
 *
 * A sample's thread (tid) is the pairing key, as common_pid is in ftrace
 * records; its pid (the QEMU process) is the thread group that gives the
 * exit's VM (the `vm` column), and is kept in the decoded records
 * (perfDataRecords). Accounting: `lines` = samples, `events` = kvm
 * samples used, `skipped` = other samples, rejections by byte offset. Lost
 * records (PERF_RECORD_LOST / LOST_SAMPLES) are lost-event markers on their
 * CPU. The embedded kallsyms of the tracing data is handed on.
 */
import type { ExitChunk } from '../model/chunk.js';
import { ExitscopeError } from '../model/errors.js';
import { ExitAssembler } from './exit-assembler.js';
import type { OpenedInput } from './input.js';
import { MAX_QUEUED, OrderedQueue, type QueuedSample } from './perf/ordered-queue.js';
import {
  FEAT, REC, RecordWalker, S, parseAttr, parseSample, parseSampleIdTrailer, readPerfHeader, sample, whereOf,
  type PerfAttr, type PerfHeader, type RecordView,
} from './perf/perf-file.js';
import { decodeFields, type FieldValue } from './tracing/event-format.js';
import { KIND_UNKNOWN, KvmRecordDecoder } from './tracing/kvm-decoder.js';
import { BufferSource, Cursor, FileSource, FormatError, hex } from './tracing/source.js';
import { readTracingData, type TracingMetadata } from './tracing/tracing-data.js';
import type { ReadOptions, ReadState, TraceFormat } from './types.js';
import { perfDataInfo } from './binary-formats.js';
import { groupDigits } from '../model/numbers.js';

const KIND_LOST = 1 << 20;

function wrap(path: string, e: unknown): unknown {
  if (e instanceof FormatError) return new ExitscopeError(`${path}:@${hex(e.offset)}: ${e.message}`);
  return e;
}

/** What a perf.data session knows as it reads: attrs by id, tracing data, compression. */
class PerfSession {
  readonly header: PerfHeader;
  readonly attrs: PerfAttr[] = [];
  /** Attrs by sample id (ids are small kernel counters: keyed as numbers). */
  private readonly byId = new Map<number, PerfAttr>();
  meta: TracingMetadata | null = null;
  notes: string[] = [];
  /** Time base (first sample's time) and whether offsets are taken in float64. */
  private baseBig: bigint | null = null;
  private baseNum = 0;
  private small = true;

  constructor(readonly src: FileSource) {
    this.header = readPerfHeader(src);
    if (!this.header.pipe) this.readFileHeader();
  }

  get le(): boolean {
    return this.header.littleEndian;
  }

  addAttr(a: PerfAttr): void {
    this.attrs.push(a);
    for (const id of a.ids) this.byId.set(Number(id), a);
  }

  private readFileHeader(): void {
    const h = this.header, src = this.src, le = this.le;
    if (h.attrSize < 64) throw new FormatError(16, `attr_size ${h.attrSize} is too small`);
    const n = Math.floor(h.attrs.size / h.attrSize);
    for (let i = 0; i < n; i++) {
      const at = h.attrs.offset + i * h.attrSize;
      const b = Buffer.from(src.read(at, h.attrSize));
      if (b.length < h.attrSize) throw new FormatError(at + b.length, `truncated: the file ends inside attr ${i}`);
      const attrLen = le ? b.readUInt32LE(4) : b.readUInt32BE(4);
      const a = parseAttr(b, 0, le, at);
      const idsAt = h.attrSize - 16;
      if (attrLen > idsAt) throw new FormatError(at, `attr ${i} claims ${attrLen} bytes, more than attr_size ${h.attrSize} leaves`);
      const c = new Cursor(new BufferSource(b, at), at + idsAt, le, `the ids of attr ${i}`);
      const off = c.u64n(), size = c.u64n();
      const ids = new Cursor(src, off, le, `the ids of attr ${i}`);
      for (let k = 0; k < Math.floor(size / 8); k++) a.ids.push(ids.u64());
      this.addAttr(a);
    }
    // Feature sections: one {offset, size} per feature bit, right after the data.
    const fc = new Cursor(src, h.data.offset + h.data.size, le, 'the feature sections table');
    for (const bit of h.features) {
      const off = fc.u64n(), size = fc.u64n();
      if (bit === FEAT.TRACING_DATA) this.setTracingData(new Cursor(src, off, le, 'HEADER_TRACING_DATA'), size);
      else if (bit === FEAT.COMPRESSED) this.checkCompression(new Cursor(src, off, le, 'HEADER_COMPRESSED'));
    }
  }

  setTracingData(cur: Cursor, _size: number): void {
    this.meta = readTracingData(cur);
  }

  checkCompression(c: Cursor): void {
    c.u32(); // version
    const type = c.u32();
    if (type !== 1) throw new FormatError(c.pos - 4, `perf.data compressed with type ${type}; exitscope reads zstd (type 1) only`);
  }

  /** The attr of a sample: by id (IDENTIFIER or ID position), else the only one. */
  attrOf(dv: DataView, p: number, end: number): PerfAttr | null {
    if (this.attrs.length === 1) return this.attrs[0];
    const first = this.attrs[0];
    if (!first) return null;
    const st = first.sampleType;
    let at = -1;
    if (st & S.IDENTIFIER) at = p;
    else if (st & S.ID) {
      at = p;
      for (const bit of [S.IP, S.TID, S.TIME, S.ADDR]) if (st & bit) at += 8;
    }
    if (at < 0 || at + 8 > end) return first;
    const le = this.le;
    const lo = le ? dv.getUint32(at, true) : dv.getUint32(at + 4, false);
    const hi = le ? dv.getUint32(at + 4, true) : dv.getUint32(at, false);
    return this.byId.get(hi * 4294967296 + lo) ?? null;
  }

  /** Time offset (ns from the first sample) of sample.timeHi/Lo; exact. */
  timeOffset(): number {
    const s = sample;
    if (s.timeHi < 0x200000) {
      const v = s.timeHi * 4294967296 + s.timeLo;
      if (this.baseBig === null) { this.baseBig = BigInt(v); this.baseNum = v; this.small = true; }
      if (this.small) return v - this.baseNum;
      return Number(BigInt(v) - this.baseBig);
    }
    const v = (BigInt(s.timeHi) << 32n) | BigInt(s.timeLo);
    if (this.baseBig === null) { this.baseBig = v; this.small = false; }
    return Number(v - this.baseBig);
  }

  absNs(off: number): bigint {
    return (this.baseBig ?? 0n) + BigInt(off);
  }
}

/**
 * Walks every record, parses samples and lost markers, and queues them in
 * time order. `wanted(kind)` says which tracepoint samples to queue (by
 * common_type); `onOther` counts the rest.
 */
function walkSession(
  S0: PerfSession,
  walker: RecordWalker,
  queue: OrderedQueue,
  classify: (type: number) => number,
  counts: { samples: number; skipped: number; reject: (where: string, why: string) => void },
): void {
  const h = S0.header;
  const le = S0.le;
  const end = h.pipe ? S0.src.size : h.data.offset + h.data.size;
  if (!h.pipe && end > S0.src.size) throw new FormatError(S0.src.size, `truncated: the data section runs to ${hex(end)} but the file ends at ${hex(S0.src.size)}`);
  walker.walk(h.pipe ? 16 : h.data.offset, end, (r: RecordView) => {
    const dv = r.dv, p = r.pos, e = r.pos + r.size;
    switch (r.type) {
      case REC.SAMPLE: {
        counts.samples++;
        const a = S0.attrOf(dv, p + 8, e);
        if (!a) { counts.reject(whereOf(r), 'sample whose id matches no event attribute'); return; }
        const err = parseSample(dv, p + 8, e, a.sampleType, a.readFormat, le);
        if (err) { counts.reject(whereOf(r), err); return; }
        if (sample.rawPos < 0 || !S0.meta) {
          if (sample.rawPos >= 0 && !S0.meta) { counts.samples--; throw new FormatError(r.fileOffset, 'tracepoint sample before (or without) the tracing data that describes its format (HEADER_TRACING_DATA)'); }
          counts.skipped++;
          return;
        }
        const ev = S0.meta.events;
        const ct = ev.commonType();
        if (sample.rawLen < ct.offset + ct.size) { counts.reject(whereOf(r), `RAW data of ${sample.rawLen} bytes is too short for common_type`); return; }
        const type = dv.getUint16(sample.rawPos + ct.offset, S0.meta.header.littleEndian);
        const kind = classify(type);
        if (kind === KIND_UNKNOWN) {
          counts.samples--;
          throw new FormatError(r.fileOffset, `sample of event type ${type}, which has no format in the file's tracing data`);
        }
        if (kind < 0) { counts.skipped++; return; }
        const ts = sample.hasTime ? S0.timeOffset() : -Infinity;
        queue.push(ts, sample.cpu, sample.pid, sample.tid, kind, r.fileOffset, r.buf, sample.rawPos, sample.rawLen);
        return;
      }
      case REC.LOST:
      case REC.LOST_SAMPLES: {
        const a = S0.attrs[0];
        const n = Number(r.type === REC.LOST ? dv.getBigUint64(p + 16, le) : dv.getBigUint64(p + 8, le));
        if (a?.sampleIdAll) parseSampleIdTrailer(dv, p + (r.type === REC.LOST ? 24 : 16), e, a.sampleType, le);
        else { sample.cpu = -1; sample.hasTime = false; }
        const ts = sample.hasTime ? S0.timeOffset() : -Infinity;
        queue.push(ts, sample.cpu, n, -1, KIND_LOST, r.fileOffset, r.buf, p, 0);
        return;
      }
      case REC.FINISHED_ROUND:
        queue.round();
        return;
      case REC.HEADER_ATTR: {
        const attrLen = le ? r.buf.readUInt32LE(p + 8 + 4) : r.buf.readUInt32BE(p + 8 + 4);
        // The attr's own size bounds it, not the read buffer (which holds the records after it).
        if (attrLen < 48 || p + 8 + attrLen > e) throw new FormatError(r.fileOffset + 8, `perf_event_attr claims ${attrLen} bytes: ${attrLen < 48 ? 'shorter than the 48 bytes of its fixed fields' : 'more than its HEADER_ATTR record holds'}`);
        const a = parseAttr(r.buf, p + 8, le, r.fileOffset + 8);
        for (let q = p + 8 + attrLen; q + 8 <= e; q += 8) a.ids.push(dv.getBigUint64(q, le));
        S0.addAttr(a);
        return;
      }
      case REC.HEADER_FEATURE: {
        const bit = Number(dv.getBigUint64(p + 8, le));
        if (bit === FEAT.COMPRESSED) S0.checkCompression(new Cursor(new BufferSource(Buffer.from(r.buf.subarray(p + 16, e)), r.fileOffset + 16), r.fileOffset + 16, le, 'HEADER_COMPRESSED'));
        return;
      }
      default:
        return;
    }
  }, (data, at) => {
    S0.setTracingData(new Cursor(new BufferSource(data, at), at, le, 'PERF_RECORD_HEADER_TRACING_DATA'), data.length);
  });
  if (walker.leftover > 0) S0.notes.push(`${walker.leftover} bytes of decompressed data at the end do not form a whole record (cut short)`);
}

export async function* readPerfData(input: OpenedInput, state: ReadState, opts: ReadOptions): AsyncGenerator<ExitChunk> {
  const { diag, counters } = state;
  const st = diag.stats;
  const path = input.path;
  for (const c of ['port', 'size', 'dir', 'value', 'gpa', 'msr', 'vm'] as const) state.columns.add(c);
  if (input.gzip) throw new ExitscopeError(`${path}: a gzip-compressed perf.data: decompress it first (gunzip)`);
  let src: FileSource;
  try {
    src = new FileSource(path);
  } catch (e) {
    throw new ExitscopeError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const asm = new ExitAssembler(counters, diag, opts.chunkRows, state.vms);
    let zero = NaN;
    let curTs = 0;
    let S0: PerfSession;
    try {
      S0 = new PerfSession(src);
    } catch (e) {
      throw wrap(path, e);
    }
    st.format = S0.header.pipe ? 'perf.data (pipe)' : 'perf.data';
    let dec: KvmRecordDecoder | null = null;
    let decMeta: TracingMetadata | null = null;
    const decoder = (): KvmRecordDecoder => {
      if (!dec || decMeta !== S0.meta) {
        decMeta = S0.meta;
        dec = new KvmRecordDecoder(S0.meta!.events, asm, S0.meta!.header.littleEndian);
        if (S0.meta!.kallsyms) state.embeddedKallsyms = S0.meta!.kallsyms;
      }
      return dec;
    };
    const tsFn = (): number => {
      if (zero !== zero) { asm.time.offsetOfBigInt(S0.absNs(curTs)); zero = curTs; }
      return curTs - zero;
    };
    /** The processes (VMs: QEMU pids) the kvm samples came from. */
    const vmPids = new Set<number>();
    const queue = new OrderedQueue((q: QueuedSample) => {
      if (q.kind === KIND_LOST) { asm.lost(q.cpu, q.pid); return; }
      if (vmPids.size < 64) vmPids.add(q.pid);
      // The sample's pid is the QEMU process: the VM of this vcpu thread.
      asm.setTgid(q.tid, q.pid);
      curTs = q.ts === -Infinity ? 0 : q.ts;
      const err = decoder().decode(q.kind, q.dv, q.pos, q.len, tsFn, q.cpu, q.tid);
      if (err === null) st.events++;
      else diag.rejectAt(`@${hex(q.at)}`, err);
    });
    const counts = { samples: 0, skipped: 0, reject: (where: string, why: string) => diag.rejectAt(where, why) };
    try {
      walkSession(S0, new RecordWalker(src, S0.le), queue, (type) => decoder().kindById[type], counts);
      queue.finish();
    } catch (e) {
      // What was read before the damage still counts: deliver the samples queued so far.
      try { queue.finish(); } catch { /* a second problem: the first one is reported */ }
      st.lines = counts.samples;
      st.skipped = counts.skipped;
      throw wrap(path, e);
    } finally {
      st.lines = counts.samples;
      st.skipped = counts.skipped;
    }
    if (queue.forced) diag.note(`no PERF_RECORD_FINISHED_ROUND for ${queue.forced} stretches of ${groupDigits(MAX_QUEUED)} samples: sorted within a bounded window instead`);
    for (const n of S0.notes) diag.note(n);
    if (vmPids.size > 1) {
      const list = [...vmPids].sort((a, b) => a - b);
      diag.note(`kvm samples came from ${vmPids.size}${vmPids.size >= 64 ? '+' : ''} processes (VMs: pid ${list.slice(0, 8).join(', ')}${list.length > 8 ? ', ...' : ''}); the vm column (the QEMU pid) tells their exits apart`);
    }
    if (!S0.meta) diag.note('this perf.data has no tracing data (HEADER_TRACING_DATA): no tracepoint samples (record with perf record -e "kvm:*" or perf kvm stat record)');
    yield* asm.finish();
    asm.notes(diag);
  } finally {
    src.close();
  }
}

export interface PerfDecodedRecord {
  /** Sample time, ns. */
  ts: bigint;
  cpu: number;
  /** The process (for KVM: the QEMU process, i.e. the VM). */
  pid: number;
  /** The thread (for KVM: the vcpu thread). */
  tid: number;
  system: string;
  name: string;
  fields: Record<string, FieldValue>;
}

/** Every tracepoint sample of a perf.data in perf script's order, decoded generically (tests, dumps). */
export async function* perfDataRecords(path: string): AsyncGenerator<PerfDecodedRecord> {
  const src = new FileSource(path);
  try {
    const S0 = new PerfSession(src);
    const out: PerfDecodedRecord[] = [];
    const queue = new OrderedQueue((q) => {
      if (q.kind === KIND_LOST) return;
      const meta = S0.meta!;
      const fmt = meta.events.byId.get(q.kind);
      const data = q.data.subarray(q.pos, q.pos + q.len);
      out.push({
        ts: S0.absNs(q.ts), cpu: q.cpu, pid: q.pid, tid: q.tid, system: fmt?.system ?? '?', name: fmt?.name ?? `type ${q.kind}`,
        fields: fmt ? decodeFields(fmt, data, meta.header.littleEndian) : {},
      });
    });
    walkSession(S0, new RecordWalker(src, S0.le), queue, (type) => (S0.meta!.events.byId.has(type) ? type : KIND_UNKNOWN), {
      samples: 0, skipped: 0, reject: (where, why) => { throw new FormatError(0, `${where}: ${why}`); },
    });
    queue.finish();
    yield* out;
  } catch (e) {
    throw wrap(path, e);
  } finally {
    src.close();
  }
}

export const perfDataFormat: TraceFormat = {
  ...perfDataInfo,
  read: readPerfData,
};
