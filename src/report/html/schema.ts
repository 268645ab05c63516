/**
 * What the HTML report shows, as one value (`exitscope.report/v1`): the page
 * is a pure function of it, and it is embedded in the page as JSON
 * (`<script type="application/json" id="exitscope-data">`) for the charts
 * drawn in the browser and for anyone who wants the numbers behind a chart.
 */
import { z } from 'zod';
import { AnalyzeReportSchema, AnalyzeRowSchema, InputSummarySchema } from '../../analyze/schema.js';
import { EstimateReportSchema } from '../../replay/estimate.js';

const Count = z.number().int().nonnegative();

const Omitted = AnalyzeReportSchema.shape.omitted;
const View = AnalyzeReportSchema.shape.view;

const RowsView = z.object({
  rows: z.array(AnalyzeRowSchema),
  view: View,
  omitted: Omitted,
  notes: z.array(z.string()),
});

export const HtmlReportSchema = z.object({
  schema: z.literal('exitscope.report/v1'),
  title: z.string(),
  generated: z.object({ tool: z.string(), at: z.string().describe('ISO 8601') }),
  inputs: z.array(InputSummarySchema),
  maps: z.array(z.string()).describe('Symbol sources, as loaded'),
  kaslr: AnalyzeReportSchema.shape.kaslr,
  totals: AnalyzeReportSchema.shape.totals,
  notes: z.array(z.string()),
  top: Count.describe('Rows per table and chart'),
  functions: RowsView.extend({ byTime: z.array(AnalyzeRowSchema).describe('Top functions by handling time') }).describe('analyze --by function --sort count --top N: the hot-function table'),
  reasons: RowsView,
  ports: RowsView.nullable().describe('null: no exit carries an I/O port'),
  mmio: RowsView.nullable().describe('null: no exit carries an MMIO address'),
  vms: RowsView.nullable().describe('null: one VM'),
  exitRate: z.object({
    binNs: z.number().positive(),
    series: z.array(z.object({
      label: z.string(),
      exits: z.array(z.number()),
      lastBinNs: z.number().positive().describe('Width of this vcpu\'s last occupied bin: it ends at the vcpu\'s last exit'),
    })),
  }).nullable().describe('Exits per bin per vcpu, from each input\'s first exit'),
  histograms: z.array(z.object({
    reason: z.string(), exits: Count, timed: Count,
    edgesNs: z.array(z.number()), counts: z.array(z.number()),
  })).describe('Exit durations of the top reasons, log-spaced bins'),
  estimate: EstimateReportSchema.nullable(),
});

export type HtmlReport = z.infer<typeof HtmlReportSchema>;
export type RowsViewData = z.infer<typeof RowsView>;
