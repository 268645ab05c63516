/** Renderers for `exitscope advise`: ranked opportunities with evidence and the change to make. */
import type { AdviceReport } from '../replay/advise.js';
import { formatCsv } from './table.js';
import { fmtInt, fmtNs, plural } from './units.js';

function render(rep: AdviceReport, md: boolean): string {
  const out = [`${rep.input}: ${fmtInt(rep.exits)} ${plural(rep.exits, 'exit')}. Opportunities, by estimated saved time (exit time + hardware transitions + guest time):`, ''];
  for (const a of rep.advice) {
    out.push(md ? `${a.rank}. **${a.title}**` : `${a.rank}. ${a.title}`);
    out.push(`   saves ${fmtNs(a.savedNs)} and ${fmtInt(a.exitsSaved)} ${plural(a.exitsSaved, 'exit')}; ${a.speedupHigh === null ? 'no bound on the speedup' : `up to ${((a.speedupHigh - 1) * 100).toFixed(1)}% faster`} if CPU-bound   [exitscope estimate --pass ${a.pass}]`);
    for (const e of a.evidence) out.push(`   evidence: ${e}`);
    out.push(`   change: ${a.change}`, '');
  }
  if (!rep.advice.length) out.push('No opportunity found.');
  out.push(`Checked: ${rep.checked.join('; ')}.`);
  return out.join('\n') + '\n';
}

export const renderAdviceTable = (rep: AdviceReport): string => render(rep, false);
export const renderAdviceMarkdown = (rep: AdviceReport): string => render(rep, true);

export function renderAdviceCsv(rep: AdviceReport): string {
  return formatCsv(['rank', 'title', 'pass', 'saved_ns', 'exits_saved', 'speedup_high', 'change'], rep.advice.map((a) => [a.rank, a.title, a.pass, a.savedNs, a.exitsSaved, a.speedupHigh, a.change]));
}
