/**
 * The report registry: every command's result is a versioned, zod-typed
 * value, and its renderers are pure functions of it, chosen by `--format` the
 * same way in every command. A new report is one renderer file plus one line
 * here and one in schemas.ts (its JSON Schema for `exitscope schema`; a test
 * checks that every report has one). Only types come from the schemas here:
 * rendering a table loads neither zod nor the other commands' code.
 */
import type { AnalyzeReport } from '../analyze/schema.js';
import type { DiffReport } from '../analyze/diff.js';
import type { ReproduceReport } from '../check/reproduce.js';
import type { ValidationReport } from '../check/validate.js';
import type { AdviceReport } from '../replay/advise.js';
import type { EstimateReport } from '../replay/estimate.js';
import type { MergeReport, Summary } from '../fleet/schema.js';

export const REPORT_FORMATS = ['table', 'md', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

type Renderers<T> = Record<Exclude<ReportFormat, 'json'>, (result: T) => string>;

interface ReportKind<T> {
  /** table, md, csv (json is the result itself), loaded when a report is rendered: a command loads only its own renderer. */
  load: () => Promise<Renderers<T>>;
}

function kind<T>(k: ReportKind<T>): ReportKind<T> {
  return k;
}

export const REPORTS = {
  analyze: kind<AnalyzeReport>({ load: async () => { const m = await import('./analyze-report.js'); return { table: m.renderAnalyzeTable, md: m.renderAnalyzeMarkdown, csv: m.renderAnalyzeCsv }; } }),
  estimate: kind<EstimateReport>({ load: async () => { const m = await import('./estimate-report.js'); return { table: m.renderEstimateTable, md: m.renderEstimateMarkdown, csv: m.renderEstimateCsv }; } }),
  advise: kind<AdviceReport>({ load: async () => { const m = await import('./advise-report.js'); return { table: m.renderAdviceTable, md: m.renderAdviceMarkdown, csv: m.renderAdviceCsv }; } }),
  validate: kind<ValidationReport>({ load: async () => { const m = await import('./validate-report.js'); return { table: m.renderValidateTable, md: m.renderValidateMarkdown, csv: m.renderValidateCsv }; } }),
  reproduce: kind<ReproduceReport>({ load: async () => { const m = await import('./reproduce-report.js'); return { table: m.renderReproduceTable, md: m.renderReproduceMarkdown, csv: m.renderReproduceCsv }; } }),
  summary: kind<Summary>({ load: async () => { const m = await import('./fleet-report.js'); return { table: m.renderSummaryTable, md: m.renderSummaryMarkdown, csv: m.renderSummaryCsv }; } }),
  merge: kind<MergeReport>({ load: async () => { const m = await import('./fleet-report.js'); return { table: m.renderMergeTable, md: m.renderMergeMarkdown, csv: m.renderMergeCsv }; } }),
  diff: kind<DiffReport>({ load: async () => { const m = await import('./diff-report.js'); return { table: m.renderDiffTable, md: m.renderDiffMarkdown, csv: m.renderDiffCsv }; } }),
};

export type ReportName = keyof typeof REPORTS;
export type ResultOf<K extends ReportName> = (typeof REPORTS)[K] extends ReportKind<infer T> ? T : never;

export async function renderReport<K extends ReportName>(name: K, result: ResultOf<K>, format: ReportFormat): Promise<string> {
  if (format === 'json') return JSON.stringify(result, null, 2) + '\n';
  const k = REPORTS[name] as unknown as ReportKind<ResultOf<K>>;
  return (await k.load())[format](result);
}
