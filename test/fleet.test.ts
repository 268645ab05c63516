/**
 * Issue 15: beyond one host.
 * - The Parquet export, read by embedded DuckDB through the recipe's own SQL
 *   (read from docs/fleet.md, so the doc cannot drift), gives analyze's
 *   hot-function rows, counts and times; RIPs stay exact 64-bit values.
 * - Summaries merge exactly: two halves of a trace merge into the summary of
 *   the whole; merge is commutative and associative; a merged summary renders
 *   the rows analyze prints.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { DurationSketch } from '../src/analyze/duration-sketch.js';
import { analyze, type AnalyzeReport, type AnalyzeRow } from '../src/analyze/index.js';
import { emulationStream, guestMapFor, GUEST_MAP, prepareEmulation } from '../src/emulator/index.js';
import { writeCsv } from '../src/formats/csv.js';
import { mergeSummaries, summarize, summaryView, MergeReportSchema, SummarySchema, DistBuilder, distQuantile, type Summary } from '../src/fleet/index.js';
import { RELATIVE_ERROR } from '../src/fleet/sketch.js';
import { jsonSchema, SCHEMAS } from '../src/report/schemas.js';
import { cli, fx, readJson, ROOT } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-fleet-'));

/** The recipe's SQL, exactly as docs/fleet.md shows it, reading Parquet from `dir` instead of ./exits. */
function recipeSql(dir: string): string {
  const doc = readFileSync(join(ROOT, 'docs', 'fleet.md'), 'utf8');
  const m = /<!-- fleet-sql:hot-functions -->\s*```sql\n([\s\S]*?)```/.exec(doc);
  if (!m) throw new Error('docs/fleet.md: no ```sql block after <!-- fleet-sql:hot-functions -->');
  expect(m[1]).toContain("read_parquet('exits/*/*.parquet', hive_partitioning = true)");
  return m[1].replaceAll("'exits/", `'${dir}/`);
}

async function duck(sql: string): Promise<Array<Record<string, unknown>>> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    return (await c.runAndReadAll(sql)).getRowObjectsJson() as Array<Record<string, unknown>>;
  } finally {
    c.closeSync();
  }
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** SQL rows against analyze rows, field by field, with the percentile rules docs/fleet.md states. */
function expectSameRows(sql: Array<Record<string, unknown>>, rows: AnalyzeRow[]): void {
  expect(sql.map((r) => r.row_key)).toEqual(rows.map((r) => r.key));
  sql.forEach((s, k) => {
    const a = rows[k];
    const where = `row ${k + 1} (${a.key})`;
    expect({ where, rank: num(s.rank), symbol: s.symbol, module: s.module, address: s.address }).toEqual({ where, rank: a.rank, symbol: a.symbol, module: a.module, address: a.address });
    expect({ where, count: num(s.exits), timed: num(s.timed), timeNs: num(s.time_ns), handlingNs: num(s.handling_ns), idleNs: num(s.idle_ns), minNs: num(s.min_ns), maxNs: num(s.max_ns) })
      .toEqual({ where, count: a.count, timed: a.timed, timeNs: a.timeNs, handlingNs: a.handlingNs, idleNs: a.idleNs, minNs: a.minNs, maxNs: a.maxNs });
    expect(Math.abs(num(s.exits_pct)! - a.countPct), where).toBeLessThanOrEqual(1e-4);
    expect(Math.abs(num(s.time_pct)! - a.timePct), where).toBeLessThanOrEqual(1e-4);
    if (a.timed === 0) { expect([s.mean_ns, s.p50_ns, s.p99_ns]).toEqual([null, null, null]); return; }
    expect(Math.abs(num(s.mean_ns)! - a.meanNs!), where).toBeLessThanOrEqual(1e-4);
    const p50 = num(s.p50_ns)!, p99 = num(s.p99_ns)!;
    if (a.timed <= 4096) {
      // The same interpolation; DuckDB computes it as lo*(1-f) + hi*f, simple-statistics as lo + f*(hi-lo).
      expect(Math.abs(a.p50Ns! - p50), where).toBeLessThanOrEqual(1e-9 * p50);
      expect(Math.abs(a.p99Ns! - p99), where).toBeLessThanOrEqual(1e-9 * p99);
    } else {
      expect(Math.abs(a.p50Ns! - p50) / p50, where).toBeLessThanOrEqual(RELATIVE_ERROR);
      expect(Math.abs(a.p99Ns! - p99) / p99, where).toBeLessThanOrEqual(RELATIVE_ERROR);
    }
  });
}

