/**
 * The per-row store under analyze (src/analyze/cells.ts) called directly on
 * hand-fed cells (issue 16: the survivors listed in
 * docs/mutation-analyze-survivors.md). Each expected value is worked out in
 * the comments from the durations fed in; no trace is read.
 */
import { describe, expect, it } from 'vitest';
import { CellStore, CellsHandler, SERIES_CELL_CAP } from '../src/analyze/cells.js';
import { DurationSketch } from '../src/analyze/duration-sketch.js';
import { AddressResolver } from '../src/analyze/resolver.js';
import { ExitChunk, F_UNPAIRED } from '../src/model/chunk.js';
import { REASONS } from '../src/model/reasons.js';

const IO = REASONS.lookup('IO_INSTRUCTION');
const HLT = REASONS.lookup('HLT');
const EXT = REASONS.lookup('EXTERNAL_INTERRUPT');

/** A one-word store and a cell per small number. */
function store(): { s: CellStore; cell: (k: number) => number } {
  const s = new CellStore(1);
  const key = new Uint32Array(1);
  return { s, cell: (k) => { key[0] = k; return s.cell(key); } };
}

/** The distribution a row would show for a cell (rows.ts folds each cell into a fresh sketch). */
function merged(s: CellStore, id: number): { count: number; sum: number; min: number; max: number } {
  const d = new DurationSketch();
  s.mergeInto(id, d);
  return { count: d.count, sum: d.sum, min: d.min, max: d.max };
}

describe('timed exits of a cell', () => {
  it('an unpaired exit counts as an exit but not as a timed one', () => {
    const { s, cell } = store();
    const a = cell(1), b = cell(2);
    // a: 10, unpaired, 30 -> 3 exits, 2 timed. b: 10, 20 -> 2 exits, both timed (no sketch).
    s.add(a, 10, IO); s.add(a, NaN, IO); s.add(a, 30, IO);
    s.add(b, 10, IO); s.add(b, 20, IO);
    expect([s.count(a), s.timed(a)]).toEqual([3, 2]);
    expect([s.count(b), s.timed(b)]).toEqual([2, 2]);
    expect(merged(s, a)).toEqual({ count: 2, sum: 40, min: 10, max: 30 });
  });

  it('a second unpaired exit keeps the sketch the first one made (its samples stay, none is invented)', () => {
    const { s, cell } = store();
    const a = cell(7);
    // 10; unpaired (sketch from [10]); 20, 30, 40 into the sketch; unpaired again: still 4 timed, sum 100, 10..40.
    s.add(a, 10, IO); s.add(a, NaN, IO);
    s.add(a, 20, IO); s.add(a, 30, IO); s.add(a, 40, IO);
    s.add(a, NaN, IO);
    expect([s.count(a), s.timed(a)]).toEqual([6, 4]);
    expect(merged(s, a)).toEqual({ count: 4, sum: 100, min: 10, max: 40 });
    expect(s.sketches).toHaveLength(1);
  });
});

describe('exact samples up to three, a sketch from the fourth', () => {
  it('one, two and three samples come back exactly; a fourth gives the cell its only sketch', () => {
    const { s, cell } = store();
    const one = cell(1), two = cell(2), three = cell(3), four = cell(4);
    s.add(one, 5, IO);
    s.add(two, 9, IO); s.add(two, 5, IO);
    // three: 7, 2, 4 -> min 2, max 7, middle = sum 13 - 2 - 7 = 4.
    s.add(three, 7, IO); s.add(three, 2, IO); s.add(three, 4, IO);
    // four: 1, 2, 3, then 10: a sketch of the four.
    for (const d of [1, 2, 3, 10]) s.add(four, d, IO);
    expect(s.samples(one)).toEqual([5]);
    expect(s.samples(two)).toEqual([5, 9]);
    expect(s.samples(three)).toEqual([2, 4, 7]);
    // Once it has a sketch a cell hands out no made-up three samples.
    expect(s.samples(four)).toEqual([]);
    expect(s.sketches).toHaveLength(1);
    expect(merged(s, four)).toEqual({ count: 4, sum: 16, min: 1, max: 10 });
    expect(merged(s, three)).toEqual({ count: 3, sum: 13, min: 2, max: 7 });
  });
});

