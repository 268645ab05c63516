/**
 * `exitscope reproduce`: the paper's Tables 1-4 and Figs. 7-9 rebuilt from
 * emulated runs, side by side with the paper's numbers (traces/paper-data.json,
 * each with its source table). Tables go through the same `analyze` a user
 * runs; figures compare workload metrics of baseline and optimized runs. Every
 * check says whether the model reaches the paper, and where it does not, says
 * so instead of forcing it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { analyze, type AnalyzeReport, type Dimension } from '../analyze/index.js';
import type { EmulatorConfigInput } from '../emulator/config.js';
import { emulationStream, GUEST_MAP, prepareEmulation, type EmulationSummary } from '../emulator/index.js';
import { ExitscopeError } from '../model/errors.js';

export const ReproCheckSchema = z.object({ what: z.string(), paper: z.string(), model: z.string(), ok: z.boolean() });
export const ReproItemSchema = z.object({
  id: z.string(),
  title: z.string(),
  source: z.string().describe('The paper\'s caption of this table or figure'),
  table: z.object({ head: z.array(z.string()), rows: z.array(z.array(z.string())) }),
  checks: z.array(ReproCheckSchema),
  notes: z.array(z.string()),
});
export const ReproduceReportSchema = z.object({ schema: z.literal('exitscope.reproduce/v1'), items: z.array(ReproItemSchema) });

export type ReproCheck = z.infer<typeof ReproCheckSchema>;
export type ReproItem = z.infer<typeof ReproItemSchema>;
export type ReproduceReport = z.infer<typeof ReproduceReportSchema>;

/** The paper's tables and figures `reproduce` rebuilds, in order. */
export const REPRO_IDS = ['table1', 'table2', 'table3', 'table4', 'fig7', 'fig8', 'sched', 'fig9'] as const;

const pct = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;
const gain = (base: number, opt: number): number => (opt / base - 1) * 100;

export function paperData(): any {
  return JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'traces', 'paper-data.json'), 'utf8'));
}

async function run(cfg: EmulatorConfigInput, analyzeAs?: { by: Dimension; reasons?: string[] }): Promise<{ summary: EmulationSummary; report: AnalyzeReport | null }> {
  const em = prepareEmulation(cfg, 'reproduce');
  if (!analyzeAs) {
    for await (const _ of em.chunks()) void _;
    return { summary: em.summary!, report: null };
  }
  const report = await analyze({ inputs: [emulationStream(em)], maps: [GUEST_MAP], by: analyzeAs.by, reasons: analyzeAs.reasons, top: 0 });
  return { summary: em.summary!, report };
}

export interface ReproduceOptions {
  /** Multiplies every simulated duration (tests use a small scale). */
  scale?: number;
  seed?: number;
  only?: readonly string[];
}

