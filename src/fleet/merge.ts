/**
 * Merging summaries, and analyze's views from a (merged) summary.
 *
 * merge is a commutative monoid on summaries: hosts and traces are unions
 * (kept sorted), totals and every cell's counts, sums, extremes, samples and
 * histogram buckets add exactly, labels keep the value every side agrees on
 * (else null). So merge(a, b) = merge(b, a) and merge(merge(a, b), c) =
 * merge(a, merge(b, c)) field for field, the stddev's m2 up to float rounding
 * (see sketch.ts); a fleet can merge per rack, then per region, in any order.
 * A trace found in two summaries is refused: it would count twice.
 *
 * A view is then what analyze computes from its cells: rows grouped from
 * (key, reason) cells, ranked by analyze's own rankRows (same order, same tie
 * breaks), with the same percentiles (the same sketch rule).
 */
import { readFile } from 'node:fs/promises';
import { DIMENSION_SPECS } from '../analyze/dimensions.js';
import { KeyTable } from '../analyze/key-table.js';
import { rankRows, type RowGroups } from '../analyze/rows.js';
import type { AnalyzeRow, SortBy } from '../analyze/schema.js';
import { ExitscopeError } from '../model/errors.js';
import { zodMessage } from '../util/zod-message.js';
import { EMPTY_DIST, SKETCH_PARAMS, distQuantile, distStddev, mergeDist, type Dist } from './sketch.js';
import { SUMMARY_VIEWS, SummarySchema, type MergeReport, type Summary, type SummaryRow, type SummaryView } from './schema.js';
import { canonicalRows, mergeRowInto, sortTraces } from './summarize.js';
import { groupDigits } from '../model/numbers.js';

/** Reads and validates a summary file; errors name the file and the field. */
export async function readSummary(path: string): Promise<Summary> {
  let text: string;
  try { text = await readFile(path, 'utf8'); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ExitscopeError(`${path}: cannot read summary (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message})`);
  }
  let json: unknown;
  try { json = JSON.parse(text); } catch (e) {
    throw new ExitscopeError(`${path}: not JSON (${(e as Error).message}); expected a summary written by exitscope summarize`);
  }
  const schema = (json as { schema?: unknown } | null)?.schema;
  if (schema !== 'exitscope.summary/v1') throw new ExitscopeError(`${path}: not an exitscope summary (schema ${JSON.stringify(schema ?? null)}, expected "exitscope.summary/v1"; write one with exitscope summarize)`);
  const r = SummarySchema.safeParse(json);
  if (!r.success) throw new ExitscopeError(`${path}: ${zodMessage(r.error)}`);
  return r.data;
}

/** What makes two summaries' traces the same trace. */
export const traceId = (t: Summary['traces'][number]): string => JSON.stringify([t.host, t.path, t.firstNs, t.exits]);

/** Merges any number of summaries (at least one) into one. */
export function mergeSummaries(list: readonly Summary[]): Summary {
  if (list.length === 0) throw new ExitscopeError('merge: name at least one summary');
  const seen = new Map<string, number>();
  list.forEach((s, k) => {
    for (const t of s.traces) {
      const id = traceId(t);
      if (t.exits > 0 && seen.has(id)) throw new ExitscopeError(`merge: the trace ${t.host}:${t.path} (${groupDigits(t.exits)} exits from ${t.firstNs} ns) is in summaries ${seen.get(id)! + 1} and ${k + 1}; merging would count its exits twice`);
      seen.set(id, k);
    }
  });
  const reasons: Summary['reasons'] = {};
  for (const s of list) {
    for (const [name, r] of Object.entries(s.reasons)) {
      const have = reasons[name];
      if (have && JSON.stringify(have) !== JSON.stringify(r)) throw new ExitscopeError(`merge: summaries disagree on exit reason ${name} (${JSON.stringify(have)} vs ${JSON.stringify(r)})`);
      reasons[name] = r;
    }
  }
  const split = (part: 'kernel' | 'user' | 'unresolved') => ({
    exits: list.reduce((n, s) => n + s.totals.split[part].exits, 0),
    timeNs: list.reduce((n, s) => n + s.totals.split[part].timeNs, 0),
  });
  const sum = (f: (s: Summary) => number): number => list.reduce((n, s) => n + f(s), 0);
  const views = {} as Summary['views'];
  for (const v of SUMMARY_VIEWS) {
    const rows = new Map<string, SummaryRow>();
    for (const s of list) {
      for (const row of s.views[v]) {
        const have = rows.get(row.key);
        if (have) mergeRowInto(have, row);
        else rows.set(row.key, { ...row, reasons: { ...row.reasons } });
      }
    }
    views[v] = canonicalRows(rows.values());
  }
  return {
    schema: 'exitscope.summary/v1',
    sketch: { ...SKETCH_PARAMS },
    hosts: [...new Set(list.flatMap((s) => s.hosts))].sort(),
    traces: sortTraces(list.flatMap((s) => s.traces)),
    reasons: Object.fromEntries(Object.keys(reasons).sort().map((k) => [k, reasons[k]])),
    totals: {
      exits: sum((s) => s.totals.exits), timed: sum((s) => s.totals.timed),
      handlingNs: sum((s) => s.totals.handlingNs), idleNs: sum((s) => s.totals.idleNs), spanNs: sum((s) => s.totals.spanNs),
      split: { kernel: split('kernel'), user: split('user'), unresolved: split('unresolved') },
    },
    views,
  };
}

