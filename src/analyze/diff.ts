/**
 * `exitscope diff BEFORE AFTER`: the paper's Table 4 for any two traces
 * (Zhang et al., NPC 2010, Table 4: "The number of VM Exits caused by inb and
 * outb, before and after merging two IDE fragments", per instruction address).
 * Per trap address and per function: exits and exit time before and after,
 * the change and the ratio after/before, sorted by absolute change.
 *
 * Each trace is analyzed once, by trap address, with its own symbols (the two
 * runs may have booted with different KASLR slides, or run different kernel
 * builds: `mapsAfter`); the function view is the sum of the address rows of
 * each function, which is exactly what `analyze --by function` counts (both
 * resolve every RIP through the same resolver), without reading the traces a
 * second time. Address rows are matched by `symbol+offset` where a map
 * resolves them (so a different slide does not break the match) and by the
 * address itself otherwise.
 */
import { z } from 'zod';
import type { TraceStream } from '../formats/index.js';
import { ExitscopeError } from '../model/errors.js';
import type { KaslrOption } from '../symbols/index.js';
import { analyze } from './index.js';
import { InputSummarySchema, type AnalyzeReport, type AnalyzeRow } from './schema.js';
import { groupDigits } from '../model/numbers.js';

const Count = z.number().int().nonnegative();
const Ns = z.number().nonnegative();
const Hex = z.string().regex(/^-?0x[0-9a-f]+$/);

export const DIFF_VIEWS = ['address', 'function'] as const;
export type DiffView = (typeof DIFF_VIEWS)[number];

const Pair = z.object({ exits: Count, timeNs: Ns });

export const DiffRowSchema = z.object({
  rank: z.number().int().positive(),
  key: z.string().describe('symbol+0xoffset (address view) or function; the address itself where no map resolves it'),
  symbol: z.string().nullable(),
  module: z.string().nullable(),
  addressBefore: Hex.nullable().describe('Runtime trap address (address view) or function start in the before trace; null when absent there'),
  addressAfter: Hex.nullable(),
  before: Pair,
  after: Pair,
  change: z.object({ exits: z.number().int(), timeNs: z.number() }).describe('after - before'),
  ratio: z.object({ exits: z.number().nullable(), timeNs: z.number().nullable() }).describe('after / before; null when before is 0'),
  only: z.enum(['before', 'after']).nullable().describe('The key occurs in one trace only'),
});

const TraceSide = z.object({
  inputs: z.array(InputSummarySchema),
  maps: z.array(z.string()),
  kaslr: z.object({ slide: z.string(), mode: z.enum(['auto', 'forced', 'none']), note: z.string() }),
  exits: Count,
  handlingNs: Ns,
  idleNs: Ns,
  timeNs: Ns.describe('Exit time as this diff counts it: handling, or handling + idle with includeIdle'),
  spanNs: Ns,
  vcpus: Count,
});

export const DiffSectionSchema = z.object({
  by: z.enum(DIFF_VIEWS),
  rows: z.array(DiffRowSchema),
  common: Count.describe('Keys present in both traces'),
  onlyBefore: Count,
  onlyAfter: Count,
  omitted: z.object({ rows: Count, before: Pair, after: Pair }).describe('Rows past --top'),
});

export const DiffReportSchema = z.object({
  schema: z.literal('exitscope.diff/v1'),
  sort: z.enum(['count', 'time']).describe('Rows ranked by the absolute change in exits (count) or in exit time (time)'),
  includeIdle: z.boolean(),
  filter: z.object({ reasons: z.array(z.string()), excludeReasons: z.array(z.string()), vcpus: z.array(z.number().int()) }),
  before: TraceSide,
  after: TraceSide,
  change: z.object({ exits: z.number().int(), timeNs: z.number(), exitsRatio: z.number().nullable(), timeRatio: z.number().nullable() }),
  sections: z.array(DiffSectionSchema),
  notes: z.array(z.string()),
});

export type DiffRow = z.infer<typeof DiffRowSchema>;
export type DiffSection = z.infer<typeof DiffSectionSchema>;
export type DiffReport = z.infer<typeof DiffReportSchema>;

export interface DiffOptions {
  before: string | TraceStream;
  after: string | TraceStream;
  /** Maps of the before trace's guest (and of the after trace's, unless mapsAfter). */
  maps?: readonly string[];
  /** The after trace's guest kernel, when it is another build (a modified guest). */
  mapsAfter?: readonly string[];
  kaslr?: KaslrOption;
  kaslrAfter?: KaslrOption;
  views?: readonly DiffView[];
  sort?: 'count' | 'time';
  /** Rows per section (0 = all). */
  top?: number;
  reasons?: readonly string[];
  excludeReasons?: readonly string[];
  vcpus?: readonly number[];
  includeIdle?: boolean;
  keepUnknown?: boolean;
  strict?: boolean;
  inputFormat?: string;
  stdin?: AsyncIterable<Buffer>;
}

