/**
 * napi-off (paper §3.2.2, Fig. 9): a NIC driver built without NAPI does not
 * mask and unmask the device's interrupts around each poll. The mask writes
 * (e1000 IMS/IMC at BAR offsets 0xd0/0xd8 with the STATUS read that flushes
 * them; rtl8139 IntrMask at port offset 0x3c) are found in the trace, so the
 * pass needs no addresses, and removed with drop-io's flush rule. On rtl8139
 * the poll also reads IntrStatus once more right before it unmasks: that read
 * goes too (one per interrupt).
 */
import { z } from 'zod';
import { DIR_WRITE, F_GPA, F_PORT } from '../../model/chunk.js';
import { definePass } from '../pass-def.js';
import { RTL8139 } from '../../symbols/devices.js';
import type { ReplayTrace } from '../trace.js';
import { VerdictPass } from '../types.js';
import { DropIoPass, type IoRange } from './drop-io.js';

/** Interrupt-mask churn of NAPI drivers in this trace: the registers and what was found. */
export function findMaskChurn(trace: ReplayTrace): { ranges: IoRange[]; found: string[] } {
  const e1000 = new Set<bigint>(), rtl = new Set<number>();
  for (const c of trace.vcpus.values()) {
    for (let i = 0; i < c.length; i++) {
      if (c.dir[i] !== DIR_WRITE) continue;
      if (c.flags[i] & F_GPA) {
        const off = c.gpaLo[i] & 0x1ffff;
        if ((off === 0xd0 || off === 0xd8) && c.size[i] === 4) e1000.add((BigInt(c.gpaHi[i]) << 32n) | BigInt(c.gpaLo[i]));
      } else if (c.flags[i] & F_PORT && (c.port[i] & 0xff) === 0x3c && c.size[i] === 2 && c.port[i] >= 0x100) rtl.add(c.port[i]);
    }
  }
  const ranges: IoRange[] = [];
  const found: string[] = [];
  for (const g of e1000) {
    const imc = (g & 0xffn) === 0xd8n;
    ranges.push({ kind: 'mmio', lo: g, hi: g, rw: 'w', flush: true, deviceSpan: 0x20000n, ...(imc ? { deferral: 'always' as const } : {}) });
    found.push(`e1000 ${imc ? 'IMC' : 'IMS'} at 0x${g.toString(16)}`);
  }
  for (const p of rtl) { ranges.push({ kind: 'port', lo: BigInt(p), hi: BigInt(p), rw: 'w', flush: true, deviceSpan: 0x100n, deferral: 'zero-value', leadRead: BigInt(p - RTL8139.INTR_MASK + RTL8139.INTR_STATUS) }); found.push(`rtl8139 IntrMask at port 0x${p.toString(16)}`); }
  return { ranges, found };
}

export const napiOff = definePass({
  name: 'napi-off',
  grammar: 'napi-off',
  summary: 'a NIC driver without NAPI: no interrupt-mask churn (the paper\'s §3.2.2, Fig. 9)',
  schema: z.strictObject({ pass: z.literal('napi-off') }),
  parse: () => ({ pass: 'napi-off' }),
  print: () => 'napi-off',
  estimable: true,
  build(_s, env) {
    const { ranges, found } = findMaskChurn(env.trace);
    if (!ranges.length) return [new VerdictPass('napi-off', 'napi-off', 'not-applicable', 'no interrupt-mask churn (e1000 IMS/IMC, rtl8139 IntrMask) in this trace')];
    return [new DropIoPass('napi-off', ranges, `interrupt-mask churn found: ${found.join(', ')}. NAPI's softirq scheduling is guest CPU, not exits: only the high end counts the guest time between masking and the poll`, 'napi-off')];
  },
});
