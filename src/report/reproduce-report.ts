/** Renderers for `exitscope reproduce`: the paper's tables and figures, paper vs model. */
import type { ReproduceReport } from '../check/reproduce.js';
import { formatCsv, formatTable, type TableStyle } from './table.js';

function render(rep: ReproduceReport, style: TableStyle): string {
  const out: string[] = [];
  let ok = 0, total = 0;
  for (const it of rep.items) {
    out.push(style === 'md' ? `### ${it.title}` : `== ${it.title}`, `   paper: ${it.source}`, '');
    out.push(...formatTable({ head: it.table.head, rows: it.table.rows }, style).map((l) => (style === 'md' ? l : `   ${l}`)), '');
    for (const c of it.checks) {
      total++;
      if (c.ok) ok++;
      out.push(`   [${c.ok ? 'ok' : 'MISS'}] ${c.what}: paper ${c.paper}; model ${c.model}`);
    }
    for (const n of it.notes) out.push(`   note: ${n}`);
    out.push('');
  }
  out.push(`${ok} of ${total} checks reach the paper; the misses are listed above with the reason the model falls short.`);
  return out.join('\n') + '\n';
}

export const renderReproduceTable = (rep: ReproduceReport): string => render(rep, 'text');
export const renderReproduceMarkdown = (rep: ReproduceReport): string => render(rep, 'md');

export function renderReproduceCsv(rep: ReproduceReport): string {
  return formatCsv(['item', 'check', 'paper', 'model', 'ok'], rep.items.flatMap((it) => it.checks.map((c) => [it.id, c.what, c.paper, c.model, c.ok ? 1 : 0])));
}
