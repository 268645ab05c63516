/**
 * Tables for every renderer: aligned plain text (perf kvm stat's look: no
 * borders, two spaces between columns) or GitHub markdown, in time linear in
 * the cells (a 5,000-row `--top 0` table renders as fast as its CSV).
 */
export type Align = 'left' | 'right';
export type TableStyle = 'text' | 'md';

export interface TableSpec {
  head: readonly string[];
  rows: ReadonlyArray<readonly string[]>;
  /** Per column; default left for the first column, right for the rest. */
  align?: readonly Align[];
}

/** Character width as a terminal shows it (code points; no wide-glyph handling needed for our text). */
function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function pad(s: string, w: number, a: Align): string {
  const k = w - width(s);
  if (k <= 0) return s;
  return a === 'right' ? ' '.repeat(k) + s : s + ' '.repeat(k);
}

export function formatTable(t: TableSpec, style: TableStyle = 'text'): string[] {
  const cols = t.head.length;
  const align = (c: number): Align => t.align?.[c] ?? (c === 0 ? 'left' : 'right');
  if (style === 'md') {
    const esc = (s: string): string => s.replace(/\|/g, '\\|');
    const out = [`| ${t.head.map(esc).join(' | ')} |`, `|${t.head.map((_, c) => (align(c) === 'right' ? ' ---: ' : ' :--- ')).join('|')}|`];
    for (const r of t.rows) out.push(`| ${r.map(esc).join(' | ')} |`);
    return out;
  }
  const w = new Array<number>(cols).fill(0);
  for (let c = 0; c < cols; c++) w[c] = width(t.head[c]);
  for (const r of t.rows) for (let c = 0; c < cols; c++) { const x = width(r[c] ?? ''); if (x > w[c]) w[c] = x; }
  const line = (r: readonly string[]): string => r.map((x, c) => pad(x ?? '', w[c], align(c))).join('  ').trimEnd();
  const out = [line(t.head)];
  for (const r of t.rows) out.push(line(r));
  return out;
}

/** One CSV field (RFC 4180 quoting). */
export function csvField(s: string | number | null | undefined): string {
  if (s === null || s === undefined) return '';
  const t = String(s);
  return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

export function formatCsv(head: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | null | undefined>>): string {
  return [head.map(csvField).join(','), ...rows.map((r) => r.map(csvField).join(','))].join('\n') + '\n';
}
