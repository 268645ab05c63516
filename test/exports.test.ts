/**
 * Exports other tools open (issue 13): folded stacks for flamegraph.pl and
 * speedscope, Chrome trace-event JSON for Perfetto and chrome://tracing; and
 * the progress bar's plumbing. Expected numbers come from the trace files and
 * the map themselves (parsed here), not from exitscope's readers.
 */
import { createReadStream, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { openSymbolized } from '../src/analyze/source.js';
import { InputProgress, ReadPositionProbe, progressSettings } from '../src/cli/progress.js';
import { GUEST_MAP } from '../src/emulator/index.js';
import type { TraceStream } from '../src/formats/index.js';
import { ExitChunk } from '../src/model/chunk.js';
import { newCounters } from '../src/model/counters.js';
import { REASONS } from '../src/model/reasons.js';
import { nsToUs, writeChrome } from '../src/report/chrome.js';
import { cli, ROOT } from './helpers.js';

const JBB = join(ROOT, 'traces', 'jbb.csv');
const tmp = mkdtempSync(join(tmpdir(), 'exitscope-exports-'));

/** The oracle's view of a canonical CSV: one object per exit, as written. */
interface Row { ts: bigint; vcpu: number; reason: string; rip: bigint; dur: number | null; port: string; dir: string; gpa: string; caller: bigint | null }
function readCsv(path: string): Row[] {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const h = head.split(',');
  const at = (name: string): number => h.indexOf(name);
  return lines.map((l) => {
    const f = l.split(',');
    const get = (n: string): string => (at(n) >= 0 ? f[at(n)] ?? '' : '');
    return {
      ts: BigInt(get('ts_ns')), vcpu: Number(get('vcpu')), reason: get('reason'), rip: BigInt(get('rip')),
      dur: get('duration_ns') === '' ? null : Number(get('duration_ns')),
      port: get('port'), dir: get('dir'), gpa: get('gpa'), caller: get('caller') === '' ? null : BigInt(get('caller')),
    };
  });
}

/** System.map as nm prints it; a text address belongs to the last text symbol at or below it; below the kernel is user space. */
function symbolizer(path: string): (a: bigint) => string {
  const syms = readFileSync(path, 'utf8').trim().split('\n').map((l) => l.split(/\s+/)).filter((p) => /^[tT]$/.test(p[1])).map((p) => ({ a: BigInt(`0x${p[0]}`), name: p[2] }));
  syms.sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : 0));
  return (a) => {
    if (a < 0xc0000000n) return '[guest user]';
    let best = '[guest kernel, no symbol]';
    for (const s of syms) { if (s.a <= a) best = s.name; else break; }
    return best;
  };
}

// flamegraph.pl (FlameGraph/flamegraph.pl): `my ($stack, $samples) = (/^(.*)\s+?(\d+(?:\.\d*)?)$/);`
const FLAMEGRAPH_LINE = /^(.*)\s+?(\d+(?:\.\d*)?)$/;
// speedscope (src/import/bg-flamegraph.ts): one `stack count` per line, integer count after the last space.
const SPEEDSCOPE_LINE = /^(.*) (\d+)$/;

function parseFolded(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = SPEEDSCOPE_LINE.exec(line);
    expect(m, `not a folded line: ${line}`).not.toBeNull();
    expect(FLAMEGRAPH_LINE.exec(line)?.[1]).toBe(m![1]);
    const frames = m![1].split(';');
    expect(frames.every((f) => f.length > 0 && !/[\r\n]/.test(f))).toBe(true);
    expect(out.has(m![1]), `stack repeated: ${m![1]}`).toBe(false);
    out.set(m![1], Number(m![2]));
  }
  return out;
}

