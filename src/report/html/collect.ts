/**
 * The numbers behind the HTML report, from one read of the inputs: each input
 * is fanned out to one `analyze` run per view (by function, by reason, per
 * port, per MMIO address, per VM) and to the report's own handlers (exits per
 * second per vcpu, duration histograms per reason); with passes, a last
 * branch keeps the exits in memory for `estimate`.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { analyze, type AnalyzeReport, type AnalyzeRow } from '../../analyze/index.js';
import { runHandlers, type InputChunk } from '../../analyze/handler.js';
import type { Dimension } from '../../analyze/dimensions.js';
import { openTrace, type TraceStream } from '../../formats/index.js';
import { ExitTrace } from '../../model/chunk.js';
import { ExitscopeError } from '../../model/errors.js';
import { estimate } from '../../replay/estimate.js';
import type { PassSpec } from '../../replay/pipeline.js';
import { loadSymbolizer, type KaslrOption } from '../../symbols/index.js';
import { fanOut } from './fanout.js';
import { DurationHistogramHandler, ExitRateHandler } from './handlers.js';
import type { HtmlReport, RowsViewData } from './schema.js';

/** Reasons that get a duration histogram. */
export const HISTOGRAM_REASONS = 6;

export interface HtmlReportOptions {
  inputs: ReadonlyArray<string | TraceStream>;
  maps?: readonly string[];
  kaslr?: KaslrOption;
  strict?: boolean;
  inputFormat?: string;
  stdin?: AsyncIterable<Buffer>;
  iomaps?: readonly string[];
  /** Rows per table and bar chart. */
  top?: number;
  /** Optimizations to estimate (one input only). */
  passes?: readonly PassSpec[];
  transitionNs?: number;
  bootstrap?: number;
  /** Wraps each opened input before it is read (progress). */
  track?: (s: TraceStream) => TraceStream;
  title?: string;
  now?: Date;
}

function toolName(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', '..', 'package.json'), 'utf8')) as { name: string; version: string };
    return `${pkg.name} ${pkg.version}`;
  } catch {
    return 'exitscope';
  }
}

function rowsView(rep: AnalyzeReport, top: number): RowsViewData {
  const rows = top > 0 ? rep.rows.slice(0, top) : rep.rows;
  const rest = top > 0 ? rep.rows.slice(top) : [];
  const time = (r: AnalyzeRow): number => (rep.includeIdle ? r.handlingNs + r.idleNs : r.handlingNs);
  return {
    rows,
    view: rep.view,
    omitted: {
      rows: rep.omitted.rows + rest.length,
      count: rep.omitted.count + rest.reduce((s, r) => s + r.count, 0),
      timeNs: rep.omitted.timeNs + rest.reduce((s, r) => s + time(r), 0),
    },
    notes: rep.notes,
  };
}

/** analyze's --sort time order (handling time, then count, then the row's text), over rows ranked by count. */
function byTime(rows: readonly AnalyzeRow[], top: number): AnalyzeRow[] {
  const sorted = [...rows].sort((a, b) => b.handlingNs - a.handlingNs || b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return (top > 0 ? sorted.slice(0, top) : sorted).filter((r) => r.handlingNs > 0);
}

async function* tagged(streams: readonly TraceStream[]): AsyncGenerator<InputChunk> {
  for (let k = 0; k < streams.length; k++) for await (const chunk of streams[k].chunks) yield { chunk, input: k };
}

interface ViewSpec { name: 'functions' | 'reasons' | 'ports' | 'mmio' | 'vms'; by: Dimension; top: number }

export async function collectHtmlReport(o: HtmlReportOptions): Promise<HtmlReport> {
  const top = o.top ?? 20;
  const passes = o.passes ?? [];
  if (o.inputs.length === 0) throw new ExitscopeError('report: name at least one trace (- reads standard input)');
  if (passes.length && o.inputs.length !== 1) throw new ExitscopeError('report --pass: estimates replay one trace; give one trace, or leave out --pass');
  const opened: TraceStream[] = [];
  for (const p of o.inputs) {
    const s = typeof p === 'string' ? await openTrace(p, { strict: o.strict, format: o.inputFormat, stdin: o.stdin }) : p;
    opened.push(o.track ? o.track(s) : s);
  }
  const symbolizer = o.maps && o.maps.length ? await loadSymbolizer(o.maps) : undefined;
  // Function rows are all kept (top 0): the table shows the first N by count, the time chart the first N by time.
  const views: ViewSpec[] = [
    { name: 'functions', by: 'function', top: 0 },
    { name: 'reasons', by: 'reason', top: 0 },
    { name: 'ports', by: 'port', top },
    { name: 'mmio', by: 'mmio', top },
    { name: 'vms', by: 'vm', top: 0 },
  ];
  const keep = passes.length > 0;
  const width = views.length + 1 + (keep ? 1 : 0);
  const branches = opened.map((s) => fanOut(s, width));
  const branch = (k: number): TraceStream[] => branches.map((b) => b[k]);
  const rate = new ExitRateHandler();
  const hist = new DurationHistogramHandler();
  const [reports, , kept] = await Promise.all([
    Promise.all(views.map((v, k) => analyze({
      inputs: branch(k), symbolizer, maps: o.maps, kaslr: o.kaslr, by: v.by, top: v.top, sort: 'count', iomaps: o.iomaps,
    }))),
    runHandlers(tagged(branch(views.length)), [rate, hist]),
    keep ? ExitTrace.collect(branch(views.length + 1)[0].chunks, opened[0].columns) : Promise.resolve(null),
  ]);
  const rep = Object.fromEntries(views.map((v, k) => [v.name, reports[k]])) as Record<ViewSpec['name'], AnalyzeReport>;
  const fn = rep.functions;
  const totals = fn.totals;
  const labelOf = new Map(totals.perVcpu.map((v) => [`${v.input}:${v.vm | 0}:${v.vcpu}`, v.label]));
  const rd = rate.data();
  const empty = totals.exits === 0;
  let est: HtmlReport['estimate'] = null;
  if (kept && !empty) {
    est = await estimate({ input: kept, maps: o.maps, passes, kaslr: o.kaslr, transitionNs: o.transitionNs, bootstrap: o.bootstrap });
    est = { ...est, input: fn.inputs[0] };
  }
  return {
    schema: 'exitscope.report/v1',
    title: o.title ?? `exitscope report: ${opened.map((s) => basename(s.path)).join(', ')}`,
    generated: { tool: toolName(), at: (o.now ?? new Date()).toISOString() },
    inputs: fn.inputs,
    maps: symbolizer ? symbolizer.sources.map((s) => s.path) : [],
    kaslr: fn.kaslr,
    totals,
    notes: fn.notes,
    top,
    functions: { ...rowsView(fn, top), byTime: byTime(fn.rows, top) },
    reasons: rowsView(rep.reasons, 0),
    ports: rep.ports.view.exits > 0 ? rowsView(rep.ports, top) : null,
    mmio: rep.mmio.view.exits > 0 ? rowsView(rep.mmio, top) : null,
    vms: rep.vms.rows.length > 1 ? rowsView(rep.vms, 0) : null,
    exitRate: empty ? null : {
      binNs: rd.binNs,
      series: rd.series.map((s) => ({ label: labelOf.get(`${s.input}:${s.vm}:${s.vcpu}`) ?? `vcpu ${s.vcpu}`, exits: s.exits, lastBinNs: s.lastBinNs })),
    },
    histograms: hist.data().filter((h) => h.timed > 0).slice(0, HISTOGRAM_REASONS),
    estimate: est,
  };
}
