/**
 * Duration distributions that merge exactly across hosts: the same rule and
 * the same log-linear buckets as analyze's DurationSketch
 * (src/analyze/duration-sketch.ts), in a form that serializes to JSON and
 * merges without a trace.
 *
 * - Exact while small: up to EXACT_LIMIT timed exits the samples themselves
 *   (sorted), so percentiles are simple-statistics' quantileSorted, as in
 *   analyze.
 * - Past that a histogram with 2^7 linear buckets per power of two (a bucket
 *   is at most 2^-7 = 0.78% of its lower edge wide; a percentile is the
 *   bucket's midpoint clamped to [min, max]), kept sparse.
 *
 * Whether a distribution is exact depends only on how many samples it holds
 * (exact iff timed <= EXACT_LIMIT), never on the order they arrived or were
 * merged in, so merge is commutative and associative on everything but the
 * stddev's float rounding: count, timed, min, max, samples and bucket counts
 * exactly; sums exactly while every duration is a whole number of ns (every
 * reader gives whole ns) and a sum stays below 2^53 ns (104 days of exit time
 * in one cell).
 *
 * The buckets are analyze's own (duration-sketch.ts), so summaries and
 * analyze agree bucket for bucket.
 */
import { quantileSorted } from 'simple-statistics';
import { z } from 'zod';
import { BUCKETS, EXACT_LIMIT, MAX_EXP, RELATIVE_ERROR, SUB_BITS, bucketLow, bucketOf } from '../analyze/duration-sketch.js';

export { BUCKETS, EXACT_LIMIT, RELATIVE_ERROR, SUB_BITS, bucketLow, bucketOf };

/** The parameters a summary records; summaries with other parameters do not merge. */
export const SKETCH_PARAMS = { kind: 'log-linear', exactLimit: EXACT_LIMIT, subBucketBits: SUB_BITS, maxExponent: MAX_EXP, relativeError: RELATIVE_ERROR } as const;

const Count = z.number().int().nonnegative();

/**
 * One cell's exits and their durations. `count` counts every exit, `timed`
 * those with a known duration; exactly one of `samples` (timed <= exactLimit)
 * and `buckets` (past it) is present.
 */
export const DistSchema = z.object({
  count: Count.describe('Exits'),
  timed: Count.describe('Exits with a known duration'),
  sumNs: z.number().nonnegative(),
  minNs: z.number().nullable(),
  maxNs: z.number().nullable(),
  samples: z.array(z.number()).optional().describe('Every known duration, ascending (timed <= exactLimit)'),
  buckets: z.array(z.tuple([z.number().int().min(0).max(BUCKETS - 1), z.number().int().positive()])).optional()
    .describe('[bucket, exits] by ascending bucket (timed > exactLimit); bucket b < 128 holds [b, b+1) ns, above that 128 linear buckets per power of two'),
  m2: z.number().nonnegative().optional().describe('Sum of squared deviations from the mean (for the stddev) when the samples are not kept'),
}).superRefine((d, ctx) => {
  const exact = d.timed <= EXACT_LIMIT;
  if (d.timed > d.count) ctx.addIssue({ code: 'custom', message: `timed (${d.timed}) exceeds count (${d.count})` });
  if (exact && (!d.samples || d.samples.length !== d.timed)) ctx.addIssue({ code: 'custom', path: ['samples'], message: `expected ${d.timed} samples (timed <= ${EXACT_LIMIT} keeps them all)` });
  if (!exact && (!d.buckets || d.m2 === undefined)) ctx.addIssue({ code: 'custom', path: ['buckets'], message: `expected buckets and m2 (timed > ${EXACT_LIMIT})` });
  if (!exact && d.buckets && d.buckets.reduce((s, b) => s + b[1], 0) !== d.timed) ctx.addIssue({ code: 'custom', path: ['buckets'], message: `bucket counts do not add up to timed (${d.timed})` });
});

export type Dist = z.infer<typeof DistSchema>;

export const EMPTY_DIST: Dist = Object.freeze({ count: 0, timed: 0, sumNs: 0, minNs: null, maxNs: null, samples: [] }) as Dist;

function twoPassM2(xs: ArrayLike<number>, mean: number): number {
  let m2 = 0;
  for (let i = 0; i < xs.length; i++) { const d = xs[i] - mean; m2 += d * d; }
  return m2;
}

function bucketize(xs: ArrayLike<number>): Array<[number, number]> {
  const m = new Map<number, number>();
  for (let i = 0; i < xs.length; i++) { const b = bucketOf(xs[i]); m.set(b, (m.get(b) ?? 0) + 1); }
  return [...m.entries()].sort((a, b) => a[0] - b[0]);
}

function mergeBuckets(a: ReadonlyArray<readonly [number, number]>, b: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let i = 0, j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i][0] < b[j][0])) out.push([a[i][0], a[i++][1]]);
    else if (i >= a.length || b[j][0] < a[i][0]) out.push([b[j][0], b[j++][1]]);
    else { out.push([a[i][0], a[i][1] + b[j][1]]); i++; j++; }
  }
  return out;
}

