/**
 * Issue 11 (emulate's speed): the writing thread (src/formats/write-pool.ts) renders the
 * chunks a producer makes here. What lands in the file must not depend on it: the same bytes
 * as the format's writer run in this thread, for every writable format, whatever the chunk
 * sizes (partly filled chunks, empty ones); a writer's failure ends the write with its
 * message (a user error stays one); at most a few chunks wait on the worker. From the sources
 * no worker script exists, so a stand-in answers here through writeSession, as
 * write-worker.ts does; the real thread is checked through the built CLI at the end.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { prepareEmulation } from '../src/emulator/index.js';
import { writerFor } from '../src/formats/index.js';
import { writeInWorker, writeSession, writeWorkers, type WriteAnswer, type WriteRequest, type WriteWorker } from '../src/formats/write-pool.js';
import { ExitChunk, type OptionalColumn } from '../src/model/chunk.js';
import { ExitscopeError } from '../src/model/errors.js';
import { REASONS } from '../src/model/reasons.js';
import { cliProcess } from './helpers.js';

const real = { ...writeWorkers };
afterEach(() => { Object.assign(writeWorkers, real); });

const COLUMNS: ReadonlySet<OptionalColumn> = new Set(['port', 'size', 'dir', 'value', 'gpa', 'msr', 'caller']);

/** A worker answering in this thread, each message on a later turn, its buffers cloned as postMessage would. */
class StandIn extends EventEmitter implements WriteWorker {
  readonly sent: WriteRequest[] = [];
  /** Chunks posted and not yet taken by the writer, at most, over the run. */
  maxWaiting = 0;
  private waiting = 0;
  terminated = false;
  private readonly take: (m: WriteRequest) => void;
  constructor(render = (format: string, chunks: AsyncIterable<ExitChunk>, opts: { columns: ReadonlySet<OptionalColumn> }) => writerFor(format)(chunks, opts)) {
    super();
    this.take = writeSession(render, (a: WriteAnswer) => setImmediate(() => {
      if (a.type === 'took') this.waiting--;
      if (!this.terminated) this.emit('message', structuredClone(a));
    }));
  }
  postMessage(m: WriteRequest): void {
    this.sent.push(m);
    if (m.type === 'chunk') this.maxWaiting = Math.max(this.maxWaiting, ++this.waiting);
    const copy = structuredClone(m);
    setImmediate(() => { if (!this.terminated) this.take(copy); });
  }
  terminate(): Promise<number> { this.terminated = true; return Promise.resolve(0); }
}

function useStandIn(w: StandIn): void {
  writeWorkers.available = () => true;
  writeWorkers.spawn = () => w;
}

async function bytes(parts: AsyncIterable<string | Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const p of parts) out.push(typeof p === 'string' ? Buffer.from(p) : Buffer.from(p));
  return Buffer.concat(out);
}

/** The emulator's chunks of a short run, in chunks of `rows` (then each copied, so both writes see the same rows). */
async function emulated(rows: number): Promise<ExitChunk[]> {
  const em = prepareEmulation({ workload: 'net', vcpus: 2, duration: 0.05, seed: 3 });
  const out: ExitChunk[] = [];
  for await (const c of em.chunks(rows)) { const d = new ExitChunk(c.capacity, c.tsBaseNs); d.copyRows(c, 0, c.length); out.push(d); }
  return out;
}

async function* from(chunks: readonly ExitChunk[]): AsyncGenerator<ExitChunk> {
  for (const c of chunks) yield c;
}

