/**
 * `analyze`: one streaming pass over the inputs into cells, then rows (the
 * paper's Tables 1-3 for any trace, in perf kvm stat's terms, and the views a
 * KVM engineer asks for next: per VM, per vcpu, per device, over time).
 *
 * The KASLR slide is decided once, in src/symbols, before any exit is keyed:
 * from the distinct RIPs of the first PREFIX_EXITS exits (the whole trace when
 * shorter), which are held back and then streamed like the rest. From then on
 * each distinct RIP is symbolized once and exits aggregate by function while
 * streaming, so memory follows the number of distinct keys, not the trace.
 */
import type { TraceStream } from '../formats/index.js';
import { summarizeInput } from '../formats/summary.js';
import { ExitscopeError } from '../model/errors.js';
import { formatHex } from '../model/u64.js';
import { IoMap } from '../symbols/iomap.js';
import { msrName } from '../symbols/msrs.js';
import type { KaslrOption, Symbolizer } from '../symbols/index.js';
import { CellsHandler } from './cells.js';
import { DIMENSION_SPECS, parseDimensions, type Dimension, type LabelContext } from './dimensions.js';
import { Census, ReasonFilter, type ExitFilter } from './filter.js';
import { HandlerRun } from './handler.js';
import { openSymbolized } from './source.js';
import { AddressResolver } from './resolver.js';
import { describeRows, groupCells, rankRows, rowLabels, rowText } from './rows.js';
import type { AnalyzeReport, SortBy } from './schema.js';
import { TotalsHandler } from './totals.js';
import { groupDigits } from '../model/numbers.js';

export { summarizeInput } from '../formats/summary.js';
// Types only: the schemas (zod) load with ./schema.js, for JSON output and `exitscope schema`, not to read and rank.
export type * from './schema.js';
export { ByValues, SortValues } from './sort-values.js';
export { runHandlers, HandlerRun, type ExitHandler, type InputChunk } from './handler.js';
export { ReasonFilter, Census, type ExitFilter } from './filter.js';
export { TotalsHandler } from './totals.js';
export { CellsHandler, CellStore } from './cells.js';
export { DurationSketch } from './duration-sketch.js';
export { DIMENSIONS, parseDimensions, type Dimension } from './dimensions.js';
export { AddressResolver } from './resolver.js';
export { isIdleReason } from './idle.js';

export { PREFIX_EXITS, openSymbolized, ripWeights, type SymbolizedSource, type SourceOptions } from './source.js';

export interface AnalyzeOptions {
  /** Trace paths, or already opened streams (e.g. an emulation). */
  inputs: ReadonlyArray<string | TraceStream>;
  maps?: readonly string[];
  /** One dimension or several (`function,vcpu`). */
  by?: Dimension | readonly Dimension[] | string;
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
  /** Rank and Time% by handling + idle time instead of handling time. */
  includeIdle?: boolean;
  /** Unresolved addresses as their own rows instead of the [guest user] / [guest kernel, no symbol] / [firmware] roll-ups. */
  keepUnknown?: boolean;
  /** Time series width in ns (`--interval`). */
  intervalNs?: number;
  /** /proc/ioports and /proc/iomem of the guest (`--iomap`). */
  iomaps?: readonly string[];
  /** MSR names for `--by msr` (index -> name). */
  msrName?: (index: number) => string | null;
  /** Keep reading growing inputs until the signal aborts (`--follow`). */
  follow?: { signal: AbortSignal };
  /** Called with a report of the exits so far every `everyMs` (live view, `--follow`). */
  progress?: { everyMs: number; report: (rep: AnalyzeReport) => void };
}

