/**
 * virtio[:dev=nic|disk|all]: replace an emulated NIC's or disk's register
 * exits with virtio's: one notify (or ISR read) per burst of register accesses.
 * A burst is the device's successive exits on a vcpu less than 50 us apart
 * (a request's submission, an interrupt's handling). The burst's emulation
 * work is assumed to shrink to that of one ring notification (the smallest
 * access of the burst): the descriptors travel through shared memory instead.
 */
import { z } from 'zod';
import { F_CALLER, F_GPA, F_PORT, type ExitChunk } from '../../model/chunk.js';
import { DISK_FN, isIdePort, NIC_FN } from '../../symbols/devices.js';
import { REASONS } from '../../model/reasons.js';
import type { ReplayContext } from '../context.js';
import { definePass, kv } from '../pass-def.js';
import { gapAfter, type ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';


export class VirtioPass implements ReplayPass {
  readonly name = 'virtio';
  constructor(readonly spec: string, private readonly dev: 'nic' | 'disk' | 'all' = 'all') {}

  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const F = ctx.userspaceFixed.value;
    const io = REASONS.lookup('IO_INSTRUCTION');
    const device = (c: ExitChunk, i: number): boolean => {
      if (!(c.flags[i] & (F_PORT | F_GPA))) return false;
      const names = [ctx.fnName(c.ripHi[i], c.ripLo[i]) ?? '', c.flags[i] & F_CALLER ? ctx.fnName(c.callerHi[i], c.callerLo[i]) ?? '' : ''];
      const nic = names.some((n) => NIC_FN.test(n));
      const disk = names.some((n) => DISK_FN.test(n)) || (c.flags[i] & F_PORT && isIdePort(c.port[i]));
      return this.dev === 'nic' ? nic : this.dev === 'disk' ? !!disk : nic || !!disk;
    };
    let bursts = 0;
    const out = trace.derive((_v, c, o) => {
      let i = 0;
      while (i < c.length) {
        if (!device(c, i)) { o.copyRow(c, i); i++; continue; }
        let j = i, least = Infinity;
        for (;;) {
          const d = c.dur[j];
          if (d === d) least = Math.min(least, d);
          if (j + 1 < c.length && device(c, j + 1) && gapAfter(c, j) < 50_000) j++;
          else break;
        }
        const r = o.push(c.ts[i], c.vcpu[i], io, c.ripHi[i], c.ripLo[i], least === Infinity ? F : least);
        o.flags[r] = c.flags[i] & F_CALLER;
        o.callerHi[r] = c.callerHi[i];
        o.callerLo[r] = c.callerLo[i];
        ledger.removed += j - i + 1;
        ledger.added++;
        bursts++;
        i = j + 1;
      }
    });
    ledger.notes.push(`${bursts} bursts of ${this.dev === 'all' ? 'NIC/disk' : this.dev} register exits become one virtio notify or ISR read each`);
    ledger.assumptions.push('one exit per burst (notify or ISR read) costing the burst\'s cheapest access; event suppression could remove more, a host without vhost keeps the device work in QEMU');
    return { trace: out, ledger: closeLedger(ledger, out, `no emulated ${this.dev === 'all' ? 'NIC or disk' : this.dev} register exits in this trace`) };
  }
}

export const virtio = definePass({
  name: 'virtio',
  grammar: 'virtio[:dev=nic|disk|all]',
  summary: 'replace an emulated NIC\'s or disk\'s register exits with virtio notifications',
  schema: z.strictObject({ pass: z.literal('virtio'), dev: z.enum(['nic', 'disk', 'all']).optional() }),
  parse: (args) => ({ pass: 'virtio', dev: kv(args).dev }),
  print: (s) => (s.dev ? `virtio:dev=${s.dev}` : 'virtio'),
  estimable: true,
  build: (s, _env, text) => [new VirtioPass(text, s.dev)],
});
