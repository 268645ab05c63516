/**
 * `analyze`: one streaming pass over the inputs, then symbolization of the
 * distinct addresses and the grouped report (the paper's Tables 1-3 for any
 * trace, in perf kvm stat's terms).
 */
import { openTrace, type TraceStream } from '../formats/index.js';
import { formatHex } from '../model/u64.js';
import { loadSymbolizer, type KaslrOption, type Symbolizer } from '../symbols/index.js';
import { CellsHandler, type CellMode } from './cells.js';
import { Census, ReasonFilter, type ExitFilter } from './filter.js';
import { runHandlers } from './handler.js';
import { buildRows, ripWeights } from './hot.js';
import type { AnalyzeReport, GroupBy, SortBy } from './schema.js';
import { summarizeInput } from '../formats/summary.js';
import { TotalsHandler } from './totals.js';

export { summarizeInput } from '../formats/summary.js';
export * from './schema.js';
export { runHandlers, type ExitHandler } from './handler.js';
export { ReasonFilter, Census, type ExitFilter } from './filter.js';
export { TotalsHandler } from './totals.js';
export { CellsHandler } from './cells.js';
export { DurationSketch } from './duration-sketch.js';

export interface AnalyzeOptions {
  /** Trace paths, or already opened streams (e.g. an emulation). */
  inputs: ReadonlyArray<string | TraceStream>;
  maps?: readonly string[];
  by?: GroupBy;
  sort?: SortBy;
  top?: number;
  /** `--reason` words (names, aliases, codes; `!NAME` excludes). */
  reasons?: readonly string[];
  excludeReasons?: readonly string[];
  vcpus?: readonly number[];
  strict?: boolean;
  kaslr?: KaslrOption;
  inputFormat?: string;
  /** Already loaded maps (overrides `maps`). */
  symbolizer?: Symbolizer;
  /** What `-` reads. */
  stdin?: AsyncIterable<Buffer>;
}

const MODE_OF: Record<GroupBy, CellMode> = {
  function: 'rip', address: 'rip', caller: 'rip-caller', callsite: 'rip-caller', reason: 'reason', port: 'port', mmio: 'mmio', vcpu: 'vcpu',
};

export async function analyze(opts: AnalyzeOptions): Promise<AnalyzeReport> {
  const by = opts.by ?? 'function';
  const sort = opts.sort ?? 'count';
  const top = opts.top ?? 20;
  const symbolizer = opts.symbolizer ?? (opts.maps && opts.maps.length ? await loadSymbolizer(opts.maps) : null);
  const rf = new ReasonFilter(opts.reasons ?? [], opts.excludeReasons ?? []);
  const filter: ExitFilter = { reasons: rf.active ? rf : null, vcpus: opts.vcpus && opts.vcpus.length ? new Set(opts.vcpus) : null };
  const streams: TraceStream[] = [];
  for (const p of opts.inputs) streams.push(typeof p === 'string' ? await openTrace(p, { strict: opts.strict, format: opts.inputFormat, stdin: opts.stdin }) : p);
  const totals = new TotalsHandler();
  const cells = new CellsHandler(MODE_OF[by]);
  const census = new Census();
  await runHandlers(streams, [totals, cells], filter, census);
  census.check(filter);
  const cellData = cells.data();
  // The KASLR slide is settled once, here, from the trace's distinct RIPs, before any row is built.
  if (symbolizer && !symbolizer.empty && (cellData.mode === 'rip' || cellData.mode === 'rip-caller')) symbolizer.decideSlide(ripWeights(cellData), opts.kaslr ?? 'auto');
  const res = buildRows(cellData, by, sort, top, symbolizer);
  const t = totals.data();
  const notes: string[] = [];
  if (cellData.unkeyed > 0) notes.push(`${cellData.unkeyed} of ${t.exits} exits carry no ${by === 'port' ? 'I/O port' : 'MMIO'} detail and are not in this view`);
  if (t.timed < t.exits) notes.push(`${t.exits - t.timed} exits have no known duration (unpaired exit/entry): counted, left out of time statistics`);
  if (!symbolizer && (by === 'function' || by === 'caller' || by === 'callsite')) notes.push('no --map given: functions are shown as [unknown] addresses');
  if (res.unresolved.exits > 0 && symbolizer) notes.push(`${res.unresolved.exits} exits (${((res.unresolved.exits / Math.max(1, res.viewExits)) * 100).toFixed(1)}%) at ${res.unresolved.addresses} addresses no map resolves (guest user space, firmware, or a missing module map): shown as [unknown] rows`);
  if ((by === 'caller' || by === 'callsite') && res.rows.every((r) => r.caller === '[no caller]')) notes.push('this trace carries no caller column: every row is [no caller]');
  const slide = symbolizer?.slide;
  const kaslrNote = !symbolizer ? 'no map given' : slide!.mode === 'none' && (cellData.mode !== 'rip' && cellData.mode !== 'rip-caller') ? `not needed for --by ${by}` : slide!.note;
  return {
    schema: 'exitscope.analyze/v2',
    by,
    sort,
    inputs: streams.map(summarizeInput),
    totals: { exits: t.exits, timeNs: t.timeNs, timed: t.timed, spanNs: t.spanNs, vcpus: t.vcpus },
    view: { exits: res.viewExits, timeNs: res.viewTimeNs },
    kaslr: { slide: formatHex(slide?.slide ?? 0n), mode: slide?.mode ?? 'none', note: kaslrNote },
    rows: res.rows,
    omitted: res.omitted,
    notes,
  };
}
