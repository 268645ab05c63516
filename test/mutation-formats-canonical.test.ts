/**
 * The canonical exit record's field validation (src/formats/canonical.ts), seen the way a user
 * sees it: the `file:line: reason` rejections and the accounting of a JSON Lines or CSV input
 * read in this process (issue 16). JSON Lines hands every row to the canonical validator; a CSV
 * row does so when its byte path declines it (spaces around a field, a quoted field).
 * Every expected message is the one the column documentation in canonical.ts implies for the
 * input written here; values are worked out by hand in the comments.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readChunks } from './helpers.js';
import { openTrace } from '../src/formats/index.js';
import { writeJsonl } from '../src/formats/jsonl.js';
import { writeCsv } from '../src/formats/csv.js';
import { F_MSR, F_PORT, type ExitChunk } from '../src/model/chunk.js';
import { REASONS } from '../src/model/reasons.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-mcanon-'));
let n = 0;

function file(name: string, body: string): string {
  const p = join(tmp, `${n++}-${name}`);
  writeFileSync(p, body);
  return p;
}

const read = readChunks;

async function text(parts: AsyncIterable<string | Buffer>): Promise<string> {
  let out = '';
  for await (const p of parts) out += p.toString();
  return out;
}

/** One JSON Lines row: the five required keys plus `extra`, `undefined` values left out. */
function row(extra: Record<string, unknown>): string {
  const base: Record<string, unknown> = { ts_ns: 1000, vcpu: 0, reason: 'HLT', rip: '0x10', duration_ns: 5, ...extra };
  return JSON.stringify(Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)));
}

/** Reads the rows (one per line, line 1 first) and returns the rejections without the path. */
async function rejections(lines: string[]): Promise<{ reasons: string[]; events: number; rejected: number; chunks: ExitChunk[] }> {
  const p = file('rows.jsonl', lines.join('\n') + '\n');
  const { s, chunks } = await read(p);
  expect(s.format).toBe('jsonl');
  expect(s.stats.lines).toBe(lines.length);
  return { reasons: s.stats.rejections.map((r) => r.slice(p.length + 1)), events: s.stats.events, rejected: s.stats.rejected, chunks };
}

describe('required fields: each bad value rejected with its own words', () => {
  it('ts_ns: absent, negative, not a whole number', async () => {
    // The first line carries ts_ns and rip so that the file sniffs as JSON Lines.
    const r = await rejections([
      row({}),
      row({ ts_ns: undefined }), //          absent: the empty text
      row({ ts_ns: '-5' }), //               a minus sign: negative
      row({ ts_ns: '12.5' }), //             a fraction
      row({ ts_ns: '' }), //                 an empty string: not digits
    ]);
    expect(r.reasons).toEqual([
      "2: ts_ns '' is not a whole number of ns",
      "3: negative ts_ns '-5'",
      "4: ts_ns '12.5' is not a whole number of ns",
      "5: ts_ns '' is not a whole number of ns",
    ]);
    expect([r.events, r.rejected]).toEqual([1, 4]);
  });

  it('vcpu: absent, not a number, more than 9 digits; 9 digits is a vcpu', async () => {
    const r = await rejections([
      row({}),
      row({ vcpu: undefined }),
      row({ vcpu: 'cpu1' }),
      row({ vcpu: '1234567890' }), // 10 digits
      row({ vcpu: '123456789' }), //  9 digits: taken
    ]);
    expect(r.reasons).toEqual([
      "2: unknown vcpu '' (expected a vcpu number)",
      "3: unknown vcpu 'cpu1' (expected a vcpu number)",
      "4: unknown vcpu '1234567890' (expected a vcpu number)",
    ]);
    expect(r.events).toBe(2);
    expect(r.chunks[0].vcpu[1]).toBe(123456789);
  });

  it('reason absent or empty; rip absent, not hex, wider than 64 bits', async () => {
    const r = await rejections([
      row({}),
      row({ reason: undefined }),
      row({ reason: '' }),
      row({ rip: undefined }),
      row({ rip: 'ffff' }), //                   no 0x
      row({ rip: '0x1' + '0'.repeat(16) }), //   17 significant hex digits: 65 bits
    ]);
    expect(r.reasons).toEqual([
      '2: empty reason',
      '3: empty reason',
      "4: rip '' is not 0x-hex (64-bit at most)",
      "5: rip 'ffff' is not 0x-hex (64-bit at most)",
      `6: rip '0x1${'0'.repeat(16)}' is not 0x-hex (64-bit at most)`,
    ]);
    expect(r.events).toBe(1);
  });

  it('duration_ns: negative, fractional, 16 digits; `-` and empty mean unknown', async () => {
    const r = await rejections([
      row({}),
      row({ duration_ns: '-3' }),
      row({ duration_ns: '2.5' }),
      row({ duration_ns: '1234567890123456' }), // 16 digits
      row({ duration_ns: '-' }), //                 unknown
      row({ duration_ns: undefined }), //           unknown
    ]);
    expect(r.reasons).toEqual([
      "2: negative duration_ns '-3'",
      "3: duration_ns '2.5' is not a whole number of ns",
      "4: duration_ns '1234567890123456' is not a whole number of ns",
    ]);
    expect(r.events).toBe(3);
    expect(r.chunks[0].dur[0]).toBe(5);
    expect(Number.isNaN(r.chunks[0].dur[1])).toBe(true);
    expect(Number.isNaN(r.chunks[0].dur[2])).toBe(true);
  });
});