export interface ViewOptions {
  by?: SummaryView | string;
  sort?: SortBy;
  top?: number;
  includeIdle?: boolean;
  /** How many summary files went in (for the report's header). */
  summaries?: number;
}

export function parseView(by: string): SummaryView {
  if ((SUMMARY_VIEWS as readonly string[]).includes(by)) return by as SummaryView;
  const why = by.includes(',') ? 'summaries keep one view at a time, not cross tables' : DIMENSION_SPECS[by as keyof typeof DIMENSION_SPECS] ? `a summary does not keep the ${by} view (per-address rows stay with the trace: run analyze on it)` : `unknown view '${by}'`;
  throw new ExitscopeError(`--by ${by}: ${why}; choose from ${SUMMARY_VIEWS.join(', ')}`);
}

const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** The row text analyze would print; vcpu and VM rows name their host and VM only when the summary holds several. */
function rowText(view: SummaryView, row: SummaryRow, hosts: number, vms: number): string {
  if (view === 'vcpu') return `${hosts > 1 ? `${row.host}: ` : ''}${hosts > 1 || vms > 1 ? `${row.vm} ` : ''}vcpu ${row.vcpu}`;
  if (view === 'vm') return hosts > 1 ? `${row.host}: ${row.vm}` : row.vm!;
  return row.key;
}

function kaslrWords(s: Summary): string {
  const hostsOf = new Map<string, Set<string>>();
  for (const t of s.traces) hostsOf.set(t.kaslr.note, (hostsOf.get(t.kaslr.note) ?? new Set()).add(t.host));
  const list = (hs: Set<string>): string => [...hs].slice(0, 3).join(', ') + (hs.size > 3 ? ` and ${hs.size - 3} more` : '');
  if (hostsOf.size === 1) {
    const [[note, hs]] = [...hostsOf];
    return hs.size > 1 ? `${note} (every host, each decided when summarizing)` : note;
  }
  if (hostsOf.size <= 3) return [...hostsOf].map(([note, hs]) => `${list(hs)}: ${note}`).join(' | ');
  const modes = new Map<string, number>();
  for (const t of s.traces) modes.set(t.kaslr.mode, (modes.get(t.kaslr.mode) ?? 0) + 1);
  return `decided per host when summarizing: ${[...modes].map(([m, n]) => `${m === 'auto' ? 'slide found' : m === 'forced' ? 'slide forced' : 'no slide'} for ${n} ${n === 1 ? 'trace' : 'traces'}`).join(', ')}`;
}

