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
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
/** Buckets cover [0, 2^48) ns (78 hours); longer durations clamp into the top bucket. */
const MAX_EXP = 48;
const BUCKETS = (MAX_EXP - SUB_BITS + 1) * SUB;

function bucketOf(v: number): number {
  if (v < SUB) return v < 0 ? 0 : Math.floor(v);
  const e = Math.min(Math.floor(Math.log2(v)), MAX_EXP - 1);
  const shift = e - SUB_BITS;
  const b = (shift + 1) * SUB + Math.floor(v / 2 ** shift) - SUB;
  return Math.min(b, BUCKETS - 1);
}

/** Lowest value of bucket b and its width. */
function bucketLow(b: number): [number, number] {
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
  private exact: Float64Array | null = new Float64Array(16);
  private hist: Uint32Array | null = null;

  add(v: number): void {
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (this.exact !== null) {
      const n = this.count - 1;
      if (n < EXACT_LIMIT) {
        if (n >= this.exact.length) {
          const e = new Float64Array(Math.min(this.exact.length * 2, EXACT_LIMIT));
          e.set(this.exact);
          this.exact = e;
        }
        this.exact[n] = v;
        return;
      }
      this.toHistogram(this.count - 1);
    }
    this.hist![bucketOf(v)]++;
  }

  private toHistogram(n: number): void {
    this.hist = new Uint32Array(BUCKETS);
    for (let i = 0; i < n; i++) this.hist[bucketOf(this.exact![i])]++;
    this.exact = null;
  }

  get isExact(): boolean {
    return this.exact !== null;
  }

  merge(o: DurationSketch): void {
    if (o.count === 0) return;
    const before = this.count;
    this.count += o.count;
    this.sum += o.sum;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
    if (this.exact !== null && o.exact !== null && this.count <= EXACT_LIMIT) {
      if (this.exact.length < this.count) {
        const e = new Float64Array(Math.max(this.count, 16));
        e.set(this.exact.subarray(0, before));
        this.exact = e;
      }
      this.exact.set(o.exact.subarray(0, o.count), before);
      return;
    }
    if (this.exact !== null) this.toHistogram(before);
    if (o.exact !== null) for (let i = 0; i < o.count; i++) this.hist![bucketOf(o.exact[i])]++;
    else for (let b = 0; b < BUCKETS; b++) this.hist![b] += o.hist![b];
  }

  /** Quantile p in [0,1]; NaN when empty. */
  quantile(p: number): number {
    if (this.count === 0) return NaN;
    if (this.exact !== null) {
      const s = Array.from(this.exact.subarray(0, this.count)).sort((a, b) => a - b);
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

  get mean(): number {
    return this.count ? this.sum / this.count : NaN;
  }
}
