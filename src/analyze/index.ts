/**
 * `analyze`: one streaming pass over the inputs, then symbolization of the
 * distinct addresses and the grouped report (the paper's Tables 1-3 for any
 * trace, in perf kvm stat's terms).
 */
import { openTrace, type TraceStream } from '../formats/index.js';
import { ExitscopeError } from '../model/errors.js';
import { REASONS } from '../model/reasons.js';
import { formatHex } from '../model/u64.js';
import { loadSymbolizer, type KaslrOption, type Symbolizer } from '../symbols/index.js';
import { CellsHandler, type CellMode } from './cells.js';
import { runHandlers, type ExitFilter } from './handler.js';
import { buildRows } from './hot.js';
import type { AnalyzeReport, GroupBy, SortBy } from './schema.js';
import { summarizeInput } from '../formats/summary.js';
export { summarizeInput } from '../formats/summary.js';
import { TotalsHandler } from './totals.js';

export * from './schema.js';
export { runHandlers, type ExitHandler, type ExitFilter } from './handler.js';
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
  reasons?: readonly string[];
  vcpus?: readonly number[];
  strict?: boolean;
  kaslr?: KaslrOption;
  inputFormat?: string;
  /** Already loaded maps (overrides `maps`). */
  symbolizer?: Symbolizer;
}

const MODE_OF: Record<GroupBy, CellMode> = {
  function: 'rip', address: 'rip', caller: 'rip-caller', callsite: 'rip-caller', reason: 'reason', port: 'port', mmio: 'mmio', vcpu: 'vcpu',
};

export function reasonFilter(names: readonly string[] | undefined): Set<number> | null {
  if (!names || names.length === 0) return null;
  const ids = new Set<number>();
  for (const n of names) {
    const m = REASONS.matching(n.trim());
    if (m.length === 0) throw new ExitscopeError(`--reason: unknown exit reason '${n}' (e.g. IO_INSTRUCTION, EXTERNAL_INTERRUPT, HLT, MSR_WRITE, io, npf)`);
    m.forEach((id) => ids.add(id));
  }
  return ids;
}

export async function analyze(opts: AnalyzeOptions): Promise<AnalyzeReport> {
  const by = opts.by ?? 'function';
  const sort = opts.sort ?? 'count';
  const top = opts.top ?? 20;
  const symbolizer = opts.symbolizer ?? (opts.maps && opts.maps.length ? await loadSymbolizer(opts.maps) : null);
  const filter: ExitFilter = { reasons: reasonFilter(opts.reasons), vcpus: opts.vcpus && opts.vcpus.length ? new Set(opts.vcpus) : null };
  const streams: TraceStream[] = [];
  for (const p of opts.inputs) streams.push(typeof p === 'string' ? await openTrace(p, { strict: opts.strict, format: opts.inputFormat }) : p);
  const totals = new TotalsHandler();
  const cells = new CellsHandler(MODE_OF[by]);
  await runHandlers(streams, [totals, cells], filter);
  const res = buildRows(cells.data(), by, sort, top, symbolizer, opts.kaslr ?? 'auto');
  const t = totals.data();
  const notes: string[] = [];
  const cellData = cells.data();
  if (cellData.unkeyed > 0) notes.push(`${cellData.unkeyed} of ${t.exits} exits carry no ${by === 'port' ? 'I/O port' : 'MMIO'} detail and are not in this view`);
  if (t.timed < t.exits) notes.push(`${t.exits - t.timed} exits have no known duration (unpaired exit/entry): counted, left out of time statistics`);
  if (!symbolizer && (by === 'function' || by === 'caller' || by === 'callsite')) notes.push('no --map given: functions are shown as [unknown] addresses');
  if (res.unresolved.exits > 0 && symbolizer) notes.push(`${res.unresolved.exits} exits (${((res.unresolved.exits / Math.max(1, res.viewExits)) * 100).toFixed(1)}%) at ${res.unresolved.addresses} addresses no map resolves (guest user space, firmware, or a missing module map): shown as [unknown] rows`);
  if ((by === 'caller' || by === 'callsite') && res.rows.every((r) => r.caller === null)) notes.push('this trace carries no caller column: every row is [no caller]');
  const slide = symbolizer?.slide;
  return {
    schema: 'exitscope.analyze/v1',
    by,
    sort,
    inputs: streams.map(summarizeInput),
    totals: { exits: t.exits, timeNs: t.timeNs, timed: t.timed, spanNs: t.spanNs, vcpus: t.vcpus },
    kaslr: { slide: formatHex(slide?.slide ?? 0n), mode: slide?.mode ?? 'none', note: slide?.note ?? 'no map given' },
    rows: res.rows,
    omitted: res.omitted,
    notes,
  };
}
