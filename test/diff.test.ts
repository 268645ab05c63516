/**
 * `exitscope diff` (issue 13): the paper's Table 4 on two emulated bonnie++
 * write runs on drivers/ide, without and with the guest's merged I/O
 * fragments (coalesce-io). The expected numbers are counted here from the two
 * CSV files and the map, not by exitscope's readers or analyzer.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DiffReportSchema, type DiffReport } from '../src/analyze/diff.js';
import { GUEST_MAP } from '../src/emulator/index.js';
import { cli } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-diff-'));
const BEFORE = join(tmp, 'before.csv');
const AFTER = join(tmp, 'after.csv');

interface Exit { reason: string; rip: bigint; dur: number | null }

function readCsv(path: string): Exit[] {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const h = head.split(',');
  const [ri, pi, di] = [h.indexOf('reason'), h.indexOf('rip'), h.indexOf('duration_ns')];
  return lines.map((l) => { const f = l.split(','); return { reason: f[ri], rip: BigInt(f[pi]), dur: f[di] === '' ? null : Number(f[di]) }; });
}

/** System.map: a text address belongs to the last text symbol at or below it. */
function mapSymbols(path: string): Array<{ a: bigint; name: string }> {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => l.split(/\s+/)).filter((p) => /^[tT]$/.test(p[1]))
    .map((p) => ({ a: BigInt(`0x${p[0]}`), name: p[2] })).sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : 0));
}

function symbolOf(syms: Array<{ a: bigint; name: string }>, a: bigint): { name: string; off: bigint } {
  let best = syms[0];
  for (const s of syms) { if (s.a <= a) best = s; else break; }
  return { name: best.name, off: a - best.a };
}

/** Exits and handling time per key, for the IO_INSTRUCTION exits of a trace. */
function tally(exits: Exit[], keyOf: (e: Exit) => string): Map<string, { n: number; t: number }> {
  const m = new Map<string, { n: number; t: number }>();
  for (const e of exits) {
    if (e.reason !== 'IO_INSTRUCTION') continue;
    const k = keyOf(e);
    const c = m.get(k) ?? { n: 0, t: 0 };
    c.n++;
    if (e.dur !== null) c.t += e.dur;
    m.set(k, c);
  }
  return m;
}