/** An emulated trace as canonical CSV (what a host would have on disk), and its rows split in n parts. */
async function emulatedCsv(name: string, parts = 1): Promise<{ whole: string; parts: string[] }> {
  const em = prepareEmulation({ workload: 'net', nic: 'e1000', vcpus: 2, duration: 0.5, seed: 5 });
  expect(guestMapFor(em)).toBe(GUEST_MAP);
  const s = emulationStream(em);
  const bufs: Buffer[] = [];
  for await (const b of writeCsv(s.chunks, s.columns)) bufs.push(b);
  const whole = join(tmp, `${name}.csv`);
  const text = Buffer.concat(bufs).toString('utf8');
  writeFileSync(whole, text);
  const [header, ...lines] = text.trimEnd().split('\n');
  const out: string[] = [];
  for (let k = 0; k < parts; k++) {
    const p = join(tmp, `${name}.part${k}.csv`);
    writeFileSync(p, [header, ...lines.slice(Math.floor((k * lines.length) / parts), Math.floor(((k + 1) * lines.length) / parts))].join('\n') + '\n');
    out.push(p);
  }
  return { whole, parts: out };
}

let trace: { whole: string; parts: string[] };
beforeAll(async () => { trace = await emulatedCsv('net', 3); });

describe('convert --to parquet, queried by DuckDB with the recipe of docs/fleet.md', () => {
  async function check(input: string, map: string, host: string): Promise<{ dir: string; rep: AnalyzeReport }> {
    const dir = join(tmp, `pq-${host}`);
    const out = join(dir, `host=${host}`, 'exits.parquet');
    await import('node:fs/promises').then((f) => f.mkdir(join(dir, `host=${host}`), { recursive: true }));
    const r = await cli(['convert', input, '--map', map, '--to', 'parquet', '--host', host, '--row-group-rows', '4096', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const a = await cli(['analyze', input, '--map', map, '--format', 'json']);
    expect(a.code, a.stderr).toBe(0);
    const rep = JSON.parse(a.stdout) as AnalyzeReport;
    expectSameRows(await duck(recipeSql(dir)), rep.rows);
    return { dir, rep };
  }

  it('gives analyze --format json rows, counts and times on an emulated trace (several row groups, idle exits, histogram rows)', async () => {
    const { dir, rep } = await check(trace.whole, GUEST_MAP, 'emu');
    expect(rep.totals.exits).toBeGreaterThan(4 * 4096);
    expect(rep.totals.idleNs).toBeGreaterThan(0);
    expect(rep.rows.some((r) => r.timed > 4096)).toBe(true);
    const [t] = await duck(`SELECT count(*) AS n, sum(duration_ns) AS t, count(DISTINCT host) AS hosts FROM read_parquet('${dir}/*/*.parquet', hive_partitioning = true)`);
    expect([num(t.n), num(t.t), num(t.hosts)]).toEqual([rep.totals.exits, rep.totals.timeNs, 1]);
    const groups = await duck(`SELECT count(*) AS g FROM parquet_metadata('${dir}/host=emu/exits.parquet') WHERE path_in_schema = 'rip'`);
    expect(num(groups[0].g)).toBe(Math.ceil(rep.totals.exits / 4096));
    const enc = await duck(`SELECT DISTINCT path_in_schema AS col, encodings FROM parquet_metadata('${dir}/host=emu/exits.parquet') WHERE path_in_schema IN ('function', 'reason', 'module', 'caller_function')`);
    for (const e of enc) expect(e.encodings, String(e.col)).toContain('RLE_DICTIONARY');
    const kv = Object.fromEntries((await duck(`SELECT key, decode(value) AS v FROM parquet_kv_metadata('${dir}/host=emu/exits.parquet')`)).map((r) => [r.key, r.v]));
    expect(kv).toMatchObject({ 'exitscope.schema': 'exitscope.exits/v1', 'exitscope.host': 'emu', 'exitscope.trace': trace.whole, 'exitscope.symbols': GUEST_MAP, 'exitscope.exits': String(rep.totals.exits) });
  });

  it('keeps 64-bit RIPs exact: one byte apart stays apart (neighbours64), and a KASLR slide is applied (kaslr)', async () => {
    const { dir, rep } = await check(fx('neighbours64', 'trace.csv'), fx('neighbours64', 'System.map'), 'n64');
    // fixtures/neighbours64/README.md, worked out by hand.
    expect(rep.rows.map((r) => [r.key, r.count, r.timeNs])).toEqual([['alpha', 3, 60], ['beta', 2, 3000], ['[guest kernel, no symbol]', 1, 7], ['gamma', 1, 5]]);
    const rips = await duck(`SELECT printf('0x%x', rip) AS rip, typeof(rip) AS t, function, function_offset FROM read_parquet('${dir}/*/*.parquet') GROUP BY ALL ORDER BY rip`);
    expect(rips).toEqual([
      { rip: '0xffffffff810000ff', t: 'UBIGINT', function: 'alpha', function_offset: '255' },
      { rip: '0xffffffff81000100', t: 'UBIGINT', function: 'beta', function_offset: '0' },
      { rip: '0xffffffff810001ff', t: 'UBIGINT', function: 'gamma', function_offset: '127' },
      { rip: '0xffffffff81000200', t: 'UBIGINT', function: '[guest kernel, no symbol]', function_offset: null },
    ]);
    const k = await check(fx('kaslr', 'trace.csv'), fx('kaslr', 'System.map'), 'kaslr');
    expect(k.rep.kaslr.slide).toBe('0x2e400000');
    const expected = readJson(fx('kaslr', 'expected-function.json'));
    expect(k.rep.rows.map((r) => r.key)).toEqual((expected.rows as Array<{ key: string }>).slice(0, k.rep.rows.length).map((r) => r.key));
    const kv = await duck(`SELECT decode(value) AS v FROM parquet_kv_metadata('${k.dir}/host=kaslr/exits.parquet') WHERE key = 'exitscope.kaslr_slide'`);
    expect(kv[0].v).toBe('0x2e400000');
  });
});

/** A summary without what legitimately differs between a split and a whole run (trace list, spans), m2 set aside for a float comparison. */
function comparable(s: Summary): { body: unknown; m2: number[] } {
  const m2: number[] = [];
  const body = JSON.parse(JSON.stringify({ ...s, traces: undefined, totals: { ...s.totals, spanNs: undefined } }), (k, v) => {
    if (k === 'm2') { m2.push(v); return undefined; }
    return v;
  });
  return { body, m2 };
}

function expectSameSummary(x: Summary, y: Summary): void {
  const a = comparable(x), b = comparable(y);
  expect(a.body).toEqual(b.body);
  expect(a.m2.length).toBe(b.m2.length);
  a.m2.forEach((v, k) => expect(Math.abs(v - b.m2[k])).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b.m2[k]))));
}