describe('optional fields', () => {
  it('port: 0x-hex up to 0xffff or up to 5 decimal digits up to 65535; anything else is not a 16-bit port', async () => {
    const r = await rejections([
      row({ port: '0xffff' }), //  65535 in hex: taken
      row({ port: '0x10000' }), // 65536
      row({ port: 'abc' }), //     neither hex nor decimal
      row({ port: '65535' }), //   the largest decimal port
      row({ port: '65536' }), //   one past it
      row({ port: '000080' }), //  6 digits, though 80 in value
      row({ port: 80 }), //        a JSON number: decimal 80
      row({ port: '0' }), //       port 0 is a port
    ]);
    expect(r.reasons).toEqual([
      "2: port '0x10000' is not a 16-bit I/O port",
      "3: port 'abc' is not a 16-bit I/O port",
      "5: port '65536' is not a 16-bit I/O port",
      "6: port '000080' is not a 16-bit I/O port",
    ]);
    const c = r.chunks[0];
    expect(Array.from(c.port.subarray(0, c.length))).toEqual([0xffff, 65535, 80, 0]);
    for (let i = 0; i < c.length; i++) expect(c.flags[i] & F_PORT, `row ${i}`).toBeTruthy();
  });

  it('size, dir, value, gpa, caller: one rejection each, the good spellings taken', async () => {
    const r = await rejections([
      row({ size: '0' }), //       a byte count is 1..255
      row({ size: '256' }),
      row({ size: 'four' }),
      row({ dir: 'x' }),
      row({ value: '12' }), //     no 0x
      row({ gpa: 'fee00000' }),
      row({ caller: '0xg' }),
      row({ size: 255, dir: 'IN', value: '0xff', gpa: '0xfee00000', caller: '0xffffffff81000000' }),
      row({ dir: 'write' }),
      row({ dir: 'Out' }),
      row({ dir: 'read' }),
    ]);
    expect(r.reasons).toEqual([
      "1: size '0' is not a byte count",
      "2: size '256' is not a byte count",
      "3: size 'four' is not a byte count",
      "4: dir 'x' is not r or w",
      "5: value '12' is not 0x-hex",
      "6: gpa 'fee00000' is not 0x-hex",
      "7: caller '0xg' is not 0x-hex",
    ]);
    const out = await text(writeJsonl((async function* () { yield r.chunks[0]; })(), new Set(['size', 'dir', 'value', 'gpa', 'caller'])));
    expect(out.trim().split('\n')).toEqual([
      '{"ts_ns":1000,"vcpu":0,"reason":"HLT","rip":"0x10","duration_ns":5,"size":255,"dir":"r","value":"0xff","gpa":"0xfee00000","caller":"0xffffffff81000000"}',
      '{"ts_ns":1000,"vcpu":0,"reason":"HLT","rip":"0x10","duration_ns":5,"dir":"w"}',
      '{"ts_ns":1000,"vcpu":0,"reason":"HLT","rip":"0x10","duration_ns":5,"dir":"w"}',
      '{"ts_ns":1000,"vcpu":0,"reason":"HLT","rip":"0x10","duration_ns":5,"dir":"r"}',
    ]);
  });

  it('msr: a 32-bit 0x-hex index; written back with its 0x', async () => {
    const r = await rejections([
      row({ msr: '0x6e0' }),
      row({ msr: 'zz' }),
      row({ msr: '0x100000000' }), // 2^32: 33 bits
      row({ msr: '0xffffffff' }), //  the largest index
    ]);
    expect(r.reasons).toEqual([
      "2: msr 'zz' is not a 32-bit 0x-hex MSR index",
      "3: msr '0x100000000' is not a 32-bit 0x-hex MSR index",
    ]);
    const c = r.chunks[0];
    expect(c.length).toBe(2);
    expect([c.msr[0], c.msr[1]]).toEqual([0x6e0, 0xffffffff]);
    expect(c.flags[0] & F_MSR).toBeTruthy();
    // Unpaired (no duration) is a flag of its own: a row with a duration has only F_MSR.
    expect(c.flags[0]).toBe(F_MSR);
    const out = await text(writeJsonl((async function* () { yield c; })(), new Set(['msr'])));
    expect(out).toBe('{"ts_ns":1000,"vcpu":0,"reason":"HLT","rip":"0x10","duration_ns":5,"msr":"0x6e0"}\n{"ts_ns":1000,"vcpu":0,"reason":"HLT","rip":"0x10","duration_ns":5,"msr":"0xffffffff"}\n');
  });

  it('vm: up to 9 digits', async () => {
    const r = await rejections([
      row({ vm: 3 }),
      row({ vm: 'vm1' }),
      row({ vm: '1234567890' }),
      row({ vm: '123456789' }),
    ]);
    expect(r.reasons).toEqual([
      "2: vm 'vm1' is not a vm number",
      "3: vm '1234567890' is not a vm number",
    ]);
    expect([r.chunks[0].vm[0], r.chunks[0].vm[1]]).toEqual([3, 123456789]);
  });

  it('a reason no table knows is kept under its own name as an "other" reason', async () => {
    const r = await rejections([row({ reason: 'my_pseudo_exit' })]);
    const reason = REASONS.get(r.chunks[0].reason[0]);
    expect(reason).toMatchObject({ name: 'my_pseudo_exit', isa: 'other' });
  });
});