export async function analyze(opts: AnalyzeOptions): Promise<AnalyzeReport> {
  const dims = parseDimensionsOrThrow(opts.by ?? 'function');
  const sort = opts.sort ?? 'count';
  const top = opts.top ?? 20;
  const includeIdle = opts.includeIdle ?? false;
  const iomap = await IoMap.load(opts.iomaps ?? []);
  const rf = new ReasonFilter(opts.reasons ?? [], opts.excludeReasons ?? []);
  const filter: ExitFilter = { reasons: rf.active ? rf : null, vcpus: opts.vcpus && opts.vcpus.length ? new Set(opts.vcpus) : null };
  const src = await openSymbolized({ ...opts, follow: opts.follow?.signal });
  const { streams, symbolizer, resolver } = src;
  const notes = src.notes;
  const totals = new TotalsHandler(symbolizer && !symbolizer.empty ? resolver : null);
  const cells = new CellsHandler(dims, resolver, opts.intervalNs ? { ns: opts.intervalNs } : null);
  const census = new Census();
  const run = new HandlerRun([totals, cells], filter, census);
  const build = (final: boolean): AnalyzeReport => report({ dims, sort, top, includeIdle, streams, symbolizer, resolver, iomap, totals, cells, census, filter, notes, msrName: opts.msrName, intervalNs: opts.intervalNs, final });
  // A live view redraws on a clock, also while the input is quiet.
  const timer = opts.progress ? setInterval(() => opts.progress!.report(build(false)), opts.progress.everyMs) : null;
  try {
    for await (const p of src.chunks) {
      run.feed(p.chunk, p.input);
      // Handlers keep nothing of a chunk past feed (cells and totals copy what they aggregate): its reader may refill it.
      streams[p.input].release?.(p.chunk);
    }
  } finally {
    if (timer) clearInterval(timer);
  }
  run.finish();
  for (const s of streams) {
    const st = s.stats;
    if (st.events === 0 && st.rejected > 0) throw new ExitscopeError(`${st.path}: none of its ${groupDigits(st.rejected)} lines could be read as ${st.format} (the first: ${st.rejections[0]?.replace(/^[^:]*:/, 'line ') ?? '?'}); is it in another format? (drop --input-format to let exitscope sniff it)`);
  }
  census.check(filter);
  return build(true);
}

function parseDimensionsOrThrow(by: string | readonly string[]): Dimension[] {
  try {
    return parseDimensions(by);
  } catch (e) {
    throw new ExitscopeError(`--by: ${(e as Error).message.replace(/^unknown --by /, 'unknown dimension ')} (choose from: ${Object.keys(DIMENSION_SPECS).join(', ')}; several with commas, e.g. function,vcpu)`);
  }
}

interface ReportParts {
  dims: Dimension[];
  sort: SortBy;
  top: number;
  includeIdle: boolean;
  streams: readonly TraceStream[];
  symbolizer: Symbolizer | null;
  resolver: AddressResolver;
  iomap: IoMap;
  totals: TotalsHandler;
  cells: CellsHandler;
  census: Census;
  filter: ExitFilter;
  notes: readonly string[];
  msrName?: (index: number) => string | null;
  intervalNs?: number;
  final: boolean;
}

