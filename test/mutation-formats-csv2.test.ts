/**
 * The canonical CSV reader and writer (src/formats/csv.ts), field by field: format sniffing (the
 * first line that is neither blank nor a comment, its CR, byte-order mark, quotes and blanks), the
 * header (names trimmed, unquoted, lower-cased; unknown ones noted), the line accounting before and
 * after the header (a byte-order mark only on line 1, indented comments, blank lines), the byte path
 * (each field kind at the edges of what it takes, and every value it must leave to the string path),
 * the string path's own words, and the writer's decimal and buffer arithmetic.
 *
 * Expected values are worked out by hand from the input written in each test (comments show how);
 * expected messages are the rejection wording of src/formats/canonical.ts and csv.ts for that input.
 * `csvStringPathLines` counts the lines the byte path hands to the string path: a well-formed row
 * (exitscope's own output, or what the byte path is written to take) must not be one of them.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readChunks } from './helpers.js';
import type { OpenTraceOptions } from '../src/formats/index.js';
import { csvFormat, csvLineParser, csvStringPathLines, writeCsv } from '../src/formats/csv.js';
import { DIR_READ, DIR_WRITE, ExitChunk, F_CALLER, F_GPA, F_MSR, F_PORT, F_SIZE, F_UNPAIRED, F_VALUE, type OptionalColumn } from '../src/model/chunk.js';
import { REASONS } from '../src/model/reasons.js';
import { TimeBase } from '../src/model/time.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-mcsv2-'));
let n = 0;

function file(name: string, body: string | Buffer): string {
  const p = join(tmp, `${n++}-${name}`);
  writeFileSync(p, body);
  return p;
}

const read = readChunks;

/** A row as read: absolute ts, every column in plain terms; optional columns null when their flag is not set. */
interface Rec {
  ts: string; vcpu: number; reason: string; rip: string; dur: number | 'unknown'; unpaired: boolean;
  port: number | null; size: number | null; dir: '' | 'r' | 'w'; value: string | null; gpa: string | null; msr: number | null; caller: string | null; vm: number;
}

const hex = (hi: number, lo: number): string => '0x' + ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString(16);

function recs(chunks: ExitChunk[]): Rec[] {
  const out: Rec[] = [];
  for (const c of chunks) {
    for (let i = 0; i < c.length; i++) {
      const fl = c.flags[i];
      out.push({
        ts: Number.isNaN(c.ts[i]) ? 'NaN' : String(c.tsBaseNs + BigInt(c.ts[i])),
        vcpu: c.vcpu[i],
        reason: REASONS.get(c.reason[i]).name,
        rip: hex(c.ripHi[i], c.ripLo[i]),
        dur: Number.isNaN(c.dur[i]) ? 'unknown' : c.dur[i],
        unpaired: (fl & F_UNPAIRED) !== 0,
        port: fl & F_PORT ? c.port[i] : null,
        size: fl & F_SIZE ? c.size[i] : null,
        dir: c.dir[i] === DIR_READ ? 'r' : c.dir[i] === DIR_WRITE ? 'w' : '',
        value: fl & F_VALUE ? hex(c.valHi[i], c.valLo[i]) : null,
        gpa: fl & F_GPA ? hex(c.gpaHi[i], c.gpaLo[i]) : null,
        msr: fl & F_MSR ? c.msr[i] : null,
        caller: fl & F_CALLER ? hex(c.callerHi[i], c.callerLo[i]) : null,
        vm: c.vm[i],
      });
    }
  }
  return out;
}

/** The expected row: ts 10, vcpu 0, HLT at 0x10, 5 ns, no optional field, unless `o` says otherwise. */
function R(o: Partial<Rec>): Rec {
  const dur = o.dur ?? 5;
  return { ts: '10', vcpu: 0, reason: 'HLT', rip: '0x10', dur, unpaired: dur === 'unknown', port: null, size: null, dir: '', value: null, gpa: null, msr: null, caller: null, vm: 0, ...o };
}

