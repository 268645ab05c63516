/**
 * The parallel reader's worker pool (src/formats/parallel.ts), run in this thread (issue 16).
 * From the sources no worker script exists, so a plain test never starts the pool: here
 * `parseWorkers` is given stand-ins that answer each message in this thread, on a later turn
 * of the event loop, exactly as parse-worker.ts answers it (ranges.ts onWorkerRequest). What a
 * user sees must not depend on the pool: the same exits, accounting and rejections (at their
 * whole-file line numbers) as a one-thread read, for one or two workers, with or without this
 * thread parsing a share of the ranges; a worker's failure ends the read with its message; the
 * pool reads at most a few ranges ahead; recycled buffers go back to every worker in turn.
 * The real worker threads are checked through the built CLI in test/parallel.test.ts.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTrace } from '../src/formats/index.js';
import { parallelEligible, parseWorkers, type ParseWorker } from '../src/formats/parallel.js';
import { onWorkerRequest, type RangeMessage, type WorkerRequest } from '../src/formats/ranges.js';
import { ExitscopeError } from '../src/model/errors.js';
import { ExitChunk } from '../src/model/chunk.js';
import { REASONS } from '../src/model/reasons.js';
import { batchFromBuffers } from '../src/formats/events.js';
import { fx } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-mpool-'));
const saved = { ...process.env };
const real = { ...parseWorkers };

/** A worker answering in this thread; what it was sent, for the assertions. */
class StandIn extends EventEmitter implements ParseWorker {
  readonly sent: WorkerRequest[] = [];
  /** Ranges sent and not yet answered with 'done' or 'error'. */
  busy = 0;
  terminated = false;
  failWith: Error | null = null;
  /**
   * A real worker interns the reasons the built-in table lacks under ids of its own; stand-ins share this thread's table,
   * so with this set they renumber such ids (+500) in what they post, as another thread's table would have them.
   */
  foreignIds = false;
  postMessage(m: WorkerRequest): void {
    this.sent.push(m);
    if ('index' in m) this.busy++;
    setImmediate(() => {
      if (this.terminated) return;
      if (this.failWith && !('recycle' in m) && !('recycleChunk' in m)) { this.emit('error', this.failWith); return; }
      onWorkerRequest(m, (out: RangeMessage) => setImmediate(() => {
        if (this.foreignIds) renumber(out);
        if (out.type === 'done' || out.type === 'error') this.busy--;
        if (!this.terminated) this.emit('message', out);
      }));
    });
  }
  terminate(): Promise<number> { this.terminated = true; return Promise.resolve(0); }
  ranges(): number[] { return this.sent.filter((m): m is Extract<WorkerRequest, { index: number }> => 'index' in m).map((m) => m.index); }
}

/** Reason ids past the built-in table, +500 (see StandIn.foreignIds). */
function renumber(m: RangeMessage): void {
  if (m.type === 'error') return;
  const first = REASONS.predefined;
  m.reasons = m.reasons.map(([id, isa, code, name]) => [id >= first ? id + 500 : id, isa, code, name]);
  if (m.type === 'chunk') {
    const r = ExitChunk.fromBuffers(m.buffers, m.capacity, m.length, 0n).reason;
    for (let i = 0; i < m.length; i++) if (r[i] >= first) r[i] += 500;
  } else if (m.type === 'events') {
    const b = batchFromBuffers(m.buffers, m.n);
    for (let i = 0; i < m.n; i++) if (b.kind[i] === 0 && b.reason[i] >= first) b.reason[i] += 500;
  }
}

let standIns: StandIn[] = [];
beforeEach(() => {
  standIns = [];
  parseWorkers.available = () => true;
  parseWorkers.spawn = () => { const w = new StandIn(); standIns.push(w); return w; };
});
afterEach(() => {
  process.env = { ...saved };
  Object.assign(parseWorkers, real);
});

