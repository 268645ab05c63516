/**
 * ipiv: IPI virtualization (Intel IPIv, AMD AVIC) delivers an IPI written to
 * the x2APIC ICR (MSR 0x830) or the xAPIC ICR (0xfee00300) without a VM exit;
 * PV send-IPI (KVM_HC_SEND_IPI) instead turns a multicast IPI (several ICR
 * writes in a row) into one hypercall. `ipiv` removes the ICR-write exits;
 * `ipiv:pv` merges back-to-back ICR writes of one vcpu into one VMCALL.
 */
import { z } from 'zod';
import { DIR_READ, F_GPA, F_MSR, type ExitChunk } from '../../model/chunk.js';
import { REASONS } from '../../model/reasons.js';
import { LAPIC_BASE, MSR_X2APIC_ICR } from '../../symbols/devices.js';
import type { ReplayContext } from '../context.js';
import { definePass, kv } from '../pass-def.js';
import { gapAfter, type ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

const WRMSR = REASONS.mask('MSR_WRITE');

/** An ICR write: x2APIC MSR 0x830, the xAPIC ICR, or (a trace without kvm_msr detail, given a map) a WRMSR in an ICR-writing function. */
export function isIcrWrite(c: ExitChunk, i: number, ctx?: ReplayContext): boolean {
  if (c.dir[i] === DIR_READ) return false;
  if (c.flags[i] & F_MSR) return c.msr[i] === MSR_X2APIC_ICR;
  if (c.flags[i] & F_GPA) return c.gpaHi[i] === 0 && c.gpaLo[i] === LAPIC_BASE + 0x300;
  return !!ctx && WRMSR[c.reason[i]] === 1 && /icr_write/.test(ctx.fnName(c.ripHi[i], c.ripLo[i]) ?? '');
}

export class IpivPass implements ReplayPass {
  readonly name = 'ipiv';
  constructor(readonly spec: string, private readonly pv: boolean) {}
  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const vmcall = REASONS.lookup('VMCALL');
    const out = trace.derive((_v, c, o) => {
      let i = 0;
      while (i < c.length) {
        if (!isIcrWrite(c, i, ctx)) { o.copyRow(c, i); i++; continue; }
        let j = i;
        while (this.pv && j + 1 < c.length && isIcrWrite(c, j + 1, ctx) && gapAfter(c, j) < ctx.transition.value + 2000) j++;
        if (this.pv) {
          if (j > i) { o.push(c.ts[i], c.vcpu[i], vmcall, c.ripHi[i], c.ripLo[i], ctx.hypercall.value + c.dur[i]); ledger.removed += j - i + 1; ledger.added++; }
          else o.copyRow(c, i);
        } else ledger.removed += j - i + 1;
        i = j + 1;
      }
    });
    ledger.assumptions.push(this.pv
      ? 'PV send-IPI: back-to-back ICR writes of one vcpu (a multicast) become one hypercall costing one write plus the dispatch; single-target IPIs keep their exit'
      : 'IPI virtualization: ICR writes deliver the IPI without an exit (the target\'s interrupt is posted); the receiver\'s side is unchanged');
    return { trace: out, ledger: closeLedger(ledger, out, 'no ICR writes (IPIs) in this trace') };
  }
}

export const ipiv = definePass({
  name: 'ipiv',
  grammar: 'ipiv[:pv]',
  summary: 'IPIs without exits (IPI virtualization / AVIC), or PV send-IPI (:pv) merging multicast ICR writes',
  schema: z.strictObject({ pass: z.literal('ipiv'), pv: z.boolean().optional() }),
  parse: (args) => ({ pass: 'ipiv', pv: kv(args).pv === true ? true : undefined }),
  print: (s) => (s.pv ? 'ipiv:pv' : 'ipiv'),
  estimable: true,
  build: (s, _env, text) => [new IpivPass(text, s.pv === true)],
});
