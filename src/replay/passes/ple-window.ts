/**
 * ple-window[:x=K]: a pause-loop-exiting window K times larger (kvm_intel
 * ple_window, kvm_amd pause_filter_count). A spinning vcpu exits once per
 * window of PAUSEs; an episode of n consecutive PAUSE exits at one RIP spins
 * about n windows, so with K times the window it takes floor(n / K) exits.
 * Default K = 2.
 */
import { z } from 'zod';
import { REASONS } from '../../model/reasons.js';
import type { ReplayContext } from '../context.js';
import { definePass, kv, num } from '../pass-def.js';
import { gapAfter, type ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

export class PleWindowPass implements ReplayPass {
  readonly name = 'ple-window';
  constructor(readonly spec: string, private readonly k = 2) {}
  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const pause = REASONS.mask('PAUSE_INSTRUCTION');
    let episodes = 0;
    const out = trace.derive((_v, c, o) => {
      let i = 0;
      while (i < c.length) {
        if (!pause[c.reason[i]]) { o.copyRow(c, i); i++; continue; }
        let j = i;
        while (j + 1 < c.length && pause[c.reason[j + 1]] && c.ripLo[j + 1] === c.ripLo[i] && gapAfter(c, j) < 100_000) j++;
        const n = j - i + 1, keep = Math.floor(n / this.k);
        for (let k = 0; k < keep; k++) o.copyRow(c, i + Math.floor((k * n) / Math.max(1, keep)));
        ledger.removed += n - keep;
        episodes++;
        i = j + 1;
      }
    });
    ledger.assumptions.push(`a spin episode of n PAUSE exits at one RIP spins n windows: with a window ${this.k}x larger it exits floor(n/${this.k}) times; the spin itself (guest time) is unchanged, and a lock holder preempted on the host is yielded to later`);
    ledger.notes.push(`${episodes} spin episodes`);
    return { trace: out, ledger: closeLedger(ledger, out, 'no PAUSE exits in this trace') };
  }
}

export const pleWindow = definePass({
  name: 'ple-window',
  grammar: 'ple-window[:x=K]',
  summary: 'a larger pause-loop-exiting window: fewer PAUSE exits per spin',
  schema: z.strictObject({ pass: z.literal('ple-window'), x: z.number().min(1).optional() }),
  parse: (args) => ({ pass: 'ple-window', x: num(kv(args).x) }),
  print: (s) => (s.x ? `ple-window:x=${s.x}` : 'ple-window'),
  estimable: true,
  build: (s, _env, text) => [new PleWindowPass(text, s.x)],
});