describe('JSON Lines line shapes', () => {
  it('a BOM on line 1, blank lines, non-objects, values that are neither numbers nor strings, unsafe integers', async () => {
    const p = file('shapes.jsonl', [
      '\uFEFF' + row({}),
      '   ',
      '[1,2]',
      'null',
      '42',
      row({ rip: true }),
      row({ ts_ns: 2 ** 53 + 2 }), //   above 2^53: JSON.parse already rounded it
      row({ ts_ns: '9007199254740995' }), // the same size as a string: exact
      row({ vcpu: 1.5 }),
      row({ port: 1e6 }), //             a safe integer but not a port
      row({ duration_ns: 2 ** 60 }),
      row({ size: 2.5 }),
      row({ msr: 2 ** 60 }), //          not in the exact-integer list: its text is judged
    ].join('\n') + '\n');
    const { s, chunks } = await read(p);
    expect(s.stats).toMatchObject({ lines: 13, events: 2, skipped: 1, rejected: 10 });
    expect(s.stats.rejections.map((m) => m.slice(p.length + 1))).toEqual([
      '3: not a JSON object',
      '4: not a JSON object',
      '5: not a JSON object',
      '6: rip must be a number or a string',
      `7: ts_ns ${2 ** 53 + 2} is not an exact integer (write large values as strings)`,
      '9: vcpu 1.5 is not an exact integer (write large values as strings)',
      "10: port '1000000' is not a 16-bit I/O port",
      `11: duration_ns ${2 ** 60} is not an exact integer (write large values as strings)`,
      '12: size 2.5 is not an exact integer (write large values as strings)',
      `13: msr '${String(2 ** 60)}' is not a 32-bit 0x-hex MSR index`,
    ]);
    // Row 2 of the chunk is line 8: ts_ns 9007199254740995 exactly, 9007199254739995 ns after line 1's 1000.
    const c = chunks[0];
    expect(c.tsBaseNs + BigInt(c.ts[1])).toBe(9007199254740995n);
  });

  it('a line over 1 MiB is rejected by number and the lines around it are read', async () => {
    const p = file('long.jsonl', [row({}), row({ reason: 'x'.repeat((1 << 20) + 10) }), row({ ts_ns: 2000 })].join('\n') + '\n');
    const { s, chunks } = await read(p);
    expect(s.stats).toMatchObject({ lines: 3, events: 2, rejected: 1 });
    expect(s.stats.rejections).toEqual([`${p}:2: line longer than 1 MiB: not a trace line`]);
    expect(chunks.reduce((k, c) => k + c.length, 0)).toBe(2);
  });

  it('fills chunks of the asked size: 5 rows in chunks of 2 are 2 + 2 + 1, in order', async () => {
    const p = file('chunks.jsonl', [1, 2, 3, 4, 5].map((k) => row({ ts_ns: k * 10, vcpu: k })).join('\n') + '\n');
    const { chunks } = await read(p, { chunkRows: 2 });
    expect(chunks.map((c) => c.length)).toEqual([2, 2, 1]);
    expect(chunks.flatMap((c) => Array.from(c.vcpu.subarray(0, c.length)))).toEqual([1, 2, 3, 4, 5]);
  });

  it('--strict stops at the first rejection with its line', async () => {
    const p = file('strict.jsonl', [row({}), row({ vm: 'x' }), row({ vcpu: 'y' })].join('\n') + '\n');
    await expect(read(p, { strict: true })).rejects.toThrow(`${p}:2: vm 'x' is not a vm number (--strict stops at the first rejected line)`);
  });
});

describe('CSV rows the byte path hands to the string path', () => {
  it('spaced fields are validated by the canonical rules with the same words', async () => {
    const head = 'ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,value,gpa,msr,caller,vm';
    const p = file('spaced.csv', [
      head,
      '10, 0,IO_INSTRUCTION,0x10,1, 1016,1,w,0x41,,,,', //       decimal port 1016 = 0x3f8, via the string path
      '20, -1,HLT,0x10,1,,,,,,,,', //                              negative vcpu
      '30, 0,HLT,0x10,1,,,,,,0x1ffffffff,,', //                    33-bit msr
      '40, 0,HLT,0x10,1,,,,,,, ,12x', //                           vm
      ' -7,0,HLT,0x10,1,,,,,,,,', //                               negative ts
    ].join('\n') + '\n');
    const { s, chunks } = await read(p);
    expect(s.stats).toMatchObject({ lines: 6, header: 1, events: 1, rejected: 4 });
    expect(s.stats.rejections.map((m) => m.slice(p.length + 1))).toEqual([
      "3: unknown vcpu '-1' (expected a vcpu number)",
      "4: msr '0x1ffffffff' is not a 32-bit 0x-hex MSR index",
      "5: vm '12x' is not a vm number",
      "6: negative ts_ns '-7'",
    ]);
    const out = await text(writeCsv((async function* () { yield* chunks; })(), s.columns));
    expect(out).toBe(head + '\n10,0,IO_INSTRUCTION,0x10,1,0x3f8,1,w,0x41,,,,0\n');
  });
});

