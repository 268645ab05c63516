/**
 * The parallel reader (src/formats/parallel.ts) and its byte ranges (src/formats/ranges.ts),
 * run in this thread (issue 16): from the sources no worker script exists, so the ranges are
 * parsed here in turn, through the same accounting a worker's messages go through. What a
 * user sees: the same lines, events, skips and rejections (with whole-file line numbers) as a
 * one-thread read, and the same errors. Expected counts are worked out from the inputs below.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTrace, type OpenTraceOptions } from '../src/formats/index.js';
import { parallelEligible } from '../src/formats/parallel.js';
import { parseRange, type RangeMessage } from '../src/formats/ranges.js';
import type { ExitChunk } from '../src/model/chunk.js';
import { fx } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-mranges-'));
const saved = { ...process.env };
const HEAD = 'ts_ns,vcpu,reason,rip,duration_ns';

/** Parallel reading on for every input, in ranges of `bytes`. */
function ranges(bytes: number): void {
  process.env.EXITSCOPE_PARALLEL_MIN = '0';
  process.env.EXITSCOPE_WORKERS = '2';
  process.env.EXITSCOPE_RANGE_BYTES = String(bytes);
}
beforeEach(() => { ranges(1 << 24); });
afterEach(() => { process.env = { ...saved }; });

let n = 0;
function file(name: string, body: string): string {
  const p = join(tmp, `${n++}-${name}`);
  writeFileSync(p, body);
  return p;
}

async function read(path: string, opts: OpenTraceOptions = {}) {
  const s = await openTrace(path, opts);
  const chunks: ExitChunk[] = [];
  for await (const c of s.chunks) chunks.push(c);
  return { s, vcpus: chunks.flatMap((c) => Array.from(c.vcpu.subarray(0, c.length))) };
}

describe('eligibility', () => {
  it('a path that cannot be stat()ed is read in one thread, not an error', async () => {
    const input = { path: join(tmp, 'gone.csv'), head: Buffer.from(HEAD + '\n'), chunks: (async function* () { /* none */ })(), gzip: false, close: async () => undefined };
    expect(await parallelEligible(input, 'csv', { strict: false })).toBe(false);
    // The same shape on a real file of any size is eligible (EXITSCOPE_PARALLEL_MIN=0).
    const real = file('real.csv', HEAD + '\n');
    expect(await parallelEligible({ ...input, path: real }, 'csv', { strict: false })).toBe(true);
  });
});

