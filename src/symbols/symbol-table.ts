/**
 * Sorted function extents for address lookup.
 *
 * A function's extent is [start, start+size) where the map gives a size (ELF,
 * `nm -S`); otherwise it runs to the next symbol of the same module (any
 * symbol: a module's data bounds its last function). The last function of a
 * segment with nothing after it gets at most MAX_UNBOUNDED bytes; no kernel
 * function is that long, so a RIP beyond is `[unknown]` rather than a guess.
 * End markers (`_etext`, `__*text_end`) bound functions but are not functions;
 * at one address a real name wins over a start marker (`_text`), then a sized
 * symbol over an unsized one.
 *
 * Built from symbol columns without an object or string per symbol; a
 * function's name is decoded when asked for.
 */
import { nameOf, type SymbolColumns } from './columns.js';

export const MAX_UNBOUNDED = 0x10000n;

const END_MARKER = /^(_etext|_einittext|_edata|_end|__end_rodata|__[a-z0-9_]*text_end|__[a-z0-9_]*_end_text)$/;
const START_MARKER = /^(_stext|_text|_sinittext|__[a-z0-9_]*text_start|__start_[a-z0-9_]*|startup_xen)$/;

export function isEndMarker(name: string): boolean {
  return END_MARKER.test(name);
}

export interface FunctionSymbol {
  name: string;
  module: string;
  start: bigint;
  end: bigint;
  /** True when the end comes from a size the map stated. */
  sized: boolean;
}

/** Which symbols of which columns go into a table. */
export interface TablePart {
  cols: SymbolColumns;
  /** Module indices to take (undefined: all). */
  modules?: ReadonlySet<number>;
}

/** Markers are named with a leading underscore or `startup_xen`: decode only those names. */
function markerKind(c: SymbolColumns, i: number): 0 | 1 | 2 {
  const s = c.nameStart[i];
  const first = c.names[s];
  if (first !== 95 && !(first === 115 && c.nameEnd[i] - s === 11)) return 0;
  const name = nameOf(c, i);
  return END_MARKER.test(name) ? 2 : START_MARKER.test(name) ? 1 : 0;
}

