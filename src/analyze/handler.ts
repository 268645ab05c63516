/**
 * One shape for every analysis (after the Chrome DevTools trace handlers):
 * reset(), handleChunk(), finalize(), data(). The engine makes one streaming
 * pass over each input and feeds every handler the rows that pass the filter,
 * a chunk at a time (the columnar form of handleEvent: the loop over rows lives
 * inside the handler, so no call or object per exit).
 */
import type { ExitChunk } from '../model/chunk.js';
import type { TraceStream } from '../formats/index.js';
import { NO_FILTER, selectRows, type Census, type ExitFilter } from './filter.js';

export interface ExitHandler<T = unknown> {
  readonly name: string;
  reset(): void;
  /** Rows sel[0..n) of `chunk`, from input number `input`. */
  handleChunk(chunk: ExitChunk, sel: Uint32Array, n: number, input: number): void;
  finalize(): void;
  data(): T;
}

/** Streams every input once through every handler. */
export async function runHandlers(streams: readonly TraceStream[], handlers: readonly ExitHandler[], filter: ExitFilter = NO_FILTER, census?: Census): Promise<void> {
  for (const h of handlers) h.reset();
  let sel = new Uint32Array(0);
  for (let k = 0; k < streams.length; k++) {
    for await (const chunk of streams[k].chunks) {
      census?.count(chunk);
      if (sel.length < chunk.length) sel = new Uint32Array(chunk.capacity);
      const n = selectRows(chunk, filter, sel);
      if (n === 0) continue;
      for (const h of handlers) h.handleChunk(chunk, sel, n, k);
    }
  }
  for (const h of handlers) h.finalize();
}