describe('durations that are not whole ns below 2^32 - 1', () => {
  it('2^32 - 1 ns exactly (4.29 s) is a duration, not the "no minimum" mark', () => {
    const { s, cell } = store();
    const a = cell(1);
    s.add(a, 4294967295, IO);
    expect(s.samples(a)).toEqual([4294967295]);
    expect([s.minOf(a), s.maxOf(a)]).toEqual([4294967295, 4294967295]);
  });

  it('a fractional duration is kept as it is (not truncated to whole ns)', () => {
    const { s, cell } = store();
    const a = cell(1);
    s.add(a, 1.5, IO);
    expect(s.samples(a)).toEqual([1.5]);
  });

  it('min and max over several fractional durations, whatever their order', () => {
    const { s, cell } = store();
    const a = cell(1);
    // 2.5, 1.5, 3.5, 3.25: min 1.5 (second), max 3.5 (third), neither first nor last.
    for (const d of [2.5, 1.5, 3.5, 3.25]) s.add(a, d, IO);
    expect([s.minOf(a), s.maxOf(a)]).toEqual([1.5, 3.5]);
    const b = cell(2);
    // Three of them stay exact: 2.5, 3.5, 1.5 -> [1.5, 7.5 - 1.5 - 3.5 = 2.5, 3.5].
    for (const d of [2.5, 3.5, 1.5]) s.add(b, d, IO);
    expect(s.samples(b)).toEqual([1.5, 2.5, 3.5]);
  });

  it('a cell whose only durations are longer than 4.29 s reports them as min and max', () => {
    const { s, cell } = store();
    const a = cell(1);
    s.add(a, 5e9, IO);
    expect([s.minOf(a), s.maxOf(a)]).toEqual([5e9, 5e9]);
    expect(s.samples(a)).toEqual([5e9]);
  });

  it('negative durations (a clock that stepped back) keep their own max, not 0', () => {
    const { s, cell } = store();
    const a = cell(1);
    s.add(a, -7, IO); s.add(a, -3, IO);
    expect([s.minOf(a), s.maxOf(a)]).toEqual([-7, -3]);
    expect(s.samples(a)).toEqual([-7, -3]);
  });

  it('whole, fractional and long durations in one cell', () => {
    const { s, cell } = store();
    const a = cell(1);
    // 10 (word), 5e9 (side map), 0.5 (side map): min 0.5, max 5e9, middle 10.
    s.add(a, 10, IO); s.add(a, 5e9, IO); s.add(a, 0.5, IO);
    expect(s.samples(a)).toEqual([0.5, 10, 5e9]);
  });
});

describe('reasons of a cell beyond its first', () => {
  it('idle time per cell: the first reason\'s share is the cell\'s time less its other reasons\'', () => {
    const { s, cell } = store();
    const a = cell(1), b = cell(2), c = cell(3);
    // a: HLT 1000 then IO 30: idle 1030 - 30 = 1000. b: IO 5, HLT 700, EXT 11: idle 700 (HLT is not its first).
    // c: IO only: no idle, so no entry.
    s.add(a, 1000, HLT); s.add(a, 30, IO);
    s.add(b, 5, IO); s.add(b, 700, HLT); s.add(b, 11, EXT);
    s.add(c, 20, IO);
    expect(s.idleByCell()).toEqual(new Map([[a, 1000], [b, 700]]));
    expect(s.reasonsOf([a, b, c])).toEqual([new Map([[HLT, 1], [IO, 1]]), new Map([[IO, 1], [HLT, 1], [EXT, 1]]), new Map([[IO, 1]])]);
  });

  it('reasons of some cells only: the other cells\' reasons are skipped', () => {
    const { s, cell } = store();
    const a = cell(1), b = cell(2);
    s.add(a, 1, HLT); s.add(a, 2, IO);
    s.add(b, 3, IO); s.add(b, 4, HLT); s.add(b, 5, IO);
    // b: IO 2, HLT 1.
    expect(s.reasonsOf([b])).toEqual([new Map([[IO, 2], [HLT, 1]])]);
  });

  it('more (cell, reason) pairs than the side table starts with (64): none is lost, a full table reads no pair past its end', () => {
    const { s, cell } = store();
    // 128 cells, each HLT 100 + j then IO 10: 128 pairs in the side table, which doubles once (64 -> 128) and is then full.
    // Idle of cell j: its time 110 + j less its IO 10 = 100 + j.
    const ids = Array.from({ length: 128 }, (_, j) => cell(j));
    ids.forEach((id, j) => { s.add(id, 100 + j, HLT); s.add(id, 10, IO); });
    const reasons = s.reasonsOf(ids);
    expect(reasons.filter((m) => !(m.size === 2 && m.get(IO) === 1 && m.get(HLT) === 1))).toEqual([]);
    const idle = s.idleByCell();
    expect(ids.map((id) => idle.get(id))).toEqual(ids.map((_, j) => 100 + j));
  });
});

/** A chunk of rows at `ts` (ns after tsBase), one vcpu, reason and duration each; rip k per row so address cells differ. */
function chunk(rows: ReadonlyArray<{ ts: number; reason: number; dur: number; rip?: number }>, tsBase: bigint): ExitChunk {
  const c = new ExitChunk(rows.length, tsBase);
  rows.forEach((r, i) => {
    c.ts[i] = r.ts; c.reason[i] = r.reason; c.dur[i] = r.dur; c.ripHi[i] = 0xffffffff; c.ripLo[i] = r.rip ?? 0x81000000;
    if (Number.isNaN(r.dur)) c.flags[i] = F_UNPAIRED;
  });
  c.length = rows.length;
  return c;
}
const all = (n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => i);