const H5 = 'ts_ns,vcpu,reason,rip,duration_ns';
const H13 = 'ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,value,gpa,msr,caller,vm';
const EXPECTED_COLUMNS = '(expected ts_ns,vcpu,reason,rip,duration_ns[,port,size,dir,value,gpa,msr,caller,vm])';

/** Reads `lines` (one per line) as CSV; the rejections without the path, and how many lines went to the string path. */
async function readLines(lines: string[], opts: OpenTraceOptions = { format: 'csv' }) {
  const p = file('rows.csv', lines.join('\n') + '\n');
  const before = csvStringPathLines.count;
  const { s, chunks } = await read(p, opts);
  return { p, s, chunks, rows: recs(chunks), slow: csvStringPathLines.count - before, rejections: s.stats.rejections.map((m) => m.slice(p.length + 1)) };
}

describe('sniffing: the first line that is neither blank nor a comment names the columns', () => {
  const sniff = (t: string): boolean => csvFormat.sniff(Buffer.from(t, 'utf8'), t);

  it('a header with no newline after it is whole (its last name keeps its last letter)', () => {
    expect(sniff(H5)).toBe(true);
  });

  it('an empty first line is skipped: the header is the next line only, not the rest of the text', () => {
    // Were the text from the empty line on taken as the line, its 5th name would be "duration_ns\n10".
    expect(sniff(`\n${H5}\n10,0,HLT,0x10,5\n`)).toBe(true);
    expect(sniff(`# made by hand\n\n${H5}\n10,0,HLT,0x10,5\n`)).toBe(true);
  });

  it('only a CR that ends the line is dropped; one inside a name spoils it', () => {
    expect(sniff(`${H5}\r\n10,0,HLT,0x10,5\r\n`)).toBe(true);
    expect(sniff('ts_ns,vcpu,reason,rip,dur\ration_ns\r\n')).toBe(false);
  });

  it('only a leading byte-order mark is dropped; one inside a name spoils it', () => {
    expect(sniff(`\uFEFF${H5}\n`)).toBe(true);
    expect(sniff('ts_ns,vcpu,reason,rip,dura\uFEFFtion_ns\n')).toBe(false);
  });

  it('names are trimmed, lower-cased and unquoted at their ends only', () => {
    expect(sniff(' ts_ns , VCPU,reason,rip,duration_ns\n')).toBe(true);
    expect(sniff('"ts_ns","vcpu","reason","rip","duration_ns"\n')).toBe(true);
    // A quote inside a name stays: "dura"tion_ns" is not duration_ns.
    expect(sniff('ts_ns,vcpu,reason,rip,dura"tion_ns\n')).toBe(false);
  });

  it('every required column must be there, not just one', () => {
    expect(sniff('ts_ns,foo\n1,2\n')).toBe(false);
    expect(sniff('ts_ns,vcpu,reason,rip\n')).toBe(false);
  });
});

