/**
 * The tracefs event-format parser (src/formats/tracing/event-format.ts), field by field
 * (issue 16). Expected values follow the rules libtraceevent's event-parse.c applies to a
 * `field:<decl>;\toffset:N;\tsize:N;\tsigned:N;` line, worked out here by hand:
 *   - a trailing `[N]` is a fixed array of N elements of size/N bytes; `[]` is an array of
 *     length 0 whose element size comes from the type; `char`/`unsigned char`/`signed char`
 *     arrays (with or without `const`) are strings;
 *   - `__data_loc T[] name` / `__rel_loc T[] name` are dynamic arrays (a u32 locator), their
 *     element size from T (`long` and pointers take the kernel's long size);
 *   - without a `signed:` attribute (kernels before 2.6.31) signedness comes from the type
 *     name: char, short, int, long, s8..s64, __sN and pid_t are signed unless `unsigned`.
 * The format texts are composed in the layout of fixtures/tracefs/*.format (a real capture).
 */
import { describe, expect, it } from 'vitest';
import { decodeFields, parseEventFormat, parsePageHeader, readScalar } from '../src/formats/tracing/event-format.js';

const COMMON = [
  '\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;',
  '\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;',
  '\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;',
  '\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;',
];

/** A format text with the common fields, then `lines` (already `field:` lines or not). */
function fmt(lines: string[], printFmt: string | null = '"x=%u", REC->x', head = 'name: ev\nID: 77\nformat:\n'): string {
  return head + [...COMMON, '', ...lines].join('\n') + '\n\n' + (printFmt === null ? '' : `print fmt: ${printFmt}\n`);
}

/** One field's parse (the last field of the text): `decl` with offset 8 and `size`, signed attribute as given (omitted when null). */
function field(decl: string, size: number, signed: 0 | 1 | null = 0, longSize = 8) {
  const attr = signed === null ? '' : `\tsigned:${signed};`;
  const e = parseEventFormat(fmt([`\tfield:${decl};\toffset:8;\tsize:${size};${attr}`]), 'sys', longSize);
  const f = e.fields[e.fields.length - 1];
  expect(e.field(f.name)).toBe(f);
  return f;
}

describe('event format: the header lines', () => {
  it('name, ID, system and the print fmt text after its label, trimmed', () => {
    const e = parseEventFormat(fmt(['\tfield:u32 x;\toffset:8;\tsize:4;\tsigned:0;'], '"x=%u", REC->x'), 'kvm');
    expect(e.name).toBe('ev');
    expect(e.id).toBe(77);
    expect(e.system).toBe('kvm');
    expect(e.printFmt).toBe('"x=%u", REC->x');
    expect(e.fields.map((f) => f.name)).toEqual(['common_type', 'common_flags', 'common_preempt_count', 'common_pid', 'x']);
    expect(e.fields.map((f) => f.common)).toEqual([true, true, true, true, false]);
  });

  it('a text without a print fmt line: every field is read, the print fmt is empty', () => {
    const e = parseEventFormat(fmt(['\tfield:u32 x;\toffset:8;\tsize:4;\tsigned:0;'], null), 'kvm');
    expect(e.printFmt).toBe('');
    expect(e.field('x')?.size).toBe(4);
  });

  it('nothing after "print fmt:" is read as a field, even text that looks like one', () => {
    const e = parseEventFormat(fmt(['\tfield:u32 x;\toffset:8;\tsize:4;\tsigned:0;'], '"field:%u", REC->x'), 'kvm');
    expect(e.fields).toHaveLength(5);
    expect(e.printFmt).toBe('"field:%u", REC->x');
  });

  it('name and ID with no space or a tab after the colon', () => {
    const e = parseEventFormat('name:\tev2\nID:5\nformat:\n\tfield:u8 x;\toffset:0;\tsize:1;\tsigned:0;\n', 's');
    expect(e.name).toBe('ev2');
    expect(e.id).toBe(5);
    const f = parseEventFormat('name:ev3\nID:\t6\nformat:\n', 's');
    expect(f.name).toBe('ev3');
    expect(f.id).toBe(6);
  });

  it('a missing name or a missing ID is an error naming the system', () => {
    expect(() => parseEventFormat('ID: 5\nformat:\n', 'kvm')).toThrow("event format of system 'kvm' has no name or ID line");
    expect(() => parseEventFormat('name: ev\nformat:\n', 'kvm')).toThrow("event format of system 'kvm' has no name or ID line");
    expect(() => parseEventFormat('format:\n', 'xfs')).toThrow(/'xfs'/);
  });

  it('a field line at the very start of a line (no tab) counts', () => {
    const e = parseEventFormat('name: ev\nID: 1\nformat:\nfield:u16 x;\toffset:0;\tsize:2;\tsigned:0;\n', 's');
    expect(e.field('x')).toMatchObject({ offset: 0, size: 2, elemSize: 2 });
  });

  it('a field line without its semicolon is an error quoting the line', () => {
    expect(() => parseEventFormat('name: ev\nID: 1\nformat:\n\tfield:u16 x\toffset:0\n', 's')).toThrow("event format: malformed field line 'field:u16 x\toffset:0'");
  });

  it('offsets and sizes must be whole numbers of zero or more', () => {
    const bad = (attrs: string) => () => parseEventFormat(`name: ev\nID: 1\nformat:\n\tfield:u16 x;${attrs}\n`, 's');
    expect(bad('\toffset:-1;\tsize:2;')).toThrow("event format: field 'u16 x' has no valid offset/size");
    expect(bad('\toffset:0;\tsize:-2;')).toThrow("event format: field 'u16 x' has no valid offset/size");
    expect(bad('\toffset:1.5;\tsize:2;')).toThrow(/no valid offset\/size/);
    expect(bad('\tsize:2;')).toThrow(/no valid offset\/size/);
    expect(bad('\toffset:0;')).toThrow(/no valid offset\/size/);
    expect(bad('\toffset:0;\tsize:0;')).not.toThrow();
  });

  it('a declaration with no identifier is an error quoting it', () => {
    expect(() => field('[4]', 4)).toThrow("event format: cannot find the field name in '[4]'");
  });
});

