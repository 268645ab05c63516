/**
 * haltpoll[:ns=N]: the guest's cpuidle-haltpoll driver with the haltpoll
 * governor (Linux 5.4+, drivers/cpuidle/governors/haltpoll.c): an idle vcpu
 * polls for up to its poll limit before it executes HLT. The pass replays
 * the governor over each vcpu's halts, in order, from their durations alone:
 * - after a halt, or after a poll that was woken, the vcpu polls; a poll that
 *   runs out of its limit halts (for what is left of the idle period);
 * - the limit starts at 0; after a halt longer than the limit but at most N
 *   (guest_halt_poll_ns, default 200 us) it grows x2 (at least 50 us, at most
 *   N); after a halt longer than N it halves.
 * A halt the poll covers is never executed: its HLT exit goes, and so do the
 *   tick-stop and tick-restart clock-event writes NO_HZ_IDLE makes around it
 *   (a TSC-deadline write right before the HLT, and the first one after its
 *   wake-up before the vcpu halts again): the governor keeps the tick while
 *   it polls. The interrupt that ends the poll finds the vcpu in guest mode
 *   and arrives by an external-interrupt exit (priced as the trace's own).
 * A halt the poll does not cover stays, shorter by the poll.
 * The tick keeps running while the vcpu polls, so a polled idle period takes
 * the ticks a NO_HZ vcpu skipped from its tick stop to its restart (the halt
 * and the wake-up's interrupt handling): at the guest's tick rate when the trace shows a
 * periodic tick, else between none (high end) and CONFIG_HZ=1000's (the
 * rewritten trace), each tick with the exits the trace's own timer interrupts
 * take. Not counted: the host CPU the polling burns (not guest throughput).
 */
import { z } from 'zod';
import { F_GPA, F_MSR, F_USERSPACE, type ExitChunk } from '../../model/chunk.js';
import { REASONS } from '../../model/reasons.js';
import { EDGE_ACK_FNS, LAPIC_EOI, MSR_TSC_DEADLINE, MSR_X2APIC_EOI, TIMER_REARM_FNS } from '../../symbols/devices.js';
import { isUserspaceIo, type ReplayContext } from '../context.js';
import { definePass, kv, num } from '../pass-def.js';
import { gapAfter, type ReplayTrace } from '../trace.js';
import { detectTimer } from './timer-hz.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

/** The haltpoll governor's defaults (guest_halt_poll_ns, _grow_start, _grow, _shrink). */
export const HALTPOLL = { maxNs: 200_000, growStartNs: 50_000, grow: 2, shrink: 2 } as const;