function report(p: ReportParts): AnalyzeReport {
  const t = p.totals.data();
  const cd = p.cells.data();
  const inputs = p.streams.map((s) => ({ path: s.path, vms: s.vms }));
  const vmsSeen = new Set(t.vcpus.map((v) => `${v.input}:${v.vm}`));
  const several = vmsSeen.size > 1;
  const ctx: LabelContext = { resolver: p.resolver, iomap: p.iomap, inputs, severalVms: several && !p.dims.includes('vm'), msrName: p.msrName ?? ((m) => msrName(m)?.name ?? null) };
  const g = groupCells(cd);
  let viewExits = 0, viewTime = 0;
  for (let r = 0; r < g.rows; r++) { viewExits += g.countOf(r); viewTime += p.includeIdle ? g.handlingOf(r) + g.idleOf(r) : g.handlingOf(r); }
  const { order, omitted } = rankRows(g, p.sort, p.includeIdle, p.top, (r) => rowText(rowLabels(g, cd, r, ctx)));
  const rows = describeRows(order, g, cd, ctx, { includeIdle: p.includeIdle, viewExits, viewTimeNs: viewTime });
  const notes = [...p.notes];
  const specs = p.dims.map((d) => DIMENSION_SPECS[d]);
  if (cd.unkeyed > 0) {
    const needs = specs.filter((s) => s.covers).map((s) => s.covers).join(' and ');
    notes.push(`${groupDigits(cd.unkeyed)} of ${groupDigits(t.exits)} exits carry no ${needs} and are not in this view`);
  }
  if (t.timed < t.exits) notes.push(`${groupDigits(t.exits - t.timed)} exits have no known duration (unpaired exit/entry): counted, left out of time statistics`);
  if (!p.symbolizer && specs.some((s) => s.symbolic || s.name === 'address')) notes.push('no --map given: guest addresses are shown as [unknown] rows');
  if (t.split && t.split.unresolved.exits + t.split.user.exits > 0 && p.resolver.keepUnknown) {
    notes.push(`${groupDigits(t.split.unresolved.exits + t.split.user.exits)} exits at addresses no map resolves, shown one row per address (--keep-unknown)`);
  }
  if (t.split && t.split.unresolved.exits > 0 && !p.resolver.keepUnknown && specs.some((s) => s.symbolic)) {
    const mods = p.symbolizer!.sources.some((s) => s.columns.modules.length > 1);
    notes.push(`${groupDigits(t.split.unresolved.exits)} exits in the guest kernel's address space outside every map${mods ? '' : ' (modules? give /proc/kallsyms with its [module] lines, or MODULE.ko@BASE)'}; --keep-unknown lists them by address`);
  }
  if (p.dims.some((d) => d === 'caller' || d === 'callsite') && rows.length && rows.every((r) => r.caller === '[no caller]')) notes.push('this trace carries no caller column: every row is [no caller]');
  if (cd.seriesCapped) notes.push(`--interval series kept for the first ${groupDigits(65536)} keys only`);
  if (!p.final) notes.push('live: exits so far');
  const slide = p.symbolizer?.slide;
  const symbolic = p.dims.some((d) => DIMENSION_SPECS[d].symbolic || d === 'address' || d === 'callsite');
  const kaslrNote = !p.symbolizer ? 'no map given' : !symbolic && slide!.mode === 'none' ? `not needed for --by ${p.dims.join(',')}` : slide!.note;
  return {
    schema: 'exitscope.analyze/v3',
    by: p.dims,
    sort: p.sort,
    includeIdle: p.includeIdle,
    inputs: p.streams.map(summarizeInput),
    totals: {
      exits: t.exits, timeNs: t.timeNs, handlingNs: t.handlingNs, idleNs: t.idleNs, timed: t.timed, spanNs: t.spanNs,
      vcpus: t.vcpus.length,
      perVcpu: t.vcpus.map((v) => ({
        ...v,
        label: several ? DIMENSION_SPECS.vcpu.label([v.input, v.vm >>> 0, v.vcpu], 0, { ...ctx, severalVms: true }).text : `vcpu ${v.vcpu}`,
        handlingShare: v.wallNs ? Math.round((v.handlingNs / v.wallNs) * 1e6) / 1e6 : 0,
        idleShare: v.wallNs ? Math.round((v.idleNs / v.wallNs) * 1e6) / 1e6 : 0,
      })),
      split: t.split,
    },
    view: { exits: viewExits, timeNs: viewTime },
    interval: p.intervalNs ? { ns: p.intervalNs, count: cd.intervals, capped: cd.seriesCapped } : null,
    kaslr: { slide: formatHex(slide?.slide ?? 0n), mode: slide?.mode ?? 'none', note: kaslrNote },
    rows,
    omitted,
    notes,
  };
}