describe('the header line', () => {
  it('a plain header adds no note; an unknown name is noted as written, a quote inside it kept', async () => {
    const plain = await readLines([H5, '10,0,HLT,0x10,5']);
    expect(plain.s.stats).toMatchObject({ header: 1, events: 1, rejected: 0, notes: [] });
    // The comment with a comma last: a reader that ran past a line's end would stop there.
    const odd = await readLines([`${H5},no"te`, '10,0,HLT,0x10,5,x', '# end, of file']);
    expect(odd.s.stats).toMatchObject({ header: 1, events: 1, skipped: 1, rejected: 0, notes: ['ignored unknown CSV column(s): no"te'] });
    expect(odd.slow).toBe(0);
  });

  it('names with blanks around them or in quotes are the columns they name', async () => {
    const spaced = await readLines([' ts_ns , vcpu,reason,rip,duration_ns ', '10,0,HLT,0x10,5']);
    expect(spaced.s.stats).toMatchObject({ header: 1, events: 1, rejected: 0, notes: [] });
    expect(spaced.rows).toEqual([R({})]);
    const quoted = await readLines(['"ts_ns","vcpu","reason","rip","duration_ns"', '10,0,HLT,0x10,5']);
    expect(quoted.s.stats).toMatchObject({ header: 1, events: 1, rejected: 0, notes: [] });
    expect(quoted.rows).toEqual([R({})]);
  });

  it('a byte-order mark before a header on a later line is dropped; one inside a name is not', async () => {
    // Line 1 a comment, line 2 the header after a BOM (a file made by concatenation).
    const later = await readLines(['# made by hand', `\uFEFF${H5}`, '10,0,HLT,0x10,5']);
    expect(later.s.stats).toMatchObject({ lines: 3, skipped: 1, header: 1, events: 1, rejected: 0 });
    const p = file('bom-inside.csv', 'ts_ns,vcpu,reason,rip,dura\uFEFFtion_ns\n10,0,HLT,0x10,5\n');
    await expect(read(p, { format: 'csv' })).rejects.toThrow(`${p}:1: CSV header lacks required column(s) duration_ns ${EXPECTED_COLUMNS}`);
  });

  it('a parser handed the header (a worker\'s) takes it after a byte-order mark too', () => {
    const acc = { stats: { events: 0, skipped: 0, header: 0 }, reject: () => undefined, note: () => undefined };
    const p = csvLineParser('w.csv', acc, new Set(), new TimeBase(), 4);
    p.header(`\uFEFF${H5}`, 1);
    expect(p.hasHeader).toBe(true);
    expect(acc.stats.header).toBe(1);
  });
});

describe('lines before and after the header: byte-order mark, blanks, comments', () => {
  const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

  it('a byte-order mark before a comment on line 1 is dropped: the comment is skipped', async () => {
    const p = file('bom-comment.csv', Buffer.concat([BOM, Buffer.from(`# made by hand\n${H5}\n10,0,HLT,0x10,5\n`)]));
    const { s, chunks } = await read(p, { format: 'csv' });
    expect(s.stats).toMatchObject({ lines: 3, skipped: 1, header: 1, events: 1, rejected: 0 });
    expect(recs(chunks)).toEqual([R({})]);
  });

  it('a first character that only shares two bytes with a byte-order mark is kept', async () => {
    // U+FF3F is EF BC BF, U+FEC1 is EF BB 81: neither is a BOM, so line 1 is "＿# c" (not a comment) and is taken as the header.
    for (const first of ['\uFF3F', '\uFEC1']) {
      const p = file('nearly-bom.csv', `${first}# c\n${H5}\n10,0,HLT,0x10,5\n`);
      await expect(read(p, { format: 'csv' })).rejects.toThrow(`${p}:1: CSV header lacks required column(s) ts_ns, vcpu, reason, rip, duration_ns ${EXPECTED_COLUMNS}`);
    }
    // '#' BB BF: a comment whose 2nd and 3rd bytes are a BOM's last two; still a comment.
    const p = file('hash-bb-bf.csv', Buffer.concat([Buffer.from([0x23, 0xbb, 0xbf]), Buffer.from(` c\n${H5}\n10,0,HLT,0x10,5\n`)]));
    const { s } = await read(p, { format: 'csv' });
    expect(s.stats).toMatchObject({ lines: 3, skipped: 1, header: 1, events: 1, rejected: 0 });
  });

  it('after the header a byte-order mark is not dropped (line 3 is not a comment); bytes like its tail are not either', async () => {
    const p = file('bom-later.csv', Buffer.concat([
      Buffer.from(`${H5}\n10,0,HLT,0x10,5\n`),
      BOM, Buffer.from('# c\n'), //                                   line 3: BOM then "# c": one field, rejected
      Buffer.from('#\u00bf c\n'), //                                   line 4: '#' C2 BF: a comment
      Buffer.from([0x23, 0xbb, 0xbf]), Buffer.from(' c\n'), //          line 5: '#' BB BF: a comment
      Buffer.from('20,0,HLT,0x10,5\n'),
    ]));
    const { s, chunks } = await read(p, { format: 'csv' });
    expect(s.stats).toMatchObject({ lines: 6, header: 1, events: 2, skipped: 2, rejected: 1 });
    expect(s.stats.rejections).toEqual([`${p}:3: missing column(s): expected 5 fields, found 1`]);
    expect(recs(chunks).map((r) => r.ts)).toEqual(['10', '20']);
  });

  it('a line of blanks before the header is skipped, not taken as the header', async () => {
    const r = await readLines(['   ', '\t', H5, '10,0,HLT,0x10,5']);
    expect(r.s.stats).toMatchObject({ lines: 4, skipped: 2, header: 1, events: 1, rejected: 0 });
  });

  it('after the header, comments indented by spaces or tabs and lines of blanks are skipped', async () => {
    const r = await readLines([H5, '  # spaces', '\t# a tab', ' \t # both', '    ', '\t\t', '10,0,HLT,0x10,5']);
    expect(r.s.stats).toMatchObject({ lines: 7, header: 1, skipped: 5, events: 1, rejected: 0 });
    expect(r.rows).toEqual([R({})]);
    expect(r.slow).toBe(0);
  });
});

