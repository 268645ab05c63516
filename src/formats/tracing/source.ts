/**
 * Byte access for the binary trace readers (trace.dat, perf.data): a file read
 * with positional reads through a small window (never the whole file), a
 * buffer, and a cursor over either that reads numbers in the file's byte
 * order. Running off the end throws a FormatError carrying the byte offset, so
 * every truncation is reported as `file:@0x...: what was being read`.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** A structural problem at a byte offset of the input (the readers turn it into an ExitscopeError). */
export class FormatError extends Error {
  constructor(readonly offset: number, message: string) {
    super(message);
    this.name = 'FormatError';
  }
}

export function hex(n: number | bigint): string {
  return '0x' + n.toString(16);
}

/** Random access to bytes. `read` may return fewer bytes than asked only at the end. */
export interface ByteSource {
  readonly size: number;
  /** Bytes [pos, pos+len) (a view that stays valid until the next call). */
  read(pos: number, len: number): Buffer;
}

export class BufferSource implements ByteSource {
  constructor(readonly buf: Buffer, readonly base = 0) {}
  get size(): number {
    return this.base + this.buf.length;
  }
  read(pos: number, len: number): Buffer {
    const s = pos - this.base;
    return this.buf.subarray(Math.max(0, s), Math.max(0, Math.min(this.buf.length, s + len)));
  }
}

/**
 * A file read with positional reads. Small reads go through a window buffer
 * (metadata); `readInto` reads big blocks straight into a caller's buffer
 * (ring-buffer pages, compressed chunks).
 */
export class FileSource implements ByteSource {
  readonly fd: number;
  readonly size: number;
  private win = Buffer.alloc(0);
  private winPos = 0;
  private winLen = 0;

  constructor(readonly path: string, private readonly windowSize = 1 << 16) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }

  /** Reads up to buf.length bytes at pos; returns the count (short only at end of file). */
  readInto(buf: Uint8Array, pos: number, len = buf.length, at = 0): number {
    let got = 0;
    while (got < len) {
      const n = readSync(this.fd, buf, at + got, len - got, pos + got);
      if (n <= 0) break;
      got += n;
    }
    return got;
  }

  read(pos: number, len: number): Buffer {
    if (pos >= this.winPos && pos + len <= this.winPos + this.winLen) {
      return this.win.subarray(pos - this.winPos, pos - this.winPos + len);
    }
    const want = Math.max(len, this.windowSize);
    if (this.win.length < want) this.win = Buffer.allocUnsafe(want);
    this.winPos = pos;
    this.winLen = pos >= this.size ? 0 : this.readInto(this.win, pos, Math.min(want, this.size - pos));
    return this.win.subarray(0, Math.min(len, this.winLen));
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Sequential reads of numbers and strings from a ByteSource in the file's byte order. */
export class Cursor {
  constructor(public src: ByteSource, public pos = 0, public littleEndian = true, public what = 'data') {}

  private take(n: number, what: string): Buffer {
    const b = this.src.read(this.pos, n);
    if (b.length < n) throw new FormatError(this.pos, `truncated: the file ends inside ${what} (needed ${n} bytes at ${hex(this.pos)}, ${b.length} left)`);
    this.pos += n;
    return b;
  }

  u8(what = this.what): number {
    return this.take(1, what)[0];
  }

  u16(what = this.what): number {
    const b = this.take(2, what);
    return this.littleEndian ? b.readUInt16LE(0) : b.readUInt16BE(0);
  }

  u32(what = this.what): number {
    const b = this.take(4, what);
    return this.littleEndian ? b.readUInt32LE(0) : b.readUInt32BE(0);
  }

  u64(what = this.what): bigint {
    const b = this.take(8, what);
    return this.littleEndian ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0);
  }

  /** A u64 that must be a safe integer (sizes, offsets). */
  u64n(what = this.what): number {
    const at = this.pos;
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(at, `${what}: value ${hex(v)} is out of range`);
    return Number(v);
  }

  /** A copy of the next n bytes. */
  bytes(n: number, what = this.what): Buffer {
    if (n > 0x7fffffff) throw new FormatError(this.pos, `${what}: size ${n} is out of range`);
    return Buffer.from(this.take(n, what));
  }

  skip(n: number): void {
    this.pos += n;
  }

  /** A NUL-terminated string (latin1), at most `max` bytes. */
  cstr(what = this.what, max = 1 << 20): string {
    const start = this.pos;
    let chunk = 256;
    const parts: Buffer[] = [];
    for (;;) {
      const b = this.src.read(this.pos, chunk);
      const z = b.indexOf(0);
      if (z >= 0) {
        parts.push(b.subarray(0, z));
        this.pos += z + 1;
        return Buffer.concat(parts).toString('latin1');
      }
      if (b.length === 0) throw new FormatError(start, `truncated: the file ends inside ${what} (a string at ${hex(start)})`);
      parts.push(Buffer.from(b));
      this.pos += b.length;
      if (this.pos - start > max) throw new FormatError(start, `${what}: string at ${hex(start)} is longer than ${max} bytes`);
      chunk = Math.min(chunk * 4, 1 << 16);
    }
  }

  /** Fixed bytes expected here (a magic or tag). */
  expect(tag: Uint8Array, what: string): void {
    const at = this.pos;
    const b = this.take(tag.length, what);
    if (!b.equals(tag)) throw new FormatError(at, `expected ${what} at ${hex(at)}, found ${JSON.stringify(b.toString('latin1').replace(/[^\x20-\x7e]/g, '.'))}`);
  }
}
