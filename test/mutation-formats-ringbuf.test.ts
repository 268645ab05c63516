/**
 * Ring-buffer data (src/formats/tracing/ring-buffer.ts) on bytes written here (issue 16):
 * block decompression (a zstd frame of one raw block, laid out by RFC 8878 section 3.1.1; zlib
 * by node:zlib), a big-endian page with a 4-byte commit word (32-bit kernels: header_page's
 * `commit` is a long), and per-CPU data cut by the end of the file.
 * Page layout (kernel ring_buffer.c, header_page): u64 time stamp, commit word, records from
 * the data offset; a record is a u32 header (type_len 5 bits, time delta 27 bits; on big-endian
 * machines type_len is the top 5 bits) and type_len x 4 bytes of data.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { PageHeader } from '../src/formats/tracing/event-format.js';
import { CpuStream, decompressBlock, zstdContentSize } from '../src/formats/tracing/ring-buffer.js';
import { FileSource, FormatError } from '../src/formats/tracing/source.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-ringbuf-'));
let n = 0;
const file = (b: Buffer): string => { const p = join(tmp, `f${n++}`); writeFileSync(p, b); return p; };

/** A zstd frame holding `content` in one raw block: magic, a single-segment header with a 1-byte content size, the block. */
function zstdRaw(content: Buffer, declared = content.length): Buffer {
  const bh = (content.length << 3) | 1; // Last_Block = 1, Block_Type = 0 (raw), Block_Size
  return Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, declared]), Buffer.from([bh & 255, (bh >> 8) & 255, (bh >> 16) & 255]), content]);
}

describe('decompressBlock', () => {
  const content = Buffer.from('exitscope ring-buffer page bytes');

  it('zstd: into a larger, an exact or a smaller output buffer, or none: the content', () => {
    const z = zstdRaw(content);
    for (const out of [new Uint8Array(100), new Uint8Array(content.length), new Uint8Array(4), undefined]) {
      expect(Buffer.from(decompressBlock('zstd', z, content.length, out))).toEqual(content);
    }
    // A larger buffer is used in place.
    const big = new Uint8Array(100);
    const r = decompressBlock('zstd', z, content.length, big);
    expect(r.buffer).toBe(big.buffer);
  });

  it('a size other than the one expected is an error naming both', () => {
    expect(() => decompressBlock('zlib', deflateSync(content), content.length + 2)).toThrow(`zlib data gave ${content.length} bytes, expected ${content.length + 2}`);
    expect(Buffer.from(decompressBlock('zlib', deflateSync(content), content.length))).toEqual(content);
    expect(() => decompressBlock('zstd', zstdRaw(content.subarray(0, 10)), 12, new Uint8Array(64))).toThrow('zstd data gave 10 bytes, expected 12');
  });

  it('a frame without a declared size (trace-cmd\'s: header byte 0, a window byte): its content, and a short one is an error even with an output buffer', () => {
    const noSize = (c: Buffer): Buffer => {
      const bh = (c.length << 3) | 1;
      return Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x20]), Buffer.from([bh & 255, (bh >> 8) & 255, (bh >> 16) & 255]), c]);
    };
    expect(zstdContentSize(noSize(content))).toBe(-1);
    expect(Buffer.from(decompressBlock('zstd', noSize(content), content.length, new Uint8Array(64)))).toEqual(content);
    // A previous chunk's bytes in the reused buffer must not pass for this chunk's.
    const out = new Uint8Array(64).fill(0x41);
    expect(() => decompressBlock('zstd', noSize(content.subarray(0, 10)), 12, out)).toThrow('zstd data gave 10 bytes, expected 12');
  });

  it('zstdContentSize: the Frame_Content_Size field of each width, after the window and dictionary bytes', () => {
    const hdr = (fhd: number, rest: number[]) => Buffer.from([0x28, 0xb5, 0x2f, 0xfd, fhd, ...rest]);
    expect(zstdContentSize(hdr(0x20, [200]))).toBe(200); //                  single segment, 1 byte
    expect(zstdContentSize(hdr(0x60, [0x00, 0x10]))).toBe(0x1000 + 256); //   single segment, 2 bytes: + 256
    expect(zstdContentSize(hdr(0x80, [0x20, 0x00, 0x30, 0x00, 0x00]))).toBe(0x3000); //  window byte, 4 bytes
    expect(zstdContentSize(hdr(0xc0, [0x20, 1, 0, 0, 0, 1, 0, 0, 0]))).toBe(2 ** 32 + 1); // 8 bytes
    expect(zstdContentSize(hdr(0x81, [0x20, 0x99, 0x00, 0x30, 0x00, 0x00]))).toBe(0x3000); // a 1-byte dictionary id first
    expect(zstdContentSize(hdr(0x22, [0x11, 0x22, 200]))).toBe(200); //       single segment, 2-byte dictionary id
    expect(zstdContentSize(hdr(0x23, [1, 2, 3, 4, 77]))).toBe(77); //         4-byte dictionary id
    expect(zstdContentSize(hdr(0x00, [0x20]))).toBe(-1); //                   no size
    expect(zstdContentSize(hdr(0x80, [0x20, 0x00]))).toBe(-1); //             cut inside the size
    // not the zstd magic (28 b5 2f fd), whichever byte differs
    for (const at of [0, 1, 2, 3]) { const h = hdr(0x20, [5]); h[at] ^= 1; expect(zstdContentSize(h)).toBe(-1); }
    expect(zstdContentSize(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe(-1);
  });

  it('none: the bytes themselves', () => {
    const d = new Uint8Array([1, 2, 3]);
    expect(decompressBlock('none', d, 3)).toBe(d);
  });
});

