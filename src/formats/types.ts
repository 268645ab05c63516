import type { ExitChunk, OptionalColumn } from '../model/chunk.js';
import type { Diagnostics } from '../model/errors.js';
import type { OpenedInput } from './input.js';

export interface ReadOptions {
  strict: boolean;
  chunkRows?: number;
}

/** What a reader fills while it streams; complete once its chunks are exhausted. */
export interface ReadState {
  diag: Diagnostics;
  /** Optional columns this input can carry (known before the first chunk is yielded). */
  columns: Set<OptionalColumn>;
  /** Reader-specific counters (lost events, unpaired exits, ...). */
  counters: Record<string, number>;
}

/** One importer per format (speedscope's shape): sniff the head, stream chunks. */
export interface TraceFormat {
  readonly name: string;
  /** How the format looks, for the "unknown format" message. */
  readonly describe: string;
  sniff(headText: string): boolean;
  read(input: OpenedInput, state: ReadState, opts: ReadOptions): AsyncGenerator<ExitChunk>;
}
