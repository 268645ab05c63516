/**
 * Sorted function extents for address lookup.
 *
 * A function's extent is [start, start+size) where the map gives a size (ELF,
 * `nm -S`); otherwise it runs to the next symbol of the same module (any
 * symbol: a module's data bounds its last function). The last function of a
 * segment with nothing after it gets at most MAX_UNBOUNDED bytes; no kernel
 * function is that long, so a RIP beyond is `[unknown]` rather than a guess.
 * End markers (`_etext`, `__*text_end`) bound functions but are not functions.
 */
import type { RawSymbol } from './types.js';

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

export class SymbolTable {
  readonly starts: BigUint64Array;
  readonly ends: BigUint64Array;
  readonly names: string[];
  readonly modules: string[];
  readonly sized: Uint8Array;

  constructor(symbols: readonly RawSymbol[]) {
    const bySegment = new Map<string, RawSymbol[]>();
    for (const s of symbols) {
      let list = bySegment.get(s.module);
      if (!list) bySegment.set(s.module, (list = []));
      list.push(s);
    }
    const funcs: FunctionSymbol[] = [];
    for (const list of bySegment.values()) {
      const bounds = [...new Set(list.map((s) => s.start))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const nextBound = (a: bigint): bigint | null => {
        let lo = 0, hi = bounds.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (bounds[mid] <= a) lo = mid + 1;
          else hi = mid;
        }
        return lo < bounds.length ? bounds[lo] : null;
      };
      // Aliases: one function per start; prefer a real name over a marker, then a sized one.
      const byStart = new Map<bigint, RawSymbol>();
      for (const s of list) {
        if (!s.text || s.start === 0n || isEndMarker(s.name)) continue;
        const cur = byStart.get(s.start);
        if (!cur) { byStart.set(s.start, s); continue; }
        const curMarker = START_MARKER.test(cur.name);
        const sMarker = START_MARKER.test(s.name);
        if ((curMarker && !sMarker) || (curMarker === sMarker && cur.size === null && s.size !== null)) byStart.set(s.start, s);
      }
      for (const s of byStart.values()) {
        let end: bigint;
        let sized = false;
        if (s.size !== null && s.size > 0n) { end = s.start + s.size; sized = true; }
        else {
          const nb = nextBound(s.start);
          end = nb !== null && nb - s.start <= MAX_UNBOUNDED * 16n ? nb : s.start + MAX_UNBOUNDED;
        }
        funcs.push({ name: s.name, module: s.module, start: s.start, end, sized });
      }
    }
    funcs.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const n = funcs.length;
    this.starts = new BigUint64Array(n);
    this.ends = new BigUint64Array(n);
    this.names = new Array(n);
    this.modules = new Array(n);
    this.sized = new Uint8Array(n);
    funcs.forEach((f, i) => {
      this.starts[i] = f.start;
      this.ends[i] = f.end;
      this.names[i] = f.name;
      this.modules[i] = f.module;
      this.sized[i] = f.sized ? 1 : 0;
    });
  }

  private nameSet: Set<string> | null = null;

  hasName(name: string): boolean {
    if (this.nameSet === null) this.nameSet = new Set(this.names);
    return this.nameSet.has(name);
  }

  get size(): number {
    return this.starts.length;
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
    // Walk back over nested symbols (a label inside a sized function).
    for (let i = lo - 1, steps = 0; i >= 0 && steps < 4; i--, steps++) {
      if (addr < this.ends[i]) return i;
      if (this.sized[i] === 0) break;
    }
    return -1;
  }

  /** [lowest start, highest end) of the functions; null when empty. */
  textRange(): [bigint, bigint] | null {
    if (this.size === 0) return null;
    let hi = 0n;
    for (const e of this.ends) if (e > hi) hi = e;
    return [this.starts[0], hi];
  }

  get(i: number): FunctionSymbol {
    return { name: this.names[i], module: this.modules[i], start: this.starts[i], end: this.ends[i], sized: this.sized[i] === 1 };
  }
}
