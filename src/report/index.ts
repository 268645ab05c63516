/**
 * The report registry: every command's result is a versioned, zod-typed
 * value, and its renderers are pure functions of it, chosen by `--format` the
 * same way in every command. `exitscope schema NAME` prints the JSON Schema of
 * any entry of SCHEMAS. A new report is one renderer file plus one line here.
 */
import { z } from 'zod';
import { AnalyzeReportSchema, type AnalyzeReport } from '../analyze/schema.js';
import { DiffReportSchema, type DiffReport } from '../analyze/diff.js';
import { ReproduceReportSchema, type ReproduceReport } from '../check/reproduce.js';
import { ValidationReportSchema, type ValidationReport } from '../check/validate.js';
import { EmulationSummarySchema } from '../emulator/engine.js';
import { EmulatorConfigSchema } from '../emulator/config.js';
import { AdviceReportSchema, type AdviceReport } from '../replay/advise.js';
import { EstimateReportSchema, type EstimateReport } from '../replay/estimate.js';
import { PipelineSchema } from '../replay/pipeline.js';
import { renderAdviceCsv, renderAdviceMarkdown, renderAdviceTable } from './advise-report.js';
import { renderAnalyzeCsv, renderAnalyzeMarkdown, renderAnalyzeTable } from './analyze-report.js';
import { renderDiffCsv, renderDiffMarkdown, renderDiffTable } from './diff-report.js';
import { renderEstimateCsv, renderEstimateMarkdown, renderEstimateTable } from './estimate-report.js';
import { renderReproduceCsv, renderReproduceMarkdown, renderReproduceTable } from './reproduce-report.js';
import { renderValidateCsv, renderValidateMarkdown, renderValidateTable } from './validate-report.js';
import { MergeReportSchema, SummarySchema, type MergeReport, type Summary } from '../fleet/schema.js';
import { renderMergeCsv, renderMergeMarkdown, renderMergeTable, renderSummaryCsv, renderSummaryMarkdown, renderSummaryTable } from './fleet-report.js';

export const REPORT_FORMATS = ['table', 'md', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

interface ReportKind<T> {
  schema: z.ZodType<T>;
  /** table, md, csv; json is the result itself. */
  render: Record<Exclude<ReportFormat, 'json'>, (result: T) => string>;
}

function kind<T>(k: ReportKind<T>): ReportKind<T> {
  return k;
}

export const REPORTS = {
  analyze: kind<AnalyzeReport>({ schema: AnalyzeReportSchema, render: { table: renderAnalyzeTable, md: renderAnalyzeMarkdown, csv: renderAnalyzeCsv } }),
  estimate: kind<EstimateReport>({ schema: EstimateReportSchema, render: { table: renderEstimateTable, md: renderEstimateMarkdown, csv: renderEstimateCsv } }),
  advise: kind<AdviceReport>({ schema: AdviceReportSchema, render: { table: renderAdviceTable, md: renderAdviceMarkdown, csv: renderAdviceCsv } }),
  validate: kind<ValidationReport>({ schema: ValidationReportSchema, render: { table: renderValidateTable, md: renderValidateMarkdown, csv: renderValidateCsv } }),
  reproduce: kind<ReproduceReport>({ schema: ReproduceReportSchema, render: { table: renderReproduceTable, md: renderReproduceMarkdown, csv: renderReproduceCsv } }),
  summary: kind<Summary>({ schema: SummarySchema, render: { table: renderSummaryTable, md: renderSummaryMarkdown, csv: renderSummaryCsv } }),
  merge: kind<MergeReport>({ schema: MergeReportSchema, render: { table: renderMergeTable, md: renderMergeMarkdown, csv: renderMergeCsv } }),
  diff: kind<DiffReport>({ schema: DiffReportSchema, render: { table: renderDiffTable, md: renderDiffMarkdown, csv: renderDiffCsv } }),
};

export type ReportName = keyof typeof REPORTS;
export type ResultOf<K extends ReportName> = (typeof REPORTS)[K] extends ReportKind<infer T> ? T : never;

export function renderReport<K extends ReportName>(name: K, result: ResultOf<K>, format: ReportFormat): string {
  if (format === 'json') return JSON.stringify(result, null, 2) + '\n';
  const k = REPORTS[name] as unknown as ReportKind<ResultOf<K>>;
  return k.render[format](result);
}

/** Every published JSON contract: command results, the emulator's summary and scenario files, pipeline files. */
export const SCHEMAS: Record<string, z.ZodType> = {
  analyze: AnalyzeReportSchema,
  estimate: EstimateReportSchema,
  advise: AdviceReportSchema,
  validate: ValidationReportSchema,
  reproduce: ReproduceReportSchema,
  summary: SummarySchema,
  merge: MergeReportSchema,
  diff: DiffReportSchema,
  'emulate-summary': EmulationSummarySchema,
  'emulate-config': EmulatorConfigSchema,
  pipeline: PipelineSchema,
};

export function jsonSchema(name: string): unknown {
  return z.toJSONSchema(SCHEMAS[name], { unrepresentable: 'any' });
}
