/**
 * The format registry and sniffing (after Perfetto's GuessTraceType: magic
 * bytes first, then text line shapes, in a fixed order). The user never has to
 * say which format a file is in (`--input-format` overrides). Every reader
 * yields the same ExitChunks; a new format is one file plus one line in
 * FORMATS.
 */
import { ChunkPool, ExitTrace, type ExitChunk, type OptionalColumn } from '../model/chunk.js';
import { newCounters, type Counters } from '../model/counters.js';
import { Diagnostics, ExitscopeError, type InputStats } from '../model/errors.js';
import { csvFormat } from './csv.js';
import { ftraceFormat } from './ftrace.js';
import { openInput } from './input.js';
import { parallelEligible, readParallel } from './parallel.js';
import { jsonlFormat } from './jsonl.js';
import { lazyFormat, perfDataInfo, traceDatInfo } from './binary-formats.js';
import type { ReadOptions, ReadState, TraceFormat, WriteOptions } from './types.js';

export type { TraceFormat, ReadOptions, ReadState, WriteOptions } from './types.js';

/** The binary formats' readers load when a binary trace is read or written (binary-formats.ts). */
const traceDatFormat = lazyFormat(traceDatInfo, async () => (await import('./trace-dat.js')).traceDatFormat, true);
const perfDataFormat = lazyFormat(perfDataInfo, async () => (await import('./perf-data.js')).perfDataFormat, false);

/** Sniffing order: binary magics first, then text shapes. */
export const FORMATS: readonly TraceFormat[] = [traceDatFormat, perfDataFormat, csvFormat, jsonlFormat, ftraceFormat];


function names(f: TraceFormat): string[] {
  return [f.name, ...(f.aliases ?? [])];
}

export function formatByName(name: string): TraceFormat {
  const f = FORMATS.find((x) => names(x).includes(name));
  if (!f) throw new ExitscopeError(`unknown trace format '${name}' (choose one of: ${FORMATS.flatMap(names).join(', ')})`);
  return f;
}

/** Formats that can be written (`convert --to`, `replay --to`, `emulate --emit`). */
export function writableFormats(): string[] {
  return FORMATS.filter((f) => f.write).flatMap(names);
}

export function writerFor(name: string): (chunks: AsyncIterable<ExitChunk>, opts: WriteOptions) => AsyncIterable<string | Buffer> {
  const f = formatByName(name);
  const write = f.write;
  if (!write) throw new ExitscopeError(`cannot write ${name} (writable: ${writableFormats().join(', ')})`);
  return (chunks, opts) => write.call(f, chunks, { ...opts, as: name });
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
  const f = FORMATS.find((x) => x.sniff(head, text));
  if (f) return f;
  if (head.length === 0) throw new ExitscopeError(`${path}: empty file, no trace in it`);
  const what = looksBinary(head) ? 'a binary file, not a trace' : 'not a trace format exitscope knows';
  throw new ExitscopeError(`${path}: ${what}; exitscope reads ${FORMATS.map((x) => x.describe).join('; ')}`);
}

export interface TraceStream {
  readonly path: string;
  readonly format: string;
  readonly stats: InputStats;
  readonly columns: ReadonlySet<OptionalColumn>;
  readonly counters: Counters;
  /** VM labels (complete once the chunks are exhausted). */
  readonly vms: ReadonlyMap<number, string>;
  /** The recording host's kallsyms embedded in the file (trace.dat, perf.data), once read. */
  readonly embeddedKallsyms: () => string | undefined;
  readonly chunks: AsyncIterable<ExitChunk>;
  /**
   * The consumer is done with a chunk of this stream (it keeps no reference,
   * nor any view of its columns): the reader may refill it. Optional for
   * consumers; a chunk never released is simply garbage. A wrapper that hands
   * one chunk to several consumers (the HTML report's fanOut) must not pass
   * this on.
   */
  readonly release?: (c: ExitChunk) => void;
}

export interface OpenTraceOptions extends Partial<ReadOptions> {
  format?: string;
  /** What `-` reads (default: the process's standard input). */
  stdin?: AsyncIterable<Buffer>;
  /** Keep reading as the input grows until this aborts (`--follow`). */
  follow?: AbortSignal;
}

/** Opens a trace for streaming; chunks are produced as the caller iterates. */
export async function openTrace(path: string, opts: OpenTraceOptions = {}): Promise<TraceStream> {
  const input = await openInput(path, { stdin: opts.stdin, follow: opts.follow });
  const fmt = opts.format ? formatByName(opts.format) : sniffFormat(path, input.head);
  if (fmt.binary && path === '-') throw new ExitscopeError(`-: ${fmt.name} needs a seekable file, not standard input (save it to a file first)`);
  if (fmt.binary) await input.close();
  const diag = new Diagnostics(path, fmt.name, opts.strict ?? false);
  const state: ReadState = { diag, columns: new Set(), counters: newCounters(), vms: new Map(), pool: new ChunkPool() };
  const readOpts: ReadOptions = { strict: opts.strict ?? false, chunkRows: opts.chunkRows, flush: opts.follow !== undefined };
  const parallel = await parallelEligible(input, fmt.name, readOpts);
  return {
    path,
    format: fmt.name,
    stats: diag.stats,
    columns: state.columns,
    counters: state.counters,
    vms: state.vms!,
    embeddedKallsyms: () => state.embeddedKallsyms,
    release: (c) => state.pool!.release(c),
    chunks: parallel ? readParallel(input, fmt.name as 'csv' | 'ftrace', state, readOpts) : fmt.read(input, state, readOpts),
  };
}

/** Reads a whole trace into memory (for passes that need it); aggregations should stream. */
export async function readTrace(path: string, opts: OpenTraceOptions = {}): Promise<{ trace: ExitTrace; stream: TraceStream }> {
  const stream = await openTrace(path, opts);
  const trace = await ExitTrace.collect(stream.chunks, stream.columns);
  return { trace, stream };
}