export async function reproduce(opts: ReproduceOptions = {}): Promise<ReproduceReport> {
  for (const o of opts.only ?? []) if (!(REPRO_IDS as readonly string[]).includes(o)) throw new ExitscopeError(`reproduce --only: unknown item '${o}' (choose from: ${REPRO_IDS.join(', ')})`);
  const paper = paperData();
  const k = opts.scale ?? 1;
  const seed = opts.seed ?? 1;
  const want = (id: string): boolean => !opts.only || opts.only.includes(id);
  const items: ReproItem[] = [];

  if (want('table1')) {
    const { report } = await run({ workload: 'jbb', vcpus: 1, duration: 10 * k, seed }, { by: 'address' });
    const rows = report!.rows;
    const top5 = new Set(rows.slice(0, 5).map((r) => r.address));
    const t = paper.table1.rows.map((p: any) => {
      const m = rows.find((r) => r.address === p.address);
      return { p, m };
    });
    items.push({
      id: 'table1', title: 'Table 1: hot functions, SPECjbb (jbb, 1 vcpu, 1000 Hz)', source: paper.table1.caption,
      table: {
        head: ['trap address', 'function', 'paper count', 'paper time%', 'model key', 'model count', 'model time%'],
        rows: t.map(({ p, m }: any) => [p.address, p.function, String(p.count), p.pct.toFixed(2), m?.key ?? '-', m ? String(m.count) : '-', m ? m.timePct.toFixed(2) : '-']),
      },
      checks: [
        { what: 'the five trap addresses are the model\'s top five by count', paper: 'top 5', model: [...top5].join(' '), ok: t.every(({ p }: any) => top5.has(p.address)) },
        ...t.map(({ p, m }: any) => ({ what: `time share of ${p.function} ${p.address} within 5 points`, paper: `${p.pct.toFixed(2)}%`, model: m ? `${m.timePct.toFixed(2)}%` : 'absent', ok: !!m && Math.abs(m.timePct - p.pct) <= 5 })),
      ],
      notes: ['The paper\'s five counts agree within 1.2%: one exit of each per tick. Their order is noise, so they are compared as a set.'],
    });
  }

  if (want('table2')) {
    const { report } = await run({ workload: 'net', nic: 'rtl8139', netTest: 'TCP_STREAM', vcpus: 1, duration: 5 * k, seed }, { by: 'function' });
    const rows = report!.rows.slice(0, 5);
    const order = rows.map((r) => r.symbol);
    const paperOrder = paper.table2.rows.map((p: any) => p.function);
    items.push({
      id: 'table2', title: 'Table 2: hot functions, netperf TCP_STREAM on rtl8139 (1 vcpu)', source: paper.table2.caption,
      table: {
        head: ['#', 'paper function', 'paper count', 'paper time%', 'model function', 'model count', 'model time%'],
        rows: paper.table2.rows.map((p: any, i: number) => [String(i + 1), p.function, String(p.count), p.pct.toFixed(2), rows[i]?.symbol ?? '-', rows[i] ? String(rows[i].count) : '-', rows[i] ? rows[i].timePct.toFixed(2) : '-']),
      },
      checks: [
        { what: 'same top five functions in the same order', paper: paperOrder.join(', '), model: order.join(', '), ok: order.join() === paperOrder.join() },
        ...paper.table2.rows.slice(0, 4).map((p: any, i: number) => ({ what: `time share of ${p.function} within 5 points`, paper: `${p.pct.toFixed(2)}%`, model: rows[i] ? `${rows[i].timePct.toFixed(2)}%` : '-', ok: !!rows[i] && rows[i].symbol === p.function && Math.abs(rows[i].timePct - p.pct) <= 5 })),
      ],
      notes: ['The model\'s guest receives the stream: Table 2\'s counts (iowrite32 below spin_lock_irqrestore) only fit a receiving guest.'],
    });
  }

  if (want('table3')) {
    const { report } = await run({ workload: 'disk', disk: 'ata', vcpus: 1, duration: 4 * k, seed }, { by: 'callsite', reasons: ['IO_INSTRUCTION'] });
    const accessors = new Set(['acpi_pm_read', 'ioread8', 'ioread16', 'ioread32', 'iowrite8', 'iowrite16', 'iowrite32']);
    const rows = report!.rows.filter((r) => accessors.has(r.symbol ?? '')).slice(0, 4);
    items.push({
      id: 'table3', title: 'Table 3: hot I/O accessors and their callers, bonnie++ on libata (1 vcpu)', source: paper.table3.caption,
      table: {
        head: ['#', 'paper trap function', 'paper caller (address)', 'model trap', 'model caller (address)', 'model count'],
        rows: paper.table3.rows.map((p: any, i: number) => [String(i + 1), p.function, `${p.caller} (${p.callerAddress})`, rows[i]?.key.split(' <- ')[0] ?? '-', rows[i] ? `${rows[i].caller} (${rows[i].callerAddress})` : '-', rows[i] ? String(rows[i].count) : '-']),
      },
      checks: [
        { what: 'same four (accessor, caller) pairs in the same order', paper: paper.table3.rows.map((p: any) => `${p.function}<-${p.caller}`).join(', '), model: rows.map((r) => `${r.symbol}<-${r.caller}`).join(', '), ok: rows.map((r) => `${r.symbol}<-${r.caller}`).join() === paper.table3.rows.map((p: any) => `${p.function}<-${p.caller}`).join() },
        { what: 'caller return addresses as in the paper', paper: paper.table3.rows.map((p: any) => p.callerAddress).join(' '), model: rows.map((r) => r.callerAddress).join(' '), ok: rows.map((r) => r.callerAddress).join() === paper.table3.rows.map((p: any) => p.callerAddress).join() },
      ],
      notes: ['Rows are exact (trap address, return address) pairs of the accessor functions (`analyze --by callsite`), as the paper intercepted callers of those functions.', paper.table3.note],
    });
  }

  if (want('table4')) {
    const base = await run({ workload: 'disk', disk: 'ide', diskTest: 'write', vcpus: 1, duration: 4 * k, seed }, { by: 'address', reasons: ['IO_INSTRUCTION'] });
    const opt = await run({ workload: 'disk', disk: 'ide', diskTest: 'write', vcpus: 1, duration: 4 * k, seed, guestOpts: ['coalesce-io'] }, { by: 'address', reasons: ['IO_INSTRUCTION'] });
    const count = (r: AnalyzeReport, a: string): number => r.rows.filter((x) => x.address === a).reduce((s, x) => s + x.count, 0);
    const tp = gain(base.summary.metric.value, opt.summary.metric.value);
    const rows = paper.table4.rows.map((p: any) => {
      const b = count(base.report!, p.address), a = count(opt.report!, p.address);
      return { p, b, a, paperCut: (1 - p.after / p.before) * 100, modelCut: b ? (1 - a / b) * 100 : 0 };
    });
    items.push({
      id: 'table4', title: 'Table 4: exits of inb/outb before and after merging the IDE fragments (coalesce-io)', source: paper.table4.caption,
      table: {
        head: ['instruction address', 'paper before', 'paper after', 'paper cut', 'model before', 'model after', 'model cut'],
        rows: rows.map((r: any) => [r.p.address, String(r.p.before), String(r.p.after), pct(-r.paperCut), String(r.b), String(r.a), pct(-r.modelCut)]),
      },
      checks: [
        ...rows.map((r: any) => ({ what: `${r.p.address}: exits cut within 5 points of the paper`, paper: pct(-r.paperCut), model: pct(-r.modelCut), ok: Math.abs(r.modelCut - r.paperCut) <= 5 })),
        { what: 'write throughput moves less than 5%', paper: paper.table4.throughput, model: `${pct(tp)} (${base.summary.metric.value.toFixed(1)} -> ${opt.summary.metric.value.toFixed(1)} MB/s)`, ok: Math.abs(tp) < 5 },
      ],
      notes: ['Model before/after are per 4 simulated seconds of bonnie++ writes; the paper counted a whole run.'],
    });
  }

  if (want('fig7')) {
    const cases: Array<[string, EmulatorConfigInput]> = [
      ['SPECjbb-like (bops)', { workload: 'jbb', vcpus: 1, duration: 3 * k, seed }],
      ['bonnie++ block write (MB/s)', { workload: 'disk', diskTest: 'write', blockKB: [16], vcpus: 1, duration: 3 * k, seed }],
      ['netperf TCP_STREAM rtl8139 (Mb/s)', { workload: 'net', vcpus: 1, duration: 2 * k, seed }],
    ];
    const rows: string[][] = [];
    let best = -Infinity;
    for (const [name, c] of cases) {
      const a = (await run({ ...c, hz: 1000 })).summary.metric.value;
      const b = (await run({ ...c, hz: 100 })).summary.metric.value;
      best = Math.max(best, gain(a, b));
      rows.push([name, a.toFixed(1), b.toFixed(1), pct(gain(a, b))]);
    }
    const reached = best >= paper.fig7.maxImprovementPct * 0.66;
    items.push({
      id: 'fig7', title: 'Fig. 7: guest timer at 100 Hz vs 1000 Hz', source: paper.fig7.caption,
      table: { head: ['workload', '1000 Hz', '100 Hz', 'change'], rows },
      checks: [{ what: 'largest improvement near the paper\'s "up to 15%"', paper: paper.fig7.claim, model: `up to ${pct(best)}`, ok: reached }],
      notes: reached ? [] : [`The model does not reach the paper's figure: in the model a 1000 Hz tick (five exits plus the tick's own guest work) costs a busy vcpu only a few percent, so 100 Hz can win at most that (here ${pct(best)}). The paper's 15% likely includes effects the model leaves out (cache and TLB pollution by each tick, ticks waking idle vcpus that share host CPUs).`],
    });
  }

  if (want('fig8')) {
    const sizes = [1, 4, 16, 64];
    const a = (await run({ workload: 'disk', diskTest: 'write', blockKB: sizes, vcpus: 1, duration: 4 * k, seed })).summary.phases;
    const b = (await run({ workload: 'disk', diskTest: 'write', blockKB: sizes, vcpus: 1, duration: 4 * k, seed, guestOpts: ['no-pmtmr-verify'] })).summary.phases;
    const rows = a.map((p, i) => [p.name, p.value.toFixed(1), b[i].value.toFixed(1), pct(gain(p.value, b[i].value))]);
    items.push({
      id: 'fig8', title: 'Fig. 8: block write throughput with verify_pmtmr_rate removed', source: paper.fig8.caption,
      table: { head: ['block size', 'with (MB/s)', 'without (MB/s)', 'change'], rows },
      checks: [{ what: 'write throughput up at every block size', paper: paper.fig8.claim, model: rows.map((r) => `${r[0]} ${r[3]}`).join(', '), ok: a.every((p, i) => b[i].value > p.value) }],
      notes: [],
    });
  }

  if (want('sched')) {
    const a = (await run({ workload: 'disk', diskTest: 'both', blockKB: [16], vcpus: 1, duration: 4 * k, seed })).summary.phases;
    const b = (await run({ workload: 'disk', diskTest: 'both', blockKB: [16], vcpus: 1, duration: 4 * k, seed, iosched: 'noop' })).summary.phases;
    const w = gain(a[0].value, b[0].value), r = gain(a[1].value, b[1].value);
    items.push({
      id: 'sched', title: 'Guest I/O scheduler bypass (CFQ -> noop in the guest; Section 3.2.1)', source: paper.schedBypass.caption,
      table: { head: ['phase', 'cfq (MB/s)', 'noop (MB/s)', 'model change', 'paper change'], rows: [[a[0].name, a[0].value.toFixed(1), b[0].value.toFixed(1), pct(w), pct(paper.schedBypass.writePct)], [a[1].name, a[1].value.toFixed(1), b[1].value.toFixed(1), pct(r), pct(paper.schedBypass.readPct)]] },
      checks: [
        { what: 'write gain within 2 points', paper: pct(paper.schedBypass.writePct), model: pct(w), ok: Math.abs(w - paper.schedBypass.writePct) <= 2 },
        { what: 'read gain within 2 points', paper: pct(paper.schedBypass.readPct), model: pct(r), ok: Math.abs(r - paper.schedBypass.readPct) <= 2 },
      ],
      notes: ['This optimization changes guest CPU and waiting, not exits: an estimate from a trace cannot see it (exitscope estimate says so).'],
    });
  }

  if (want('fig9')) {
    const rows: string[][] = [];
    const checks: ReproCheck[] = [];
    for (const test of ['TCP_STREAM', 'UDP_STREAM', 'TCP_RR', 'UDP_RR'] as const) {
      const c: EmulatorConfigInput = { workload: 'net', nic: 'e1000', netTest: test, vcpus: 1, duration: 2 * k, seed };
      const on = await run({ ...c, napi: 'on' });
      const off = await run({ ...c, napi: 'off' });
      const g = gain(on.summary.metric.value, off.summary.metric.value);
      rows.push([test, `${on.summary.metric.value.toFixed(1)} ${on.summary.metric.unit}`, `${off.summary.metric.value.toFixed(1)} ${off.summary.metric.unit}`, pct(g)]);
      if ((paper.fig9.tests as string[]).includes(test)) checks.push({ what: `${test}: more than +60% without NAPI`, paper: '> +60%', model: pct(g), ok: g > paper.fig9.minImprovementPct });
    }
    const missed = checks.filter((c) => !c.ok).map((c) => c.what.split(':')[0]);
    items.push({
      id: 'fig9', title: 'Fig. 9: netperf on e1000 with and without NAPI', source: paper.fig9.caption,
      table: { head: ['test', 'NAPI', 'no NAPI', 'change'], rows },
      checks,
      notes: missed.length ? [`The model does not reach the paper on ${missed.join(', ')}: NAPI costs the model a fixed amount per interrupt (mask/unmask exits, ksoftirqd), which a request/response run pays once per transaction against a wire round trip that dominates it.`] : [],
    });
  }
  return { schema: 'exitscope.reproduce/v1', items };
}
