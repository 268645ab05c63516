/**
 * `exitscope estimate`: what a list of optimizations would buy on this trace.
 *
 * Each pass rewrites the trace; the estimate compares before and after in
 * time windows. Saved time in a window = traced exit time removed + one
 * hardware transition per exit removed (inferred from the trace) + guest time
 * the pass removes with the exits (a tick's handler, a dropped function's
 * body). The speedup is a range: 1.0 when the guest is I/O-bound (only latency
 * moves) up to what a CPU-bound vcpu gains (every saved ns is throughput;
 * active = wall minus HLT time; time-driven work, ticks and housekeeping,
 * shrinks with the run: (active - P) / (active - P - saved)); with several
 * working vcpus the run ends with its slowest, so the high end is the largest
 * gain among them. The 95%
 * interval comes from a block bootstrap over the time windows
 * (simple-statistics), so bursty traces get wide intervals.
 */
import { quantile } from 'simple-statistics';
import { z } from 'zod';
import { summarizeInput } from '../analyze/index.js';
import { InputSummarySchema } from '../formats/summary-schema.js';
import { openTrace, type TraceStream } from '../formats/index.js';
import { ExitTrace } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import { newCounters } from '../model/counters.js';
import { loadSymbolizer, type KaslrOption, type Symbolizer } from '../symbols/index.js';
import { Rng } from '../util/rng.js';
import { ReplayContext } from './context.js';
import { periodicRates, tickWindows, type TickWindows } from './periodic.js';
import { buildPasses, type PassSpec } from './pipeline.js';
import { formatHex } from '../model/u64.js';
import { ReplayTrace } from './trace.js';
import type { PassLedger } from './types.js';

const Ns = z.number();
const Interval = z.tuple([z.number(), z.number()]);

export const PassEstimateSchema = z.object({
  name: z.string(),
  spec: z.string(),
  verdict: z.enum(['applied', 'nothing-to-change']),
  why: z.string().describe('For nothing-to-change: what the pass looked for'),
  exitsBefore: z.number().int(),
  exitsAfter: z.number().int(),
  timeBeforeNs: Ns.describe('Traced exit time (kvm_exit to kvm_entry) before'),
  timeAfterNs: Ns,
  exitTimeSavedNs: Ns.describe('Exit handling time saved: traced durations of the exits removed (HLT waits excluded: a halted vcpu is waiting, not handling) + one hardware transition per exit removed'),
  exitsSavedRange: Interval.describe('Exits saved: I/O-bound (only this trace\'s exits go) .. CPU-bound (plus the time-driven exits, ticks and periodic housekeeping, a shorter run would not take)'),
  exitTimeSavedRange: Interval.describe('Exit handling time saved, I/O-bound .. CPU-bound, as exitsSavedRange'),
  maybeSavedNs: Ns.describe('Guest time that may go too but exits cannot attribute; in the high end only'),
  savedNs: Ns.describe('Exit time + hardware transitions + guest time removed'),
  savedNsCI: Interval.describe('95% block-bootstrap interval of savedNs'),
  savedShareOfExitTime: z.number(),
  perVcpu: z.array(z.object({ vcpu: z.number().int(), savedNs: Ns, wallNs: Ns, shareOfWall: z.number() })),
  speedupLow: z.number().describe('Guest I/O-bound: only latency changes'),
  speedupHigh: z.number().nullable().describe('Touched vcpus CPU-bound: every saved ns is throughput; null: no bound (the saving reaches all of a working vcpu\'s active time, which JSON cannot write as Infinity)'),
  speedupHighCI: z.tuple([z.number().nullable(), z.number().nullable()]).describe('95% block-bootstrap interval of speedupHigh; null ends are unbounded'),
  assumptions: z.array(z.string()),
  notes: z.array(z.string()),
  perAddress: z.array(z.object({ address: z.string(), key: z.string(), before: z.number().int(), after: z.number().int() })).optional(),
});

