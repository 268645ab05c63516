/**
 * `summarize`: one streaming pass over a host's traces into a summary that
 * merges with other hosts' without the traces (exitscope.summary/v1).
 *
 * It keys exits the way analyze does (the same dimension key functions, the
 * same resolver under the settled KASLR slide) into one cell per (view key,
 * exit reason) for each of the views in SUMMARY_VIEWS, and keeps per cell the
 * exits, the exact time sum, min and max, and the duration distribution as a
 * DistBuilder (exact samples, then analyze's log-linear histogram). The
 * reason stays in every cell so a merged view splits handling from idle time
 * and lists top reasons exactly as analyze does.
 *
 * What leaves the host is labels, not ids: functions by their row text
 * (`name [module]`), so hosts with other KASLR slides or kernel builds merge
 * by name; vcpus and VMs under the host's name.
 */
import { hostname } from 'node:os';
import { DIMENSION_SPECS, type DimensionSpec, type LabelContext } from '../analyze/dimensions.js';
import type { ExitHandler } from '../analyze/handler.js';
import { HandlerRun } from '../analyze/handler.js';
import { isIdleReason } from '../analyze/idle.js';
import { KeyTable } from '../analyze/key-table.js';
import type { AddressResolver } from '../analyze/resolver.js';
import { summarizeInput } from '../analyze/index.js';
import { openSymbolized, type SourceOptions, type SymbolizedSource } from '../analyze/source.js';
import { F_UNPAIRED, type ExitChunk } from '../model/chunk.js';
import { ExitscopeError } from '../model/errors.js';
import { REASONS } from '../model/reasons.js';
import { formatHex } from '../model/u64.js';
import { IoMap } from '../symbols/iomap.js';
import { msrName } from '../symbols/msrs.js';
import { DistBuilder, SKETCH_PARAMS, mergeDist, type Dist } from './sketch.js';
import { SUMMARY_VIEWS, type Summary, type SummaryRow, type SummaryView } from './schema.js';
import { groupDigits } from '../model/numbers.js';

export interface SummarizeOptions extends Omit<SourceOptions, 'keepUnknown' | 'follow'> {
  /** The host's name in the summary (default: this machine's hostname). */
  host?: string;
  /** The guest's /proc/ioports and /proc/iomem, to name devices in the port and mmio views. */
  iomaps?: readonly string[];
}

type TraceStream = SymbolizedSource['streams'][number];

interface ViewCells {
  name: SummaryView;
  spec: DimensionSpec;
  table: KeyTable;
  cells: DistBuilder[];
  key: Uint32Array;
}

/** Per input: exits, first exit and last entry (offsets from the input's base), the base. */
interface InputSpan { exits: number; first: number; last: number; base: bigint | null }

class SummaryHandler implements ExitHandler<void> {
  readonly name = 'summary';
  readonly views: ViewCells[];
  exits = 0;
  timed = 0;
  handling = 0;
  idle = 0;
  /** exits, time for kernel, user, unresolved. */
  readonly split = new Float64Array(6);
  readonly inputs: InputSpan[] = [];

  constructor(private readonly resolver: AddressResolver) {
    this.views = SUMMARY_VIEWS.map((name) => {
      const spec = DIMENSION_SPECS[name];
      return { name, spec, table: new KeyTable(spec.words + 1, 256), cells: [], key: new Uint32Array(spec.words + 1) };
    });
  }

  reset(): void {}

  handleChunk(c: ExitChunk, sel: Uint32Array, n: number, input: number): void {
    const r = this.resolver;
    const span = (this.inputs[input] ??= { exits: 0, first: Infinity, last: -Infinity, base: null });
    span.base ??= c.tsBaseNs;
    for (let k = 0; k < n; k++) {
      const i = sel[k];
      const d = c.flags[i] & F_UNPAIRED ? NaN : c.dur[i];
      const ts = c.ts[i];
      if (ts < span.first) span.first = ts;
      const end = d === d ? ts + d : ts;
      if (end > span.last) span.last = end;
      if (d === d) {
        this.timed++;
        if (isIdleReason(c.reason[i])) this.idle += d;
        else this.handling += d;
      }
      const kind = r.kindOfId(r.id(c.ripHi[i], c.ripLo[i]));
      const at = kind === 'kernel' ? 0 : kind === 'user' ? 2 : 4;
      this.split[at]++;
      if (d === d) this.split[at + 1] += d;
      for (const v of this.views) {
        const key = v.key;
        if (!v.spec.key(c, i, input, r, key, 0)) continue;
        key[v.spec.words] = c.reason[i];
        const size = v.table.size;
        const id = v.table.intern(key);
        if (id === size) v.cells.push(new DistBuilder());
        v.cells[id].add(d);
      }
    }
    span.exits += n;
    this.exits += n;
  }

  finalize(): void {}
  data(): void {}
}

/** The JSON key of a vcpu or VM row: host-qualified, unambiguous whatever the names hold. */
export const vcpuKey = (host: string, vm: string, vcpu: number): string => JSON.stringify([host, vm, vcpu]);
export const vmKey = (host: string, vm: string): string => JSON.stringify([host, vm]);

/** Label fields merge to the common value, or null where summaries disagree (associative and commutative). */
export function agree<T>(a: T | null | undefined, b: T | null | undefined): T | null | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a === b ? a : null;
}

const LABEL_FIELDS = ['symbol', 'module', 'address', 'device', 'register'] as const;

