/**
 * Renderers for `exitscope diff`: the paper's Table 4 (exits per instruction
 * address before and after a change) for any two traces, then the same per
 * function, with exit time beside the exits.
 */
import type { DiffReport, DiffRow, DiffSection } from '../analyze/diff.js';
import { describeCounters } from '../model/counters.js';
import { formatCsv, formatTable, type TableStyle } from './table.js';
import { fmtInt, fmtNs, plural } from './units.js';

function signedInt(n: number): string {
  return n > 0 ? `+${fmtInt(n)}` : fmtInt(n);
}

function signedNs(n: number): string {
  return n > 0 ? `+${fmtNs(n)}` : fmtNs(n);
}

function fmtRatio(r: number | null): string {
  return r === null ? 'new' : `${r.toFixed(3)}x`;
}

function pctChange(before: number, after: number): string {
  return before > 0 ? ` (${after >= before ? '+' : ''}${(((after - before) / before) * 100).toFixed(1)}%)` : '';
}

const TITLE: Record<DiffSection['by'], string> = {
  address: 'Exits per trap address (the paper\'s Table 4)',
  function: 'Exits per function',
};

function sectionRows(s: DiffSection): string[][] {
  return s.rows.map((r: DiffRow) => [
    String(r.rank),
    ...(s.by === 'address' ? [r.addressBefore ?? r.addressAfter ?? '-'] : []),
    r.key + (r.only ? ` (${r.only} only)` : ''),
    fmtInt(r.before.exits), fmtInt(r.after.exits), signedInt(r.change.exits), fmtRatio(r.ratio.exits),
    fmtNs(r.before.timeNs), fmtNs(r.after.timeNs), signedNs(r.change.timeNs), fmtRatio(r.ratio.timeNs),
  ]);
}

function sectionHead(s: DiffSection, time: string): string[] {
  return ['#', ...(s.by === 'address' ? ['Trap addr'] : []), s.by === 'address' ? 'Symbol+offset' : 'Function', 'Exits before', 'after', 'change', 'ratio', `${time} before`, 'after', 'change', 'ratio'];
}

function render(rep: DiffReport, style: TableStyle): string {
  const out: string[] = [];
  for (const [name, s] of [['Before', rep.before], ['After', rep.after]] as const) {
    for (const i of s.inputs) {
      out.push(`${name}: ${[`${i.path}: ${i.format}, ${fmtInt(i.lines)} ${plural(i.lines, 'line')}, ${fmtInt(i.events)} ${plural(i.events, 'event')}, ${fmtInt(i.rejected)} rejected`, ...describeCounters(i.counters)].join(', ')}`);
    }
    out.push(`  ${fmtInt(s.exits)} ${plural(s.exits, 'exit')}, exit ${rep.includeIdle ? 'time' : 'handling'} ${fmtNs(s.timeNs)}, span ${fmtNs(s.spanNs)}, ${s.vcpus} ${plural(s.vcpus, 'vcpu')}; KASLR: ${s.kaslr.note}`);
  }
  const f = rep.filter;
  if (f.reasons.length || f.excludeReasons.length || f.vcpus.length) {
    out.push(`Only: ${[f.reasons.length ? `reasons ${f.reasons.join(',')}` : '', f.excludeReasons.length ? `not ${f.excludeReasons.join(',')}` : '', f.vcpus.length ? `vcpus ${f.vcpus.join(',')}` : ''].filter(Boolean).join('; ')}`);
  }
  const c = rep.change;
  out.push(`Change: exits ${fmtInt(rep.before.exits)} -> ${fmtInt(rep.after.exits)}${pctChange(rep.before.exits, rep.after.exits)}, exit ${rep.includeIdle ? 'time' : 'handling'} ${fmtNs(rep.before.timeNs)} -> ${fmtNs(rep.after.timeNs)}${pctChange(rep.before.timeNs, rep.after.timeNs)}; ratio ${fmtRatio(c.exitsRatio)} exits, ${fmtRatio(c.timeRatio)} time`);
  const time = rep.includeIdle ? 'Time' : 'Handling';
  for (const s of rep.sections) {
    out.push('', `${TITLE[s.by]}, by absolute change in ${rep.sort === 'time' ? 'exit time' : 'exits'} (${fmtInt(s.common)} in both, ${fmtInt(s.onlyBefore)} before only, ${fmtInt(s.onlyAfter)} after only):`, '');
    const head = sectionHead(s, time);
    out.push(...formatTable({ head, rows: sectionRows(s), align: head.map((_, k) => (k === 0 ? 'right' : k <= (s.by === 'address' ? 2 : 1) ? 'left' : 'right')) }, style));
    if (s.omitted.rows > 0) out.push('', `(${fmtInt(s.omitted.rows)} more ${plural(s.omitted.rows, 'row')}: ${fmtInt(s.omitted.before.exits)} -> ${fmtInt(s.omitted.after.exits)} exits; --top 0 shows all)`);
  }
  for (const n of rep.notes) out.push(`note: ${n}`);
  return out.join('\n') + '\n';
}

export const renderDiffTable = (rep: DiffReport): string => render(rep, 'text');
export const renderDiffMarkdown = (rep: DiffReport): string => render(rep, 'md');

export function renderDiffCsv(rep: DiffReport): string {
  return formatCsv(
    ['view', 'rank', 'key', 'symbol', 'module', 'address_before', 'address_after', 'exits_before', 'exits_after', 'exits_change', 'exits_ratio', 'time_before_ns', 'time_after_ns', 'time_change_ns', 'time_ratio', 'only'],
    rep.sections.flatMap((s) => s.rows.map((r) => [
      s.by, r.rank, r.key, r.symbol, r.module, r.addressBefore, r.addressAfter,
      r.before.exits, r.after.exits, r.change.exits, r.ratio.exits, r.before.timeNs, r.after.timeNs, r.change.timeNs, r.ratio.timeNs, r.only,
    ])),
  );
}
