/** Human units for the terminal; machine formats keep raw ns. */
import { groupDigits } from '../model/numbers.js';

export function fmtNs(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || Number.isNaN(ns)) return '-';
  const a = Math.abs(ns);
  if (a < 1e3) return `${Math.round(ns)}ns`;
  if (a < 1e6) return `${(ns / 1e3).toFixed(2)}us`;
  if (a < 1e9) return `${(ns / 1e6).toFixed(2)}ms`;
  return `${(ns / 1e9).toFixed(2)}s`;
}

/** A speedup factor (`1.234x`); null is a saving with no bound (all of a working vcpu's active time saved). */
export function fmtSpeedup(x: number | null, digits: number): string {
  return x === null ? 'unbounded' : `${x.toFixed(digits)}x`;
}

export function fmtPct(p: number): string {
  return `${p.toFixed(2)}%`;
}

/** `1,234,567` (en-US grouping; see groupDigits). */
export function fmtInt(n: number): string {
  return groupDigits(n);
}

/** A share of a whole as a percentage that never reads 0% for a non-zero part (`<0.1%`). */
export function fmtShare(part: number, whole: number): string {
  if (!whole) return '-';
  const p = (part / whole) * 100;
  if (part > 0 && p < 0.1) return '<0.1%';
  return `${p < 10 ? p.toFixed(1) : p.toFixed(0)}%`;
}

/** `word` or its plural for n (`1 exit`, `2 exits`). */
export function plural(n: number, word: string, many = `${word}s`): string {
  return n === 1 ? word : many;
}
