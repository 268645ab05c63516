/**
 * Renderers for the analyze report. The terminal table follows perf kvm stat
 * report (Samples, Samples%, Time%, Min, Max, Avg ±stddev%) so its readers
 * feel at home, and adds what perf cannot: symbols, modules, devices and
 * registers, percentiles, top reasons, the handling/idle split and, with
 * --interval, a sparkline of each row over time.
 */
import type { AnalyzeReport, AnalyzeRow } from '../analyze/schema.js';
import type { Dimension } from '../analyze/dimensions.js';
import { describeCounters } from '../model/counters.js';
import { formatCsv, formatTable, type Align, type TableStyle } from './table.js';
import { fmtInt, fmtNs, fmtPct, fmtShare, plural } from './units.js';

const DIM_TITLE: Record<Dimension, string> = {
  function: 'Function', address: 'Trap address', reason: 'VM-EXIT', port: 'IO Port Access',
  mmio: 'MMIO Access', msr: 'MSR Access', vcpu: 'VCPU', vm: 'VM', caller: 'Function <- Caller', callsite: 'Trap site <- Call site',
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

const SPARK = '▁▂▃▄▅▆▇█';

/** A row's exits per interval as a sparkline, scaled to its own peak. */
export function sparkline(xs: readonly number[], width = 24): string {
  if (xs.length === 0) return '';
  const step = Math.max(1, Math.ceil(xs.length / width));
  const b: number[] = [];
  for (let i = 0; i < xs.length; i += step) { let s = 0; for (let j = i; j < Math.min(xs.length, i + step); j++) s += xs[j]; b.push(s); }
  const max = Math.max(...b);
  return b.map((x) => (max === 0 || x === 0 ? ' ' : SPARK[Math.min(7, Math.floor((x / max) * 7.999))])).join('');
}

interface Column { title: string; cell: (r: AnalyzeRow) => string; align: Align }

function columns(rep: AnalyzeReport): Column[] {
  const dims = rep.by;
  const cols: Column[] = [{ title: '#', cell: (r) => String(r.rank), align: 'right' }];
  if (dims.includes('address') || dims.includes('callsite')) cols.push({ title: 'Trap addr', cell: (r) => r.address ?? '-', align: 'left' });
  for (const d of dims) cols.push({ title: DIM_TITLE[d], cell: (r) => r.keys[d] ?? '-', align: 'left' });
  if (dims.includes('callsite')) cols.push({ title: 'Caller addr', cell: (r) => r.callerAddress ?? '-', align: 'left' });
  if (dims.includes('port') || dims.includes('mmio')) cols.push({ title: 'Device', cell: (r) => [r.device, r.register].filter(Boolean).join(' ') || '-', align: 'left' });
  if (dims.includes('msr')) cols.push({ title: 'MSR', cell: (r) => r.register ?? '-', align: 'left' });
  cols.push(
    { title: 'Samples', cell: (r) => fmtInt(r.count), align: 'right' },
    { title: 'Samples%', cell: (r) => fmtPct(r.countPct), align: 'right' },
    { title: rep.includeIdle ? 'Time%' : 'Handling%', cell: (r) => fmtPct(r.timePct), align: 'right' },
    { title: rep.includeIdle ? 'Total time' : 'Handling', cell: (r) => fmtNs(rep.includeIdle ? r.timeNs : r.handlingNs), align: 'right' },
  );
  if (rep.totals.idleNs > 0) cols.push({ title: 'Idle', cell: (r) => (r.idleNs ? fmtNs(r.idleNs) : '-'), align: 'right' });
  cols.push(
    { title: 'Min', cell: (r) => fmtNs(r.minNs), align: 'right' },
    { title: 'Max', cell: (r) => fmtNs(r.maxNs), align: 'right' },
    { title: 'Avg', cell: (r) => fmtNs(r.meanNs), align: 'right' },
    { title: '±', cell: stddevPct, align: 'right' },
    { title: 'p50', cell: (r) => fmtNs(r.p50Ns), align: 'right' },
    { title: 'p99', cell: (r) => fmtNs(r.p99Ns), align: 'right' },
  );
  if (!dims.includes('reason')) cols.push({ title: 'Top reasons', cell: (r) => topReasons(r), align: 'left' });
  if (rep.interval) cols.push({ title: `Exits per ${fmtNs(rep.interval.ns)}`, cell: (r) => sparkline(r.series?.exits ?? []), align: 'left' });
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
  let s = `Analyze: ${fmtInt(t.exits)} VM ${plural(t.exits, 'exit')} by ${rep.by.join(', ')}, sorted by ${rep.sort === 'time' ? (rep.includeIdle ? 'exit time' : 'handling time') : 'count'}`;
  if (v.exits < t.exits) s += `; this view covers ${fmtInt(v.exits)} of them (${fmtShare(v.exits, t.exits)}), and the percentages are of those`;
  return s;
}

/** The summary lines: handling vs idle per vcpu, and where exits trapped. */
function summary(rep: AnalyzeReport): string[] {
  const t = rep.totals;
  const lines: string[] = [];
  const share = (x: number): string => `${(x * 100).toFixed(1)}%`;
  lines.push(`Total: ${fmtInt(t.exits)} ${plural(t.exits, 'exit')}, exit time ${fmtNs(t.timeNs)} = handling ${fmtNs(t.handlingNs)} + idle ${fmtNs(t.idleNs)}${t.timed < t.exits ? ` (${fmtInt(t.timed)} timed)` : ''}, trace span ${fmtNs(t.spanNs)}, ${t.vcpus} ${plural(t.vcpus, 'vcpu')}`);
  const shown = t.perVcpu.slice(0, 16);
  for (const v of shown) lines.push(`  ${v.label}: exit handling ${share(v.handlingShare)} of its ${fmtNs(v.wallNs)}, idle ${share(v.idleShare)} (${fmtInt(v.exits)} ${plural(v.exits, 'exit')})`);
  if (t.perVcpu.length > shown.length) lines.push(`  ... ${t.perVcpu.length - shown.length} more vcpus (--by vcpu)`);
  if (t.split) {
    const s = t.split;
    const part = (name: string, p: { exits: number; timeNs: number }): string => `${name} ${fmtInt(p.exits)} (${fmtShare(p.exits, t.exits)}) ${fmtNs(p.timeNs)}`;
    lines.push(`Where they trapped: ${part('guest kernel', s.kernel)}; ${part('guest user', s.user)}; ${part('unresolved', s.unresolved)}`);
  }
  return lines;
}

function footer(rep: AnalyzeReport): string[] {
  const lines: string[] = [];
  if (rep.omitted.rows > 0) {
    lines.push(`(${fmtInt(rep.omitted.rows)} more ${plural(rep.omitted.rows, 'row')}: ${fmtInt(rep.omitted.count)} ${plural(rep.omitted.count, 'exit')}, ${fmtNs(rep.omitted.timeNs)}; --top 0 shows all)`);
  }
  lines.push(...summary(rep));
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
  const dims = rep.by;
  const caller = dims.includes('caller') || dims.includes('callsite');
  const device = dims.includes('port') || dims.includes('mmio') || dims.includes('msr');
  const head = ['rank', 'key', ...dims.map((d) => `by_${d}`), 'symbol', 'module', 'address', 'count', 'count_pct', 'time_ns', 'handling_ns', 'idle_ns', 'time_pct', 'timed', 'min_ns', 'mean_ns', 'stddev_ns', 'p50_ns', 'p99_ns', 'max_ns', 'reasons'];
  if (caller) head.push('caller', 'caller_address');
  if (device) head.push('device', 'register');
  const n = rep.interval?.count ?? 0;
  for (let j = 0; j < n; j++) head.push(`exits_${j}`);
  for (let j = 0; j < n; j++) head.push(`handling_ns_${j}`);
  const rows = rep.rows.map((r) => {
    const f: Array<string | number | null> = [r.rank, r.key, ...dims.map((d) => r.keys[d] ?? null), r.symbol, r.module, r.address, r.count, r.countPct, r.timeNs, r.handlingNs, r.idleNs, r.timePct, r.timed, r.minNs, r.meanNs, r.stddevNs, r.p50Ns, r.p99Ns, r.maxNs, Object.entries(r.reasons).map(([k, v]) => `${k}:${v}`).join(';')];
    if (caller) f.push(r.caller ?? null, r.callerAddress ?? null);
    if (device) f.push(r.device ?? null, r.register ?? null);
    for (let j = 0; j < n; j++) f.push(r.series?.exits[j] ?? 0);
    for (let j = 0; j < n; j++) f.push(r.series?.handlingNs[j] ?? 0);
    return f;
  });
  return formatCsv(head, rows);
}

/**
 * The live view of `analyze --follow` (kvm_stat's redraw): the table so far
 * plus each row's exits since the previous redraw.
 */
export function renderLiveTable(rep: AnalyzeReport, prev: AnalyzeReport | null, refreshS: number): string {
  const before = new Map((prev?.rows ?? []).map((r) => [r.key, r.count]));
  const cols = columns(rep);
  cols.splice(cols.findIndex((c) => c.title === 'Samples') + 1, 0, { title: `Last ${refreshS}s`, cell: (r) => fmtInt(r.count - (before.get(r.key) ?? 0)), align: 'right' });
  const delta = rep.totals.exits - (prev?.totals.exits ?? 0);
  const table = formatTable({ head: cols.map((c) => c.title), rows: rep.rows.map((r) => cols.map((c) => c.cell(r))), align: cols.map((c) => c.align) });
  return [`exitscope live: ${fmtInt(rep.totals.exits)} exits since start, ${fmtInt(delta)} in the last ${refreshS}s (Ctrl-C for the final report)`, '', ...table, ''].join('\n') + '\n';
}