describe('writing on another thread', () => {
  for (const format of ['csv', 'ftrace', 'jsonl']) {
    it(`${format}: the bytes of a one-thread write, partly filled and empty chunks included`, async () => {
      const chunks = await emulated(1000);
      expect(chunks.length).toBeGreaterThan(3);
      // A partly filled last chunk is the emulator's own; add an empty one and a half-filled one in the middle.
      const half = new ExitChunk(1000, chunks[1].tsBaseNs);
      half.copyRows(chunks[1], 0, 500);
      const rest = new ExitChunk(1000, chunks[1].tsBaseNs);
      rest.copyRows(chunks[1], 500, chunks[1].length);
      const input = [chunks[0], new ExitChunk(1000, chunks[0].tsBaseNs), half, rest, ...chunks.slice(2)];
      const want = await bytes(writerFor(format)(from(input), { columns: COLUMNS }));
      const w = new StandIn();
      useStandIn(w);
      const got = await bytes(writeInWorker(format, writerFor(format), from(input), { columns: COLUMNS }));
      expect(got.length).toBe(want.length);
      expect(got.equals(want)).toBe(true);
      expect(w.terminated).toBe(true);
      // Only rows in use went over: the empty chunk not at all, the half-filled one as 500 rows.
      const lengths = w.sent.filter((m): m is Extract<WriteRequest, { type: 'chunk' }> => m.type === 'chunk').map((m) => m.capacity);
      expect(lengths).not.toContain(0);
      expect(lengths).toContain(500);
      expect(w.sent.at(-1)!.type).toBe('end');
    });
  }

  it('a reason interned here goes over with the first chunk that can carry it', async () => {
    const chunks = await emulated(1 << 14);
    const id = REASONS.intern('other', 'WRITE_POOL_TEST_EXIT');
    expect(id).toBeGreaterThanOrEqual(REASONS.predefined);
    chunks[0].reason[3] = id;
    const want = await bytes(writerFor('csv')(from(chunks), { columns: COLUMNS }));
    expect(want.toString()).toContain('WRITE_POOL_TEST_EXIT');
    const w = new StandIn();
    useStandIn(w);
    const got = await bytes(writeInWorker('csv', writerFor('csv'), from(chunks), { columns: COLUMNS }));
    expect(got.equals(want)).toBe(true);
    const first = w.sent.find((m) => m.type === 'chunk') as Extract<WriteRequest, { type: 'chunk' }>;
    expect(first.reasons.map((r) => r[3])).toContain('WRITE_POOL_TEST_EXIT');
  });

  it('at most a few chunks wait on the worker, however many the producer makes', async () => {
    const chunks = await emulated(200);
    expect(chunks.length).toBeGreaterThan(20);
    const w = new StandIn();
    useStandIn(w);
    await bytes(writeInWorker('csv', writerFor('csv'), from(chunks), { columns: COLUMNS }));
    expect(w.maxWaiting).toBeGreaterThanOrEqual(1);
    expect(w.maxWaiting).toBeLessThanOrEqual(3);
  });

  it("a writer's failure ends the write with its message; a user error stays one", async () => {
    const chunks = await emulated(1000);
    async function* failing(format: string, cs: AsyncIterable<ExitChunk>): AsyncGenerator<string> {
      let n = 0;
      for await (const c of cs) { if (++n === 2) throw format === 'user' ? new ExitscopeError('no room for row ' + c.length) : new Error('writer broke'); yield 'x\n'; }
    }
    for (const [format, cls] of [['user', ExitscopeError], ['bug', Error]] as const) {
      const w = new StandIn((f, cs) => failing(f, cs));
      useStandIn(w);
      const err = await bytes(writeInWorker(format, writerFor('csv'), from(chunks), { columns: COLUMNS })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(cls);
      expect((err as Error).message).toMatch(format === 'user' ? /^no room for row \d+$/ : /^writer broke$/);
      expect(err instanceof ExitscopeError).toBe(format === 'user');
      expect(w.terminated).toBe(true);
    }
  });

  it('a producer that fails ends the write with its error', async () => {
    const chunks = await emulated(1000);
    async function* broken(): AsyncGenerator<ExitChunk> { yield chunks[0]; throw new ExitscopeError('input went away'); }
    const w = new StandIn();
    useStandIn(w);
    await expect(bytes(writeInWorker('csv', writerFor('csv'), broken(), { columns: COLUMNS }))).rejects.toThrow('input went away');
    expect(w.terminated).toBe(true);
  });

  it('the writer gets the columns a streaming reader declares once it has started (as a writer in this thread does)', async () => {
    const chunks = await emulated(1000);
    const columns = new Set<OptionalColumn>(['port']);
    async function* reader(): AsyncGenerator<ExitChunk> {
      // The reader finds its detail events only in its first chunk's lines.
      columns.add('gpa');
      columns.add('msr');
      yield* chunks;
    }
    const want = await bytes(writerFor('csv')(reader(), { columns }));
    columns.clear();
    columns.add('port');
    const w = new StandIn();
    useStandIn(w);
    const got = await bytes(writeInWorker('csv', writerFor('csv'), reader(), { columns }));
    expect(w.sent[0]).toEqual({ type: 'start', format: 'csv', columns: ['port', 'gpa', 'msr'] });
    expect(got.equals(want)).toBe(true);
    expect(want.toString().split('\n')[0]).toBe('ts_ns,vcpu,reason,rip,duration_ns,port,gpa,msr');
  });

  it('without a worker the writer runs here', async () => {
    const chunks = await emulated(1000);
    writeWorkers.available = () => false;
    writeWorkers.spawn = () => { throw new Error('no worker may start'); };
    const want = await bytes(writerFor('csv')(from(chunks), { columns: COLUMNS }));
    expect((await bytes(writeInWorker('csv', writerFor('csv'), from(chunks), { columns: COLUMNS }))).equals(want)).toBe(true);
  });
});

describe('emulate through the built CLI (the real writing thread)', () => {
  it('writes the bytes it writes in one thread, for CSV and trace-cmd text', () => {
    const dir = mkdtempSync(join(tmpdir(), 'exitscope-wpool-'));
    for (const emit of ['csv', 'ftrace']) {
      const files = ['1', '0'].map((workers) => {
        const f = join(dir, `${emit}-${workers}`);
        const r = cliProcess(['emulate', '--workload', 'net', '--vcpus', '3', '--duration', '0.4', '--seed', '5', '--emit', emit, '-o', f], undefined, { EXITSCOPE_WORKERS: workers });
        expect(r.code, r.stderr).toBe(0);
        return readFileSync(f);
      });
      expect(files[0].length).toBeGreaterThan(100_000);
      expect(files[0].equals(files[1])).toBe(true);
    }
  });
});
