/**
 * Hot functions (the paper's Tables 1-3) and the other grouped views: rolls the
 * raw cells up into report rows once the symbolizer knows the slide.
 */
import { DIR_READ, DIR_WRITE } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import { formatHex, u64ToBigInt } from '../model/u64.js';
import type { KaslrOption, ResolvedAddress, RipWeight, Symbolizer } from '../symbols/index.js';
import type { Cells } from './cells.js';
import { DurationSketch } from './duration-sketch.js';
import type { AnalyzeRow, GroupBy, SortBy } from './schema.js';

interface RowAcc {
  key: string;
  symbol: string | null;
  module: string | null;
  address: bigint | null;
  count: number;
  sketch: DurationSketch;
  reasons: Map<number, number>;
  caller?: string | null;
  callerSites?: Map<bigint, number>;
  trapSites?: Map<bigint, number>;
}

export interface RowsResult {
  rows: AnalyzeRow[];
  omitted: { rows: number; count: number; timeNs: number };
  viewExits: number;
  unresolved: { exits: number; addresses: number };
}

const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** Distinct RIPs of rip-keyed cells with their counts and reasons, for the KASLR decision. */
export function ripWeights(cells: Cells): RipWeight[] {
  const out: RipWeight[] = [];
  const reasonWord = cells.mode === 'rip' ? 2 : 5;
  for (let id = 0; id < cells.table.size; id++) {
    out.push({
      addr: u64ToBigInt(cells.table.key(id, 0), cells.table.key(id, 1)),
      count: cells.count[id],
      reason: REASONS.get(cells.table.key(id, reasonWord)).canonical,
    });
  }
  return out;
}

function label(r: ResolvedAddress | null, addr: bigint, withOffset: boolean): string {
  if (!r) return withOffset ? formatHex(addr) : `[unknown] ${formatHex(addr)}`;
  const mod = r.module ? ` [${r.module}]` : '';
  return withOffset ? `${r.name}+0x${r.offset.toString(16)}${mod}` : `${r.name}${mod}`;
}

function topOf(m: Map<bigint, number> | undefined): bigint | null {
  if (!m) return null;
  let best: bigint | null = null, n = -1;
  for (const [k, v] of m) if (v > n || (v === n && best !== null && k < best)) { best = k; n = v; }
  return best;
}