/** Adds `row` into `into` (same key): labels agree, dists merge per reason. */
export function mergeRowInto(into: SummaryRow, row: SummaryRow): void {
  for (const f of LABEL_FIELDS) {
    const v = agree(into[f], row[f]);
    if (v === undefined) delete into[f]; else into[f] = v;
  }
  for (const [reason, d] of Object.entries(row.reasons)) {
    const have = into.reasons[reason];
    into.reasons[reason] = have ? mergeDist(have, d) : d;
  }
}

/** Rows sorted by key, each row's reasons by name: the canonical order every summary keeps. */
export function canonicalRows(rows: Iterable<SummaryRow>): SummaryRow[] {
  return [...rows]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((r) => ({ ...r, reasons: Object.fromEntries(Object.keys(r.reasons).sort().map((k) => [k, r.reasons[k]])) }));
}

function viewRows(v: ViewCells, host: string, streams: readonly TraceStream[], ctx: LabelContext): SummaryRow[] {
  const rows = new Map<string, SummaryRow>();
  const w = v.spec.words;
  const words = new Uint32Array(w + 1);
  for (let id = 0; id < v.table.size; id++) {
    for (let k = 0; k <= w; k++) words[k] = v.table.key(id, k);
    const reason = REASONS.get(words[w]).name;
    const dist: Dist = v.cells[id].dist();
    let row: SummaryRow;
    if (v.name === 'vcpu' || v.name === 'vm') {
      const vm = streams[words[0]]?.vms.get(words[1] | 0) ?? `vm ${words[1] | 0}`;
      row = v.name === 'vcpu' ? { key: vcpuKey(host, vm, words[2]), host, vm, vcpu: words[2], reasons: {} } : { key: vmKey(host, vm), host, vm, reasons: {} };
    } else {
      const l = v.spec.label(words, 0, ctx);
      row = { key: l.text, reasons: {} };
      if (l.symbol !== undefined) row.symbol = l.symbol;
      if (l.module !== undefined) row.module = l.module;
      if (l.address !== undefined) row.address = l.address === null ? null : formatHex(l.address);
      if (l.device !== undefined) row.device = l.device;
      if (l.register !== undefined) row.register = l.register;
    }
    row.reasons[reason] = dist;
    const have = rows.get(row.key);
    if (have) mergeRowInto(have, row);
    else rows.set(row.key, row);
  }
  return canonicalRows(rows.values());
}

export async function summarize(opts: SummarizeOptions): Promise<Summary> {
  const host = opts.host ?? hostname();
  if (!host) throw new ExitscopeError('--host: name the host (this machine has no hostname)');
  const iomap = await IoMap.load(opts.iomaps ?? []);
  const src = await openSymbolized({ ...opts, keepUnknown: false });
  const { streams, symbolizer, resolver } = src;
  const h = new SummaryHandler(resolver);
  const run = new HandlerRun([h]);
  for await (const p of src.chunks) run.feed(p.chunk, p.input);
  run.finish();
  for (const s of streams) {
    const st = s.stats;
    if (st.events === 0 && st.rejected > 0) throw new ExitscopeError(`${st.path}: none of its ${groupDigits(st.rejected)} lines could be read as ${st.format} (the first: ${st.rejections[0]?.replace(/^[^:]*:/, 'line ') ?? '?'}); is it in another format? (drop --input-format to let exitscope sniff it)`);
  }
  const ctx: LabelContext = {
    resolver, iomap, inputs: streams.map((s) => ({ path: s.path, vms: s.vms })), severalVms: false,
    msrName: (m) => msrName(m)?.name ?? null,
  };
  const reasons: Summary['reasons'] = {};
  const views = Object.fromEntries(h.views.map((v) => [v.name, viewRows(v, host, streams, ctx)])) as Summary['views'];
  for (const v of h.views) {
    for (let id = 0; id < v.table.size; id++) {
      const r = REASONS.get(v.table.key(id, v.spec.words));
      reasons[r.name] ??= { isa: r.isa, code: r.code, class: r.canonical, idle: isIdleReason(r.id) };
    }
  }
  const slide = symbolizer?.slide;
  const kaslr = { slide: formatHex(slide?.slide ?? 0n), mode: slide?.mode ?? 'none', note: slide?.note ?? 'no map given' } as const;
  const symbols = symbolizer && !symbolizer.empty ? symbolizer.sources.map((s) => s.path).join(', ') : null;
  const traces = streams.map((s, k) => {
    const sp = h.inputs[k];
    const has = sp !== undefined && sp.exits > 0;
    return {
      ...summarizeInput(s), host, exits: sp?.exits ?? 0,
      firstNs: has ? String(sp.base! + BigInt(Math.round(sp.first))) : null,
      spanNs: has ? Math.max(0, sp.last - sp.first) : 0,
      symbols, kaslr: { ...kaslr },
    };
  });
  const sp = h.split;
  return {
    schema: 'exitscope.summary/v1',
    sketch: { ...SKETCH_PARAMS },
    hosts: [host],
    traces: sortTraces(traces),
    reasons: Object.fromEntries(Object.keys(reasons).sort().map((k) => [k, reasons[k]])),
    totals: {
      exits: h.exits, timed: h.timed, handlingNs: h.handling, idleNs: h.idle,
      spanNs: traces.reduce((s, t) => s + t.spanNs, 0),
      split: { kernel: { exits: sp[0], timeNs: sp[1] }, user: { exits: sp[2], timeNs: sp[3] }, unresolved: { exits: sp[4], timeNs: sp[5] } },
    },
    views,
  };
}

/** Traces in canonical order: host, path, first exit, exits. */
export function sortTraces<T extends { host: string; path: string; firstNs: string | null; exits: number }>(ts: T[]): T[] {
  const k = (t: T): string => JSON.stringify([t.host, t.path, t.firstNs ?? '', t.exits]);
  return [...ts].sort((a, b) => (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0));
}