/** Every exit as a line, and the input's accounting and rejections. */
async function dump(path: string, onChunk?: () => Promise<void>, opts: { format?: string } = {}) {
  const s = await openTrace(path, opts);
  const rows: string[] = [];
  for await (const c of s.chunks) {
    await onChunk?.();
    for (let i = 0; i < c.length; i++) rows.push([c.tsBaseNs + BigInt(c.ts[i]), c.vcpu[i], c.vm[i], c.reason[i], c.ripHi[i], c.ripLo[i], c.dur[i], c.flags[i], c.port[i]].join(','));
    // Released as analyze does: a recycled chunk is taken again, cleared, by a later range.
    s.release?.(c);
  }
  const { path: _p, ...stats } = s.stats;
  void _p;
  return { rows, stats, counters: { ...s.counters }, columns: [...s.columns].sort() };
}

/** The same file read in one thread. */
async function oneThread(path: string) {
  process.env.EXITSCOPE_PARALLEL_MIN = '1e15';
  const r = await dump(path);
  delete process.env.EXITSCOPE_PARALLEL_MIN;
  return r;
}

function pool(env: { workers: number; bytes: number; mineCsv?: number; mineText?: number }): void {
  process.env.EXITSCOPE_PARALLEL_MIN = '0';
  process.env.EXITSCOPE_WORKERS = String(env.workers);
  process.env.EXITSCOPE_RANGE_BYTES = String(env.bytes);
  delete process.env.EXITSCOPE_MINE_CSV;
  delete process.env.EXITSCOPE_MINE_TEXT;
  if (env.mineCsv !== undefined) process.env.EXITSCOPE_MINE_CSV = String(env.mineCsv);
  if (env.mineText !== undefined) process.env.EXITSCOPE_MINE_TEXT = String(env.mineText);
}

const HEAD = 'ts_ns,vcpu,reason,rip,duration_ns';
/** A CSV of `n` exits on two vcpus, every 17th line a bad one (a rejection), some unknown reasons. */
function csv(n: number): string {
  const p = join(tmp, `c${n}-${Math.random().toString(36).slice(2)}.csv`);
  const lines = [HEAD];
  for (let k = 0; k < n; k++) {
    if (k % 17 === 16) { lines.push(`${1000 + k * 10},x,io,0xffffffff81000000,5`); continue; }
    const reason = ['io', 'hlt', 'MSR_WRITE', 'my_reason', 'EXTERNAL_INTERRUPT'][k % 5];
    lines.push(`${1000 + k * 10},${k % 2},${reason},0x${(0xffffffff81000000n + BigInt(k * 3)).toString(16)},${k % 7}`);
  }
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}

describe('the pool gives the one-thread result', () => {
  it('CSV: one worker with this thread parsing every third range (the default), every second, none; two workers', async () => {
    const f = csv(300);
    const one = await oneThread(f);
    // What the input holds, counted from how it was made: 300 lines of data, every 17th bad (17 of them).
    expect(one.rows.length).toBe(300 - 17);
    expect(one.stats.rejected).toBe(17);
    // The first bad line is data line 17, line 18 of the file (after the header).
    expect(one.stats.rejections[0]).toMatch(/:18: /);
    for (const env of [{ workers: 1, bytes: 211 }, { workers: 1, bytes: 997, mineCsv: 2 }, { workers: 1, bytes: 503, mineCsv: 0 }, { workers: 2, bytes: 307 }]) {
      pool(env);
      expect(await dump(f), JSON.stringify(env)).toEqual(one);
      // Every range went to a worker unless this thread took it: with a share of its own, some ranges never left.
      const sent = standIns.flatMap((w) => w.ranges()).sort((a, b) => a - b);
      const nRanges = Math.ceil(Number((await import('node:fs')).statSync(f).size) / env.bytes);
      const mine = env.workers === 1 ? (env.mineCsv ?? 3) : 0;
      const expected = Array.from({ length: nRanges }, (_, k) => k).filter((k) => !(mine > 0 && k % mine === mine - 1));
      expect(sent, JSON.stringify(env)).toEqual(expected);
      expect(standIns.length).toBe(env.workers);
      expect(standIns.every((w) => w.terminated)).toBe(true);
      standIns = [];
    }
  });

  it('trace-cmd text: exits paired with entries across ranges, one worker with and without a share here, two workers', async () => {
    for (const f of [fx('ftrace', 'dropped.txt'), fx('ftrace', 'latency-4vcpu.txt'), fx('ftrace', 'buffer-started.txt'), fx('ftrace', 'two-vms-tgid.txt')]) {
      const one = await oneThread(f);
      expect(one.rows.length, f).toBeGreaterThan(0);
      for (const env of [{ workers: 1, bytes: 150, mineText: 3 }, { workers: 1, bytes: 401 }, { workers: 2, bytes: 233 }]) {
        pool(env);
        expect(await dump(f), `${f} ${JSON.stringify(env)}`).toEqual(one);
        expect(standIns.every((w) => w.terminated)).toBe(true);
        standIns = [];
      }
    }
  });
});

