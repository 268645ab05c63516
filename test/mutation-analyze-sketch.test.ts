/**
 * The exit-duration sketch (src/analyze/duration-sketch.ts, issue 16): bucket
 * edges, the switch from exact samples to the histogram, the histogram's
 * documented error bound, exact min/max, and the pairwise merge of the
 * standard deviation. Every expected value is worked out by hand in the
 * comments from the samples, never read back from the sketch.
 */
import { describe, expect, it } from 'vitest';
import { BUCKETS, bucketLow, bucketOf, DurationSketch, EXACT_LIMIT, MAX_EXP, RELATIVE_ERROR, SUB_BITS } from '../src/analyze/duration-sketch.js';

/** A sketch of `n` copies of `v` (then `more`). */
function sketch(n: number, v: number, ...more: number[]): DurationSketch {
  const s = new DurationSketch();
  for (let i = 0; i < n; i++) s.add(v);
  for (const x of more) s.add(x);
  return s;
}

describe('buckets', () => {
  it('the constants are what the module documents: 128 linear buckets per power of two, up to 2^48 ns', () => {
    // 2^SUB_BITS = 128 sub-buckets; exponents 7..48 give (48 - 7 + 1) x 128 = 5,376 buckets; error 1/128.
    expect([SUB_BITS, MAX_EXP, BUCKETS, RELATIVE_ERROR]).toEqual([7, 48, 5376, 1 / 128]);
  });

  it('values below 128 ns have a bucket each; a negative duration (a clock step) goes to bucket 0', () => {
    expect([bucketOf(0), bucketOf(1), bucketOf(127), bucketOf(127.9)]).toEqual([0, 1, 127, 127]);
    expect([bucketOf(-5), bucketOf(-0.5), bucketOf(-1e12)]).toEqual([0, 0, 0]);
    expect(bucketLow(127)).toEqual([127, 1]);
  });

  it('edges worked by hand: b = (shift + 1) x 128 + floor(v / 2^shift) - 128, shift = floor(log2 v) - 7', () => {
    // 128: shift 0 -> 128 + 128 - 128 = 128. 1000: log2 -> 9, shift 2, 1000 >> 2 = 250 -> 384 + 250 - 128 = 506.
    expect([bucketOf(128), bucketOf(1000), bucketOf(1003), bucketOf(1004)]).toEqual([128, 506, 506, 507]);
    expect(bucketLow(506)).toEqual([1000, 4]);
    // 2^31 - 1: shift 23, floor = 255 -> 24 x 128 + 255 - 128 = 3199; 2^31: shift 24, 128 -> 25 x 128 = 3200.
    expect([bucketOf(2 ** 31 - 1), bucketOf(2 ** 31)]).toEqual([3199, 3200]);
    // 2^32 - 1: shift 24, floor = 255 -> 3200 + 127 = 3327. 2^32 (past the clz32 range): shift 25, 128 -> 26 x 128 = 3328.
    expect([bucketOf(2 ** 32 - 1), bucketOf(2 ** 32), bucketOf(2 ** 32 + 2 ** 25)]).toEqual([3327, 3328, 3329]);
    expect(bucketLow(3328)).toEqual([2 ** 32, 2 ** 25]);
    expect(bucketLow(3327)).toEqual([255 * 2 ** 24, 2 ** 24]);
  });

  it('durations of 2^48 ns and more clamp into the top bucket, [255 x 2^40, 2^48)', () => {
    // 2^48 - 1: shift 40, floor = 255 -> 41 x 128 + 127 = 5375 = BUCKETS - 1.
    expect(bucketOf(2 ** 48 - 1)).toBe(5375);
    for (const v of [2 ** 48, 2 ** 49, 2 ** 60, Number.MAX_SAFE_INTEGER]) expect(bucketOf(v)).toBe(BUCKETS - 1);
    expect(bucketLow(BUCKETS - 1)).toEqual([255 * 2 ** 40, 2 ** 40]);
  });

  it('every value lies in its bucket, whose width is at most 1/128 of its lower edge', () => {
    const vs = [128, 129, 255, 256, 257, 999, 4095, 4096, 65_537, 1_000_003, 123_456_789, 2 ** 31 - 7, 2 ** 31 + 5, 3e9, 2 ** 32 + 1, 1e12, 2 ** 47 + 3];
    for (const v of vs) {
      const [low, width] = bucketLow(bucketOf(v));
      expect(low <= v && v < low + width, `${v} in [${low}, ${low + width})`).toBe(true);
      expect(width / low).toBeLessThanOrEqual(RELATIVE_ERROR);
    }
  });
});

