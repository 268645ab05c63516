import { quantileSorted } from 'simple-statistics';
import { describe, expect, it } from 'vitest';
import { DurationSketch, EXACT_LIMIT } from '../src/analyze/duration-sketch.js';

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

describe('duration sketch', () => {
  it('is exact (simple-statistics quantiles) up to its limit, including the one-sample case', () => {
    const one = new DurationSketch();
    one.add(42);
    expect([one.quantile(0.5), one.quantile(0.99), one.max, one.mean]).toEqual([42, 42, 42, 42]);
    const r = lcg(1);
    const s = new DurationSketch();
    const xs: number[] = [];
    for (let i = 0; i < 1000; i++) { const v = Math.round(100 + r() * 1e5); xs.push(v); s.add(v); }
    xs.sort((a, b) => a - b);
    expect(s.isExact).toBe(true);
    expect(s.quantile(0.5)).toBe(quantileSorted(xs, 0.5));
    expect(s.quantile(0.99)).toBe(quantileSorted(xs, 0.99));
  });

  it('keeps quantiles within 1% on long heavy-tailed samples, and merges', () => {
    const r = lcg(7);
    const a = new DurationSketch(), b = new DurationSketch();
    const xs: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      const v = Math.round(500 * Math.exp(r() * 8)); // 500 ns .. 1.5 ms, log-uniform
      xs.push(v);
      (i % 3 ? a : b).add(v);
    }
    a.merge(b);
    expect(a.isExact).toBe(false);
    expect(a.count).toBe(50_000);
    xs.sort((x, y) => x - y);
    for (const p of [0.5, 0.9, 0.99]) {
      const want = xs[Math.ceil(p * xs.length) - 1];
      expect(Math.abs(a.quantile(p) - want) / want).toBeLessThan(0.01);
    }
    expect(a.max).toBe(xs[xs.length - 1]);
    expect(a.sum).toBe(xs.reduce((x, y) => x + y, 0));
    expect(EXACT_LIMIT).toBeLessThan(50_000);
  });
});