export const EstimateReportSchema = z.object({
  schema: z.literal('exitscope.estimate/v3'),
  input: InputSummarySchema,
  totals: z.object({ exits: z.number().int(), timeNs: Ns, spanNs: Ns, vcpus: z.number().int() }),
  inferred: z.object({
    transitionNs: z.object({ value: Ns, how: z.string(), inferred: z.boolean() }),
    userspaceRoundTripNs: z.object({ value: Ns, how: z.string(), inferred: z.boolean() }),
    hypercallNs: z.object({ value: Ns, how: z.string(), inferred: z.boolean() }),
  }),
  kaslr: z.object({ slide: z.string(), note: z.string() }),
  windows: z.object({ count: z.number().int(), ns: Ns, bootstrap: z.number().int() }),
  passes: z.array(PassEstimateSchema),
  cumulative: PassEstimateSchema.nullable(),
  notApplied: z.array(z.object({ name: z.string(), verdict: z.enum(['not-applicable', 'not-estimable']), why: z.string() })).describe('Passes that did not run: the trace lacks what they work on, or exits cannot show the optimization at all'),
});

export type PassEstimate = z.infer<typeof PassEstimateSchema>;
export type EstimateReport = z.infer<typeof EstimateReportSchema>;

export interface EstimateOptions {
  input: string | TraceStream | ExitTrace;
  maps?: readonly string[];
  symbolizer?: Symbolizer | null;
  passes: readonly PassSpec[];
  transitionNs?: number;
  kaslr?: KaslrOption;
  bootstrap?: number;
  windows?: number;
  seed?: number;
}

/** Per (vcpu, window) exit count, traced exit handling time (HLT excluded), HLT time, and how much of the window the vcpu's trace covers. */
export interface Grid { vcpus: number[]; exits: Float64Array; time: Float64Array; hlt: Float64Array; covered: Float64Array }

function grid(t: ReplayTrace, ctx: ReplayContext, vcpus: number[]): Grid {
  const W = ctx.windows;
  const g: Grid = { vcpus, exits: new Float64Array(vcpus.length * W), time: new Float64Array(vcpus.length * W), hlt: new Float64Array(vcpus.length * W), covered: new Float64Array(vcpus.length * W) };
  const isHlt = REASONS.mask('HLT');
  vcpus.forEach((v, k) => {
    const c = t.vcpus.get(v);
    if (!c || !c.length) return;
    // A vcpu is active only between its first exit and its last one's end (one that ran out early is not busy in the windows after it).
    const first = c.ts[0], last = c.ts[c.length - 1] + (c.dur[c.length - 1] === c.dur[c.length - 1] ? c.dur[c.length - 1] : 0);
    for (let w = 0; w < W; w++) {
      const ws = ctx.t0 + w * ctx.windowNs, we = w === W - 1 ? ctx.t1 : ws + ctx.windowNs;
      g.covered[k * W + w] = Math.max(0, Math.min(we, last) - Math.max(ws, first));
    }
    for (let i = 0; i < c.length; i++) {
      const w = ctx.window(c.ts[i]);
      const d = c.dur[i];
      g.exits[k * W + w]++;
      if (d !== d) continue;
      if (!isHlt[c.reason[i]]) g.time[k * W + w] += d;
      else {
        // Spread a long halt over the windows it covers (by window index: stepping by the remainder stalled on a boundary that
        // rounding put back in the same window, and dropped the rest of the halt).
        const s = c.ts[i], e = s + d;
        for (let ww = ctx.window(s), w1 = ctx.window(e); ww <= w1; ww++) {
          const ws = ww === 0 ? -Infinity : ctx.t0 + ww * ctx.windowNs;
          const we = ww === W - 1 ? Infinity : ctx.t0 + (ww + 1) * ctx.windowNs;
          const part = Math.min(e, we) - Math.max(s, ws);
          if (part > 0) g.hlt[k * W + ww] += part;
        }
      }
    }
  });
  return g;
}

/** What every comparison of two grids shares. */
export interface CompareEnv {
  ctx: ReplayContext;
  /** Bootstrap resamples and their seed. */
  resamples: number;
  seed: number;
  spanByVcpu: Map<number, number>;
  /** The ticks of the trace before any pass, by time (periodic.ts). */
  ticks: TickWindows;
}

