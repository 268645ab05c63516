/** exitscope as a library: `import { openTrace, analyze } from 'exitscope'`. */
export { openTrace, readTrace, FORMATS, formatByName, writerFor, type TraceStream, type TraceFormat } from './formats/index.js';
export { writeCsv } from './formats/csv.js';
export { writeJsonl } from './formats/jsonl.js';
export { writeTraceCmd } from './formats/trace-cmd-writer.js';
export * from './model/chunk.js';
export { COUNTERS, type Counters, type CounterName } from './model/counters.js';
export { REASONS, type ExitReason, type Isa } from './model/reasons.js';
export { ExitscopeError, type InputStats } from './model/errors.js';
export { loadSymbolizer, loadMap, Symbolizer, SymbolTable } from './symbols/index.js';
export * from './analyze/index.js';
export * from './analyze/schema.js';
export { Emulation, prepareEmulation, emulationStream, loadProfile, EmulatorConfigSchema, EmulationSummarySchema, HostProfileSchema, GUEST_MAP, type EmulatorConfig, type EmulationSummary } from './emulator/index.js';
export { estimate, replay, parsePassSpec, parsePipelineJson, PipelineSchema, EstimateReportSchema, ReplayTrace, PASSES, type EstimateReport, type PassEstimate, type PassSpec } from './replay/index.js';
export { advise, AdviceReportSchema, type AdviceReport } from './replay/advise.js';
export { validate, ValidationReportSchema, type ValidationReport } from './check/validate.js';
export { reproduce, ReproduceReportSchema, type ReproduceReport } from './check/reproduce.js';
export { REPORTS, renderReport } from './report/index.js';
export { SCHEMAS, jsonSchema } from './report/schemas.js';