function median(xs: number[]): number {
  const s = xs.filter((x) => x === x).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

export class HaltpollPass implements ReplayPass {
  readonly name = 'haltpoll';
  constructor(readonly spec: string, private readonly maxNs: number = HALTPOLL.maxNs) {}
  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const hlt = REASONS.mask('HLT');
    const ext = REASONS.lookup('EXTERNAL_INTERRUPT');
    const T = ctx.transition.value;
    // A TSC-deadline write: by its MSR number, or (a trace without kvm_msr detail) a WRMSR in the clock event's programming function.
    const wrmsr = REASONS.mask('MSR_WRITE');
    const deadline = (c: ExitChunk, i: number): boolean =>
      c.flags[i] & F_MSR ? c.msr[i] === MSR_TSC_DEADLINE && c.dir[i] !== 1 : wrmsr[c.reason[i]] === 1 && TIMER_REARM_FNS.has(ctx.fnName(c.ripHi[i], c.ripLo[i]) ?? '');
    const eoiWrite = (c: ExitChunk, i: number): boolean =>
      c.flags[i] & F_MSR ? c.msr[i] === MSR_X2APIC_EOI : c.flags[i] & F_GPA ? c.gpaHi[i] === 0 && c.gpaLo[i] === LAPIC_EOI : wrmsr[c.reason[i]] === 1 && EDGE_ACK_FNS.has(ctx.fnName(c.ripHi[i], c.ripLo[i]) ?? '');
    // The price of the interrupt that ends a poll: the trace's own interrupt arrivals, else what KVM's in-kernel exits cost.
    const pre = REASONS.lookup('PREEMPTION_TIMER');
    const arrivals: number[] = [], timerArrivals: number[] = [], kernel: number[] = [];
    let anyUserFlag = false;
    for (const c of trace.vcpus.values()) for (let i = 0; i < c.length && !anyUserFlag; i++) if (c.flags[i] & F_USERSPACE) anyUserFlag = true;
    for (const c of trace.vcpus.values()) {
      for (let i = 0; i < c.length; i++) {
        if (c.reason[i] === ext) arrivals.push(c.dur[i]);
        else if (c.reason[i] === pre) timerArrivals.push(c.dur[i]);
        else if (!hlt[c.reason[i]] && !isUserspaceIo(c, i, anyUserFlag)) kernel.push(c.dur[i]);
      }
    }
    // Posted interrupts (APICv): the interrupt that ends a poll is taken in guest mode, no exit. A trace shows them by EOI-induced exits,
    // or by interrupts (halt wake-ups) handled with no EOI write and no interrupt window at all.
    let eoiInduced = 0, eoiWrites = 0, windows = 0, halted = 0;
    const induced = REASONS.lookup('EOI_INDUCED'), win = REASONS.mask('INTERRUPT_WINDOW');
    for (const c of trace.vcpus.values()) {
      for (let i = 0; i < c.length; i++) {
        if (c.reason[i] === induced) eoiInduced++;
        else if (eoiWrite(c, i)) eoiWrites++;
        else if (win[c.reason[i]]) windows++;
        else if (hlt[c.reason[i]]) halted++;
      }
    }
    const postedIrqs = eoiInduced > 0 || (halted > 0 && eoiWrites === 0 && windows === 0);
    const [arrivalNs, arrivalHow] = arrivals.length >= 5 ? [median(arrivals), `median of the trace's ${arrivals.length} external-interrupt exits`]
      : timerArrivals.length >= 5 ? [median(timerArrivals), `median of the trace's ${timerArrivals.length} preemption-timer exits (no external-interrupt exits)`]
      : kernel.length ? [median(kernel), `no interrupt arrivals in the trace: the median of its ${kernel.length} other in-kernel exits`] : [ctx.hypercall.value, 'the dispatch floor'];
    // The ticks a poll takes: the guest's tick rate if the trace shows one, else CONFIG_HZ=1000 at most; exits per tick from its own timer interrupts.
    const det = detectTimer(trace, ctx);
    const periodHz = det.hz ?? null;
    let tickExits = 0, tickNs = 0, ticksSeen = 0;
    for (const [v, list] of det.clusters) {
      const c = trace.vcpus.get(v)!;
      for (const [a, b] of list) {
        // A timer interrupt, not bare clock-event writes (NO_HZ's tick stops and restarts).
        let interrupt = false;
        for (let k = a; k <= b && !interrupt; k++) if (c.reason[k] === ext || c.reason[k] === pre || eoiWrite(c, k)) interrupt = true;
        if (!interrupt) continue;
        ticksSeen++;
        for (let k = a; k <= b; k++) { tickExits++; tickNs += c.dur[k] === c.dur[k] ? c.dur[k] : 0; }
      }
    }
    const perTick = ticksSeen >= 5 ? { exits: tickExits / ticksSeen, ns: tickNs / ticksSeen } : { exits: 3, ns: 3 * arrivalNs };
    const hz = periodHz ?? 1000;
    const tickRow = REASONS.lookup('PREEMPTION_TIMER');
    let tickAdded = 0, tickAddedNs = 0;
    const hp = { ...HALTPOLL, maxNs: this.maxNs, growStartNs: Math.min(HALTPOLL.growStartNs, this.maxNs) };
    let polled = 0, shortened = 0, nohz = 0, halts = 0;
    const out = trace.derive((_v, c, o) => {
      // Pass 1: the governor, halt by halt.
      const drop = new Uint8Array(c.length);
      const arrive = new Uint8Array(c.length);
      const trim = new Float64Array(c.length);
      // How long the tick was off around each polled halt (NO_HZ stop to restart): the polling vcpu keeps it running all that time.
      const tickOff = new Float64Array(c.length);
      let limit = 0, lastPoll = false, timedOut = false;
      for (let i = 0; i < c.length; i++) {
        if (!hlt[c.reason[i]] || c.dur[i] !== c.dur[i]) continue;
        halts++;
        const L = c.dur[i];
        let block = L;
        if (limit > 0 && !(lastPoll && timedOut)) {
          lastPoll = true;
          if (L <= limit) {
            timedOut = false;
            drop[i] = 1;
            arrive[i] = 1;
            polled++;
            // NO_HZ_IDLE's tick stop right before the halt and its restart after the wake-up: the governor keeps the tick while it polls.
            if (i > 0 && deadline(c, i - 1) && gapAfter(c, i - 1) < T + 5_000) {
              drop[i - 1] = 1;
              nohz++;
              for (let j = i + 1; j < c.length && !hlt[c.reason[j]] && c.ts[j] - (c.ts[i] + L) < 100_000; j++) {
                if (deadline(c, j) && !(j + 1 < c.length && hlt[c.reason[j + 1]])) { drop[j] = 1; nohz++; tickOff[i] = c.ts[j] - c.ts[i - 1]; break; }
              }
            }
            continue;
          }
          timedOut = true;
          trim[i] = limit;
          shortened++;
          block = L - limit;
        }
        lastPoll = false;
        if (block > limit && block <= hp.maxNs) limit = Math.min(hp.maxNs, Math.max(hp.growStartNs, limit * hp.grow));
        else if (block > hp.maxNs) limit = Math.floor(limit / hp.shrink);
      }
      // Pass 2: the rewritten trace. Ticks that land in polls: one per tick period of polling, as one exit carrying a tick's exits' time
      // (the count is what matters; the exits per tick are added to the ledger).
      let pollNs = 0;
      const P = 1e9 / hz;
      for (let i = 0; i < c.length; i++) {
        if (drop[i]) {
          ledger.removed++;
          if (arrive[i]) {
            pollNs += tickOff[i];
            if (!postedIrqs) {
              const r = o.push(c.ts[i] + c.dur[i], c.vcpu[i], ext, c.ripHi[i], c.ripLo[i], arrivalNs);
              o.flags[r] = 0;
              ledger.added++;
            }
            while (pollNs >= P) {
              pollNs -= P;
              const n = Math.max(1, Math.round(perTick.exits));
              for (let k = 0; k < n; k++) { const t = o.push(c.ts[i] + c.dur[i], c.vcpu[i], tickRow, c.ripHi[i], c.ripLo[i], perTick.ns / n); o.flags[t] = 0; }
              ledger.added += n;
              tickAdded += n;
              tickAddedNs += perTick.ns + n * T;
            }
          }
          continue;
        }
        const r = o.copyRow(c, i);
        if (trim[i]) { o.ts[r] = c.ts[i] + trim[i]; o.dur[r] = c.dur[i] - trim[i]; ledger.changed++; }
      }
    });
    if (periodHz === null && tickAdded) ledger.moreSavedHigh = { exits: tickAdded, timeNs: tickAddedNs - tickAdded * T };
    ledger.notes.push(`${polled} of ${halts} halts polled through (${nohz} tick stop/restart writes with them), ${shortened} halts shortened by a poll that ran out; ${tickAdded} exits of ticks that land in polls (${periodHz ? `${periodHz} Hz tick` : 'CONFIG_HZ=1000 at most: the high end takes none'}, ${perTick.exits.toFixed(1)} exits a tick${ticksSeen >= 5 ? '' : ', assumed'})`);
    ledger.assumptions.push(
      `the haltpoll governor replayed on each vcpu's halts: poll after a halt or a woken poll, limit from 0 growing x${hp.grow} (from ${hp.growStartNs / 1000} us) to ${hp.maxNs / 1000} us after halts it could have covered, halving after longer ones`,
      postedIrqs
        ? 'a polled halt loses its HLT exit and the NO_HZ tick stop/restart writes around it; the interrupt that ends the poll is posted (the trace shows APICv: EOI-induced exits, or interrupts handled without EOI or window exits): no exit'
        : `a polled halt loses its HLT exit and the NO_HZ tick stop/restart writes around it; the interrupt that ends the poll arrives by an external-interrupt exit (${Math.round(arrivalNs)} ns: ${arrivalHow}); on a host with posted interrupts it would not`,
      `the tick runs while the vcpu polls: ${periodHz ? `${periodHz} Hz (the trace's tick)` : 'the trace shows no steady tick: at most CONFIG_HZ=1000 (the rewritten trace), none at the high end'}`,
      'the polling burns host CPU, not guest throughput',
    );
    return { trace: out, ledger: closeLedger(ledger, out, `no halt the governor would poll through (none shorter than ${this.maxNs / 1000} us after a short one)`) };
  }
}

export const haltpoll = definePass({
  name: 'haltpoll',
  grammar: 'haltpoll[:ns=N]',
  summary: 'guest halt polling (cpuidle-haltpoll): short HLT round trips become polling',
  schema: z.strictObject({ pass: z.literal('haltpoll'), ns: z.number().positive().optional() }),
  parse: (args) => ({ pass: 'haltpoll', ns: num(kv(args).ns) }),
  print: (s) => (s.ns ? `haltpoll:ns=${s.ns}` : 'haltpoll'),
  estimable: true,
  build: (s, _env, text) => [new HaltpollPass(text, s.ns)],
});
