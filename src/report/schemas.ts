/**
 * Every published JSON contract by name, for `exitscope schema NAME`: the
 * command results of the report registry (index.ts), the emulator's summary
 * and scenario files, pipeline files. Loads zod and every command's schema
 * module, so only `exitscope schema` and the tests import it.
 */
import { z } from 'zod';
import { AnalyzeReportSchema } from '../analyze/schema.js';
import { DiffReportSchema } from '../analyze/diff.js';
import { ReproduceReportSchema } from '../check/reproduce.js';
import { ValidationReportSchema } from '../check/validate.js';
import { EmulationSummarySchema } from '../emulator/engine.js';
import { EmulatorConfigSchema } from '../emulator/config.js';
import { AdviceReportSchema } from '../replay/advise.js';
import { EstimateReportSchema } from '../replay/estimate.js';
import { PipelineSchema } from '../replay/pipeline.js';
import { MergeReportSchema, SummarySchema } from '../fleet/schema.js';

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

/** Input files (a scenario, a pipeline) are validated as they are written: fields with defaults may be left out. */
const INPUTS = new Set(['emulate-config', 'pipeline']);

export function jsonSchema(name: string): unknown {
  return z.toJSONSchema(SCHEMAS[name], { unrepresentable: 'any', io: INPUTS.has(name) ? 'input' : 'output' });
}
