/**
 * Cells to report rows in three separate steps:
 * 1. group: every cell to its row (the cell key without the reason word), with
 *    count and handling/idle time per row in flat arrays;
 * 2. rank: top N by count or by time (handling time unless --include-idle),
 *    ties broken by the row's text like `sort -k` would;
 * 3. describe: labels, reasons, and the duration distribution (percentiles,
 *    stddev) for the rows shown only.
 */
import { REASONS } from '../model/reasons.js';
import { formatHex } from '../model/u64.js';
import type { CellsData } from './cells.js';
import { DIMENSION_SPECS, type DimLabel, type LabelContext } from './dimensions.js';
import { DurationSketch } from './duration-sketch.js';
import { KeyTable } from './key-table.js';
import type { AnalyzeRow } from './schema.js';

export interface RowGroups {
  rows: number;
  keys: KeyTable;
  countOf(r: number): number;
  handlingOf(r: number): number;
  idleOf(r: number): number;
}

/** Step 1: the rows are the cells (a cell is keyed by the view's dimensions alone). */
export function groupCells(cells: CellsData): RowGroups {
  const st = cells.store;
  const idle = st.idleByCell();
  return {
    rows: st.size, keys: st.table,
    countOf: (r) => st.count(r),
    idleOf: (r) => idle.get(r) ?? 0,
    handlingOf: (r) => st.sum(r) - (idle.get(r) ?? 0),
  };
}

/** A row's text: the dimensions' labels joined (`vm 1 | vcpu 0`). */
export function rowLabels(g: RowGroups, cells: CellsData, r: number, ctx: LabelContext): DimLabel[] {
  const key = new Uint32Array(Math.max(g.keys.width, 1));
  for (let w = 0; w < g.keys.width; w++) key[w] = g.keys.key(r, w);
  return cells.dims.map((d, j) => DIMENSION_SPECS[d].label(key, cells.offsets[j], ctx));
}

export const rowText = (labels: readonly DimLabel[]): string => labels.map((l) => l.text).join(' | ');

/** Rows above which ties are broken by row number instead of text (labelling every row would cost memory). */
export const LABEL_TIEBREAK_LIMIT = 200_000;

/** Step 2: the rows to show, in order, and what the rest add up to. */
export function rankRows(g: RowGroups, sort: 'count' | 'time', includeIdle: boolean, top: number, textOf: ((r: number) => string) | null): { order: number[]; omitted: { rows: number; count: number; timeNs: number } } {
  const time = (r: number): number => (includeIdle ? g.handlingOf(r) + g.idleOf(r) : g.handlingOf(r));
  const texts = textOf && g.rows <= LABEL_TIEBREAK_LIMIT ? Array.from({ length: g.rows }, (_, r) => textOf(r)) : null;
  const before = (a: number, b: number): boolean => {
    const d = sort === 'time' ? time(b) - time(a) || g.countOf(b) - g.countOf(a) : g.countOf(b) - g.countOf(a) || time(b) - time(a);
    if (d !== 0) return d < 0;
    if (texts) return texts[a] < texts[b] || (texts[a] === texts[b] && a < b);
    return a < b;
  };
  let order: number[];
  if (top > 0 && g.rows > top) {
    // Insertion into a small sorted list: the tail is rejected in O(1).
    order = [];
    for (let r = 0; r < g.rows; r++) {
      if (order.length === top && !before(r, order[top - 1])) continue;
      let k = order.length === top ? top - 1 : order.length;
      if (order.length < top) order.push(r);
      while (k > 0 && before(r, order[k - 1])) { order[k] = order[k - 1]; k--; }
      order[k] = r;
    }
  } else {
    order = Array.from({ length: g.rows }, (_, r) => r).sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  }
  const shown = new Uint8Array(g.rows);
  for (const r of order) shown[r] = 1;
  let rc = 0, rt = 0;
  for (let r = 0; r < g.rows; r++) if (!shown[r]) { rc += g.countOf(r); rt += time(r); }
  return { order, omitted: { rows: g.rows - order.length, count: rc, timeNs: rt } };
}

const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** Step 3: the shown rows, described. */
export function describeRows(order: readonly number[], g: RowGroups, cells: CellsData, ctx: LabelContext, opts: { includeIdle: boolean; viewExits: number; viewTimeNs: number }): AnalyzeRow[] {
  const st = cells.store;
  const sketches = order.map((r) => { const s = new DurationSketch(); st.mergeInto(r, s); return s; });
  const reasonMaps = st.reasonsOf(order);
  const series = cells.intervals > 0 ? order.map((r) => { const t = new Float64Array(2 * cells.intervals); const s = st.series[r]; if (s) for (let j = 0; j < Math.min(s.length, t.length); j++) t[j] += s[j]; return t; }) : null;
  return order.map((r, k) => {
    const s = sketches[k];
    const labels = rowLabels(g, cells, r, ctx);
    const fields: DimLabel = Object.assign({ text: '' }, ...labels);
    const reasons: Record<string, number> = {};
    [...reasonMaps[k].entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0]).forEach(([id, n]) => { reasons[REASONS.get(id).name] = n; });
    const handling = g.handlingOf(r), idle = g.idleOf(r);
    const shownTime = opts.includeIdle ? handling + idle : handling;
    const row: AnalyzeRow = {
      rank: k + 1,
      key: rowText(labels),
      keys: Object.fromEntries(cells.dims.map((d, j) => [d, labels[j].text])),
      symbol: fields.symbol ?? null,
      module: fields.module ?? null,
      address: fields.address === undefined || fields.address === null ? null : formatHex(fields.address),
      count: g.countOf(r),
      countPct: opts.viewExits ? round4((g.countOf(r) / opts.viewExits) * 100) : 0,
      timeNs: handling + idle,
      handlingNs: handling,
      idleNs: idle,
      timePct: opts.viewTimeNs ? round4((shownTime / opts.viewTimeNs) * 100) : 0,
      timed: s.count,
      minNs: s.count ? s.min : null,
      meanNs: s.count ? round4(s.mean) : null,
      stddevNs: s.count ? round4(s.stddev) : null,
      p50Ns: s.count ? s.quantile(0.5) : null,
      p99Ns: s.count ? s.quantile(0.99) : null,
      maxNs: s.count ? s.max : null,
      reasons,
    };
    if (fields.caller !== undefined) {
      row.caller = fields.caller;
      row.callerAddress = fields.callerAddress === undefined || fields.callerAddress === null ? null : formatHex(fields.callerAddress);
    }
    if (fields.device !== undefined) row.device = fields.device;
    if (fields.register !== undefined) row.register = fields.register;
    if (series) {
      const t = series[k];
      row.series = { exits: Array.from({ length: cells.intervals }, (_, j) => t[2 * j]), handlingNs: Array.from({ length: cells.intervals }, (_, j) => t[2 * j + 1]) };
    }
    return row;
  });
}
