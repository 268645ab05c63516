/**
 * The `analyze` JSON contract. This zod schema is the TypeScript type, the
 * validator the tests use, and (via z.toJSONSchema) the published JSON Schema:
 * `exitscope schema analyze`.
 */
import { z } from 'zod';
import { DIMENSIONS } from './dimensions.js';

const Count = z.number().int().nonnegative();
const Ns = z.number().nonnegative();
const Hex = z.string().regex(/^0x[0-9a-f]+$/);

export { InputSummarySchema, type InputSummary } from '../formats/summary-schema.js';
import { InputSummarySchema } from '../formats/summary-schema.js';

export const AnalyzeRowSchema = z.object({
  rank: z.number().int().positive(),
  key: z.string().describe('Row text: the labels of the --by dimensions joined by " | " (symbol, symbol+0xoff, reason, port, "fn <- caller", "vm 1 | vcpu 0", ...)'),
  keys: z.record(z.string(), z.string()).describe('The label of each --by dimension'),
  symbol: z.string().nullable().describe('Function (or [guest user], [guest kernel, no symbol], [firmware], [unknown]) for address-keyed views'),
  module: z.string().nullable(),
  address: Hex.nullable().describe("The row's address: function start for --by function/caller, the trap address for --by address/callsite, the port, GPA or MSR index for device views"),
  count: Count,
  countPct: z.number().describe('Of the exits this view covers (view.exits)'),
  timeNs: Ns.describe('Exit time, handling + idle'),
  handlingNs: Ns.describe('Exit time of non-idle exits'),
  idleNs: Ns.describe('Exit time of HLT/MWAIT exits: the vcpu had nothing to run'),
  timePct: z.number().describe('Share of the view\'s handling time (of handling + idle with --include-idle)'),
  timed: Count.describe('Exits of this row with a known duration (the rest are unpaired)'),
  minNs: z.number().nullable(),
  meanNs: z.number().nullable(),
  stddevNs: z.number().nullable().describe('Population standard deviation of the timed exits (perf kvm stat shows it as ±% of the mean)'),
  p50Ns: z.number().nullable(),
  p99Ns: z.number().nullable(),
  maxNs: z.number().nullable(),
  reasons: z.record(z.string(), Count),
  caller: z.string().optional().describe('Calling function ([no caller] when the trace has none) for --by caller/callsite'),
  callerAddress: Hex.nullable().optional(),
  device: z.string().nullable().optional().describe('Device behind a port or MMIO address (fixed PC devices; --iomap names PCI BARs)'),
  register: z.string().nullable().optional().describe('Register of that device, or the MSR\'s name, when known'),
  series: z.object({ exits: z.array(z.number()), handlingNs: z.array(z.number()) }).optional().describe('Per --interval: exits and handling time'),
});

import { ByValues, SortValues } from './sort-values.js';
export { ByValues, SortValues } from './sort-values.js';

const Split = z.object({ exits: Count, timeNs: Ns });

export const AnalyzeReportSchema = z.object({
  schema: z.literal('exitscope.analyze/v3'),
  by: z.array(z.enum(DIMENSIONS)).min(1),
  sort: z.enum(SortValues),
  includeIdle: z.boolean().describe('Whether Time% and --sort time count idle (HLT/MWAIT) time'),
  inputs: z.array(InputSummarySchema),
  totals: z.object({
    exits: Count,
    timeNs: Ns,
    handlingNs: Ns,
    idleNs: Ns,
    timed: Count,
    spanNs: Ns,
    vcpus: Count,
    perVcpu: z.array(z.object({
      input: Count, vm: z.number().int(), vcpu: Count, label: z.string(), exits: Count, handlingNs: Ns, idleNs: Ns,
      wallNs: Ns.describe('This vcpu\'s first exit to its last entry'),
      handlingShare: z.number().describe('handlingNs / wallNs'),
      idleShare: z.number().describe('idleNs / wallNs'),
    })),
    split: z.object({ kernel: Split, user: Split, unresolved: Split }).nullable().describe('Where exits trapped (with a map): guest kernel functions, guest user space, or unresolved'),
  }),
  view: z.object({ exits: Count, timeNs: Ns }).describe('Exits this view covers (all, or those with a port / MMIO / MSR detail for device views) and their time as Time% counts it; countPct/timePct are of these'),
  interval: z.object({ ns: z.number().positive(), count: Count, capped: z.boolean() }).nullable(),
  kaslr: z.object({
    slide: z.string().regex(/^-?0x[0-9a-f]+$/),
    mode: z.enum(['auto', 'forced', 'none']),
    note: z.string(),
  }),
  rows: z.array(AnalyzeRowSchema),
  omitted: z.object({ rows: Count, count: Count, timeNs: Ns }).describe('Rows past --top'),
  notes: z.array(z.string()),
});

export type AnalyzeRow = z.infer<typeof AnalyzeRowSchema>;
export type AnalyzeReport = z.infer<typeof AnalyzeReportSchema>;
export type GroupBy = (typeof ByValues)[number];
export type SortBy = (typeof SortValues)[number];