describe('the pool\'s bookkeeping', () => {
  it('two workers: ranges go to whichever is idle, and replayed buffers go back to both in turn', async () => {
    const f = fx('ftrace', 'latency-4vcpu.txt');
    pool({ workers: 2, bytes: 120 });
    await dump(f);
    const [a, b] = standIns;
    expect(a.ranges().length).toBeGreaterThan(0);
    expect(b.ranges().length).toBeGreaterThan(0);
    const recycled = (w: StandIn) => w.sent.filter((m) => 'recycle' in m).length;
    // One event batch per range comes back; they alternate between the two workers.
    const total = recycled(a) + recycled(b);
    expect(total).toBeGreaterThan(2);
    expect(Math.abs(recycled(a) - recycled(b))).toBeLessThanOrEqual(1);
  });

  it('CSV chunks a consumer releases go back to a worker (shared columns reused), those of this thread\'s ranges stay here', async () => {
    const f = csv(400);
    pool({ workers: 1, bytes: 300, mineCsv: 2 });
    const one = await dump(f);
    const back = standIns[0].sent.filter((m) => 'recycleChunk' in m) as Array<{ recycleChunk: ArrayBufferLike[]; capacity: number }>;
    expect(back.length).toBeGreaterThan(0);
    expect(back.every((m) => m.recycleChunk.every((x) => x instanceof SharedArrayBuffer) && m.capacity > 0)).toBe(true);
    // Fewer chunks go back than there were ranges: this thread's own (every second) were recycled here.
    const ranges = standIns[0].ranges().length;
    expect(back.length).toBeLessThanOrEqual(ranges);
    expect(one.rows.length).toBe(400 - 23);
  });

  it('reads at most threads + 2 ranges ahead of the one it hands on, however long the consumer takes', async () => {
    const f = csv(400);
    const posted = () => standIns.reduce((a, w) => a + w.ranges().length, 0);
    /** Until every worker has answered all it was sent (file reads take their own time): then it would take more if offered. */
    const idle = async (): Promise<void> => {
      for (let spins = 0; standIns.some((w) => w.busy > 0) && spins < 100_000; spins++) await new Promise((r) => setTimeout(r, 1));
    };
    for (const [workers, ahead] of [[1, 3], [2, 4]] as const) {
      pool({ workers, bytes: 200, mineCsv: 0 });
      let atFirst = -1;
      // A slow consumer: it takes the first chunk only when the workers are idle.
      await dump(f, async () => { if (atFirst < 0) { await idle(); atFirst = posted(); } });
      expect(atFirst, `${workers} worker(s)`).toBe(ahead);
      expect(posted()).toBe(Math.ceil((await import('node:fs')).statSync(f).size / 200));
      standIns = [];
    }
  });
});

