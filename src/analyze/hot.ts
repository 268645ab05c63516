/**
 * Hot functions (the paper's Tables 1-3) and the other grouped views: rolls the
 * raw cells up into report rows once the symbolizer knows the slide.
 */
import { DIR_READ, DIR_WRITE } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import { formatHex, u64ToBigInt } from '../model/u64.js';
import type { ResolvedAddress, RipWeight, Symbolizer } from '../symbols/index.js';
import type { Cells } from './cells.js';
import { DurationSketch } from './duration-sketch.js';
import type { AnalyzeRow, GroupBy, SortBy } from './schema.js';

/** What a row shows besides its numbers; built once per row. */
interface RowInfo {
  key: string;
  symbol: string | null;
  module: string | null;
  address: bigint | null;
  caller?: string | null;
  callerAddress?: bigint | null;
}

export interface RowsResult {
  rows: AnalyzeRow[];
  omitted: { rows: number; count: number; timeNs: number };
  viewExits: number;
  viewTimeNs: number;
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


/** Cells to rows under the symbolizer's already settled slide. */
export function buildRows(cells: Cells, by: GroupBy, sort: SortBy, top: number, symbolizer: Symbolizer | null): RowsResult {
  const t = cells.table;
  const resolved = new Map<bigint, ResolvedAddress | null>();
  const resolve = (a: bigint): ResolvedAddress | null => {
    if (!symbolizer) return null;
    let r = resolved.get(a);
    if (r === undefined) { r = symbolizer.resolve(a); resolved.set(a, r); }
    return r;
  };
  // Pass 1: every cell to its row; per row only count and time (flat arrays),
  // so a long tail of one-off addresses costs no sketch or map each.
  const rowOf = new Map<string, number>();
  const info: RowInfo[] = [];
  let rowCount = new Float64Array(256);
  let rowTime = new Float64Array(256);
  const cellRow = new Int32Array(t.size);
  const cellReason = new Uint16Array(t.size);
  const row = (key: string, init: () => Omit<RowInfo, 'key'>): number => {
    let r = rowOf.get(key);
    if (r === undefined) {
      r = info.length;
      rowOf.set(key, r);
      info.push({ key, ...init() });
      if (r >= rowCount.length) {
        const c = new Float64Array(rowCount.length * 2); c.set(rowCount); rowCount = c;
        const tt = new Float64Array(rowTime.length * 2); tt.set(rowTime); rowTime = tt;
      }
    }
    return r;
  };
  let viewExits = 0;
  const unresolvedAddrs = new Set<bigint>();
  let unresolvedExits = 0;
  for (let id = 0; id < t.size; id++) {
    let r: number;
    let reason: number;
    switch (cells.mode) {
      case 'rip': {
        const addr = u64ToBigInt(t.key(id, 0), t.key(id, 1));
        reason = t.key(id, 2);
        const res = resolve(addr);
        if (!res) { unresolvedAddrs.add(addr); unresolvedExits += cells.count[id]; }
        if (by === 'address') {
          r = row(label(res, addr, true), () => ({ symbol: res ? res.name : '[unknown]', module: res ? res.module || null : null, address: addr }));
        } else {
          r = row(label(res, addr, false), () => ({ symbol: res ? res.name : '[unknown]', module: res ? res.module || null : null, address: res ? res.start : addr }));
        }
        break;
      }
      case 'rip-caller': {
        const addr = u64ToBigInt(t.key(id, 0), t.key(id, 1));
        const has = t.key(id, 4) === 1;
        const caddr = u64ToBigInt(t.key(id, 2), t.key(id, 3));
        reason = t.key(id, 5);
        const res = resolve(addr);
        const cr = has ? resolve(caddr) : null;
        // --by callsite keys exact (trap address, return address) pairs: the paper's Table 3.
        const exact = by === 'callsite';
        const fn = label(res, addr, exact);
        const cfn = has ? label(cr, caddr, exact) : '[no caller]';
        // An address shown for a row covers all of it: the exact pair for --by callsite, the functions' starts for --by caller.
        r = row(`${fn} <- ${cfn}`, () => ({
          symbol: res ? res.name : '[unknown]', module: res ? res.module || null : null,
          address: exact || !res ? addr : res.start,
          caller: has ? (cr ? cr.name : '[unknown]') : '[no caller]',
          callerAddress: has ? (exact || !cr ? caddr : cr.start) : null,
        }));
        break;
      }
      case 'reason': {
        reason = t.key(id, 0);
        r = row(REASONS.get(reason).name, () => ({ symbol: null, module: null, address: null }));
        break;
      }
      case 'port': {
        const w = t.key(id, 0);
        reason = t.key(id, 1);
        const port = w & 0xffff, dir = w >>> 16;
        // perf kvm stat --event=ioport spelling.
        r = row(`0x${port.toString(16)}:${dir === DIR_READ ? 'PIN' : dir === DIR_WRITE ? 'POUT' : '?'}`, () => ({ symbol: null, module: null, address: BigInt(port) }));
        break;
      }
      case 'mmio': {
        const gpa = u64ToBigInt(t.key(id, 0), t.key(id, 1));
        const dir = t.key(id, 2);
        reason = t.key(id, 3);
        r = row(`${formatHex(gpa)}:${dir === DIR_READ ? 'R' : dir === DIR_WRITE ? 'W' : '?'}`, () => ({ symbol: null, module: null, address: gpa }));
        break;
      }
      case 'vcpu': {
        const v = t.key(id, 0);
        reason = t.key(id, 1);
        r = row(`vcpu ${v}`, () => ({ symbol: null, module: null, address: null }));
        break;
      }
    }
    cellRow[id] = r;
    cellReason[id] = reason;
    rowCount[r] += cells.count[id];
    rowTime[r] += cells.sketch[id].sum;
    viewExits += cells.count[id];
  }
  const nRows = info.length;
  let viewTime = 0;
  for (let r = 0; r < nRows; r++) viewTime += rowTime[r];
  const before = (a: number, b: number): boolean => {
    const d = sort === 'time' ? rowTime[b] - rowTime[a] || rowCount[b] - rowCount[a] : rowCount[b] - rowCount[a] || rowTime[b] - rowTime[a];
    return d !== 0 ? d < 0 : info[a].key < info[b].key;
  };
  // Top N by insertion into a small sorted list (the tail is rejected in O(1)).
  let order: number[];
  if (top > 0 && nRows > top) {
    order = [];
    for (let r = 0; r < nRows; r++) {
      if (order.length === top && !before(r, order[top - 1])) continue;
      let k = order.length === top ? top - 1 : order.length;
      if (order.length < top) order.push(r);
      while (k > 0 && before(r, order[k - 1])) { order[k] = order[k - 1]; k--; }
      order[k] = r;
    }
  } else {
    order = Array.from({ length: nRows }, (_, r) => r).sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  }
  // Pass 2: distributions and reasons for the rows shown only.
  const shown = new Int32Array(nRows).fill(-1);
  order.forEach((r, k) => { shown[r] = k; });
  const sketches = order.map(() => new DurationSketch());
  const reasonMaps = order.map(() => new Map<number, number>());
  for (let id = 0; id < t.size; id++) {
    const k = shown[cellRow[id]];
    if (k < 0) continue;
    sketches[k].merge(cells.sketch[id]);
    const m = reasonMaps[k];
    m.set(cellReason[id], (m.get(cellReason[id]) ?? 0) + cells.count[id]);
  }
  const rows: AnalyzeRow[] = order.map((r, k) => {
    const s = sketches[k];
    const a = info[r];
    const reasons: Record<string, number> = {};
    [...reasonMaps[k].entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0]).forEach(([id, n]) => { reasons[REASONS.get(id).name] = n; });
    const address = a.address;
    const out: AnalyzeRow = {
      rank: k + 1,
      key: a.key,
      symbol: a.symbol,
      module: a.module,
      address: address === null ? null : formatHex(address),
      count: rowCount[r],
      countPct: viewExits ? round4((rowCount[r] / viewExits) * 100) : 0,
      timeNs: s.sum,
      timePct: viewTime ? round4((s.sum / viewTime) * 100) : 0,
      timed: s.count,
      minNs: s.count ? s.min : null,
      meanNs: s.count ? round4(s.mean) : null,
      stddevNs: s.count ? round4(s.stddev) : null,
      p50Ns: s.count ? s.quantile(0.5) : null,
      p99Ns: s.count ? s.quantile(0.99) : null,
      maxNs: s.count ? s.max : null,
      reasons,
    };
    if (a.caller !== undefined) {
      out.caller = a.caller;
      out.callerAddress = a.callerAddress === null || a.callerAddress === undefined ? null : formatHex(a.callerAddress);
    }
    return out;
  });
  let rc = 0, rt = 0;
  for (let r = 0; r < nRows; r++) if (shown[r] < 0) { rc += rowCount[r]; rt += rowTime[r]; }
  const rest = { length: nRows - order.length };
  return { rows, omitted: { rows: rest.length, count: rc, timeNs: rt }, viewExits, viewTimeNs: viewTime, unresolved: { exits: unresolvedExits, addresses: unresolvedAddrs.size } };
}