describe('canonical CSV reader', () => {
  const HEAD = 'ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,value,gpa,msr,caller,vm';

  it('rows the byte path would take whole are rejected by value, each counted once (lines = header + events + skipped + rejected)', async () => {
    const p = file('fast.csv', [
      HEAD,
      '10,0,HLT,0x10,1234567890123456,,,,,,,,', //          16-digit duration
      '20,0,IO_INSTRUCTION,0x10,1,0x3f8,0,r,,,,,', //       size 0
      '30,0,IO_INSTRUCTION,0x10,1,0x3f8,256,r,,,,,', //     size 256
      '40,0,IO_INSTRUCTION,0x10,1,0x3f8,1000,r,,,,,', //    size of 4 digits
      '50,0,HLT,0x10,1,,,,,,,,1234567890', //               10-digit vm
      '60,0,HLT,0x10000000000000000,1,,,,,,,,', //          17 hex digits: 65 bits
      '70,0,MSR_READ,0x10,1,,,r,,,0x100000000,,', //        33-bit msr
      '80,0,IO_INSTRUCTION,0x10,1,0x10000,1,r,,,,,', //      port 65536 in hex
      '90,0,IO_INSTRUCTION,0x10,1,1016,2,w,0x41,,,,', //     decimal port on the byte path: 0x3f8, taken
      '100,0,HLT,0x10,-,,,,,,,,', //                         '-': duration unknown, taken
      '110,0,HLT,0x00000000000000010,3,,,,,,,,', //          leading zeros do not count toward 16 digits: 0x10, taken
    ].join('\n') + '\n');
    const { s, chunks } = await read(p);
    expect(s.stats).toMatchObject({ lines: 12, header: 1, events: 3, skipped: 0, rejected: 8 });
    expect(s.stats.rejections.map((m) => m.slice(p.length + 1))).toEqual([
      "2: duration_ns '1234567890123456' is not a whole number of ns",
      "3: size '0' is not a byte count",
      "4: size '256' is not a byte count",
      "5: size '1000' is not a byte count",
      "6: vm '1234567890' is not a vm number",
      "7: rip '0x10000000000000000' is not 0x-hex (64-bit at most)",
      "8: msr '0x100000000' is not a 32-bit 0x-hex MSR index",
      "9: port '0x10000' is not a 16-bit I/O port",
    ]);
    const out = await text(writeCsv((async function* () { yield* chunks; })(), s.columns));
    expect(out).toBe(HEAD + '\n90,0,IO_INSTRUCTION,0x10,1,0x3f8,2,w,0x41,,,,0\n100,0,HLT,0x10,,,,,,,,,0\n110,0,HLT,0x10,3,,,,,,,,0\n');
  });

  it('an unknown column is noted and skipped; a quote in it sends the row to csv-parse, which counts its fields', async () => {
    const p = file('unknown.csv', [
      'ts_ns,note1,note2,vcpu,reason,rip,duration_ns',
      '10,a,b,1,HLT,0x10,5', //        both notes skipped on the byte path
      '20,"a,b",2,HLT,0x10,5', //      one quoted field "a,b": 6 fields, not 7
      '30,"x",,3,HLT,0x10,5', //       a quoted note, 7 fields: taken
    ].join('\n') + '\n');
    const { s, chunks } = await read(p);
    expect(s.stats).toMatchObject({ lines: 4, header: 1, events: 2, rejected: 1, notes: ['ignored unknown CSV column(s): note1, note2'] });
    expect(s.stats.rejections).toEqual([`${p}:3: missing column(s): expected 7 fields, found 6`]);
    expect(Array.from(chunks[0].vcpu.subarray(0, 2))).toEqual([1, 3]);
  });

  it('comment and blank lines before the header are skipped; chunks fill to the asked size', async () => {
    const p = file('comments.csv', ['# made by hand', '', HEAD, ...[1, 2, 3, 4, 5].map((k) => `${k * 10},${k},HLT,0x10,5,,,,,,,,`), '# trailer'].join('\n') + '\n');
    const { s, chunks } = await read(p, { format: 'csv', chunkRows: 2 });
    // 9 lines: 2 skipped before the header, the header, 5 rows, 1 trailing comment skipped.
    expect(s.stats).toMatchObject({ lines: 9, header: 1, events: 5, skipped: 3, rejected: 0 });
    expect(chunks.map((c) => c.length)).toEqual([2, 2, 1]);
    expect(chunks.flatMap((c) => Array.from(c.vcpu.subarray(0, c.length)))).toEqual([1, 2, 3, 4, 5]);
  });

  it('a header without the required columns, or with more than 64 columns, stops the read with its line', async () => {
    const p = file('nohead.csv', '# comment\nts_ns,vcpu,reason\n1,0,HLT\n');
    await expect(read(p, { format: 'csv' })).rejects.toThrow(`${p}:2: CSV header lacks required column(s) rip, duration_ns (expected ts_ns,vcpu,reason,rip,duration_ns[,port,size,dir,value,gpa,msr,caller,vm])`);
    // 5 required + 60 unknown = 65 columns.
    const wide = file('wide.csv', 'ts_ns,vcpu,reason,rip,duration_ns,' + Array.from({ length: 60 }, (_, k) => `x${k}`).join(',') + '\n');
    await expect(read(wide)).rejects.toThrow(`${wide}:1: too many CSV columns (65)`);
    // 64 columns exactly is a header.
    const ok = file('ok64.csv', 'ts_ns,vcpu,reason,rip,duration_ns,' + Array.from({ length: 59 }, (_, k) => `x${k}`).join(',') + '\n');
    const { s } = await read(ok);
    expect(s.stats).toMatchObject({ lines: 1, header: 1 });
  });

  it('no header at all: only comments is an empty trace; comments and an overlong line is "no CSV header found"', async () => {
    const only = file('only-comments.csv', '# a\n\n# b\n');
    const r = await read(only, { format: 'csv' });
    expect(r.s.stats).toMatchObject({ lines: 3, header: 0, events: 0, skipped: 3 });
    const p = file('overlong.csv', '# a\n' + 'y'.repeat((1 << 20) + 1) + '\n');
    await expect(read(p, { format: 'csv' })).rejects.toThrow(`${p}: no CSV header found`);
  });

  it('a line over 1 MiB after the header is rejected by number', async () => {
    const p = file('long.csv', `${HEAD}\n10,0,HLT,0x10,5,,,,,,,,\n10,0,${'R'.repeat((1 << 20) + 1)},0x10,5,,,,,,,,\n20,0,HLT,0x10,5,,,,,,,,\n`);
    const { s } = await read(p);
    expect(s.stats).toMatchObject({ lines: 4, header: 1, events: 2, rejected: 1 });
    expect(s.stats.rejections).toEqual([`${p}:3: line longer than 1 MiB: not a trace line`]);
  });

  it('writes rows with reason names longer than the row reserve without truncating or merging them', async () => {
    // 30 rows of a 100,000-byte reason: the encoder's 1 MiB buffer fills at the 10th; each row must stay whole.
    const long = 'R'.repeat(100_000);
    const rows = Array.from({ length: 30 }, (_, i) => `${i},0,${long},0x10,5`);
    const st = await openTrace(file('longreason.csv', `ts_ns,vcpu,reason,rip,duration_ns\n${rows.join('\n')}\n`));
    const out = await text(writeCsv(st.chunks, new Set()));
    // The header and the 30 rows, each exactly as written (ts_ns is the input's ns, unchanged), then the final newline.
    expect(out.split('\n')).toEqual(['ts_ns,vcpu,reason,rip,duration_ns', ...rows, '']);
  });

  it('writes a reason holding a comma or a quote as one quoted CSV field, and reads it back', async () => {
    const j = file('q.jsonl', row({ reason: 'say "hi", ok' }) + '\n');
    const st = await openTrace(j);
    const out = await text(writeCsv(st.chunks, new Set()));
    // RFC 4180: the field in quotes, each quote doubled.
    expect(out).toBe('ts_ns,vcpu,reason,rip,duration_ns\n1000,0,"say ""hi"", ok",0x10,5\n');
    const back = await read(file('q.csv', out));
    expect(back.s.stats).toMatchObject({ events: 1, rejected: 0 });
    expect(REASONS.get(back.chunks[0].reason[0]).name).toBe('say "hi", ok');
  });
});

