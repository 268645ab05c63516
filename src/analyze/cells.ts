/**
 * The streaming half of every grouped report: each exit lands in the cell of
 * its row, keyed by the words of the view's dimensions (a typed-array hash, no
 * string or object per exit). A cell keeps its count, exit time (split into
 * handling and idle by its reasons), min, max and first reason in paged
 * typed-array columns (other reasons of the cell in a small side table). Its
 * duration distribution is exact from those alone up to three samples (the
 * middle one is sum - min - max); a DurationSketch is made once a cell holds a
 * fourth (or an unpaired exit). So a long tail of one-off addresses costs 26
 * bytes a cell plus ~17 of hash, and memory is bounded by the number of
 * distinct keys, not by the trace length (a sketch holds at most EXACT_LIMIT
 * samples, then a fixed histogram).
 *
 * With `--interval`, each cell also keeps exits and handling time per
 * interval (for at most SERIES_CELL_CAP cells).
 */
import { F_UNPAIRED, type ExitChunk } from '../model/chunk.js';
import { DurationSketch } from './duration-sketch.js';
import { DIMENSION_SPECS, type Dimension, type DimensionSpec } from './dimensions.js';
import type { ExitHandler } from './handler.js';
import { KeyTable } from './key-table.js';
import type { AddressResolver } from './resolver.js';
import { isIdleReason } from './idle.js';

export const SERIES_CELL_CAP = 65536;

/** min/max words hold whole ns below this; other durations (fractions, > 4.29 s) go to a side map. */
const U32_NONE = 0xffffffff;
/**
 * Columns are pages of 2^16 cells: a store grows by adding pages, never by
 * copying (a long tail of one-off keys would otherwise hold the old and the
 * new columns at once, and that copy is where memory peaked).
 */
const PAGE_BITS = 16;
const PAGE = 1 << PAGE_BITS;
const PAGE_MASK = PAGE - 1;

/**
 * The sketch page of a page of cells none of which has a sketch yet: shared and never written (2M one-off addresses
 * need no 8 MB of zeros; a page gets its own on its first sketch).
 */
const NO_SKETCHES = new Int32Array(PAGE);

export class CellStore {
  readonly table: KeyTable;
  /** Exits of the cell; while it has no sketch, all of them are timed (an unpaired exit gives its cell a sketch, which counts the timed ones). */
  private readonly pCount: Uint32Array[] = [];
  /** Exit time of the cell (handling + idle; the split comes from its reasons). */
  private readonly pSum: Float64Array[] = [];
  /** Shortest and longest whole-ns duration below 2^32 - 1 (U32_NONE / 0 while none); others in `wide`. */
  private readonly pMin: Uint32Array[] = [];
  private readonly pMax: Uint32Array[] = [];
  /** Index into `sketches` + 1; 0 while the cell holds three samples or fewer. */
  private readonly pSketch: Int32Array[] = [];
  /** The first reason seen in the cell; exits of its other reasons are counted in a side table (most cells see one). */
  private readonly pReason: Uint16Array[] = [];
  private readonly wide = new Map<number, { min: number; max: number }>();
  readonly sketches: DurationSketch[] = [];
  /** (cell, reason) -> exits and time, for every reason of a cell but its first. */
  private readonly more = new KeyTable(2, 64);
  private moreCount = new Float64Array(64);
  private moreSum = new Float64Array(64);
  /** Per cell: [exits, handling ns] per interval, when --interval is on. */
  readonly series: Array<Float64Array | undefined> = [];

  constructor(readonly width: number) {
    this.table = new KeyTable(Math.max(1, width));
  }

  get size(): number {
    return this.table.size;
  }

  /** The cell of `key`, created when new. */
  cell(key: Uint32Array): number {
    const n = this.table.size;
    const id = this.width === 2 ? this.table.intern2(key[0], key[1]) : this.table.intern(key);
    if (id === n && (id & PAGE_MASK) === 0) this.addPage();
    return id;
  }

  private addPage(): void {
    this.pCount.push(new Uint32Array(PAGE)); this.pSum.push(new Float64Array(PAGE));
    this.pMin.push(new Uint32Array(PAGE).fill(U32_NONE)); this.pMax.push(new Uint32Array(PAGE)); this.pSketch.push(NO_SKETCHES);
    this.pReason.push(new Uint16Array(PAGE));
  }