describe('--interval series', () => {
  it('exits and handling time per 100 ns window, counted from each input\'s first timestamp', () => {
    const h = new CellsHandler(['reason'], new AddressResolver(null, false), { ns: 100 });
    h.reset();
    // Input 0 (base 5000 ns): IO at 250 (window 2, 7 ns), IO at 30 (window 0, 3 ns), IO at 4050 (window 40, 11 ns),
    // HLT at 60 (window 0, 500 ns idle: an exit of the window, no handling time).
    const c0 = chunk([{ ts: 250, reason: IO, dur: 7 }, { ts: 30, reason: IO, dur: 3 }, { ts: 4050, reason: IO, dur: 11 }, { ts: 60, reason: HLT, dur: 500 }], 5000n);
    h.handleChunk(c0, all(4), 4, 0);
    // Input 1 (base 9000 ns): IO at 120 (window 1, 4 ns).
    h.handleChunk(chunk([{ ts: 120, reason: IO, dur: 4 }], 9000n), all(1), 1, 1);
    const d = h.data();
    // Windows 0..40 seen: 41, however the exits were ordered.
    expect(d.intervals).toBe(41);
    expect(d.intervalOrigin).toEqual([5000, 9000]);
    expect(d.seriesCapped).toBe(false);
    const windows = (reason: number) => {
      const id = [...Array(d.store.size).keys()].find((k) => d.store.reason0(k) === reason)!;
      const s = d.store.series[id]!;
      const out: Array<[number, number, number]> = [];
      for (let j = 0; j < d.intervals; j++) if ((s[2 * j] ?? 0) || (s[2 * j + 1] ?? 0)) out.push([j, s[2 * j], s[2 * j + 1]]);
      return out;
    };
    // IO: window 0 one exit 3 ns, window 1 one exit 4 ns (input 1), window 2 one exit 7 ns, window 40 one exit 11 ns.
    expect(windows(IO)).toEqual([[0, 1, 3], [1, 1, 4], [2, 1, 7], [40, 1, 11]]);
    expect(windows(HLT)).toEqual([[0, 1, 0]]);
  });
  // The slowest test of the file (65,537 cells with a series each): last.
  it(`series for the first ${SERIES_CELL_CAP} cells only, and it says so`, () => {
    const h = new CellsHandler(['address'], new AddressResolver(null, false), { ns: 1000 });
    h.reset();
    // 65,537 distinct addresses: cells 0..65,536; the last one is past the cap.
    const n = SERIES_CELL_CAP + 1;
    const c = new ExitChunk(n, 0n);
    for (let i = 0; i < n; i++) { c.ripLo[i] = 0x1000 + i; c.reason[i] = IO; c.dur[i] = 1; }
    c.length = n;
    h.handleChunk(c, all(n), n, 0);
    const d = h.data();
    expect(d.store.size).toBe(n);
    expect(d.seriesCapped).toBe(true);
    // Cell 65,535 (the last under the cap) has its 1 exit of 1 ns in interval 0; cell 65,536 has no series.
    expect(Array.from(d.store.series[SERIES_CELL_CAP - 1]!.subarray(0, 2))).toEqual([1, 1]);
    expect(d.store.series[SERIES_CELL_CAP]).toBeUndefined();
  });
});

describe('sketches in later pages of cells (a page gets its sketch column on its first sketch)', () => {
  it('cells past the first 2^16 take sketches of their own; their neighbours keep their exact samples', () => {
    const { s, cell } = store();
    const n = 140_000; // three pages of cells
    for (let k = 0; k < n; k++) s.add(cell(k), 1000 + k, IO);
    // Cell 70,000 (page 1) and cell 5 (page 0) get 20 more samples each: 21 in all, past the three kept exactly.
    for (const k of [70_000, 5]) for (let j = 1; j <= 20; j++) s.add(cell(k), 100 * j, IO);
    for (const k of [70_000, 5]) {
      // Worked out: 1000 + k, then 100..2000.
      expect(merged(s, cell(k))).toEqual({ count: 21, sum: 1000 + k + 100 * 210, min: 100, max: Math.max(1000 + k, 2000) });
      expect(s.samples(cell(k))).toEqual([]);
    }
    // Every other cell, in every page, still holds its one exact sample (none was handed another cell's sketch).
    let wrong = 0;
    for (let k = 0; k < n; k++) {
      if (k === 5 || k === 70_000) continue;
      const x = s.samples(cell(k));
      if (x.length !== 1 || x[0] !== 1000 + k || s.timed(cell(k)) !== 1) wrong++;
    }
    expect(wrong).toBe(0);
  });
});
