/**
 * Writing a trace on a second core: the chunks are rendered (CSV, trace-cmd
 * text, JSON lines, trace.dat) by a worker thread while this thread makes the
 * next ones (`emulate`: the guest model and the encoder each take about half
 * of a run). The worker runs the format's own writer over the chunks in order,
 * so the bytes are the ones a one-thread write gives.
 *
 * Chunks go over by copy (structured clone: the sender's buffers are never
 * detached, which would slow every typed-array loop of this thread, and a
 * reader that reuses its chunks may do so as soon as this takes the next one).
 * At most IN_FLIGHT chunks wait on the worker, so memory stays bounded
 * whatever the length of the run. Where no worker script exists (tests running
 * the sources), on one core, or with EXITSCOPE_WORKERS=0, the writer runs in this thread.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ExitChunk, type OptionalColumn } from '../model/chunk.js';
import { ExitscopeError } from '../model/errors.js';
import { REASONS } from '../model/reasons.js';
import type { ReasonDef } from './ranges.js';
import type { WriteOptions } from './types.js';

/** What the writing thread is sent. */
export type WriteRequest =
  | { type: 'start'; format: string; columns: OptionalColumn[] }
  | { type: 'chunk'; base: string; capacity: number; length: number; buffers: ArrayBufferLike[]; reasons: ReasonDef[] }
  | { type: 'end' };

/** What it answers: rendered parts (in order), a chunk taken by the writer, the end, or a failure. */
export type WriteAnswer =
  | { type: 'out'; parts: Array<string | Uint8Array> }
  | { type: 'took' }
  | { type: 'done' }
  | { type: 'error'; message: string; user: boolean };

/** Chunks posted and not yet taken by the worker's writer. */
const IN_FLIGHT = 3;
/** The worker batches small rendered parts (a text writer's lines) into posts of about this many bytes. */
const POST_BYTES = 1 << 20;

/** What the pool needs of a worker thread. */
export interface WriteWorker {
  postMessage(m: WriteRequest): void;
  on(event: 'message', listener: (m: WriteAnswer) => void): unknown;
  on(event: 'error', listener: (e: Error) => void): unknown;
  terminate(): Promise<unknown>;
}

const WORKER_URL = new URL('./write-worker.js', import.meta.url);

/**
 * Where the writing thread comes from: a seam, as parallel.ts's parseWorkers. From the sources no worker script
 * exists; tests put a stand-in here that answers in this thread through writeSession, as write-worker.ts does.
 */
export const writeWorkers = {
  available: (): boolean => process.env.EXITSCOPE_WORKERS !== '0' && availableParallelism() > 1 && existsSync(fileURLToPath(WORKER_URL)),
  spawn: (): WriteWorker => new Worker(WORKER_URL, { resourceLimits: { maxYoungGenerationSizeMb: 8 } }),
};

/**
 * The writing thread's side: takes requests in order, runs `render` (the format's writer) over the chunks as they
 * come, and posts what it renders. `post` is the port back.
 */
export function writeSession(render: (format: string, chunks: AsyncIterable<ExitChunk>, opts: WriteOptions) => AsyncIterable<string | Buffer>, post: (a: WriteAnswer) => void): (m: WriteRequest) => void {
  const queue: Array<ExitChunk | null> = [];
  let wake: (() => void) | null = null;
  async function* chunks(): AsyncGenerator<ExitChunk> {
    for (;;) {
      while (!queue.length) await new Promise<void>((r) => { wake = r; });
      wake = null;
      const c = queue.shift()!;
      if (c === null) return;
      post({ type: 'took' });
      yield c;
    }
  }
  const run = async (format: string, columns: OptionalColumn[]): Promise<void> => {
    let parts: Array<string | Uint8Array> = [];
    let bytes = 0;
    const flush = (): void => { if (parts.length) post({ type: 'out', parts }); parts = []; bytes = 0; };
    try {
      for await (const p of render(format, chunks(), { columns: new Set(columns) })) {
        parts.push(p);
        bytes += p.length;
        if (bytes >= POST_BYTES) flush();
      }
      flush();
      post({ type: 'done' });
    } catch (e) {
      post({ type: 'error', message: (e as Error).message, user: e instanceof ExitscopeError });
    }
  };
  return (m) => {
    if (m.type === 'start') { void run(m.format, m.columns); return; }
    if (m.type === 'end') queue.push(null);
    else {
      // The sender's reasons past the built-in table, in its order: this thread's table, fresh, gives them the same ids.
      for (const [id, isa, code, name] of m.reasons) {
        const here = code >= 0 && isa !== 'other' ? REASONS.byNativeCode(isa, code) : REASONS.intern(isa, name);
        if (here !== id) throw new Error(`writing thread: reason ${name} is ${here} here, ${id} where the chunks come from`);
      }
      queue.push(ExitChunk.fromBuffers(m.buffers, m.capacity, m.length, BigInt(m.base)));
    }
    wake?.();
  };
}