describe('pages', () => {
  const PAGE = 128;

  it('big-endian with a 4-byte commit word (data at 12): records read at their times', () => {
    const ph: PageHeader = { timestampSize: 8, commitOffset: 8, commitSize: 4, dataOffset: 12 };
    const b = Buffer.alloc(PAGE);
    b.writeBigUInt64BE(500n, 0);
    // Two records of one data word each: deltas 3 and 4; big-endian header = type_len << 27 | delta.
    b.writeUInt32BE(((1 << 27) | 3) >>> 0, 12); b.writeUInt32BE(0xaa, 16);
    b.writeUInt32BE(((1 << 27) | 4) >>> 0, 20); b.writeUInt32BE(0xbb, 24);
    b.writeUInt32BE(16, 8);
    // Bytes after the commit word that an 8-byte read would take in.
    const p = file(b);
    const src = new FileSource(p);
    const cs = new CpuStream(src, { cpu: 0, offset: 0, size: PAGE, instance: '' }, ph, PAGE, false, 'none', 0n);
    expect(cs.peekFirstPageTs()).toBe(500n);
    cs.setBase(500n);
    const got: Array<[number, number]> = [];
    while (cs.advance()) got.push([cs.ts, cs.dv.getUint32(cs.recPos, false)]);
    src.close();
    expect(got).toEqual([[3, 0xaa], [7, 0xbb]]);
  });

  it('lost events on a 32-bit kernel\'s pages (4-byte commit and count): counts add up, and "some" (no count) on either side makes the sum "some"', () => {
    const ph: PageHeader = { timestampSize: 8, commitOffset: 8, commitSize: 4, dataOffset: 12 };
    const MISSED = 0x80000000, STORED = 0x40000000;
    /** A page: flags, an optional stored count (u32 after the records), records of one word each. */
    const pg = (ts: bigint, flags: number, count: number | null, words: number[]): Buffer => {
      const b = Buffer.alloc(PAGE);
      b.writeBigUInt64LE(ts, 0);
      let q = 12;
      for (const w of words) { b.writeUInt32LE(((1 << 5) | 1) >>> 0, q); b.writeUInt32LE(w, q + 4); q += 8; }
      // After a stored count, stale bytes of the page's previous use: not part of a 4-byte count.
      if (count !== null) { b.writeUInt32LE(count, q); b.writeUInt32LE(0xdeadbeef, q + 4); }
      b.writeUInt32LE(((q - 12) | flags) >>> 0, 8);
      return b;
    };
    const missed = (pages: Buffer[]): Array<[number, number]> => {
      const p = file(Buffer.concat(pages));
      const src = new FileSource(p);
      const cs = new CpuStream(src, { cpu: 0, offset: 0, size: pages.length * PAGE, instance: '' }, ph, PAGE, true, 'none', 0n);
      cs.peekFirstPageTs();
      cs.setBase(0n);
      const got: Array<[number, number]> = [];
      while (cs.advance()) got.push([cs.dv.getUint32(cs.recPos, true), cs.missed]);
      src.close();
      return got;
    };
    // 3 then 4 lost (stored counts, the high bits of a u32 count are not flags): 7 before the record.
    expect(missed([pg(100n, MISSED | STORED, 3, []), pg(200n, MISSED | STORED, 4, [0xa1]), pg(300n, 0, null, [0xa2])])).toEqual([[0xa1, 7], [0xa2, 0]]);
    // A count, then "some": some.
    expect(missed([pg(100n, MISSED | STORED, 5, []), pg(200n, MISSED, null, [0xb1])])).toEqual([[0xb1, -1]]);
    // "some", then a count: some.
    expect(missed([pg(100n, MISSED, null, []), pg(200n, MISSED | STORED, 5, [0xc1])])).toEqual([[0xc1, -1]]);
    // A stored count of 0 is "some" too.
    expect(missed([pg(100n, MISSED | STORED, 0, [0xd1])])).toEqual([[0xd1, -1]]);
    // A count that ends at the page's last byte is read; records that fill the page leave no room for one: "some",
    // whatever bytes follow the page. (Pages built here: 14 one-word records are 112 of the 116 data bytes.)
    const fill = (n: number) => Array.from({ length: n }, (_, k) => 0xe0 + k);
    const page14 = (ts: bigint, tail: (b: Buffer) => number): Buffer => {
      const b = Buffer.alloc(PAGE);
      b.writeBigUInt64LE(ts, 0);
      let q = 12;
      for (const w of fill(14)) { b.writeUInt32LE(((1 << 5) | 1) >>> 0, q); b.writeUInt32LE(w, q + 4); q += 8; }
      b.writeUInt32LE((tail(b) | MISSED | STORED) >>> 0, 8);
      return b;
    };
    const firstMissed = (n: number) => fill(14).map((w): [number, number] => [w, w === 0xe0 ? n : 0]);
    // The count 9 in bytes 124-127: data 112 bytes, 12 + 112 + 4 = 128.
    expect(missed([page14(100n, (b) => { b.writeUInt32LE(9, 124); return 112; })])).toEqual(firstMissed(9));
    // A 4-byte padding record (type 29, no room for its length) ends the data at 116 bytes: no room for a count.
    const next = pg(200n, 0, null, [0xf1]);
    next.writeUInt32LE(5, 0); // the next page's first bytes, where a count read past the page would come from
    expect(missed([page14(100n, (b) => { b.writeUInt32LE(29, 124); return 116; }), next])).toEqual([...firstMissed(-1), [0xf1, 0]]);
  });

  it('CPU data cut by the end of the file: the whole pages are read, then one error saying where', () => {
    const page = (ts: bigint, word: number): Buffer => {
      const b = Buffer.alloc(PAGE);
      b.writeBigUInt64LE(ts, 0); b.writeBigUInt64LE(8n, 8);
      b.writeUInt32LE(((2 << 5) | 1) >>> 0, 16); b.writeUInt32LE(word, 20);
      return b;
    };
    const ph: PageHeader = { timestampSize: 8, commitOffset: 8, commitSize: 8, dataOffset: 16 };
    // 40 bytes before the data (not a fraction of a page that hides which way the offset is taken); 2.5 pages in the
    // file, 4 pages in the table.
    const bytes = Buffer.concat([Buffer.alloc(40), page(100n, 0x11), page(200n, 0x22), page(300n, 0x33).subarray(0, 64)]);
    const p = file(bytes);
    for (const blockPages of [1, 2, 64]) {
      const src = new FileSource(p);
      const cs = new CpuStream(src, { cpu: 3, offset: 40, size: 4 * PAGE, instance: '' }, ph, PAGE, true, 'none', 0n, blockPages);
      expect(cs.peekFirstPageTs()).toBe(100n);
      cs.setBase(100n);
      const got: Array<[number, number]> = [];
      let err: unknown = null;
      try { while (cs.advance()) got.push([cs.ts, cs.dv.getUint32(cs.recPos, true)]); } catch (e) { err = e; }
      src.close();
      expect(got, `blockPages ${blockPages}`).toEqual([[2, 0x11], [102, 0x22]]);
      expect(err).toBeInstanceOf(FormatError);
      // The file ends at 40 + 320 = 0x168, inside the page at 40 + 256 = 0x128; the data was to end at 40 + 512 = 0x228.
      expect((err as FormatError).offset).toBe(0x168);
      expect((err as Error).message).toBe("truncated: the file ends inside CPU 3's ring-buffer data (page at 0x128; the data was to end at 0x228)");
    }
  });
});