describe('convert --to folded', () => {
  const sym = symbolizer(GUEST_MAP);
  const rows = readCsv(JBB);
  const stackOf = (r: Row): string => [r.reason, ...(r.caller ? [sym(r.caller)] : []), sym(r.rip)].join(';');

  it('counts: one `reason;caller;function count` line per stack, the exits of the trace by stack', async () => {
    const r = await cli(['convert', JBB, '--map', GUEST_MAP, '--to', 'folded']);
    expect(r.code, r.stderr).toBe(0);
    const got = parseFolded(r.stdout);
    const want = new Map<string, number>();
    for (const x of rows) want.set(stackOf(x), (want.get(stackOf(x)) ?? 0) + 1);
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(want));
    expect([...got.values()].reduce((a, b) => a + b, 0)).toBe(rows.length);
    expect(got.get('IO_INSTRUCTION;handle_irq;timer_interrupt')).toBe(rows.filter((x) => x.reason === 'IO_INSTRUCTION' && sym(x.rip) === 'timer_interrupt').length);
  });

  it('--weight time: handling time in integer ns per stack (idle HLT and untimed exits weigh nothing)', async () => {
    const r = await cli(['convert', JBB, '--map', GUEST_MAP, '--to', 'folded', '--weight', 'time']);
    expect(r.code, r.stderr).toBe(0);
    const got = parseFolded(r.stdout);
    const sums = new Map<string, number>();
    for (const x of rows) if (x.dur !== null && x.reason !== 'HLT') sums.set(stackOf(x), (sums.get(stackOf(x)) ?? 0) + x.dur);
    const want = new Map([...sums].map(([k, v]) => [k, Math.round(v)] as const).filter(([, v]) => v > 0));
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(want));
  });

  it('a stack without a caller has two frames, and no frame holds a separator', async () => {
    const r = await cli(['convert', JBB, '--map', GUEST_MAP, '--to', 'folded']);
    expect(r.stdout).toMatch(/^EXCEPTION_NMI;\[guest user\] \d+$/m);
  });
});

/**
 * The Trace Event Format document's event fields, as a JSON Schema: every
 * event has name, ph, pid, tid (ints); X events ts and dur in µs (numbers),
 * i events ts and a scope, M events one of the metadata names with args.
 */
const TRACE_EVENT_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['traceEvents'],
  properties: {
    traceEvents: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'ph', 'pid', 'tid'],
        properties: {
          name: { type: 'string', minLength: 1 },
          cat: { type: 'string' },
          ph: { enum: ['X', 'i', 'M'] },
          ts: { type: 'number' },
          dur: { type: 'number', minimum: 0 },
          pid: { type: 'integer' },
          tid: { type: 'integer' },
          s: { enum: ['g', 'p', 't'] },
          args: { type: 'object' },
        },
        allOf: [
          { if: { properties: { ph: { const: 'X' } } }, then: { required: ['ts', 'dur', 'cat', 'args'], properties: { args: { required: ['reason', 'rip'] } } } },
          { if: { properties: { ph: { const: 'i' } } }, then: { required: ['ts', 's'] } },
          {
            if: { properties: { ph: { const: 'M' } } },
            then: { properties: { name: { enum: ['process_name', 'thread_name', 'process_sort_index', 'thread_sort_index'] }, args: { type: 'object', minProperties: 1 } }, required: ['args'] },
          },
        ],
      },
    },
    displayTimeUnit: { enum: ['ms', 'ns'] },
    otherData: { type: 'object' },
  },
};

