/** Renderers for `exitscope estimate`: what each pass would buy, with its assumptions. */
import type { EstimateReport, PassEstimate } from '../replay/estimate.js';
import { formatCsv, formatTable, type TableStyle } from './table.js';
import { fmtInt, fmtNs, fmtSpeedup, plural } from './units.js';

function pctChange(a: number, b: number): string {
  return a ? `${(((b - a) / a) * 100).toFixed(1)}%` : '-';
}

function row(p: PassEstimate): string[] {
  const range = (r: readonly number[], f: (x: number) => string): string => (r[0] === r[1] ? f(r[0]) : `${f(r[0])} .. ${f(r[1])}`);
  return [
    p.name === 'cumulative' ? `all ${p.spec.split(' + ').length} passes` : p.spec,
    `${fmtInt(p.exitsBefore)} -> ${fmtInt(p.exitsAfter)} (${pctChange(p.exitsBefore, p.exitsAfter)})`,
    range(p.exitsSavedRange, fmtInt),
    range(p.exitTimeSavedRange, fmtNs),
    `${fmtNs(p.savedNs)} [${fmtNs(p.savedNsCI[0])}, ${fmtNs(p.savedNsCI[1])}]`,
    `${fmtSpeedup(p.speedupLow, 2)} .. ${fmtSpeedup(p.speedupHigh, 3)} [${fmtSpeedup(p.speedupHighCI[0], 3)}, ${fmtSpeedup(p.speedupHighCI[1], 3)}]`,
  ];
}

const HEAD = ['pass', 'exits before -> after', 'exits saved', 'exit time saved', 'saved in all [95% CI]', 'speedup I/O-bound .. CPU-bound [95% CI]'];

function render(rep: EstimateReport, style: TableStyle): string {
  const out: string[] = [];
  const i = rep.input;
  const t = rep.totals;
  out.push(`${i.path}: ${i.format}, ${fmtInt(t.exits)} ${plural(t.exits, 'exit')}, exit time ${fmtNs(t.timeNs)}, span ${fmtNs(t.spanNs)}, ${t.vcpus} ${plural(t.vcpus, 'vcpu')}`);
  out.push('Inferred from the trace (no emulator constants):');
  for (const k of ['transitionNs', 'userspaceRoundTripNs', 'hypercallNs'] as const) {
    const x = rep.inferred[k];
    out.push(`  ${k === 'transitionNs' ? 'hardware exit+entry' : k === 'userspaceRoundTripNs' ? 'userspace round trip of a device-model exit' : 'hypercall dispatch'}: ${fmtNs(x.value)}${x.inferred ? '' : ' (ASSUMED)'}: ${x.how}`);
  }
  out.push(`  KASLR: ${rep.kaslr.note}`, '');
  const rows = rep.passes.map(row);
  if (rep.cumulative) rows.push(row(rep.cumulative));
  if (rows.length) out.push(...formatTable({ head: HEAD, rows, align: HEAD.map((_, c) => (c === 0 ? 'left' : 'right')) }, style), '');
  out.push('Exit time saved = exit handling time: traced durations of the exits removed (a halted vcpu\'s HLT wait is not handling: time saved on a waiting vcpu becomes more waiting, not throughput) + one hardware transition per exit removed. Ranges run from I/O-bound (only this trace\'s exits go) to CPU-bound (a shorter run also skips its time-driven exits: ticks, periodic housekeeping). "Saved in all" adds the guest time removed with the exits. Speedup: the low end assumes the guest is I/O-bound (only latency changes), the high end that the touched vcpus are CPU-bound (every saved ns becomes throughput).');
  for (const p of rep.passes) {
    out.push('', `${p.spec}:${p.verdict === 'nothing-to-change' ? ` nothing to change (${p.why})` : ''}`);
    for (const a of p.assumptions) out.push(`  assumes: ${a}`);
    for (const n of p.notes) out.push(`  note: ${n}`);
    for (const v of p.perVcpu) if (v.savedNs !== 0) out.push(`  vcpu ${v.vcpu}: saves ${fmtNs(v.savedNs)} of ${fmtNs(v.wallNs)} wall (${(v.shareOfWall * 100).toFixed(2)}%)`);
    if (p.perAddress && p.perAddress.length) {
      out.push('  exits per trap address (the paper\'s Table 4 view):');
      const t4 = formatTable({ head: ['address', 'trap', 'before', 'after', 'change'], rows: p.perAddress.slice(0, 12).map((a) => [a.address, a.key, fmtInt(a.before), fmtInt(a.after), pctChange(a.before, a.after)]), align: ['left', 'left', 'right', 'right', 'right'] }, style);
      out.push(...t4.map((l) => `    ${l}`));
    }
  }
  if (rep.notApplied.length) {
    out.push('', 'Not estimated:');
    for (const n of rep.notApplied) out.push(`  ${n.name}: ${n.verdict === 'not-estimable' ? 'not estimable from exits' : 'not applicable to this trace'}: ${n.why}`);
  }
  return out.join('\n') + '\n';
}

export const renderEstimateTable = (rep: EstimateReport): string => render(rep, 'text');
export const renderEstimateMarkdown = (rep: EstimateReport): string => render(rep, 'md');

export function renderEstimateCsv(rep: EstimateReport): string {
  const all = [...rep.passes, ...(rep.cumulative ? [rep.cumulative] : [])];
  return formatCsv(
    ['pass', 'verdict', 'exits_before', 'exits_after', 'exits_saved_low', 'exits_saved_high', 'exit_time_saved_low_ns', 'exit_time_saved_high_ns', 'saved_ns', 'saved_ci_low_ns', 'saved_ci_high_ns', 'speedup_low', 'speedup_high', 'speedup_high_ci_low', 'speedup_high_ci_high'],
    [
      ...all.map((p) => [p.spec, p.verdict, p.exitsBefore, p.exitsAfter, p.exitsSavedRange[0], p.exitsSavedRange[1], p.exitTimeSavedRange[0], p.exitTimeSavedRange[1], p.savedNs, p.savedNsCI[0], p.savedNsCI[1], p.speedupLow, p.speedupHigh, p.speedupHighCI[0], p.speedupHighCI[1]]),
      ...rep.notApplied.map((n) => [n.name, n.verdict]),
    ],
  );
}
