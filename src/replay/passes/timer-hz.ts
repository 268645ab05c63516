/**
 * timer-hz:TARGET[:from=HZ] (paper §3.1.2, Fig. 7): find the guest's timer
 * ticks, detect their rate, and keep TARGET/FROM of them.
 *
 * A tick is identified by its own source, never by name patterns that device
 * paths share: it is a run of exits on one vcpu holding the timer interrupt's
 * handler (timer_interrupt, smp_apic_timer_interrupt, sysvec_apic_timer_interrupt,
 * hrtimer_interrupt, ...) or its clock-event re-arm (TSC-deadline MSR 0x6e0,
 * x2APIC TMICT 0x838, LAPIC TMICT MMIO writes), with what follows it on that
 * vcpu: the interrupt's arrival right before it (EXTERNAL_INTERRUPT or the
 * preemption timer), its edge-triggered EOI, and the interrupt window its
 * irq_exit opens, if that comes last. Level-triggered (device) EOIs, device
 * I/O and another interrupt's arrival end a tick. PIT programming that no
 * handler runs (boot-time pit_load_count) is not a tick.
 *
 * The rate is reported only when the ticks are periodic (most intervals within
 * 10% of the median) and near a rate kernels are built with (100, 250, 300,
 * 1000 Hz); a guest whose timer is re-armed at irregular intervals is tickless
 * and the pass does not apply. A removed tick takes its exits and the guest
 * time between them; when it no longer wakes a halted vcpu, the HLT before it
 * and the HLT after it become one.
 */
