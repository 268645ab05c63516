/**
 * Percentiles through `analyze` (issue 16), on rows below and above the exact-sample
 * cap (4,096 timed exits a row: README "Views", docs/fleet.md), against values
 * computed here from the durations the test itself wrote:
 * - exact rows: numpy's 'linear' quantile (type 7), the documented method:
 *   h = (n - 1) p, x[floor h] + (h - floor h) (x[ceil h] - x[floor h]);
 * - histogram rows: within 2^-7 relative of the exact value (the documented
 *   bound), and, more tightly, the centre of the log-linear bucket (128 linear
 *   buckets per power of two, whole-ns buckets below 128) holding the
 *   ceil(p n)-th smallest duration, clamped to [min, max]: the centre is what
 *   keeps a histogram percentile within half a bucket of every value the bucket
 *   holds.
 * min, max, count and mean are exact in both modes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, DurationSketch, type AnalyzeReport } from '../src/analyze/index.js';

const CAP = 4096;
const BOUND = 2 ** -7;

/** A deterministic generator (Park–Miller), so the rows are the same on every run. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 48271) % 2147483647) / 2147483647;
}

/** Linear interpolation between order statistics (numpy 'linear', R type 7). */
function type7(sorted: readonly number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h), hi = Math.ceil(h);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** [low, width) of the bucket of a whole-ns duration: width 1 below 128, else 2^(e-7) inside [2^e, 2^(e+1)). */
function bucket(v: number): [number, number] {
  if (v < 128) return [v, 1];
  let e = 7;
  while (2 ** (e + 1) <= v) e++;
  const width = 2 ** (e - 7);
  return [Math.floor(v / width) * width, width];
}

/** The histogram estimate of quantile p: the centre of the bucket of the ceil(p n)-th smallest, inside [min, max]. */
function histogramEstimate(sorted: readonly number[], p: number): number {
  const x = sorted[Math.ceil(p * sorted.length) - 1];
  const [low, width] = bucket(x);
  const centre = width === 1 ? low : low + width / 2;
  return Math.min(Math.max(centre, sorted[0]), sorted[sorted.length - 1]);
}

interface Row { vcpu: number; reasons: string[]; n: number; gen: () => number }