/** Whether this machine stores a 64-bit word low half first (the halves view of textRange). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class SymbolTable {
  readonly starts: BigUint64Array;
  readonly ends: BigUint64Array;
  readonly sized: Uint8Array;
  private readonly src: Int32Array;
  private readonly part: Int32Array;
  private readonly parts: SymbolColumns[];
  private nameCache: Array<string | undefined>;
  private nameSet: Set<string> | null = null;

  constructor(partsIn: readonly TablePart[]) {
    this.parts = partsIn.map((p) => p.cols);
    // Functions of every segment (part x module) as (hi, lo) halves, each segment sorted by start.
    const U = 0x100000000;
    const LIMIT = Number(MAX_UNBOUNDED * 16n), UNB = Number(MAX_UNBOUNDED);
    const segs: Array<{ sHi: number[]; sLo: number[]; eHi: number[]; eLo: number[]; sized: number[]; src: number[]; part: number }> = [];
    partsIn.forEach((p, pi) => {
      const c = p.cols;
      const byMod = new Map<number, number[]>();
      for (let i = 0; i < c.n; i++) {
        const m = c.module[i];
        if (p.modules && !p.modules.has(m)) continue;
        let l = byMod.get(m);
        if (!l) byMod.set(m, (l = []));
        l.push(i);
      }
      for (const idx of byMod.values()) {
        let sorted = true;
        for (let k = 1; k < idx.length && sorted; k++) {
          const a = idx[k - 1], b = idx[k];
          if (c.hi[b] < c.hi[a] || (c.hi[b] === c.hi[a] && c.lo[b] < c.lo[a])) sorted = false;
        }
        if (!sorted) idx.sort((a, b) => c.hi[a] - c.hi[b] || c.lo[a] - c.lo[b] || a - b);
        const seg = { sHi: [] as number[], sLo: [] as number[], eHi: [] as number[], eLo: [] as number[], sized: [] as number[], src: [] as number[], part: pi };
        const setEnd = (f: number, add: number): void => {
          const lo = seg.sLo[f] + add;
          seg.eLo[f] = lo % U;
          seg.eHi[f] = (seg.sHi[f] + Math.floor(lo / U)) % U;
        };
        // Walk runs of one address: pick the function there, bound the previous unsized ones by it.
        let k = 0;
        const pending: number[] = [];
        while (k < idx.length) {
          const h = c.hi[idx[k]], l = c.lo[idx[k]];
          let j = k;
          while (j + 1 < idx.length && c.hi[idx[j + 1]] === h && c.lo[idx[j + 1]] === l) j++;
          for (const f of pending) {
            const dist = (h - seg.sHi[f]) * U + (l - seg.sLo[f]);
            if (dist <= LIMIT) { seg.eHi[f] = h; seg.eLo[f] = l; }
          }
          pending.length = 0;
          let best = -1, bestMarker = false, bestSized = false;
          if (h !== 0 || l !== 0) {
            for (let q = k; q <= j; q++) {
              const i = idx[q];
              if (!c.text[i]) continue;
              const mk = markerKind(c, i);
              if (mk === 2) continue;
              const isMarker = mk === 1, isSized = c.size[i] > 0;
              if (best < 0 || (bestMarker && !isMarker) || (bestMarker === isMarker && !bestSized && isSized)) { best = i; bestMarker = isMarker; bestSized = isSized; }
            }
          }
          if (best >= 0) {
            const f = seg.sHi.length;
            seg.sHi.push(h); seg.sLo.push(l); seg.eHi.push(0); seg.eLo.push(0); seg.src.push(best);
            if (bestSized) { setEnd(f, c.size[best]); seg.sized.push(1); }
            else { setEnd(f, UNB); seg.sized.push(0); pending.push(f); }
          }
          k = j + 1;
        }
        if (seg.sHi.length) segs.push(seg);
      }
    });
    // Merge the sorted segments into one sorted table; 64-bit values written as little-endian halves.
    const n = segs.reduce((s, g) => s + g.sHi.length, 0);
    const starts = new Uint32Array(2 * n), ends = new Uint32Array(2 * n);
    this.sized = new Uint8Array(n);
    this.src = new Int32Array(n);
    this.part = new Int32Array(n);
    this.nameCache = new Array(n);
    const pos = segs.map(() => 0);
    for (let out = 0; out < n; out++) {
      let g = -1;
      for (let s = 0; s < segs.length; s++) {
        if (pos[s] >= segs[s].sHi.length) continue;
        if (g < 0) { g = s; continue; }
        const a = segs[s], b = segs[g], ka = pos[s], kb = pos[g];
        if (a.sHi[ka] < b.sHi[kb] || (a.sHi[ka] === b.sHi[kb] && a.sLo[ka] < b.sLo[kb])) g = s;
      }
      const seg = segs[g], k = pos[g]++;
      starts[2 * out] = seg.sLo[k]; starts[2 * out + 1] = seg.sHi[k];
      ends[2 * out] = seg.eLo[k]; ends[2 * out + 1] = seg.eHi[k];
      this.sized[out] = seg.sized[k];
      this.src[out] = seg.src[k];
      this.part[out] = seg.part;
    }
    const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    this.starts = le ? new BigUint64Array(starts.buffer) : BigUint64Array.from({ length: n }, (_, i) => (BigInt(starts[2 * i + 1]) << 32n) | BigInt(starts[2 * i]));
    this.ends = le ? new BigUint64Array(ends.buffer) : BigUint64Array.from({ length: n }, (_, i) => (BigInt(ends[2 * i + 1]) << 32n) | BigInt(ends[2 * i]));
  }

  get size(): number {
    return this.starts.length;
  }

  /** The table's own arrays, for the map cache. */
  arrays(): { starts: BigUint64Array; ends: BigUint64Array; sized: Uint8Array; src: Int32Array; part: Int32Array } {
    return { starts: this.starts, ends: this.ends, sized: this.sized, src: this.src, part: this.part };
  }

  /** A table rebuilt from `arrays()` of a table over the same parts (the map cache). */
  static restore(parts: readonly SymbolColumns[], a: ReturnType<SymbolTable['arrays']>): SymbolTable {
    const t = Object.create(SymbolTable.prototype) as SymbolTable;
    Object.assign(t, { parts, starts: a.starts, ends: a.ends, sized: a.sized, src: a.src, part: a.part, nameCache: new Array(a.starts.length), nameSet: null });
    return t;
  }

  name(i: number): string {
    let s = this.nameCache[i];
    if (s === undefined) {
      s = nameOf(this.parts[this.part[i]], this.src[i]);
      this.nameCache[i] = s;
    }
    return s;
  }

  module(i: number): string {
    const c = this.parts[this.part[i]];
    return c.modules[c.module[this.src[i]]];
  }

  hasName(name: string): boolean {
    if (this.nameSet === null) {
      this.nameSet = new Set();
      for (let i = 0; i < this.size; i++) this.nameSet.add(this.name(i));
    }
    return this.nameSet.has(name);
  }

  /** Index of the function holding `addr`, or -1. */
  find(addr: bigint): number {
    const s = this.starts;
    let lo = 0, hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid] <= addr) lo = mid + 1;
      else hi = mid;
    }
    // Walk back over nested symbols (a label inside a sized function, a sized helper inside that): the first that holds
    // the address. An unsized symbol ends at the next start at the latest, so only a sized one before the last start can
    // still hold it (outer_fn, its inner_label, its inner_sized: the rest of outer_fn after inner_sized is outer_fn's; a
    // large function past its label's capped extent); at most four back.
    for (let i = lo - 1, steps = 0; i >= 0 && steps < 4; i--, steps++) {
      if (addr < this.ends[i]) return i;
    }
    return -1;
  }

  /** [lowest start, highest end) of the functions; null when empty. */
  textRange(): [bigint, bigint] | null {
    if (this.size === 0) return null;
    // Asked for by the slide decision and the user-space bound: a pass over every end of a 200k-symbol map, once.
    if (this.range === undefined) {
      // The highest end compared as 32-bit halves (a BigUint64 read makes a bigint per element:
      // ~10 ms on a 200k-symbol map, against well under 1 ms here). Little-endian halves: lo, hi.
      const e = this.ends;
      if (!LITTLE_ENDIAN) {
        let hi = 0n;
        for (const x of e) if (x > hi) hi = x;
        this.range = [this.starts[0], hi];
        return [this.range[0], this.range[1]];
      }
      const w = new Uint32Array(e.buffer, e.byteOffset, e.length * 2);
      let bh = 0, bl = 0, at = -1;
      for (let i = 0; i < w.length; i += 2) {
        const h = w[i + 1], l = w[i];
        if (h > bh || (h === bh && l >= bl)) { bh = h; bl = l; at = i >> 1; }
      }
      this.range = [this.starts[0], at < 0 ? 0n : e[at]];
    }
    return [this.range[0], this.range[1]];
  }

  private range: [bigint, bigint] | undefined;

  get(i: number): FunctionSymbol {
    return { name: this.name(i), module: this.module(i), start: this.starts[i], end: this.ends[i], sized: this.sized[i] === 1 };
  }
}