/** Before vs after one pass (or all of them): exits, exit time, saved time per vcpu and window, the speedup range. */
function compare(name: string, spec: string, before: Grid, after: Grid, afterTrace: ReplayTrace, ledgers: readonly PassLedger[], env: CompareEnv): PassEstimate {
  const { ctx, spanByVcpu } = env;
  const periodic = periodicRates(afterTrace, ctx, env.ticks);
  const B = env.resamples;
  const W = ctx.windows, T = ctx.transition.value;
  const V = before.vcpus.length;
  const guest = new Float64Array(W), maybe = new Float64Array(W);
  for (const l of ledgers) for (let w = 0; w < W; w++) { guest[w] += l.guestSavedNs[w]; maybe[w] += l.guestMaybeSavedNs[w]; }
  const savedW = new Float64Array(W), maybeW = new Float64Array(W);
  // Per vcpu and window: saved, what the high end adds (maybe-saved guest time, what the trace cannot decide), active time.
  const sv = new Float64Array(V * W), hv = new Float64Array(V * W), av = new Float64Array(V * W);
  const pShare = new Float64Array(V);
  let extraExits = 0, extraTime = 0, wallSaved = 0;
  const perVcpu: PassEstimate['perVcpu'] = [];
  let exitDiffAll = 0;
  const exitDiff = new Float64Array(V);
  for (let k = 0; k < V; k++) for (let w = 0; w < W; w++) exitDiff[k] += before.exits[k * W + w] - after.exits[k * W + w];
  for (let k = 0; k < V; k++) exitDiffAll += Math.abs(exitDiff[k]);
  const touched = before.vcpus.map((_, k) => {
    let changed = Math.abs(exitDiff[k]) > 0;
    for (let w = 0; w < W && !changed; w++) if (before.time[k * W + w] !== after.time[k * W + w]) changed = true;
    return changed;
  });
  // What the rewritten trace cannot decide (virtio's skipped notifications) goes at the high end: into the ranges and into the CPU-bound speedup,
  // spread over vcpus (by the exits they lost) and windows (by what they saved).
  let moreHigh = 0;
  for (const l of ledgers) if (l.moreSavedHigh) moreHigh += l.moreSavedHigh.timeNs + l.moreSavedHigh.exits * T;
  const activeK = new Float64Array(V);
  for (let k = 0; k < V; k++) {
    const share = exitDiffAll > 0 ? Math.abs(exitDiff[k]) / exitDiffAll : 0;
    let saved = 0, maybeV = 0, active = 0;
    for (let w = 0; w < W; w++) {
      const s = before.time[k * W + w] - after.time[k * W + w] + (before.exits[k * W + w] - after.exits[k * W + w]) * T;
      // Guest time removed goes to the vcpus in proportion to the exits they lost.
      const g = guest[w] * share;
      saved += s + g;
      savedW[w] += s + g;
      sv[k * W + w] = s + g;
      maybeV += maybe[w] * share;
      maybeW[w] += maybe[w] * share;
      hv[k * W + w] = maybe[w] * share;
      const a = Math.max(0, before.covered[k * W + w] - before.hlt[k * W + w]);
      av[k * W + w] = a;
      active += a;
    }
    if (moreHigh > 0 && share > 0) {
      for (let w = 0; w < W; w++) hv[k * W + w] += saved > 0 ? (moreHigh * share * sv[k * W + w]) / saved : (moreHigh * share) / W;
      maybeV += moreHigh * share;
    }
    activeK[k] = active;
    const wall = spanByVcpu.get(before.vcpus[k]) ?? ctx.t1 - ctx.t0;
    // A CPU-bound vcpu spends a share of any time it runs on time-driven work (ticks, housekeeping): saving S of work shortens it by S / (1 - share).
    const busy = periodic.get(before.vcpus[k])?.busyPerNs ?? 0;
    wallSaved = Math.max(wallSaved, (saved + maybeV) / (1 - busy));
    pShare[k] = active > 0 ? Math.min(0.9, (busy * wall) / active) : 0;
    perVcpu.push({ vcpu: before.vcpus[k], savedNs: saved, wallNs: wall, shareOfWall: wall > 0 ? saved / wall : 0 });
  }
  // If the guest is CPU-bound the same work ends sooner (by the busiest vcpu's saving): every vcpu takes fewer time-driven exits.
  for (const per of periodic.values()) { extraExits += per.exitsPerNs * wallSaved; extraTime += per.timePerNs * wallSaved; }
  for (const l of ledgers) if (l.moreSavedHigh) { extraExits += l.moreSavedHigh.exits; extraTime += l.moreSavedHigh.timeNs + l.moreSavedHigh.exits * T; }
  const S = savedW.reduce((a, b) => a + b, 0);
  const M = maybeW.reduce((a, b) => a + b, 0);
  // CPU-bound, per vcpu: the time-driven share of its active time recurs with wall time, not with work, and shrinks with the run:
  // (active - P) / (active - P - saved). The run ends with its slowest working vcpu, so the high end is the largest speedup among
  // the touched vcpus that work (active at least half as long as the busiest: an idle vcpu's few ticks set no run's length).
  const maxActive = Math.max(0, ...before.vcpus.map((_, k) => (touched[k] ? activeK[k] : 0)));
  const working = before.vcpus.map((_, k) => touched[k] && activeK[k] > 0 && activeK[k] >= 0.5 * maxActive);
  const high1 = (s: number, a: number, p: number): number => { const w = a * (1 - p); return w > s && w > 0 ? w / (w - s) : s > 0 ? Infinity : 1; };
  const highOf = (pick: (k: number, w: number) => number): number => {
    let best = 1;
    for (let k = 0; k < V; k++) {
      if (!working[k]) continue;
      let s = 0, a = 0;
      for (let w = 0; w < W; w++) { const j = pick(k, w); s += sv[k * W + j] + hv[k * W + j]; a += av[k * W + j]; }
      best = Math.max(best, high1(s, a, pShare[k]));
    }
    return best;
  };
  const highAll = highOf((_k, w) => w);
  // Block bootstrap over windows (the same resampled windows for every vcpu).
  const rng = new Rng(env.seed);
  const hs: number[] = [], ss: number[] = [];
  const idx = new Int32Array(W);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let w = 0; w < W; w++) { idx[w] = Math.floor(rng.next() * W); s += savedW[idx[w]]; }
    hs.push(highOf((_k, w) => idx[w]));
    ss.push(s);
  }
  let tb = 0, ta = 0, eb = 0, ea = 0;
  for (let i = 0; i < before.time.length; i++) { tb += before.time[i]; ta += after.time[i]; eb += before.exits[i]; ea += after.exits[i]; }
  const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;
  const bounded = (x: number): number | null => (Number.isFinite(x) ? r6(x) : null);
  const verdict: PassEstimate['verdict'] = ledgers.some((l) => l.verdict === 'applied') ? 'applied' : 'nothing-to-change';
  return {
    name, spec, verdict,
    why: ledgers.length === 1 ? ledgers[0].why : '',
    exitsBefore: eb, exitsAfter: ea,
    timeBeforeNs: tb, timeAfterNs: ta,
    exitTimeSavedNs: Math.round(tb - ta + (eb - ea) * T),
    exitsSavedRange: [eb - ea, Math.round(eb - ea + extraExits)],
    exitTimeSavedRange: [Math.round(tb - ta + (eb - ea) * T), Math.round(tb - ta + (eb - ea) * T + extraTime)],
    maybeSavedNs: Math.round(M),
    savedNs: Math.round(S),
    savedNsCI: B > 0 ? [Math.round(quantile(ss, 0.025)), Math.round(quantile(ss, 0.975))] : [S, S],
    savedShareOfExitTime: tb > 0 ? r6(S / tb) : 0,
    perVcpu,
    speedupLow: 1,
    speedupHigh: bounded(highAll),
    speedupHighCI: B > 0 ? [bounded(quantile(hs, 0.025)), bounded(quantile(hs, 0.975))] : [bounded(highAll), bounded(highAll)],
    assumptions: [...new Set(ledgers.flatMap((l) => l.assumptions))],
    notes: ledgers.flatMap((l) => l.notes),
    ...(ledgers.length === 1 && ledgers[0].perAddress ? { perAddress: ledgers[0].perAddress } : {}),
  };
}

