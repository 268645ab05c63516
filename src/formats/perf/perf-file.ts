/**
 * perf.data, as `perf record` writes it (tools/perf/Documentation/
 * perf.data-file-format.txt, tools/include/uapi/linux/perf_event.h,
 * tools/perf/util/header.c and session.c). Numbers are in the recording
 * machine's byte order; the magic "PERFILE2" read as a u64 tells which.
 *
 * File mode: header { magic, u64 size, u64 attr_size, attrs {offset, size},
 * data {offset, size}, event_types {offset, size}, 256 feature bits }; each
 * attr is attr_size bytes: perf_event_attr then {offset, size} of its u64 ids;
 * after the data section, one {offset, size} per feature bit set, in bit
 * order (bit 1 = HEADER_TRACING_DATA: the tracing-data block of
 * tracing/tracing-data.ts; bit 27 = HEADER_COMPRESSED: u32 version, u32 type
 * (1 = zstd), u32 level, u32 ratio, u32 mmap_len).
 * Pipe mode (`-o -`): header { magic, u64 size = 16 }, then records only;
 * PERF_RECORD_HEADER_ATTR (64: attr, ids to the end), HEADER_TRACING_DATA
 * (66: u32 size; the block follows the record, padded to 8), HEADER_FEATURE
 * (80: u64 feature bit, its data) stand in for the header's sections.
 *
 * Records: perf_event_header { u32 type, u16 misc, u16 size }. A SAMPLE (9)
 * holds, in this order and only when its sample_type bit is set:
 * IDENTIFIER u64, IP u64, TID u32 pid + u32 tid, TIME u64, ADDR u64, ID u64,
 * STREAM_ID u64, CPU u32 + u32, PERIOD u64, READ (read_format), CALLCHAIN
 * (u64 nr, nr u64), RAW (u32 size, the tracepoint record); later bits come
 * after RAW and need not be understood. Which attr a sample belongs to is
 * found from its id: at offset 0 with IDENTIFIER, else at the ID position
 * (the same for every attr of a file, as perf requires).
 * PERF_RECORD_COMPRESSED (81) carries a piece of one zstd stream whose
 * output is more records (a record may straddle two pieces);
 * COMPRESSED2 (83, newer perf) adds a u64 data size first.
 * PERF_RECORD_LOST (2: u64 id, u64 lost) and LOST_SAMPLES (13: u64 lost)
 * are lost-event markers; their CPU and time come from the sample_id
 * trailer when sample_id_all is set.
 */
import { Decompress } from 'fzstd';
import { FileSource, FormatError, hex } from '../tracing/source.js';

import { PERF_MAGIC } from '../binary-formats.js';

export { PERF_MAGIC };

export const REC = {
  LOST: 2, SAMPLE: 9, LOST_SAMPLES: 13, HEADER_ATTR: 64, HEADER_EVENT_TYPE: 65, HEADER_TRACING_DATA: 66,
  FINISHED_ROUND: 68, HEADER_FEATURE: 80, COMPRESSED: 81, FINISHED_INIT: 82, COMPRESSED2: 83,
} as const;

export const FEAT = { TRACING_DATA: 1, COMPRESSED: 27 } as const;

export const S = {
  IP: 1, TID: 2, TIME: 4, ADDR: 8, READ: 16, CALLCHAIN: 32, ID: 64, CPU: 128, PERIOD: 256, STREAM_ID: 512,
  RAW: 1024, IDENTIFIER: 0x10000,
} as const;

const RF = { TOTAL_TIME_ENABLED: 1, TOTAL_TIME_RUNNING: 2, ID: 4, GROUP: 8, LOST: 16 } as const;

export interface PerfAttr {
  type: number;
  config: bigint;
  sampleType: number;
  readFormat: number;
  sampleIdAll: boolean;
  ids: bigint[];
}

/** perf_event_attr fields at their uapi offsets (attr.size may be larger on newer ABIs: the rest is ignored). */
export function parseAttr(b: Buffer, p: number, le: boolean, at: number): PerfAttr {
  if (p + 48 > b.length) throw new FormatError(at, `perf_event_attr at ${hex(at)} is shorter than 48 bytes`);
  const u32 = (o: number): number => (le ? b.readUInt32LE(p + o) : b.readUInt32BE(p + o));
  const u64 = (o: number): bigint => (le ? b.readBigUInt64LE(p + o) : b.readBigUInt64BE(p + o));
  const sampleType = u64(24), readFormat = u64(32), flags = u64(40);
  // Bits a newer ABI adds come after RAW in a sample (the layout follows bit order), so they can be left alone.
  return {
    type: u32(0), config: u64(8), sampleType: Number(sampleType & 0xffffffffn), readFormat: Number(readFormat & 0xffffn),
    sampleIdAll: ((flags >> 18n) & 1n) === 1n, ids: [],
  };
}

