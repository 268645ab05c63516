/**
 * The report's in-browser code: draws the uPlot charts (exits per second per
 * vcpu, duration histograms on a log axis) from the data embedded in the page.
 * It runs in the browser, not here: page.ts inlines the compiled function's
 * source (`drawCharts.toString()`), so it must stay self-contained — no
 * imports, no references outside its body but the browser's globals.
 */

// Browser globals, typed loosely: the project's lib is ES2022 without the DOM.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;

export function drawCharts(data: any, uPlot: any): void {
  const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#555555'];
  const fmtNs = (ns: number | null): string => {
    if (ns === null || ns === undefined || Number.isNaN(ns)) return '-';
    const a = Math.abs(ns);
    if (a < 1e3) return `${+ns.toPrecision(3)}ns`;
    if (a < 1e6) return `${+(ns / 1e3).toPrecision(3)}µs`;
    if (a < 1e9) return `${+(ns / 1e6).toPrecision(3)}ms`;
    return `${+(ns / 1e9).toPrecision(3)}s`;
  };
  const fmtNum = (v: number | null): string => {
    if (v === null || v === undefined) return '-';
    const a = Math.abs(v);
    if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
    if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
    return `${+v.toPrecision(3)}`;
  };
  const widthOf = (el: any): number => Math.max(300, Math.floor(el.getBoundingClientRect().width));
  const plots: Array<{ plot: any; host: any }> = [];

  const rate = data.exitRate;
  const rateHost = document.querySelector('[data-chart="exit-rate"] .plot');
  if (rate && rateHost && rate.series.length) {
    const secs = rate.binNs / 1e9;
    const n = rate.series[0].exits.length;
    const xs = Array.from({ length: n }, (_: unknown, i: number) => i * secs);
    // A vcpu's last bin ends at its last exit: its rate is over the part it covers, and a sliver of a bin
    // (too short for a rate) is left out. After it the vcpu has no data (null), not a rate of zero.
    const ys = rate.series.map((s: any) => {
      let last = s.exits.length - 1;
      while (last > 0 && s.exits[last] === 0) last--;
      const lastSecs = s.lastBinNs / 1e9;
      return s.exits.map((c: number, i: number) => (i > last || (i === last && i > 0 && lastSecs < secs / 2) ? null : c / (i === last ? lastSecs : secs)));
    });
    const opts = {
      width: widthOf(rateHost),
      height: 300,
      scales: { x: { time: false } },
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: 'from first exit', value: (_u: any, v: number | null) => (v === null ? '-' : `${v.toFixed(3)} s`) },
        ...rate.series.map((s: any, k: number) => ({ label: s.label, stroke: PALETTE[k % PALETTE.length], width: 1.25, value: (_u: any, v: number | null) => (v === null ? '-' : `${fmtNum(v)}/s`) })),
      ],
      axes: [
        { label: 'seconds from the first exit (drag to zoom, double-click to reset)' },
        { label: 'exits per second', size: 64, values: (_u: any, vals: number[]) => vals.map(fmtNum) },
      ],
    };
    plots.push({ plot: new uPlot(opts, [xs, ...ys], rateHost), host: rateHost });
  }

  const figs = document.querySelectorAll('figure[data-histogram]');
  for (const fig of figs) {
    const h = data.histograms[Number(fig.getAttribute('data-histogram'))];
    const host = fig.querySelector('.plot');
    if (!h || !host || h.counts.length === 0) continue;
    const color = PALETTE[Number(fig.getAttribute('data-histogram')) % PALETTE.length];
    const opts = {
      width: widthOf(host),
      height: 210,
      scales: { x: { time: false, distr: 3, log: 10 } },
      legend: { show: true },
      series: [
        { label: 'duration ≥', value: (_u: any, v: number | null) => fmtNs(v) },
        { label: 'exits', stroke: color, fill: `${color}55`, width: 1, points: { show: false }, paths: uPlot.paths.stepped({ align: 1 }), value: (_u: any, v: number | null) => (v === null ? '-' : v.toLocaleString('en-US')) },
      ],
      axes: [
        { label: 'exit duration (log scale)', values: (_u: any, vals: Array<number | null>) => vals.map((v) => (v === null || v === undefined ? '' : fmtNs(v))) },
        { label: 'exits', size: 56, values: (_u: any, vals: number[]) => vals.map(fmtNum) },
      ],
    };
    plots.push({ plot: new uPlot(opts, [h.edgesNs, [...h.counts, 0]], host), host });
  }

  let pending = 0;
  window.addEventListener('resize', () => {
    clearTimeout(pending);
    pending = setTimeout(() => { for (const p of plots) p.plot.setSize({ width: widthOf(p.host), height: p.plot.height }); }, 100) as unknown as number;
  });
  document.documentElement.setAttribute('data-charts', String(plots.length));
}