describe('percentiles through analyze, exact and histogram rows', () => {
  const rnd = lcg(20260101);
  const int = (lo: number, hi: number) => () => lo + Math.floor(rnd() * (hi - lo));
  // One row per vcpu; a row of two reasons is two cells merged into the row.
  const ROWS: Row[] = [
    { vcpu: 0, reasons: ['IO_INSTRUCTION'], n: 3, gen: int(1000, 9000) },
    { vcpu: 1, reasons: ['IO_INSTRUCTION'], n: 4, gen: int(1000, 9000) },
    { vcpu: 2, reasons: ['IO_INSTRUCTION'], n: 3000, gen: int(100_000, 200_000) },
    { vcpu: 3, reasons: ['IO_INSTRUCTION'], n: CAP, gen: int(100_000, 200_000) },
    { vcpu: 4, reasons: ['IO_INSTRUCTION'], n: CAP + 1, gen: int(100_000, 200_000) },
    { vcpu: 5, reasons: ['IO_INSTRUCTION'], n: 6000, gen: int(100_000, 200_000) },
    { vcpu: 6, reasons: ['IO_INSTRUCTION', 'MSR_WRITE'], n: 2 * 2500, gen: int(100_000, 200_000) },
    { vcpu: 7, reasons: ['IO_INSTRUCTION', 'MSR_WRITE'], n: 2 * 4200, gen: int(100_000, 200_000) },
    { vcpu: 8, reasons: ['IO_INSTRUCTION'], n: 5000, gen: int(0, 300) },
    { vcpu: 9, reasons: ['IO_INSTRUCTION'], n: 5000, gen: int(2 ** 31, 2 ** 33) },
    // Below 128 ns every bucket is one whole ns: the percentile is the order statistic itself.
    { vcpu: 10, reasons: ['IO_INSTRUCTION'], n: 5000, gen: int(0, 100) },
  ];
  const durations = new Map<number, number[]>();
  let csv = '';
  // Each test runs analyze itself: work done in beforeAll is no test's, and under per-test
  // coverage (npm run mutate) no mutant it reaches would be checked by these assertions.
  const report = (): Promise<AnalyzeReport> => analyze({ inputs: [csv], by: 'vcpu', top: 0 });

  beforeAll(() => {
    const lines = ['ts_ns,vcpu,reason,rip,duration_ns'];
    let ts = 1_000_000;
    for (const r of ROWS) {
      const d: number[] = [];
      for (let i = 0; i < r.n; i++) {
        const v = r.gen();
        d.push(v);
        lines.push(`${ts},${r.vcpu},${r.reasons[i % r.reasons.length]},0xc0100000,${v}`);
        ts += 10;
      }
      durations.set(r.vcpu, d.sort((a, b) => a - b));
    }
    csv = join(mkdtempSync(join(tmpdir(), 'exitscope-pct-')), 'pct.csv');
    writeFileSync(csv, lines.join('\n') + '\n');
  });

  const rowIn = (rep: AnalyzeReport) => (vcpu: number) => rep.rows.find((r) => r.key === `vcpu ${vcpu}`)!;

  it('count, min, max and mean are exact in both modes', async () => {
    const rowOf = rowIn(await report());
    for (const r of ROWS) {
      const d = durations.get(r.vcpu)!;
      const row = rowOf(r.vcpu);
      expect([row.count, row.timed, row.minNs, row.maxNs], `vcpu ${r.vcpu}`).toEqual([r.n, r.n, d[0], d[d.length - 1]]);
      expect(row.meanNs, `vcpu ${r.vcpu}`).toBeCloseTo(d.reduce((s, x) => s + x, 0) / r.n, 3);
    }
  });

  it('rows of up to 4,096 timed exits give the exact linear-interpolation percentile', async () => {
    const rowOf = rowIn(await report());
    for (const r of ROWS.filter((x) => x.n <= CAP && x.reasons.length === 1)) {
      const d = durations.get(r.vcpu)!;
      const row = rowOf(r.vcpu);
      expect(row.p50Ns, `vcpu ${r.vcpu} p50`).toBeCloseTo(type7(d, 0.5), 6);
      expect(row.p99Ns, `vcpu ${r.vcpu} p99`).toBeCloseTo(type7(d, 0.99), 6);
    }
    // Three samples: the middle one; four: halfway between the middle two.
    const three = durations.get(0)!, four = durations.get(1)!;
    expect(rowOf(0).p50Ns).toBe(three[1]);
    expect(rowOf(1).p50Ns).toBe((four[1] + four[2]) / 2);
  });

  it('past the cap (one cell or merged cells), a percentile is within the documented 2^-7 of the exact value', async () => {
    const rowOf = rowIn(await report());
    const past = ROWS.filter((x) => x.n > CAP);
    expect(past.map((r) => r.vcpu)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    for (const r of past) {
      const d = durations.get(r.vcpu)!;
      const row = rowOf(r.vcpu);
      for (const [p, got] of [[0.5, row.p50Ns!], [0.99, row.p99Ns!]] as const) {
        const exact = type7(d, p);
        expect(Math.abs(got - exact) / exact, `vcpu ${r.vcpu} p${p * 100}: ${got} vs ${exact}`).toBeLessThan(BOUND);
      }
    }
  });

  it('past the cap, a percentile is the centre of its bucket: within half a bucket of the order statistic', async () => {
    const rowOf = rowIn(await report());
    for (const r of ROWS.filter((x) => x.n > CAP)) {
      const d = durations.get(r.vcpu)!;
      const row = rowOf(r.vcpu);
      expect(row.p50Ns, `vcpu ${r.vcpu} p50`).toBe(histogramEstimate(d, 0.5));
      expect(row.p99Ns, `vcpu ${r.vcpu} p99`).toBe(histogramEstimate(d, 0.99));
      const x = d[Math.ceil(0.5 * d.length) - 1];
      expect(Math.abs(row.p50Ns! - x)).toBeLessThanOrEqual(bucket(x)[1] / 2);
    }
    const small = durations.get(10)!;
    expect([rowOf(10).p50Ns, rowOf(10).p99Ns]).toEqual([small[2500 - 1], small[4950 - 1]]);
  });
});

describe('the sketch at its edges', () => {
  const big = (): { s: DurationSketch; xs: number[] } => {
    const rnd = lcg(99);
    const s = new DurationSketch(), xs: number[] = [];
    for (let i = 0; i < 5000; i++) { const v = 1000 + Math.floor(rnd() * 1e6); xs.push(v); s.add(v); }
    return { s, xs: xs.sort((a, b) => a - b) };
  };

  it('an empty sketch has no quantile, no mean and no spread (NaN, as documented)', () => {
    const e = new DurationSketch();
    expect([e.quantile(0.5), e.mean, e.stddev, e.count]).toEqual([NaN, NaN, NaN, 0]);
    // Merging an empty sketch changes nothing.
    const { s } = big();
    const before = [s.count, s.sum, s.min, s.max, s.quantile(0.5)];
    s.merge(new DurationSketch());
    expect([s.count, s.sum, s.min, s.max, s.quantile(0.5)]).toEqual(before);
  });

  it('past the cap, quantile 0 and 1 are the exact min and max, not a bucket', () => {
    const { s, xs } = big();
    expect(s.isExact).toBe(false);
    expect([s.quantile(0), s.quantile(1), s.min, s.max]).toEqual([xs[0], xs[xs.length - 1], xs[0], xs[xs.length - 1]]);
  });

  it('a one-sample sketch merged with a histogram keeps its sample (the median moves by it)', () => {
    // 2,048 exits of 1,000 ns and 2,049 of 5,000 (past the cap), plus one of 1 ns merged in first:
    // of 4,098 the 2,049th smallest is the last 1,000; without the lone sample it would be a 5,000.
    const lone = new DurationSketch();
    lone.add(1);
    const h = new DurationSketch();
    for (let i = 0; i < 2048; i++) h.add(1000);
    for (let i = 0; i < 2049; i++) h.add(5000);
    expect(h.isExact).toBe(false);
    lone.merge(h);
    expect([lone.count, lone.min, lone.max, lone.sum]).toEqual([4098, 1, 5000, 1 + 2048 * 1000 + 2049 * 5000]);
    expect(lone.quantile(0.5)).toBe(bucketCentre(1000));
  });

  it('merging histograms keeps the smaller min and the larger max, whichever side holds them', () => {
    const lo = new DurationSketch(), hi = new DurationSketch();
    for (let i = 0; i < 4100; i++) { lo.add(100 + i); hi.add(50_000 + i); }
    const a = new DurationSketch(); a.merge(hi); a.merge(lo);
    const b = new DurationSketch(); b.merge(lo); b.merge(hi);
    for (const m of [a, b]) expect([m.count, m.min, m.max]).toEqual([8200, 100, 50_000 + 4099]);
  });
});

/** The centre of the bucket of a whole-ns value (as in histogramEstimate). */
function bucketCentre(v: number): number {
  const [low, width] = bucket(v);
  return width === 1 ? low : low + width / 2;
}