describe('failures in the pool', () => {
  it('a worker that fails (its error event) ends the read with that error, and every worker is stopped', async () => {
    const f = csv(300);
    pool({ workers: 2, bytes: 250 });
    parseWorkers.spawn = () => { const w = new StandIn(); if (standIns.length === 1) w.failWith = new Error('worker died: out of memory'); standIns.push(w); return w; };
    await expect(dump(f)).rejects.toThrow('worker died: out of memory');
    expect(standIns.every((w) => w.terminated)).toBe(true);
  });

  it('a range a worker cannot parse for a user\'s reason ends the read with one clear error (no stack), its words kept', async () => {
    const p = join(tmp, 'bad-head.csv');
    writeFileSync(p, 'ts_ns,vcpu,rip\n' + '1,0,0x1\n'.repeat(200));
    pool({ workers: 1, bytes: 300, mineCsv: 0 });
    // (Named as CSV: without `reason` it would not sniff as one.)
    const e = await dump(p, undefined, { format: 'csv' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExitscopeError);
    expect(String((e as Error).message)).toMatch(/bad-head(-local)?\.csv:1: CSV header lacks required column\(s\) reason, duration_ns/);
  });

  it('a file that vanishes while a worker reads it is an internal error, not the user\'s', async () => {
    const p = csv(300);
    pool({ workers: 1, bytes: 250, mineCsv: 0 });
    const s = await openTrace(p);
    (await import('node:fs')).rmSync(p);
    const e = await (async () => { for await (const c of s.chunks) void c; })().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
    expect(e).not.toBeInstanceOf(ExitscopeError);
  });
});

describe('headers and layouts the ranges are handed', () => {
  it('a BOM, comments and blank lines before the header, CRLF line ends: the one-thread result', async () => {
    const body = ['# composed', '', HEAD, ...Array.from({ length: 120 }, (_, k) => `${1000 + k},${k % 3},HLT,0x${(0x10 + k).toString(16)},${k}`)].join('\r\n') + '\r\n';
    const p = join(tmp, 'bom-crlf.csv');
    writeFileSync(p, '\uFEFF' + body);
    const one = await oneThread(p);
    expect(one.rows.length).toBe(120);
    for (const workers of [1, 2]) {
      pool({ workers, bytes: 173 });
      expect(await dump(p), `${workers}`).toEqual(one);
      standIns = [];
    }
  });

  it('the optional columns a text trace declares come through ranges too', async () => {
    const f = fx('ftrace', 'latency-4vcpu.txt');
    const one = await oneThread(f);
    expect(one.columns).toEqual(expect.arrayContaining(['port', 'size', 'dir', 'value', 'gpa']));
    pool({ workers: 1, bytes: 500 });
    expect((await dump(f)).columns).toEqual(one.columns);
  });

  it('without EXITSCOPE_WORKERS: one worker fewer than the cores, at most 4', async () => {
    const f = csv(60);
    pool({ workers: 1, bytes: 400 });
    delete process.env.EXITSCOPE_WORKERS;
    await dump(f);
    expect(standIns.length).toBe(Math.min(4, availableParallelism() - 1));
  });

  it('ranges parsed in this thread (no worker script): a range\'s failure ends the read', async () => {
    parseWorkers.available = () => false;
    const p = join(tmp, 'bad-head-local.csv');
    writeFileSync(p, 'ts_ns,vcpu,rip\n' + '1,0,0x1\n'.repeat(100));
    pool({ workers: 2, bytes: 300 });
    await expect(dump(p, undefined, { format: 'csv' })).rejects.toThrow(/bad-head(-local)?\.csv:1: CSV header lacks required column\(s\) reason, duration_ns/);
    expect(standIns.length).toBe(0);
  });
});

describe('which inputs are read in ranges (parallelEligible)', () => {
  const input = (path: string, head: string, gzip = false) => ({ path, head: Buffer.from(head), chunks: (async function* () { /* none */ })(), gzip, close: async () => undefined });
  const write = (name: string, body: string | Buffer): string => { const p = join(tmp, name); writeFileSync(p, body); return p; };
  const csvBody = `${HEAD}\n10,0,HLT,0x10,5\n`;
  const textBody = '  kvm-1 [000] 1.000001: kvm_entry: vcpu 0\n';

  it('CSV only when asked for (EXITSCOPE_PARALLEL_MIN), text by default; other formats never', async () => {
    const c = write('e.csv', csvBody), t = write('e.txt', textBody);
    process.env.EXITSCOPE_WORKERS = '1';
    delete process.env.EXITSCOPE_PARALLEL_MIN;
    expect(await parallelEligible(input(c, csvBody), 'csv', { strict: false })).toBe(false);
    // Text: eligible by format, here too small (48 MiB by default).
    expect(await parallelEligible(input(t, textBody), 'ftrace', { strict: false })).toBe(false);
    process.env.EXITSCOPE_PARALLEL_MIN = String(statSync(t).size);
    expect(await parallelEligible(input(t, textBody), 'ftrace', { strict: false })).toBe(true);
    process.env.EXITSCOPE_PARALLEL_MIN = String(statSync(t).size + 1);
    expect(await parallelEligible(input(t, textBody), 'ftrace', { strict: false })).toBe(false);
    process.env.EXITSCOPE_PARALLEL_MIN = '0';
    expect(await parallelEligible(input(c, csvBody), 'csv', { strict: false })).toBe(true);
    expect(await parallelEligible(input(c, csvBody), 'jsonl', { strict: false })).toBe(false);
    expect(await parallelEligible(input(c, csvBody), 'trace-dat', { strict: false })).toBe(false);
  });

  it('never: standard input, gzip, --strict, --follow, no worker', async () => {
    const t = write('n.txt', textBody);
    const gz = write('n.txt.gz', gzipSync(textBody));
    process.env.EXITSCOPE_PARALLEL_MIN = '0';
    process.env.EXITSCOPE_WORKERS = '1';
    expect(await parallelEligible(input(t, textBody), 'ftrace', { strict: false })).toBe(true);
    expect(await parallelEligible(input('-', textBody), 'ftrace', { strict: false })).toBe(false);
    expect(await parallelEligible(input(gz, textBody, true), 'ftrace', { strict: false })).toBe(false);
    expect(await parallelEligible(input(t, textBody), 'ftrace', { strict: true })).toBe(false);
    expect(await parallelEligible(input(t, textBody), 'ftrace', { strict: false, flush: true })).toBe(false);
    process.env.EXITSCOPE_WORKERS = '0';
    expect(await parallelEligible(input(t, textBody), 'ftrace', { strict: false })).toBe(false);
  });

  it('a trace-cmd report of several files (its `name: cpus=N` lines) is read in one thread', async () => {
    process.env.EXITSCOPE_PARALLEL_MIN = '0';
    process.env.EXITSCOPE_WORKERS = '1';
    const cases: Array<[string, boolean]> = [
      ['host.dat: cpus=16\nguest.dat: cpus=2\n', false],
      ['  a: cpus=2  \n', false],
      ['\ttrace.dat: cpus=128\n', false],
      ['x.dat: cpus=2 and more\n', true],
      ['x.dat: cpus=\n', true],
      ['x.dat cpus=2\n', true],
      ['cpus=2\n', true],
    ];
    for (const [head, eligible] of cases) {
      const p = write(`multi-${cases.findIndex((c) => c[0] === head)}.txt`, head + textBody);
      expect(await parallelEligible(input(p, head + textBody), 'ftrace', { strict: false }), JSON.stringify(head)).toBe(eligible);
    }
  });
});

describe('reason ids of another thread', () => {
  it('ids a worker gave the reasons the built-in table lacks are mapped onto this thread\'s, per worker (CSV and text)', async () => {
    const c = csv(200);
    const t = join(tmp, 'odd-reasons.txt');
    writeFileSync(t, Array.from({ length: 40 }, (_, k) => `  kvm-${7 + (k % 2)} [00${k % 2}] ${1000 + k}.000001: kvm_exit: vcpu ${k % 2} reason ${k % 3 ? 'SOME_NEW_REASON' : 'HLT'} rip 0x${(0x100 + k).toString(16)} info 0 0\n  kvm-${7 + (k % 2)} [00${k % 2}] ${1000 + k}.000009: kvm_entry: vcpu ${k % 2}\n`).join(''));
    for (const [f, env] of [[c, { workers: 1, bytes: 300, mineCsv: 3 }], [c, { workers: 2, bytes: 211 }], [t, { workers: 2, bytes: 260 }], [t, { workers: 1, bytes: 333, mineText: 2 }]] as const) {
      const one = await oneThread(f);
      // Reasons past the built-in table are there to map (my_reason, SOME_NEW_REASON).
      expect(one.rows.some((r) => Number(r.split(',')[3]) >= REASONS.predefined), f).toBe(true);
      pool(env);
      parseWorkers.spawn = () => { const w = new StandIn(); w.foreignIds = true; standIns.push(w); return w; };
      expect(await dump(f), `${f} ${JSON.stringify(env)}`).toEqual(one);
      standIns = [];
    }
  });
});
