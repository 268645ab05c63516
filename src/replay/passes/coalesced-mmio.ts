/**
 * coalesced-mmio:mmio=START-END (or :auto, the NIC's MMIO window): KVM puts
 * MMIO writes to the range in a ring without exiting; the device model
 * replays them at the next exit that reaches it: a read in the range, or a
 * full ring. The writes' emulation work (duration minus the fixed exit cost)
 * moves to that exit.
 */
import { DIR_READ, DIR_WRITE, F_GPA, type ExitChunk } from '../../model/chunk.js';
import type { ReplayContext } from '../context.js';
import type { ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

export class CoalescedMmioPass implements ReplayPass {
  readonly name = 'coalesced-mmio';
  constructor(readonly spec: string, private readonly lo: bigint, private readonly hi: bigint, private readonly ring = 64) {}

  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const F = ctx.userspaceFixed.value;
    const inRange = (c: ExitChunk, i: number): boolean => {
      if (!(c.flags[i] & F_GPA)) return false;
      const a = (BigInt(c.gpaHi[i]) << 32n) | BigInt(c.gpaLo[i]);
      return a >= this.lo && a <= this.hi;
    };
    const out = trace.derive((_v, c, o) => {
      let pending = 0, work = 0;
      for (let i = 0; i < c.length; i++) {
        if (inRange(c, i) && c.dir[i] === DIR_WRITE && pending + 1 < this.ring) {
          pending++;
          const d = c.dur[i];
          work += d === d ? Math.max(0, d - F) : 0;
          ledger.removed++;
          continue;
        }
        const r = o.copyRow(c, i);
        if (pending && inRange(c, i) && (c.dir[i] === DIR_READ || c.dir[i] === DIR_WRITE)) {
          if (o.dur[r] === o.dur[r]) o.dur[r] += work;
          ledger.changed++;
          pending = 0;
          work = 0;
        }
      }
    });
    ledger.assumptions.push(`MMIO writes to 0x${this.lo.toString(16)}-0x${this.hi.toString(16)} are queued without an exit (ring of ${this.ring}); their emulation work is done at the next read of the range`);
    return { trace: out, ledger: closeLedger(ledger, out) };
  }
}