  count(id: number): number { return this.pCount[id >>> PAGE_BITS][id & PAGE_MASK]; }
  timed(id: number): number {
    const sk = this.pSketch[id >>> PAGE_BITS][id & PAGE_MASK];
    return sk > 0 ? this.sketches[sk - 1].count : this.count(id);
  }
  sum(id: number): number { return this.pSum[id >>> PAGE_BITS][id & PAGE_MASK]; }
  reason0(id: number): number { return this.pReason[id >>> PAGE_BITS][id & PAGE_MASK]; }

  add(id: number, d: number, reason: number): void {
    const p = id >>> PAGE_BITS, o = id & PAGE_MASK;
    const before = this.pCount[p][o]++;
    const r0 = this.pReason[p];
    if (before === 0) r0[o] = reason;
    else if (r0[o] !== reason) this.addReason(id, reason, d);
    const sk = this.pSketch[p][o];
    if (d !== d) {
      // The first unpaired exit of a cell gives it a sketch: from then on the sketch counts the timed exits.
      if (sk === 0) this.makeSketch(id, before);
      return;
    }
    if (sk > 0) this.sketches[sk - 1].add(d);
    else if (before === 3) this.makeSketch(id, before).add(d);
    this.pSum[p][o] += d;
    if (d >= 0 && d < U32_NONE && d === Math.floor(d)) {
      const mn = this.pMin[p], mx = this.pMax[p];
      if (d < mn[o]) mn[o] = d;
      if (d > mx[o]) mx[o] = d;
    } else {
      const w = this.wide.get(id);
      if (!w) this.wide.set(id, { min: d, max: d });
      else { if (d < w.min) w.min = d; if (d > w.max) w.max = d; }
    }
  }

  /** A sketch for a cell from its exact samples (`timed` of them, all its exits so far). */
  private makeSketch(id: number, timed: number): DurationSketch {
    const s = new DurationSketch();
    for (const x of this.samplesOf(id, timed)) s.add(x);
    this.sketches.push(s);
    const p = id >>> PAGE_BITS;
    if (this.pSketch[p] === NO_SKETCHES) this.pSketch[p] = new Int32Array(PAGE);
    this.pSketch[p][id & PAGE_MASK] = this.sketches.length;
    return s;
  }

  private addReason(id: number, reason: number, d: number): void {
    const n = this.more.size;
    const k = this.more.intern2(id, reason);
    if (k === n && k >= this.moreCount.length) {
      const g = (a: Float64Array): Float64Array<ArrayBuffer> => { const b = new Float64Array(a.length * 2); b.set(a); return b; };
      this.moreCount = g(this.moreCount);
      this.moreSum = g(this.moreSum);
    }
    this.moreCount[k]++;
    if (d === d) this.moreSum[k] += d;
  }

  minOf(id: number): number {
    const m = this.pMin[id >>> PAGE_BITS][id & PAGE_MASK], w = this.wide.get(id);
    return Math.min(m === U32_NONE ? Infinity : m, w ? w.min : Infinity);
  }

  maxOf(id: number): number {
    const p = id >>> PAGE_BITS, o = id & PAGE_MASK, w = this.wide.get(id);
    return Math.max(this.pMin[p][o] === U32_NONE ? -Infinity : this.pMax[p][o], w ? w.max : -Infinity);
  }

  /**
   * Idle time (HLT, MWAIT) of every cell that has any, from its reasons: the
   * first reason's share is the cell's time less its other reasons'.
   */
  idleByCell(): Map<number, number> {
    const other = new Map<number, { sum: number; idle: number }>();
    for (let k = 0; k < this.more.size; k++) {
      const id = this.more.key(k, 0);
      let o = other.get(id);
      if (!o) other.set(id, (o = { sum: 0, idle: 0 }));
      o.sum += this.moreSum[k];
      if (isIdleReason(this.more.key(k, 1))) o.idle += this.moreSum[k];
    }
    const out = new Map<number, number>();
    for (let id = 0; id < this.size; id++) {
      const o = other.get(id);
      const idle = (isIdleReason(this.reason0(id)) ? this.sum(id) - (o ? o.sum : 0) : 0) + (o ? o.idle : 0);
      if (idle !== 0) out.set(id, idle);
    }
    return out;
  }

  /** Exits per reason id of cells (a map per wanted cell). */
  reasonsOf(cells: readonly number[]): Array<Map<number, number>> {
    const at = new Map<number, number>();
    cells.forEach((c, k) => at.set(c, k));
    const out = cells.map((c) => new Map<number, number>([[this.reason0(c), this.count(c)]]));
    for (let k = 0; k < this.more.size; k++) {
      const j = at.get(this.more.key(k, 0));
      if (j === undefined) continue;
      const m = out[j], r0 = this.reason0(cells[j]), r = this.more.key(k, 1), n = this.moreCount[k];
      m.set(r, (m.get(r) ?? 0) + n);
      m.set(r0, m.get(r0)! - n);
    }
    return out;
  }