describe('accounting across ranges', () => {
  it('more rejections in one range than a range sends the text of: every one counted, the first 50 kept', async () => {
    // A header, then 70 lines of 3 fields where 5 are due: 70 rejections in one range (a range sends the text of 64).
    const p = file('many-bad.csv', [HEAD, ...Array.from({ length: 70 }, (_, k) => `${k},0,HLT`), '99,1,HLT,0x10,5'].join('\n') + '\n');
    const { s, vcpus } = await read(p);
    expect(s.stats).toMatchObject({ lines: 72, header: 1, events: 1, skipped: 0, rejected: 70 });
    expect(s.stats.rejections).toHaveLength(50);
    expect(s.stats.rejections[0]).toBe(`${p}:2: missing column(s): expected 5 fields, found 3`);
    expect(s.stats.rejections[49]).toBe(`${p}:51: missing column(s): expected 5 fields, found 3`);
    expect(vcpus).toEqual([1]);
  });

  it('an unknown column is noted once for the input', async () => {
    ranges(40);
    // Ranges of 40 bytes: the header (range 0) notes the column; later ranges are handed the header and note it again.
    const p = file('note.csv', [`${HEAD},comment`, ...Array.from({ length: 6 }, (_, k) => `${k},${k},HLT,0x10,5,hello`)].join('\n') + '\n');
    const { s, vcpus } = await read(p);
    expect(s.stats).toMatchObject({ lines: 7, header: 1, events: 6, rejected: 0, notes: ['ignored unknown CSV column(s): comment'] });
    expect(vcpus).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('a line over 1 MiB is rejected at its whole-file line number', async () => {
    ranges(1 << 19);
    // Line 3 is 1 MiB + 20 bytes: ranges of 512 KiB start inside it twice; they skip to its end.
    const p = file('overlong.csv', [HEAD, '1,1,HLT,0x10,5', `2,2,${'R'.repeat((1 << 20) + 10)},0x10,5`, '3,3,HLT,0x10,5'].join('\n') + '\n');
    const { s, vcpus } = await read(p);
    expect(s.stats).toMatchObject({ lines: 4, header: 1, events: 2, rejected: 1 });
    expect(s.stats.rejections).toEqual([`${p}:3: line longer than 1 MiB: not a trace line`]);
    expect(vcpus).toEqual([1, 3]);
  });

  it('a range that starts inside a line longer than its 8 KiB probe skips to that line\'s end, and the line is read once', async () => {
    ranges(6000);
    // Line 3 is a comment of 20,000 bytes (bytes ~50 to ~20,050): ranges 1, 2 and 3 start inside it and must look
    // past 8 KiB for its newline. Read once, it is one skipped line.
    const p = file('long-comment.csv', [HEAD, '1,1,HLT,0x10,5', '#' + 'c'.repeat(20000), '2,2,HLT,0x10,5', '3,3,HLT,0x10,5'].join('\n') + '\n');
    const { s, vcpus } = await read(p);
    expect(s.stats).toMatchObject({ lines: 5, header: 1, events: 3, skipped: 1, rejected: 0 });
    expect(vcpus).toEqual([1, 2, 3]);
  });
});

describe('a CSV without a header', () => {
  it('only comments: an empty trace, every line skipped', async () => {
    const p = file('comments.csv', Array.from({ length: 300 }, (_, k) => `# comment line ${k}`).join('\n') + '\n');
    const { s, vcpus } = await read(p, { format: 'csv' });
    expect(s.stats).toMatchObject({ lines: 300, header: 0, skipped: 300, events: 0 });
    expect(vcpus).toEqual([]);
  });

  it('comments and a line too long to be a header: "no CSV header found"', async () => {
    // 70,000 comment lines (1.4 MB: more than the first read of 1 MiB the header is looked for in), then a line of
    // 1 MiB of x, rejected as too long: no line was a header.
    const p = file('noheader.csv', Array.from({ length: 70000 }, (_, k) => `# comment ${String(k).padStart(6, '0')}\n`).join('') + 'x'.repeat((1 << 20) + 5) + '\n');
    await expect(read(p, { format: 'csv' })).rejects.toThrow(`${p}: no CSV header found`);
  });
});

describe('a CSV whose header the first read does not hold whole is read in one thread', () => {
  const eligible = (p: string, body: string) => parallelEligible({ path: p, head: Buffer.from(body.slice(0, 1 << 20)), chunks: (async function* () { /* none */ })(), gzip: false, close: async () => undefined }, 'csv', { strict: false });

  it('more than 1 MiB of comments before the header: the exit after it is read (ranges once said "no CSV header found")', async () => {
    // 300,000 comment lines of 4 bytes (1.2 MB), then the header and one exit.
    const body = '# c\n'.repeat(300_000) + `${HEAD}\n10,0,HLT,0x10,5\n`;
    const p = file('latehead.csv', body);
    expect(await eligible(p, body)).toBe(false);
    const { s, vcpus } = await read(p, { format: 'csv' });
    expect(s.stats).toMatchObject({ lines: 300_002, header: 1, skipped: 300_000, events: 1, rejected: 0 });
    expect(vcpus).toEqual([0]);
  });

  it('a comment, then a line longer than the first read: no header, as in one thread (ranges once took its first MiB for one)', async () => {
    const body = '# a comment\n' + 'x'.repeat((1 << 20) + 5) + '\n';
    const p = file('longfirst.csv', body);
    expect(await eligible(p, body)).toBe(false);
    await expect(read(p, { format: 'csv' })).rejects.toThrow(`${p}: no CSV header found`);
  });

  it('a header the first read holds whole, with the line end: ranges', async () => {
    const body = `${HEAD}\n10,0,HLT,0x10,5\n`;
    expect(await eligible(file('ok.csv', body), body)).toBe(true);
    // The whole file in the first read: its last line is whole even without a line end.
    expect(await eligible(file('noeol.csv', HEAD), HEAD)).toBe(true);
  });
});

describe('ftrace text in ranges', () => {
  it('a text with no event line keeps the format name ftrace', async () => {
    const p = file('empty.txt', '# tracer: nop\n#\n# entries-in-buffer/entries-written: 0/0   #P:2\n');
    const { s } = await read(p, { format: 'ftrace' });
    expect(s.stats).toMatchObject({ format: 'ftrace', lines: 3, events: 0 });
  });
});

describe('parseRange errors', () => {
  it('a CSV header without the required columns is the user\'s error, with its words', async () => {
    const p = file('badhead.csv', 'a,b,c\n1,2,3\n');
    const got: RangeMessage[] = [];
    await parseRange({ path: p, format: 'csv', index: 3, start: 0, end: 12 }, (m) => { got.push(m); });
    expect(got).toEqual([{ type: 'error', range: 3, user: true, message: `${p}:1: CSV header lacks required column(s) ts_ns, vcpu, reason, rip, duration_ns (expected ts_ns,vcpu,reason,rip,duration_ns[,port,size,dir,value,gpa,msr,caller,vm])` }]);
  });

  it('a file that cannot be opened is not the user\'s error (an internal one)', async () => {
    const got: RangeMessage[] = [];
    await parseRange({ path: join(tmp, 'none.csv'), format: 'csv', index: 0, start: 0, end: 10 }, (m) => { got.push(m); });
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ type: 'error', range: 0, user: false });
    expect((got[0] as { message: string }).message).toMatch(/^ENOENT: no such file or directory/);
  });
});