describe('rows the byte path takes whole (none goes to the string path), each value exact', () => {
  const cases: Array<[string, string, string[], Rec[]]> = [
    ['the digit 9 in decimal and hex fields; a decimal field last', H5,
      ['1999,9,HLT,0x9f9,49'],
      [R({ ts: '1999', vcpu: 9, rip: '0x9f9', dur: 49 })]],
    ['an empty duration: unknown, the row unpaired', H5,
      ['10,0,HLT,0x10,'],
      [R({ dur: 'unknown' })]],
    ['"-" as the last field: duration unknown', H5,
      ['10,0,HLT,0x10,-'],
      [R({ dur: 'unknown' })]],
    ['"-" as the first field; a hex field last', 'duration_ns,ts_ns,vcpu,reason,rip',
      ['-,10,0,HLT,0x10'],
      [R({ dur: 'unknown' })]],
    ['a hex field last', 'ts_ns,vcpu,reason,duration_ns,rip',
      ['10,0,HLT,5,0x10', '20,1,HLT,6,0xffffffff81000010'],
      [R({}), R({ ts: '20', vcpu: 1, dur: 6, rip: '0xffffffff81000010' })]],
    ['the widest numbers: 20-digit ts, 9-digit vcpu and vm, 15-digit duration, size 255', H13,
      ['18446744073709551615,123456789,HLT,0x10,123456789012345,,255,,,,,,999999999'],
      [R({ ts: '18446744073709551615', vcpu: 123456789, dur: 123456789012345, size: 255, vm: 999999999 })]],
    ['ports: 0xffff, 65535, and decimal 1019, 0123, 1016 (not hex)', H13,
      ['10,0,IO_INSTRUCTION,0x10,5,0xffff,1,w,,,,,', '20,0,IO_INSTRUCTION,0x10,5,65535,2,r,,,,,', '30,0,IO_INSTRUCTION,0x10,5,1019,4,W,,,,,',
        '40,0,IO_INSTRUCTION,0x10,5,0123,1,R,,,,,', '50,0,IO_INSTRUCTION,0x10,5,1016,1,w,,,,,'],
      [R({ reason: 'IO_INSTRUCTION', port: 0xffff, size: 1, dir: 'w' }), R({ ts: '20', reason: 'IO_INSTRUCTION', port: 65535, size: 2, dir: 'r' }),
        R({ ts: '30', reason: 'IO_INSTRUCTION', port: 1019, size: 4, dir: 'w' }), R({ ts: '40', reason: 'IO_INSTRUCTION', port: 123, size: 1, dir: 'r' }),
        R({ ts: '50', reason: 'IO_INSTRUCTION', port: 1016, size: 1, dir: 'w' })]],
    ['a decimal port last', `${H5},port`,
      ['10,0,IO_INSTRUCTION,0x10,5,1016'],
      [R({ reason: 'IO_INSTRUCTION', port: 1016 })]],
    ['an empty port last: no port', `${H5},port`,
      ['10,0,HLT,0x10,5,'],
      [R({})]],
    ['an empty caller last, then one given', `${H5},caller`,
      ['10,0,HLT,0x10,5,', '20,0,HLT,0x10,5,0xffffffff81000020'],
      [R({}), R({ ts: '20', caller: '0xffffffff81000020' })]],
    ['an empty direction in the middle', `${H5},dir,vm`,
      ['10,0,HLT,0x10,5,,7'],
      [R({ vm: 7 })]],
    ['an empty direction last', `${H5},dir`,
      ['10,0,HLT,0x10,5,', '20,0,HLT,0x10,5,w'],
      [R({}), R({ ts: '20', dir: 'w' })]],
    ['every hex column, upper-case digits', H13,
      ['10,0,MSR_WRITE,0xFFFFFFFF81000010,5,,,w,0xDEADBEEF,0xfee000b0,0x6e0,0xffffffff81000020,3'],
      [R({ reason: 'MSR_WRITE', rip: '0xffffffff81000010', dir: 'w', value: '0xdeadbeef', gpa: '0xfee000b0', msr: 0x6e0, caller: '0xffffffff81000020', vm: 3 })]],
    ['leading zeros do not count toward the 16 hex digits', H5,
      ['10,0,HLT,0x00000000000000010,5', '20,0,HLT,0x0000ffffffffffffffff,5'],
      [R({}), R({ ts: '20', rip: '0xffffffffffffffff' })]],
    // The comment with a comma last: a reader that ran past a line's end would stop there.
    ['an unknown column last, given or empty', `${H5},note`,
      ['10,0,HLT,0x10,5,x', '20,0,HLT,0x10,5,', '# end, of file'],
      [R({}), R({ ts: '20' })]],
    ['the reason last', 'ts_ns,vcpu,rip,duration_ns,reason',
      ['10,0,0x10,5,HLT', '20,1,0x20,6,IO_INSTRUCTION', '# end, of file'],
      [R({}), R({ ts: '20', vcpu: 1, rip: '0x20', dur: 6, reason: 'IO_INSTRUCTION' })]],
  ];

  it.each(cases)('%s', async (_what, head, lines, expected) => {
    const r = await readLines([head, ...lines]);
    expect(r.rejections).toEqual([]);
    expect(r.s.stats.events).toBe(expected.length);
    expect(r.rows).toEqual(expected);
    expect(r.slow).toBe(0);
  });

  it('reason names resolve alone: an upper-case VMX name does not make a later lower-case name VMX', async () => {
    // "cpuid" on its own is SVM's (the canonical format's lower-case names); CPUID would be VMX's.
    const r = await readLines([H5, '10,0,HLT,0x10,5', '20,0,cpuid,0x10,5']);
    expect(r.slow).toBe(0);
    expect(r.chunks[0].length).toBe(2);
    const reasons = Array.from(r.chunks[0].reason.subarray(0, 2), (id) => REASONS.get(id));
    expect(reasons.map((x) => [x.name, x.isa])).toEqual([['HLT', 'vmx'], ['cpuid', 'svm']]);
  });

  it('a row at the very start of the parser\'s buffer with a 19-digit ts keeps it exactly', () => {
    const acc = { stats: { events: 0, skipped: 0, header: 0 }, reject: () => undefined, note: () => undefined };
    const p = csvLineParser('direct.csv', acc, new Set(), new TimeBase(), 4);
    p.header(H5, 1);
    const b = Buffer.from('1000000000000000001,0,HLT,0x10,5');
    p.handleLine(b, 0, b.length, 2);
    expect(acc.stats.events).toBe(1);
    // take() without `partial` hands on full chunks only: this one holds 1 row of 4.
    expect([...p.take()]).toEqual([]);
    const out = [...p.take(true)];
    expect(out.length).toBe(1);
    expect(recs(out)).toEqual([R({ ts: '1000000000000000001' })]);
  });
});

