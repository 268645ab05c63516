/**
 * The two views of the HTML report that `analyze` does not give, as handlers
 * of the same shape (reset, handleChunk, finalize, data) fed from one pass:
 *
 * - ExitRateHandler: exits per second over time per vcpu. The trace's span is
 *   unknown until its end, so bins start at 1 ms and double (pairs merge)
 *   whenever a vcpu's series would pass MAX_BINS: the series ends with
 *   between MAX_BINS/2 and MAX_BINS points whatever the trace's length.
 * - DurationHistogramHandler: exit durations per reason in log-spaced bins
 *   (BINS_PER_DECADE per decade, 1 ns .. 100 s), for the log-scale histograms.
 */
import type { ExitHandler } from '../../analyze/handler.js';
import type { ExitChunk } from '../../model/chunk.js';
import { REASONS } from '../../model/reasons.js';

export const MAX_BINS = 1024;
const FIRST_BIN_NS = 1e6;

export interface VcpuSeries {
  input: number;
  vm: number;
  vcpu: number;
  /** Exits in each bin; bin 0 starts at the input's first exit. */
  exits: number[];
  /** The vcpu's last bin ends at its last exit: that bin's width, for a rate that does not dip at the end. */
  lastBinNs: number;
}

export interface ExitRateData {
  binNs: number;
  series: VcpuSeries[];
}

interface Track { input: number; vm: number; vcpu: number; bins: Float64Array; used: number; endNs: number }

export class ExitRateHandler implements ExitHandler<ExitRateData> {
  readonly name = 'exit-rate';
  private binNs = FIRST_BIN_NS;
  private tracks = new Map<string, Track>();
  /** Per input: the absolute ns (as an offset from the first chunk's base) of its first exit. */
  private origin = new Map<number, { base: bigint; t0: number }>();

  reset(): void {
    this.binNs = FIRST_BIN_NS;
    this.tracks.clear();
    this.origin.clear();
  }

  private track(input: number, vm: number, vcpu: number): Track {
    const key = `${input}:${vm}:${vcpu}`;
    let t = this.tracks.get(key);
    if (!t) { t = { input, vm, vcpu, bins: new Float64Array(64), used: 0, endNs: 0 }; this.tracks.set(key, t); }
    return t;
  }

  /** Doubles the bin width: bin k of the new series holds bins 2k and 2k+1 of the old. */
  private coarsen(): void {
    this.binNs *= 2;
    for (const t of this.tracks.values()) {
      const n = Math.ceil(t.used / 2);
      for (let k = 0; k < n; k++) t.bins[k] = t.bins[2 * k] + (2 * k + 1 < t.used ? t.bins[2 * k + 1] : 0);
      t.bins.fill(0, n, t.used);
      t.used = n;
    }
  }

  handleChunk(c: ExitChunk, sel: Uint32Array, n: number, input: number): void {
    let o = this.origin.get(input);
    if (!o) { o = { base: c.tsBaseNs, t0: c.ts[sel[0]] }; this.origin.set(input, o); }
    const shift = c.tsBaseNs === o.base ? 0 : Number(c.tsBaseNs - o.base);
    let cache: Track | null = null;
    for (let j = 0; j < n; j++) {
      const i = sel[j];
      const vcpu = c.vcpu[i], vm = c.vm[i];
      const t = cache && cache.vcpu === vcpu && cache.vm === vm ? cache : (cache = this.track(input, vm, vcpu));
      const at = c.ts[i] + shift - o.t0;
      if (at > t.endNs) t.endNs = at;
      let b = at > 0 ? Math.floor(at / this.binNs) : 0;
      while (b >= MAX_BINS) { this.coarsen(); b = Math.floor(at / this.binNs); }
      if (b >= t.bins.length) {
        const nb = new Float64Array(Math.min(MAX_BINS, Math.max(b + 1, t.bins.length * 2)));
        nb.set(t.bins);
        t.bins = nb;
      }
      t.bins[b]++;
      if (b + 1 > t.used) t.used = b + 1;
    }
  }

  finalize(): void {}

  data(): ExitRateData {
    const series = [...this.tracks.values()]
      .sort((a, b) => a.input - b.input || a.vm - b.vm || a.vcpu - b.vcpu)
      .map((t) => ({
        input: t.input, vm: t.vm, vcpu: t.vcpu, exits: Array.from(t.bins.subarray(0, t.used)),
        lastBinNs: Math.min(this.binNs, Math.max(this.binNs / 100, t.endNs - (t.used - 1) * this.binNs)),
      }));
    const len = Math.max(0, ...series.map((s) => s.exits.length));
    for (const s of series) while (s.exits.length < len) s.exits.push(0);
    return { binNs: this.binNs, series };
  }
}

export const BINS_PER_DECADE = 10;
const MIN_EXP = 0; // 1 ns
const MAX_EXP = 11; // 100 s
const NBINS = (MAX_EXP - MIN_EXP) * BINS_PER_DECADE;

export interface ReasonHistogram {
  reason: string;
  exits: number;
  /** Exits with a known duration (the histogram's total). */
  timed: number;
  /** Bin edges in ns (one more than counts), trimmed to the occupied range. */
  edgesNs: number[];
  counts: number[];
}

export class DurationHistogramHandler implements ExitHandler<ReasonHistogram[]> {
  readonly name = 'duration-histogram';
  private hist = new Map<number, { exits: number; timed: number; counts: Float64Array }>();

  reset(): void {
    this.hist.clear();
  }

  handleChunk(c: ExitChunk, sel: Uint32Array, n: number): void {
    let lastReason = -1;
    let h: { exits: number; timed: number; counts: Float64Array } | undefined;
    for (let j = 0; j < n; j++) {
      const i = sel[j];
      const r = c.reason[i];
      if (r !== lastReason) {
        h = this.hist.get(r);
        if (!h) { h = { exits: 0, timed: 0, counts: new Float64Array(NBINS) }; this.hist.set(r, h); }
        lastReason = r;
      }
      h!.exits++;
      const d = c.dur[i];
      if (d !== d) continue;
      h!.timed++;
      const b = d < 1 ? 0 : Math.min(NBINS - 1, Math.floor((Math.log10(d) - MIN_EXP) * BINS_PER_DECADE));
      h!.counts[b]++;
    }
  }

  finalize(): void {}

  /** Every reason, most exits first. */
  data(): ReasonHistogram[] {
    const out: ReasonHistogram[] = [];
    for (const [r, h] of this.hist) {
      let lo = 0, hi = NBINS - 1;
      while (lo < NBINS && h.counts[lo] === 0) lo++;
      while (hi >= 0 && h.counts[hi] === 0) hi--;
      const counts = lo <= hi ? Array.from(h.counts.subarray(lo, hi + 1)) : [];
      const edgesNs = lo <= hi ? Array.from({ length: hi - lo + 2 }, (_, k) => Math.round(10 ** (MIN_EXP + (lo + k) / BINS_PER_DECADE) * 1000) / 1000) : [];
      out.push({ reason: REASONS.get(r).name, exits: h.exits, timed: h.timed, edgesNs, counts });
    }
    return out.sort((a, b) => b.exits - a.exits || (a.reason < b.reason ? -1 : 1));
  }
}