/** One analyze view (`--by`) of a summary, with analyze's rows, ranking and notes. */
export function summaryView(s: Summary, opts: ViewOptions = {}): MergeReport {
  const by = parseView(opts.by ?? 'function');
  const sort = opts.sort ?? 'count';
  const top = opts.top ?? 20;
  const includeIdle = opts.includeIdle ?? false;
  const src = s.views[by];
  const n = src.length;
  const count = new Float64Array(n), handling = new Float64Array(n), idle = new Float64Array(n);
  const dists: Dist[] = [];
  src.forEach((row, r) => {
    let d = EMPTY_DIST;
    for (const [reason, x] of Object.entries(row.reasons)) {
      count[r] += x.count;
      if (s.reasons[reason]?.idle) idle[r] += x.sumNs; else handling[r] += x.sumNs;
      d = mergeDist(d, x);
    }
    dists.push(d);
  });
  const hosts = new Set(s.views.vcpu.map((r) => r.host)).size;
  const vms = new Set(s.views.vm.map((r) => r.key)).size;
  const texts = src.map((row) => rowText(by, row, hosts, vms));
  let viewExits = 0, viewTime = 0;
  for (let r = 0; r < n; r++) { viewExits += count[r]; viewTime += includeIdle ? handling[r] + idle[r] : handling[r]; }
  // analyze's ranking itself: rankRows reads only rows, count, handling and idle.
  const g: RowGroups = { rows: n, keys: new KeyTable(1, 16), countOf: (r) => count[r], handlingOf: (r) => handling[r], idleOf: (r) => idle[r] };
  const { order, omitted } = rankRows(g, sort, includeIdle, top, (r) => texts[r]);
  const rows: AnalyzeRow[] = order.map((r, k) => {
    const row = src[r], d = dists[r];
    const shown = includeIdle ? handling[r] + idle[r] : handling[r];
    const reasons = Object.fromEntries(Object.entries(row.reasons).map(([name, x]) => [name, x.count] as const).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
    const p50 = distQuantile(d, 0.5), p99 = distQuantile(d, 0.99), sd = distStddev(d);
    const out: AnalyzeRow = {
      rank: k + 1, key: texts[r], keys: { [by]: texts[r] },
      symbol: row.symbol ?? null, module: row.module ?? null, address: row.address ?? null,
      count: count[r], countPct: viewExits ? round4((count[r] / viewExits) * 100) : 0,
      timeNs: handling[r] + idle[r], handlingNs: handling[r], idleNs: idle[r],
      timePct: viewTime ? round4((shown / viewTime) * 100) : 0,
      timed: d.timed, minNs: d.minNs, meanNs: d.timed ? round4(d.sumNs / d.timed) : null,
      stddevNs: sd === null ? null : round4(sd), p50Ns: p50, p99Ns: p99, maxNs: d.maxNs, reasons,
    };
    if (row.device !== undefined) out.device = row.device;
    if (row.register !== undefined) out.register = row.register;
    return out;
  });
  const t = s.totals;
  const notes: string[] = [];
  const summaries = opts.summaries ?? 1;
  notes.push(`from ${groupDigits(summaries)} ${summaries === 1 ? 'summary' : 'summaries'}: ${groupDigits(s.hosts.length)} ${s.hosts.length === 1 ? 'host' : 'hosts'}, ${groupDigits(s.traces.length)} ${s.traces.length === 1 ? 'trace' : 'traces'}`);
  const covers = DIMENSION_SPECS[by].covers;
  if (covers && t.exits > viewExits) notes.push(`${groupDigits(t.exits - viewExits)} of ${groupDigits(t.exits)} exits carry no ${covers} and are not in this view`);
  if (t.timed < t.exits) notes.push(`${groupDigits(t.exits - t.timed)} exits have no known duration (unpaired exit/entry): counted, left out of time statistics`);
  if (by === 'function' && s.hosts.length > 1) notes.push('functions are merged across hosts by name and module; addresses are shown only where every host has the function at the same address');
  const mapped = s.traces.every((x) => x.symbols !== null);
  if (by === 'function' && !mapped) notes.push(`${groupDigits(s.traces.filter((x) => x.symbols === null).length)} traces were summarized without a map: their exits are [unknown] rows by address`);
  if (rows.some((r) => r.timed > SKETCH_PARAMS.exactLimit)) notes.push(`percentiles of rows with more than ${groupDigits(SKETCH_PARAMS.exactLimit)} timed exits come from a log-linear histogram (within ${(SKETCH_PARAMS.relativeError * 100).toFixed(2)}% of the exact value), as in analyze`);
  return {
    schema: 'exitscope.merge/v1',
    by: [by], sort, includeIdle,
    merged: { summaries, hosts: s.hosts, traces: s.traces.length, kaslr: kaslrWords(s) },
    totals: {
      exits: t.exits, timeNs: t.handlingNs + t.idleNs, handlingNs: t.handlingNs, idleNs: t.idleNs, timed: t.timed, spanNs: t.spanNs,
      vcpus: s.views.vcpu.length, perVcpu: [], split: mapped ? t.split : null,
    },
    view: { exits: viewExits, timeNs: viewTime },
    rows, omitted, sketch: { ...SKETCH_PARAMS }, notes,
  };
}
