/**
 * One shape for every analysis (after the Chrome DevTools trace handlers):
 * reset(), handleChunk(), finalize(), data(). The engine makes one streaming
 * pass over the inputs and feeds every handler the rows that pass the filter,
 * a chunk at a time (the columnar form of handleEvent: the loop over rows lives
 * inside the handler, so no call or object per exit).
 */
import type { ExitChunk } from '../model/chunk.js';
import { NO_FILTER, selectRows, type Census, type ExitFilter } from './filter.js';

export interface ExitHandler<T = unknown> {
  readonly name: string;
  reset(): void;
  /** Rows sel[0..n) of `chunk`, from input number `input`. */
  handleChunk(chunk: ExitChunk, sel: Uint32Array, n: number, input: number): void;
  finalize(): void;
  data(): T;
}

/** Chunks tagged with the input they came from. */
export interface InputChunk {
  chunk: ExitChunk;
  input: number;
}

/** Feeds every chunk once through every handler (after the filter); `census` sees them unfiltered. */
export class HandlerRun {
  private sel = new Uint32Array(0);
  constructor(private readonly handlers: readonly ExitHandler[], private readonly filter: ExitFilter = NO_FILTER, private readonly census?: Census) {
    for (const h of handlers) h.reset();
  }

  feed(chunk: ExitChunk, input: number): void {
    this.census?.count(chunk);
    if (this.sel.length < chunk.length) this.sel = new Uint32Array(chunk.capacity);
    const n = selectRows(chunk, this.filter, this.sel);
    if (n === 0) return;
    for (const h of this.handlers) h.handleChunk(chunk, this.sel, n, input);
  }

  finish(): void {
    for (const h of this.handlers) h.finalize();
  }
}

/** Streams every chunk once through every handler. */
export async function runHandlers(source: AsyncIterable<InputChunk>, handlers: readonly ExitHandler[], filter: ExitFilter = NO_FILTER, census?: Census): Promise<void> {
  const run = new HandlerRun(handlers, filter, census);
  for await (const { chunk, input } of source) run.feed(chunk, input);
  run.finish();
}
