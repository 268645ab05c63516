/**
 * The byte sources of the binary readers (src/formats/tracing/source.ts), on files written here
 * (issue 16): positional reads into a caller's buffer at an offset and past the end of the file,
 * the read window, closing, the safe-integer limit of u64 sizes, NUL-terminated strings longer
 * than one read, and the words of the truncation errors. Expected bytes are the ones written.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BufferSource, Cursor, FileSource, FormatError } from '../src/formats/tracing/source.js';
import { parseEventFormat } from '../src/formats/tracing/event-format.js';
import { EventTable, readTracingHeader } from '../src/formats/tracing/tracing-data.js';
import { openOn } from './fd-helper.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-source-'));
let n = 0;
const file = (b: Buffer): string => { const p = join(tmp, `s${n++}`); writeFileSync(p, b); return p; };
const bytes = Buffer.from(Array.from({ length: 40 }, (_, i) => i + 1));

describe('FileSource', () => {
  it('readInto: at a place in the caller\'s buffer; short at the end of the file; nothing past it', () => {
    const src = new FileSource(file(bytes));
    const buf = Buffer.alloc(16, 0xee);
    expect(src.readInto(buf, 10, 4, 3)).toBe(4);
    expect([...buf.subarray(0, 8)]).toEqual([0xee, 0xee, 0xee, 11, 12, 13, 14, 0xee]);
    expect(src.readInto(buf, 36, 10)).toBe(4);
    expect([...buf.subarray(0, 5)]).toEqual([37, 38, 39, 40, 12]); // the byte after: the earlier read's
    expect(src.readInto(buf, 40, 8)).toBe(0);
    expect(src.readInto(buf, 100, 8)).toBe(0);
    src.close();
  });

  it('read: through a small window, any order, across and at the end of the file', () => {
    const src = new FileSource(file(bytes), 8);
    const r = (pos: number, len: number) => [...src.read(pos, len)];
    expect(r(0, 4)).toEqual([1, 2, 3, 4]);
    expect(r(4, 4)).toEqual([5, 6, 7, 8]); //   the rest of the first window
    expect(r(6, 4)).toEqual([7, 8, 9, 10]); //  across its end
    expect(r(2, 3)).toEqual([3, 4, 5]); //      back before it
    expect(r(20, 12)).toEqual(Array.from({ length: 12 }, (_, i) => 21 + i)); // longer than the window
    expect(r(38, 4)).toEqual([39, 40]); //      short at the end
    expect(r(40, 4)).toEqual([]);
    expect(r(50, 1)).toEqual([]);
    expect(src.size).toBe(40);
    src.close();
  });

  it('close releases the file', () => {
    const p = file(bytes);
    const src = new FileSource(p);
    expect(openOn([p])).toEqual([p]);
    src.close();
    expect(openOn([p])).toEqual([]);
  });
});

describe('Cursor', () => {
  it('truncation errors name what was being read (by default "data"), the offset and what was left', () => {
    const c = new Cursor(new BufferSource(Buffer.from([1, 2]), 0));
    const e = (() => { try { c.u32(); } catch (x) { return x as FormatError; } return null; })();
    expect(e).toBeInstanceOf(FormatError);
    expect(e!.name).toBe('FormatError');
    expect(e!.offset).toBe(0);
    expect(e!.message).toBe('truncated: the file ends inside data (needed 4 bytes at 0x0, 2 left)');
  });

  it('u64n: 2^53 - 1 is a size; 2^53 is out of range, at the place of the value', () => {
    const b = Buffer.alloc(24);
    b.writeBigUInt64LE(2n ** 53n - 1n, 0);
    b.writeBigUInt64LE(2n ** 53n, 8);
    const c = new Cursor(new BufferSource(b, 0));
    expect(c.u64n('a size')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => c.u64n('a size')).toThrow('a size: value 0x20000000000000 is out of range');
    try { new Cursor(new BufferSource(b, 0), 8).u64n('x'); } catch (x) { expect((x as FormatError).offset).toBe(8); }
  });

  it('cstr: strings longer than one read, at an offset, up to the limit', () => {
    const long = 'a'.repeat(300);
    const b = Buffer.from(`xyzwv${long}\0tail\0`, 'latin1');
    const src = new FileSource(file(b));
    const c = new Cursor(src, 5);
    // 300 bytes: more than the first 256-byte read; the limit 256 is passed only after the second.
    expect(c.cstr('a name', 256)).toBe(long);
    expect(c.pos).toBe(306);
    expect(c.cstr('a name')).toBe('tail');
    // Past the limit after a read without its NUL: an error at the string's start.
    expect(() => new Cursor(src, 5).cstr('a name', 200)).toThrow('a name: string at 0x5 is longer than 200 bytes');
    const big = Buffer.from('b'.repeat(2000), 'latin1');
    const src2 = new FileSource(file(big));
    expect(() => new Cursor(src2, 3).cstr('a name', 1000)).toThrow('a name: string at 0x3 is longer than 1000 bytes');
    expect(() => new Cursor(src2, 3).cstr('a name')).toThrow('truncated: the file ends inside a name (a string at 0x3)');
    src.close(); src2.close();
  });
});

describe('the tracing-data header (trace-cmd.dat.v6: magic, version string, endianness, long size, page size)', () => {
  const head = (endian: number, longSize: number, pageSize: number, cut?: number): Cursor => {
    const b = Buffer.concat([Buffer.from([0x17, 0x08, 0x44]), Buffer.from('tracing6\0', 'latin1'), Buffer.from([endian, longSize]), Buffer.alloc(4)]);
    if (endian === 0) b.writeUInt32LE(pageSize, b.length - 4); else b.writeUInt32BE(pageSize, b.length - 4);
    return new Cursor(new BufferSource(cut === undefined ? b : b.subarray(0, cut), 0));
  };
  it('32-bit and 64-bit kernels, both byte orders, page sizes from 64 B to 16 MiB', () => {
    expect(readTracingHeader(head(0, 4, 64))).toEqual({ version: '6', littleEndian: true, longSize: 4, pageSize: 64 });
    expect(readTracingHeader(head(1, 8, 1 << 24))).toEqual({ version: '6', littleEndian: false, longSize: 8, pageSize: 1 << 24 });
  });
  it('refused: a long size of 2, page sizes 32, 2^25 and 100, each at its offset', () => {
    const err = (c: Cursor) => { try { readTracingHeader(c); } catch (e) { return [(e as FormatError).offset, (e as Error).message]; } return null; };
    expect(err(head(0, 2, 4096))).toEqual([13, 'long size 2 (expected 4 or 8)']);
    for (const ps of [32, 1 << 25, 100]) expect(err(head(0, 8, ps))).toEqual([14, `page size ${ps} is not a power of two between 64 B and 16 MB`]);
  });
  it('a header cut short names the field it ends in', () => {
    const msg = (cut: number) => { try { readTracingHeader(head(0, 8, 4096, cut)); } catch (e) { return (e as Error).message.replace(/ \(.*$/, ''); } return 'ok'; };
    expect(msg(12)).toBe('truncated: the file ends inside the endianness byte');
    expect(msg(13)).toBe('truncated: the file ends inside the long size');
    expect(msg(15)).toBe('truncated: the file ends inside the page size');
  });
});

describe('EventTable', () => {
  const fmt = (name: string, id: number, pidOff: number) => `name: ${name}\nID: ${id}\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:int common_pid;\toffset:${pidOff};\tsize:4;\tsigned:1;\n`;
  it('a bare name is the first system\'s event of that name; system:name finds each; common fields where the formats put them', () => {
    const t = new EventTable();
    t.add(parseEventFormat(fmt('ev', 1, 8), 'a'));
    t.add(parseEventFormat(fmt('ev', 2, 8), 'b'));
    expect(t.byName.get('ev')?.id).toBe(1);
    expect(t.byName.get('b:ev')?.id).toBe(2);
    expect(t.commonPid()).toEqual({ offset: 8, size: 4 });
    expect(t.commonType()).toEqual({ offset: 0, size: 2 });
    expect(new EventTable().commonPid()).toEqual({ offset: 4, size: 4 });
  });
});

