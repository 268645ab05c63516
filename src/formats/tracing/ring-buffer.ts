/**
 * Walking the kernel's ftrace ring-buffer pages (sub-buffers) as trace.dat
 * stores them per CPU, after libtraceevent's kbuffer-parse.c:
 *
 *   page:   u64 timestamp | commit word (the kernel's long: 4 or 8 bytes, from
 *           header_page) | records from header_page's `data` offset
 *   commit: low 27 bits = bytes of records on the page; bit 31 = events were
 *           missed before this page; bit 30 = their count is stored as a long
 *           right after the records
 *   record: u32 header, type_len = low 5 bits, time delta = high 27 bits
 *           (big-endian files: type_len = top 5 bits, delta = low 27)
 *     0       data; length in the next u32 (including itself), rounded up to 4
 *     1..28   data of type_len * 4 bytes
 *     29      padding: the next u32 is its length; its delta still counts
 *             (a discarded event); delta 0 means the rest of the page
 *     30      time extend: delta += next u32 << 27
 *     31      absolute timestamp: (next u32 << 27) + delta, keeping the top
 *             5 bits of the current time
 *
 * Timestamps are kept as float64 offsets (in the file's clock units) from a
 * bigint base; a page's absolute timestamp is turned into an offset once per
 * page. Pages are read in blocks with positional reads (uncompressed data) or
 * one compressed chunk at a time, so memory does not grow with the file.
 */
import { inflateSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import type { PageHeader } from './event-format.js';
import { FileSource, FormatError, hex } from './source.js';

const COMMIT_MASK = (1 << 27) - 1;
const MISSING_EVENTS = 0x80000000;
const MISSING_STORED = 0x40000000;
const TWO27 = 134217728;
const TS_MSB = 0xf8n << 56n;

export type Compression = 'none' | 'zstd' | 'zlib';

export const SUPPORTED_COMPRESSIONS: readonly string[] = ['none', 'zstd', 'zlib'];

/**
 * The content size a zstd frame header declares (RFC 8878 3.1.1.1), or -1 when the
 * header declares none or is not a zstd frame header.
 */
export function zstdContentSize(d: Uint8Array): number {
  if (d.length < 5 || d[0] !== 0x28 || d[1] !== 0xb5 || d[2] !== 0x2f || d[3] !== 0xfd) return -1;
  const fhd = d[4];
  const single = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  const fcsBytes = fcsFlag === 0 ? single : 1 << fcsFlag;
  if (fcsBytes === 0) return -1;
  const at = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3];
  if (d.length < at + fcsBytes) return -1;
  let v = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) v = v * 256 + d[at + i];
  return fcsBytes === 2 ? v + 256 : v;
}

/** Decompresses one block whose uncompressed size is known. */
export function decompressBlock(kind: Compression, data: Uint8Array, usize: number, out?: Uint8Array): Uint8Array {
  if (kind === 'zstd') {
    // fzstd decoding into a given buffer returns that buffer whatever it wrote, so decode in
    // place only a frame that declares exactly the size expected; any other frame is decoded
    // on its own, where the length it gives is the length it made.
    if (out && out.length >= usize && zstdContentSize(data) === usize) return zstdDecompress(data, out.subarray(0, usize));
    const r = zstdDecompress(data);
    if (r.length !== usize) throw new Error(`zstd data gave ${r.length} bytes, expected ${usize}`);
    return r;
  }
  if (kind === 'zlib') {
    const r = inflateSync(data);
    if (r.length !== usize) throw new Error(`zlib data gave ${r.length} bytes, expected ${usize}`);
    return r;
  }
  return data;
}

/** Where one CPU's pages are in the file. */
export interface CpuDataRef {
  cpu: number;
  offset: number;
  size: number;
  /** The buffer instance ('' for the top one). */
  instance: string;
}

/** Gives whole pages, block by block. */
interface PageBlocks {
  /** Loads the next block into `out`; false at the end. Throws FormatError past the end of the file. */
  next(out: BlockOut): boolean;
}

interface BlockOut {
  buf: Uint8Array;
  len: number;
  /** File offset of the block's first byte (uncompressed data), or of the compressed chunk. */
  fileOffset: number;
  /** True when the block came out of a compressed chunk (fileOffset names the chunk). */
  inChunk: boolean;
}

class PlainBlocks implements PageBlocks {
  private done = 0;
  private truncatedAt = -1;
  private readonly buf: Buffer;

