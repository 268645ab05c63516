/** Renderers for `exitscope validate`: estimated vs measured per optimization, and the worst error of each. */
import type { ValidationReport } from '../check/validate.js';
import { formatCsv, formatTable, type TableStyle } from './table.js';
import { fmtInt, fmtNs } from './units.js';

/** The estimate's CPU-bound end as a change in percent; an unbounded end (null) says so. */
const highPct = (high: number | null, ci: number | null): string => (high === null || ci === null ? 'unbounded' : `${((Math.max(high, ci) - 1) * 100).toFixed(1)}%`);

function render(rep: ValidationReport, style: TableStyle): string {
  const rows = rep.rows;
  const f = (x: number | null, d = 1): string => (x === null ? '-' : `${(x * 100).toFixed(d)}%`);
  const rng = (r: readonly number[], fmt: (x: number) => string): string => (r[0] === r[1] ? fmt(r[0]) : `${fmt(r[0])}..${fmt(r[1])}`);
  const mark = (ok: boolean | null, r: ValidationReport['rows'][number]): string => (ok === null ? '' : ok ? ' ok' : !r.targets ? ' (miss)' : r.limit ? ' (limit)' : ' MISS');
  const head = ['optimization', 'scenario', 'seed', 'exits saved est / meas (err)', 'exit time saved est / meas (err)', 'throughput meas', 'est range'];
  const body = rows.map((r) => [
    r.optimization, r.scenario, String(r.seed),
    r.estimated ? `${rng(r.estimated.exitsSavedRange, fmtInt)} / ${fmtInt(r.measured.exitsSaved)} (${f(r.errors.exits)})${mark(r.checks.exits, r)}` : `- / ${fmtInt(r.measured.exitsSaved)}`,
    r.estimated ? `${rng(r.estimated.exitTimeSavedRange, fmtNs)} / ${fmtNs(r.measured.exitTimeSavedNs)} (${f(r.errors.exitTime)})${mark(r.checks.exitTime, r)}` : `- / ${fmtNs(r.measured.exitTimeSavedNs)}`,
    `${((r.measured.speedup - 1) * 100).toFixed(1)}%`,
    r.estimated ? `${((r.estimated.speedupLow - 1) * 100).toFixed(1)}% .. ${highPct(r.estimated.speedupHigh, r.estimated.speedupHighCI[1])}${mark(r.checks.speedupInRange, r)}` : 'not estimable',
  ]);
  const whead = ['optimization', 'rows', 'worst exits err', 'worst exit time err', 'throughput outside range', 'misses', 'rows with a stated limit'];
  const wbody = rep.worst.map((w) => [w.optimization, String(w.rows), f(w.exits), f(w.exitTime), String(w.speedupMisses), String(w.misses), String(w.limited)]);
  const out = [
    `Matrix: ${rep.matrix}, seeds ${rep.seeds.join(', ')}. Estimated from the baseline trace alone vs measured on the optimized emulation (same work: same --ops).`,
    'Exit time = exit handling time: traced kvm_exit..kvm_entry time of every exit but HLT (a halted vcpu waits) + hardware exit/entry. Estimates are ranges:',
    'I/O-bound (this trace\'s own exits) .. CPU-bound (plus the time-driven exits a shorter run would not take); the error is the distance from the range (0 inside it).',
    `Targets (ok/MISS): exits within ${rep.targets.exits * 100}%, exit time within ${rep.targets.exitTime * 100}%, throughput inside the range;`,
    '"(limit)": a trace alone cannot meet the target here, for the reason noted below; "(miss)" marks rows that have no target.',
    '', 'Worst error per optimization (rows with targets and no stated limit):',
    ...formatTable({ head: whead, rows: wbody, align: whead.map((_, c) => (c === 0 ? 'left' : 'right')) }, style),
    '', ...formatTable({ head, rows: body, align: head.map(() => 'left') }, style)];
  const limits = new Map<string, string[]>();
  for (const r of rows) if (r.limit) { const k = `${r.optimization}: ${r.limit}`; const l = limits.get(k) ?? []; l.push(r.scenario); limits.set(k, l); }
  for (const [k, sc] of limits) out.push(`limit (${[...new Set(sc)].join('; ')}): ${k}`);
  const notes = new Set<string>();
  for (const r of rows) for (const n of r.notes) notes.add(`note (${r.optimization}): ${n}`);
  out.push(...notes);
  return out.join('\n') + '\n';
}

export const renderValidateTable = (rep: ValidationReport): string => render(rep, 'text');
export const renderValidateMarkdown = (rep: ValidationReport): string => render(rep, 'md');

export function renderValidateCsv(rep: ValidationReport): string {
  return formatCsv(
    ['scenario', 'optimization', 'passes', 'seed', 'targets', 'limit', 'exits_saved_measured', 'exits_saved_low', 'exits_saved_high', 'exit_time_saved_measured_ns', 'exit_time_saved_low_ns', 'exit_time_saved_high_ns', 'speedup_measured', 'speedup_low', 'speedup_high', 'exits_error', 'exit_time_error', 'exits_ok', 'exit_time_ok', 'speedup_in_range'],
    rep.rows.map((r) => [r.scenario, r.optimization, r.passes, r.seed, r.targets ? 1 : 0, r.limit ?? '', r.measured.exitsSaved, r.estimated?.exitsSavedRange[0], r.estimated?.exitsSavedRange[1], r.measured.exitTimeSavedNs, r.estimated?.exitTimeSavedRange[0], r.estimated?.exitTimeSavedRange[1], r.measured.speedup, r.estimated?.speedupLow, r.estimated?.speedupHigh, r.errors.exits, r.errors.exitTime, r.checks.exits === null ? '' : r.checks.exits ? 1 : 0, r.checks.exitTime === null ? '' : r.checks.exitTime ? 1 : 0, r.checks.speedupInRange === null ? '' : r.checks.speedupInRange ? 1 : 0]),
  );
}
