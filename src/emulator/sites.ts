/**
 * Trap sites of the emulated guest: where in the guest kernel each VM exit
 * happens (RIP) and who called (return address), against the bundled map
 * traces/guest-2.6.27-i386.map. The paper's own trap addresses are used where
 * it gives them (Tables 1-4): 0xc041be3f in ack_ioapic_irq, 0xc04ee0fc in
 * ioread16, 0xc054fcc0 for the IDE outb, 0xc05e8fe3 in ata_sff_dev_select, ...
 *
 * A site's cost is fixed from the host profile once: handling (+ the
 * userspace switch when QEMU's device model handles it). That is what the
 * kvm_exit -> kvm_entry tracepoints see; the hardware VM exit/entry latency
 * is paid around it (VcpuSim) and shows in a trace only as time between exits.
 */
import { DIR_READ, DIR_WRITE } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import type { HostProfile } from './profile.js';

export interface Site {
  readonly name: string;
  readonly rip: number;
  readonly caller: number;
  readonly reason: number;
  /** I/O port (-1: none). */
  readonly port: number;
  /** MMIO guest-physical address (-1: none). */
  readonly gpa: number;
  readonly size: number;
  readonly dir: number;
  /** High 32 bits of rip and caller (64-bit kernels: 0xffffffff); 0 when absent. */
  readonly hi?: number;
  /** MSR index (-1: none). */
  readonly msr?: number;
  /** Mean traced exit duration (kvm_exit to kvm_entry), ns; the hardware transition is outside it. */
  readonly costNs: number;
  /** The device-model work of this access, ns (what a batched/coalesced form still pays). */
  readonly workNs: number;
  readonly userspace: boolean;
}

/** Guest addresses (bundled map). */
export const A = {
  // lib/iomap.c, PIO paths
  ioread8: 0xc04edfe4, ioread16: 0xc04ee0fc, iowrite16: 0xc04ee0d1, ioread32: 0xc04ee153, iowrite8: 0xc04ee052, iowrite32: 0xc04ee18f,
  // timer path (Table 1)
  timerPicOut: 0xc0407cf7, timerPicIn: 0xc0407cf9, ackIoapicIrq: 0xc041be3f, ackIoapicQuirkIrq: 0xc041becf, smpApicTimer: 0xc041add2, doSoftirq: 0xc042ffa6,
  pitLoadCount: 0xc040a190,
  handleIrq: 0xc0405140, handleIrq2: 0xc0405150, apicTimerEntry: 0xc0403060, irqExit: 0xc0430140,
  // idle, mm
  safeHalt: 0xc0402141, defaultIdle: 0xc04020d0, writeCr3: 0xc04080a3, switchTo: 0xc0402345, copyFromUser: 0xc04e0310, copyToUser: 0xc04e0210,
  spinUnlockIrqrestore: 0xc0623d05, netRxAction: 0xc0600850, devQueueXmit: 0xc0600c40,
  // ACPI PM timer (Table 3)
  acpiPmRead: 0xc06442dd, verifyPmtmrRate: 0xc06442e7, updateWallTime: 0xc0440240,
  // drivers/ide (Fig. 5, Table 4)
  ideOutb: 0xc054fcc0, ideInb: 0xc054ecf0, ideOutl: 0xc054fcd8, ideTfLoad: 0xc054f920, ideTfLoadVmcall: 0xc054fa00,
  ideTfRead: 0xc054faa0, ideTfReadVmcall: 0xc054fb80, ideExecCommand: 0xc054ed50, ideReadStatus: 0xc054ed2a,
  ideDmaSetupPrd: 0xc0550030, ideDmaSetupCmd: 0xc0550040, ideDmaStart: 0xc0550110, ideDmaEndStop: 0xc0550190,
  ideDmaEndStatus: 0xc05501a0, ideDmaEndClear: 0xc05501b0, ideDoRwDisk: 0xc0557f40, ideIntr: 0xc0540840,
  // libata (Table 3)
  ataDevSelect: 0xc05e8fe3, ataTfLoad: 0xc05e9070, ataTfLoadVmcall: 0xc05e9140, ataExecCommand: 0xc05e9420,
  ataBmdmaSetupPrd: 0xc05ea9c2, ataBmdmaSetupCmd: 0xc05ea9e0, ataBmdmaStatus: 0xc05eaa44, ataBmdmaStart: 0xc05eaa80,
  ataBmdmaStop: 0xc05eaac0, ataIrqClear: 0xc05eab20, ataCheckStatus: 0xc05e8f1a, ataAltstatus: 0xc05e8f5a,
  // rtl8139
  rtlInterrupt: 0xc05a0320, rtlRx: 0xc05a0640, rtlPoll: 0xc05a0a40, rtlStartXmit: 0xc05a0060, rtlTxInterrupt: 0xc05a0c20,
  // e1000 (MMIO: the trap is inside the driver's inlined readl/writel)
  e1000IntrIcr: 0xc05b081c, e1000IrqDisableImc: 0xc05b0a10, e1000IrqDisableFlush: 0xc05b0a18,
  e1000IrqEnableIms: 0xc05b0a90, e1000IrqEnableFlush: 0xc05b0a98, e1000CleanRxRdt: 0xc05b10a0, e1000XmitTdt: 0xc05b0400,
  e1000Clean: 0xc05b0b40,
  // virtio
  vpNotify: 0xc05c021c, vpInterrupt: 0xc05c0254, virtqueueKick: 0xc05c0130,
} as const;