/**
 * What every estimate on one trace shares: the trace as the passes see it,
 * what was inferred from it, its window grid and ticks. Built once; `advise`
 * runs every candidate against one session instead of reading and inferring
 * again per candidate.
 */
export interface EstimateSession {
  stream: TraceStream | null;
  symbols: Symbolizer | null;
  base: ReplayTrace;
  ctx: ReplayContext;
  vcpus: number[];
  g0: Grid;
  env: CompareEnv;
}

export async function openEstimate(opts: Omit<EstimateOptions, 'passes'>): Promise<EstimateSession> {
  // (Reading straight into per-vcpu segments was tried: the extra copy cost more than holding the input once more, and the peak
  // comes later anyway, with the input, current and next traces of the passes.)
  let base: ReplayTrace;
  let stream: TraceStream | null = null;
  if (opts.input instanceof ExitTrace) base = ReplayTrace.from(opts.input);
  else {
    stream = typeof opts.input === 'string' ? await openTrace(opts.input) : opts.input;
    base = ReplayTrace.from(await ExitTrace.collect(stream.chunks, stream.columns));
  }
  const symbols = opts.symbolizer !== undefined ? opts.symbolizer : opts.maps && opts.maps.length ? await loadSymbolizer(opts.maps) : null;
  const ctx = new ReplayContext(base, symbols, { transitionNs: opts.transitionNs, windows: opts.windows, kaslr: opts.kaslr });
  const vcpus = [...base.vcpus.keys()];
  const spanByVcpu = new Map<number, number>();
  for (const [v, c] of base.vcpus) spanByVcpu.set(v, c.length ? c.ts[c.length - 1] + (c.dur[c.length - 1] === c.dur[c.length - 1] ? c.dur[c.length - 1] : 0) - c.ts[0] : 0);
  const g0 = grid(base, ctx, vcpus);
  const env: CompareEnv = { ctx, resamples: opts.bootstrap ?? 1000, seed: opts.seed ?? 1, spanByVcpu, ticks: tickWindows(base, ctx) };
  return { stream, symbols, base, ctx, vcpus, g0, env };
}