  constructor(private readonly src: FileSource, private readonly ref: CpuDataRef, private readonly pageSize: number, blockPages: number) {
    this.buf = Buffer.allocUnsafe(Math.max(1, Math.min(blockPages, Math.ceil(ref.size / pageSize))) * pageSize);
  }

  next(out: BlockOut): boolean {
    const ref = this.ref;
    if (this.truncatedAt >= 0) {
      throw new FormatError(this.truncatedAt, `truncated: the file ends inside CPU ${ref.cpu}'s ring-buffer data (page at ${hex(this.truncatedAt - ((this.truncatedAt - ref.offset) % this.pageSize))}; the data was to end at ${hex(ref.offset + ref.size)})`);
    }
    const left = ref.size - this.done;
    if (left <= 0) return false;
    const want = Math.min(left, this.buf.length);
    const at = ref.offset + this.done;
    const got = at >= this.src.size ? 0 : this.src.readInto(this.buf, at, Math.min(want, this.src.size - at));
    let len = got;
    if (got < want) {
      this.truncatedAt = at + got;
      len = got - (got % this.pageSize);
      if (len === 0) return this.next(out);
    }
    this.done += len;
    out.buf = this.buf;
    out.len = len;
    out.fileOffset = at;
    out.inChunk = false;
    return true;
  }
}

/**
 * Compressed per-CPU data (trace.dat v7): u32 chunk count, then per chunk
 * u32 compressed size, u32 uncompressed size (whole pages), the data. The
 * BUFFER option's size does not count the leading u32, so the chunk headers
 * are what is followed.
 */
class ChunkBlocks implements PageBlocks {
  private pos: number;
  private count = -1;
  private index = 0;
  private cbuf = Buffer.alloc(0);
  private ubuf = new Uint8Array(0);
  private readonly head = Buffer.alloc(8);

  constructor(private readonly src: FileSource, private readonly ref: CpuDataRef, private readonly kind: Compression, private readonly pageSize: number, private readonly le: boolean) {
    this.pos = ref.offset;
  }

  private need(buf: Uint8Array, at: number, n: number, what: string): void {
    const got = at >= this.src.size ? 0 : this.src.readInto(buf, at, Math.min(n, this.src.size - at));
    if (got < n) throw new FormatError(at + got, `truncated: the file ends inside CPU ${this.ref.cpu}'s ${what} at ${hex(at)}`);
  }

  next(out: BlockOut): boolean {
    const le = this.le;
    if (this.count < 0) {
      this.need(this.head, this.pos, 4, 'compressed data (chunk count)');
      this.count = le ? this.head.readUInt32LE(0) : this.head.readUInt32BE(0);
      this.pos += 4;
    }
    if (this.index >= this.count) return false;
    const at = this.pos;
    this.need(this.head, at, 8, 'compressed chunk header');
    const csize = le ? this.head.readUInt32LE(0) : this.head.readUInt32BE(0);
    const usize = le ? this.head.readUInt32LE(4) : this.head.readUInt32BE(4);
    if (usize % this.pageSize !== 0) throw new FormatError(at, `CPU ${this.ref.cpu}: compressed chunk at ${hex(at)} has sizes ${csize} -> ${usize} (not whole pages)`);
    // A corrupt header must not make us allocate gigabytes; trace-cmd's chunks are far smaller.
    if (usize > 1 << 30 || csize > 1 << 30) throw new FormatError(at, `CPU ${this.ref.cpu}: compressed chunk at ${hex(at)} has sizes ${csize} -> ${usize} (over 1 GiB: corrupt)`);
    if (this.cbuf.length < csize) this.cbuf = Buffer.allocUnsafe(csize);
    this.need(this.cbuf, at + 8, csize, `${this.kind} chunk`);
    if (this.ubuf.length < usize) this.ubuf = new Uint8Array(usize);
    let data: Uint8Array;
    try {
      data = decompressBlock(this.kind, this.cbuf.subarray(0, csize), usize, this.ubuf);
    } catch (e) {
      throw new FormatError(at, `CPU ${this.ref.cpu}: cannot decompress the ${this.kind} chunk at ${hex(at)} (${(e as Error).message})`);
    }
    this.pos = at + 8 + csize;
    this.index++;
    out.buf = data;
    out.len = usize;
    out.fileOffset = at;
    out.inChunk = true;
    return true;
  }
}