/** Guest-physical and port layout of the emulated machine. */
export const IO = {
  picCmd: 0x20, pitCh0: 0x40, pitCmd: 0x43, pmTimer: 0x608,
  ideData: 0x1f0, ideCmd: 0x1f7, ideCtl: 0x3f6, bmdmaCmd: 0xc000, bmdmaStatus: 0xc002, bmdmaPrd: 0xc004,
  rtlBase: 0xc100, virtioNetNotify: 0xc210, virtioNetIsr: 0xc213, virtioBlkNotify: 0xc250, virtioBlkIsr: 0xc253,
  lapicEoi: 0xfee000b0, e1000Bar: 0xfebc0000,
} as const;

export type SiteKind = 'pio' | 'mmio' | 'apic' | 'none';

export class SiteFactory {
  private readonly mmioReason: number;
  constructor(readonly profile: HostProfile) {
    this.mmioReason = REASONS.lookup(profile.mmioExit === 'ept-misconfig' ? 'EPT_MISCONFIG' : 'EXCEPTION_NMI');
  }

  private hi = 0;

  /** A factory whose sites sit in the upper half of a 64-bit address space (rip/caller high word `hi`). */
  withHi(hi: number): SiteFactory {
    const f = new SiteFactory(this.profile);
    f.hi = hi;
    return f;
  }

  private make(name: string, rip: number, caller: number, reason: number, port: number, gpa: number, size: number, dir: number, handlingNs: number, userspace: boolean): Site {
    const costNs = handlingNs + (userspace ? this.profile.userspaceSwitchNs : 0);
    return { name, rip, caller, reason, port, gpa, size, dir, costNs, workNs: handlingNs, userspace, ...(this.hi ? { hi: this.hi } : {}) };
  }

  /** Port I/O handled by QEMU (userspace) unless `inKernel`. */
  pio(name: string, rip: number, caller: number, port: number, size: number, write: boolean, handlingNs: number, inKernel = false): Site {
    return this.make(name, rip, caller, REASONS.lookup('IO_INSTRUCTION'), port, -1, size, write ? DIR_WRITE : DIR_READ, handlingNs, !inKernel);
  }

  /** MMIO to a device model in userspace (#PF under shadow paging, EPT misconfig with EPT). */
  mmio(name: string, rip: number, caller: number, gpa: number, size: number, write: boolean, handlingNs: number): Site {
    return this.make(name, rip, caller, this.mmioReason, -1, gpa, size, write ? DIR_WRITE : DIR_READ, handlingNs + this.profile.handling.mmioDecodeNs, true);
  }

  /**
   * The same MMIO write landing in a coalesced zone: it still exits, KVM
   * decodes it and appends it to the coalesced ring in the kernel, and
   * re-enters without the trip to userspace (virt/kvm/coalesced_mmio.c).
   */
  coalescedMmio(site: Site): Site {
    return this.make(`${site.name} (coalesced)`, site.rip, site.caller, site.reason, -1, site.gpa, site.size, site.dir, this.profile.handling.mmioDecodeNs + this.profile.handling.coalescedAppendNs, false);
  }

  /** A WRMSR handled in the kernel (x2APIC EOI/ICR, TSC deadline). */
  msrWrite(name: string, rip: number, caller: number, msr: number, handlingNs: number): Site {
    return { ...this.make(name, rip, caller, REASONS.lookup('MSR_WRITE'), -1, -1, 8, DIR_WRITE, handlingNs, false), msr };
  }

  /** MMIO handled in the kernel (ioeventfd's fast MMIO: a virtio notification, no decode, no userspace). */
  mmioKernel(name: string, rip: number, caller: number, gpa: number, size: number, handlingNs: number): Site {
    return this.make(name, rip, caller, this.mmioReason, -1, gpa, size, DIR_WRITE, handlingNs, false);
  }

  /** A guest hypercall (VMCALL), dispatched in the kernel. */
  vmcall(name: string, rip: number, caller: number): Site {
    return this.plain(name, rip, caller, 'VMCALL', this.profile.handling.hypercallNs);
  }

  /** Local APIC access, emulated in the kernel. */
  apic(name: string, rip: number, caller: number, handlingNs: number): Site {
    return this.make(name, rip, caller, REASONS.lookup('APIC_ACCESS'), -1, IO.lapicEoi, 4, DIR_WRITE, handlingNs, false);
  }

  plain(name: string, rip: number, caller: number, reason: string, handlingNs: number, userspace = false): Site {
    return this.make(name, rip, caller, REASONS.lookup(reason), -1, -1, 0, 0, handlingNs, userspace);
  }
}