function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const out = new Array<number>(a.length + b.length);
  let i = 0, j = 0, k = 0;
  while (i < a.length && j < b.length) out[k++] = a[i] <= b[j] ? a[i++] : b[j++];
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return out;
}

const minOf = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.min(a, b));
const maxOf = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.max(a, b));

/** m2 of a distribution: kept past the exact limit, computed from the samples below it. */
function m2Of(d: Dist): number {
  if (d.timed === 0) return 0;
  return d.samples ? twoPassM2(d.samples, d.sumNs / d.timed) : d.m2!;
}

/**
 * a + b. Commutative bit for bit (the stddev's m2 uses Chan et al.'s pairwise
 * update with means taken as sum/count, symmetric in a and b); associative
 * exactly on everything but m2, which is associative up to float rounding.
 */
export function mergeDist(a: Dist, b: Dist): Dist {
  const timed = a.timed + b.timed;
  const base = { count: a.count + b.count, timed, sumNs: a.sumNs + b.sumNs, minNs: minOf(a.minNs, b.minNs), maxNs: maxOf(a.maxNs, b.maxNs) };
  if (a.samples && b.samples) {
    const samples = mergeSorted(a.samples, b.samples);
    if (timed <= EXACT_LIMIT) return { ...base, samples };
    return { ...base, buckets: bucketize(samples), m2: twoPassM2(samples, base.sumNs / timed) };
  }
  const ba = a.buckets ?? bucketize(a.samples!);
  const bb = b.buckets ?? bucketize(b.samples!);
  const d = b.timed && a.timed ? b.sumNs / b.timed - a.sumNs / a.timed : 0;
  const m2 = m2Of(a) + m2Of(b) + (timed ? (d * d * a.timed * b.timed) / timed : 0);
  return { ...base, buckets: mergeBuckets(ba, bb), m2 };
}

/** Percentile p in [0, 1] as analyze's DurationSketch gives it; null when nothing is timed. */
export function distQuantile(d: Dist, p: number): number | null {
  if (d.timed === 0) return null;
  if (d.samples) return d.timed === 1 ? d.samples[0] : quantileSorted(d.samples, p);
  if (p <= 0) return d.minNs;
  if (p >= 1) return d.maxNs;
  const rank = Math.ceil(p * d.timed);
  let acc = 0;
  for (const [b, n] of d.buckets!) {
    acc += n;
    if (acc >= rank) {
      const [low, width] = bucketLow(b);
      const mid = width === 1 ? low : low + width / 2;
      return Math.min(Math.max(mid, d.minNs!), d.maxNs!);
    }
  }
  return d.maxNs;
}

/** Population standard deviation; null when nothing is timed. */
export function distStddev(d: Dist): number | null {
  return d.timed ? Math.sqrt(Math.max(0, m2Of(d) / d.timed)) : null;
}

/**
 * Builds a Dist while streaming (one per summary cell): samples in a growing
 * typed array until the exact limit, then a dense histogram with Welford's
 * running m2; made only once a cell has a second timed exit.
 */
export class DistBuilder {
  count = 0;
  timed = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  private samples: Float64Array | null = new Float64Array(4);
  private hist: Float64Array | null = null;
  private mean = 0;
  private m2 = 0;

  add(v: number): void {
    this.count++;
    if (v !== v) return;
    const n = this.timed++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (this.hist) {
      this.hist[bucketOf(v)]++;
      const d = v - this.mean;
      this.mean += d / (n + 1);
      this.m2 += d * (v - this.mean);
      return;
    }
    if (n < EXACT_LIMIT) {
      if (n >= this.samples!.length) {
        const s = new Float64Array(Math.min(this.samples!.length * 4, EXACT_LIMIT));
        s.set(this.samples!);
        this.samples = s;
      }
      this.samples![n] = v;
      return;
    }
    // The (EXACT_LIMIT + 1)th sample: to the histogram, the way analyze's sketch does.
    const s = this.samples!;
    this.hist = new Float64Array(BUCKETS);
    for (let i = 0; i < n; i++) this.hist[bucketOf(s[i])]++;
    this.hist[bucketOf(v)]++;
    this.mean = this.sum / this.timed;
    this.m2 = twoPassM2(s, this.mean) + (v - this.mean) * (v - this.mean);
    this.samples = null;
  }

  dist(): Dist {
    const base = { count: this.count, timed: this.timed, sumNs: this.sum, minNs: this.timed ? this.min : null, maxNs: this.timed ? this.max : null };
    if (!this.hist) return { ...base, samples: Array.from(this.samples!.subarray(0, this.timed)).sort((a, b) => a - b) };
    const buckets: Array<[number, number]> = [];
    for (let b = 0; b < BUCKETS; b++) if (this.hist[b]) buckets.push([b, this.hist[b]]);
    return { ...base, buckets, m2: this.m2 };
  }
}
