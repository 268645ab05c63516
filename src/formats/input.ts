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
  /** Stops the byte stream (a binary reader reads the file by position instead). */
  close(): Promise<void>;
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

/** Reads a file as it grows (`--follow`): at its end, waits for more until `signal` aborts. */
async function* followFile(path: string, signal: AbortSignal): AsyncGenerator<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    let pos = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, pos);
      if (bytesRead > 0) { pos += bytesRead; yield buf.subarray(0, bytesRead); continue; }
      if (signal.aborted) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
      });
    }
  } finally {
    await fh.close();
  }
}

/** Ends an iterator early when `signal` aborts (a pipe read with --follow, ended by Ctrl-C). */
async function* untilAborted(it: AsyncIterable<Buffer>, signal: AbortSignal): AsyncGenerator<Buffer> {
  const i = it[Symbol.asyncIterator]();
  const aborted = new Promise<IteratorResult<Buffer>>((resolve) => signal.addEventListener('abort', () => resolve({ done: true, value: undefined }), { once: true }));
  for (;;) {
    const r = await Promise.race([i.next(), aborted]);
    if (r.done) return;
    yield r.value;
  }
}

export interface OpenInputOptions {
  /** What `-` reads (default: the process's standard input). */
  stdin?: AsyncIterable<Buffer>;
  /** Keep reading a growing file (a pipe: until its end) until this aborts. */
  follow?: AbortSignal;
}

export async function openInput(path: string, o: OpenInputOptions = {}): Promise<OpenedInput> {
  const stdin = o.stdin ?? (process.stdin as AsyncIterable<Buffer>);
  let raw: AsyncIterator<Buffer>;
  if (path === '-') {
    raw = (o.follow ? untilAborted(stdin, o.follow) : stdin)[Symbol.asyncIterator]();
  } else {
    try {
      const st = await fsp.stat(path);
      if (st.isDirectory()) throw new ExitscopeError(`${path}: is a directory, not a trace file`);
    } catch (e) {
      if (e instanceof ExitscopeError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new ExitscopeError(`${path}: cannot read trace (${code === 'ENOENT' ? 'no such file' : code ?? 'error'})`);
    }
    raw = o.follow ? followFile(path, o.follow) : createReadStream(path, { highWaterMark: READ_CHUNK })[Symbol.asyncIterator]();
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
    // A live input gives what it has: sniff the first buffer rather than wait for 4 KiB.
    while (head.length < 4096 && !(o.follow && head.length > 0)) {
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
  return { path, head, chunks: all(), gzip, close: async () => { await raw.return?.(); } };
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

/** Longest line kept; a longer one is rejected by number and skipped in bounded memory. */
export const MAX_LINE_BYTES = 1 << 20;

/**
 * Splits a byte stream into line batches, one per input buffer. The line that
 * straddles two buffers becomes a one-line batch of its own (only that line is
 * copied, never a whole buffer). A line longer than MAX_LINE_BYTES is dropped
 * as it streams and reported through `onOverlong(lineNo)`; a last line without
 * a newline still counts. `lines` is the number of lines once exhausted.
 */
export class LineSplitter {
  lines = 0;
  private bounds = new Int32Array(1024);

  constructor(private readonly onOverlong: (line: number) => void) {}

  private grow(count: number): void {
    if (2 * count + 2 <= this.bounds.length) return;
    const b = new Int32Array(this.bounds.length * 2);
    b.set(this.bounds);
    this.bounds = b;
  }

  private single(buf: Buffer): LineBatch {
    let end = buf.length;
    if (end > 0 && buf[end - 1] === 13) end--;
    return { buf, bounds: Int32Array.of(0, end), count: 1, firstLine: ++this.lines };
  }

  /** Where scan stopped: after the last line it found; the newline of the overlong line it stopped at, else -1. */
  private next = 0;
  private overlongEnd = -1;

  /**
   * The lines of buf from start on into bounds, up to the last newline or to
   * a line longer than MAX_LINE_BYTES; their count. A plain loop outside the
   * generator: its locals stay in registers.
   */
  private scan(buf: Buffer, start: number): number {
    let bounds = this.bounds, count = 0;
    this.overlongEnd = -1;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      let end = nl;
      if (end > start && buf[end - 1] === 13) end--;
      if (end - start > MAX_LINE_BYTES) { this.overlongEnd = nl; break; }
      if (2 * count + 2 > bounds.length) { this.grow(count); bounds = this.bounds; }
      bounds[2 * count] = start;
      bounds[2 * count + 1] = end;
      count++;
      start = nl + 1;
    }
    this.next = start;
    return count;
  }

  async *batches(chunks: AsyncIterable<Buffer>): AsyncGenerator<LineBatch> {
    let carry: Buffer[] = [];
    let carryLen = 0;
    let overlong = false;
    for await (const buf of chunks) {
      let start = 0;
      if (carryLen > 0 || overlong) {
        const nl = buf.indexOf(10);
        if (nl < 0) {
          // Copies: the source may reuse its buffers once the next is asked for (rangeBytes does).
          if (!overlong) { carry.push(Buffer.from(buf)); carryLen += buf.length; }
          if (carryLen > MAX_LINE_BYTES) { overlong = true; carry = []; carryLen = 0; }
          continue;
        }
        if (overlong || carryLen + nl > MAX_LINE_BYTES) this.onOverlong(++this.lines);
        else {
          carry.push(buf.subarray(0, nl));
          yield this.single(Buffer.concat(carry));
        }
        overlong = false;
        carry = []; carryLen = 0;
        start = nl + 1;
      }
      for (;;) {
        const count = this.scan(buf, start);
        start = this.next;
        if (count > 0) {
          yield { buf, bounds: this.bounds, count, firstLine: this.lines + 1 };
          this.lines += count;
        }
        if (this.overlongEnd < 0) break;
        // A huge line inside one buffer: the lines before it went on, report it, go on after it.
        this.onOverlong(++this.lines);
        start = this.overlongEnd + 1;
      }
      if (start < buf.length) {
        if (buf.length - start > MAX_LINE_BYTES) overlong = true;
        else { carry.push(Buffer.from(buf.subarray(start))); carryLen = buf.length - start; }
      }
    }
    if (overlong) this.onOverlong(++this.lines);
    else if (carryLen > 0) yield this.single(Buffer.concat(carry));
  }
}
