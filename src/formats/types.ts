import type { ChunkPool, ExitChunk, OptionalColumn } from '../model/chunk.js';
import type { Counters } from '../model/counters.js';
import type { Diagnostics } from '../model/errors.js';
import type { OpenedInput } from './input.js';

export interface ReadOptions {
  strict: boolean;
  chunkRows?: number;
  /** Hand on partial chunks after every input batch (a live view wants exits as they come). */
  flush?: boolean;
}

/** What a reader fills while it streams; complete once its chunks are exhausted. */
export interface ReadState {
  diag: Diagnostics;
  /** Chunks the consumer handed back (TraceStream.release): readers that allocate chunks take from here. */
  pool?: ChunkPool;
  /** Optional columns this input can carry (known before the first chunk is yielded). */
  columns: Set<OptionalColumn>;
  /** The declared reader counters (model/counters.ts); readers count, never throw, for these outcomes. */
  counters: Counters;
  /**
   * A symbol map the file itself carries (trace.dat and perf.data embed the
   * recording host's /proc/kallsyms): used when no --map is given, and said so.
   */
  embeddedKallsyms?: string;
  /** Labels of the VMs the rows' `vm` column names, when the input holds several (or says which). */
  vms?: Map<number, string>;
}

export interface WriteOptions {
  /** Optional columns the exits carry (text formats write only these). */
  columns: ReadonlySet<OptionalColumn>;
  /** The name the format was asked for (writerFor sets it): an alias may pick a layout (ftrace's `perf-script`). */
  as?: string;
}

/**
 * One importer per format (speedscope's shape). `sniff` sees the first bytes
 * (decompressed) and their latin1 text; `read` streams chunks; `write`, where
 * the format can be written, renders chunks in exit-time order.
 */
export interface TraceFormat {
  readonly name: string;
  /** Other names users give it (`--input-format`, `convert --to`, `emulate --emit`). */
  readonly aliases?: readonly string[];
  /** How the format looks, for the "unknown format" message. */
  readonly describe: string;
  /** Binary formats need a seekable file, not a pipe. */
  readonly binary?: boolean;
  sniff(head: Buffer, text: string): boolean;
  read(input: OpenedInput, state: ReadState, opts: ReadOptions): AsyncGenerator<ExitChunk>;
  write?(chunks: AsyncIterable<ExitChunk>, opts: WriteOptions): AsyncIterable<string | Buffer>;
}
