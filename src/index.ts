/** exitscope as a library: `import { readTrace, analyze } from 'exitscope'`. */
export { openTrace, readTrace, FORMATS, type TraceStream } from './formats/index.js';
export { writeCsv } from './formats/csv.js';
export { writeJsonl } from './formats/jsonl.js';
export * from './model/chunk.js';
export { REASONS, type ExitReason, type Isa } from './model/reasons.js';
export { ExitscopeError, type InputStats } from './model/errors.js';
export { loadSymbolizer, loadMap, Symbolizer, SymbolTable } from './symbols/index.js';
export * from './analyze/index.js';
export { Emulation, prepareEmulation, emulationStream, loadProfile, EmulatorConfigSchema, HostProfileSchema, GUEST_MAP, type EmulatorConfig, type EmulationSummary } from './emulator/index.js';
export { reproduce } from './emulator/reproduce.js';
export { estimate, replay, parsePassSpec, parsePipelineJson, PipelineSchema, EstimateReportSchema, ReplayTrace, type EstimateReport, type PassEstimate, type PassSpec } from './replay/index.js';
export { advise } from './replay/advise.js';
export { validate } from './replay/validate.js';
export { writeTraceCmd } from './formats/trace-cmd-writer.js';
