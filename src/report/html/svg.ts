/**
 * The report's categorical charts as static SVG, drawn here rather than in
 * the browser: ranked bars with long function names, 100% stacked bars and a
 * waterfall are a few rectangles each, read fine without JavaScript (and in
 * print), and carry their numbers as text and <title> tooltips. The charts
 * with numeric axes and many points (exits over time, duration histograms)
 * are uPlot's, drawn from the embedded data in the browser (page.ts).
 */

/** Okabe-Ito: distinguishable with the common colour-vision deficiencies. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#555555'];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}


/** Approximate width of `s` in px at the charts' 11.5px sans-serif (capitals are wider: reason names). */
export function textWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += /[A-Z_MW@%]/.test(ch) ? 8.2 : /[0-9a-z]/.test(ch) ? 7 : /[ .,:;|!'()[\]il]/.test(ch) ? 3.6 : 7;
  return w;
}
const r1 = (x: number): string => (Math.round(x * 10) / 10).toString();

function clip(s: string, maxChars: number): string {
  return s.length <= maxChars ? s : `${s.slice(0, Math.max(1, maxChars - 1))}…`;
}

export interface BarSeries { name: string; color: string }
export interface BarRow {
  label: string;
  /** One value per series. */
  values: number[];
  /** Text after the bars. */
  text: string;
  /** Tooltip (defaults to label and text). */
  title?: string;
}

export interface BarChartOptions {
  width?: number;
  /** Longest label shown whole (longer ones end in … and keep their full text in the tooltip). */
  maxLabelChars?: number;
  /** Scale bars to this value instead of the largest (e.g. 100 for shares). */
  max?: number;
  ariaLabel: string;
}