/** Bytes of a sample's READ part (read_format; GROUP needs the count in the data). */
function readSize(rf: number, dv: DataView, p: number, le: boolean): number {
  const perValue = 8 + (rf & RF.ID ? 8 : 0) + (rf & RF.LOST ? 8 : 0);
  const times = (rf & RF.TOTAL_TIME_ENABLED ? 8 : 0) + (rf & RF.TOTAL_TIME_RUNNING ? 8 : 0);
  if (!(rf & RF.GROUP)) return perValue + times;
  const nr = Number(le ? dv.getBigUint64(p, true) : dv.getBigUint64(p, false));
  return 8 + times + nr * perValue;
}

/** A sample's fields that the readers use, filled by parseSample. */
export const sample = { pid: -1, tid: -1, timeHi: 0, timeLo: 0, hasTime: false, cpu: -1, rawPos: -1, rawLen: 0 };

const SHORT = 'sample too short';

/**
 * Parses the sample at dv[p, end) (after its 8-byte header) with `st`/`rf`.
 * Returns null or why it cannot be parsed.
 */
export function parseSample(dv: DataView, p: number, end: number, st: number, rf: number, le: boolean): string | null {
  const s = sample;
  s.pid = -1; s.tid = -1; s.hasTime = false; s.cpu = -1; s.rawPos = -1; s.rawLen = 0;
  if (st & S.IDENTIFIER) p += 8;
  if (st & S.IP) p += 8;
  if (st & S.TID) { if (p + 8 > end) return SHORT; s.pid = dv.getInt32(p, le); s.tid = dv.getInt32(p + 4, le); p += 8; }
  if (st & S.TIME) {
    if (p + 8 > end) return SHORT;
    s.timeLo = le ? dv.getUint32(p, true) : dv.getUint32(p + 4, false);
    s.timeHi = le ? dv.getUint32(p + 4, true) : dv.getUint32(p, false);
    s.hasTime = true; p += 8;
  }
  if (st & S.ADDR) p += 8;
  if (st & S.ID) p += 8;
  if (st & S.STREAM_ID) p += 8;
  if (st & S.CPU) { if (p + 8 > end) return SHORT; s.cpu = dv.getUint32(p, le); p += 8; }
  if (st & S.PERIOD) p += 8;
  if (st & S.READ) { if (p + 8 > end) return SHORT; p += readSize(rf, dv, p, le); }
  if (st & S.CALLCHAIN) {
    if (p + 8 > end) return SHORT;
    const nr = le ? dv.getUint32(p, true) + dv.getUint32(p + 4, true) * 4294967296 : dv.getUint32(p + 4, false) + dv.getUint32(p, false) * 4294967296;
    p += 8 + 8 * nr;
  }
  if (st & S.RAW) {
    if (p + 4 > end) return 'sample too short for its RAW data';
    const size = dv.getUint32(p, le);
    if (p + 4 + size > end) return `RAW data of ${size} bytes runs past the sample`;
    s.rawPos = p + 4;
    s.rawLen = size;
  }
  return null;
}

/** The sample_id trailer of a non-sample record (sample_id_all): fills sample.cpu / time. */
export function parseSampleIdTrailer(dv: DataView, start: number, end: number, st: number, le: boolean): void {
  const s = sample;
  s.cpu = -1; s.hasTime = false; s.tid = -1; s.pid = -1;
  let n = 0;
  for (const bit of [S.TID, S.TIME, S.ID, S.STREAM_ID, S.CPU, S.IDENTIFIER]) if (st & bit) n++;
  let p = end - 8 * n;
  if (p < start) return;
  if (st & S.TID) { s.pid = dv.getInt32(p, le); s.tid = dv.getInt32(p + 4, le); p += 8; }
  if (st & S.TIME) {
    s.timeLo = le ? dv.getUint32(p, true) : dv.getUint32(p + 4, false);
    s.timeHi = le ? dv.getUint32(p + 4, true) : dv.getUint32(p, false);
    s.hasTime = true; p += 8;
  }
  if (st & S.ID) p += 8;
  if (st & S.STREAM_ID) p += 8;
  if (st & S.CPU) { s.cpu = dv.getUint32(p, le); p += 8; }
}

