/**
 * Reading a big text trace (CSV or ftrace / trace-cmd / perf script text) on
 * every core: the file is cut into byte ranges (16 MiB each, at any byte:
 * a range owns the lines that start in it), worker threads parse ranges into
 * exit chunks or tracepoint records, and this thread takes their output in
 * file order — records replayed into the one pairing engine, so an exit in one
 * range pairs with its entry in the next exactly as in a one-thread read.
 * At most WINDOW ranges are parsed ahead of the one being consumed, so memory
 * stays bounded whatever the file size.
 *
 * Used when the input is a regular file of at least 48 MiB (not
 * standard input, not gzip, not --strict, not --follow) and a second core
 * exists; EXITSCOPE_WORKERS=0 turns it off, EXITSCOPE_WORKERS=N sets the
 * workers. Where no worker script exists (tests running the sources) the same
 * ranges are parsed in this thread, in turn, with the same results.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ExitChunk, DEFAULT_CHUNK_ROWS } from '../model/chunk.js';
import { ExitscopeError } from '../model/errors.js';
import { REASONS } from '../model/reasons.js';
import { batchFromBuffers, recycleBatch, replayBatch } from './events.js';
import { ExitAssembler } from './exit-assembler.js';
import type { OpenedInput } from './input.js';
import { parseRange, recycleChunk, type RangeMessage, type RangeSpec, type ReasonDef, type WorkerRequest } from './ranges.js';
import type { ReadOptions, ReadState } from './types.js';

/** Inputs smaller than this are read in one thread (EXITSCOPE_PARALLEL_MIN overrides, for tests). */
export const parallelMinBytes = (): number => Number(process.env.EXITSCOPE_PARALLEL_MIN ?? 48 << 20);
/** Bytes per range (EXITSCOPE_RANGE_BYTES overrides: tests cut tiny ranges at awkward bytes). */
export const rangeBytesSize = (): number => Math.max(1, Number(process.env.EXITSCOPE_RANGE_BYTES ?? 16 << 20));

/**
 * Parse workers: one core fewer than the machine has (at most 4), since this thread pairs and aggregates what they
 * parse. Measured on 2 cores, 2M-exit text trace: one worker 3.3-3.7 s and 150-155 MB, two 3.5-3.8 s and 207-221 MB.
 */
function workerCount(): number {
  const env = process.env.EXITSCOPE_WORKERS;
  if (env !== undefined) return Math.max(0, Number(env) || 0);
  return Math.min(4, availableParallelism() - 1);
}

/** Whether this input should be read in parallel. */
export async function parallelEligible(input: OpenedInput, format: string, opts: ReadOptions): Promise<boolean> {
  if (input.path === '-' || input.gzip || opts.strict || opts.flush || workerCount() < 1) return false;
  if (format !== 'csv' && format !== 'ftrace') return false;
  // Canonical CSV: one thread unless asked for (EXITSCOPE_PARALLEL_MIN). With two workers the main thread's aggregation
  // was the bottleneck (2M exits 2.7 s in one thread, 4.5 s with two workers). With one worker and the main thread
  // parsing every third range the busiest thread drops to ~0.86 s from 1.24-1.46 s, but the CPU in all grows from 1.8 to
  // 2.2 s, and on a busy 2-core machine that was no faster (npm run bench, old and new alternating: 0.45x/0.53x vs
  // 0.45x/0.39x of mawk). Stop 28, with the ranges' buffers reused: 2.33 s against 2.67 s (medians of seven alternations),
  // but the whole bench run broke two targets with it: 2M distinct RIPs peaked at 210 MB (limit 200; 172 in one thread),
  // and estimate's ratio to analyze went past 3x as analyze alone got faster.
  if (format === 'csv' && process.env.EXITSCOPE_PARALLEL_MIN === undefined) return false;
  // A several-file trace-cmd report declares its file prefixes at the top; its line state does not split.
  if (format === 'ftrace' && /^\s*\S+: cpus=\d+\s*$/m.test(input.head.toString('latin1'))) return false;
  try {
    const st = await stat(input.path);
    // Ranges past the first are handed the header: a CSV whose header the first read does not hold whole is read in one thread.
    if (format === 'csv' && csvHeader(input.head, st.size) === undefined) return false;
    return st.isFile() && st.size >= parallelMinBytes();
  } catch {
    return false;
  }
}