  /** The exact samples of a cell with three or fewer (empty once it has a sketch). */
  samples(id: number): number[] {
    if (this.pSketch[id >>> PAGE_BITS][id & PAGE_MASK] > 0) return [];
    return this.samplesOf(id, this.count(id));
  }

  private samplesOf(id: number, n: number): number[] {
    if (n === 0) return [];
    const lo = this.minOf(id), hi = this.maxOf(id);
    if (n === 1) return [lo];
    if (n === 2) return [lo, hi];
    return [lo, this.sum(id) - lo - hi, hi];
  }

  /** Folds a cell's distribution into a row's sketch. */
  mergeInto(id: number, into: DurationSketch): void {
    const sk = this.pSketch[id >>> PAGE_BITS][id & PAGE_MASK];
    if (sk > 0) into.merge(this.sketches[sk - 1]);
    else for (const x of this.samples(id)) into.add(x);
  }
}

/** The time axis of `--interval`: fixed-width windows from the first exit of each input. */
export interface IntervalSpec {
  ns: number;
}

export interface CellsData {
  dims: readonly Dimension[];
  store: CellStore;
  /** Word offset of each dimension in the key. */
  offsets: number[];
  /** Exits the view could not key (no port in a port view, ...). */
  unkeyed: number;
  /** Intervals seen (series length), and whether the series cap was hit. */
  intervals: number;
  seriesCapped: boolean;
  /** Absolute ns (approximate above 2^53) where interval 0 starts, per input. */
  intervalOrigin: number[];
}

export class CellsHandler implements ExitHandler<CellsData> {
  readonly name = 'cells';
  private store!: CellStore;
  private unkeyed = 0;
  private readonly specs: DimensionSpec[];
  private readonly offsets: number[] = [];
  private readonly key: Uint32Array;
  private intervals = 0;
  private seriesCapped = false;
  private readonly origin: number[] = [];

  constructor(readonly dims: readonly Dimension[], private readonly resolver: AddressResolver, private readonly interval: IntervalSpec | null = null) {
    this.specs = dims.map((d) => DIMENSION_SPECS[d]);
    let w = 0;
    for (const s of this.specs) { this.offsets.push(w); w += s.words; }
    this.key = new Uint32Array(Math.max(1, w));
  }

  reset(): void {
    this.store = new CellStore(this.key.length);
    this.unkeyed = 0;
  }

  handleChunk(c: ExitChunk, sel: Uint32Array, n: number, input: number): void {
    const { key, specs, offsets, store, resolver } = this;
    const iv = this.interval;
    const nd = specs.length;
    for (let k = 0; k < n; k++) {
      const i = sel[k];
      let ok = true;
      for (let d = 0; d < nd; d++) if (!specs[d].key(c, i, input, resolver, key, offsets[d])) { ok = false; break; }
      if (!ok) { this.unkeyed++; continue; }
      const id = store.cell(key);
      const dur = c.flags[i] & F_UNPAIRED ? NaN : c.dur[i];
      store.add(id, dur, c.reason[i]);
      if (iv) this.addSeries(id, c, i, input, dur);
    }
  }

  private addSeries(id: number, c: ExitChunk, i: number, input: number, dur: number): void {
    // Offsets count from the input's first timestamp: interval 0 starts there.
    if (this.origin[input] === undefined) this.origin[input] = Number(c.tsBaseNs);
    const w = Math.max(0, Math.floor(c.ts[i] / this.interval!.ns));
    if (w + 1 > this.intervals) this.intervals = w + 1;
    const st = this.store;
    let s = st.series[id];
    if (s === undefined) {
      if (id >= SERIES_CELL_CAP) { this.seriesCapped = true; return; }
      s = new Float64Array(Math.max(16, 2 * (w + 1)));
      st.series[id] = s;
    }
    if (2 * w + 1 >= s.length) {
      const b = new Float64Array(Math.max(2 * (w + 1), s.length * 2));
      b.set(s);
      st.series[id] = s = b;
    }
    s[2 * w]++;
    if (dur === dur && !isIdleReason(c.reason[i])) s[2 * w + 1] += dur;
  }

  finalize(): void {}

  data(): CellsData {
    return { dims: this.dims, store: this.store, offsets: this.offsets, unkeyed: this.unkeyed, intervals: this.intervals, seriesCapped: this.seriesCapped, intervalOrigin: this.origin };
  }
}
