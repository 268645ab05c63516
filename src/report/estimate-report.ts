/** Renderers for `exitscope estimate`: what each pass would buy, with its assumptions. */
import type { EstimateReport, PassEstimate } from '../replay/estimate.js';
import { fmtInt, fmtNs } from './units.js';

function pctChange(a: number, b: number): string {
  return a ? `${(((b - a) / a) * 100).toFixed(1)}%` : '-';
}

function row(p: PassEstimate): string[] {
  return [
    p.name === 'cumulative' ? `all ${p.spec.split(' + ').length} passes` : p.spec,
    `${fmtInt(p.exitsBefore)} -> ${fmtInt(p.exitsAfter)} (${pctChange(p.exitsBefore, p.exitsAfter)})`,
    `${fmtNs(p.timeBeforeNs)} -> ${fmtNs(p.timeAfterNs)}`,
    `${fmtNs(p.savedNs)} [${fmtNs(p.savedNsCI[0])}, ${fmtNs(p.savedNsCI[1])}]`,
    `${(p.savedShareOfExitTime * 100).toFixed(1)}%`,
    `${p.speedupLow.toFixed(2)}x .. ${p.speedupHigh.toFixed(3)}x [${p.speedupHighCI[0].toFixed(3)}, ${p.speedupHighCI[1].toFixed(3)}]`,
  ];
}

const HEAD = ['pass', 'exits before -> after', 'exit time before -> after', 'saved [95% CI]', 'of exit time', 'speedup I/O-bound .. CPU-bound [95% CI]'];

function table(rows: string[][], md: boolean): string[] {
  if (md) return [`| ${HEAD.join(' | ')} |`, `|${HEAD.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
  const all = [HEAD, ...rows];
  const w = HEAD.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  return all.map((r) => r.map((x, c) => x.padEnd(w[c])).join('  ').trimEnd());
}

export function renderEstimate(rep: EstimateReport, md = false): string {
  const out: string[] = [];
  const i = rep.input;
  out.push(`${i.path}: ${i.format}, ${fmtInt(rep.totals.exits)} exits, exit time ${fmtNs(rep.totals.timeNs)}, span ${fmtNs(rep.totals.spanNs)}, ${rep.totals.vcpus} vcpu(s)`);
  out.push('Inferred from the trace (no emulator constants):');
  for (const k of ['transitionNs', 'userspaceFixedNs', 'hypercallNs'] as const) {
    const x = rep.inferred[k];
    out.push(`  ${k === 'transitionNs' ? 'hardware exit+entry' : k === 'userspaceFixedNs' ? 'fixed cost of a device-model exit' : 'hypercall dispatch'}: ${fmtNs(x.value)}${x.inferred ? '' : ' (ASSUMED)'}: ${x.how}`);
  }
  out.push(`  KASLR: ${rep.kaslr.note}`, '');
  const rows = rep.passes.map(row);
  if (rep.cumulative) rows.push(row(rep.cumulative));
  out.push(...table(rows, md), '');
  out.push('Speedup: the low end assumes the guest is I/O-bound (only latency changes); the high end that the touched vcpus are CPU-bound (every saved ns becomes throughput). Saved = exit time + one hardware transition per exit removed + guest time removed with the exits.');
  for (const p of rep.passes) {
    out.push('', `${p.spec}:`);
    for (const a of p.assumptions) out.push(`  assumes: ${a}`);
    for (const n of p.notes) out.push(`  note: ${n}`);
    for (const v of p.perVcpu) if (v.savedNs !== 0) out.push(`  vcpu ${v.vcpu}: saves ${fmtNs(v.savedNs)} of ${fmtNs(v.wallNs)} wall (${(v.shareOfWall * 100).toFixed(2)}%)`);
    if (p.perAddress && p.perAddress.length) {
      out.push('  exits per trap address (the paper\'s Table 4 view):');
      const w = Math.max(...p.perAddress.map((a) => a.key.length));
      out.push(`    ${'address'.padEnd(18)} ${'trap'.padEnd(w)}  ${'before'.padStart(9)}  ${'after'.padStart(9)}  change`);
      for (const a of p.perAddress.slice(0, 12)) out.push(`    ${a.address.padEnd(18)} ${a.key.padEnd(w)}  ${fmtInt(a.before).padStart(9)}  ${fmtInt(a.after).padStart(9)}  ${pctChange(a.before, a.after)}`);
    }
  }
  if (rep.notEstimable.length) {
    out.push('', 'Not estimable from exits:');
    for (const n of rep.notEstimable) out.push(`  ${n.name}: ${n.why}`);
  }
  return out.join('\n') + '\n';
}
