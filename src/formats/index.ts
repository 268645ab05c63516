/**
 * Format registry and sniffing: the user never has to say which format a file
 * is in (`--input-format` overrides). Every reader yields the same ExitChunks.
 */
import { ExitTrace, type ExitChunk, type OptionalColumn } from '../model/chunk.js';
import { Diagnostics, ExitscopeError, type InputStats } from '../model/errors.js';
import { csvFormat } from './csv.js';
import { ftraceFormat } from './ftrace.js';
import { openInput } from './input.js';
import { jsonlFormat } from './jsonl.js';
import type { ReadOptions, ReadState, TraceFormat } from './types.js';

export const FORMATS: readonly TraceFormat[] = [csvFormat, jsonlFormat, ftraceFormat];
const ALIASES: Record<string, string> = { 'trace-cmd': 'ftrace', 'perf-script': 'ftrace', perf: 'ftrace', text: 'ftrace' };

export function formatByName(name: string): TraceFormat {
  const f = FORMATS.find((x) => x.name === (ALIASES[name] ?? name));
  if (!f) throw new ExitscopeError(`unknown input format '${name}' (choose one of: ${[...FORMATS.map((x) => x.name), ...Object.keys(ALIASES)].join(', ')})`);
  return f;
}

function looksBinary(head: Buffer): boolean {
  const n = Math.min(head.length, 1024);
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const c = head[i];
    if (c === 0) return true;
    if (c < 9 || (c > 13 && c < 32)) bad++;
  }
  return n > 0 && bad / n > 0.1;
}

export function sniffFormat(path: string, head: Buffer): TraceFormat {
  const text = head.toString('utf8');
  const f = FORMATS.find((x) => x.sniff(text));
  if (f) return f;
  const what = looksBinary(head) ? 'a binary file, not a trace' : head.length === 0 ? 'empty' : 'not a trace format exitscope knows';
  throw new ExitscopeError(`${path}: ${what}; exitscope reads ${FORMATS.map((x) => x.describe).join('; ')}`);
}

export interface TraceStream {
  readonly path: string;
  readonly format: string;
  readonly stats: InputStats;
  readonly columns: ReadonlySet<OptionalColumn>;
  readonly counters: Record<string, number>;
  readonly chunks: AsyncIterable<ExitChunk>;
}

export interface OpenTraceOptions extends Partial<ReadOptions> {
  format?: string;
}

/** Opens a trace for streaming; chunks are produced as the caller iterates. */
export async function openTrace(path: string, opts: OpenTraceOptions = {}): Promise<TraceStream> {
  const input = await openInput(path);
  const fmt = opts.format ? formatByName(opts.format) : input.head.length === 0 ? csvFormat : sniffFormat(path, input.head);
  const diag = new Diagnostics(path, fmt.name, opts.strict ?? false);
  const state: ReadState = { diag, columns: new Set(), counters: {} };
  const readOpts: ReadOptions = { strict: opts.strict ?? false, chunkRows: opts.chunkRows };
  return {
    path,
    format: fmt.name,
    stats: diag.stats,
    columns: state.columns,
    counters: state.counters,
    chunks: fmt.read(input, state, readOpts),
  };
}

/** Reads a whole trace into memory (for passes that need it); aggregations should stream. */
export async function readTrace(path: string, opts: OpenTraceOptions = {}): Promise<{ trace: ExitTrace; stream: TraceStream }> {
  const stream = await openTrace(path, opts);
  const trace = await ExitTrace.collect(stream.chunks, stream.columns);
  return { trace, stream };
}