/**
 * `writer` (a format's write) over `chunks`, run on a worker thread where one can start; the parts come back here in
 * order, to be written out as the writer's own would be.
 */
export async function* writeInWorker(format: string, writer: (chunks: AsyncIterable<ExitChunk>, opts: WriteOptions) => AsyncIterable<string | Buffer>, chunks: AsyncIterable<ExitChunk>, opts: WriteOptions): AsyncGenerator<string | Buffer> {
  if (!writeWorkers.available()) { yield* writer(chunks, opts); return; }
  const w = writeWorkers.spawn();
  const out: Array<string | Buffer> = [];
  let finished = false;
  let failure: Error | null = null;
  let inFlight = 0;
  let wake: (() => void) | null = null;
  let wakeFeeder: (() => void) | null = null;
  const poke = (): void => { const f = wake; wake = null; f?.(); const g = wakeFeeder; wakeFeeder = null; g?.(); };
  w.on('message', (m: WriteAnswer) => {
    if (m.type === 'out') for (const p of m.parts) out.push(typeof p === 'string' ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength));
    else if (m.type === 'took') inFlight--;
    else if (m.type === 'done') finished = true;
    else failure = m.user ? new ExitscopeError(m.message) : new Error(m.message);
    poke();
  });
  w.on('error', (e) => { failure = e; poke(); });
  let sentReasons = REASONS.predefined;
  // A streaming reader declares its columns once it has started: the writer is started with them at the first chunk
  // (as the writers themselves take them), or at the end of an input without one.
  let started = false;
  const start = (): void => { if (!started) { started = true; w.postMessage({ type: 'start', format, columns: [...opts.columns] }); } };
  const feed = async (): Promise<void> => {
    try {
      for await (const c of chunks) {
        if (failure) return;
        start();
        if (!c.length) continue;
        const reasons: ReasonDef[] = [];
        for (; sentReasons < REASONS.size; sentReasons++) { const r = REASONS.get(sentReasons); reasons.push([r.id, r.isa, r.code, r.name]); }
        // Only the rows in use go over (the clone copies whole buffers).
        const n = c.length;
        const send = n === c.capacity ? c : new ExitChunk(n, c.tsBaseNs);
        if (send !== c) send.copyRows(c, 0, n);
        w.postMessage({ type: 'chunk', base: String(c.tsBaseNs), capacity: send.capacity, length: n, buffers: send.buffers(), reasons });
        inFlight++;
        while (inFlight >= IN_FLIGHT && !failure) await new Promise<void>((r) => { wakeFeeder = r; });
      }
      start();
      w.postMessage({ type: 'end' });
    } catch (e) {
      failure = e as Error;
      poke();
    }
  };
  const feeding = feed();
  try {
    for (;;) {
      if (failure) throw failure;
      if (out.length) { yield out.shift()!; continue; }
      if (finished) break;
      await new Promise<void>((r) => { wake = r; });
    }
    await feeding;
    if (failure) throw failure;
  } finally {
    await w.terminate();
  }
}