/** One pass applied alone to the session's trace (what `advise` ranks), or null when it did not run (with why). */
export function estimateAlone(session: EstimateSession, spec: PassSpec): PassEstimate | { notApplied: EstimateReport['notApplied'][number] } {
  const [p] = buildPasses([spec], session.base, session.ctx);
  const { trace, ledger } = p.apply(session.base, session.ctx);
  try {
    if (ledger.verdict === 'not-applicable' || ledger.verdict === 'not-estimable') return { notApplied: { name: p.spec, verdict: ledger.verdict, why: ledger.why } };
    return compare(p.name, p.spec, session.g0, grid(trace, session.ctx, session.vcpus), trace, [ledger], session.env);
  } finally {
    // The candidate's trace is done with: the next candidate's pass writes into its chunks.
    if (trace !== session.base) trace.release();
  }
}

export async function estimate(opts: EstimateOptions): Promise<EstimateReport> {
  const session: Partial<EstimateSession> = await openEstimate(opts);
  const { stream, symbols, ctx, vcpus, g0, env } = session as EstimateSession;
  const passes = buildPasses(opts.passes, session.base!, ctx);
  // Each pass's input is let go once the next trace is built: two traces live at a time, not three (g0 keeps what the
  // cumulative comparison needs of the first).
  let cur = session.base!, gCur = g0;
  delete session.base;
  const results: PassEstimate[] = [];
  const ledgers: PassLedger[] = [];
  const notApplied: EstimateReport['notApplied'] = [];
  for (const p of passes) {
    const { trace, ledger } = p.apply(cur, ctx);
    if (ledger.verdict === 'not-applicable' || ledger.verdict === 'not-estimable') {
      notApplied.push({ name: p.spec, verdict: ledger.verdict, why: ledger.why });
      continue;
    }
    const gNext = grid(trace, ctx, vcpus);
    results.push(compare(p.name, p.spec, gCur, gNext, trace, [ledger], env));
    ledgers.push(ledger);
    if (trace !== cur) cur.release();
    cur = trace;
    gCur = gNext;
  }
  const cumulative = results.length > 1 ? compare('cumulative', results.map((p) => p.spec).join(' + '), g0, gCur, cur, ledgers, env) : null;
  let exits = 0, timeNs = 0;
  for (let i = 0; i < g0.time.length; i++) { exits += g0.exits[i]; timeNs += g0.time[i]; }
  const input = stream ? summarizeInput(stream) : { path: '(in memory)', format: 'exit-trace', lines: 0, header: 0, events: exits, skipped: 0, rejected: 0, counters: newCounters(), rejections: [], notes: [] };
  const slide = symbols?.slide;
  return {
    schema: 'exitscope.estimate/v3',
    input,
    totals: { exits, timeNs, spanNs: ctx.t1 - ctx.t0, vcpus: vcpus.length },
    inferred: { transitionNs: ctx.transition, userspaceRoundTripNs: ctx.userspaceRoundTrip, hypercallNs: ctx.hypercall },
    kaslr: { slide: formatHex(slide?.slide ?? 0n), note: slide?.note ?? 'no map given' },
    windows: { count: ctx.windows, ns: ctx.windowNs, bootstrap: env.resamples },
    passes: results,
    cumulative,
    notApplied,
  };
}