describe('event format: declarations', () => {
  it('scalars: type, size, element size, no array', () => {
    expect(field('unsigned long guest_rip', 8).name).toBe('guest_rip');
    const f = field('unsigned long x', 8);
    expect(f).toMatchObject({ type: 'unsigned long', offset: 8, size: 8, elemSize: 8, arrayLen: -1, dynamic: null, isString: false, signed: false, common: false });
  });

  it('a scalar char is a number, not a string', () => {
    expect(field('char x', 1, 1)).toMatchObject({ isString: false, arrayLen: -1, signed: true });
  });

  it('fixed arrays: [N] gives N elements of size/N bytes, the type keeps [N]', () => {
    expect(field('u32 x[4]', 16)).toMatchObject({ type: 'u32[4]', arrayLen: 4, elemSize: 4, isString: false });
    expect(field('u64 x[3]', 24)).toMatchObject({ arrayLen: 3, elemSize: 8 });
    // An element is at least one byte even when the size is smaller than the length.
    expect(field('u8 x[4]', 2)).toMatchObject({ arrayLen: 4, elemSize: 1 });
    // Space before the bracket, and after it.
    expect(field('u16 x [2]', 4)).toMatchObject({ name: 'x', arrayLen: 2, elemSize: 2, type: 'u16[2]' });
    expect(field('u16 x[2] ', 4)).toMatchObject({ name: 'x', arrayLen: 2, elemSize: 2 });
  });

  it('a name followed by spaces', () => {
    expect(field('unsigned int x  ', 4)).toMatchObject({ name: 'x', type: 'unsigned int' });
  });

  it('char arrays are strings: char, const char, unsigned/signed char, with any spacing', () => {
    for (const t of ['char', 'const char', 'unsigned char', 'signed char', 'const unsigned char', 'const  char', 'unsigned  char', 'signed  char']) {
      expect(field(`${t} x[16]`, 16), t).toMatchObject({ isString: true, arrayLen: 16, elemSize: 1 });
    }
  });

  it('arrays of other types are not strings, even when the type ends in "char" or starts with it', () => {
    for (const t of ['u8', 'wchar', 'char *', 'unsigned char *', 'constchar']) {
      expect(field(`${t} x[4]`, 4), t).toMatchObject({ isString: false });
    }
  });

  it('an empty [] is an array of length 0 sized by its type; the type is printed without it', () => {
    expect(field('u16 x[]', 0)).toMatchObject({ arrayLen: 0, elemSize: 2, dynamic: null, type: 'u16', isString: false });
    expect(field('char x[]', 0)).toMatchObject({ arrayLen: 0, elemSize: 1, isString: true });
  });

  it('__data_loc and __rel_loc: dynamic, array length 0, element size from the type', () => {
    expect(field('__data_loc char[] name', 4)).toMatchObject({ name: 'name', dynamic: 'data_loc', arrayLen: 0, elemSize: 1, isString: true, type: '__data_loc char[]' });
    expect(field('__rel_loc char[] name', 4)).toMatchObject({ dynamic: 'rel_loc', isString: true, type: '__rel_loc char[]' });
    expect(field('__data_loc  u64[] x', 4)).toMatchObject({ dynamic: 'data_loc', elemSize: 8, isString: false, type: '__data_loc u64[]' });
    expect(field('__rel_loc  u32[] x', 4)).toMatchObject({ dynamic: 'rel_loc', elemSize: 4, type: '__rel_loc u32[]' });
    expect(field('__data_loc char[ ] x', 4)).toMatchObject({ isString: true });
  });

  it('dynamic element sizes: known types, long and pointers by the kernel long size, unknown types 1', () => {
    const es = (t: string, longSize = 8) => field(`__data_loc ${t}[] x`, 4, 0, longSize).elemSize;
    expect(es('u64')).toBe(8);
    expect(es('const u32')).toBe(4);
    expect(es('volatile u16')).toBe(2);
    expect(es('unsigned  int')).toBe(4);
    expect(es('unsigned short')).toBe(2);
    expect(es('unsigned long', 4)).toBe(4);
    expect(es('unsigned long', 8)).toBe(8);
    expect(es('long', 4)).toBe(4);
    expect(es('unsigned long long', 4)).toBe(8);
    expect(es('long long', 4)).toBe(8);
    expect(es('void *', 4)).toBe(4);
    expect(es('struct page *', 8)).toBe(8);
    expect(es('struct foo')).toBe(1);
    expect(es('bool')).toBe(1);
  });

  it('the signed attribute decides when present', () => {
    expect(field('int x', 4, 0).signed).toBe(false);
    expect(field('u32 x', 4, 1).signed).toBe(true);
  });

  it('without a signed attribute (old kernels), signedness comes from the type name', () => {
    const s = (t: string, size = 4) => field(`${t} x`, size, null).signed;
    for (const t of ['int', 'char', 'short', 'long', 's8', 's16', 's32', 's64', '__s16', '__s8', 'pid_t', 'long long']) expect(s(t), t).toBe(true);
    for (const t of ['unsigned int', 'unsigned char', 'unsigned long', 'u32', 'u64', '__u16', 'bool', 'gfp_t', 'struct foo', 'int_fast', 'ulong', 'ushort']) expect(s(t), t).toBe(false);
  });
});

