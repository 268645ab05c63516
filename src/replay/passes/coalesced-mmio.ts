/**
 * coalesced-mmio:mmio=START-END (or :auto, the NIC's MMIO window): KVM puts
 * MMIO writes to the range in a ring without exiting; the device model
 * replays them at the next exit that reaches it: a read in the range, or a
 * full ring. The writes' emulation work (duration minus the fixed exit cost)
 * moves to that exit.
 */
import { z } from 'zod';
import { DIR_READ, DIR_WRITE, F_GPA, type ExitChunk } from '../../model/chunk.js';
import { IOAPIC_BASE, LAPIC_END } from '../../symbols/devices.js';
import type { ReplayContext } from '../context.js';
import { definePass } from '../pass-def.js';
import { VerdictPass } from '../types.js';
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
    return { trace: out, ledger: closeLedger(ledger, out, 'no MMIO writes to this range in the trace') };
  }
}

/** The NIC's MMIO window (a 128 KiB e1000-style BAR) for coalesced-mmio:auto: the busiest one outside the APICs. */
function busiestMmioWindow(trace: ReplayTrace): [bigint, bigint] | null {
  const counts = new Map<bigint, number>();
  for (const c of trace.vcpus.values()) {
    for (let i = 0; i < c.length; i++) {
      if (!(c.flags[i] & F_GPA)) continue;
      const g = (BigInt(c.gpaHi[i]) << 32n) | BigInt(c.gpaLo[i]);
      if (g >= BigInt(IOAPIC_BASE) && g < BigInt(LAPIC_END)) continue;
      const base = g & ~0x1ffffn;
      counts.set(base, (counts.get(base) ?? 0) + 1);
    }
  }
  let best: bigint | null = null, n = 0;
  for (const [b, k] of counts) if (k > n) { best = b; n = k; }
  return best === null ? null : [best, best + 0x1ffffn];
}

export const coalescedMmio = definePass({
  name: 'coalesced-mmio',
  grammar: 'coalesced-mmio:mmio=0xSTART-0xEND | coalesced-mmio:auto',
  summary: 'coalesced MMIO: writes to a device range are queued in a ring (KVM_REGISTER_COALESCED_MMIO)',
  schema: z.strictObject({ pass: z.literal('coalesced-mmio'), range: z.union([z.literal('auto'), z.string().regex(/^(0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)$/, 'expected 0xSTART-0xEND or auto')]) }),
  parse: (args) => { const a = args.join(':'); return { pass: 'coalesced-mmio', range: a.startsWith('mmio=') ? a.slice(5) : a || 'auto' }; },
  print: (s) => `coalesced-mmio:${s.range}`,
  estimable: true,
  build(s, env, text) {
    const w = s.range === 'auto' ? busiestMmioWindow(env.trace) : (s.range.split('-').map((x) => BigInt(x)) as [bigint, bigint]);
    if (!w) return [new VerdictPass(text, 'coalesced-mmio', 'not-applicable', 'no device MMIO exits in this trace to coalesce')];
    return [new CoalescedMmioPass(text, w[0], w[1])];
  },
});
