/**
 * Parsing one byte range of a text trace: what a parse worker does (and, where
 * no worker can start, the main thread in turn). A range owns the lines that
 * START inside it: it skips the tail of a line begun in the range before and
 * reads its own last line to its end, so every line is parsed exactly once
 * whatever bytes the ranges are cut at. Its output is messages: exit chunks
 * (CSV) or tracepoint records (text) with its own time base, its line count
 * and accounting, and its rejections with line numbers relative to the range
 * (the main thread adds the lines of the ranges before).
 */
import { open } from 'node:fs/promises';
import { ChunkPool, ExitChunk, DEFAULT_CHUNK_ROWS, type OptionalColumn } from '../model/chunk.js';
import { REASONS, type Isa } from '../model/reasons.js';
import { TimeBase } from '../model/time.js';
import { csvLineParser } from './csv.js';
import { batchBuffers, EventRecorder, recycleBatch } from './events.js';
import { TextLineParser } from './ftrace.js';
import { LineSplitter } from './input.js';

const READ = 1 << 20;

/**
 * Chunks for CSV ranges, on SharedArrayBuffers: one pool per thread, refilled with the chunks the main thread's consumer
 * has released (a 150 MB CSV otherwise allocates ~140 MB of fresh shared columns, zeroed page by page).
 */
const rangeChunks = new ChunkPool(true);

/** A chunk of a CSV range (`buffers()` of one with this capacity), released by the consumer: the next range reuses it. */
export function recycleChunk(bufs: readonly ArrayBufferLike[], capacity: number): void {
  rangeChunks.give(ExitChunk.fromBuffers(bufs, capacity, 0, 0n));
}

export interface RangeSpec {
  path: string;
  format: 'csv' | 'ftrace';
  index: number;
  start: number;
  end: number;
  /** CSV: the header line, for ranges that do not hold it. */
  header?: string;
  chunkRows?: number;
}

/** A reason interned while parsing (ids past the predefined table differ between threads). */
export type ReasonDef = [id: number, isa: Isa, code: number, name: string];

export type RangeMessage =
  | { type: 'chunk'; range: number; base: string; capacity: number; length: number; buffers: ArrayBufferLike[]; reasons: ReasonDef[] }
  | { type: 'events'; range: number; base: string; n: number; buffers: ArrayBufferLike[]; reasons: ReasonDef[] }
  | { type: 'done'; range: number; lines: number; events: number; skipped: number; header: number; rejected: number; rejections: Array<[number, string]>; notes: string[]; guestEvents: number; flavour: string; columns: OptionalColumn[]; reasons: ReasonDef[] }
  | { type: 'error'; range: number; message: string; user: boolean };

/** What a parse worker is sent: a range to parse, or buffers of its own coming back to be filled again. */
export type WorkerRequest = RangeSpec | { recycle: ArrayBufferLike[] } | { recycleChunk: ArrayBufferLike[]; capacity: number };

/** A parse worker's answer to one message (parse-worker.ts wires it to its port; tests run it in this thread). */
export function onWorkerRequest(m: WorkerRequest, post: (out: RangeMessage) => void): void {
  // A batch the main thread has replayed, or a chunk its consumer has released, back for the next one.
  if ('recycle' in m) recycleBatch(m.recycle);
  else if ('recycleChunk' in m) recycleChunk(m.recycleChunk, m.capacity);
  // Shared buffers: posted without a transfer list (see parseRange).
  else void parseRange(m, post);
}

/**
 * The bytes of the lines starting in [start, end). Two read buffers take turns:
 * a yielded buffer stays valid until the next one after it is asked for (the
 * line splitter copies the partial line it carries over), so a range costs
 * 2 MiB however long, instead of a fresh megabyte of garbage per read. The
 * read of the next buffer is started before this one is yielded, so the file
 * system (libuv's thread pool) fills it while the caller parses this one.
 */
