/**
 * One shape for every replay pass (like the analyses' handlers): a pass takes
 * a trace and returns the rewritten trace plus a ledger of what it changed
 * and under which assumptions. Passes compose in order.
 */
import type { ReplayContext } from './context.js';
import type { ReplayTrace } from './trace.js';

export interface AddressChange {
  address: string;
  key: string;
  before: number;
  after: number;
}

/**
 * What became of a pass, as data (never matched from prose):
 * - applied: it changed the trace;
 * - nothing-to-change: it applies to this trace, which has nothing it would change;
 * - not-applicable: the trace lacks what the pass works on (no timer path, no device MMIO, no map);
 * - not-estimable: exits carry no signal of this optimization at all.
 */
export const VERDICTS = ['applied', 'nothing-to-change', 'not-applicable', 'not-estimable'] as const;
export type Verdict = (typeof VERDICTS)[number];

export interface PassLedger {
  pass: string;
  verdict: Verdict;
  /** Why, for every verdict but `applied`. */
  why: string;
  exitsBefore: number;
  exitsAfter: number;
  removed: number;
  added: number;
  changed: number;
  /** Traced exit time (kvm_exit to kvm_entry) before and after. */
  timeBeforeNs: number;
  timeAfterNs: number;
  /** Guest time the change removes besides exits (e.g. a tick's own work), per time window. */
  guestSavedNs: Float64Array;
  /**
   * Guest time that may go too but that exits cannot attribute (e.g. NAPI's
   * softirq deferral): counted only at the high end of the estimate.
   */
  guestMaybeSavedNs: Float64Array;
  assumptions: string[];
  notes: string[];
  /**
   * What the rewritten trace cannot decide (e.g. how many virtio notifications
   * event suppression removes): exits and exit handling time that may also go,
   * added to the high end of the estimate's ranges only.
   */
  moreSavedHigh?: { exits: number; timeNs: number };
  /** The paper's Table 4 view: exits per trap address before and after. */
  perAddress?: AddressChange[];
}

export interface PassResult {
  trace: ReplayTrace;
  ledger: PassLedger;
}

export interface ReplayPass {
  /** The spec as given, e.g. `timer-hz:100`. */
  readonly spec: string;
  readonly name: string;
  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult;
}

/** Exits and traced time of a trace, for ledgers. */
export function traceTotals(t: ReplayTrace): { exits: number; timeNs: number } {
  let exits = 0, timeNs = 0;
  for (const c of t.vcpus.values()) {
    exits += c.length;
    for (let i = 0; i < c.length; i++) { const d = c.dur[i]; if (d === d) timeNs += d; }
  }
  return { exits, timeNs };
}

/**
 * Totals of traces passes have finished (closeLedger) or started from: a pass's input is never written to, and advise starts a
 * dozen passes from one trace.
 */
const totalsOf = new WeakMap<ReplayTrace, { exits: number; timeNs: number }>();

export function newLedger(pass: string, before: ReplayTrace, windows: number): PassLedger {
  let t = totalsOf.get(before);
  if (!t) totalsOf.set(before, (t = traceTotals(before)));
  return { pass, verdict: 'applied', why: '', exitsBefore: t.exits, exitsAfter: t.exits, removed: 0, added: 0, changed: 0, timeBeforeNs: t.timeNs, timeAfterNs: t.timeNs, guestSavedNs: new Float64Array(windows), guestMaybeSavedNs: new Float64Array(windows), assumptions: [], notes: [] };
}

export function closeLedger(l: PassLedger, after: ReplayTrace, nothingWhy = 'nothing in this trace for it to change'): PassLedger {
  const t = traceTotals(after);
  totalsOf.set(after, t);
  l.exitsAfter = t.exits;
  l.timeAfterNs = t.timeNs;
  if (l.verdict === 'applied' && l.removed === 0 && l.added === 0 && l.changed === 0) {
    l.verdict = 'nothing-to-change';
    l.why = nothingWhy;
  }
  return l;
}

/** A pass that leaves the trace as it is and says why (not applicable, not estimable). */
export class VerdictPass implements ReplayPass {
  constructor(readonly spec: string, readonly name: string, private readonly verdict: Exclude<Verdict, 'applied'>, private readonly why: string) {}

  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const l = newLedger(this.spec, trace, ctx.windows);
    l.verdict = this.verdict;
    l.why = this.why;
    return { trace, ledger: closeLedger(l, trace) };
  }
}
