/**
 * Renderers for the analyze report. The terminal table follows perf kvm stat
 * report (Samples, Samples%, Time%, Min, Max, Avg ±stddev%) so its readers
 * feel at home, and adds what perf cannot: symbols, modules, percentiles, top
 * reasons.
 */
import type { AnalyzeReport, AnalyzeRow, GroupBy } from '../analyze/schema.js';
import { describeCounters } from '../model/counters.js';
import { formatCsv, formatTable, type Align, type TableStyle } from './table.js';
import { fmtInt, fmtNs, fmtPct, fmtShare, plural } from './units.js';

const KEY_TITLE: Record<GroupBy, string> = {
  function: 'Function', address: 'Trap address', reason: 'VM-EXIT', port: 'IO Port Access',
  mmio: 'MMIO Access', vcpu: 'VCPU', caller: 'Function <- Caller', callsite: 'Trap site <- Call site',
};

function topReasons(r: AnalyzeRow, n = 2): string {
  const parts = Object.entries(r.reasons).slice(0, n).map(([name, c]) => `${name} ${fmtShare(c, r.count)}`);
  const more = Object.keys(r.reasons).length - n;
  return parts.join(', ') + (more > 0 ? ` +${more}` : '');
}

function stddevPct(r: AnalyzeRow): string {
  if (r.stddevNs === null || r.meanNs === null || r.meanNs === 0) return '-';
  return `±${((r.stddevNs / r.meanNs) * 100).toFixed(2)}%`;
}

interface Column { title: string; cell: (r: AnalyzeRow) => string; align: Align }

function columns(rep: AnalyzeReport): Column[] {
  const by = rep.by;
  const cols: Column[] = [{ title: '#', cell: (r) => String(r.rank), align: 'right' }];
  if (by === 'address' || by === 'callsite') cols.push({ title: 'Trap addr', cell: (r) => r.address ?? '-', align: 'left' });
  cols.push({ title: KEY_TITLE[by], cell: (r) => r.key, align: 'left' });
  if (by === 'callsite') cols.push({ title: 'Caller addr', cell: (r) => r.callerAddress ?? '-', align: 'left' });
  cols.push(
    { title: 'Samples', cell: (r) => fmtInt(r.count), align: 'right' },
    { title: 'Samples%', cell: (r) => fmtPct(r.countPct), align: 'right' },
    { title: 'Time%', cell: (r) => fmtPct(r.timePct), align: 'right' },
    { title: 'Total time', cell: (r) => fmtNs(r.timeNs), align: 'right' },
    { title: 'Min', cell: (r) => fmtNs(r.minNs), align: 'right' },
    { title: 'Max', cell: (r) => fmtNs(r.maxNs), align: 'right' },
    { title: 'Avg', cell: (r) => fmtNs(r.meanNs), align: 'right' },
    { title: '±', cell: stddevPct, align: 'right' },
    { title: 'p50', cell: (r) => fmtNs(r.p50Ns), align: 'right' },
    { title: 'p99', cell: (r) => fmtNs(r.p99Ns), align: 'right' },
  );
  if (by !== 'reason') cols.push({ title: 'Top reasons', cell: (r) => topReasons(r), align: 'left' });
  return cols;
}

function header(rep: AnalyzeReport): string[] {
  const lines: string[] = [];
  for (const i of rep.inputs) {
    const parts = [`${i.path}: ${i.format}, ${fmtInt(i.lines)} ${plural(i.lines, 'line')}, ${fmtInt(i.events)} ${plural(i.events, 'event')}, ${fmtInt(i.skipped)} skipped, ${fmtInt(i.rejected)} rejected`, ...describeCounters(i.counters)];
    lines.push(parts.join(', '));
    for (const n of i.notes) lines.push(`  note: ${n}`);
  }
  lines.push(`KASLR: ${rep.kaslr.note}`);
  return lines;
}

function title(rep: AnalyzeReport): string {
  const t = rep.totals;
  const v = rep.view;
  let s = `Analyze: ${fmtInt(t.exits)} VM ${plural(t.exits, 'exit')} by ${rep.by}, sorted by ${rep.sort}`;
  if (v.exits < t.exits) s += `; this view covers ${fmtInt(v.exits)} of them (${fmtShare(v.exits, t.exits)}), and Samples% / Time% are of those`;
  return s;
}

function footer(rep: AnalyzeReport): string[] {
  const t = rep.totals;
  const lines: string[] = [];
  if (rep.omitted.rows > 0) {
    lines.push(`(${fmtInt(rep.omitted.rows)} more ${plural(rep.omitted.rows, 'row')}: ${fmtInt(rep.omitted.count)} ${plural(rep.omitted.count, 'exit')}, ${fmtNs(rep.omitted.timeNs)}; --top 0 shows all)`);
  }
  lines.push(`Total: ${fmtInt(t.exits)} ${plural(t.exits, 'exit')}, exit time ${fmtNs(t.timeNs)}${t.timed < t.exits ? ` (${fmtInt(t.timed)} timed)` : ''}, trace span ${fmtNs(t.spanNs)}, ${t.vcpus} ${plural(t.vcpus, 'vcpu')}`);
  for (const n of rep.notes) lines.push(`note: ${n}`);
  return lines;
}

function body(rep: AnalyzeReport, style: TableStyle): string[] {
  const cols = columns(rep);
  return formatTable({ head: cols.map((c) => c.title), rows: rep.rows.map((r) => cols.map((c) => c.cell(r))), align: cols.map((c) => c.align) }, style);
}

export function renderAnalyzeTable(rep: AnalyzeReport): string {
  return [...header(rep), '', title(rep), '', ...body(rep, 'text'), '', ...footer(rep)].join('\n') + '\n';
}

export function renderAnalyzeMarkdown(rep: AnalyzeReport): string {
  return [...header(rep).map((l) => `> ${l}`), '', `**${title(rep)}**`, '', ...body(rep, 'md'), '', ...footer(rep)].join('\n') + '\n';
}

export function renderAnalyzeCsv(rep: AnalyzeReport): string {
  const caller = rep.by === 'caller' || rep.by === 'callsite';
  const head = ['rank', 'key', 'symbol', 'module', 'address', 'count', 'count_pct', 'time_ns', 'time_pct', 'timed', 'min_ns', 'mean_ns', 'stddev_ns', 'p50_ns', 'p99_ns', 'max_ns', 'reasons'];
  if (caller) head.push('caller', 'caller_address');
  const rows = rep.rows.map((r) => {
    const f: Array<string | number | null> = [r.rank, r.key, r.symbol, r.module, r.address, r.count, r.countPct, r.timeNs, r.timePct, r.timed, r.minNs, r.meanNs, r.stddevNs, r.p50Ns, r.p99Ns, r.maxNs, Object.entries(r.reasons).map(([k, v]) => `${k}:${v}`).join(';')];
    if (caller) f.push(r.caller ?? null, r.callerAddress ?? null);
    return f;
  });
  return formatCsv(head, rows);
}

export function renderAnalyzeJson(rep: AnalyzeReport): string {
  return JSON.stringify(rep, null, 2) + '\n';
}