import { ExitChunk as Chunk, DIR_READ, DIR_WRITE, F_GPA, F_USERSPACE, F_VALUE } from '../src/model/chunk.js';
import { writeTraceCmd } from '../src/formats/trace-cmd-writer.js';

describe('trace-cmd report text writer', () => {
  it('MSR exits become kvm_msr lines, exits that went to userspace a kvm_userspace_exit of their kind; read back the same', async () => {
    const c = new Chunk(8);
    c.tsBaseNs = 1_000_000_000n;
    const r = (n: string) => REASONS.lookup(n);
    // pushRow(ts, vcpu, reason, ripHi, ripLo, dur, flags, port, size, dir, valHi, valLo, gpaHi, gpaLo, msr, callerHi, callerLo, vm)
    c.pushRow(0, 0, r('MSR_WRITE'), 0, 0x10, 100, F_MSR | F_VALUE, 0, 0, DIR_WRITE, 0, 0x2a, 0, 0, 0x6e0, 0, 0, 0);
    c.pushRow(1000, 0, r('MSR_READ'), 0, 0x20, 100, F_MSR | F_VALUE, 0, 0, DIR_READ, 0, 0x5, 0, 0, 0x10, 0, 0, 0);
    c.pushRow(2000, 0, r('IO_INSTRUCTION'), 0, 0x30, 100, F_PORT | F_USERSPACE, 0x3f8, 1, DIR_WRITE, 0, 0, 0, 0, 0, 0, 0, 0);
    c.pushRow(3000, 0, r('EPT_MISCONFIG'), 0, 0x40, 100, F_GPA | F_USERSPACE, 0, 0, 0, 0, 0, 0, 0xfe000000, 0, 0, 0, 0);
    c.pushRow(4000, 0, r('VMCALL'), 0, 0x50, 100, F_USERSPACE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    const txt = await text(writeTraceCmd((async function* () { yield c; })()));
    // The event part of each line (after "<time>: "), the kernel's print formats (fixtures/tracefs).
    const events = txt.split('\n').filter((l) => l.includes(': kvm_') && !l.includes('kvm_exit') && !l.includes('kvm_entry')).map((l) => l.slice(l.indexOf(': kvm_') + 2));
    expect(events).toEqual([
      'kvm_msr: msr_write 6e0 = 0x2a',
      'kvm_msr: msr_read 10 = 0x5',
      'kvm_pio: pio_write at 0x3f8 size 1 count 1 val 0x0 ',
      'kvm_userspace_exit: reason KVM_EXIT_IO (2)',
      'kvm_mmio: mmio read len 4 gpa 0xfe000000 val 0x0',
      'kvm_userspace_exit: reason KVM_EXIT_MMIO (6)',
      'kvm_userspace_exit: reason KVM_EXIT_HYPERCALL (3)',
    ]);
    const { s, chunks } = await read(file('w.txt', txt));
    expect(s.stats.rejected).toBe(0);
    const back = chunks[0];
    expect(back.length).toBe(5);
    expect([back.msr[0], back.dir[0], back.valLo[0], back.msr[1], back.dir[1], back.valLo[1]]).toEqual([0x6e0, DIR_WRITE, 0x2a, 0x10, DIR_READ, 0x5]);
    expect(Array.from(back.flags.subarray(2, 5), (f) => f & F_USERSPACE)).toEqual([F_USERSPACE, F_USERSPACE, F_USERSPACE]);
  });
});

describe('ftrace / trace-cmd report text: markers, clocks, long lines', () => {
  /** A report line of thread CPU 0/KVM-7301 on host CPU `cpu`, at `ts` (seconds text). */
  const ev = (ts: string, event: string, payload: string, cpu = 1): string => `       CPU 0/KVM-7301  [${String(cpu).padStart(3, '0')}] d....  ${ts}: ${event}: ${payload}`;
  const EXIT = 'vcpu 0 reason HLT rip 0x10 info1 0x0';
  const ENTRY = 'vcpu 0, rip 0x14 intr_info 0x00000000 error_code 0x00000000';

  it('`CPU:1 [LOST EVENTS]` (no count) closes CPU 1\'s open exit and loses a count of none', async () => {
    const p = file('lost.txt', ['cpus=2', ev('3000.000100', 'kvm_exit', EXIT), 'CPU:1 [LOST EVENTS]', ev('3000.000200', 'kvm_entry', ENTRY)].join('\n') + '\n');
    const { s, chunks } = await read(p);
    expect(s.stats).toMatchObject({ lines: 4, events: 2, skipped: 2, rejected: 0 });
    expect(s.counters).toMatchObject({ lostMarkers: 1, lostEvents: 0, unpairedExits: 1, unpairedEntries: 1 });
    expect(Number.isNaN(chunks[0].dur[0])).toBe(true);
  });

  it('a "buffer started" marker resets only when it names a CPU', async () => {
    const p = file('started.txt', ['cpus=2', '##### buffer started ####', ev('3000.000100', 'kvm_exit', EXIT), '##### CPU 1 buffer started ####', ev('3000.000200', 'kvm_entry', ENTRY)].join('\n') + '\n');
    const { s } = await read(p);
    expect(s.counters).toMatchObject({ bufferStarts: 1, unpairedExits: 1 });
  });

  it('wall-clock timestamps (epoch seconds) stay exact to the ns', async () => {
    const p = file('epoch.txt', ['cpus=2', ev('1732460000.000000100', 'kvm_exit', EXIT), ev('1732460000.000000350', 'kvm_entry', ENTRY)].join('\n') + '\n');
    const { chunks } = await read(p);
    const c = chunks[0];
    expect([c.tsBaseNs + BigInt(c.ts[0]), c.dur[0]]).toEqual([1732460000000000100n, 250]);
  });

  it('a timestamp with more than 9 fractional digits is not an event line\'s; a line over 1 MiB is rejected', async () => {
    const p = file('odd.txt', ['cpus=2', ev('3000.0000001000', 'kvm_exit', EXIT), ev('3000.000100', 'kvm_exit', 'x'.repeat((1 << 20) + 1)), ev('3000.000300', 'kvm_exit', EXIT)].join('\n') + '\n');
    const { s } = await read(p);
    expect(s.stats.events).toBe(1);
    expect(s.stats.rejections).toContain(`${p}:3: line longer than 1 MiB: not a trace line`);
    expect(s.stats.lines).toBe(s.stats.events + s.stats.skipped + s.stats.rejected + s.stats.header);
  });
});

describe('CSV rows the byte path hands to the string path (quotes, blanks, odd widths)', () => {
  const H = 'ts_ns,vcpu,reason,rip,duration_ns';
  const rowsOf = (chunks: ExitChunk[]) => chunks.flatMap((c) => Array.from({ length: c.length }, (_, i) => [c.ts[i], c.vcpu[i], REASONS.get(c.reason[i]).name, c.ripLo[i], c.dur[i]]));

  it('a quoted field and fields with blanks around them are read like plain ones', async () => {
    // Row 2 quotes its reason (csv-parse reads it), row 3 pads fields with blanks (trimmed), row 4 is plain: all the same exit.
    const { s, chunks } = await read(file('quoted.csv', `${H}\n10,0,"HLT",0x10,5\n20, 0 , HLT ,0x10, 5\n30,0,HLT,0x10,5\n`));
    expect(s.stats).toMatchObject({ events: 3, rejected: 0 });
    expect(rowsOf(chunks).map((r) => r.slice(1))).toEqual([[0, 'HLT', 0x10, 5], [0, 'HLT', 0x10, 5], [0, 'HLT', 0x10, 5]]);
  });

  it('a quote that does not close is one rejection naming the line and what csv-parse found', async () => {
    const p = file('badquote.csv', `${H}\n10,0,"HLT,0x10,5\n20,0,HLT,0x10,5\n`);
    const { s } = await read(p);
    expect(s.stats).toMatchObject({ events: 1, rejected: 1 });
    // csv-parse's own words follow (csv-parse 6).
    expect(s.stats.rejections).toEqual([`${p}:2: malformed CSV: Quote Not Closed: the parsing is finished with an opening quote at line 1`]);
  });

  it('too few and too many fields, quoted or not, are rejected with both counts', async () => {
    const p = file('widths.csv', `${H}\n10,0,HLT,0x10\n20,0,HLT,0x10,5,6\n30,0,"HLT",0x10\n40,0,"HLT",0x10,5,6\n`);
    const { s } = await read(p);
    expect(s.stats).toMatchObject({ events: 0, rejected: 4 });
    expect(s.stats.rejections).toEqual([
      `${p}:2: missing column(s): expected 5 fields, found 4`,
      `${p}:3: extra field(s): expected 5 fields, found 6`,
      `${p}:4: missing column(s): expected 5 fields, found 4`,
      `${p}:5: extra field(s): expected 5 fields, found 6`,
    ]);
  });

  it('a quoted row of an unknown column keeps the known ones in their slots', async () => {
    // Columns: ts_ns, note (unknown, ignored), vcpu, reason, rip, duration_ns; the note holds a comma inside quotes.
    const { s, chunks } = await read(file('note.csv', `ts_ns,note,vcpu,reason,rip,duration_ns\n10,"a, b",1,HLT,0x20,7\n`));
    expect(s.stats).toMatchObject({ events: 1, rejected: 0, notes: ['ignored unknown CSV column(s): note'] });
    expect(rowsOf(chunks).map((r) => r.slice(1))).toEqual([[1, 'HLT', 0x20, 7]]);
  });

  it('the header is recognised after a byte-order mark and with CRLF line ends', async () => {
    const { s, chunks } = await read(file('bom.csv', `\uFEFF${H}\r\n10,0,HLT,0x10,5\r\n`));
    expect(s.stats).toMatchObject({ format: 'csv', header: 1, events: 1, rejected: 0 });
    expect(rowsOf(chunks).map((r) => r.slice(1))).toEqual([[0, 'HLT', 0x10, 5]]);
    // Sniffed as CSV without --format: only the first line names the columns, and it ends at the CR.
    const one = await read(file('bom-only-header.csv', `\uFEFF${H}\r\n`));
    expect(one.s.stats.format).toBe('csv');
  });
});

describe('well-formed canonical rows take the byte path (the string path gives the same rows, slower)', () => {
  it('every column kind, empty optional fields, "-" and empty durations, 19-digit ts, upper-case hex: no line on the string path', async () => {
    const { csvStringPathLines } = await import('../src/formats/csv.js');
    const head = 'ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,value,gpa,msr,caller,vm,note';
    const lines = [
      '1000000000000000000,0,IO_INSTRUCTION,0xffffffff81000010,500,0x3f8,1,w,0x41,,,0xffffffff81000020,1,x',
      '1000000000000000100,1,IO_INSTRUCTION,0XFFFFFFFF81000010,-,1016,2,R,0XAB,,,,,',
      '1000000000000000200,2,EPT_MISCONFIG,0x10,,,4,r,,0xfee000b0,,,2,',
      '1000000000000000300,3,MSR_WRITE,0x20,700,,,,0x0,,0x6e0,,,',
    ];
    const before = csvStringPathLines.count;
    const { s, chunks } = await read(file('allcols.csv', [head, ...lines].join('\n') + '\n'));
    expect(s.stats).toMatchObject({ events: 4, rejected: 0 });
    expect(csvStringPathLines.count - before).toBe(0);
    const c = chunks[0];
    // Worked out from the lines: flags are the F_* bits of the fields present (see src/model/chunk.ts).
    expect(Array.from({ length: 4 }, (_, i) => [c.vcpu[i], c.ripHi[i] >>> 0, c.ripLo[i] >>> 0, Number.isNaN(c.dur[i]) ? 'unknown' : c.dur[i], c.port[i], c.size[i], c.dir[i], c.valLo[i], c.gpaLo[i] >>> 0, c.msr[i], c.callerLo[i] >>> 0, c.vm[i]])).toEqual([
      [0, 0xffffffff, 0x81000010, 500, 0x3f8, 1, 2, 0x41, 0, 0, 0x81000020, 1],
      [1, 0xffffffff, 0x81000010, 'unknown', 1016, 2, 1, 0xab, 0, 0, 0, 0],
      [2, 0, 0x10, 'unknown', 0, 4, 1, 0, 0xfee000b0, 0, 0, 2],
      [3, 0, 0x20, 700, 0, 0, 0, 0, 0, 0x6e0, 0, 0],
    ]);
    // 100 ns apart from the first line's 10^18 ns.
    expect([c.ts[1] - c.ts[0], c.ts[2] - c.ts[0], c.ts[3] - c.ts[0]]).toEqual([100, 200, 300]);
  });

  it('a quoted line, a "read" direction and a padded field go to the string path, one count each, with the same result', async () => {
    const { csvStringPathLines } = await import('../src/formats/csv.js');
    const before = csvStringPathLines.count;
    const { s, chunks } = await read(file('slowlines.csv', 'ts_ns,vcpu,reason,rip,duration_ns,dir\n10,0,"HLT",0x10,5,\n20,0,HLT,0x10,5,read\n30,0,HLT, 0x10,5,\n40,0,HLT,0x10,5,r\n'));
    expect(s.stats).toMatchObject({ events: 4, rejected: 0 });
    expect(csvStringPathLines.count - before).toBe(3);
    expect(Array.from(chunks[0].dir.subarray(0, 4))).toEqual([0, 1, 0, 1]);
  });
});

describe('a bad value in any column of a CSV row is rejected with the field\'s own words (the byte path must not take it)', () => {
  const head = 'ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,value,gpa,msr,caller,vm';
  // A good row: ts 10, vcpu 0, HLT at 0x10, 5 ns, no optional field; each case replaces one field.
  const good = ['10', '0', 'HLT', '0x10', '5', '', '', '', '', '', '', '', ''];
  const cases: Array<[number, string, string]> = [
    [0, 'x', "ts_ns 'x' is not a whole number of ns"],
    [0, '-', "negative ts_ns '-'"],
    [0, '1.5', "ts_ns '1.5' is not a whole number of ns"],
    [1, '-', "unknown vcpu '-' (expected a vcpu number)"],
    [1, '1234567890', "unknown vcpu '1234567890' (expected a vcpu number)"],
    [1, '0x1', "unknown vcpu '0x1' (expected a vcpu number)"],
    [3, '16', "rip '16' is not 0x-hex (64-bit at most)"],
    [3, '0x', "rip '0x' is not 0x-hex (64-bit at most)"],
    [3, '0x1ffffffffffffffff', "rip '0x1ffffffffffffffff' is not 0x-hex (64-bit at most)"],
    [4, '-5', "negative duration_ns '-5'"],
    [4, '5x', "duration_ns '5x' is not a whole number of ns"],
    [5, '65536', "port '65536' is not a 16-bit I/O port"],
    [5, '0x10000', "port '0x10000' is not a 16-bit I/O port"],
    [5, '-', "port '-' is not a 16-bit I/O port"],
    [6, '0', "size '0' is not a byte count"],
    [6, '256', "size '256' is not a byte count"],
    [6, '-', "size '-' is not a byte count"],
    [7, 'x', "dir 'x' is not r or w"],
    [7, 'rw', "dir 'rw' is not r or w"],
    [8, '12', "value '12' is not 0x-hex"],
    [9, '0xg', "gpa '0xg' is not 0x-hex"],
    [10, '0x100000000', "msr '0x100000000' is not a 32-bit 0x-hex MSR index"],
    [11, 'ffff', "caller 'ffff' is not 0x-hex"],
    [12, '-', "vm '-' is not a vm number"],
    [12, '1234567890', "vm '1234567890' is not a vm number"],
  ];
  it.each(cases)('column %i = %j', async (col, value, reason) => {
    const f = [...good];
    f[col] = value;
    const p = file('bad.csv', `${head}\n${f.join(',')}\n${good.join(',')}\n`);
    const { s } = await read(p);
    expect(s.stats).toMatchObject({ events: 1, rejected: 1 });
    expect(s.stats.rejections).toEqual([`${p}:2: ${reason}`]);
  });
});
