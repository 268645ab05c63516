/**
 * Time-driven exits: the ones a shorter run of the same work would not take.
 * A CPU-bound guest that gets faster finishes sooner, and every exit that
 * recurs with time rather than with work goes down with the run's length:
 * - timer ticks (timer-hz's tick detection), with the HLT a tick interrupts
 *   on a halted vcpu (it would not be taken either);
 * - periodic housekeeping: bursts of exits from one calling function that
 *   recur at a steady period of 5 ms or more (e.g. verify_pmtmr_rate's PM
 *   timer reads every 20 ms). Device data paths recur faster than that and
 *   scale with work, not with time, so they are left out.
 * Rates are per ns of the vcpu's span; estimate multiplies them by the wall
 * time a CPU-bound run saves, for the high end of its ranges.
 */
import { F_CALLER } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import type { ReplayContext } from './context.js';
import { detectTimer } from './passes/timer-hz.js';
import { gapAfter, type ReplayTrace } from './trace.js';

export interface PeriodicRate { exitsPerNs: number; timePerNs: number; what: string[] }

const HOUSEKEEPING_MIN_PERIOD = 5_000_000;

export function periodicRates(trace: ReplayTrace, ctx: ReplayContext): Map<number, PeriodicRate> {
  const out = new Map<number, PeriodicRate>();
  const T = ctx.transition.value;
  const hlt = new Set(REASONS.matching('HLT'));
  const det = detectTimer(trace, ctx);
  for (const [v, c] of trace.vcpus) {
    if (!c.length) continue;
    const span = c.ts[c.length - 1] - c.ts[0];
    if (!(span > 0)) continue;
    const inTick = new Uint8Array(c.length);
    let n = 0, time = 0;
    const what: string[] = [];
    const ticks = det.perVcpu.find((x) => x.vcpu === v);
    const list = det.clusters.get(v) ?? [];
    if (ticks && (ticks.periodic || det.mode === 'periodic')) {
      for (const [a, b] of list) {
        for (let i = a; i <= b; i++) { inTick[i] = 1; n++; time += (c.dur[i] === c.dur[i] ? c.dur[i] : 0) + T; }
        // The HLT this tick ended (the vcpu halts again after it): one more exit per tick, no handling time.
        if (a > 0 && hlt.has(c.reason[a - 1]) && b + 1 < c.length && hlt.has(c.reason[b + 1])) { n++; time += T; }
      }
      if (list.length) what.push(`${list.length} timer ticks`);
    }
    // Housekeeping bursts by calling function.
    const bursts = new Map<string, { starts: number[]; exits: number; time: number }>();
    let i = 0;
    while (i < c.length) {
      if (inTick[i] || hlt.has(c.reason[i])) { i++; continue; }
      const key = (k: number): string => {
        const f = c.flags[k] & F_CALLER ? ctx.fnName(c.callerHi[k], c.callerLo[k]) : null;
        return f ?? ctx.fnName(c.ripHi[k], c.ripLo[k]) ?? '';
      };
      const k0 = key(i);
      if (!k0) { i++; continue; }
      let j = i;
      let t = (c.dur[i] === c.dur[i] ? c.dur[i] : 0) + T;
      while (j + 1 < c.length && !inTick[j + 1] && gapAfter(c, j) < 50_000 && key(j + 1) === k0) { j++; t += (c.dur[j] === c.dur[j] ? c.dur[j] : 0) + T; }
      let b = bursts.get(k0);
      if (!b) bursts.set(k0, (b = { starts: [], exits: 0, time: 0 }));
      b.starts.push(c.ts[i]);
      b.exits += j - i + 1;
      b.time += t;
      i = j + 1;
    }
    for (const [fn, b] of bursts) {
      if (b.starts.length < 5) continue;
      const ps: number[] = [];
      for (let k = 1; k < b.starts.length; k++) ps.push(b.starts[k] - b.starts[k - 1]);
      const s = ps.slice().sort((x, y) => x - y);
      const m = s[Math.floor(s.length / 2)];
      if (m < HOUSEKEEPING_MIN_PERIOD) continue;
      const steady = ps.filter((p) => Math.abs(p - m) <= 0.35 * m).length / ps.length;
      if (steady < 0.7) continue;
      n += b.exits;
      time += b.time;
      what.push(`${fn} every ${(m / 1e6).toFixed(1)} ms`);
    }
    if (n > 0) out.set(v, { exitsPerNs: n / span, timePerNs: time / span, what });
  }
  return out;
}