describe('event format: header_page', () => {
  const page = (commit: number, ts = 8) => [
    `\tfield: u64 timestamp;\toffset:0;\tsize:${ts};\tsigned:0;`,
    `\tfield: local_t commit;\toffset:8;\tsize:${commit};\tsigned:1;`,
    `\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;`,
    `\tfield: char data;\toffset:${8 + commit};\tsize:4080;\tsigned:1;`,
  ].join('\n');

  it('commit width and where data starts', () => {
    expect(parsePageHeader(page(8))).toEqual({ timestampSize: 8, commitOffset: 8, commitSize: 8, dataOffset: 16 });
    expect(parsePageHeader(page(4))).toEqual({ timestampSize: 8, commitOffset: 8, commitSize: 4, dataOffset: 12 });
  });

  it('errors: a 4-byte timestamp, a 2-byte commit word, a missing field', () => {
    expect(() => parsePageHeader(page(8, 4))).toThrow('header_page: a 4-byte page timestamp is not supported (expected 8)');
    expect(() => parsePageHeader(page(2))).toThrow('header_page: commit word of 2 bytes (expected 4 or 8)');
    expect(() => parsePageHeader(page(8).split('\n').slice(1).join('\n'))).toThrow('header_page: expected timestamp, commit and data fields');
  });
});

