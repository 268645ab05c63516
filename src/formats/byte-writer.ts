/**
 * Writing text formats straight into bytes: numbers, hex and pre-encoded
 * pieces go into one growing buffer, with no string per field or line (the
 * emulator and `convert` write millions of lines; a string per line spent
 * most of a run in the garbage collector). The CSV, JSON Lines and trace-cmd
 * text writers build on it.
 */
import type { ExitChunk, OptionalColumn } from '../model/chunk.js';
import { columnSlots } from './canonical.js';

const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

export class ByteWriter {
  protected buf: Buffer = Buffer.allocUnsafe(1 << 20);
  protected pos = 0;

  /** Room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }

  byte(c: number): void {
    this.buf[this.pos++] = c;
  }

  /** Non-negative integer below 2^53 as decimal; integer arithmetic in 32-bit halves of 10^9. */
  dec(n: number): void {
    if (n < 2147483648) { this.decSmall(n | 0); return; }
    const hi = Math.floor(n / 1e9);
    this.decSmall(hi);
    let lo = n - hi * 1e9;
    let p = this.pos + 9;
    this.pos = p;
    for (let k = 0; k < 9; k++) { const q = (lo / 10) | 0; this.buf[--p] = 48 + (lo - q * 10); lo = q; }
  }

  /** An integer of either sign below 2^53 in magnitude as decimal. */
  int(n: number): void {
    if (n < 0) { this.byte(45); n = -n; }
    this.dec(n);
  }

  /** A non-negative 32-bit integer as decimal, left-padded with zeros to `width` digits. */
  decSmall(x: number, width = 1): void {
    let digits = 1;
    for (let t = x; t >= 10; t = (t / 10) | 0) digits++;
    if (digits < width) { for (let k = digits; k < width; k++) this.buf[this.pos++] = 48; }
    let p = this.pos + digits;
    this.pos = p;
    do { const q = (x / 10) | 0; this.buf[--p] = 48 + (x - q * 10); x = q; } while (x > 0);
  }

  /** The 64-bit value hi:lo in lower-case hex without leading zeros (`0` for zero), `0x` first unless `bare`. */
  hex(hi: number, lo: number, bare = false): void {
    const b = this.buf;
    let p = this.pos;
    if (!bare) { b[p++] = 48; b[p++] = 120; }
    if (hi !== 0) {
      // The first nibble that is not zero: 28 - (leading zero bits rounded down to a nibble).
      for (let k = 28 - (Math.clz32(hi) & ~3); k >= 0; k -= 4) b[p++] = HEX_DIGITS[(hi >>> k) & 15];
      for (let k = 28; k >= 0; k -= 4) b[p++] = HEX_DIGITS[(lo >>> k) & 15];
    } else {
      for (let k = lo === 0 ? 0 : 28 - (Math.clz32(lo) & ~3); k >= 0; k -= 4) b[p++] = HEX_DIGITS[(lo >>> k) & 15];
    }
    this.pos = p;
  }

  /** A string as UTF-8 (ensure room for 3 bytes per UTF-16 unit first). */
  text(s: string): void {
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** Pre-encoded bytes (a name, a constant piece of a line). */
  bytes(b: Uint8Array): void {
    // A loop: set() is a native call, dearer than copying a few dozen bytes.
    const buf = this.buf, n = b.length;
    let p = this.pos;
    for (let k = 0; k < n; k++) buf[p++] = b[k];
    this.pos = p;
  }

  /** What was written since the last take, as a buffer of its own; the writer starts over. */
  take(): Buffer {
    // (A copy: Buffer.from(subarray) copies element by element, a quarter of a text writer's time.)
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    return out;
  }
}

/**
 * A canonical-column format's bytes, one buffer per chunk with rows (`encode`), after its `header` if it has one. The
 * columns are taken at the first chunk: a streaming reader declares its columns once it has started.
 */
export async function* encodeChunks(chunks: AsyncIterable<ExitChunk>, columns: ReadonlySet<OptionalColumn>, encode: (c: ExitChunk, slots: readonly number[]) => Buffer, header?: (slots: readonly number[]) => Buffer): AsyncGenerator<Buffer> {
  const it = chunks[Symbol.asyncIterator]();
  const first = await it.next();
  const slots = columnSlots(columns);
  if (header) yield header(slots);
  for (let r = first; !r.done; r = await it.next()) if (r.value.length) yield encode(r.value, slots);
}