interface Cell { key: string; symbol: string | null; module: string | null; address: string | null; exits: number; timeNs: number }

const ratio = (a: number, b: number): number | null => (b > 0 ? Math.round((a / b) * 1e6) / 1e6 : null);

function addressKey(r: AnalyzeRow): string {
  return r.keys.address ?? r.key;
}

/** The function a row of the address view belongs to, as `analyze --by function` names it. */
function functionKey(r: AnalyzeRow): { key: string; start: string | null } {
  if (!r.symbol || r.symbol === '[unknown]') return { key: addressKey(r), start: r.address };
  const key = r.module ? `${r.symbol} [${r.module}]` : r.symbol;
  const m = /^(.*)\+0x([0-9a-f]+)(?: \[.*\])?$/.exec(r.keys.address ?? '');
  // The function's start: the trap address minus its offset (class rows have none).
  const start = m && r.address ? `0x${(BigInt(r.address) - BigInt(`0x${m[2]}`)).toString(16)}` : null;
  return { key, start };
}

function cells(rep: AnalyzeReport, view: DiffView, includeIdle: boolean): Map<string, Cell> {
  const out = new Map<string, Cell>();
  for (const r of rep.rows) {
    const t = includeIdle ? r.handlingNs + r.idleNs : r.handlingNs;
    const k = view === 'address' ? { key: addressKey(r), start: r.address } : functionKey(r);
    const c = out.get(k.key);
    if (c) { c.exits += r.count; c.timeNs += t; continue; }
    out.set(k.key, { key: k.key, symbol: r.symbol, module: r.module, address: k.start, exits: r.count, timeNs: t });
  }
  return out;
}

function section(view: DiffView, b: Map<string, Cell>, a: Map<string, Cell>, sort: 'count' | 'time', top: number): DiffSection {
  const keys = new Set([...b.keys(), ...a.keys()]);
  let common = 0, onlyBefore = 0, onlyAfter = 0;
  const rows: Omit<DiffRow, 'rank'>[] = [];
  for (const key of keys) {
    const x = b.get(key), y = a.get(key);
    if (x && y) common++; else if (x) onlyBefore++; else onlyAfter++;
    const be = { exits: x?.exits ?? 0, timeNs: x?.timeNs ?? 0 };
    const af = { exits: y?.exits ?? 0, timeNs: y?.timeNs ?? 0 };
    const any = (x ?? y)!;
    rows.push({
      key, symbol: any.symbol, module: any.module,
      addressBefore: x?.address ?? null, addressAfter: y?.address ?? null,
      before: be, after: af,
      change: { exits: af.exits - be.exits, timeNs: af.timeNs - be.timeNs },
      ratio: { exits: ratio(af.exits, be.exits), timeNs: ratio(af.timeNs, be.timeNs) },
      only: x && y ? null : x ? 'before' : 'after',
    });
  }
  const measure = (r: Omit<DiffRow, 'rank'>): number => Math.abs(sort === 'time' ? r.change.timeNs : r.change.exits);
  const other = (r: Omit<DiffRow, 'rank'>): number => Math.abs(sort === 'time' ? r.change.exits : r.change.timeNs);
  rows.sort((p, q) => measure(q) - measure(p) || other(q) - other(p) || (q.before.exits + q.after.exits) - (p.before.exits + p.after.exits) || (p.key < q.key ? -1 : p.key > q.key ? 1 : 0));
  const shown = top > 0 ? rows.slice(0, top) : rows;
  const rest = top > 0 ? rows.slice(top) : [];
  const sum = (xs: typeof rows, side: 'before' | 'after'): { exits: number; timeNs: number } => ({
    exits: xs.reduce((s, r) => s + r[side].exits, 0), timeNs: xs.reduce((s, r) => s + r[side].timeNs, 0),
  });
  return {
    by: view,
    rows: shown.map((r, i) => ({ rank: i + 1, ...r })),
    common, onlyBefore, onlyAfter,
    omitted: { rows: rest.length, before: sum(rest, 'before'), after: sum(rest, 'after') },
  };
}

function side(rep: AnalyzeReport, maps: readonly string[], includeIdle: boolean): z.infer<typeof TraceSide> {
  const t = rep.totals;
  return {
    inputs: rep.inputs, maps: [...maps], kaslr: rep.kaslr,
    exits: rep.view.exits, handlingNs: t.handlingNs, idleNs: t.idleNs,
    timeNs: includeIdle ? t.handlingNs + t.idleNs : t.handlingNs,
    spanNs: t.spanNs, vcpus: t.vcpus,
  };
}