describe('summaries merge exactly', () => {
  const sum = (inputs: string[]): Promise<Summary> => summarize({ inputs, maps: [GUEST_MAP], host: 'emu-host' });

  it('the summaries of a trace\'s parts merge into the summary of the whole; merge is commutative and associative', async () => {
    const [whole, a, b, c] = await Promise.all([sum([trace.whole]), ...trace.parts.map((p) => sum([p]))]);
    expect(SummarySchema.safeParse(whole).success).toBe(true);
    expect(Object.values(whole.views).flat().some((r) => Object.values(r.reasons).some((d) => d.buckets))).toBe(true);
    const ab = mergeSummaries([a, b]);
    // Commutative to the bit, stddev included.
    expect(JSON.stringify(mergeSummaries([b, a]))).toBe(JSON.stringify(ab));
    // Associative: everything exact but m2 (float rounding).
    const left = mergeSummaries([ab, c]), right = mergeSummaries([a, mergeSummaries([b, c])]);
    expect(left.traces).toEqual(right.traces);
    expectSameSummary(left, right);
    // Parts = whole: exact counts, times, samples, buckets; hence the same percentiles.
    expectSameSummary(left, whole);
    expect(left.totals.exits).toBe(whole.totals.exits);
    expect(left.traces.map((t) => t.exits).reduce((x, y) => x + y, 0)).toBe(whole.totals.exits);
    for (const by of ['function', 'reason', 'vcpu', 'port'] as const) {
      const v = summaryView(left, { by, top: 0 }), w = summaryView(whole, { by, top: 0 });
      expect(v.rows.map(({ stddevNs: _s, ...r }) => r)).toEqual(w.rows.map(({ stddevNs: _s, ...r }) => r));
    }
    // One summarize over the parts is the merge of the parts.
    expectSameSummary(await sum(trace.parts), left);
  });

  it('a merged summary renders the rows analyze prints (function, reason, vcpu, port), percentiles included', async () => {
    const s = await sum([trace.whole]);
    for (const by of ['function', 'reason', 'vcpu', 'port'] as const) {
      const rep = await analyze({ inputs: [trace.whole], maps: [GUEST_MAP], by, top: 0 });
      const view = summaryView(s, { by, top: 0 });
      expect(MergeReportSchema.safeParse(view).success).toBe(true);
      expect(view.rows.map(({ stddevNs: _s, ...r }) => r), by).toEqual(rep.rows.map(({ stddevNs: _s, ...r }) => r));
      view.rows.forEach((r, k) => expect(Math.abs((r.stddevNs ?? 0) - (rep.rows[k].stddevNs ?? 0))).toBeLessThanOrEqual(1e-3));
      expect({ ...view.totals, perVcpu: [] }).toEqual({ ...rep.totals, perVcpu: [] });
      expect(view.view).toEqual(rep.view);
    }
  });

  it('summarize and merge on the command line: JSON summaries, a merged table, staged merges, a trace merged twice refused', async () => {
    const files = await Promise.all(trace.parts.map(async (p, k) => {
      const out = join(tmp, `part${k}.summary.json`);
      const r = await cli(['summarize', p, '--map', GUEST_MAP, '--host', `host-${k}`, '-o', out]);
      expect(r.code, r.stderr).toBe(0);
      return out;
    }));
    expect(SummarySchema.safeParse(readJson(files[0])).success).toBe(true);
    const t = await cli(['merge', files[0], files[1], '--format', 'table']);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^Merged: 2 summaries, 2 hosts \(host-0, host-1\), 2 traces\n/);
    expect(t.stdout).toMatch(/Function\s+Samples\s+Samples%/);
    const staged = join(tmp, 'ab.summary.json');
    expect((await cli(['merge', files[0], files[1], '--write-summary', staged, '-o', join(tmp, 'ab.txt')])).code).toBe(0);
    const once = await cli(['merge', ...files, '--by', 'vcpu', '--format', 'json', '--top', '0']);
    const inStages = await cli(['merge', staged, files[2], '--by', 'vcpu', '--format', 'json', '--top', '0']);
    const [o, s] = [JSON.parse(once.stdout), JSON.parse(inStages.stdout)];
    expect(MergeReportSchema.safeParse(o).success).toBe(true);
    expect(o.rows.map((r: AnalyzeRow) => r.key).sort()).toEqual(['host-0: vm 0 vcpu 0', 'host-0: vm 0 vcpu 1', 'host-1: vm 0 vcpu 0', 'host-1: vm 0 vcpu 1', 'host-2: vm 0 vcpu 0', 'host-2: vm 0 vcpu 1']);
    expect(s.rows).toEqual(o.rows);
    expect(s.totals).toEqual(o.totals);
    const twice = await cli(['merge', staged, files[0]]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/is also in .*ab\.summary\.json; merging would count its [\d,]+ exits twice/);
    const cross = await cli(['merge', files[0], '--by', 'function,vcpu']);
    expect([cross.code, cross.stderr]).toEqual([2, expect.stringMatching(/summaries keep one view at a time/)]);
    const notSummary = await cli(['merge', fx('kaslr', 'expected-function.json')]);
    expect([notSummary.code, notSummary.stderr]).toEqual([2, expect.stringMatching(/not an exitscope summary/)]);
  });

  it('publishes its schemas', () => {
    expect(SCHEMAS.summary).toBeDefined();
    expect(SCHEMAS.merge).toBeDefined();
    expect(() => jsonSchema('summary')).not.toThrow();
    expect(() => jsonSchema('merge')).not.toThrow();
  });
});

