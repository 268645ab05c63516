/**
 * apicv / pv-eoi: what virtual-interrupt hardware or paravirtual EOI removes.
 * - pv-eoi: the guest writes EOI to shared memory; KVM needs no exit for an
 *   edge-triggered interrupt. Level-triggered EOIs (they must reach the
 *   IOAPIC) still exit.
 * - apicv: EOI writes are virtualized (a level-triggered one becomes an
 *   EOI-induced exit), and posted interrupts need no interrupt-window exit
 *   and no external-interrupt exit for a device interrupt that finds the vcpu
 *   running (the posted-interrupt notification is taken in guest mode). Such
 *   an arrival is an external-interrupt exit outside the timer's ticks that
 *   the device's handler follows (an EOI or a device register access before
 *   the vcpu halts or takes another interrupt, within 100 us); a timer's
 *   arrival and host interrupts the guest does not handle stay.
 * EOI exits are APIC accesses to the EOI register (0xfee000b0), x2APIC EOI
 * MSR writes (0x80b), or APIC accesses inside an ack/EOI function; "level-triggered" is read off the acking function's name
 * (ack_ioapic_quirk_irq, *_level, *fasteoi*).
 */
import { z } from 'zod';
import { F_CALLER, F_GPA, F_MSR, F_PORT, F_SIZE, F_VALUE, type ExitChunk } from '../../model/chunk.js';
import { isKernelApic, KERNEL_PORTS, LAPIC_EOI, MSR_X2APIC_EOI } from '../../symbols/devices.js';
import { detectTimer } from './timer-hz.js';
import { REASONS } from '../../model/reasons.js';
import { NameClass, type ReplayContext } from '../context.js';
import { definePass } from '../pass-def.js';
import type { ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

const EOI_FN = /ack_apic|ack_ioapic|apic_eoi|eoi|smp_apic_timer_interrupt|native_apic_mem_write|x2apic.*write|apic_timer/i;
const LEVEL_FN = /quirk|level|fasteoi/i;
/** The name tests above as bits, memoized per address by the context. */
const EOI_NAMED = 1, EOI_NAME = 2, LEVEL_NAME = 4;
const APIC_NAMES = new NameClass((f) => (f !== null && /eoi/i.test(f) ? EOI_NAMED : 0) | (EOI_FN.test(f ?? '') ? EOI_NAME : 0) | (LEVEL_FN.test(f ?? '') ? LEVEL_NAME : 0));

export class ApicPass implements ReplayPass {
  constructor(readonly spec: string, readonly name: 'apicv' | 'pv-eoi') {}

  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const apic = new Set(['APIC_ACCESS', 'APIC_WRITE', 'EXCEPTION_NMI', 'EPT_MISCONFIG', 'MSR_WRITE']);
    const eoiInduced = REASONS.lookup('EOI_INDUCED');
    const canonMemo: string[] = [];
    const canonOf = (id: number): string => (canonMemo[id] ??= REASONS.get(id).canonical);
    const isEoi = (c: ExitChunk, i: number): boolean => {
      const canon = canonOf(c.reason[i]);
      if (!apic.has(canon)) return false;
      if (c.flags[i] & F_GPA) return c.gpaHi[i] === 0 && c.gpaLo[i] === LAPIC_EOI;
      if (c.flags[i] & F_MSR) return c.msr[i] === MSR_X2APIC_EOI;
      // A WRMSR without kvm_msr detail (no MSR number): an EOI when the writing function is one (native_apic_msr_eoi_write), not an ICR or timer write.
      if (canon === 'MSR_WRITE') return (ctx.classOf(c.ripHi[i], c.ripLo[i], APIC_NAMES) & EOI_NAMED) !== 0;
      return (ctx.classOf(c.ripHi[i], c.ripLo[i], APIC_NAMES) & EOI_NAME) !== 0;
    };
    let converted = 0, windows = 0, posted = 0;
    const ext = REASONS.mask('EXTERNAL_INTERRUPT');
    const stops = REASONS.mask('EXTERNAL_INTERRUPT', 'PREEMPTION_TIMER', 'HLT');
    const ticks = this.name === 'apicv' ? detectTimer(trace, ctx).clusters : new Map<number, Array<[number, number]>>();
    const deviceAccess = (c: ExitChunk, i: number): boolean =>
      (c.flags[i] & F_PORT ? !KERNEL_PORTS.has(c.port[i]) : false) || ((c.flags[i] & F_GPA) !== 0 && !isKernelApic(c.gpaHi[i], c.gpaLo[i]));
    const out = trace.derive((v, c, o) => {
      // The timer's own arrivals (tick clusters) stay: the host timer / preemption timer still exits.
      const inTick = new Uint8Array(c.length);
      for (const [a, b] of ticks.get(v) ?? []) for (let k = a; k <= b; k++) inTick[k] = 1;
      // Rows kept as they are go over in runs [run, i) (a column at a time); any other row first flushes the run.
      let run = 0;
      for (let i = 0; i < c.length; i++) {
        const canon = canonOf(c.reason[i]);
        if (this.name === 'apicv' && canon === 'INTERRUPT_WINDOW') { o.copyRows(c, run, i); run = i + 1; ledger.removed++; windows++; continue; }
        if (this.name === 'apicv' && ext[c.reason[i]] && !inTick[i]) {
          let device = false;
          for (let j = i + 1; j < c.length && !stops[c.reason[j]] && c.ts[j] - c.ts[i] < 100_000; j++) if (isEoi(c, j) || deviceAccess(c, j)) { device = true; break; }
          if (device) { o.copyRows(c, run, i); run = i + 1; ledger.removed++; posted++; continue; }
        }
        if (!isEoi(c, i)) continue;
        o.copyRows(c, run, i);
        run = i + 1;
        const level = (ctx.classOf(c.ripHi[i], c.ripLo[i], APIC_NAMES) & LEVEL_NAME) !== 0 || (c.flags[i] & F_CALLER ? (ctx.classOf(c.callerHi[i], c.callerLo[i], APIC_NAMES) & LEVEL_NAME) !== 0 : false);
        if (!level) { ledger.removed++; continue; }
        if (this.name === 'pv-eoi') { o.copyRow(c, i); continue; }
        const r = o.copyRow(c, i);
        o.reason[r] = eoiInduced;
        const d = c.dur[i];
        // An x2APIC EOI (WRMSR) decodes nothing: the EOI-induced exit does the same IOAPIC broadcast. An xAPIC EOI's APIC-access exit also decodes the instruction: half of it goes.
        o.dur[r] = d === d ? (c.flags[i] & F_MSR ? d : d * 0.5) : d;
        // The EOI-induced exit carries no MSR or MMIO access: clear the columns with their flags.
        o.flags[r] &= ~(F_MSR | F_GPA | F_VALUE | F_SIZE);
        o.msr[r] = 0; o.gpaHi[r] = 0; o.gpaLo[r] = 0; o.valHi[r] = 0; o.valLo[r] = 0; o.size[r] = 0; o.dir[r] = 0;
        ledger.changed++;
        converted++;
      }
      o.copyRows(c, run, c.length);
    });
    if (this.name === 'apicv') {
      ledger.notes.push(`${windows} interrupt-window exits and ${posted} device-interrupt arrivals removed (posted interrupts); ${converted} level-triggered EOIs become EOI-induced exits`);
      ledger.assumptions.push('a device interrupt that finds the vcpu running is posted: its external-interrupt exit (one the device\'s handler follows, outside the timer\'s ticks) goes; host interrupts the guest does not handle stay', 'edge-triggered EOIs need no exit; a level-triggered EOI becomes an EOI-induced exit: as costly as an x2APIC EOI write (neither decodes an instruction), half an xAPIC EOI\'s APIC-access exit (the decode goes; no trace of an APICv host to measure it from)', 'interrupt-window exits disappear with posted interrupts');
    } else {
      ledger.assumptions.push('edge-triggered EOIs need no exit (the guest EOIs through shared memory); level-triggered ones still exit');
    }
    return { trace: out, ledger: closeLedger(ledger, out, this.name === 'apicv' ? 'no EOI or interrupt-window exits in this trace' : 'no EOI exits in this trace') };
  }
}

export const apicv = definePass({
  name: 'apicv',
  grammar: 'apicv',
  summary: 'virtual-interrupt hardware (APICv / AVIC): EOIs virtualized, posted interrupts',
  schema: z.strictObject({ pass: z.literal('apicv') }),
  parse: () => ({ pass: 'apicv' }),
  print: () => 'apicv',
  estimable: true,
  build: () => [new ApicPass('apicv', 'apicv')],
});

export const pvEoi = definePass({
  name: 'pv-eoi',
  grammar: 'pv-eoi',
  summary: 'paravirtual EOI: edge-triggered EOIs through shared memory, no exit',
  schema: z.strictObject({ pass: z.literal('pv-eoi') }),
  parse: () => ({ pass: 'pv-eoi' }),
  print: () => 'pv-eoi',
  estimable: true,
  build: () => [new ApicPass('pv-eoi', 'pv-eoi')],
});