describe('values the byte path must leave to the string path, which rejects them in its own words', () => {
  // A good row (ts 10, vcpu 0, HLT at 0x10, 5 ns, no optional field); each case replaces one field.
  const good = ['10', '0', 'HLT', '0x10', '5', '', '', '', '', '', '', '', ''];
  const cases: Array<[number, string, string]> = [
    [0, '', "ts_ns '' is not a whole number of ns"],
    [0, '-', "negative ts_ns '-'"],
    [1, '', "unknown vcpu '' (expected a vcpu number)"],
    [1, '-', "unknown vcpu '-' (expected a vcpu number)"],
    [1, '1234567890', "unknown vcpu '1234567890' (expected a vcpu number)"],
    [2, '', 'empty reason'],
    [3, '', "rip '' is not 0x-hex (64-bit at most)"],
    [3, '1x5', "rip '1x5' is not 0x-hex (64-bit at most)"],
    [3, '0123', "rip '0123' is not 0x-hex (64-bit at most)"],
    [3, '16', "rip '16' is not 0x-hex (64-bit at most)"],
    [3, '0x', "rip '0x' is not 0x-hex (64-bit at most)"],
    [3, '0x1z', "rip '0x1z' is not 0x-hex (64-bit at most)"],
    [4, '5-', "duration_ns '5-' is not a whole number of ns"],
    [4, 'x', "duration_ns 'x' is not a whole number of ns"],
    [4, '5x', "duration_ns '5x' is not a whole number of ns"],
    [4, '-5', "negative duration_ns '-5'"],
    [5, '0x100000000', "port '0x100000000' is not a 16-bit I/O port"],
    [5, '65536', "port '65536' is not a 16-bit I/O port"],
    [5, '000080', "port '000080' is not a 16-bit I/O port"],
    [5, '1a', "port '1a' is not a 16-bit I/O port"],
    [7, 'x', "dir 'x' is not r or w"],
    [8, '12', "value '12' is not 0x-hex"],
    [9, '0xg', "gpa '0xg' is not 0x-hex"],
    [9, '0x', "gpa '0x' is not 0x-hex"],
  ];
  it.each(cases)('column %i = %j', async (col, value, reason) => {
    const f = [...good];
    f[col] = value;
    const r = await readLines([H13, f.join(','), good.join(',')]);
    expect(r.s.stats).toMatchObject({ lines: 3, header: 1, events: 1, rejected: 1 });
    expect(r.rejections).toEqual([`2: ${reason}`]);
    expect(r.rows).toEqual([R({})]);
  });

  it('a reason with a blank before or after it is trimmed on the string path', async () => {
    const r = await readLines([H5, '10,0, HLT,0x10,5', '20,0,HLT ,0x10,5']);
    expect(r.s.stats).toMatchObject({ events: 2, rejected: 0 });
    expect(r.rows).toEqual([R({}), R({ ts: '20' })]);
    expect(r.slow).toBe(2);
  });

  it('a CR inside an unquoted field is part of it on both paths (csv-parse only reads quoted lines)', async () => {
    // Line 2 has a blank before its vcpu (string path), line 3 is plain (byte path): the same reason "HL\rT".
    const r = await readLines([H5, '10, 0,HL\rT,0x10,5', '20,0,HL\rT,0x10,5']);
    expect(r.rejections).toEqual([]);
    expect(r.rows).toEqual([R({ reason: 'HL\rT' }), R({ ts: '20', reason: 'HL\rT' })]);
    expect(r.slow).toBe(1);
  });
});

