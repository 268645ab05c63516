/** Human units for the terminal; machine formats keep raw ns. */
export function fmtNs(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || Number.isNaN(ns)) return '-';
  const a = Math.abs(ns);
  if (a < 1e3) return `${Math.round(ns)}ns`;
  if (a < 1e6) return `${(ns / 1e3).toFixed(2)}us`;
  if (a < 1e9) return `${(ns / 1e6).toFixed(2)}ms`;
  return `${(ns / 1e9).toFixed(2)}s`;
}

export function fmtPct(p: number): string {
  return `${p.toFixed(2)}%`;
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