/**
 * One CPU's records in order. After `advance()` returns true, the current data
 * record is buf[recPos, recPos + recLen) at time `ts` (offset from the base,
 * in clock units); `missed` is the lost-event count flagged on the pages since
 * the previous record (0 none, -1 flagged without a count).
 */
export class CpuStream {
  buf: Uint8Array = new Uint8Array(0);
  dv: DataView = new DataView(new ArrayBuffer(0));
  recPos = 0;
  recLen = 0;
  ts = 0;
  missed = 0;
  /** Records that could not be walked (a corrupt page): the reader counts them as rejected. */
  onBadPage: (where: string, why: string) => void = () => undefined;

  private blkLen = 0;
  private pageStart = 0;
  private p = 0;
  private dataEnd = 0;
  private pendingMissed = 0;
  private readonly out: BlockOut = { buf: new Uint8Array(0), len: 0, fileOffset: 0, inChunk: false };
  private readonly blocks: PageBlocks;
  private readonly le: boolean;
  private readonly dataOff: number;
  private readonly commitLo: number;
  private readonly longSize: number;
  private readonly pageSize: number;

  constructor(src: FileSource, readonly ref: CpuDataRef, ph: PageHeader, pageSize: number, littleEndian: boolean, compression: Compression, public base: bigint, blockPages = 64) {
    this.le = littleEndian;
    this.pageSize = pageSize;
    this.dataOff = ph.dataOffset;
    this.longSize = ph.commitSize;
    this.commitLo = ph.commitOffset + (!littleEndian && ph.commitSize === 8 ? 4 : 0);
    this.blocks = compression === 'none' ? new PlainBlocks(src, ref, pageSize, blockPages) : new ChunkBlocks(src, ref, compression, pageSize, littleEndian);
    this.pageStart = 0;
    this.blkLen = 0;
    this.p = 0;
    this.dataEnd = 0;
    // Position "before the first page": the first nextPage() loads block 1, page 0.
    this.pageStart = -pageSize;
  }

  /** The absolute timestamp of the first page (for choosing a base), or null when the CPU has no pages. */
  peekFirstPageTs(): bigint | null {
    if (!this.nextPage()) return null;
    return this.pageTsAbs();
  }

  /** Sets the base once it is chosen (after peekFirstPageTs, before the first advance). */
  setBase(base: bigint): void {
    this.base = base;
    if (this.blkLen > 0) this.ts = Number(this.pageTsAbs() - base);
  }

  private pageTsAbs(): bigint {
    return this.le ? this.dv.getBigUint64(this.pageStart, true) : this.dv.getBigUint64(this.pageStart, false);
  }

  /** Where the current record is, for messages: `@0x…` or `@0x… (zstd chunk) +0x…`. */
  where(pos = this.recPos): string {
    const o = this.out;
    return o.inChunk ? `@${hex(o.fileOffset)}+${hex(pos)} (in CPU ${this.ref.cpu}'s compressed chunk)` : `@${hex(o.fileOffset + pos)}`;
  }

  private nextPage(): boolean {
    for (;;) {
      let start = this.pageStart + this.pageSize;
      if (start + this.pageSize > this.blkLen) {
        if (!this.blocks.next(this.out)) return false;
        this.buf = this.out.buf;
        this.blkLen = this.out.len;
        if (this.dv.buffer !== this.buf.buffer || this.dv.byteOffset !== this.buf.byteOffset || this.dv.byteLength !== this.buf.byteLength) {
          this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
        }
        start = 0;
        if (this.blkLen < this.pageSize) continue;
      }
      this.pageStart = start;
      const dv = this.dv;
      const commit = dv.getUint32(start + this.commitLo, this.le);
      const size = commit & COMMIT_MASK;
      const data = start + this.dataOff;
      if (size > this.pageSize - this.dataOff) {
        this.onBadPage(this.where(start), `CPU ${this.ref.cpu}: page claims ${size} bytes of records, more than a ${this.pageSize}-byte page holds: page skipped`);
        this.p = this.dataEnd = data;
        continue;
      }
      if (commit & MISSING_EVENTS) {
        let n = -1;
        if (commit & MISSING_STORED && data + size + this.longSize <= start + this.pageSize) {
          n = this.longSize === 8 ? Number(dv.getBigUint64(data + size, this.le)) : dv.getUint32(data + size, this.le);
        }
        this.pendingMissed = n < 0 || this.pendingMissed < 0 ? -1 : this.pendingMissed + n;
        if (this.pendingMissed === 0) this.pendingMissed = -1;
      }
      this.ts = Number(this.pageTsAbs() - this.base);
      this.p = data;
      this.dataEnd = data + size;
      return true;
    }
  }