export function buildRows(cells: Cells, by: GroupBy, sort: SortBy, top: number, symbolizer: Symbolizer | null, kaslr: KaslrOption): RowsResult {
  const t = cells.table;
  const resolved = new Map<bigint, ResolvedAddress | null>();
  const resolve = (a: bigint): ResolvedAddress | null => {
    if (!symbolizer) return null;
    let r = resolved.get(a);
    if (r === undefined) { r = symbolizer.resolve(a); resolved.set(a, r); }
    return r;
  };
  if (symbolizer && !symbolizer.empty && (cells.mode === 'rip' || cells.mode === 'rip-caller')) {
    symbolizer.decideSlide(ripWeights(cells), kaslr);
  }
  const acc = new Map<string, RowAcc>();
  const get = (key: string, init: () => Omit<RowAcc, 'key' | 'count' | 'sketch' | 'reasons'>): RowAcc => {
    let a = acc.get(key);
    if (!a) { a = { key, count: 0, sketch: new DurationSketch(), reasons: new Map(), ...init() }; acc.set(key, a); }
    return a;
  };
  let viewExits = 0;
  const unresolvedAddrs = new Set<bigint>();
  let unresolvedExits = 0;
  for (let id = 0; id < t.size; id++) {
    let row: RowAcc;
    let reason: number;
    switch (cells.mode) {
      case 'rip': {
        const addr = u64ToBigInt(t.key(id, 0), t.key(id, 1));
        reason = t.key(id, 2);
        const r = resolve(addr);
        if (!r) { unresolvedAddrs.add(addr); unresolvedExits += cells.count[id]; }
        if (by === 'address') {
          row = get(label(r, addr, true), () => ({ symbol: r ? r.name : '[unknown]', module: r ? r.module || null : null, address: addr }));
        } else {
          row = get(label(r, addr, false), () => ({ symbol: r ? r.name : '[unknown]', module: r ? r.module || null : null, address: r ? r.start : addr }));
        }
        break;
      }
      case 'rip-caller': {
        const addr = u64ToBigInt(t.key(id, 0), t.key(id, 1));
        const has = t.key(id, 4) === 1;
        const caddr = u64ToBigInt(t.key(id, 2), t.key(id, 3));
        reason = t.key(id, 5);
        const r = resolve(addr);
        const cr = has ? resolve(caddr) : null;
        const fn = label(r, addr, false);
        const cfn = has ? label(cr, caddr, false) : '[no caller]';
        row = get(`${fn} <- ${cfn}`, () => ({ symbol: r ? r.name : '[unknown]', module: r ? r.module || null : null, address: null, caller: has ? (cr ? cr.name : '[unknown]') : null, callerSites: new Map(), trapSites: new Map() }));
        if (has) row.callerSites!.set(caddr, (row.callerSites!.get(caddr) ?? 0) + cells.count[id]);
        row.trapSites!.set(addr, (row.trapSites!.get(addr) ?? 0) + cells.count[id]);
        break;
      }
      case 'reason': {
        reason = t.key(id, 0);
        const r = REASONS.get(reason);
        row = get(r.name, () => ({ symbol: null, module: null, address: null }));
        break;
      }
      case 'port': {
        const w = t.key(id, 0);
        reason = t.key(id, 1);
        const port = w & 0xffff, dir = w >>> 16;
        // perf kvm stat --event=ioport spelling.
        const key = `0x${port.toString(16)}:${dir === DIR_READ ? 'PIN' : dir === DIR_WRITE ? 'POUT' : '?'}`;
        row = get(key, () => ({ symbol: null, module: null, address: BigInt(port) }));
        break;
      }
      case 'mmio': {
        const gpa = u64ToBigInt(t.key(id, 0), t.key(id, 1));
        const dir = t.key(id, 2);
        reason = t.key(id, 3);
        const key = `${formatHex(gpa)}:${dir === DIR_READ ? 'R' : dir === DIR_WRITE ? 'W' : '?'}`;
        row = get(key, () => ({ symbol: null, module: null, address: gpa }));
        break;
      }
      case 'vcpu': {
        const v = t.key(id, 0);
        reason = t.key(id, 1);
        row = get(`vcpu ${v}`, () => ({ symbol: null, module: null, address: null }));
        break;
      }
    }
    const n = cells.count[id];
    row.count += n;
    row.sketch.merge(cells.sketch[id]);
    row.reasons.set(reason, (row.reasons.get(reason) ?? 0) + n);
    viewExits += n;
  }
  const all = [...acc.values()];
  let viewTime = 0;
  for (const a of all) viewTime += a.sketch.sum;
  all.sort((a, b) => {
    const d = sort === 'time' ? b.sketch.sum - a.sketch.sum || b.count - a.count : b.count - a.count || b.sketch.sum - a.sketch.sum;
    return d !== 0 ? d : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  });
  const keep = top > 0 ? all.slice(0, top) : all;
  const rest = top > 0 ? all.slice(top) : [];
  const rows: AnalyzeRow[] = keep.map((a, k) => {
    const s = a.sketch;
    const reasons: Record<string, number> = {};
    [...a.reasons.entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0]).forEach(([id, n]) => { reasons[REASONS.get(id).name] = n; });
    const address = a.trapSites ? topOf(a.trapSites) : a.address;
    const row: AnalyzeRow = {
      rank: k + 1,
      key: a.key,
      symbol: a.symbol,
      module: a.module,
      address: address === null ? null : formatHex(address),
      count: a.count,
      countPct: viewExits ? round4((a.count / viewExits) * 100) : 0,
      timeNs: s.sum,
      timePct: viewTime ? round4((s.sum / viewTime) * 100) : 0,
      timed: s.count,
      meanNs: s.count ? round4(s.mean) : null,
      p50Ns: s.count ? s.quantile(0.5) : null,
      p99Ns: s.count ? s.quantile(0.99) : null,
      maxNs: s.count ? s.max : null,
      reasons,
    };
    if (a.callerSites) {
      row.caller = a.caller ?? null;
      const cs = topOf(a.callerSites);
      row.callerAddress = cs === null ? null : formatHex(cs);
    }
    return row;
  });
  let rc = 0, rt = 0;
  for (const a of rest) { rc += a.count; rt += a.sketch.sum; }
  return { rows, omitted: { rows: rest.length, count: rc, timeNs: rt }, viewExits, unresolved: { exits: unresolvedExits, addresses: unresolvedAddrs.size } };
}
