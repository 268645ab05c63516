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
 * time a CPU-bound run saves, for the high end of its ranges. The ticks are
 * found on the trace before any pass (tickWindows) and looked up by time in
 * the rewritten one.
 */
import { F_CALLER, type ExitChunk } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import type { ReplayContext } from './context.js';
import { detectTimer } from './passes/timer-hz.js';
import type { ReplayTrace } from './trace.js';

export interface PeriodicRate {
  /** Time-driven exits per ns of the vcpu's span. */
  exitsPerNs: number;
  /** Their handling time (traced durations + one transition each) per ns of span. */
  timePerNs: number;
  /**
   * What they keep the vcpu busy with per ns of span: handling, transitions
   * and the guest work between a tick's exits (the tick handler itself). A
   * CPU-bound vcpu spends this share of any time it runs on time-driven work,
   * so a run shortened by S of work is shortened by S / (1 - busyPerNs).
   */
  busyPerNs: number;
  what: string[];
}

/** Per vcpu, the [start, end] timestamps of each periodic tick: found once on the trace before any pass, where the tick still has every exit it is recognised by. */
export type TickWindows = Map<number, Array<[number, number]>>;

const HOUSEKEEPING_MIN_PERIOD = 5_000_000;

/**
 * The ticks of a trace as time windows. A pass may remove the very exits a
 * tick is recognised by (pv-eoi removes the idle vcpu's timer EOI, leaving
 * only its interrupt window): rates measured after a pass look the ticks up
 * by time, where the trace before it put them.
 */
export function tickWindows(trace: ReplayTrace, ctx: ReplayContext): TickWindows {
  const det = detectTimer(trace, ctx);
  const out: TickWindows = new Map();
  for (const [v, c] of trace.vcpus) {
    const ticks = det.perVcpu.find((x) => x.vcpu === v);
    if (!ticks || !(ticks.periodic || det.mode === 'periodic')) continue;
    out.set(v, (det.clusters.get(v) ?? []).map(([a, b]) => [c.ts[a], c.ts[b]]));
  }
  return out;
}

/** The last rates per trace (estimate's cumulative comparison asks again for the last pass's trace). */
const lastRates = new WeakMap<ReplayTrace, { ctx: ReplayContext; ticksAt: TickWindows; rates: Map<number, PeriodicRate> }>();

export function periodicRates(trace: ReplayTrace, ctx: ReplayContext, ticksAt: TickWindows = tickWindows(trace, ctx)): Map<number, PeriodicRate> {
  const hit = lastRates.get(trace);
  if (hit && hit.ctx === ctx && hit.ticksAt === ticksAt) return hit.rates;
  const out = computeRates(trace, ctx, ticksAt);
  lastRates.set(trace, { ctx, ticksAt, rates: out });
  return out;
}

/** A burst of exits from one function, the housekeeping candidates of one vcpu. */
interface Burst { starts: number[]; exits: number; time: number; busy: number }

function defined(d: number): number {
  return d === d ? d : 0;
}

/** The function a row is keyed by in housekeeping bursts: its caller's where that resolves, else its trap's; -1 neither. */
function burstKey(c: ExitChunk, k: number, ctx: ReplayContext): number {
  const f = c.flags[k] & F_CALLER ? ctx.fnId(c.callerHi[k], c.callerLo[k]) : -1;
  return f >= 0 ? f : ctx.fnId(c.ripHi[k], c.ripLo[k]);
}

/**
 * Bursts by function on one vcpu outside its ticks and halts: successive exits of one key less than 50 us of guest time apart.
 * (A small top-level loop: it runs once per pass and the optimizing compiler picks it up within the first call.)
 */
