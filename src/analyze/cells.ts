/**
 * The streaming half of every grouped report: each exit lands in a cell keyed
 * by the words of the view's dimensions plus its reason (a typed-array hash,
 * no string or object per exit). A cell keeps count, timed count, sum, min
 * and max in typed-array columns; its duration distribution is exact from
 * those alone up to three samples (the middle one is sum - min - max), and a
 * DurationSketch is made only once a cell holds a fourth. So a long tail of
 * one-off addresses costs ~50 bytes a cell, and memory is bounded by the
 * number of distinct keys, not by the trace length.
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

export class CellStore {
  readonly table: KeyTable;
  count = new Uint32Array(1024);
  timed = new Uint32Array(1024);
  sum = new Float64Array(1024);
  min = new Float64Array(1024);
  max = new Float64Array(1024);
  /** Index into `sketches` + 1; 0 while the cell holds three samples or fewer. */
  sketchOf = new Int32Array(1024);
  readonly sketches: DurationSketch[] = [];
  /** Per cell: [exits, handling ns] per interval, when --interval is on. */
  readonly series: Array<Float64Array | undefined> = [];

  constructor(readonly width: number) {
    this.table = new KeyTable(width);
  }

  get size(): number {
    return this.table.size;
  }

  /** The cell of `key`, created when new. */
  cell(key: Uint32Array): number {
    const n = this.table.size;
    const id = this.width === 2 ? this.table.intern2(key[0], key[1]) : this.table.intern(key);
    if (id === n) {
      if (id >= this.count.length) this.grow();
      this.min[id] = Infinity;
      this.max[id] = -Infinity;
    }
    return id;
  }

  private grow(): void {
    const cap = this.count.length * 2;
    const g = <T extends Float64Array | Uint32Array | Int32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a);
      return b;
    };
    this.count = g(this.count); this.timed = g(this.timed); this.sum = g(this.sum);
    this.min = g(this.min); this.max = g(this.max); this.sketchOf = g(this.sketchOf);
  }

  add(id: number, d: number): void {
    this.count[id]++;
    if (d !== d) return;
    const n = this.timed[id]++;
    const sk = this.sketchOf[id];
    if (sk > 0) {
      this.sketches[sk - 1].add(d);
    } else if (n === 3) {
      const s = new DurationSketch();
      for (const x of this.samples(id)) s.add(x);
      s.add(d);
      this.sketches.push(s);
      this.sketchOf[id] = this.sketches.length;
    }
    this.sum[id] += d;
    if (d < this.min[id]) this.min[id] = d;
    if (d > this.max[id]) this.max[id] = d;
  }

  /** The exact samples of a cell with three or fewer (empty once it has a sketch). */
  samples(id: number): number[] {
    const n = this.timed[id];
    if (this.sketchOf[id] > 0 || n === 0) return [];
    if (n === 1) return [this.min[id]];
    if (n === 2) return [this.min[id], this.max[id]];
    return [this.min[id], this.sum[id] - this.min[id] - this.max[id], this.max[id]];
  }

  /** Folds a cell's distribution into a row's sketch. */
  mergeInto(id: number, into: DurationSketch): void {
    const sk = this.sketchOf[id];
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
  /** Word offset of each dimension in the key; the reason is the last word. */
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
  private readonly reasonAt: number;
  private intervals = 0;
  private seriesCapped = false;
  private readonly origin: number[] = [];

  constructor(readonly dims: readonly Dimension[], private readonly resolver: AddressResolver, private readonly interval: IntervalSpec | null = null) {
    this.specs = dims.map((d) => DIMENSION_SPECS[d]);
    let w = 0;
    for (const s of this.specs) { this.offsets.push(w); w += s.words; }
    this.reasonAt = w;
    this.key = new Uint32Array(w + 1);
  }

  reset(): void {
    this.store = new CellStore(this.key.length);
    this.unkeyed = 0;
  }

  handleChunk(c: ExitChunk, sel: Uint32Array, n: number, input: number): void {
    const { key, specs, offsets, store, resolver } = this;
    const ra = this.reasonAt;
    const iv = this.interval;
    const nd = specs.length;
    for (let k = 0; k < n; k++) {
      const i = sel[k];
      let ok = true;
      for (let d = 0; d < nd; d++) if (!specs[d].key(c, i, input, resolver, key, offsets[d])) { ok = false; break; }
      if (!ok) { this.unkeyed++; continue; }
      key[ra] = c.reason[i];
      const id = store.cell(key);
      const dur = c.flags[i] & F_UNPAIRED ? NaN : c.dur[i];
      store.add(id, dur);
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