export async function* rangeBytes(path: string, start: number, end: number): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  // The read buffers of the range before, if this thread has them (a thread parses its ranges one after another).
  const bufs: Buffer[] = readBuffers.splice(0, 2);
  let pending: Promise<{ got: Buffer; at: number }> | null = null;
  try {
    let pos = start;
    if (start > 0) {
      // Begin after the first newline at or past start - 1 (a newline at start - 1 means a line starts at start).
      const probe = Buffer.allocUnsafe(8192);
      let found = -1;
      while (found < 0) {
        const { bytesRead } = await fh.read(probe, 0, probe.length, pos - 1);
        if (bytesRead === 0) return;
        const i = probe.subarray(0, bytesRead).indexOf(10);
        if (i >= 0) found = pos - 1 + i;
        else pos += bytesRead;
      }
      pos = found + 1;
    }
    if (pos >= end) return;
    // Read what the range still holds from `at` (and a little more for its last line), at most READ at a time, into buffer `turn`.
    const read = (turn: number, at: number): Promise<{ got: Buffer; at: number }> => {
      const want = Math.min(READ, Math.max(8192, end - at + 4096));
      if (!bufs[turn] || bufs[turn].length < want) bufs[turn] = Buffer.allocUnsafe(want);
      const buf = bufs[turn];
      return fh.read(buf, 0, want, at).then(({ bytesRead }) => ({ got: buf.subarray(0, bytesRead), at }));
    };
    let turn = 0;
    pending = read(turn, pos);
    while (pending) {
      const { got, at } = await pending;
      pending = null;
      if (got.length === 0) return;
      if (at + got.length >= end) {
        // Our last line is the one holding byte end - 1: stop after its newline.
        const from = Math.max(0, end - 1 - at);
        const nl = got.indexOf(10, from);
        if (nl >= 0) { yield got.subarray(0, nl + 1); return; }
      }
      // The other buffer is free: the caller asked for this one, so it is done with the one before.
      turn ^= 1;
      pending = read(turn, at + got.length);
      yield got;
    }
  } finally {
    // A caller that stops early leaves a read in flight: let it finish before the file is closed under it.
    if (pending) await pending.catch(() => undefined);
    await fh.close();
    // (The caller is done with the last buffer yielded: it asked for no more.)
    readBuffers.push(...bufs.filter((b) => b !== undefined).slice(0, Math.max(0, 2 - readBuffers.length)));
  }
}

/**
 * Read buffers a finished range leaves to the next one in this thread: a 16 MiB range read in 1 MiB turns otherwise
 * leaves 2 MiB of buffers to the collector, and a thread that allocates little on its heap collects them late.
 */
const readBuffers: Buffer[] = [];

/**
 * Parses one range, posting messages as it goes. Chunks and event batches are on SharedArrayBuffers, posted without a
 * transfer list (a transfer would detach them here, and slow every typed-array loop of this thread afterwards).
 */
export async function parseRange(spec: RangeSpec, post: (m: RangeMessage) => void): Promise<void> {
  let sentReasons = REASONS.predefined;
  const newReasons = (): ReasonDef[] => {
    const out: ReasonDef[] = [];
    for (; sentReasons < REASONS.size; sentReasons++) {
      const r = REASONS.get(sentReasons);
      out.push([r.id, r.isa, r.code, r.name]);
    }
    return out;
  };
  const rejections: Array<[number, string]> = [];
  const notes: string[] = [];
  const stats = { events: 0, skipped: 0, header: 0 };
  let rejected = 0;
  // The first rejections travel with their text (the main thread keeps the first 50 of the whole input); the rest are counted.
  const acc = { stats, reject: (line: number, reason: string) => { rejected++; if (rejections.length < 64) rejections.push([line, reason]); }, note: (t: string) => { if (!notes.includes(t)) notes.push(t); } };
  const splitter = new LineSplitter((line) => acc.reject(line, 'line longer than 1 MiB: not a trace line'));
  const time = new TimeBase();
  const columns = new Set<OptionalColumn>();
  let flavour = '';
  let guestEvents = 0;
  try {
    if (spec.format === 'csv') {
      const rows = spec.chunkRows ?? DEFAULT_CHUNK_ROWS;
      const parser = csvLineParser(spec.path, acc, columns, time, rows, rangeChunks);
      if (spec.header !== undefined) { parser.header(spec.header, 0); stats.header = 0; }
      const send = (c: ExitChunk): void => {
        post({ type: 'chunk', range: spec.index, base: String(c.tsBaseNs), capacity: c.capacity, length: c.length, buffers: c.buffers(), reasons: newReasons() });
      };
      for await (const batch of splitter.batches(rangeBytes(spec.path, spec.start, spec.end))) {
        parser.handleBatch(batch);
        for (const c of parser.take()) send(c);
      }
      for (const c of parser.take(true)) send(c);
      flavour = 'csv';
    } else {
      const counters = { guestEvents: 0 };
      const rec = new EventRecorder(1 << 13, (b) => {
        post({ type: 'events', range: spec.index, base: String(time.baseNs), n: b.n, buffers: batchBuffers(b), reasons: newReasons() });
      }, true);
      const parser = new TextLineParser(rec, time, { stats, reject: acc.reject, counters });
      let first = spec.start === 0;
      for await (const batch of splitter.batches(rangeBytes(spec.path, spec.start, spec.end))) {
        if (first) { first = false; parser.sniffHead(batch.buf.toString('latin1', 0, Math.min(batch.buf.length, 4096))); }
        parser.handleBatch(batch);
      }
      rec.flush();
      parser.finish();
      flavour = parser.flavour;
      guestEvents = counters.guestEvents;
    }
    post({ type: 'done', range: spec.index, lines: splitter.lines, events: stats.events, skipped: stats.skipped, header: stats.header, rejected, rejections, notes, guestEvents, flavour, columns: [...columns], reasons: newReasons() });
  } catch (e) {
    const err = e as Error;
    post({ type: 'error', range: spec.index, message: err.message, user: err.name === 'ExitscopeError' });
  }
}
