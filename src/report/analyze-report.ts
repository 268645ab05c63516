/**
 * Renderers for the analyze report. The terminal table follows perf kvm stat
 * report (Samples, Samples%, Time%, then times) so its readers feel at home,
 * and adds what perf cannot: symbols, modules, percentiles, top reasons.
 */
import Table from 'cli-table3';
import type { AnalyzeReport, AnalyzeRow, GroupBy } from '../analyze/schema.js';
import { fmtInt, fmtNs, fmtPct } from './units.js';
import { describeCounters } from '../model/counters.js';

const KEY_TITLE: Record<GroupBy, string> = {
  function: 'Function', address: 'Trap address', reason: 'VM-EXIT', port: 'IO Port Access',
  mmio: 'MMIO Access', vcpu: 'VCPU', caller: 'Function <- Caller', callsite: 'Trap site <- Call site',
};

function topReasons(r: AnalyzeRow, n = 2): string {
  const parts = Object.entries(r.reasons).slice(0, n).map(([name, c]) => `${name} ${((c / r.count) * 100).toFixed(0)}%`);
  const more = Object.keys(r.reasons).length - n;
  return parts.join(', ') + (more > 0 ? ` +${more}` : '');
}

interface Column { title: string; cell: (r: AnalyzeRow) => string; align: 'left' | 'right' }

function columns(rep: AnalyzeReport): Column[] {
  const by = rep.by;
  const cols: Column[] = [{ title: '#', cell: (r) => String(r.rank), align: 'right' }];
  const callerView = by === 'caller' || by === 'callsite';
  if (by === 'address' || callerView) cols.push({ title: callerView ? 'Trap addr' : 'Address', cell: (r) => r.address ?? '-', align: 'left' });
  cols.push({ title: KEY_TITLE[by], cell: (r) => r.key, align: 'left' });
  if (callerView) cols.push({ title: 'Caller addr', cell: (r) => r.callerAddress ?? '-', align: 'left' });
  cols.push(
    { title: 'Samples', cell: (r) => fmtInt(r.count), align: 'right' },
    { title: 'Samples%', cell: (r) => fmtPct(r.countPct), align: 'right' },
    { title: 'Time%', cell: (r) => fmtPct(r.timePct), align: 'right' },
    { title: 'Total time', cell: (r) => fmtNs(r.timeNs), align: 'right' },
    { title: 'Mean', cell: (r) => fmtNs(r.meanNs), align: 'right' },
    { title: 'p50', cell: (r) => fmtNs(r.p50Ns), align: 'right' },
    { title: 'p99', cell: (r) => fmtNs(r.p99Ns), align: 'right' },
    { title: 'Max', cell: (r) => fmtNs(r.maxNs), align: 'right' },
  );
  if (by !== 'reason') cols.push({ title: 'Top reasons', cell: (r) => topReasons(r), align: 'left' });
  return cols;
}

function header(rep: AnalyzeReport): string[] {
  const lines: string[] = [];
  for (const i of rep.inputs) {
    const s = [`${i.path}: ${i.format}, ${fmtInt(i.lines)} lines, ${fmtInt(i.events)} events, ${fmtInt(i.skipped)} skipped, ${fmtInt(i.rejected)} rejected`, ...describeCounters(i.counters)];
    lines.push(s.join(', '));
    for (const n of i.notes) lines.push(`  note: ${n}`);
  }
  lines.push(`KASLR: ${rep.kaslr.note}`);
  return lines;
}

function footer(rep: AnalyzeReport): string[] {
  const t = rep.totals;
  const lines: string[] = [];
  if (rep.omitted.rows > 0) {
    lines.push(`(${fmtInt(rep.omitted.rows)} more rows: ${fmtInt(rep.omitted.count)} exits, ${fmtNs(rep.omitted.timeNs)}; --top 0 shows all)`);
  }
  lines.push(`Total: ${fmtInt(t.exits)} exits, exit time ${fmtNs(t.timeNs)}${t.timed < t.exits ? ` (${fmtInt(t.timed)} timed)` : ''}, trace span ${fmtNs(t.spanNs)}, ${t.vcpus} vcpu${t.vcpus === 1 ? '' : 's'}`);
  for (const n of rep.notes) lines.push(`note: ${n}`);
  return lines;
}

export function renderAnalyzeTable(rep: AnalyzeReport): string {
  const cols = columns(rep);
  const table = new Table({
    head: cols.map((c) => c.title),
    colAligns: cols.map((c) => c.align),
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ' },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  for (const r of rep.rows) table.push(cols.map((c) => c.cell(r)));
  const title = `Analyze events: ${rep.totals.exits.toLocaleString('en-US')} VM exits by ${rep.by}, sorted by ${rep.sort}`;
  const body = table.toString().split('\n').map((l) => l.trimEnd()).join('\n');
  return [...header(rep), '', title, '', body, '', ...footer(rep)].join('\n') + '\n';
}

export function renderAnalyzeMarkdown(rep: AnalyzeReport): string {
  const cols = columns(rep);
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = header(rep).map((l) => `> ${l}`);
  lines.push('', `| ${cols.map((c) => c.title).join(' | ')} |`, `| ${cols.map((c) => (c.align === 'right' ? '---:' : ':---')).join(' | ')} |`);
  for (const r of rep.rows) lines.push(`| ${cols.map((c) => esc(c.cell(r))).join(' | ')} |`);
  lines.push('', ...footer(rep));
  return lines.join('\n') + '\n';
}

export function renderAnalyzeCsv(rep: AnalyzeReport): string {
  const q = (s: string | null | undefined): string => (s === null || s === undefined ? '' : /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const n = (x: number | null): string => (x === null ? '' : String(x));
  const head = ['rank', 'key', 'symbol', 'module', 'address', 'count', 'count_pct', 'time_ns', 'time_pct', 'timed', 'mean_ns', 'p50_ns', 'p99_ns', 'max_ns', 'reasons'];
  if (rep.by === 'caller' || rep.by === 'callsite') head.push('caller', 'caller_address');
  const lines = [head.join(',')];
  for (const r of rep.rows) {
    const f = [String(r.rank), q(r.key), q(r.symbol), q(r.module), q(r.address), String(r.count), String(r.countPct), String(r.timeNs), String(r.timePct), String(r.timed), n(r.meanNs), n(r.p50Ns), n(r.p99Ns), n(r.maxNs), q(Object.entries(r.reasons).map(([k, v]) => `${k}:${v}`).join(';'))];
    if (rep.by === 'caller' || rep.by === 'callsite') f.push(q(r.caller ?? null), q(r.callerAddress ?? null));
    lines.push(f.join(','));
  }
  return lines.join('\n') + '\n';
}

export function renderAnalyzeJson(rep: AnalyzeReport): string {
  return JSON.stringify(rep, null, 2) + '\n';
}
