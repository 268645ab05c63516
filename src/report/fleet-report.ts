/**
 * Renderers for merged summaries: analyze's own (perf kvm stat's columns,
 * the same footer), under one line that says what was merged. A summary
 * renders as its default view (hot functions), the way merge of that one
 * summary would.
 */
import type { AnalyzeReport } from '../analyze/schema.js';
import { summaryView } from '../fleet/merge.js';
import type { MergeReport, Summary } from '../fleet/schema.js';
import { renderAnalyzeCsv, renderAnalyzeMarkdown, renderAnalyzeTable } from './analyze-report.js';
import { fmtInt, plural } from './units.js';

/** The analyze report a merged view is (no inputs of its own: the traces stay with their hosts). */
export function asAnalyzeReport(rep: MergeReport): AnalyzeReport {
  return {
    schema: 'exitscope.analyze/v3', by: rep.by, sort: rep.sort, includeIdle: rep.includeIdle, inputs: [],
    totals: rep.totals, view: rep.view, interval: null,
    kaslr: { slide: '0x0', mode: 'none', note: rep.merged.kaslr },
    rows: rep.rows, omitted: rep.omitted, notes: rep.notes,
  };
}

function headline(rep: MergeReport): string {
  const m = rep.merged;
  const shown = m.hosts.slice(0, 8).join(', ') + (m.hosts.length > 8 ? `, ... ${fmtInt(m.hosts.length - 8)} more` : '');
  return `Merged: ${fmtInt(m.summaries)} ${plural(m.summaries, 'summary', 'summaries')}, ${fmtInt(m.hosts.length)} ${plural(m.hosts.length, 'host')} (${shown}), ${fmtInt(m.traces)} ${plural(m.traces, 'trace')}`;
}

export function renderMergeTable(rep: MergeReport): string {
  return `${headline(rep)}\n${renderAnalyzeTable(asAnalyzeReport(rep))}`;
}

export function renderMergeMarkdown(rep: MergeReport): string {
  return `> ${headline(rep)}\n${renderAnalyzeMarkdown(asAnalyzeReport(rep))}`;
}

export function renderMergeCsv(rep: MergeReport): string {
  return renderAnalyzeCsv(asAnalyzeReport(rep));
}

export const renderSummaryTable = (s: Summary): string => renderMergeTable(summaryView(s));
export const renderSummaryMarkdown = (s: Summary): string => renderMergeMarkdown(summaryView(s));
export const renderSummaryCsv = (s: Summary): string => renderMergeCsv(summaryView(s));
