/**
 * Exit-duration distribution with bounded memory.
 *
 * Exact while small: the first EXACT_LIMIT samples are kept and quantiles are
 * simple-statistics' quantileSorted over them. Past that the samples fold into a
 * log-linear histogram (HDR-style: 2^SUB_BITS linear buckets per power of two),
 * so a group costs at most a fixed few KiB however long the trace is, and a
 * quantile is off by at most 2^-SUB_BITS relative (< 0.8%). count, sum, min and
 * max stay exact in both modes. Sketches merge, so per-RIP groups can be rolled
 * up into functions afterwards.
 */
import { quantileSorted } from 'simple-statistics';

export const EXACT_LIMIT = 4096;
export const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
/** Buckets cover [0, 2^48) ns (78 hours); longer durations clamp into the top bucket. */
export const MAX_EXP = 48;
export const BUCKETS = (MAX_EXP - SUB_BITS + 1) * SUB;
/** Width of a bucket relative to its lower edge: the bound on a histogram percentile's error. */
export const RELATIVE_ERROR = 2 ** -SUB_BITS;

export function bucketOf(v: number): number {
  if (v < SUB) return v < 0 ? 0 : Math.floor(v);
  if (v < 2147483648) {
    // Whole ns below 2^31 (2.1 s): shifts instead of a division by a power of two.
    const x = v >>> 0;
    const shift = 31 - Math.clz32(x) - SUB_BITS;
    return (shift + 1) * SUB + (x >>> shift) - SUB;
  }
  const e = v < 4294967296 ? 31 - Math.clz32(v) : Math.min(Math.floor(Math.log2(v)), MAX_EXP - 1);
  const shift = e - SUB_BITS;
  const b = (shift + 1) * SUB + Math.floor(v / 2 ** shift) - SUB;
  return Math.min(b, BUCKETS - 1);
}

/** Lowest value of bucket b and its width. */
export function bucketLow(b: number): [number, number] {
  if (b < SUB) return [b, 1];
  const shift = Math.floor(b / SUB) - 1;
  const m = (b % SUB) + SUB;
  return [m * 2 ** shift, 2 ** shift];
}

export class DurationSketch {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  /** Welford's running mean and sum of squared deviations (for perf kvm stat's ±stddev%). */
  private wMean = 0;
  private m2 = 0;
  /** Exact samples; null until a second sample arrives (most groups of a long tail hold one). */
  private exact: Float64Array | null = null;
  private hist: Uint32Array | null = null;

  add(v: number): void {
    const n = this.count++;
    this.sum += v;
    const d = v - this.wMean;
    this.wMean += d / (n + 1);
    this.m2 += d * (v - this.wMean);
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (this.hist !== null) { this.hist[bucketOf(v)]++; return; }
    if (n === 0) return; // the lone sample is min (= max)
    if (this.exact === null) { this.exact = new Float64Array(8); this.exact[0] = this.min === v ? this.max : this.min; }
    if (n < EXACT_LIMIT) {
      if (n >= this.exact.length) {
        const e = new Float64Array(Math.min(this.exact.length * 4, EXACT_LIMIT));
        e.set(this.exact);
        this.exact = e;
      }
      this.exact[n] = v;
      return;
    }
    this.toHistogram(n);
    this.hist![bucketOf(v)]++;
  }

  /** Exact samples so far (the lone one lives in min). */
  private samples(): Float64Array {
    if (this.exact !== null) return this.exact.subarray(0, this.count);
    return this.count === 1 ? Float64Array.of(this.min) : new Float64Array(0);
  }

  private toHistogram(n: number): void {
    const s = this.samples().subarray(0, n);
    this.hist = new Uint32Array(BUCKETS);
    for (let i = 0; i < n; i++) this.hist[bucketOf(s[i])]++;
    this.exact = null;
  }

  get isExact(): boolean {
    return this.hist === null;
  }

  merge(o: DurationSketch): void {
    if (o.count === 0) return;
    if (o.hist === null) {
      const s = o.samples();
      for (let i = 0; i < s.length; i++) this.add(s[i]);
      return;
    }
    const before = this.count;
    if (this.hist === null) this.toHistogram(before);
    // Chan et al.'s pairwise update of the mean and squared deviations.
    const n = before + o.count, d = o.wMean - this.wMean;
    this.m2 += o.m2 + (d * d * before * o.count) / n;
    this.wMean += (d * o.count) / n;
    this.count += o.count;
    this.sum += o.sum;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
    for (let b = 0; b < BUCKETS; b++) this.hist![b] += o.hist[b];
  }

  /** Quantile p in [0,1]; NaN when empty. */
  quantile(p: number): number {
    if (this.count === 0) return NaN;
    if (this.hist === null) {
      if (this.count === 1) return this.min;
      const s = Array.from(this.samples()).sort((a, b) => a - b);
      return quantileSorted(s, p);
    }
    if (p <= 0) return this.min;
    if (p >= 1) return this.max;
    const rank = Math.ceil(p * this.count);
    let acc = 0;
    const h = this.hist!;
    for (let b = 0; b < BUCKETS; b++) {
      acc += h[b];
      if (acc >= rank) {
        const [low, width] = bucketLow(b);
        const mid = width === 1 ? low : low + width / 2;
        return Math.min(Math.max(mid, this.min), this.max);
      }
    }
    return this.max;
  }

  /** Population standard deviation; NaN when empty. */
  get stddev(): number {
    return this.count ? Math.sqrt(Math.max(0, this.m2 / this.count)) : NaN;
  }

  get mean(): number {
    return this.count ? this.sum / this.count : NaN;
  }
}
