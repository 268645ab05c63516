/**
 * timer-hz:TARGET[:from=HZ] (paper §3.1.2, Fig. 7): find the guest's timer
 * ticks (clusters of timer-path exits: the interrupt's arrival, PIT/PIC/LAPIC
 * accesses, EOIs, the softirq interrupt window, a TSC-deadline re-arm), detect
 * the tick rate from their period (or take `from`), and keep TARGET/FROM of
 * them. A removed tick takes its exits and the guest time between them (the
 * tick handler's own work).
 */
import { z } from 'zod';
import { F_MSR, F_PORT, type ExitChunk } from '../../model/chunk.js';
import { REASONS } from '../../model/reasons.js';
import type { ReplayContext } from '../context.js';
import { definePass, kv, num } from '../pass-def.js';
import { TIMER_PORTS } from '../../symbols/devices.js';
import { gapAfter, type ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

const ANCHOR_FN = /^(smp_apic_timer_interrupt|apic_timer_interrupt|sysvec_apic_timer_interrupt|local_apic_timer_interrupt|hrtimer_interrupt|timer_interrupt|tick_handle_periodic|lapic_next_event|lapic_next_deadline|pit_next_event)$/;
const PATH_FN = /timer|tick|apic|ack_ioapic|do_softirq|irq_exit|hrtimer|clockevent|pit_|lapic/;
const TIMER_MSRS = new Set([0x6e0, 0x838]);

export class TimerHzPass implements ReplayPass {
  readonly name = 'timer-hz';
  constructor(readonly spec: string, private readonly target: number, private readonly from?: number) {}

  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const { clusters, periods } = findTickClusters(trace, ctx);
    const total = [...clusters.values()].reduce((s, l) => s + l.length, 0);
    if (total < 3) {
      ledger.verdict = 'not-applicable';
      ledger.why = ctx.symbols ? 'no periodic timer path found in this trace: nothing to thin' : 'needs the guest kernel map (--map) to find the timer path';
      return { trace, ledger: closeLedger(ledger, trace) };
    }
    periods.sort((a, b) => a - b);
    const median = periods[Math.floor(periods.length / 2)];
    const detected = 1e9 / median;
    const from = this.from ?? detected;
    const ratio = Math.min(1, this.target / from);
    ledger.notes.push(`tick rate ${this.from ? `given: ${this.from} Hz (detected ${detected.toFixed(1)} Hz)` : `detected: ${detected.toFixed(1)} Hz from the ${median.toFixed(0)} ns median period of ${total} timer-path clusters`}; keeping ${(ratio * 100).toFixed(1)}% of ticks`);
    const T = ctx.transition.value;
    const out = trace.derive((v, c, o) => {
      const list = clusters.get(v)!;
      const drop = new Uint8Array(c.length);
      list.forEach(([s, e], k) => {
        if (Math.floor((k + 1) * ratio) > Math.floor(k * ratio)) return;
        for (let j = s; j <= e; j++) {
          drop[j] = 1;
          if (j < e) ledger.guestSavedNs[ctx.window(c.ts[j])] += Math.max(0, gapAfter(c, j) - T);
        }
      });
      for (let i = 0; i < c.length; i++) {
        if (drop[i]) ledger.removed++;
        else o.copyRow(c, i);
      }
    });
    ledger.assumptions.push(
      'a tick is a cluster of timer-path exits (interrupt arrival, PIT/PIC/LAPIC timer accesses, EOI, softirq window) less than 50 us apart around a timer function',
      'removing a tick removes its exits and the guest time between them (the handler\'s work); work the tick triggers later (timers, scheduling) is assumed unchanged',
    );
    return { trace: out, ledger: closeLedger(ledger, out) };
  }
}

/** Per vcpu, the [first, last] rows of each timer tick's cluster of exits, and the periods between ticks. */
export function findTickClusters(trace: ReplayTrace, ctx: ReplayContext): { clusters: Map<number, Array<[number, number]>>; periods: number[] } {
  const extIrq = REASONS.lookup('EXTERNAL_INTERRUPT');
  const clusterGap = 50_000;
  const isAnchor = (c: ExitChunk, i: number): boolean => {
    const f = ctx.fnName(c.ripHi[i], c.ripLo[i]);
    if (f && ANCHOR_FN.test(f)) return true;
    if (c.flags[i] & F_PORT && (c.port[i] === 0x40 || c.port[i] === 0x43)) return true;
    return (c.flags[i] & F_MSR) !== 0 && TIMER_MSRS.has(c.msr[i]);
  };
  const onPath = (c: ExitChunk, i: number): boolean => {
    if (isAnchor(c, i)) return true;
    const canon = REASONS.get(c.reason[i]).canonical;
    if (canon === 'INTERRUPT_WINDOW' || canon === 'EOI_INDUCED') return true;
    if (c.flags[i] & F_PORT && TIMER_PORTS.has(c.port[i])) return true;
    const f = ctx.fnName(c.ripHi[i], c.ripLo[i]);
    return (canon === 'APIC_ACCESS' || canon === 'APIC_WRITE' || canon === 'MSR_WRITE') && !!f && PATH_FN.test(f);
  };
  // Clusters per vcpu: [first, last] row ranges holding an anchor.
  const clusters = new Map<number, Array<[number, number]>>();
  const periods: number[] = [];
  for (const [v, c] of trace.vcpus) {
    const list: Array<[number, number]> = [];
    let i = 0;
    while (i < c.length) {
      // A cluster may start with the interrupt's arrival (EXTERNAL_INTERRUPT) right before the path.
      let s = i;
      if (c.reason[i] === extIrq && i + 1 < c.length && onPath(c, i + 1) && gapAfter(c, i) < clusterGap) s = i;
      else if (!onPath(c, i)) { i++; continue; }
      let e = c.reason[s] === extIrq ? s + 1 : s;
      let anchored = isAnchor(c, e);
      while (e + 1 < c.length && onPath(c, e + 1) && gapAfter(c, e) < clusterGap) { e++; if (isAnchor(c, e)) anchored = true; }
      if (anchored) list.push([s, e]);
      i = e + 1;
    }
    for (let k = 1; k < list.length; k++) periods.push(c.ts[list[k][0]] - c.ts[list[k - 1][0]]);
    clusters.set(v, list);
  }
  return { clusters, periods };
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