describe('markers that travel from a range to the pairing thread', () => {
  /** Every exit of a read as a line, with the accounting, counters and VM labels. */
  async function dump(path: string) {
    const s = await openTrace(path);
    const rows: string[] = [];
    for await (const c of s.chunks) for (let i = 0; i < c.length; i++) rows.push([c.tsBaseNs + BigInt(c.ts[i]), c.vcpu[i], c.vm[i], c.reason[i], c.ripLo[i], c.dur[i], c.flags[i]].join(','));
    const { path: _p, ...stats } = s.stats;
    void _p;
    return { rows, stats, counters: { ...s.counters }, vms: [...s.vms] };
  }

  it('"##### CPU N buffer started" and the thread-group column (record-tgid) give the one-thread result in 200-byte ranges', async () => {
    for (const f of [fx('ftrace', 'buffer-started.txt'), fx('ftrace', 'two-vms-tgid.txt')]) {
      process.env.EXITSCOPE_PARALLEL_MIN = '1e15';
      const one = await dump(f);
      ranges(200);
      const par = await dump(f);
      expect(par, f).toEqual(one);
    }
    // What each fixture is there for (their READMEs): a buffer-started reset, and two VMs told apart by thread group.
    process.env.EXITSCOPE_PARALLEL_MIN = '1e15';
    expect((await dump(fx('ftrace', 'buffer-started.txt'))).counters.bufferStarts).toBeGreaterThan(0);
    expect((await dump(fx('ftrace', 'two-vms-tgid.txt'))).vms.length).toBe(2);
  });
});