function pathOf(x: string | TraceStream): string {
  return typeof x === 'string' ? x : x.path;
}

export async function diff(opts: DiffOptions): Promise<DiffReport> {
  const views = opts.views && opts.views.length ? [...new Set(opts.views)] : [...DIFF_VIEWS];
  const sort = opts.sort ?? 'count';
  const top = opts.top ?? 20;
  const includeIdle = opts.includeIdle ?? false;
  const maps = opts.maps ?? [];
  const mapsAfter = opts.mapsAfter && opts.mapsAfter.length ? opts.mapsAfter : maps;
  const run = (input: string | TraceStream, m: readonly string[], kaslr: KaslrOption | undefined): Promise<AnalyzeReport> => analyze({
    inputs: [input], maps: m, by: ['address'], top: 0, sort: 'count', kaslr,
    reasons: opts.reasons, excludeReasons: opts.excludeReasons, vcpus: opts.vcpus,
    includeIdle, keepUnknown: opts.keepUnknown, strict: opts.strict, inputFormat: opts.inputFormat, stdin: opts.stdin,
  });
  const rb = await run(opts.before, maps, opts.kaslr);
  const ra = await run(opts.after, mapsAfter, opts.kaslrAfter ?? opts.kaslr);
  for (const [rep, x] of [[rb, opts.before], [ra, opts.after]] as const) {
    if (rep.totals.exits === 0) {
      const i = rep.inputs[0];
      const n = (k: number, w: string): string => `${groupDigits(k)} ${w}${k === 1 ? '' : 's'}`;
      const filtered = opts.reasons?.length || opts.excludeReasons?.length || opts.vcpus?.length ? ' that pass the filter' : '';
      throw new ExitscopeError(`${pathOf(x)}: no VM exits${filtered} in it (${n(i.lines, 'line')}, ${n(i.events, 'event')} read): nothing to compare`);
    }
  }
  const sections = views.map((v) => section(v, cells(rb, v, includeIdle), cells(ra, v, includeIdle), sort, top));
  const addr = sections.find((s) => s.by === 'address');
  if (addr && addr.common === 0) {
    const fn = section('function', cells(rb, 'function', includeIdle), cells(ra, 'function', includeIdle), sort, 0);
    const hint = fn.common > 0
      ? `they share ${fn.common} function(s) but no trap address: another kernel build or KASLR slide? give the after trace its own map (--map-after) or compare by function (--by function)`
      : maps.length ? 'no function in common either; are they traces of the same guest? (check --map / --map-after)' : 'give the guest kernel map (--map) to match them by symbol+offset';
    throw new ExitscopeError(`${pathOf(opts.before)} and ${pathOf(opts.after)} have no trap address in common (${groupDigits(addr.onlyBefore)} before, ${groupDigits(addr.onlyAfter)} after): ${hint}`);
  }
  const fnOnly = sections.find((s) => s.by === 'function');
  if (!addr && fnOnly && fnOnly.common === 0) {
    throw new ExitscopeError(`${pathOf(opts.before)} and ${pathOf(opts.after)} have no function in common (${groupDigits(fnOnly.onlyBefore)} before, ${groupDigits(fnOnly.onlyAfter)} after): are they traces of the same guest? (check --map / --map-after)`);
  }
  const before = side(rb, maps, includeIdle), after = side(ra, mapsAfter, includeIdle);
  const notes: string[] = [];
  for (const [name, rep] of [['before', rb], ['after', ra]] as const) for (const n of rep.notes) notes.push(`${name}: ${n}`);
  if (before.spanNs > 0 && after.spanNs > 0 && Math.abs(after.spanNs / before.spanNs - 1) > 0.05) {
    notes.push(`the traces cover different spans (${(before.spanNs / 1e9).toFixed(3)} s before, ${(after.spanNs / 1e9).toFixed(3)} s after): counts compare whole runs, as the paper's Table 4 does; for rates divide by the spans`);
  }
  if (rb.kaslr.slide !== ra.kaslr.slide) notes.push(`the traces ran under different KASLR slides (${rb.kaslr.slide} before, ${ra.kaslr.slide} after): trap addresses are matched by symbol+offset`);
  return {
    schema: 'exitscope.diff/v1',
    sort, includeIdle,
    filter: { reasons: [...(opts.reasons ?? [])], excludeReasons: [...(opts.excludeReasons ?? [])], vcpus: [...(opts.vcpus ?? [])] },
    before, after,
    change: { exits: after.exits - before.exits, timeNs: after.timeNs - before.timeNs, exitsRatio: ratio(after.exits, before.exits), timeRatio: ratio(after.timeNs, before.timeNs) },
    sections,
    notes,
  };
}