/** Horizontal bars, one row per item, one bar per series in each row (ranked lists: functions, reasons, ports). */
export function barChart(rows: readonly BarRow[], series: readonly BarSeries[], o: BarChartOptions): string {
  const width = o.width ?? 560;
  const maxChars = o.maxLabelChars ?? 38;
  const labelW = Math.max(50, ...rows.map((r) => textWidth(clip(r.label, maxChars)))) + 10;
  const textW = Math.max(30, ...rows.map((r) => textWidth(r.text))) + 10;
  const barW = Math.max(60, width - labelW - textW);
  const barH = series.length > 1 ? 8 : 13;
  const rowH = series.length * barH + 7;
  const legendH = series.length > 1 ? 18 : 0;
  const height = legendH + rows.length * rowH + 4;
  const max = o.max ?? Math.max(0, ...rows.flatMap((r) => r.values));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="bars" width="${r1(labelW + barW + textW)}" height="${height}" viewBox="0 0 ${r1(labelW + barW + textW)} ${height}" role="img" aria-label="${esc(o.ariaLabel)}">`);
  if (legendH) {
    let x = labelW;
    for (const s of series) {
      out.push(`<rect class="key" x="${r1(x)}" y="4" width="10" height="10" fill="${s.color}"/><text x="${r1(x + 14)}" y="13">${esc(s.name)}</text>`);
      x += 14 + textWidth(s.name) + 14;
    }
  }
  rows.forEach((r, k) => {
    const y = legendH + k * rowH + 2;
    out.push(`<g class="row"><title>${esc(r.title ?? `${r.label}: ${r.text}`)}</title>`);
    out.push(`<text class="label" x="${r1(labelW - 6)}" y="${r1(y + (series.length * barH) / 2 + 4)}" text-anchor="end">${esc(clip(r.label, maxChars))}</text>`);
    r.values.forEach((v, s) => {
      const w = max > 0 ? Math.max(v > 0 ? 1 : 0, (v / max) * barW) : 0;
      out.push(`<rect class="bar" x="${r1(labelW)}" y="${r1(y + s * barH)}" width="${r1(w)}" height="${barH - 1}" fill="${series[s].color}"/>`);
    });
    const longest = max > 0 ? (Math.max(0, ...r.values) / max) * barW : 0;
    out.push(`<text class="value" x="${r1(labelW + longest + 4)}" y="${r1(y + (series.length * barH) / 2 + 4)}">${esc(r.text)}</text></g>`);
  });
  out.push('</svg>');
  return out.join('');
}

export interface Segment { name: string; value: number; color: string }
export interface StackRow { label: string; segments: Segment[]; text?: string }

/** 100% stacked bars (where each row's total goes: handling, idle, in guest; kernel, user, unresolved). */
export function stackedChart(rows: readonly StackRow[], o: { width?: number; ariaLabel: string }): string {
  const width = o.width ?? 560;
  const labelW = Math.max(40, ...rows.map((r) => textWidth(clip(r.label, 30)))) + 10;
  const textW = Math.max(0, ...rows.map((r) => textWidth(r.text ?? ''))) + 10;
  const barW = Math.max(80, width - labelW - textW);
  const names: Array<{ name: string; color: string }> = [];
  for (const r of rows) for (const s of r.segments) if (!names.some((n) => n.name === s.name)) names.push({ name: s.name, color: s.color });
  const rowH = 22, legendH = 20;
  const height = legendH + rows.length * rowH + 2;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="stacked" width="${r1(labelW + barW + textW)}" height="${height}" viewBox="0 0 ${r1(labelW + barW + textW)} ${height}" role="img" aria-label="${esc(o.ariaLabel)}">`);
  let lx = labelW;
  for (const n of names) {
    out.push(`<rect class="key" x="${r1(lx)}" y="4" width="10" height="10" fill="${n.color}"/><text x="${r1(lx + 14)}" y="13">${esc(n.name)}</text>`);
    lx += 14 + textWidth(n.name) + 14;
  }
  rows.forEach((r, k) => {
    const y = legendH + k * rowH;
    const total = r.segments.reduce((s, x) => s + Math.max(0, x.value), 0);
    out.push(`<g class="row"><text class="label" x="${r1(labelW - 6)}" y="${y + 14}" text-anchor="end">${esc(clip(r.label, 30))}</text>`);
    let x = labelW;
    for (const s of r.segments) {
      const w = total > 0 ? (Math.max(0, s.value) / total) * barW : 0;
      const pct = total > 0 ? (Math.max(0, s.value) / total) * 100 : 0;
      const pt = pct >= 10 ? pct.toFixed(0) : pct.toFixed(1);
      out.push(`<rect class="bar" x="${r1(x)}" y="${y + 2}" width="${r1(w)}" height="17" fill="${s.color}"><title>${esc(`${r.label}: ${s.name} ${pt}%`)}</title></rect>`);
      if (w > 34) out.push(`<text class="inbar" x="${r1(x + w / 2)}" y="${y + 14}" text-anchor="middle">${pt}%</text>`);
      x += w;
    }
    if (r.text) out.push(`<text class="value" x="${r1(labelW + barW + 6)}" y="${y + 14}">${esc(r.text)}</text>`);
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('');
}

/** A tick step of 1, 2 or 5 times a power of ten giving about `n` ticks over `span`. */
export function niceStep(span: number, n = 5): number {
  if (!(span > 0)) return 1;
  const raw = span / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

export interface WaterfallStep { label: string; delta: number; ci?: readonly [number, number]; text: string; title?: string }

/**
 * Saved time per pass as a waterfall: each pass a column floating from the
 * total saved before it to the total after it (its 95% interval as a
 * whisker), then the total.
 */
export function waterfallChart(steps: readonly WaterfallStep[], total: { label: string; value: number; text: string; ci?: readonly [number, number] }, o: { fmt: (v: number) => string; ariaLabel: string }): string {
  const colW = 118, axisW = 70, top = 14, plotH = 220, labelH = 34;
  const n = steps.length + 1;
  const width = axisW + n * colW + 10;
  const height = top + plotH + labelH;
  let cum = 0;
  const spans = steps.map((s) => { const a = cum; cum += s.delta; return [a, cum] as const; });
  const values = [0, total.value, ...spans.flat(), ...steps.flatMap((s, k) => (s.ci ? [spans[k][0] + s.ci[0], spans[k][0] + s.ci[1]] : [])), ...(total.ci ? total.ci : [])];
  const lo = Math.min(0, ...values), hi = Math.max(0, ...values);
  const step = niceStep(hi - lo || 1);
  const y0 = Math.floor(lo / step) * step, y1 = Math.ceil(hi / step) * step || step;
  const y = (v: number): number => top + plotH - ((v - y0) / (y1 - y0)) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="waterfall" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(o.ariaLabel)}">`);
  for (let v = y0; v <= y1 + step / 2; v += step) {
    out.push(`<line class="grid" x1="${axisW}" x2="${width - 10}" y1="${r1(y(v))}" y2="${r1(y(v))}"/><text class="tick" x="${axisW - 6}" y="${r1(y(v) + 4)}" text-anchor="end">${esc(o.fmt(v))}</text>`);
  }
  const column = (k: number, a: number, b: number, color: string, label: string, text: string, title: string, ci?: readonly [number, number], base = 0): void => {
    const x = axisW + k * colW + 14, w = colW - 28;
    const ya = y(Math.max(a, b)), yb = y(Math.min(a, b));
    out.push(`<g class="step"><title>${esc(title)}</title>`);
    out.push(`<rect class="bar" x="${x}" y="${r1(ya)}" width="${w}" height="${r1(Math.max(1, yb - ya))}" fill="${color}"/>`);
    if (ci) {
      const cx = x + w / 2, c0 = y(base + ci[0]), c1 = y(base + ci[1]);
      out.push(`<path class="ci" d="M${cx} ${r1(c0)}V${r1(c1)}M${cx - 6} ${r1(c0)}h12M${cx - 6} ${r1(c1)}h12"/>`);
    }
    out.push(`<text class="value" x="${x + w / 2}" y="${r1(ya - 4)}" text-anchor="middle">${esc(text)}</text>`);
    out.push(`<text class="label" x="${x + w / 2}" y="${top + plotH + 16}" text-anchor="middle">${esc(clip(label, 17))}</text></g>`);
  };
  steps.forEach((s, k) => {
    column(k, spans[k][0], spans[k][1], s.delta >= 0 ? PALETTE[2] : PALETTE[3], s.label, s.text, s.title ?? `${s.label}: ${s.text}`, s.ci, spans[k][0]);
    if (k + 1 < n) {
      const yy = r1(y(spans[k][1]));
      out.push(`<line class="link" x1="${axisW + k * colW + colW - 14}" x2="${axisW + (k + 1) * colW + 14}" y1="${yy}" y2="${yy}"/>`);
    }
  });
  column(steps.length, 0, total.value, PALETTE[0], total.label, total.text, `${total.label}: ${total.text}`, total.ci, 0);
  out.push(`<line class="axis" x1="${axisW}" x2="${width - 10}" y1="${r1(y(0))}" y2="${r1(y(0))}"/>`);
  out.push('</svg>');
  return out.join('');
}