describe('rangeBytes', () => {
  it('gives exactly the lines that start in [start, end), for cuts anywhere in a 3 MiB file, and consecutive ranges give the file', async () => {
    const { rangeBytes } = await import('../src/formats/ranges.js');
    let seed = 9;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const lines: string[] = [];
    let size = 0;
    while (size < 3 << 20) { const l = 'x'.repeat(rnd(300)) + String(lines.length); lines.push(l); size += l.length + 1; }
    // One line much longer than the 8 KiB start probe.
    lines.splice(5000, 0, 'L'.repeat(20_000));
    const data = Buffer.from(lines.join('\n') + '\n', 'latin1');
    const p = file('ranges-3m.txt', data.toString('latin1'));
    /** The lines starting in [start, end), by the definition: a line starts at 0 or after a newline. */
    const expected = (start: number, end: number): Buffer => {
      let s = start;
      while (s > 0 && s < data.length && data[s - 1] !== 10) s++;
      if (s >= end || s >= data.length) return Buffer.alloc(0);
      const nl = data.indexOf(10, end - 1);
      return data.subarray(s, nl < 0 ? data.length : nl + 1);
    };
    const got = async (start: number, end: number): Promise<Buffer> => {
      const parts: Buffer[] = [];
      for await (const b of rangeBytes(p, start, end)) parts.push(Buffer.from(b));
      return Buffer.concat(parts);
    };
    const cuts: Array<[number, number]> = [[0, data.length], [0, 1], [1, 2], [data.length - 1, data.length], [0, (1 << 20) + 7], [(1 << 20) - 3, (2 << 20) + 11]];
    const longAt = data.indexOf('LLLL');
    cuts.push([longAt + 5, longAt + 9000], [longAt - 1, longAt + 1], [longAt + 19_999, longAt + 30_000]);
    for (let k = 0; k < 12; k++) { const a = rnd(data.length); cuts.push([a, Math.min(data.length, a + 1 + rnd(2_500_000))]); }
    for (const [a, b] of cuts) expect((await got(a, b)).equals(expected(a, b)), `[${a}, ${b})`).toBe(true);
    // Consecutive ranges of odd sizes: the whole file, once.
    for (const step of [999_983, 1 << 20, 3_000_001]) {
      const parts: Buffer[] = [];
      for (let a = 0; a < data.length; a += step) parts.push(await got(a, Math.min(data.length, a + step)));
      expect(Buffer.concat(parts).equals(data), `step ${step}`).toBe(true);
    }
    // Stopping early (a consumer that leaves) closes the file without error.
    for await (const b of rangeBytes(p, 0, data.length)) { void b; break; }
    // The next range of this thread reads into the buffers the one before left (no 2 MiB of garbage per range), with the
    // right bytes: ranges of 3 MiB and 1 MiB after each other, each to its end.
    const seen = new Set<ArrayBufferLike>();
    const grab = async (start: number, end: number): Promise<Buffer> => {
      const parts: Buffer[] = [];
      for await (const b of rangeBytes(p, start, end)) { seen.add(b.buffer); parts.push(Buffer.from(b)); }
      return Buffer.concat(parts);
    };
    expect((await grab(0, data.length)).equals(data)).toBe(true);
    const first = new Set(seen);
    seen.clear();
    expect((await grab(1 << 20, 2 << 20)).equals(expected(1 << 20, 2 << 20))).toBe(true);
    expect([...seen].every((b) => first.has(b))).toBe(true);
    // Two ranges read at once (two inputs in one thread) never share a buffer.
    const ia = rangeBytes(p, 0, data.length)[Symbol.asyncIterator](), ib = rangeBytes(p, 0, data.length)[Symbol.asyncIterator]();
    const [ra, rb] = [await ia.next(), await ib.next()];
    expect(ra.value.buffer).not.toBe(rb.value.buffer);
    expect(Buffer.from(ra.value).equals(Buffer.from(rb.value))).toBe(true);
    await ia.return(undefined);
    await ib.return(undefined);
  });
});

describe('rangeBytes on a small file, every range', () => {
  it('every [start, end) up to past the end of a file with an empty line and no final newline: the lines that start there', async () => {
    const { rangeBytes } = await import('../src/formats/ranges.js');
    const data = Buffer.from('aa\nbbb\n\nc\ndd', 'latin1');
    const p = file('small-every.txt', data.toString('latin1'));
    const expected = (start: number, end: number): string => {
      let s = start;
      while (s > 0 && s < data.length && data[s - 1] !== 10) s++;
      if (s >= end || s >= data.length) return '';
      const nl = data.indexOf(10, end - 1);
      return data.toString('latin1', s, nl < 0 ? data.length : nl + 1);
    };
    for (let a = 0; a <= data.length + 2; a++) {
      for (let b = a; b <= data.length + 3; b++) {
        const parts: Buffer[] = [];
        for await (const x of rangeBytes(p, a, b)) parts.push(Buffer.from(x));
        expect(Buffer.concat(parts).toString('latin1'), `[${a}, ${b})`).toBe(expected(a, b));
      }
    }
  });
});

describe('parseRange: what a range reports', () => {
  it('CSV: the optional columns it saw, its flavour, every rejection counted and the first 64 with their text', async () => {
    const bad = Array.from({ length: 70 }, (_, i) => `x${i}`);
    const body = `${HEAD},port\n1,0,IO_INSTRUCTION,0xffffffff81000010,500,0x70\n${bad.join('\n')}\n`;
    const p = file('done.csv', body);
    const got: RangeMessage[] = [];
    await parseRange({ path: p, format: 'csv', index: 2, start: 0, end: body.length }, (m) => { got.push(m); });
    const done = got.find((m) => m.type === 'done') as Extract<RangeMessage, { type: 'done' }>;
    expect(done).toBeDefined();
    expect(done.flavour).toBe('csv');
    expect(done.columns).toEqual(['port']);
    expect(done.lines).toBe(72);
    expect(done.rejected).toBe(70);
    expect(done.rejections).toHaveLength(64);
    expect(done.rejections[0][0]).toBe(3);
    expect(done.rejections[63][0]).toBe(66);
    expect(got.filter((m) => m.type === 'chunk').reduce((n, m) => n + (m as { length: number }).length, 0)).toBe(1);
  });
});