describe('layering', () => {
  it('src/fleet sits beside analyze: it reads analyze, model, symbols, never replay, emulator, report or the CLI', () => {
    const dir = join(ROOT, 'src', 'fleet');
    const froms = readdirSync(dir).flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => `${f}: ${m[1]}`));
    expect(froms.filter((f) => /\/(replay|emulator|check|report|cli|formats)\//.test(f))).toEqual([]);
  });
});

describe('the summary sketch is analyze\'s', () => {
  it('gives the same percentiles as DurationSketch, exact and past the exact limit (same buckets)', () => {
    let s = 12345;
    const rnd = (): number => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
    for (const n of [1, 2, 3, 1000, 4096, 4097, 30_000]) {
      const ds = new DurationSketch(), b = new DistBuilder();
      for (let i = 0; i < n; i++) { const v = Math.round(80 * Math.exp(rnd() * 12)); ds.add(v); b.add(v); }
      const d = b.dist();
      for (const p of [0.01, 0.5, 0.9, 0.99, 0.999]) expect(distQuantile(d, p), `n=${n} p=${p}`).toBe(ds.quantile(p));
      expect([d.timed, d.sumNs, d.minNs, d.maxNs]).toEqual([ds.count, ds.sum, ds.min, ds.max]);
      expect(Boolean(d.samples)).toBe(ds.isExact);
    }
  });
});
