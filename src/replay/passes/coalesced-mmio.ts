/**
 * coalesced-mmio:mmio=START-END (or :auto, the busiest device BAR): what KVM's
 * coalesced MMIO (KVM_REGISTER_COALESCED_MMIO) does to a device model's MMIO
 * writes, per KVM's documentation (Documentation/virt/kvm/api.rst) and
 * virt/kvm/coalesced_mmio.c:
 * - a write to a coalesced zone STILL causes a VM exit (the access traps like
 *   any MMIO); KVM appends it to a ring shared with userspace and re-enters the
 *   guest at once, so what goes is the trip to user space, not the exit;
 * - the device model performs the queued writes when it next runs for this
 *   VM: QEMU drains the ring every time KVM_RUN returns to it, i.e. at the
 *   next exit that reaches userspace, which gets the writes' device work;
 * - reads are never coalesced, and a full ring sends the write the normal way.
 * The trace shows the write exits and their durations (round trip + decode +
 * device work); the round trip is inferred by the context (userspace vs
 * in-kernel accesses of the same kind). It cannot show which registers the
 * device model put in a coalesced zone: for an e1000-like BAR, QEMU's
 * registration is used (every register but MDIC, ICR, ICS, IMS, RCTL, TCTL,
 * TDT); for another device every write in the range is assumed coalesced.
 */
import { z } from 'zod';
import { DIR_WRITE, F_GPA, F_PORT, F_USERSPACE, type ExitChunk } from '../../model/chunk.js';
import { E1000, e1000Coalesced, isKernelApicGpa } from '../../symbols/devices.js';
import type { ReplayContext } from '../context.js';
import { isUserspaceIo } from '../context.js';
import { definePass } from '../pass-def.js';
import { VerdictPass } from '../types.js';
import type { ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

/** KVM_COALESCED_MMIO_MAX on 4 KiB pages: (4096 - 8-byte ring header) / 24-byte entries. */
export const KVM_COALESCED_RING = 170;

export class CoalescedMmioPass implements ReplayPass {
  readonly name = 'coalesced-mmio';
  constructor(readonly spec: string, private readonly lo: bigint, private readonly hi: bigint, private readonly e1000Like: boolean, private readonly ring = KVM_COALESCED_RING) {}

  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const U = ctx.userspaceRoundTrip.value;
    let anyUserFlag = false;
    for (const c of trace.vcpus.values()) { for (let i = 0; i < c.length; i++) if (c.flags[i] & F_USERSPACE) { anyUserFlag = true; break; } if (anyUserFlag) break; }
    const gpa = (c: ExitChunk, i: number): bigint => (BigInt(c.gpaHi[i]) << 32n) | BigInt(c.gpaLo[i]);
    const inRange = (c: ExitChunk, i: number): boolean => {
      if (!(c.flags[i] & F_GPA)) return false;
      const a = gpa(c, i);
      return a >= this.lo && a <= this.hi;
    };
    const coalesced = (c: ExitChunk, i: number): boolean => inRange(c, i) && c.dir[i] === DIR_WRITE && (!this.e1000Like || e1000Coalesced(Number(gpa(c, i) - this.lo)));
    // The in-kernel part of a coalesced write (decode + ring append): the cheapest access of the range less the round trip.
    const zone: number[] = [];
    for (const c of trace.vcpus.values()) for (let i = 0; i < c.length; i++) if (inRange(c, i) && c.dur[i] === c.dur[i]) zone.push(c.dur[i]);
    zone.sort((a, b) => a - b);
    const kernel = zone.length ? Math.max(0, zone[Math.floor(0.05 * (zone.length - 1))] - U) : 0;
    let queued = 0, flushes = 0, full = 0;
    const out = trace.derive((_v, c, o) => {
      let pending = 0, work = 0;
      for (let i = 0; i < c.length; i++) {
        const r = o.copyRow(c, i);
        const d = c.dur[i];
        if (coalesced(c, i) && d === d) {
          if (pending < this.ring) {
            pending++;
            const keep = Math.min(d, kernel);
            work += Math.max(0, d - U - keep);
            o.dur[r] = keep;
            o.flags[r] &= ~F_USERSPACE;
            ledger.changed++;
            queued++;
            continue;
          }
          full++;
        }
        if (pending && (c.flags[i] & (F_PORT | F_GPA)) && isUserspaceIo(c, i, anyUserFlag)) {
          if (o.dur[r] === o.dur[r]) o.dur[r] += work;
          ledger.changed++;
          flushes++;
          pending = 0;
          work = 0;
        }
      }
    });
    ledger.notes.push(`${queued} writes to coalesced registers stay exits but skip the trip to userspace; ${flushes} later userspace exits drain the ring${full ? `; ${full} writes found the ring full` : ''}`);
    ledger.assumptions.push(
      `writes to ${this.e1000Like ? `the e1000 BAR 0x${this.lo.toString(16)} outside QEMU's uncoalesced registers (MDIC, ICR, ICS, IMS, RCTL, TCTL, TDT)` : `0x${this.lo.toString(16)}-0x${this.hi.toString(16)}`} still exit; KVM appends them to the ${this.ring}-entry ring and re-enters, each saving the userspace round trip (${Math.round(U)} ns: ${ctx.userspaceRoundTrip.how})`,
      `a coalesced write keeps ${Math.round(kernel)} ns in the kernel (the cheapest access of the range less the round trip); its device work moves to the next exit that reaches userspace, where the device model drains the ring`,
      'which registers the device model coalesces is not in a trace: ' + (this.e1000Like ? 'QEMU\'s e1000 registration is assumed' : 'every write in the range is assumed coalesced'),
    );
    return { trace: out, ledger: closeLedger(ledger, out, 'no MMIO writes to coalesced registers of this range in the trace') };
  }
}

