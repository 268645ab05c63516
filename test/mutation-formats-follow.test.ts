/**
 * Opening inputs and cutting lines (src/formats/input.ts), the paths the other tests left
 * unrun (issue 16): a missing file's message; `--follow` on a growing file (what is appended
 * is read, the read ends when the signal aborts, the sniff does not wait for 4 KiB); a line
 * that no buffer holds whole (carried across three); a buffer whose tail past its last
 * newline is over MAX_LINE_BYTES; an overlong last line without a newline at the end.
 */
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openTrace } from '../src/formats/index.js';
import { LineSplitter, MAX_LINE_BYTES, openInput } from '../src/formats/input.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-mfollow-'));

describe('opening', () => {
  it('a missing file: one line naming it and "no such file"', async () => {
    await expect(openInput(join(tmp, 'nope.csv'))).rejects.toThrow(`${join(tmp, 'nope.csv')}: cannot read trace (no such file)`);
  });
});

describe('--follow on a growing file', () => {
  it('reads what is there, then what is appended, and ends when the signal aborts', async () => {
    const p = join(tmp, 'grow.csv');
    writeFileSync(p, 'ts_ns,vcpu,reason,rip,duration_ns\n1000,0,HLT,0xffffffff81000010,5\n');
    const ac = new AbortController();
    const s = await openTrace(p, { follow: ac.signal });
    expect(s.format).toBe('csv');
    const rips: number[] = [];
    const reading = (async () => { for await (const c of s.chunks) for (let i = 0; i < c.length; i++) rips.push(c.ripLo[i]); })();
    await new Promise((r) => setTimeout(r, 50));
    appendFileSync(p, '1010,1,HLT,0xffffffff81000020,6\n');
    // The follower polls every 200 ms at the end of the file: give it two rounds, then stop.
    await new Promise((r) => setTimeout(r, 450));
    appendFileSync(p, '1020,1,HLT,0xffffffff81000030,7\n');
    await new Promise((r) => setTimeout(r, 450));
    ac.abort();
    await reading;
    expect(rips.map((x) => x.toString(16))).toEqual(['81000010', '81000020', '81000030']);
    expect(s.stats.events).toBe(3);
  });
});

describe('lines across buffers', () => {
  async function* parts(...bufs: Buffer[]): AsyncGenerator<Buffer> { for (const b of bufs) yield b; }
  async function split(bufs: Buffer[]) {
    const overlong: number[] = [];
    const s = new LineSplitter((l) => overlong.push(l));
    const lines: Array<[number, string]> = [];
    for await (const b of s.batches(parts(...bufs))) for (let k = 0; k < b.count; k++) lines.push([b.firstLine + k, b.buf.toString('latin1', b.bounds[2 * k], b.bounds[2 * k + 1])]);
    return { lines, overlong, total: s.lines };
  }

  it('a line carried through a buffer with no newline at all, into a third', async () => {
    const r = await split([Buffer.from('a\nbc'), Buffer.from('de'), Buffer.from('fg'), Buffer.from('h\ni\n')]);
    expect(r).toEqual({ lines: [[1, 'a'], [2, 'bcdefgh'], [3, 'i']], overlong: [], total: 3 });
  });

  it('a buffer whose tail past its last newline is over MAX_LINE_BYTES: that line is overlong, the next is read', async () => {
    const big = Buffer.concat([Buffer.from('a\n'), Buffer.alloc(MAX_LINE_BYTES + 10, 0x78)]);
    const r = await split([big, Buffer.from('yy\nz\n')]);
    expect(r).toEqual({ lines: [[1, 'a'], [3, 'z']], overlong: [2], total: 3 });
  });

  it('a line of exactly MAX_LINE_BYTES is a line, in one buffer or across two; one byte more is overlong', async () => {
    const line = (n: number) => Buffer.alloc(n, 0x78);
    const exact = Buffer.concat([Buffer.from('a\n'), line(MAX_LINE_BYTES), Buffer.from('\nb\n')]);
    const one = await split([exact]);
    expect(one.lines.map(([n, t]) => [n, t.length])).toEqual([[1, 1], [2, MAX_LINE_BYTES], [3, 1]]);
    const two = await split([exact.subarray(0, 1000), exact.subarray(1000)]);
    expect(two.lines.map(([n, t]) => [n, t.length])).toEqual([[1, 1], [2, MAX_LINE_BYTES], [3, 1]]);
    const over = Buffer.concat([Buffer.from('a\n'), line(MAX_LINE_BYTES + 1), Buffer.from('\nb\n')]);
    expect((await split([over])).overlong).toEqual([2]);
    expect((await split([over.subarray(0, 1000), over.subarray(1000)])).overlong).toEqual([2]);
  });

  it('an overlong last line without a newline at the end is reported at its number', async () => {
    const r = await split([Buffer.from('a\nb\n'), Buffer.alloc(MAX_LINE_BYTES / 2, 0x78), Buffer.alloc(MAX_LINE_BYTES / 2 + 5, 0x78)]);
    expect(r).toEqual({ lines: [[1, 'a'], [2, 'b']], overlong: [3], total: 3 });
  });
});