describe('exact mode (up to EXACT_LIMIT samples)', () => {
  it('a second sample below the first keeps both: median of {10, 5} is 7.5', () => {
    const s = sketch(0, 0, 10, 5);
    expect([s.count, s.min, s.max, s.quantile(0.5), s.mean]).toEqual([2, 5, 10, 7.5, 7.5]);
    // {10, 5, 20}: sorted 5, 10, 20, median 10; p=1 is the max.
    const t = sketch(0, 0, 10, 5, 20);
    expect([t.quantile(0.5), t.quantile(1), t.quantile(0)]).toEqual([10, 20, 5]);
    // And above the first: {10, 30}: median 20.
    expect(sketch(0, 0, 10, 30).quantile(0.5)).toBe(20);
  });

  it('an empty sketch says NaN, one sample is every quantile', () => {
    const e = new DurationSketch();
    expect([e.quantile(0.5), e.mean, e.stddev, e.count]).toEqual([NaN, NaN, NaN, 0]);
    const one = sketch(0, 0, 42);
    expect([one.quantile(0), one.quantile(0.5), one.quantile(1), one.stddev]).toEqual([42, 42, 42, 0]);
  });

  it('grows past its first buffers: 100 samples 1..100 (added high to low) have median 50.5', () => {
    const s = new DurationSketch();
    for (let v = 100; v >= 1; v--) s.add(v);
    // Population variance of 1..100 = (100^2 - 1) / 12 = 833.25.
    expect([s.isExact, s.count, s.min, s.max, s.quantile(0.5), s.sum]).toEqual([true, 100, 1, 100, 50.5, 5050]);
    expect(s.stddev).toBeCloseTo(Math.sqrt(833.25), 9);
  });
});

describe('histogram mode (past EXACT_LIMIT samples)', () => {
  it('the sample that overflows the exact buffer is counted, not subtracted: 4,096 x 1,000 ns then one 100 ns', () => {
    const s = sketch(EXACT_LIMIT, 1000, 100);
    expect([s.isExact, s.count, s.min, s.max, s.sum]).toEqual([false, 4097, 100, 1000, 4096 * 1000 + 100]);
    // The true median (rank 2,049 of 4,097) is 1,000: the sketch is within 1/128 of it.
    expect(Math.abs(s.quantile(0.5) - 1000) / 1000).toBeLessThanOrEqual(RELATIVE_ERROR);
    // Rank ceil(0.0001 x 4097) = 1 is the 100 ns sample (below 128 ns a bucket is 1 ns wide: exact).
    expect(s.quantile(0.0001)).toBe(100);
  });

  it('p = 1 is the exact max and p = 0 the exact min, not a bucket midpoint', () => {
    // 4,096 x 1,000 and one 1,003: both in the bucket [1000, 1004) whose midpoint is 1,002.
    const s = sketch(EXACT_LIMIT, 1000, 1003);
    expect(s.isExact).toBe(false);
    expect([s.quantile(1), s.quantile(0), s.max, s.min]).toEqual([1003, 1000, 1003, 1000]);
    expect(s.quantile(1.5)).toBe(1003);
    expect(s.quantile(-1)).toBe(1000);
  });

  it('a negative duration counts below every other sample', () => {
    // 4,096 x 1,000 and one -5: rank 1 is the -5, which lands in bucket 0 (reported as 0, clamped to [min, max]).
    const s = sketch(EXACT_LIMIT, 1000, -5);
    expect(s.min).toBe(-5);
    expect(s.quantile(0.0001)).toBeLessThan(1000);
  });

  it('quantiles stay within the documented 1/128 of the exact order statistic', () => {
    // 5,000 samples: k x 37 ns for k = 1..5000 (37 .. 185,000 ns). The exact p-quantile is sample ceil(p x 5000).
    const s = new DurationSketch();
    for (let k = 5000; k >= 1; k--) s.add(k * 37);
    expect(s.isExact).toBe(false);
    for (const p of [0.01, 0.25, 0.5, 0.9, 0.99, 0.999]) {
      const exact = Math.ceil(p * 5000) * 37;
      expect(Math.abs(s.quantile(p) - exact) / exact, `p${p}`).toBeLessThanOrEqual(RELATIVE_ERROR);
    }
  });
});

