/**
 * The replay's trace (src/replay/trace.ts): per-vcpu chunks in time order,
 * derived traces that reuse released chunks, the time-ordered chunks of
 * `replay -o`, and the guest gap between two exits. Expected values are the
 * rows built here, in the order the rules in trace.ts's comments put them.
 */
import { describe, expect, it } from 'vitest';
import { ExitChunk, ExitTrace } from '../src/model/chunk.js';
import { gapAfter, ReplayTrace } from '../src/replay/trace.js';

/** An input chunk of [ts, vcpu, dur] rows, in the given order (base 1000n). */
function input(list: Array<[number, number, number?]>, base = 1000n): ExitTrace {
  const t = new ExitTrace(base, new Set(['port']));
  const c = new ExitChunk(list.length, base);
  list.forEach(([ts, v, d], k) => { const i = c.push(ts, v, 1, 0, k, d ?? 100); c.port[i] = k; });
  t.chunks.push(c);
  return t;
}
/** [ts, port] of a chunk's rows (port: the input row's index). */
const rowsOf = (c: ExitChunk) => Array.from({ length: c.length }, (_, i) => [c.ts[i], c.port[i]]);

describe('ReplayTrace.from', () => {
  it('one chunk per vcpu, vcpus in ascending order, each in time order (ties in input order), base and columns kept', () => {
    // vcpu 2 first in the input; vcpu 0's rows out of order, two at the same time.
    const t = ReplayTrace.from(input([[50, 2], [30, 0], [10, 0], [30, 0], [20, 1], [5, 0]]));
    expect([...t.vcpus.keys()]).toEqual([0, 1, 2]);
    expect(rowsOf(t.vcpus.get(0)!)).toEqual([[5, 5], [10, 2], [30, 1], [30, 3]]);
    expect(rowsOf(t.vcpus.get(1)!)).toEqual([[20, 4]]);
    expect(rowsOf(t.vcpus.get(2)!)).toEqual([[50, 0]]);
    expect([t.length, t.tsBaseNs, [...t.columns]]).toEqual([6, 1000n, ['port']]);
  });

  it('long runs of one vcpu (more than 8 rows) and short ones end up the same; a chunk already in order is kept as built', () => {
    const list: Array<[number, number]> = [];
    for (let k = 0; k < 9; k++) list.push([k * 10, 0]);
    for (let k = 0; k < 8; k++) list.push([k * 10 + 5, 1]);
    list.push([1000, 0], [1005, 1]);
    for (let k = 0; k < 9; k++) list.push([2000 + k, 1]);
    const t = ReplayTrace.from(input(list));
    expect(rowsOf(t.vcpus.get(0)!)).toEqual([...Array.from({ length: 9 }, (_, k) => [k * 10, k]), [1000, 17]]);
    expect(rowsOf(t.vcpus.get(1)!)).toEqual([...Array.from({ length: 8 }, (_, k) => [k * 10 + 5, 9 + k]), [1005, 18], ...Array.from({ length: 9 }, (_, k) => [2000 + k, 19 + k])]);
    expect(t.vcpus.get(1)!.capacity).toBe(18);
    const e = ReplayTrace.from(new ExitTrace(0n, new Set()));
    expect([e.length, e.vcpus.size]).toEqual([0, 0]);
  });
});

describe('derive and release', () => {
  it('derive builds each vcpu into a chunk of the asked size; after release the family reuses the freed chunks, smallest that fits first', () => {
    const t = ReplayTrace.from(input([[1, 0], [2, 0], [3, 1]]));
    const sizes: number[] = [];
    const d = t.derive((v, src, out) => { sizes.push(out.capacity); for (let i = 0; i < src.length; i++) out.copyRow(src, i); if (v === 1) out.copyRow(src, 0); }, (n) => n * 3);
    expect(sizes).toEqual([6, 3]);
    expect([d.length, d.tsBaseNs, d.columns]).toEqual([4, 1000n, t.columns]);
    expect(rowsOf(d.vcpus.get(1)!)).toEqual([[3, 2], [3, 2]]);
    const [c0, c1] = [d.vcpus.get(0)!, d.vcpus.get(1)!];
    const epoch = c1.epoch;
    d.release();
    expect([d.length, d.vcpus.size]).toEqual([0, 0]);
    d.release();
    expect(() => d.derive(() => {})).toThrow('ReplayTrace used after release');
    // Freed: 6 rows (vcpu 0's) and 3 (vcpu 1's). Asked: 2 rows for vcpu 0, which takes the smallest that holds them (3), then 1.
    const e = t.derive((_v, src, out) => { for (let i = 0; i < src.length; i++) out.copyRow(src, i); });
    expect(e.vcpus.get(0)).toBe(c1);
    expect(e.vcpus.get(1)).toBe(c0);
    expect([c1.epoch, c1.length, c1.tsBaseNs]).toEqual([epoch + 1, 2, 1000n]);
    expect(rowsOf(e.vcpus.get(0)!)).toEqual([[1, 0], [2, 1]]);
    // None freed fits: a new chunk (at least one row).
    e.release();
    const f = t.derive(() => {}, () => 100);
    expect([f.vcpus.get(0)!.capacity, f.vcpus.get(0) === c0 || f.vcpus.get(0) === c1]).toEqual([100, false]);
    const g = f.derive(() => {}, () => 0);
    expect(g.vcpus.get(0)!.capacity).toBeGreaterThanOrEqual(1);
    // The original trace is never released by its derivatives.
    expect(t.length).toBe(3);
  });

  it('a family keeps at most 64 free chunks', () => {
    const t = ReplayTrace.from(input(Array.from({ length: 70 }, (_, v) => [v, v] as [number, number])));
    const big = t.derive(() => {}, () => 7);
    const chunks = new Set([...big.vcpus.values()]);
    big.release();
    const again = t.derive(() => {}, () => 7);
    const reused = [...again.vcpus.values()].filter((c) => chunks.has(c)).length;
    expect(reused).toBe(64);
  });
});

describe('chunks() and gapAfter', () => {
  it('all exits in time order across vcpus, in chunks of the asked size (the earlier vcpu first on a tie)', () => {
    const t = ReplayTrace.from(input([[10, 1], [10, 0], [5, 1], [30, 0], [20, 1]]));
    const out = [...t.chunks(2)];
    expect(out.map((c) => c.length)).toEqual([2, 2, 1]);
    expect(out.flatMap(rowsOf)).toEqual([[5, 2], [10, 1], [10, 0], [20, 4], [30, 3]]);
    expect(out.every((c) => c.tsBaseNs === 1000n)).toBe(true);
    expect([...t.chunks(5)].map((c) => c.length)).toEqual([5]);
    expect([...t.chunks()].map((c) => c.capacity)).toEqual([65536]);
    expect([...ReplayTrace.from(new ExitTrace(0n, new Set())).chunks()]).toEqual([]);
  });

  it('the gap after a row: the next exit less this one\'s end, its duration 0 when unknown; none after the last', () => {
    const c = ReplayTrace.from(input([[100, 0, 30], [200, 0, NaN], [250, 0, 10]])).vcpus.get(0)!;
    expect([gapAfter(c, 0), gapAfter(c, 1), gapAfter(c, 2)]).toEqual([70, 50, NaN]);
  });
});
