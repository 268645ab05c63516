/**
 * drop:SYMBOL[,SYMBOL...] and drop-caller:SYMBOL[,...] (paper §3.2.1, Fig. 8):
 * remove the exits whose RIP (or caller) lies in those functions, e.g.
 * `drop-caller:verify_pmtmr_rate`. Guest time between two consecutive removed
 * exits is taken to be the removed code's own work and goes with them.
 */
import { F_CALLER } from '../../model/chunk.js';
import { ExitscopeError } from '../../model/errors.js';
import type { ReplayContext } from '../context.js';
import { gapAfter, type ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

export class DropPass implements ReplayPass {
  readonly name: string;
  constructor(readonly spec: string, private readonly symbols: readonly string[], private readonly byCaller: boolean) {
    this.name = byCaller ? 'drop-caller' : 'drop';
  }

  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    if (!ctx.symbols) throw new ExitscopeError(`${this.spec}: needs the guest map (--map) to know where ${this.symbols.join(', ')} is`);
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const want = new Set(this.symbols);
    const T = ctx.transition.value;
    let found = 0;
    const out = trace.derive((_v, c, o) => {
      const hit = (i: number): boolean => {
        if (this.byCaller) return (c.flags[i] & F_CALLER) !== 0 && want.has(ctx.fnName(c.callerHi[i], c.callerLo[i]) ?? '');
        return want.has(ctx.fnName(c.ripHi[i], c.ripLo[i]) ?? '');
      };
      for (let i = 0; i < c.length; i++) {
        if (!hit(i)) { o.copyRow(c, i); continue; }
        found++;
        ledger.removed++;
        if (i + 1 < c.length && hit(i + 1)) ledger.guestSavedNs[ctx.window(c.ts[i])] += Math.max(0, gapAfter(c, i) - T);
      }
    });
    if (this.byCaller && !ctx.hasCallers) ledger.notes.push('this trace carries no caller column: drop-caller finds nothing (record callers, or use drop:FUNCTION on the trap function)');
    if (found === 0) ledger.notes.push(`no exit ${this.byCaller ? 'called from' : 'in'} ${this.symbols.join(', ')}`);
    ledger.assumptions.push(`the exits ${this.byCaller ? 'called from' : 'in'} ${this.symbols.join(', ')} disappear with the code; guest time between two of them goes too`);
    return { trace: out, ledger: closeLedger(ledger, out) };
  }
}