import { z } from 'zod';
import { DIR_WRITE, F_CALLER, F_GPA, F_MSR, F_PORT, type ExitChunk } from '../../model/chunk.js';
import { REASONS } from '../../model/reasons.js';
import { NameClass, type ReplayContext } from '../context.js';
import { definePass, kv, num } from '../pass-def.js';
import { EDGE_ACK_FNS, LAPIC_BASE, LAPIC_EOI, LAPIC_TMICT_OFFSET, MSR_TSC_DEADLINE, MSR_X2APIC_EOI, MSR_X2APIC_TMICT, TIMER_HANDLER_FNS, TIMER_REARM_FNS } from '../../symbols/devices.js';
import { gapAfter, type ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

/** Rates kernels are built with (CONFIG_HZ). */
export const KERNEL_HZ = [100, 250, 300, 1000] as const;
const CLUSTER_GAP = 50_000;

export type TimerSource = 'pit' | 'lapic-periodic' | 'lapic-oneshot' | 'tsc-deadline' | 'unknown';

export interface VcpuTicks {
  vcpu: number;
  ticks: number;
  /** Median interval between ticks, ns (NaN with fewer than 2). */
  medianPeriodNs: number;
  /** Share of intervals within 10% of the median. */
  steady: number;
  periodic: boolean;
}

export interface TimerDetection {
  /** Per vcpu, [first, last] rows of each tick's exits. */
  clusters: Map<number, Array<[number, number]>>;
  /** Intervals between consecutive ticks of periodic vcpus. */
  periods: number[];
  source: TimerSource;
  /** periodic: a steady tick; tickless: the timer is re-armed at irregular intervals; mixed: periodic on some vcpus (busy), tickless on others (idle); none: no timer path. */
  mode: 'periodic' | 'tickless' | 'mixed' | 'none';
  /** The rate as measured (median period of the periodic vcpus), or null. */
  measuredHz: number | null;
  /** The CONFIG_HZ it matches, or null when it matches none. */
  hz: number | null;
  /** 0..1: share of steady intervals times closeness to the matched rate. */
  confidence: number;
  perVcpu: VcpuTicks[];
  /** One sentence for ledgers and advice. */
  summary: string;
}

/** What a function's name says about the timer path (bits, memoized per address by the context). */
const NAMED = 1, HANDLER = 2, REARM = 4, EDGE_ACK = 8, MSR_EOI = 16, SOFTIRQ = 32, PIT_HANDLER = 64;
const TIMER_NAMES = new NameClass((f) => f === null ? 0 : NAMED
  | (TIMER_HANDLER_FNS.has(f) ? HANDLER : 0)
  | (TIMER_REARM_FNS.has(f) ? REARM : 0)
  | (EDGE_ACK_FNS.has(f) ? EDGE_ACK : 0)
  | (/msr_eoi/.test(f) ? MSR_EOI : 0)
  | (/softirq|irq_exit/.test(f) ? SOFTIRQ : 0)
  | (f === 'timer_interrupt' ? PIT_HANDLER : 0));

const ripClass = (ctx: ReplayContext, c: ExitChunk, i: number): number => ctx.classOf(c.ripHi[i], c.ripLo[i], TIMER_NAMES);
/** The caller's bits; 0 (not even NAMED) when the exit has no caller or no function holds it. */
const callerClass = (ctx: ReplayContext, c: ExitChunk, i: number): number => (c.flags[i] & F_CALLER ? ctx.classOf(c.callerHi[i], c.callerLo[i], TIMER_NAMES) : 0);

function isHandlerFn(ctx: ReplayContext, c: ExitChunk, i: number): boolean {
  return (ripClass(ctx, c, i) & HANDLER) !== 0 || (callerClass(ctx, c, i) & HANDLER) !== 0;
}

function isRearm(ctx: ReplayContext, c: ExitChunk, i: number): boolean {
  if (c.flags[i] & F_MSR && (c.msr[i] === MSR_TSC_DEADLINE || c.msr[i] === MSR_X2APIC_TMICT) && c.dir[i] !== 1) return true;
  if (c.flags[i] & F_GPA && c.gpaHi[i] === 0 && c.gpaLo[i] === LAPIC_BASE + LAPIC_TMICT_OFFSET && c.dir[i] === DIR_WRITE) return true;
  return (ripClass(ctx, c, i) & REARM) !== 0;
}

const CORE = 1, CORE_ANCHOR = 3;

/**
 * Whether row i belongs to a tick (CORE: a handler, a re-arm, an edge EOI or a
 * PIT access) and whether it anchors one (CORE_ANCHOR: a handler or a re-arm);
 * 0 otherwise. The rules of isHandlerFn and isRearm, with the name classes of
 * the row looked up once. An edge EOI: an x2APIC EOI write whose caller is a
 * timer handler or unknown (every x2APIC EOI is the same WRMSR: the caller
 * tells the timer's from a device's, ioapic_ack_level, __common_interrupt); an
 * acking function's exit (the same caller rule for an x2APIC EOI without
 * kvm_msr detail); with no map, a bare EOI-register write (edge or level: only
 * next to a handler does it join a tick).
 */
function coreOf(ctx: ReplayContext, c: ExitChunk, i: number): number {
  const fl = c.flags[i];
  const rc = ctx.classOf(c.ripHi[i], c.ripLo[i], TIMER_NAMES);
  const cc = fl & F_CALLER ? ctx.classOf(c.callerHi[i], c.callerLo[i], TIMER_NAMES) : 0;
  if ((rc & (HANDLER | REARM)) !== 0 || (cc & HANDLER) !== 0) return CORE_ANCHOR;
  if (fl & F_MSR && (c.msr[i] === MSR_TSC_DEADLINE || c.msr[i] === MSR_X2APIC_TMICT) && c.dir[i] !== 1) return CORE_ANCHOR;
  if (fl & F_GPA && c.gpaHi[i] === 0 && c.gpaLo[i] === LAPIC_BASE + LAPIC_TMICT_OFFSET && c.dir[i] === DIR_WRITE) return CORE_ANCHOR;
  const timerCaller = (cc & NAMED) === 0 || (cc & HANDLER) !== 0;
  if (fl & F_MSR) return c.msr[i] === MSR_X2APIC_EOI && timerCaller ? CORE : isPitAccess(c, i) ? CORE : 0;
  if (rc & EDGE_ACK) return !(rc & MSR_EOI && fl & F_CALLER) || timerCaller ? CORE : isPitAccess(c, i) ? CORE : 0;
  if (!(rc & NAMED) && (fl & F_GPA) !== 0 && c.gpaHi[i] === 0 && c.gpaLo[i] === LAPIC_EOI) return CORE;
  return isPitAccess(c, i) ? CORE : 0;
}

function isPitAccess(c: ExitChunk, i: number): boolean {
  return (c.flags[i] & F_PORT) !== 0 && c.port[i] >= 0x40 && c.port[i] <= 0x43;
}

/** Per vcpu, the [first, last] rows of each timer tick's exits (see the file comment for what a tick is). */
function tickClusters(trace: ReplayTrace, ctx: ReplayContext): { clusters: Map<number, Array<[number, number]>>; sources: Set<TimerSource> } {
  const arrival = REASONS.mask('EXTERNAL_INTERRUPT', 'PREEMPTION_TIMER');
  const windows = REASONS.mask('INTERRUPT_WINDOW');
  const clusters = new Map<number, Array<[number, number]>>();
  const sources = new Set<TimerSource>();
  for (const [v, c] of trace.vcpus) {
    const list: Array<[number, number]> = [];
    const handler = (i: number): boolean => isHandlerFn(ctx, c, i);
    const rearm = (i: number): boolean => isRearm(ctx, c, i);
    const core = (i: number): boolean => coreOf(ctx, c, i) !== 0;
    const near = (i: number): boolean => gapAfter(c, i) < CLUSTER_GAP;
    // The window irq_exit opens for softirqs, not one a device path opens (spin_unlock_irqrestore in net_rx_action): by name when there is a map.
    const irqExitWindow = (i: number): boolean => {
      const f = ripClass(ctx, c, i);
      return (f & NAMED) === 0 || (f & SOFTIRQ) !== 0 || (callerClass(ctx, c, i) & SOFTIRQ) !== 0;
    };
    let i = 0;
    while (i < c.length) {
      const s = i;
      let j = i;
      if (arrival[c.reason[j]]) {
        if (j + 1 < c.length && near(j) && core(j + 1)) j++;
        else { i++; continue; }
      } else if (!core(j)) { i++; continue; }
      let e = j;
      let anchored = coreOf(ctx, c, j) === CORE_ANCHOR;
      for (let k; e + 1 < c.length && near(e) && (k = coreOf(ctx, c, e + 1)) !== 0;) { e++; if (k === CORE_ANCHOR) anchored = true; }
      if (anchored && e + 1 < c.length && near(e) && windows[c.reason[e + 1]] && irqExitWindow(e + 1)) e++;
      if (anchored) {
        list.push([s, e]);
        for (let k = s; k <= e; k++) {
          if (c.flags[k] & F_MSR && c.msr[k] === MSR_TSC_DEADLINE) sources.add('tsc-deadline');
          // PIT before the re-arm functions: pit_next_event re-arms a one-shot PIT through its ports.
          else if (isPitAccess(c, k) || (ripClass(ctx, c, k) & PIT_HANDLER) !== 0 || (c.flags[k] & F_PORT && c.port[k] === 0x20)) sources.add('pit');
          else if (rearm(k)) sources.add('lapic-oneshot');
          else if (handler(k)) sources.add('lapic-periodic');
        }
      }
      i = e + 1;
    }
    clusters.set(v, list);
  }
  return { clusters, sources };
}

function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The detection per trace (advise asks for the base trace's from several candidates; traces are not changed once built). */
const detected = new WeakMap<ReplayTrace, { ctx: ReplayContext; det: TimerDetection }>();

/** Finds the ticks, their source and whether they are periodic at a rate kernels are built with (read-only result, shared by the callers on one trace). */
export function detectTimer(trace: ReplayTrace, ctx: ReplayContext): TimerDetection {
  const hit = detected.get(trace);
  if (hit && hit.ctx === ctx) return hit.det;
  const det = detectTimerOnce(trace, ctx);
  detected.set(trace, { ctx, det });
  return det;
}

function detectTimerOnce(trace: ReplayTrace, ctx: ReplayContext): TimerDetection {
  const { clusters, sources } = tickClusters(trace, ctx);
  const perVcpu: VcpuTicks[] = [];
  const periods: number[] = [];
  for (const [v, list] of clusters) {
    const c = trace.vcpus.get(v)!;
    const ps: number[] = [];
    for (let k = 1; k < list.length; k++) ps.push(c.ts[list[k][0]] - c.ts[list[k - 1][0]]);
    const m = median(ps);
    const steady = ps.length ? ps.filter((p) => Math.abs(p - m) <= 0.1 * m).length / ps.length : 0;
    const periodic = list.length >= 5 && steady >= 0.6;
    perVcpu.push({ vcpu: v, ticks: list.length, medianPeriodNs: m, steady, periodic });
    if (periodic) periods.push(...ps.filter((p) => Math.abs(p - m) <= 0.1 * m));
  }
  const ticks = perVcpu.reduce((s, x) => s + x.ticks, 0);
  const periodicV = perVcpu.filter((x) => x.periodic);
  const withTicks = perVcpu.filter((x) => x.ticks >= 3);
  const source: TimerSource = sources.has('tsc-deadline') ? 'tsc-deadline' : sources.has('pit') ? 'pit' : sources.has('lapic-oneshot') ? 'lapic-oneshot' : sources.has('lapic-periodic') ? 'lapic-periodic' : 'unknown';
  const srcName = { pit: 'PIT', 'lapic-periodic': 'LAPIC timer (periodic)', 'lapic-oneshot': 'LAPIC timer (one-shot)', 'tsc-deadline': 'LAPIC timer in TSC-deadline mode', unknown: 'timer' }[source];
  if (ticks < 3) return { clusters, periods, source, mode: 'none', measuredHz: null, hz: null, confidence: 0, perVcpu, summary: 'no timer interrupts found' };
  if (!periodicV.length) {
    return { clusters, periods, source, mode: 'tickless', measuredHz: null, hz: null, confidence: 0, perVcpu, summary: `tickless: ${ticks} ${srcName} interrupts re-armed at irregular intervals (no vcpu has a steady tick)` };
  }
  const measured = 1e9 / median(periods);
  let best: number | null = null, closeness = 0;
  for (const hz of KERNEL_HZ) {
    const rel = Math.abs(measured - hz) / hz;
    if (rel <= 0.05 && (best === null || rel < Math.abs(measured - best) / best)) { best = hz; closeness = 1 - rel / 0.05; }
  }
  const steady = periodicV.reduce((s, x) => s + x.steady * x.ticks, 0) / periodicV.reduce((s, x) => s + x.ticks, 0);
  const confidence = best === null ? 0 : Math.round(steady * (0.5 + 0.5 * closeness) * 100) / 100;
  const mode = periodicV.length === withTicks.length ? 'periodic' : 'mixed';
  const where = mode === 'mixed' ? ` on vcpu ${periodicV.map((x) => x.vcpu).join(', ')} (busy); tickless on vcpu ${withTicks.filter((x) => !x.periodic).map((x) => x.vcpu).join(', ')} (idle)` : '';
  const summary = best === null
    ? `${srcName} interrupts recur every ${(1e9 / measured / 1e3).toFixed(0)} us (${measured.toFixed(1)} Hz), not a rate kernels are built with (${KERNEL_HZ.join(', ')} Hz): not a tick`
    : `${best} Hz ${srcName} tick${where} (measured ${measured.toFixed(1)} Hz; ${(steady * 100).toFixed(0)}% of intervals within 10% of the period; confidence ${confidence.toFixed(2)})`;
  return { clusters, periods, source, mode, measuredHz: measured, hz: best, confidence, perVcpu, summary };
}

/** Per vcpu, the [first, last] rows of each tick and the intervals between them (kept for callers of the old name). */
export function findTickClusters(trace: ReplayTrace, ctx: ReplayContext): { clusters: Map<number, Array<[number, number]>>; periods: number[] } {
  const d = detectTimer(trace, ctx);
  return { clusters: d.clusters, periods: d.periods };
}

export class TimerHzPass implements ReplayPass {
  readonly name = 'timer-hz';
  constructor(readonly spec: string, private readonly target: number, private readonly from?: number) {}

  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const det = detectTimer(trace, ctx);
    const notApplicable = (why: string): PassResult => {
      ledger.verdict = 'not-applicable';
      ledger.why = why;
      return { trace, ledger: closeLedger(ledger, trace) };
    };
    if (det.mode === 'none') return notApplicable(ctx.symbols ? 'no timer interrupt path found in this trace: nothing to thin' : 'needs the guest kernel map (--map) to find the timer path');
    if (det.mode === 'tickless') return notApplicable(`the guest is ${det.summary}: its timer fires when timers are due, not at CONFIG_HZ, so a lower tick rate does not remove these exits`);
    if (det.hz === null && this.from === undefined) return notApplicable(`${det.summary}; give from=HZ if it is one`);
    const from = this.from ?? det.hz!;
    const ratio = Math.min(1, this.target / from);
    const periodicV = new Set(det.perVcpu.filter((x) => x.periodic).map((x) => x.vcpu));
    ledger.notes.push(`${det.summary}${this.from ? `; from=${this.from} Hz given` : ''}; keeping ${(ratio * 100).toFixed(1)}% of ticks${det.mode === 'mixed' ? ' on the vcpus that tick' : ''}`);
    const T = ctx.transition.value;
    const hlt = REASONS.mask('HLT');
    let merged = 0;
    const out = trace.derive((v, c, o) => {
      const list = periodicV.has(v) ? det.clusters.get(v)! : [];
      const drop = new Uint8Array(c.length);
      list.forEach(([s, e], k) => {
        if (Math.floor((k + 1) * ratio) > Math.floor(k * ratio)) return;
        for (let j = s; j <= e; j++) {
          drop[j] = 1;
          if (j < e) ledger.guestSavedNs[ctx.window(c.ts[j])] += Math.max(0, gapAfter(c, j) - T);
        }
      });
      // A halted vcpu that a removed tick no longer wakes stays in one HLT: the HLT after it merges into the one before.
      // Kept rows go over in runs [run, i) (a column at a time); lastKept is the output row of the last one copied.
      let lastKept = -1, droppedSince = false, run = 0;
      const flush = (to: number): void => {
        if (to > run) { o.copyRows(c, run, to); lastKept = o.length - 1; }
      };
      for (let i = 0; i < c.length; i++) {
        if (drop[i]) { flush(i); run = i + 1; ledger.removed++; droppedSince = true; continue; }
        // (After a drop the run is empty: lastKept is current.)
        if (droppedSince && lastKept >= 0 && hlt[c.reason[i]] && hlt[o.reason[lastKept]] && o.dur[lastKept] === o.dur[lastKept] && c.dur[i] === c.dur[i]) {
          o.dur[lastKept] = c.ts[i] + c.dur[i] - o.ts[lastKept];
          ledger.removed++;
          ledger.changed++;
          merged++;
          droppedSince = false;
          run = i + 1;
          continue;
        }
        droppedSince = false;
      }
      flush(c.length);
    });
    if (merged) ledger.notes.push(`${merged} HLT exits merge into the HLT before them (the removed tick no longer wakes the halted vcpu)`);
    ledger.assumptions.push(
      'a tick is the timer interrupt\'s own exits on one vcpu: its arrival, its handler or clock-event re-arm, its edge-triggered EOI and the interrupt window its irq_exit opens, under 50 us apart; device exits and level-triggered EOIs end it',
      'removing a tick removes its exits and the guest time between them (the handler\'s work); work the tick triggers later (timers, scheduling) is assumed unchanged',
      'a halted vcpu the removed tick would have woken stays halted: the HLT exits before and after it become one',
    );
    return { trace: out, ledger: closeLedger(ledger, out) };
  }
}

export const timerHz = definePass({
  name: 'timer-hz',
  grammar: 'timer-hz:TARGET[:from=HZ]',
  summary: 'lower the guest timer tick rate (the paper\'s §3.1.2, Fig. 7)',
  schema: z.strictObject({ pass: z.literal('timer-hz'), hz: z.number().positive(), from: z.number().positive().optional() }),
  parse(args) {
    const o = kv(args.slice(1));
    return { pass: 'timer-hz', hz: Number(args[0]), from: num(o.from) };
  },
  print: (s) => `timer-hz:${s.hz}${s.from ? `:from=${s.from}` : ''}`,
  estimable: true,
  build: (s, _env, text) => [new TimerHzPass(text, s.hz, s.from)],
});
