/**
 * haltpoll[:ns=N]: guest-side halt polling (cpuidle-haltpoll, or the host's
 * halt_poll_ns seen from the exits' side): an idle vcpu polls for up to N ns
 * (default 200 us, the haltpoll governor's guest_halt_poll_ns default) before
 * it executes HLT. A HLT whose wake-up came within N ns is not executed at
 * all: its exit goes (one hardware transition and the HLT's dispatch saved,
 * and the wake-up latency of a halted vcpu); the guest burns the wait polling.
 * Host-side halt_poll_ns keeps the exits and shortens only the wake-up.
 */
import { z } from 'zod';
import { REASONS } from '../../model/reasons.js';
import type { ReplayContext } from '../context.js';
import { definePass, kv, num } from '../pass-def.js';
import type { ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

export class HaltpollPass implements ReplayPass {
  readonly name = 'haltpoll';
  constructor(readonly spec: string, private readonly windowNs = 200_000) {}
  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const hlt = new Set(REASONS.matching('HLT'));
    let short = 0;
    const out = trace.derive((_v, c, o) => {
      for (let i = 0; i < c.length; i++) {
        if (hlt.has(c.reason[i]) && c.dur[i] === c.dur[i] && c.dur[i] < this.windowNs) { ledger.removed++; short++; continue; }
        o.copyRow(c, i);
      }
    });
    ledger.notes.push(`${short} HLT exits woke within ${this.windowNs / 1000} us: the guest polls through them instead`);
    ledger.assumptions.push(`the guest polls up to ${this.windowNs} ns before halting: a HLT whose wake-up came sooner is never executed (its exit and transition go; the vcpu burns the wait polling, which costs host CPU, not guest throughput)`, 'longer HLTs are unchanged (the poll window adds to their wait)');
    return { trace: out, ledger: closeLedger(ledger, out, `no HLT shorter than ${this.windowNs} ns in this trace`) };
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