/** One record handed to the consumer: buf[pos, pos + size), at file offset `at` (or inside a compressed record). */
export interface RecordView {
  buf: Buffer;
  dv: DataView;
  pos: number;
  size: number;
  type: number;
  /** File offset of the record (of the compressed record it came out of, when compressed). */
  fileOffset: number;
  /** Offset in the decompressed data, or -1 for a record read from the file as it is. */
  inner: number;
}

/** Where a record is, for messages: `@0x…`, or `@0x…+0x… (decompressed)`. */
export function whereOf(r: RecordView): string {
  return r.inner < 0 ? `@${hex(r.fileOffset)}` : `@${hex(r.fileOffset)}+${hex(r.inner)} (decompressed)`;
}

/**
 * Walks the records of [start, end) of the file in blocks (positional reads),
 * expanding PERF_RECORD_COMPRESSED in place; `onRecord` sees every other
 * record. Pipe-mode tracing data (the bytes after a HEADER_TRACING_DATA
 * record) is handed to `onTracingData`.
 */
export class RecordWalker {
  private buf: Buffer;
  private bufStart = 0;
  private bufLen = 0;
  private zstd: Decompress | null = null;
  private zout: Buffer[] = [];
  private zpending = Buffer.alloc(0);
  private zview: DataView | null = null;

  constructor(private readonly src: FileSource, private readonly le: boolean, blockSize = 1 << 20) {
    this.buf = Buffer.allocUnsafe(blockSize);
  }

  /** Makes [pos, pos+n) available in this.buf; returns its index there. */
  private ensure(pos: number, n: number, end: number, what: string): number {
    if (pos + n > end) throw new FormatError(pos, `truncated: the data ends inside ${what} at ${hex(pos)} (needs ${n} bytes, ${end - pos} left)`);
    if (pos >= this.bufStart && pos + n <= this.bufStart + this.bufLen) return pos - this.bufStart;
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    const want = Math.min(this.buf.length, end - pos);
    const got = pos >= this.src.size ? 0 : this.src.readInto(this.buf, pos, Math.min(want, this.src.size - pos));
    this.bufStart = pos;
    this.bufLen = got;
    if (got < n) throw new FormatError(pos + got, `truncated: the file ends inside ${what} at ${hex(pos)} (file size ${hex(this.src.size)})`);
    return 0;
  }

