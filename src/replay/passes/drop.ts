/**
 * drop:SYMBOL[,SYMBOL...] and drop-caller:SYMBOL[,...] (paper §3.2.1, Fig. 8):
 * remove the exits whose RIP (or caller) lies in those functions, e.g.
 * `drop-caller:verify_pmtmr_rate`. Guest time between two consecutive removed
 * exits is taken to be the removed code's own work and goes with them.
 */
import { z } from 'zod';
import { F_CALLER } from '../../model/chunk.js';
import { ExitscopeError } from '../../model/errors.js';
import { NameClass, type ReplayContext } from '../context.js';
import { definePass } from '../pass-def.js';
import { gapAfter, type ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

export class DropPass implements ReplayPass {
  readonly name: string;
  constructor(readonly spec: string, private readonly symbols: readonly string[], private readonly byCaller: boolean, private readonly direct = true) {
    this.name = byCaller ? 'drop-caller' : 'drop';
  }

  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const missing = ctx.symbols ? this.symbols.filter((s) => !ctx.symbols!.hasFunction(s)) : [];
    const problem = !ctx.symbols
      ? `needs the guest kernel map (--map) to know where ${this.symbols.join(', ')} is`
      : missing.length ? `no function ${missing.join(', ')} in the map (${ctx.symbols.sources.map((s) => s.path).join(', ')})` : null;
    if (problem) {
      if (this.direct) throw new ExitscopeError(`--pass ${this.spec}: ${problem}${ctx.symbols ? ': check the spelling' : ''}`);
      ledger.verdict = 'not-applicable';
      ledger.why = problem;
      return { trace, ledger: closeLedger(ledger, trace) };
    }
    const want = new Set(this.symbols);
    const wanted = new NameClass((f) => (f !== null && want.has(f) ? 1 : 0));
    const T = ctx.transition.value;
    const out = trace.derive((_v, c, o) => {
      const hit = (i: number): boolean => {
        if (this.byCaller) return (c.flags[i] & F_CALLER) !== 0 && ctx.classOf(c.callerHi[i], c.callerLo[i], wanted) !== 0;
        return ctx.classOf(c.ripHi[i], c.ripLo[i], wanted) !== 0;
      };
      // Kept rows go over in runs (a column at a time), not one by one.
      let run = 0;
      for (let i = 0; i < c.length; i++) {
        if (!hit(i)) continue;
        o.copyRows(c, run, i);
        run = i + 1;
        ledger.removed++;
        if (i + 1 < c.length && hit(i + 1)) ledger.guestSavedNs[ctx.window(c.ts[i])] += Math.max(0, gapAfter(c, i) - T);
      }
      o.copyRows(c, run, c.length);
    });
    if (this.byCaller && !ctx.hasCallers) {
      ledger.verdict = 'not-applicable';
      ledger.why = 'this trace carries no caller column: drop-caller finds nothing (record callers, or use drop:FUNCTION on the trap function)';
    }
    ledger.assumptions.push(`the exits ${this.byCaller ? 'called from' : 'in'} ${this.symbols.join(', ')} disappear with the code; guest time between two of them goes too`);
    return { trace: out, ledger: closeLedger(ledger, out, `no exit ${this.byCaller ? 'called from' : 'in'} ${this.symbols.join(', ')}`) };
  }
}

const symbols = z.array(z.string().min(1)).min(1);

export const drop = definePass({
  name: 'drop',
  grammar: 'drop:SYMBOL[,SYMBOL...]',
  summary: 'remove the exits trapping in these guest functions (redundant operations, the paper\'s §3.2.1)',
  schema: z.strictObject({ pass: z.literal('drop'), symbols }),
  parse: (args) => ({ pass: 'drop', symbols: args.join(':') ? args.join(':').split(',') : [] }),
  print: (s) => `drop:${s.symbols.join(',')}`,
  estimable: true,
  build: (s, env, text) => [new DropPass(text, s.symbols, false, env.direct)],
});

export const dropCaller = definePass({
  name: 'drop-caller',
  grammar: 'drop-caller:SYMBOL[,SYMBOL...]',
  summary: 'remove the exits called from these guest functions (e.g. verify_pmtmr_rate, Fig. 8)',
  schema: z.strictObject({ pass: z.literal('drop-caller'), symbols }),
  parse: (args) => ({ pass: 'drop-caller', symbols: args.join(':') ? args.join(':').split(',') : [] }),
  print: (s) => `drop-caller:${s.symbols.join(',')}`,
  estimable: true,
  build: (s, env, text) => [new DropPass(text, s.symbols, true, env.direct)],
});