beforeAll(async () => {
  for (const [out, extra] of [[BEFORE, []], [AFTER, ['--guest-opt', 'coalesce-io']]] as const) {
    const r = await cli(['emulate', '--workload', 'disk', '--disk', 'ide', '--disk-test', 'write', '--vcpus', '1', '--duration', '0.6', '--seed', '7', ...extra, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
  }
});

describe('diff: Table 4 for two traces', () => {
  let rep: DiffReport;
  const syms = mapSymbols(GUEST_MAP);
  const addrKey = (e: Exit): string => { const s = symbolOf(syms, e.rip); return `${s.name}+0x${s.off.toString(16)}`; };
  const fnKey = (e: Exit): string => symbolOf(syms, e.rip).name;

  beforeAll(async () => {
    const r = await cli(['diff', BEFORE, AFTER, '--map', GUEST_MAP, '--reason', 'IO_INSTRUCTION', '--top', '0', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    rep = DiffReportSchema.parse(JSON.parse(r.stdout));
  });

  it('per trap address: exits and exit time before and after, change and ratio, as counted from the two files', () => {
    const b = tally(readCsv(BEFORE), addrKey), a = tally(readCsv(AFTER), addrKey);
    const keys = new Set([...b.keys(), ...a.keys()]);
    const sec = rep.sections.find((s) => s.by === 'address')!;
    expect(sec.rows.length).toBe(keys.size);
    for (const row of sec.rows) {
      const x = b.get(row.key) ?? { n: 0, t: 0 }, y = a.get(row.key) ?? { n: 0, t: 0 };
      expect([row.key, row.before.exits, row.after.exits, row.change.exits]).toEqual([row.key, x.n, y.n, y.n - x.n]);
      expect(row.before.timeNs).toBeCloseTo(x.t, 3);
      expect(row.after.timeNs).toBeCloseTo(y.t, 3);
      if (x.n) expect(row.ratio.exits).toBeCloseTo(y.n / x.n, 5);
    }
    // Sorted by absolute change in exits.
    const changes = sec.rows.map((r) => Math.abs(r.change.exits));
    expect(changes).toEqual([...changes].sort((p, q) => q - p));
  });

  it("the paper's two addresses lead, cut by the same ~85% as Table 4 (111050 -> 17226, 15864 -> 2343)", () => {
    const sec = rep.sections.find((s) => s.by === 'address')!;
    expect(sec.rows.slice(0, 2).map((r) => r.addressBefore).sort()).toEqual(['0xc054ecf0', '0xc054fcc0']);
    const b = tally(readCsv(BEFORE), (e) => `0x${e.rip.toString(16)}`), a = tally(readCsv(AFTER), (e) => `0x${e.rip.toString(16)}`);
    for (const [addr, paper] of [['0xc054fcc0', 17226 / 111050], ['0xc054ecf0', 2343 / 15864]] as const) {
      const row = sec.rows.find((r) => r.addressBefore === addr)!;
      const want = a.get(addr)!.n / b.get(addr)!.n;
      expect(row.ratio.exits).toBeCloseTo(want, 5);
      expect(Math.abs(want - paper)).toBeLessThan(0.05);
    }
  });

  it('per function: the sums of each function\'s addresses, and totals', () => {
    const eb = readCsv(BEFORE), ea = readCsv(AFTER);
    const b = tally(eb, fnKey), a = tally(ea, fnKey);
    const sec = rep.sections.find((s) => s.by === 'function')!;
    const got = Object.fromEntries(sec.rows.map((r) => [r.key, [r.before.exits, r.after.exits]]));
    const want = Object.fromEntries([...new Set([...b.keys(), ...a.keys()])].map((k) => [k, [b.get(k)?.n ?? 0, a.get(k)?.n ?? 0]]));
    expect(got).toEqual(want);
    expect(rep.before.exits).toBe(eb.filter((e) => e.reason === 'IO_INSTRUCTION').length);
    expect(rep.after.exits).toBe(ea.filter((e) => e.reason === 'IO_INSTRUCTION').length);
    expect(rep.change.exits).toBe(rep.after.exits - rep.before.exits);
  });

  it('renders as a table, markdown and CSV', async () => {
    const t = await cli(['diff', BEFORE, AFTER, '--map', GUEST_MAP, '--reason', 'IO_INSTRUCTION', '--top', '5']);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/Exits per trap address \(the paper's Table 4\)/);
    expect(t.stdout).toMatch(/0xc054fcc0\s+ide_outb\+0x10\s+[\d,]+\s+[\d,]+\s+-[\d,]+\s+0\.1\d\dx/);
    const md = await cli(['diff', BEFORE, AFTER, '--map', GUEST_MAP, '--reason', 'IO_INSTRUCTION', '--format', 'md']);
    expect(md.stdout).toMatch(/^\| # \| Trap addr \| Symbol\+offset \|/m);
    const csv = await cli(['diff', BEFORE, AFTER, '--map', GUEST_MAP, '--reason', 'IO_INSTRUCTION', '--format', 'csv', '--top', '0']);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toBe('view,rank,key,symbol,module,address_before,address_after,exits_before,exits_after,exits_change,exits_ratio,time_before_ns,time_after_ns,time_change_ns,time_ratio,only');
    expect(lines.length - 1).toBe(rep.sections.reduce((s, x) => s + x.rows.length, 0));
  });

  it('--sort time ranks by the absolute change in exit time', async () => {
    const r = await cli(['diff', BEFORE, AFTER, '--map', GUEST_MAP, '--by', 'function', '--sort', 'time', '--format', 'json', '--top', '0']);
    const d = DiffReportSchema.parse(JSON.parse(r.stdout));
    const ch = d.sections[0].rows.map((x) => Math.abs(x.change.timeNs));
    expect(ch).toEqual([...ch].sort((p, q) => q - p));
  });
});

describe('diff: bad input', () => {
  it('two traces with no trap address in common: one line, exit 2', async () => {
    const other = join(tmp, 'other.csv');
    writeFileSync(other, 'ts_ns,vcpu,reason,rip,duration_ns\n1000,0,HLT,0xc0999999,500\n');
    const r = await cli(['diff', BEFORE, other, '--map', GUEST_MAP]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no trap address in common/);
  });

  it('a trace without exits: one line, exit 2', async () => {
    const empty = join(tmp, 'empty.csv');
    writeFileSync(empty, 'ts_ns,vcpu,reason,rip,duration_ns\n');
    const r = await cli(['diff', empty, AFTER, '--map', GUEST_MAP]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^exitscope: .*empty\.csv: no VM exits in it \(1 line, 0 events read\): nothing to compare\n$/);
  });

  it('an unknown view is named with the choices', async () => {
    const r = await cli(['diff', BEFORE, AFTER, '--by', 'port']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--by: unknown view 'port' \(choose from: address, function\)/);
  });
});
