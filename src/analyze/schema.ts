/**
 * The `analyze` JSON contract. This zod schema is the TypeScript type, the
 * validator the tests use, and (via z.toJSONSchema) the published JSON Schema:
 * `exitscope schema analyze`.
 */
import { z } from 'zod';

const Count = z.number().int().nonnegative();

export { InputSummarySchema, type InputSummary } from '../formats/summary.js';
import { InputSummarySchema } from '../formats/summary.js';

export const AnalyzeRowSchema = z.object({
  rank: z.number().int().positive(),
  key: z.string().describe('Row key: symbol, symbol+0xoff, reason, port, vcpu, "fn <- caller" or "fn+0xoff <- caller+0xoff"'),
  symbol: z.string().nullable(),
  module: z.string().nullable(),
  address: z.string().regex(/^0x[0-9a-f]+$/).nullable().describe("Lower-case hex of the row's first/only address (function start for --by function)"),
  count: Count,
  countPct: z.number(),
  timeNs: z.number().nonnegative(),
  timePct: z.number(),
  timed: Count.describe('Exits of this row with a known duration (the rest are unpaired)'),
  minNs: z.number().nullable(),
  meanNs: z.number().nullable(),
  stddevNs: z.number().nullable().describe('Population standard deviation of the timed exits (perf kvm stat shows it as ±% of the mean)'),
  p50Ns: z.number().nullable(),
  p99Ns: z.number().nullable(),
  maxNs: z.number().nullable(),
  reasons: z.record(z.string(), Count),
  caller: z.string().nullable().optional(),
  callerAddress: z.string().regex(/^0x[0-9a-f]+$/).nullable().optional(),
});

export const ByValues = ['function', 'address', 'reason', 'port', 'mmio', 'vcpu', 'caller', 'callsite'] as const;
export const SortValues = ['count', 'time'] as const;

export const AnalyzeReportSchema = z.object({
  schema: z.literal('exitscope.analyze/v2'),
  by: z.enum(ByValues),
  sort: z.enum(SortValues),
  inputs: z.array(InputSummarySchema),
  totals: z.object({
    exits: Count,
    timeNs: z.number().nonnegative(),
    timed: Count,
    spanNs: z.number().nonnegative(),
    vcpus: Count,
  }),
  view: z.object({ exits: Count, timeNs: z.number().nonnegative() }).describe('Exits (and their time) this view covers: all exits, or for --by port/mmio the exits with that detail; countPct/timePct are of these'),
  kaslr: z.object({
    slide: z.string().regex(/^-?0x[0-9a-f]+$/),
    mode: z.enum(['auto', 'forced', 'none']),
    note: z.string(),
  }),
  rows: z.array(AnalyzeRowSchema),
  omitted: z.object({ rows: Count, count: Count, timeNs: z.number().nonnegative() }).describe('Rows past --top'),
  notes: z.array(z.string()),
});

export type AnalyzeRow = z.infer<typeof AnalyzeRowSchema>;
export type AnalyzeReport = z.infer<typeof AnalyzeReportSchema>;
export type GroupBy = (typeof ByValues)[number];
export type SortBy = (typeof SortValues)[number];