  /** Moves to the next data record; false when the CPU has no more. */
  advance(): boolean {
    const le = this.le;
    for (;;) {
      const dv = this.dv;
      let p = this.p;
      const end = this.dataEnd;
      if (p + 4 > end) {
        if (!this.nextPage()) return false;
        continue;
      }
      const w = dv.getUint32(p, le);
      const typeLen = le ? w & 31 : w >>> 27;
      const delta = le ? w >>> 5 : w & COMMIT_MASK;
      if (typeLen >= 1 && typeLen <= 28) {
        const len = typeLen << 2;
        if (p + 4 + len > end) { this.badRecord(p, end); continue; }
        this.ts += delta;
        this.recPos = p + 4;
        this.recLen = len;
        this.p = p + 4 + len;
        return this.emitted();
      }
      if (p + 8 > end) { if (typeLen === 29 && delta === 0) { this.p = end; continue; } this.badRecord(p, end); continue; }
      const arg = dv.getUint32(p + 4, le);
      if (typeLen === 0) {
        const len = ((arg - 4) + 3) & ~3;
        if (arg < 4 || p + 8 + len > end) { this.badRecord(p, end); continue; }
        this.ts += delta;
        this.recPos = p + 8;
        this.recLen = arg - 4;
        this.p = p + 8 + len;
        return this.emitted();
      }
      if (typeLen === 29) {
        this.ts += delta;
        if (delta === 0) { this.p = end; continue; }
        p += 4 + arg;
        this.p = p;
        continue;
      }
      if (typeLen === 30) {
        this.ts += arg * TWO27 + delta;
        this.p = p + 8;
        continue;
      }
      // 31: absolute time stamp; the top 5 bits come from the current time.
      const cur = this.base + BigInt(this.ts);
      const abs = ((BigInt(arg) << 27n) + BigInt(delta)) | (cur & TS_MSB);
      this.ts = Number(abs - this.base);
      this.p = p + 8;
    }
  }

  private emitted(): boolean {
    this.missed = this.pendingMissed;
    this.pendingMissed = 0;
    return true;
  }

  private badRecord(p: number, end: number): void {
    this.onBadPage(this.where(p), `CPU ${this.ref.cpu}: record header at page offset ${p - this.pageStart} runs past the page's data: rest of page skipped`);
    this.p = end;
  }
}

/**
 * Merges CPU streams by record time (a binary heap; ties go to the stream
 * listed first, as trace-cmd's lowest-CPU-first scan does).
 */
export class StreamMerger {
  private readonly heap: number[] = [];
  constructor(readonly streams: CpuStream[]) {}

  /** Primes every stream (reads its first record); call once. */
  start(): void {
    for (let i = 0; i < this.streams.length; i++) if (this.streams[i].advance()) this.push(i);
  }

  private less(a: number, b: number): boolean {
    const ta = this.streams[a].ts, tb = this.streams[b].ts;
    return ta < tb || (ta === tb && a < b);
  }

  private push(i: number): void {
    const h = this.heap;
    h.push(i);
    let k = h.length - 1;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      if (!this.less(h[k], h[parent])) break;
      [h[k], h[parent]] = [h[parent], h[k]];
      k = parent;
    }
  }

  private siftDown(k: number): void {
    const h = this.heap, n = h.length;
    for (;;) {
      const l = 2 * k + 1, r = l + 1;
      let m = k;
      if (l < n && this.less(h[l], h[m])) m = l;
      if (r < n && this.less(h[r], h[m])) m = r;
      if (m === k) return;
      [h[k], h[m]] = [h[m], h[k]];
      k = m;
    }
  }

  /** The stream whose current record is next in time, or null at the end. */
  peek(): CpuStream | null {
    return this.heap.length ? this.streams[this.heap[0]] : null;
  }

  /** Moves the stream returned by peek() on to its next record. */
  consume(): void {
    const h = this.heap;
    const top = h[0];
    if (this.streams[top].advance()) this.siftDown(0);
    else {
      const last = h.pop()!;
      if (h.length) { h[0] = last; this.siftDown(0); }
    }
  }
}