describe('writing canonical CSV', () => {
  const hlt = REASONS.lookup('HLT');
  async function write(chunks: ExitChunk[], columns: OptionalColumn[] = []): Promise<string[]> {
    const parts: string[] = [];
    for await (const b of writeCsv((async function* () { yield* chunks; })(), new Set(columns))) parts.push(b.toString());
    return parts;
  }
  /** A row of `reason` at 0x10 with the given ts offset, vcpu and duration, no optional column. */
  const push = (c: ExitChunk, ts: number, vcpu: number, dur: number, reason = hlt, flags = 0, cHi = 0, cLo = 0): void => {
    c.pushRow(ts, vcpu, reason, 0, 0x10, dur, flags, 0, 0, 0, 0, 0, 0, 0, 0, cHi, cLo, 0);
  };

  it('numbers of 2^31 and more are written digit for digit', async () => {
    const c = new ExitChunk(8, 0n);
    push(c, 2147483648, 0, 3000000000); //   2^31 exactly; 3 * 10^9
    push(c, 12345678901, 1, 2147483647); //  10^9-split: 12 | 345678901
    push(c, 2147483647, 2, 0);
    expect((await write([c])).join('')).toBe(`${H5}\n2147483648,0,HLT,0x10,3000000000\n12345678901,1,HLT,0x10,2147483647\n2147483647,2,HLT,0x10,0\n`);
  });

  it('the caller column is written when a row has one, empty when not', async () => {
    const c = new ExitChunk(8, 100n);
    push(c, 0, 0, 5, hlt, F_CALLER, 0xffffffff, 0x81000020);
    push(c, 1, 0, 5);
    expect((await write([c], ['caller'])).join('')).toBe(`${H5},caller\n100,0,HLT,0x10,5,0xffffffff81000020\n101,0,HLT,0x10,5,\n`);
  });

  it('a ts base past 2^53 is added exactly, also for a row before it that lands below 2^53', async () => {
    // Base 2^53 + 11 = 9007199254741003 (not a double); the rows 0 and 20 ns from it: ...003 and ...983.
    const c = new ExitChunk(8, 9007199254741003n);
    push(c, 0, 0, 5);
    push(c, -20, 0, 5);
    expect((await write([c])).join('')).toBe(`${H5}\n9007199254741003,0,HLT,0x10,5\n9007199254740983,0,HLT,0x10,5\n`);
  });

  it('a row before ns 0 is written as its negative decimal', async () => {
    const c = new ExitChunk(8, 5n);
    push(c, -10, 0, 5);
    expect((await write([c])).join('')).toBe(`${H5}\n-5,0,HLT,0x10,5\n`);
  });

  it('a reason name longer than twice the 1 MiB buffer is written whole', async () => {
    const name = 'R'.repeat(3 << 20);
    const c = new ExitChunk(8, 0n);
    push(c, 0, 0, 5, REASONS.intern('other', name));
    const out = (await write([c])).join('');
    const expected = `${H5}\n0,0,${name},0x10,5\n`;
    expect(out.length).toBe(expected.length);
    expect(out === expected).toBe(true);
  });

  it('a long reason that crosses the buffer\'s end within a row is written whole', async () => {
    // The encoder's buffer is 1 MiB = L. Row 1: "0,0," + A + ",0x10,5\n", A = L - 500, ends at L - 488.
    // Row 2 starts there (its 400-byte reserve fits); its reason (600 bytes) starts at L - 484 and would end at L + 116.
    const L = 1 << 20;
    const a = 'A'.repeat(L - 500), b = 'B'.repeat(600);
    const c = new ExitChunk(8, 0n);
    push(c, 0, 0, 5, REASONS.intern('other', a));
    push(c, 1, 0, 5, REASONS.intern('other', b));
    const out = (await write([c])).join('');
    const expected = `${H5}\n0,0,${a},0x10,5\n1,0,${b},0x10,5\n`;
    expect(out.length).toBe(expected.length);
    expect(out === expected).toBe(true);
  });

  it('one buffer for the header and one per chunk that has rows; an empty chunk adds none', async () => {
    const empty1 = new ExitChunk(8, 0n), empty2 = new ExitChunk(8, 0n);
    const c = new ExitChunk(8, 7n);
    push(c, 0, 3, 9);
    expect(await write([empty1, c, empty2])).toEqual([`${H5}\n`, '7,3,HLT,0x10,9\n']);
  });
});
