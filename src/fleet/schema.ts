/**
 * The contracts of the fleet commands, each one zod schema that is the type,
 * the validator and the published JSON Schema (`exitscope schema summary`,
 * `exitscope schema merge`):
 * - `exitscope.summary/v1`: what `summarize` writes per host and `merge`
 *   reads and writes back (a merged summary is a summary);
 * - `exitscope.merge/v1`: one analyze view rendered from merged summaries
 *   (rows, totals and notes as analyze gives them).
 */
import { z } from 'zod';
import { AnalyzeReportSchema, AnalyzeRowSchema, InputSummarySchema } from '../analyze/schema.js';
import { SortValues } from '../analyze/schema.js';
import { DistSchema, SKETCH_PARAMS } from './sketch.js';

/** The views a summary keeps: one cell per (view key, exit reason). */
export const SUMMARY_VIEWS = ['function', 'reason', 'vcpu', 'vm', 'port', 'mmio', 'msr'] as const;
export type SummaryView = (typeof SUMMARY_VIEWS)[number];

const Count = z.number().int().nonnegative();
const Ns = z.number().nonnegative();
const Hex = z.string().regex(/^0x[0-9a-f]+$/);

export const SummaryRowSchema = z.object({
  key: z.string().describe('Identity of the row across summaries: the analyze row text (function: "name [module]", a class, or "[unknown] 0x..."; reason; "0x70:POUT"; ...), or for vcpu and vm rows a JSON array [host, vm, vcpu] / [host, vm]'),
  symbol: z.string().nullable().optional(),
  module: z.string().nullable().optional(),
  address: Hex.nullable().optional().describe('Runtime function start (or port, GPA, MSR index) when every merged summary agrees; null where they differ (hosts with other KASLR slides or kernel builds)'),
  device: z.string().nullable().optional(),
  register: z.string().nullable().optional(),
  host: z.string().optional(),
  vm: z.string().optional().describe('VM label as the trace names it (qemu pid N, vm N)'),
  vcpu: Count.optional(),
  reasons: z.record(z.string(), DistSchema).describe('Exits and their durations per exit reason (native name)'),
});

const Split = z.object({ exits: Count, timeNs: Ns });

export const SummaryTraceSchema = InputSummarySchema.extend({
  host: z.string(),
  exits: Count,
  firstNs: z.string().regex(/^-?\d+$/).nullable().describe('Absolute ns of the first exit (decimal, exact): with host, path and exits, what makes a trace the same trace in two summaries'),
  spanNs: Ns,
  symbols: z.string().nullable().describe('Where the symbols came from (the maps, or an embedded kallsyms); null without any'),
  kaslr: z.object({ slide: z.string().regex(/^-?0x[0-9a-f]+$/), mode: z.enum(['auto', 'forced', 'none']), note: z.string() }),
});

export const SummarySchema = z.object({
  schema: z.literal('exitscope.summary/v1'),
  sketch: z.object({
    kind: z.literal(SKETCH_PARAMS.kind),
    exactLimit: z.literal(SKETCH_PARAMS.exactLimit),
    subBucketBits: z.literal(SKETCH_PARAMS.subBucketBits),
    maxExponent: z.literal(SKETCH_PARAMS.maxExponent),
    relativeError: z.literal(SKETCH_PARAMS.relativeError),
  }).describe('Duration sketch: exact samples up to exactLimit timed exits per cell, then a log-linear histogram whose percentiles are within relativeError of the true order statistic'),
  hosts: z.array(z.string()).describe('Hosts merged into this summary, sorted'),
  traces: z.array(SummaryTraceSchema).describe('Every trace summarized, with its accounting, sorted by host and path'),
  reasons: z.record(z.string(), z.object({ isa: z.enum(['vmx', 'svm', 'other']), code: z.number().int(), class: z.string().describe('Cross-ISA class (the VMX name)'), idle: z.boolean().describe('HLT/MWAIT: the vcpu had nothing to run') })),
  totals: z.object({
    exits: Count, timed: Count, handlingNs: Ns, idleNs: Ns,
    spanNs: Ns.describe('Sum of the traces\' spans (first exit to last entry of each)'),
    split: z.object({ kernel: Split, user: Split, unresolved: Split }).describe('Where exits trapped: guest kernel functions, guest user space, or unresolved'),
  }),
  views: z.object(Object.fromEntries(SUMMARY_VIEWS.map((v) => [v, z.array(SummaryRowSchema)])) as Record<SummaryView, z.ZodArray<typeof SummaryRowSchema>>),
});

export type SummaryRow = z.infer<typeof SummaryRowSchema>;
export type SummaryTrace = z.infer<typeof SummaryTraceSchema>;
export type Summary = z.infer<typeof SummarySchema>;

export const MergeReportSchema = z.object({
  schema: z.literal('exitscope.merge/v1'),
  by: z.array(z.enum(SUMMARY_VIEWS)).length(1),
  sort: z.enum(SortValues),
  includeIdle: z.boolean(),
  merged: z.object({
    summaries: Count, hosts: z.array(z.string()), traces: Count,
    kaslr: z.string().describe('The KASLR decisions of the hosts, in words'),
  }),
  totals: AnalyzeReportSchema.shape.totals,
  view: AnalyzeReportSchema.shape.view,
  rows: z.array(AnalyzeRowSchema),
  omitted: AnalyzeReportSchema.shape.omitted,
  sketch: SummarySchema.shape.sketch,
  notes: z.array(z.string()),
});

export type MergeReport = z.infer<typeof MergeReportSchema>;