/** The busiest device MMIO window (a 128 KiB BAR) for coalesced-mmio:auto, and whether it looks like an e1000. */
export function busiestMmioWindow(trace: ReplayTrace): { lo: bigint; hi: bigint; e1000Like: boolean } | null {
  const counts = new Map<bigint, number>();
  const e1000 = new Map<bigint, number>();
  for (const c of trace.vcpus.values()) {
    for (let i = 0; i < c.length; i++) {
      if (!(c.flags[i] & F_GPA)) continue;
      const g = (BigInt(c.gpaHi[i]) << 32n) | BigInt(c.gpaLo[i]);
      if (isKernelApicGpa(g)) continue;
      const base = g & ~0x1ffffn;
      counts.set(base, (counts.get(base) ?? 0) + 1);
      const off = Number(g - base);
      if (c.dir[i] === DIR_WRITE && (off === E1000.IMS || off === E1000.IMC || off === E1000.TDT || off === E1000.RDT)) e1000.set(base, (e1000.get(base) ?? 0) + 1);
    }
  }
  let best: bigint | null = null, n = 0;
  for (const [b, k] of counts) if (k > n) { best = b; n = k; }
  return best === null ? null : { lo: best, hi: best + 0x1ffffn, e1000Like: (e1000.get(best) ?? 0) > 0 };
}

export const coalescedMmio = definePass({
  name: 'coalesced-mmio',
  grammar: 'coalesced-mmio:mmio=0xSTART-0xEND | coalesced-mmio:auto',
  summary: 'coalesced MMIO: writes to a device range still exit but are queued in the kernel, skipping the trip to userspace (KVM_REGISTER_COALESCED_MMIO)',
  schema: z.strictObject({ pass: z.literal('coalesced-mmio'), range: z.union([z.literal('auto'), z.string().regex(/^(0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)$/, 'expected 0xSTART-0xEND or auto')]) }),
  parse: (args) => { const a = args.join(':'); return { pass: 'coalesced-mmio', range: a.startsWith('mmio=') ? a.slice(5) : a || 'auto' }; },
  print: (s) => `coalesced-mmio:${s.range}`,
  estimable: true,
  build(s, env, text) {
    if (s.range === 'auto') {
      const w = busiestMmioWindow(env.trace);
      if (!w) return [new VerdictPass(text, 'coalesced-mmio', 'not-applicable', 'no device MMIO exits in this trace to coalesce')];
      return [new CoalescedMmioPass(text, w.lo, w.hi, w.e1000Like)];
    }
    const [lo, hi] = s.range.split('-').map((x) => BigInt(x)) as [bigint, bigint];
    return [new CoalescedMmioPass(text, lo, hi, false)];
  },
});