describe('merge', () => {
  it('two histograms: mean 200, population stddev 100 (every sample is 100 from the mean)', () => {
    const a = sketch(5000, 100), b = sketch(5000, 300);
    expect([a.isExact, b.isExact]).toEqual([false, false]);
    expect([a.stddev, b.stddev]).toEqual([0, 0]);
    a.merge(b);
    expect([a.count, a.sum, a.min, a.max, a.mean]).toEqual([10_000, 2_000_000, 100, 300, 200]);
    expect(a.stddev).toBeCloseTo(100, 9);
    // Then one sample at the mean (200): the squared deviations stay 10,000 x 100^2 = 1e8, over 10,001 samples.
    a.add(200);
    expect(a.stddev).toBeCloseTo(Math.sqrt(1e8 / 10_001), 9);
    // The median of 5,000 x 100, 5,000 x 300 and one 200 is the 200 (rank 5,001): within 1/128.
    expect(Math.abs(a.quantile(0.5) - 200) / 200).toBeLessThanOrEqual(RELATIVE_ERROR);
  });

  it('unequal sizes: 6,000 x 100 and 4,500 x 800 merged, then a third histogram of 5,000 x 450', () => {
    // n = 10,500; mean = (600,000 + 3,600,000) / 10,500 = 400; squared deviations 6,000 x 300^2 + 4,500 x 400^2 = 1.26e9.
    const a = sketch(6000, 100), b = sketch(4500, 800);
    a.merge(b);
    expect(a.mean).toBe(400);
    expect(a.stddev).toBeCloseTo(Math.sqrt(1.26e9 / 10_500), 9);
    // Add 5,000 x 450: mean (4,200,000 + 2,250,000) / 15,500 = 416.129...; squared deviations about that mean, by hand:
    const c = sketch(5000, 450);
    a.merge(c);
    const mean = 6_450_000 / 15_500;
    const ss = 6000 * (100 - mean) ** 2 + 4500 * (800 - mean) ** 2 + 5000 * (450 - mean) ** 2;
    expect(a.count).toBe(15_500);
    expect(a.stddev).toBeCloseTo(Math.sqrt(ss / 15_500), 6);
  });

  it('an exact sketch merged with a histogram becomes one, counts and extremes exact', () => {
    // 3 exact samples {50, 60, 70} + 4,100 x 1,000.
    const a = sketch(0, 0, 50, 60, 70), b = sketch(4100, 1000);
    a.merge(b);
    expect([a.isExact, a.count, a.min, a.max, a.sum]).toEqual([false, 4103, 50, 1000, 180 + 4_100_000]);
    // Rank ceil(0.0005 x 4103) = 3 is the 70 (below 128: a bucket per ns).
    expect(a.quantile(0.0005)).toBe(70);
    // Merging an empty sketch changes nothing.
    a.merge(new DurationSketch());
    expect([a.count, a.sum]).toEqual([4103, 180 + 4_100_000]);
  });
});