  walk(start: number, end: number, onRecord: (r: RecordView) => void, onTracingData: (data: Buffer, at: number) => void): void {
    let pos = start;
    const r: RecordView = { buf: this.buf, dv: new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength), pos: 0, size: 0, type: 0, fileOffset: 0, inner: -1 };
    const le = this.le;
    while (pos < end) {
      let i = this.ensure(pos, 8, end, 'a record header');
      const size = le ? this.buf.readUInt16LE(i + 6) : this.buf.readUInt16BE(i + 6);
      const type = le ? this.buf.readUInt32LE(i) : this.buf.readUInt32BE(i);
      if (size < 8) throw new FormatError(pos, `record of type ${type} at ${hex(pos)} has size ${size} (less than its header)`);
      i = this.ensure(pos, size, end, `a record of type ${type}`);
      if (r.buf !== this.buf) { r.buf = this.buf; }
      if (r.dv.buffer !== this.buf.buffer || r.dv.byteOffset !== this.buf.byteOffset) r.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
      if (type === REC.COMPRESSED || type === REC.COMPRESSED2) {
        let d = i + 8, dl = size - 8;
        if (type === REC.COMPRESSED2) {
          const ds = Number(le ? this.buf.readBigUInt64LE(i + 8) : this.buf.readBigUInt64BE(i + 8));
          d = i + 16; dl = Math.min(ds, size - 16);
        }
        this.decompress(this.buf.subarray(d, d + dl), pos, onRecord);
        pos += size;
        continue;
      }
      if (type === REC.HEADER_TRACING_DATA) {
        const tsize = le ? this.buf.readUInt32LE(i + 8) : this.buf.readUInt32BE(i + 8);
        const at = pos + size;
        if (tsize > 1 << 30) throw new FormatError(pos, `tracing data of ${tsize} bytes is out of range`);
        const j = this.ensure(at, tsize, end, 'the tracing data');
        onTracingData(Buffer.from(this.buf.subarray(j, j + tsize)), at);
        pos = at + tsize;
        continue;
      }
      r.pos = i; r.size = size; r.type = type; r.fileOffset = pos;
      onRecord(r);
      pos += size;
    }
  }

  /** Feeds one compressed piece; hands on every complete record that comes out. */
  private decompress(piece: Buffer, at: number, onRecord: (r: RecordView) => void): void {
    if (!this.zstd) this.zstd = new Decompress((chunk) => { this.zout.push(Buffer.from(chunk)); });
    try {
      this.zstd.push(piece);
    } catch (e) {
      throw new FormatError(at, `cannot decompress the zstd data of the compressed record at ${hex(at)} (${(e as Error).message})`);
    }
    if (!this.zout.length) return;
    const data = Buffer.concat([this.zpending, ...this.zout]);
    this.zout = [];
    const dv = (this.zview = new DataView(data.buffer, data.byteOffset, data.byteLength));
    const le = this.le;
    let p = 0;
    const r: RecordView = { buf: data, dv, pos: 0, size: 0, type: 0, fileOffset: at, inner: 0 };
    while (p + 8 <= data.length) {
      const size = dv.getUint16(p + 6, le);
      const type = dv.getUint32(p, le);
      if (size < 8) throw new FormatError(at, `a record decompressed from ${hex(at)} has size ${size}`);
      if (p + size > data.length) break;
      r.pos = p; r.size = size; r.type = type; r.inner = p;
      onRecord(r);
      p += size;
    }
    this.zpending = Buffer.from(data.subarray(p));
    void this.zview;
  }

  /** Bytes of decompressed data left over at the end (a record cut short). */
  get leftover(): number {
    return this.zpending.length;
  }
}

export interface PerfHeader {
  littleEndian: boolean;
  pipe: boolean;
  headerSize: number;
  attrSize: number;
  attrs: { offset: number; size: number };
  data: { offset: number; size: number };
  features: number[];
}

export function readPerfHeader(src: FileSource): PerfHeader {
  const b = src.read(0, 104);
  if (b.length < 16) throw new FormatError(b.length, 'truncated: the file ends inside the perf header');
  const magic = b.subarray(0, 8);
  let le: boolean;
  if (magic.equals(PERF_MAGIC)) le = true;
  else if (Buffer.from(magic).reverse().equals(PERF_MAGIC)) le = false;
  else if (magic.toString('latin1') === 'PERFFILE') throw new FormatError(0, 'a version 1 perf.data (PERFFILE): too old, exitscope reads PERFILE2');
  else if (/^PERFILE[3-9]$/.test(magic.toString('latin1'))) throw new FormatError(0, `perf.data format ${magic.toString('latin1')} is newer than exitscope reads (PERFILE2)`);
  else throw new FormatError(0, `not a perf.data: magic ${JSON.stringify(magic.toString('latin1').replace(/[^\x20-\x7e]/g, '.'))} (expected "PERFILE2")`);
  const u64 = (o: number): number => {
    const v = le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(o, `perf header field at ${hex(o)} is out of range`);
    return Number(v);
  };
  const headerSize = u64(8);
  if (headerSize === 16) return { littleEndian: le, pipe: true, headerSize, attrSize: 0, attrs: { offset: 0, size: 0 }, data: { offset: 16, size: Infinity }, features: [] };
  if (b.length < 104) throw new FormatError(b.length, 'truncated: the file ends inside the perf header');
  if (headerSize < 104) throw new FormatError(8, `perf header size ${headerSize} is neither 16 (pipe) nor at least 104`);
  const features: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = le ? b.readBigUInt64LE(72 + 8 * w) : b.readBigUInt64BE(72 + 8 * w);
    for (let bit = 0; bit < 64; bit++) if ((word >> BigInt(bit)) & 1n) features.push(w * 64 + bit);
  }
  return {
    littleEndian: le, pipe: false, headerSize, attrSize: u64(16),
    attrs: { offset: u64(24), size: u64(32) }, data: { offset: u64(40), size: u64(48) }, features,
  };
}