describe('event format: reading values', () => {
  const bytes = (...b: number[]) => new DataView(Uint8Array.from(b).buffer);

  it('readScalar: 1, 2, 4, 8 bytes, signed and unsigned, both byte orders; other sizes read 0', () => {
    const dv = bytes(0xff, 0xfe, 0x01, 0x80, 0, 0, 0, 0x80);
    expect(readScalar(dv, 0, { offset: 0, size: 1, signed: true }, true)).toBe(-1);
    expect(readScalar(dv, 0, { offset: 0, size: 1, signed: false }, true)).toBe(255);
    expect(readScalar(dv, 0, { offset: 0, size: 2, signed: false }, true)).toBe(0xfeff);
    expect(readScalar(dv, 0, { offset: 0, size: 2, signed: true }, true)).toBe(0xfeff - 0x10000);
    expect(readScalar(dv, 0, { offset: 0, size: 2, signed: false }, false)).toBe(0xfffe);
    expect(readScalar(dv, 0, { offset: 2, size: 2, signed: true }, true)).toBe(0x8001 - 0x10000);
    expect(readScalar(dv, 2, { offset: 0, size: 2, signed: false }, true)).toBe(0x8001);
    expect(readScalar(dv, 0, { offset: 0, size: 4, signed: false }, true)).toBe(0x8001feff);
    expect(readScalar(dv, 0, { offset: 0, size: 4, signed: true }, true)).toBe(0x8001feff - 0x100000000);
    expect(readScalar(dv, 0, { offset: 0, size: 8, signed: false }, true)).toBe(0x80000000_8001feffn);
    expect(readScalar(dv, 0, { offset: 0, size: 8, signed: true }, true)).toBe(0x80000000_8001feffn - (1n << 64n));
    expect(readScalar(dv, 0, { offset: 0, size: 3, signed: false }, true)).toBe(0);
    expect(readScalar(dv, 0, { offset: 9, size: 1, signed: false }, true, 1)).toBe(0xfe);
  });

  it('decodeFields: data_loc counted from the record start, rel_loc from the end of the field; a truncated record skips fields past its end', () => {
    const e = parseEventFormat(fmt([
      '\tfield:__data_loc char[] a;\toffset:8;\tsize:4;\tsigned:0;',
      '\tfield:__rel_loc char[] b;\toffset:12;\tsize:4;\tsigned:0;',
      '\tfield:u16 c[2];\toffset:16;\tsize:4;\tsigned:0;',
      '\tfield:__data_loc u16[] d;\toffset:20;\tsize:4;\tsigned:0;',
      '\tfield:__data_loc char[] e;\toffset:24;\tsize:4;\tsigned:0;',
    ]), 's');
    const data = new Uint8Array(40);
    const dv = new DataView(data.buffer);
    dv.setUint16(0, 77, true);
    dv.setUint32(4, 1234, true);
    // a: "hi" at 28, length 3 (with its NUL)
    dv.setUint32(8, (3 << 16) | 28, true);
    data.set([0x68, 0x69, 0], 28);
    // b: "ok" at 16 + 15 = 31 (relative to the end of the field at 16)
    dv.setUint32(12, (2 << 16) | 15, true);
    data.set([0x6f, 0x6b], 31);
    dv.setUint16(16, 7, true); dv.setUint16(18, 9, true);
    // d: two u16 at 34
    dv.setUint32(20, (4 << 16) | 34, true);
    dv.setUint16(34, 0x102, true); dv.setUint16(36, 0x304, true);
    // e: points past the end: empty
    dv.setUint32(24, (8 << 16) | 36, true);
    expect(decodeFields(e, data, true)).toEqual({ a: 'hi', b: 'ok', c: [7, 9], d: [0x102, 0x304], e: '' });
    expect(decodeFields(e, data, true, true)).toMatchObject({ common_type: 77, common_pid: 1234 });
    // Cut the record at 24: e's locator is past the end, so e is left out; d still reads (its data too is past 24: empty).
    const cut = decodeFields(e, data.subarray(0, 24), true);
    expect(Object.keys(cut)).toEqual(['a', 'b', 'c', 'd']);
    expect(cut.d).toBe('');
    // A field ending exactly at the end of the data is read.
    expect(decodeFields(e, data.subarray(0, 20), true).c).toEqual([7, 9]);
  });
});