/** Where ranges are parsed: worker threads, or this thread in turn. */
interface RangePool {
  run(spec: RangeSpec): void;
  /** Whether ranges go to worker threads (this thread may then parse some itself while it would wait). */
  readonly workers: boolean;
  /** An event batch replayed here goes back to a parser (shared buffers: nothing is transferred or detached) to be filled again. */
  recycle(bufs: ArrayBufferLike[]): void;
  /** A CSV chunk the consumer released goes back to a parser (shared buffers again). */
  recycleChunk(c: ExitChunk): void;
  close(): Promise<void>;
}

const WORKER_URL = new URL('./parse-worker.js', import.meta.url);
/**
 * A parser allocates little on its heap (it writes typed arrays it recycles), so its young generation need not grow to
 * V8's default 16 MB semi-spaces: measured on a 2M-exit text trace, peak RSS 193-205 MB with the default, 167-183 MB
 * with 4 MB, no slower.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4 };

/** What the pool needs of a worker thread. */
export interface ParseWorker {
  postMessage(m: WorkerRequest): void;
  on(event: 'message', listener: (m: RangeMessage) => void): unknown;
  on(event: 'error', listener: (e: Error) => void): unknown;
  terminate(): Promise<unknown>;
}

/**
 * Where parse workers come from. A seam: from the sources no worker script exists, and tests replace these two with
 * stand-ins that answer in this thread (ranges.ts onWorkerRequest, as parse-worker.ts does), so the pool's queueing and
 * this thread's share of ranges run under test.
 */
export const parseWorkers = {
  available: (): boolean => existsSync(fileURLToPath(WORKER_URL)),
  spawn: (): ParseWorker => new Worker(WORKER_URL, { resourceLimits: WORKER_LIMITS }),
};

function startPool(deliver: (m: RangeMessage, worker: number) => void, fail: (e: Error) => void): { pool: RangePool; threads: number } {
  const n = workerCount();
  if (n >= 1 && parseWorkers.available()) {
    const workers = Array.from({ length: n }, () => parseWorkers.spawn());
    const idle = [...workers];
    const queue: RangeSpec[] = [];
    const pump = (): void => { while (idle.length && queue.length) idle.shift()!.postMessage(queue.shift()!); };
    for (const [k, w] of workers.entries()) {
      w.on('message', (m: RangeMessage) => {
        deliver(m, k);
        if (m.type === 'done' || m.type === 'error') { idle.push(w); pump(); }
      });
      w.on('error', fail);
    }
    let turn = 0;
    return {
      threads: n,
      pool: {
        workers: true,
        run(spec) { queue.push(spec); pump(); },
        recycle(bufs) { workers[turn++ % workers.length].postMessage({ recycle: bufs }); },
        recycleChunk(c) { workers[turn++ % workers.length].postMessage({ recycleChunk: c.buffers(), capacity: c.capacity }); },
        close: async () => { await Promise.all(workers.map((w) => w.terminate())); },
      },
    };
  }
  // In this thread: ranges run one after another, each to its end.
  let chain = Promise.resolve();
  return {
    threads: 1,
    pool: {
      workers: false,
      run(spec) { chain = chain.then(() => parseRange(spec, (m) => deliver(m, -1))).catch(fail); },
      recycle: recycleBatch,
      recycleChunk: (c) => recycleChunk(c.buffers(), c.capacity),
      close: async () => { await chain; },
    },
  };
}

/**
 * The first line of a CSV that is neither blank nor a comment: its header; undefined when the
 * file's first read (`head`, of a file of `size` bytes) ends before that line does, so only a
 * one-thread read can tell (comments past the first read, or a line longer than it).
 */
function csvHeader(head: Buffer, size: number): string | undefined {
  const text = head.toString('utf8').replace(/^\uFEFF/, '');
  const lines = text.split('\n');
  for (let k = 0; k < lines.length; k++) {
    if (k === lines.length - 1 && head.length < size) return undefined;
    const l = lines[k].replace(/\r$/, '');
    if (l.trim() === '' || l.startsWith('#')) continue;
    return l;
  }
  return undefined;
}

