/**
 * Opening a trace: a path, `-` for stdin, gzip by extension or magic bytes.
 * Yields raw byte chunks (never one string for the whole file) and keeps the
 * first decompressed bytes for format sniffing.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { ExitscopeError } from '../model/errors.js';

export interface OpenedInput {
  path: string;
  /** The first bytes (decompressed), for sniffing; also the start of `chunks`. */
  head: Buffer;
  chunks: AsyncIterable<Buffer>;
  gzip: boolean;
}

const READ_CHUNK = 1 << 20;

async function* prepend(first: Buffer | null, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (first && first.length) yield first;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}

export async function openInput(path: string): Promise<OpenedInput> {
  let raw: AsyncIterator<Buffer>;
  if (path === '-') {
    raw = (process.stdin as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  } else {
    try {
      const st = await fsp.stat(path);
      if (st.isDirectory()) throw new ExitscopeError(`${path}: is a directory, not a trace file`);
    } catch (e) {
      if (e instanceof ExitscopeError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new ExitscopeError(`${path}: cannot read trace (${code === 'ENOENT' ? 'no such file' : code ?? 'error'})`);
    }
    raw = createReadStream(path, { highWaterMark: READ_CHUNK })[Symbol.asyncIterator]();
  }
  const first = await raw.next();
  const firstBuf: Buffer | null = first.done ? null : first.value;
  const gzip = firstBuf !== null && firstBuf.length >= 2 && firstBuf[0] === 0x1f && firstBuf[1] === 0x8b;
  let body: AsyncIterator<Buffer>;
  if (gzip) {
    const gunzip = createGunzip();
    Readable.from(prepend(firstBuf, raw)).pipe(gunzip);
    gunzip.on('error', () => undefined);
    body = (gunzip as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  } else {
    body = prepend(firstBuf, raw);
  }
  let head: Buffer = Buffer.alloc(0);
  const pending: Buffer[] = [];
  try {
    while (head.length < 4096) {
      const r = await body.next();
      if (r.done) break;
      pending.push(r.value);
      head = Buffer.concat([head, r.value]);
    }
  } catch (e) {
    throw new ExitscopeError(`${path}: cannot decompress (${(e as Error).message})`);
  }
  async function* all(): AsyncGenerator<Buffer> {
    for (const p of pending) yield p;
    try {
      for (;;) {
        const r = await body.next();
        if (r.done) return;
        yield r.value;
      }
    } catch (e) {
      throw new ExitscopeError(`${path}: read failed (${(e as Error).message}); a truncated .gz?`);
    }
  }
  return { path, head, chunks: all(), gzip };
}

/**
 * The lines of one input buffer: line k is buf[bounds[2k], bounds[2k+1]) with
 * its `\n` and any `\r` removed, numbered firstLine + k. No copy per line.
 */
export interface LineBatch {
  buf: Buffer;
  bounds: Int32Array;
  count: number;
  firstLine: number;
}

/**
 * Splits a byte stream into line batches, one per input buffer (a line that
 * straddles buffers is carried into the next). A last line without a newline
 * still counts. Readers loop over a batch and may yield chunks between batches.
 */
export async function* lineBatches(chunks: AsyncIterable<Buffer>): AsyncGenerator<LineBatch> {
  let carry: Buffer | null = null;
  let lineNo = 0;
  let bounds = new Int32Array(1024);
  for await (let buf of chunks) {
    if (carry !== null) {
      buf = Buffer.concat([carry, buf]);
      carry = null;
    }
    let count = 0;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      let end = nl;
      if (end > start && buf[end - 1] === 13) end--;
      if (2 * count + 2 > bounds.length) {
        const b = new Int32Array(bounds.length * 2);
        b.set(bounds);
        bounds = b;
      }
      bounds[2 * count] = start;
      bounds[2 * count + 1] = end;
      count++;
      start = nl + 1;
    }
    if (start < buf.length) carry = buf.subarray(start);
    if (count > 0) {
      yield { buf, bounds, count, firstLine: lineNo + 1 };
      lineNo += count;
    }
  }
  if (carry !== null && carry.length > 0) {
    let end = carry.length;
    if (carry[end - 1] === 13) end--;
    yield { buf: carry, bounds: Int32Array.of(0, end), count: 1, firstLine: lineNo + 1 };
  }
}