function collectBursts(c: ExitChunk, ctx: ReplayContext, inTick: Uint8Array, isHlt: Uint8Array, T: number, maxStarts: number, bursts: Map<number, Burst>): void {
  const n = c.length;
  const ts = c.ts, dur = c.dur, reason = c.reason;
  let i = 0;
  // The key of row i when the burst before it already looked it up (NaN: not yet).
  let known = NaN;
  while (i < n) {
    if (inTick[i] || isHlt[reason[i]]) { i++; known = NaN; continue; }
    const k0 = known === known ? known : burstKey(c, i, ctx);
    known = NaN;
    if (k0 < 0) { i++; continue; }
    let j = i;
    let t = defined(dur[i]) + T;
    // A halt ends a burst as a tick does (a halted vcpu is waiting, not doing the housekeeping's work).
    while (j + 1 < n && !inTick[j + 1] && !isHlt[reason[j + 1]] && ts[j + 1] - (ts[j] + defined(dur[j])) < 50_000) {
      const k1 = burstKey(c, j + 1, ctx);
      if (k1 !== k0) { known = k1; break; }
      j++;
      t += defined(dur[j]) + T;
    }
    let b = bursts.get(k0);
    if (!b) bursts.set(k0, (b = { starts: [], exits: 0, time: 0, busy: 0 }));
    // Past this many bursts half the periods cannot be 5 ms or more: the starts need not be kept (a device path's thousands).
    if (b.starts.length <= maxStarts) b.starts.push(ts[i]);
    b.exits += j - i + 1;
    b.time += t;
    b.busy += ts[j] + defined(dur[j]) - ts[i] + T;
    i = j + 1;
  }
}

function computeRates(trace: ReplayTrace, ctx: ReplayContext, ticksAt: TickWindows): Map<number, PeriodicRate> {
  const out = new Map<number, PeriodicRate>();
  const T = ctx.transition.value;
  const isHlt = REASONS.mask('HLT');
  for (const [v, c] of trace.vcpus) {
    if (!c.length) continue;
    const span = c.ts[c.length - 1] - c.ts[0];
    if (!(span > 0)) continue;
    const inTick = new Uint8Array(c.length);
    let n = 0, time = 0, busy = 0;
    const what: string[] = [];
    const list = ticksAt.get(v) ?? [];
    let i = 0, ticks = 0;
    for (const [s, e] of list) {
      while (i < c.length && c.ts[i] < s) i++;
      const a = i;
      while (i < c.length && c.ts[i] <= e) { inTick[i] = 1; n++; time += defined(c.dur[i]) + T; i++; }
      const b = i - 1;
      if (b < a) continue;
      ticks++;
      busy += c.ts[b] + defined(c.dur[b]) - c.ts[a] + T;
      // The HLT this tick ended (the vcpu halts again after it): one more exit per tick, no handling time.
      if (a > 0 && isHlt[c.reason[a - 1]] && b + 1 < c.length && isHlt[c.reason[b + 1]]) { n++; time += T; busy += T; }
    }
    if (ticks) what.push(`${ticks} timer ticks`);
    // Housekeeping bursts by calling function.
    const maxStarts = Math.ceil((2 * span) / HOUSEKEEPING_MIN_PERIOD) + 2;
    // Keyed by function id (the caller's where it resolves, else the trap's); -1: neither resolves.
    const bursts = new Map<number, Burst>();
    collectBursts(c, ctx, inTick, isHlt, T, maxStarts, bursts);
    for (const [fid, b] of bursts) {
      if (b.starts.length < 5) continue;
      // Half the periods at 5 ms or more cannot fit in the span with this many bursts: not housekeeping (and no sort of a device path's bursts).
      if ((b.starts.length - 1) / 2 * HOUSEKEEPING_MIN_PERIOD > span) continue;
      const ps = new Float64Array(b.starts.length - 1);
      for (let k = 1; k < b.starts.length; k++) ps[k - 1] = b.starts[k] - b.starts[k - 1];
      const s = ps.slice().sort();
      const m = s[Math.floor(s.length / 2)];
      if (m < HOUSEKEEPING_MIN_PERIOD) continue;
      let near = 0;
      for (let k = 0; k < ps.length; k++) if (Math.abs(ps[k] - m) <= 0.35 * m) near++;
      const steady = near / ps.length;
      if (steady < 0.7) continue;
      n += b.exits;
      time += b.time;
      busy += b.busy;
      what.push(`${ctx.fnNameById(fid)} every ${(m / 1e6).toFixed(1)} ms`);
    }
    if (n > 0) out.set(v, { exitsPerNs: n / span, timePerNs: time / span, busyPerNs: Math.min(0.9, busy / span), what });
  }
  return out;
}
