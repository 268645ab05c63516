/**
 * The schema of one input's accounting, as every JSON result carries it:
 * lines = header + events + skipped + rejected, plus the declared counters.
 * (Apart from summary.ts so that reading and rendering a table never load zod.)
 */
import { z } from 'zod';
import { COUNTERS, COUNTER_NAMES, type CounterName } from '../model/counters.js';

const Count = z.number().int().nonnegative();

const counterShape = Object.fromEntries(COUNTER_NAMES.map((k) => [k, Count.describe(`${COUNTERS[k].severity}: ${COUNTERS[k].description}`)])) as Record<CounterName, typeof Count>;

export const CountersSchema = z.object(counterShape).describe('Declared reader counters (exitscope schema lists them with their descriptions)');

export const InputSummarySchema = z.object({
  path: z.string(),
  format: z.string().describe('Detected (or forced) input format'),
  lines: Count.describe('Physical lines read (text formats; 0 for binary ones); lines = header + events + skipped + rejected'),
  header: Count,
  events: Count.describe('Records used: CSV/JSONL rows are exits; in event traces kvm_exit, kvm_entry and detail records (totals.exits counts exits)'),
  skipped: Count.describe('Lines skipped as unrelated (blank, comments, other events, markers)'),
  rejected: Count.describe('Malformed lines, each reported as file:line: reason'),
  counters: CountersSchema,
  rejections: z.array(z.string()).describe('The first rejected lines, file:line: reason'),
  notes: z.array(z.string()),
});

export type InputSummary = z.infer<typeof InputSummarySchema>;

