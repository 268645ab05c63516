/**
 * `1,234,567`: toLocaleString('en-US') of the rounded number, written out. The first toLocaleString of a process
 * loads ICU's number formatting (fmtInt's self time was 5-12 ms in --cpu-prof of a 2-line analyze), and most runs print a
 * count somewhere (a table, a note, a progress line).
 */
export function groupDigits(n: number): string {
  const r = Math.round(n);
  if (!Number.isFinite(r) || Math.abs(r) >= 1e21) return r.toLocaleString('en-US');
  const digits = String(Math.abs(r));
  const head = digits.length % 3;
  let out = head === 0 ? '' : digits.slice(0, head);
  for (let k = head; k < digits.length; k += 3) out += (out ? ',' : '') + digits.slice(k, k + 3);
  return (r < 0 || Object.is(r, -0) ? '-' : '') + out;
}