/** A range's chunk onto the input's time base and this thread's reason ids (outside the async reader: see csvLineParser's handleBatch). */
function rebase(c: ExitChunk, shift: number, predefined: number, reasonOf: (id: number) => number): void {
  const ts = c.ts, reason = c.reason, n = c.length;
  if (shift) for (let i = 0; i < n; i++) ts[i] += shift;
  for (let i = 0; i < n; i++) if (reason[i] >= predefined) reason[i] = reasonOf(reason[i]);
}

export async function* readParallel(input: OpenedInput, format: 'csv' | 'ftrace', state: ReadState, opts: ReadOptions): AsyncGenerator<ExitChunk> {
  await input.close();
  const { diag, counters } = state;
  const st = diag.stats;
  const size = (await stat(input.path)).size;
  const RANGE_BYTES = rangeBytesSize();
  const nRanges = Math.max(1, Math.ceil(size / RANGE_BYTES));
  const header = format === 'csv' ? csvHeader(input.head, size) : undefined;
  const chunkRows = opts.chunkRows ?? DEFAULT_CHUNK_ROWS;
  const asm = format === 'ftrace' ? new ExitAssembler(counters, diag, chunkRows, state.vms, state.pool) : null;
  if (format === 'ftrace') for (const c of ['port', 'size', 'dir', 'value', 'gpa', 'msr', 'vm'] as const) state.columns.add(c);

  // Messages by range, in arrival order; a waiter for the range being consumed.
  const inbox: RangeMessage[][] = Array.from({ length: nRanges }, () => []);
  let wake: (() => void) | null = null;
  let failure: Error | null = null;
  // The thread that parsed each range (worker index; -1 for this thread): reason ids past the built-in table are its own.
  const parsedBy = new Int32Array(nRanges).fill(-1);
  const { pool, threads } = startPool((m, worker) => { parsedBy[m.range] = worker; inbox[m.range].push(m); wake?.(); }, (e) => { failure = e; wake?.(); });
  const window = Math.max(2, threads + 2);
  let next = 0;
  const spec = (k: number): RangeSpec => ({ path: input.path, format, index: k, start: k * RANGE_BYTES, end: Math.min(size, (k + 1) * RANGE_BYTES), header: k > 0 ? header : undefined, chunkRows });
  // With one worker this thread parses every MINE-th range itself (EXITSCOPE_MINE_CSV / EXITSCOPE_MINE_TEXT; 0: none), so
  // that both threads stay busy instead of this one waiting on the worker: it parses its ranges as soon as it would
  // otherwise wait, and at the latest when their turn comes. CSV, every third: a 2M-exit CSV then takes 0.86 s on its
  // busiest thread instead of 1.24 s in one thread (per-thread CPU time, 2 cores), for 2.2 s of CPU in all instead of
  // 1.8. Text, every third too: the worker is the bottleneck (busy 4.3 s while this thread idled 3.3 s of 5.3 s). It was
  // off while it took the peak to 214-235 MB (the read buffers and event batches of this thread's ranges left to a
  // collector that rarely runs here); with them reused (ranges.ts readBuffers, events.ts recycled) a 2M-exit text trace
  // took 4.11 s against 4.80 s (medians of five alternations) at 155 MB against 126, and a 4M-exit one 7.6-8.6 s against
  // 10.3-10.8 s at 162-172 MB.
  const MINE = threads === 1 && pool.workers ? Number((format === 'csv' ? process.env.EXITSCOPE_MINE_CSV : process.env.EXITSCOPE_MINE_TEXT) ?? 3) : 0;
  const isMine = (k: number): boolean => MINE > 0 && k % MINE === MINE - 1;
  const mineQueue: number[] = [];
  const dispatch = (upTo: number): void => {
    for (; next < Math.min(nRanges, upTo); next++) {
      if (isMine(next)) mineQueue.push(next);
      else pool.run(spec(next));
    }
  };
  // Ranges this thread parsed itself: their reason ids are this thread's.
  const local = new Set<number>();
  const deliverLocal = (m: RangeMessage): void => { inbox[m.range].push(m); };
  const parseMine = async (): Promise<void> => {
    const k = mineQueue.shift()!;
    local.add(k);
    await parseRange(spec(k), deliverLocal);
  };
  // Reason ids of other threads past the built-in table, mapped onto this thread's: one map per worker (two workers
  // intern their first unknown reasons under the same ids).
  const reasonMaps = new Map<number, Map<number, number>>();
  let reasonMap = new Map<number, number>();
  const learn = (defs: readonly ReasonDef[]): void => {
    for (const [id, isa, code, name] of defs) {
      if (reasonMap.has(id)) continue;
      let here = REASONS.lookup(name, isa);
      if (here < 0) here = code >= 0 && isa !== 'other' ? REASONS.byNativeCode(isa, code) : REASONS.intern(isa, name);
      reasonMap.set(id, here);
    }
  };
  const predefined = REASONS.predefined;
  const reasonOf = (id: number): number => (id < predefined ? id : reasonMap.get(id) ?? id);
  const sameReason = (id: number): number => id;
  // Chunks a consumer releases go back to the thread whose range parser made them.
  const localChunks = new WeakSet<ExitChunk>(), workerChunks = new WeakSet<ExitChunk>();
  if (format === 'csv' && state.pool) {
    state.pool.returnTo = (c) => {
      if (localChunks.has(c)) { localChunks.delete(c); recycleChunk(c.buffers(), c.capacity); return true; }
      if (workerChunks.has(c)) { workerChunks.delete(c); pool.recycleChunk(c); return true; }
      return false;
    };
  }
  let base: bigint | null = null;
  let lineOffset = 0;
  let flavour = '';
  try {
    for (let r = 0; r < nRanges; r++) {
      dispatch(r + window);
      while (mineQueue.length && mineQueue[0] <= r) await parseMine();
      let done = false;
      while (!done) {
        if (failure) throw failure;
        const m = inbox[r].shift();
        if (!m) {
          // Nothing of range r yet: parse one of this thread's ranges rather than wait (the result is the same whichever
          // thread parsed a range).
          if (mineQueue.length) { await parseMine(); continue; }
          await new Promise<void>((resolve) => { wake = resolve; }); wake = null; continue;
        }
        if (m.type === 'error') throw m.user ? new ExitscopeError(m.message) : new Error(m.message);
        const mine = local.has(r) || parsedBy[r] < 0;
        const reasonOfR = mine ? sameReason : reasonOf;
        if (!mine) {
          let map = reasonMaps.get(parsedBy[r]);
          if (!map) reasonMaps.set(parsedBy[r], (map = new Map()));
          reasonMap = map;
          learn(m.reasons);
        }
        if (m.type === 'chunk') {
          const c = ExitChunk.fromBuffers(m.buffers, m.capacity, m.length, BigInt(m.base));
          (mine ? localChunks : workerChunks).add(c);
          if (base === null) base = c.tsBaseNs;
          // One time base for the whole input (exact: ranges of one trace are far less than 2^53 ns apart).
          const shift = Number(c.tsBaseNs - base);
          c.tsBaseNs = base;
          rebase(c, shift, predefined, reasonOfR);
          yield c;
        } else if (m.type === 'events') {
          const b = batchFromBuffers(m.buffers, m.n);
          const rb = BigInt(m.base);
          const at = asm!.time.offsetOfBigInt(rb);
          replayBatch(b, asm!, reasonOfR, at);
          if (mine) recycleBatch(m.buffers);
          else pool.recycle(m.buffers);
          yield* asm!.drain();
        } else {
          st.events += m.events;
          st.skipped += m.skipped;
          st.header += m.header;
          for (const [line, reason] of m.rejections) diag.reject(lineOffset + line, reason);
          for (let k = m.rejections.length; k < m.rejected; k++) st.rejected++;
          for (const n of m.notes) diag.note(n);
          for (const c of m.columns) state.columns.add(c);
          counters.guestEvents += m.guestEvents;
          if (!flavour && m.flavour) flavour = m.flavour;
          lineOffset += m.lines;
          done = true;
        }
      }
    }
  } finally {
    await pool.close();
  }
  st.lines = lineOffset;
  // (A CSV comes here only with its header found in the first read: parallelEligible. One without is read in one thread,
  // which says so.)
  if (asm) {
    yield* asm.finish();
    st.format = flavour || 'ftrace';
    asm.notes(diag);
  }
}
