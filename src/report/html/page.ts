/**
 * The HTML report: one self-contained file (no request at view time: the CSS,
 * uPlot and the data are inline), a pure function of an HtmlReport.
 *
 * Sections: header (inputs, accounting, KASLR, maps), hot functions, exit
 * reasons, exits per second per vcpu, duration histograms of the top reasons,
 * port and MMIO accesses, handling vs idle per vcpu, guest kernel vs user,
 * per VM (several VMs), and the estimate's waterfall (with passes). Every
 * chart is a <figure data-chart="NAME">; a trace without exits gets a notice
 * instead of empty axes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AnalyzeRow } from '../../analyze/schema.js';
import { describeCounters } from '../../model/counters.js';
import { fmtInt, fmtNs, fmtPct, fmtShare, fmtSpeedup, plural } from '../units.js';
import { drawCharts } from './client.js';
import type { HtmlReport, RowsViewData } from './schema.js';
import { barChart, esc, PALETTE, stackedChart, waterfallChart, type BarRow } from './svg.js';

export interface PageAssets { uplotJs: string; uplotCss: string }

let cached: PageAssets | null = null;

/** uPlot's browser build and stylesheet, from the installed package (inlined: the report opens offline). */
export function loadAssets(): PageAssets {
  if (cached) return cached;
  const req = createRequire(import.meta.url);
  cached = {
    uplotJs: readFileSync(req.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    uplotCss: readFileSync(req.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return cached;
}

const CSS = `
:root { --fg:#1d2430; --muted:#5b6675; --line:#d9dee5; --bg:#fff; --panel:#f6f8fa; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
header.top { padding:18px 28px 10px; border-bottom:1px solid var(--line); background:var(--panel); }
header.top h1 { margin:0 0 4px; font-size:20px; }
nav { padding:6px 28px; border-bottom:1px solid var(--line); font-size:13px; position:sticky; top:0; background:#fffe; z-index:2; }
nav a { margin-right:14px; color:var(--accent); text-decoration:none; }
main { padding:8px 28px 40px; max-width:1280px; }
section { margin-top:26px; }
h2 { font-size:17px; margin:0 0 4px; border-bottom:1px solid var(--line); padding-bottom:3px; }
h3 { font-size:14px; margin:12px 0 4px; }
p.lead, .muted { color:var(--muted); margin:2px 0 8px; }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(520px,1fr)); gap:14px 24px; align-items:start; }
figure { margin:6px 0; min-width:0; }
figcaption { font-weight:600; font-size:13px; margin-bottom:4px; }
figure .scroll { overflow-x:auto; }
figure .plot { width:100%; min-height:40px; }
svg text { font:11.5px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; fill:var(--fg); }
svg text.value, svg text.tick { fill:var(--muted); }
svg text.inbar { fill:#fff; font-weight:600; }
svg line.grid { stroke:#eceff3; } svg line.axis { stroke:#9aa4b1; } svg line.link { stroke:#9aa4b1; stroke-dasharray:3 3; }
svg path.ci { stroke:#222; stroke-width:1.2; fill:none; }
svg g.row:hover text.label { font-weight:600; }
table { border-collapse:collapse; font-size:12.5px; margin:6px 0 4px; }
th, td { padding:3px 8px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th { background:var(--panel); font-weight:600; }
td.l, th.l { text-align:left; }
td.key { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12px; }
.tablewrap { overflow-x:auto; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:2px 14px; margin:8px 0 0; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; }
.notice { border:1px solid #e0b44a; background:#fff8e6; padding:10px 14px; border-radius:4px; margin:16px 0; }
ul.notes { margin:4px 0; padding-left:20px; color:var(--muted); }
`;

const nsText = (ns: number): string => fmtNs(ns);

function table(id: string, head: Array<{ t: string; l?: boolean }>, rows: string[][], attrs: string[] = []): string {
  const th = head.map((h) => `<th${h.l ? ' class="l"' : ''}>${esc(h.t)}</th>`).join('');
  const body = rows.map((r, k) => `<tr${attrs[k] ? ` ${attrs[k]}` : ''}>${r.join('')}</tr>`).join('\n');
  return `<div class="tablewrap"><table id="${id}"><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

const td = (s: string, cls = ''): string => `<td${cls ? ` class="${cls}"` : ''}>${esc(s)}</td>`;

function topReasons(r: AnalyzeRow, n = 2): string {
  const parts = Object.entries(r.reasons).slice(0, n).map(([name, c]) => `${name} ${fmtShare(c, r.count)}`);
  const more = Object.keys(r.reasons).length - n;
  return parts.join(', ') + (more > 0 ? ` +${more}` : '');
}

function figure(name: string, caption: string, body: string, extra = ''): string {
  return `<figure class="chart" data-chart="${esc(name)}"${extra}><figcaption>${esc(caption)}</figcaption><div class="scroll">${body}</div></figure>`;
}

function omittedLine(v: RowsViewData, what: string): string {
  if (v.omitted.rows === 0) return '';
  return `<p class="muted">${fmtInt(v.omitted.rows)} more ${what}: ${fmtInt(v.omitted.count)} ${plural(v.omitted.count, 'exit')}, ${fmtNs(v.omitted.timeNs)} (exitscope analyze --top 0 lists all)</p>`;
}

function header(rep: HtmlReport): string {
  const t = rep.totals;
  const inputs = table('inputs', [{ t: 'Input', l: true }, { t: 'Format', l: true }, { t: 'Lines' }, { t: 'Events' }, { t: 'Skipped' }, { t: 'Rejected' }, { t: 'Counters', l: true }],
    rep.inputs.map((i) => [td(i.path, 'l key'), td(i.format, 'l'), td(fmtInt(i.lines)), td(fmtInt(i.events)), td(fmtInt(i.skipped)), td(fmtInt(i.rejected)), td(describeCounters(i.counters).join(', ') || 'none', 'l')]));
  const rejections = rep.inputs.flatMap((i) => i.rejections.slice(0, 5));
  const inputNotes = rep.inputs.flatMap((i) => i.notes);
  const facts: Array<[string, string]> = [
    ['Exits', t.exits ? `${fmtInt(t.exits)} on ${t.vcpus} ${plural(t.vcpus, 'vcpu')} over ${fmtNs(t.spanNs)}${t.timed < t.exits ? ` (${fmtInt(t.exits - t.timed)} without a known duration)` : ''}` : 'none'],
    ['Exit time', `${fmtNs(t.timeNs)} = handling ${fmtNs(t.handlingNs)} + idle (HLT/MWAIT) ${fmtNs(t.idleNs)}`],
    ['Map', rep.maps.length ? rep.maps.join(', ') : 'none given: guest addresses are not symbolized'],
    ['KASLR', `${rep.kaslr.note}${rep.kaslr.slide !== '0x0' ? ` (slide ${rep.kaslr.slide})` : ''}`],
    ['Generated', `${rep.generated.at} by ${rep.generated.tool}`],
  ];
  const notes = [...rep.notes, ...inputNotes];
  return `<header class="top"><h1>${esc(rep.title)}</h1>
<dl class="facts">${facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>
${inputs}
${rejections.length ? `<p class="muted">Rejected lines (first ${rejections.length}):</p><ul class="notes">${rejections.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>` : ''}
${notes.length ? `<ul class="notes">${notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
</header>`;
}

function functionsSection(rep: HtmlReport): string {
  const f = rep.functions;
  const byCount: BarRow[] = f.rows.map((r) => ({ label: r.key, values: [r.count], text: `${fmtInt(r.count)} (${fmtPct(r.countPct)})` }));
  const byTime: BarRow[] = f.byTime.map((r) => ({ label: r.key, values: [r.handlingNs], text: `${fmtNs(r.handlingNs)} (${fmtPct(r.timePct)})` }));
  const rows = f.rows.map((r) => [
    td(String(r.rank)), td(r.key, 'l key'), td(fmtInt(r.count)), td(fmtPct(r.countPct)), td(fmtNs(r.handlingNs)), td(fmtPct(r.timePct)),
    td(r.idleNs ? fmtNs(r.idleNs) : '-'), td(fmtNs(r.meanNs)), td(fmtNs(r.p50Ns)), td(fmtNs(r.p99Ns)), td(fmtNs(r.maxNs)), td(topReasons(r), 'l'),
  ]);
  const attrs = f.rows.map((r) => `data-key="${esc(r.key)}" data-count="${r.count}" data-handling-ns="${r.handlingNs}"`);
  return `<section id="functions"><h2>Hot functions</h2>
<p class="lead">Guest functions whose instructions trapped, ranked by exits (the paper's Tables 1-3; analyze --by function).</p>
<div class="grid">
${figure('functions-count', `Top ${byCount.length} by exits`, barChart(byCount, [{ name: 'exits', color: PALETTE[0] }], { ariaLabel: 'hot functions by exit count' }))}
${byTime.length ? figure('functions-time', `Top ${byTime.length} by handling time`, barChart(byTime, [{ name: 'handling', color: PALETTE[1] }], { ariaLabel: 'hot functions by handling time' })) : '<p class="muted">No exit has a known duration: no time ranking.</p>'}
</div>
${table('hot-functions', [{ t: '#' }, { t: 'Function', l: true }, { t: 'Samples' }, { t: 'Samples%' }, { t: 'Handling' }, { t: 'Handling%' }, { t: 'Idle' }, { t: 'Avg' }, { t: 'p50' }, { t: 'p99' }, { t: 'Max' }, { t: 'Top reasons', l: true }], rows, attrs)}
${omittedLine(f, 'functions')}
</section>`;
}

function reasonsSection(rep: HtmlReport): string {
  const v = rep.reasons;
  const t = rep.totals;
  const bars: BarRow[] = v.rows.map((r) => {
    const timeShare = t.timeNs > 0 ? (r.timeNs / t.timeNs) * 100 : 0;
    return { label: r.key, values: [r.countPct, timeShare], text: `${fmtPct(r.countPct)} / ${fmtPct(timeShare)}`, title: `${r.key}: ${fmtInt(r.count)} exits (${fmtPct(r.countPct)}), ${fmtNs(r.timeNs)} exit time (${fmtPct(timeShare)})` };
  });
  const rows = v.rows.map((r) => [td(String(r.rank)), td(r.key, 'l key'), td(fmtInt(r.count)), td(fmtPct(r.countPct)), td(fmtNs(r.handlingNs)), td(r.idleNs ? fmtNs(r.idleNs) : '-'), td(fmtShare(r.timeNs, t.timeNs)), td(fmtNs(r.meanNs)), td(fmtNs(r.p50Ns)), td(fmtNs(r.p99Ns)), td(fmtNs(r.maxNs))]);
  return `<section id="reasons"><h2>Exit reasons</h2>
<p class="lead">Share of exits and of exit time (handling + idle) per reason, as perf kvm stat's VM-EXIT table.</p>
${figure('reasons', 'Share of exits and of exit time', barChart(bars, [{ name: 'share of exits', color: PALETTE[0] }, { name: 'share of exit time', color: PALETTE[1] }], { ariaLabel: 'exit reasons: share of count and of time', max: 100 }))}
${table('reasons-table', [{ t: '#' }, { t: 'VM-EXIT', l: true }, { t: 'Samples' }, { t: 'Samples%' }, { t: 'Handling' }, { t: 'Idle' }, { t: 'Time%' }, { t: 'Avg' }, { t: 'p50' }, { t: 'p99' }, { t: 'Max' }], rows)}
</section>`;
}

function timelineSection(rep: HtmlReport): string {
  const r = rep.exitRate!;
  return `<section id="timeline"><h2>Exits per second over time</h2>
<p class="lead">Per vcpu, in ${fmtNs(r.binNs)} bins from each input's first exit: bursts, periodic ticks, one vcpu doing all the work.</p>
${figure('exit-rate', `Exits per second per vcpu (${r.series.length} ${plural(r.series.length, 'vcpu')})`, '<div class="plot"></div>')}
</section>`;
}

function durationsSection(rep: HtmlReport): string {
  if (rep.histograms.length === 0) return `<section id="durations"><h2>Exit durations</h2><p class="muted">No exit has a known duration (no kvm_entry paired with its kvm_exit).</p></section>`;
  const figs = rep.histograms.map((h, k) => figure(`durations-${k}`, `${h.reason}: ${fmtInt(h.timed)} timed ${plural(h.timed, 'exit')}${h.timed < h.exits ? ` of ${fmtInt(h.exits)}` : ''}`, '<div class="plot"></div>', ` data-histogram="${k}"`));
  return `<section id="durations"><h2>Exit durations</h2>
<p class="lead">Histogram of exit durations (kvm_exit to the next kvm_entry) for the ${rep.histograms.length} most frequent ${plural(rep.histograms.length, 'reason')}, ${10} bins per decade on a log axis.</p>
<div class="grid">${figs.join('\n')}</div>
</section>`;
}

function deviceView(name: 'ports' | 'mmio', title: string, v: RowsViewData | null, rep: HtmlReport): string {
  if (!v) return `<h3>${esc(title)}</h3><p class="muted">No exit in this trace carries ${name === 'ports' ? 'an I/O port (kvm_pio)' : 'an MMIO address (kvm_mmio)'}.</p>`;
  const label = (r: AnalyzeRow): string => `${r.key}${r.device ? ` ${r.device}${r.register ? ` ${r.register}` : ''}` : ''}`;
  const bars: BarRow[] = v.rows.map((r) => ({ label: label(r), values: [r.count], text: `${fmtInt(r.count)} · ${fmtNs(r.handlingNs)}` }));
  const rows = v.rows.map((r) => [td(String(r.rank)), td(r.key, 'l key'), td(r.device ?? '-', 'l'), td(r.register ?? '-', 'l'), td(fmtInt(r.count)), td(fmtPct(r.countPct)), td(fmtNs(r.handlingNs)), td(fmtPct(r.timePct)), td(fmtNs(r.meanNs)), td(fmtNs(r.p99Ns))]);
  const share = rep.totals.exits ? ` (${fmtShare(v.view.exits, rep.totals.exits)} of all exits)` : '';
  return `<h3>${esc(title)}: ${fmtInt(v.view.exits)} ${plural(v.view.exits, 'exit')}${share}</h3>
${figure(name, `${title} by exits`, barChart(bars, [{ name: 'exits', color: name === 'ports' ? PALETTE[2] : PALETTE[4] }], { ariaLabel: `${title} by exit count`, maxLabelChars: 44 }))}
${table(`${name}-table`, [{ t: '#' }, { t: name === 'ports' ? 'Port:dir' : 'GPA:dir', l: true }, { t: 'Device', l: true }, { t: 'Register', l: true }, { t: 'Samples' }, { t: 'Samples%' }, { t: 'Handling' }, { t: 'Handling%' }, { t: 'Avg' }, { t: 'p99' }], rows)}
${omittedLine(v, name === 'ports' ? 'ports' : 'addresses')}`;
}

function devicesSection(rep: HtmlReport): string {
  return `<section id="devices"><h2>Devices</h2>
<p class="lead">Port I/O and MMIO exits by address and direction, named by device where known (fixed PC devices; --iomap names PCI BARs).</p>
${deviceView('ports', 'I/O ports', rep.ports, rep)}
${deviceView('mmio', 'MMIO', rep.mmio, rep)}
</section>`;
}

function vcpusSection(rep: HtmlReport): string {
  const rows = rep.totals.perVcpu.map((v) => {
    const h = v.handlingShare, i = v.idleShare;
    return { label: v.label, segments: [{ name: 'exit handling', value: h, color: PALETTE[3] }, { name: 'idle (HLT/MWAIT)', value: i, color: PALETTE[5] }, { name: 'in guest', value: Math.max(0, 1 - h - i), color: '#c8d0da' }], text: `${fmtInt(v.exits)} exits, ${fmtNs(v.wallNs)}` };
  });
  const trows = rep.totals.perVcpu.map((v) => [td(v.label, 'l'), td(fmtInt(v.exits)), td(fmtNs(v.wallNs)), td(fmtNs(v.handlingNs)), td(fmtPct(v.handlingShare * 100)), td(fmtNs(v.idleNs)), td(fmtPct(v.idleShare * 100))]);
  return `<section id="vcpus"><h2>Handling vs idle per vcpu</h2>
<p class="lead">Where each vcpu's wall time (first exit to last entry) went: handling exits, halted with nothing to run, or running guest code.</p>
${figure('vcpu-time', 'Wall time per vcpu', stackedChart(rows, { ariaLabel: 'handling, idle and guest time per vcpu' }))}
${table('vcpus-table', [{ t: 'vcpu', l: true }, { t: 'Exits' }, { t: 'Wall' }, { t: 'Handling' }, { t: 'of wall' }, { t: 'Idle' }, { t: 'of wall' }], trows)}
</section>`;
}

function splitSection(rep: HtmlReport): string {
  const s = rep.totals.split;
  if (!s) return `<section id="split"><h2>Guest kernel vs user</h2><p class="muted">Needs the guest kernel's map (--map) to tell kernel from user addresses.</p></section>`;
  const seg = (k: 'exits' | 'timeNs'): Array<{ name: string; value: number; color: string }> => [
    { name: 'guest kernel', value: s.kernel[k], color: PALETTE[0] },
    { name: 'guest user', value: s.user[k], color: PALETTE[1] },
    { name: 'unresolved', value: s.unresolved[k], color: '#999999' },
  ];
  const rows = [
    { label: 'exits', segments: seg('exits'), text: fmtInt(s.kernel.exits + s.user.exits + s.unresolved.exits) },
    { label: 'exit time', segments: seg('timeNs'), text: fmtNs(s.kernel.timeNs + s.user.timeNs + s.unresolved.timeNs) },
  ];
  const trows = (['kernel', 'user', 'unresolved'] as const).map((k) => [td(k === 'unresolved' ? 'unresolved (kernel space, no symbol; firmware)' : `guest ${k}`, 'l'), td(fmtInt(s[k].exits)), td(fmtShare(s[k].exits, rep.totals.exits)), td(fmtNs(s[k].timeNs)), td(fmtShare(s[k].timeNs, rep.totals.timeNs))]);
  return `<section id="split"><h2>Guest kernel vs user</h2>
<p class="lead">Where the trapping instructions were: in guest kernel functions, in guest user space, or in kernel space no map covers.</p>
${figure('split', 'Exits and exit time by where they trapped', stackedChart(rows, { ariaLabel: 'guest kernel vs user exits and time' }))}
${table('split-table', [{ t: 'Where', l: true }, { t: 'Exits' }, { t: 'Share' }, { t: 'Exit time' }, { t: 'Share' }], trows)}
</section>`;
}

function vmsSection(rep: HtmlReport): string {
  const v = rep.vms!;
  const bars: BarRow[] = v.rows.map((r) => ({ label: r.key, values: [r.countPct, r.timePct], text: `${fmtInt(r.count)} · ${fmtNs(r.handlingNs)}` }));
  const rows = v.rows.map((r) => [td(r.key, 'l key'), td(fmtInt(r.count)), td(fmtPct(r.countPct)), td(fmtNs(r.handlingNs)), td(fmtPct(r.timePct)), td(r.idleNs ? fmtNs(r.idleNs) : '-'), td(topReasons(r, 3), 'l')]);
  return `<section id="vms"><h2>Per VM</h2>
${figure('vms', 'Share of exits and of handling time per VM', barChart(bars, [{ name: 'share of exits', color: PALETTE[0] }, { name: 'share of handling', color: PALETTE[1] }], { ariaLabel: 'exits per VM', max: 100 }))}
${table('vms-table', [{ t: 'VM', l: true }, { t: 'Samples' }, { t: 'Samples%' }, { t: 'Handling' }, { t: 'Handling%' }, { t: 'Idle' }, { t: 'Top reasons', l: true }], rows)}
</section>`;
}

function estimateSection(rep: HtmlReport): string {
  const e = rep.estimate!;
  const parts: string[] = [];
  if (e.passes.length) {
    const steps = e.passes.map((p) => ({
      label: p.spec, delta: p.savedNs, ci: p.savedNsCI,
      text: fmtNs(p.savedNs),
      title: `${p.spec}: saves ${fmtNs(p.savedNs)} [95% CI ${fmtNs(p.savedNsCI[0])}, ${fmtNs(p.savedNsCI[1])}], exits ${fmtInt(p.exitsBefore)} -> ${fmtInt(p.exitsAfter)}, speedup ${fmtSpeedup(p.speedupLow, 2)} .. ${fmtSpeedup(p.speedupHigh, 3)}`,
    }));
    const total = e.cumulative
      ? { label: 'all passes', value: e.cumulative.savedNs, text: fmtNs(e.cumulative.savedNs), ci: e.cumulative.savedNsCI }
      : { label: 'total', value: e.passes[0].savedNs, text: fmtNs(e.passes[0].savedNs), ci: e.passes[0].savedNsCI };
    parts.push(figure('estimate', 'Saved time per pass (each after the ones before it), with 95% intervals', waterfallChart(steps, total, { fmt: nsText, ariaLabel: 'estimated saved time per pass' })));
    const all = [...e.passes, ...(e.cumulative ? [e.cumulative] : [])];
    parts.push(table('estimate-table', [{ t: 'Pass', l: true }, { t: 'Exits before -> after' }, { t: 'Exits saved' }, { t: 'Exit time saved' }, { t: 'Saved in all [95% CI]' }, { t: 'Speedup I/O-bound .. CPU-bound' }],
      all.map((p) => [
        td(p.name === 'cumulative' ? `all ${all.length - 1} passes` : p.spec, 'l key'),
        td(`${fmtInt(p.exitsBefore)} -> ${fmtInt(p.exitsAfter)}`),
        td(p.exitsSavedRange[0] === p.exitsSavedRange[1] ? fmtInt(p.exitsSavedRange[0]) : `${fmtInt(p.exitsSavedRange[0])} .. ${fmtInt(p.exitsSavedRange[1])}`),
        td(p.exitTimeSavedRange[0] === p.exitTimeSavedRange[1] ? fmtNs(p.exitTimeSavedRange[0]) : `${fmtNs(p.exitTimeSavedRange[0])} .. ${fmtNs(p.exitTimeSavedRange[1])}`),
        td(`${fmtNs(p.savedNs)} [${fmtNs(p.savedNsCI[0])}, ${fmtNs(p.savedNsCI[1])}]`),
        td(`${fmtSpeedup(p.speedupLow, 2)} .. ${fmtSpeedup(p.speedupHigh, 3)}`),
      ])));
  } else {
    parts.push('<p class="muted">No pass changed anything in this trace.</p>');
  }
  const notes = [
    ...e.passes.filter((p) => p.verdict === 'nothing-to-change').map((p) => `${p.spec}: nothing to change (${p.why})`),
    ...e.notApplied.map((n) => `${n.name}: ${n.verdict === 'not-estimable' ? 'not estimable from exits' : 'not applicable to this trace'}: ${n.why}`),
    ...[...new Set(e.passes.flatMap((p) => p.assumptions))].map((a) => `assumes: ${a}`),
  ];
  return `<section id="estimate"><h2>What the optimizations would buy</h2>
<p class="lead">exitscope estimate: each pass replays the trace after the ones before it. Saved time = exit handling time removed + one hardware transition (${fmtNs(e.inferred.transitionNs.value)}, ${e.inferred.transitionNs.inferred ? 'inferred from the trace' : 'assumed'}) per exit removed + guest time that goes with the exits.</p>
${parts.join('\n')}
${notes.length ? `<ul class="notes">${notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
</section>`;
}

/** JSON inside <script>: nothing in it may close the element or open a comment. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export function renderHtmlReport(rep: HtmlReport, assets: PageAssets = loadAssets()): string {
  const empty = rep.totals.exits === 0;
  const sections: Array<[string, string, string]> = [];
  if (!empty) {
    sections.push(['functions', 'Hot functions', functionsSection(rep)]);
    sections.push(['reasons', 'Reasons', reasonsSection(rep)]);
    if (rep.exitRate) sections.push(['timeline', 'Over time', timelineSection(rep)]);
    sections.push(['durations', 'Durations', durationsSection(rep)]);
    sections.push(['devices', 'Devices', devicesSection(rep)]);
    sections.push(['vcpus', 'vcpus', vcpusSection(rep)]);
    sections.push(['split', 'Kernel vs user', splitSection(rep)]);
    if (rep.vms) sections.push(['vms', 'VMs', vmsSection(rep)]);
    if (rep.estimate) sections.push(['estimate', 'Estimate', estimateSection(rep)]);
  }
  const i = rep.inputs;
  const noExits = empty ? `<div class="notice" id="no-exits"><strong>No VM exits in ${i.length > 1 ? 'these traces' : 'this trace'}.</strong> ${esc(i.map((x) => `${x.path}: ${fmtInt(x.lines)} ${plural(x.lines, 'line')}, ${fmtInt(x.events)} ${plural(x.events, 'event')}, ${fmtInt(x.skipped)} skipped, ${fmtInt(x.rejected)} rejected`).join('; '))}. Nothing to chart: was the trace recorded with the kvm:kvm_exit event enabled?</div>` : '';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${esc(rep.generated.tool)}">
<title>${esc(rep.title)}</title>
<style>${assets.uplotCss}</style>
<style>${CSS}</style>
</head><body>
${header(rep)}
${sections.length ? `<nav>${sections.map(([id, t]) => `<a href="#${id}">${esc(t)}</a>`).join('')}</nav>` : ''}
<main>
${noExits}
${sections.map((s) => s[2]).join('\n')}
</main>
<script type="application/json" id="exitscope-data">${scriptJson(rep)}</script>
${empty ? '' : `<script>${assets.uplotJs}</script>
<script>(${drawCharts.toString()})(JSON.parse(document.getElementById('exitscope-data').textContent), uPlot);</script>`}
</body></html>
`;
}
