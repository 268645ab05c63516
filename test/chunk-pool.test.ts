/**
 * Chunks handed back to their reader (ChunkPool) are refilled: they must come
 * back empty with zero columns, and a cache keyed by a chunk (the resolver's
 * per-chunk ids) must not mistake a refilled chunk for the one it saw.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChunkPool, ExitChunk, F_PORT } from '../src/model/chunk.js';
import { AddressResolver } from '../src/analyze/resolver.js';
import { symbolizerFromKallsyms } from '../src/symbols/index.js';
import { analyze } from '../src/analyze/index.js';
import { openTrace } from '../src/formats/index.js';
import { estimate } from '../src/replay/estimate.js';
import { parsePassSpec } from '../src/replay/pipeline.js';

const KALLSYMS = ['c0100000 T alpha', 'c0100100 T beta', 'c0100200 T gamma', 'c0100300 T _etext'].join('\n') + '\n';

describe('chunk pool', () => {
  it('a released chunk comes back empty, every column zero, with a new epoch', () => {
    const pool = new ChunkPool();
    const a = pool.take(8);
    const i = a.push(5, 1, 3, 0, 0xc0100010, 7);
    a.port[i] = 0x1f0; a.flags[i] |= F_PORT; a.msr[i] = 0x6e0; a.callerLo[i] = 0xc0100110;
    const epoch = a.epoch;
    pool.release(a);
    const b = pool.take(8);
    expect(b).toBe(a);
    expect(b.length).toBe(0);
    expect(b.epoch).toBe(epoch + 1);
    expect([b.ts[0], b.vcpu[0], b.reason[0], b.ripLo[0], b.port[0], b.flags[0], b.msr[0], b.callerLo[0]]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('keeps nothing while no reader takes from it, and a chunk of another size is not reused', () => {
    const pool = new ChunkPool();
    const a = new ExitChunk(8);
    pool.release(a); // nobody has taken yet: not kept
    expect(pool.take(8)).not.toBe(a);
    const b = pool.take(16);
    pool.release(b);
    expect(pool.take(8)).not.toBe(b);
  });

  it("the resolver's per-chunk ids follow a refilled chunk (same object, same length, other rows)", () => {
    const r = new AddressResolver(symbolizerFromKallsyms(KALLSYMS, 'test'), false);
    const pool = new ChunkPool();
    const c = pool.take(4);
    c.push(0, 0, 1, 0, 0xc0100010, 1); c.push(1, 0, 1, 0, 0xc0100110, 1);
    const first = Array.from(r.idsOf(c).subarray(0, 2));
    pool.release(c);
    const d = pool.take(4);
    expect(d).toBe(c);
    d.push(0, 0, 1, 0, 0xc0100210, 1); d.push(1, 0, 1, 0, 0xc0100010, 1);
    const second = [r.idAt(d, 0), r.idAt(d, 1)];
    expect(second[1]).toBe(first[0]);
    expect(second[0]).not.toBe(first[0]);
    expect(second[0]).not.toBe(first[1]);
    expect(r.label(second[0]).symbol).toBe('gamma');
  });

  it('analyze releasing chunks gives what it gives without (tiny chunks, so every chunk is refilled many times)', async () => {
    const path = 'traces/jbb.csv';
    const plain = await analyze({ inputs: [path], maps: ['traces/guest-2.6.27-i386.map'] });
    const s = await openTrace(path, { chunkRows: 64 });
    let released = 0;
    const counting = { ...s, release: (c: ExitChunk) => { released++; s.release!(c); } };
    const pooled = await analyze({ inputs: [counting], maps: ['traces/guest-2.6.27-i386.map'] });
    expect(released).toBeGreaterThan(100);
    expect(pooled.rows).toEqual(plain.rows);
    expect(pooled.totals).toEqual(plain.totals);
  });
});

describe('chunk pool and a stream read by several consumers', () => {
  it('a fanned-out stream gives its branches no release: one branch must not hand back a chunk the others still read', async () => {
    const { fanOut } = await import('../src/report/html/fanout.js');
    const s = await openTrace('traces/jbb.csv');
    expect(typeof s.release).toBe('function');
    expect(fanOut(s, 3).map((b) => b.release)).toEqual([undefined, undefined, undefined]);
  });

  it("the HTML report's branches (one reader, several consumers, one keeping the trace) see the exits analyze and estimate see alone, 64-row chunks", async () => {
    const { collectHtmlReport } = await import('../src/report/html/collect.js');
    const map = 'traces/guest-2.6.27-i386.map';
    const pass = [parsePassSpec('timer-hz:100')];
    // Six copies of the bundled trace one after another (~6.5 MB): read in several 1 MiB batches, so chunks handed back early
    // are refilled while the input is still being read.
    const [head, ...rows] = readFileSync('traces/jbb.csv', 'latin1').trimEnd().split('\n');
    const out = [head];
    for (let k = 0; k < 6; k++) for (const r of rows) { const c = r.indexOf(','); out.push(`${BigInt(r.slice(0, c)) + BigInt(k) * 3_000_000_000n}${r.slice(c)}`); }
    const f = join(mkdtempSync(join(tmpdir(), 'exitscope-fan-')), 'jbb6.csv');
    writeFileSync(f, out.join('\n') + '\n');
    const plain = await analyze({ inputs: [f], maps: [map], top: 0 });
    const alone = await estimate({ input: f, maps: [map], passes: pass, bootstrap: 0 });
    const rep = await collectHtmlReport({ inputs: [await openTrace(f, { chunkRows: 64 })], maps: [map], passes: pass, bootstrap: 0, top: 50 });
    expect(plain.totals.exits).toBe(6 * rows.length);
    expect(rep.totals).toEqual(plain.totals);
    expect(rep.functions.rows.map((r) => [r.key, r.count, r.timeNs])).toEqual(plain.rows.map((r) => [r.key, r.count, r.timeNs]));
    const [a, b] = [rep.estimate!.passes[0], alone.passes[0]];
    expect([a.exitsBefore, a.exitsAfter, a.exitTimeSavedNs]).toEqual([b.exitsBefore, b.exitsAfter, b.exitTimeSavedNs]);
  });
});