describe('convert --to chrome', () => {
  const NET = join(tmp, 'net.csv');
  beforeAll(async () => {
    const r = await cli(['emulate', '--workload', 'net', '--nic', 'e1000', '--vcpus', '2', '--duration', '0.05', '--seed', '4', '-o', NET]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('loads as JSON and validates against the trace-event schema; each exit a slice on its vcpu track, ts in µs', async () => {
    const out = join(tmp, 'net.json');
    const r = await cli(['convert', NET, '--map', GUEST_MAP, '--to', 'chrome', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    const validate = new Ajv2020({ allErrors: true, strict: false }).compile(TRACE_EVENT_SCHEMA);
    expect(validate(doc), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    const rows = readCsv(NET);
    const sym = symbolizer(GUEST_MAP);
    const ev = doc.traceEvents.filter((e: any) => e.ph !== 'M');
    expect(ev.length).toBe(rows.length);
    const base = BigInt(doc.otherData.tsBaseNs);
    expect(base).toBe(rows.reduce((m, x) => (x.ts < m ? x.ts : m), rows[0].ts));
    // Same order as the trace: each event is its row, to the nanosecond.
    rows.forEach((x, k) => {
      const e = ev[k];
      expect(Math.round(e.ts * 1000)).toBe(Number(x.ts - base));
      if (x.dur === null) expect(e.ph).toBe('i');
      else expect(Math.round(e.dur * 1000)).toBe(x.dur);
      expect(e.name).toBe(sym(x.rip));
      expect(e.tid).toBe(x.vcpu + 1);
      expect(e.args.reason).toBe(x.reason);
      expect(BigInt(e.args.rip)).toBe(x.rip);
      if (x.port) expect(BigInt(e.args.port)).toBe(BigInt(x.port));
      if (x.gpa) expect(BigInt(e.args.gpa)).toBe(BigInt(x.gpa));
    });
    const meta = doc.traceEvents.filter((e: any) => e.ph === 'M' && e.name === 'thread_name');
    expect(meta.map((m: any) => m.args.name).sort()).toEqual(['vcpu 0', 'vcpu 1']);
  });

  it('µs from integer ns are exact', () => {
    expect(nsToUs(0)).toBe('0');
    expect(nsToUs(1)).toBe('0.001');
    expect(nsToUs(4751)).toBe('4.751');
    expect(nsToUs(1_000_000_000_500)).toBe('1000000000.5');
    expect(nsToUs(-1500)).toBe('-1.5');
  });

  it('streams: the first events are out before the input is read to its end', async () => {
    let produced = 0, done = false;
    const CHUNKS = 6;
    async function* chunks(): AsyncGenerator<ExitChunk> {
      for (let k = 0; k < CHUNKS; k++) {
        const c = new ExitChunk(10_000, 0n);
        for (let i = 0; i < 10_000; i++) c.push(k * 1e7 + i * 1000, i % 2, REASONS.lookup('HLT'), 0, 0xc0402141, 500);
        produced++;
        yield c;
      }
      done = true;
    }
    const stream: TraceStream = { path: 'gen', format: 'gen', stats: { path: 'gen', format: 'gen', lines: 0, header: 0, events: 0, skipped: 0, rejected: 0, rejections: [], notes: [] }, columns: new Set(), counters: newCounters(), vms: new Map(), embeddedKallsyms: () => undefined, chunks: chunks() };
    const source = await openSymbolized({ inputs: [stream], maps: [GUEST_MAP], kaslr: 0n });
    let pieces = 0, firstAt = -1, bytes = 0;
    for await (const s of writeChrome({ source, flags: {}, outputPath: null })) {
      pieces++;
      bytes += s.length;
      if (firstAt < 0 && s.includes('"ph":"X"')) firstAt = produced;
      expect(done && pieces === 1).toBe(false);
    }
    expect(firstAt).toBeLessThan(CHUNKS);
    expect(pieces).toBeGreaterThan(CHUNKS);
    expect(bytes).toBeGreaterThan(60_000 * 100);
  });
});

describe('progress bar plumbing', () => {
  it('is off unless stderr is a terminal, and with --quiet; NO_COLOR turns colour off', () => {
    const notTty = { write: () => true };
    expect(progressSettings({ stderr: notTty }, false)).toBeNull();
    const tty = process.stderr;
    const was = tty.isTTY;
    try {
      Object.defineProperty(tty, 'isTTY', { value: true, configurable: true });
      expect(progressSettings({ stderr: tty }, true)).toBeNull();
      expect(progressSettings({ stderr: tty }, false, {})?.color).toBe(true);
      expect(progressSettings({ stderr: tty }, false, { NO_COLOR: '1' })?.color).toBe(false);
      expect(progressSettings({ stderr: tty }, false, { NO_COLOR: '' })?.color).toBe(true);
    } finally {
      Object.defineProperty(tty, 'isTTY', { value: was, configurable: true });
    }
  });

  it('reads the byte offset of a file being read from /proc/self/fdinfo', async () => {
    const probe = new ReadPositionProbe(JBB);
    expect(probe.size).toBe(readFileSync(JBB).length);
    if (process.platform !== 'linux') return;
    const s = createReadStream(JBB, { highWaterMark: 64 * 1024 });
    const seen: number[] = [];
    for await (const _ of s) seen.push(probe.position() ?? -1);
    expect(seen[0]).toBeGreaterThan(0);
    expect(seen.every((p, k) => p > 0 && p <= probe.size! && (k === 0 || p >= seen[k - 1]))).toBe(true);
    expect(seen[seen.length - 1]).toBe(probe.size);
  });

  it('draws on a terminal after a while: bytes of the file and exits per second, cleared at the end', async () => {
    let out = '';
    const term = {
      isTTY: true, columns: 120, write: (s: string) => { out += s; return true; },
      cursorTo: () => true, clearLine: () => true, moveCursor: () => true, on: () => term, removeListener: () => term,
    } as unknown as NodeJS.WriteStream;
    let now = 0;
    const p = new InputProgress({ stream: term, color: false }, () => now);
    const { openTrace } = await import('../src/formats/index.js');
    const s = p.track(await openTrace(JBB, { chunkRows: 1000 }));
    let exits = 0;
    for await (const c of s.chunks) { now += 2000; exits += c.length; }
    expect(exits).toBe(16_641);
    p.finish();
    expect(out).toMatch(/16,641 exits/);
    expect(out).toMatch(/KiB|exits\/s/);
    expect(out).not.toMatch(/\x1b\[3\dm/);
  });
});
