/**
 * The modern guest: an x86_64 Linux 6.1 (Debian 12's kernel) on a current
 * KVM host, its trap sites at the addresses of the real Debian System.map
 * (traces/guest-6.1-x86_64.map, fixtures/modern-guest/README.md).
 * - x2APIC: EOIs are WRMSR 0x80b (native_apic_msr_eoi_write), IPIs WRMSR 0x830
 *   (native_x2apic_icr_write); APICv virtualizes EOIs and posts interrupts,
 *   PV EOI skips edge-triggered EOIs.
 * - Timer: the LAPIC in TSC-deadline mode. A busy vcpu ticks at CONFIG_HZ: the
 *   deadline passes (VMX preemption timer exit while the guest runs),
 *   sysvec_apic_timer_interrupt EOIs and re-arms the deadline (WRMSR 0x6e0 in
 *   lapic_next_deadline, from clockevents_program_event). Tickless idle
 *   (NO_HZ_IDLE): an idle vcpu stops the tick and sleeps until its next timer
 *   is due, at irregular intervals. No PIT, no PM-timer calibration at run time.
 * - Devices: virtio-net and virtio-blk by default (modern virtio-pci: MMIO
 *   notifications that KVM completes in the kernel through ioeventfd, MSI-X
 *   interrupts with no ISR read); e1000 (INTx, level-triggered) and AHCI
 *   (`--disk ata`/`ide`: MMIO command issue and interrupt status) optional.
 * - EPT: no shadow page faults, no CR3 exits; a context switch that wakes a
 *   task on another vcpu sends it a reschedule IPI.
 */
import type { EmulatorConfig } from './config.js';
import { Guest } from './guest.js';
import type { HostProfile } from './profile.js';
import type { Site } from './sites.js';
import type { VcpuSim } from './vcpu.js';

/** Addresses in the real Debian 6.1.0-53-amd64 System.map (core) and the fixture's module layout: low 32 bits; every one is 0xffffffff________ (KERNEL_HI). */
export const KERNEL_HI = 0xffffffff;
export const M = {
  nativeSafeHalt: 0x81a51b30, defaultIdle: 0x81a519d0, pollIdle: 0x81a52230,
  asmSysvecTimer: 0x81c00ef0, sysvecTimer: 0x81a3fa60, sysvecTimerInner: 0x8106ec60,
  lapicNextDeadline: 0x8106ea20, clockeventsProgram: 0x81165a60,
  apicMsrEoi: 0x81074f90, commonInterrupt: 0x81034b00, ioapicAckLevel: 0x81072d40,
  icrWrite: 0x810751c0, sendReschedule: 0x810703a0,
  doSoftirq: 0x81e00000, irqExitRcu: 0x810a9920, rawSpinUnlockIrqrestore: 0x81a52380, netRxAction: 0x817db240,
  iowrite16: 0x81540290, user: 0x00401000,
  // modules (fixture layout)
  vpNotify: 0xc0110000, vringInterrupt: 0xc0100600, startXmit: 0xc0120000, virtnetPoll: 0xc0120200, virtioQueueRq: 0xc0130000, virtblkDone: 0xc0130200,
  e1000Xmit: 0xc0140000, e1000Intr: 0xc0140200, e1000Clean: 0xc0140400, e1000IrqDisable: 0xc0140600, e1000IrqEnable: 0xc0140800, e1000CleanRx: 0xc0140a00,
  ahciQcIssue: 0xc0150000, ahciPortIntr: 0xc0150400, ahciIrq: 0xc0160000,
} as const;

/** Guest-physical layout of the modern machine (q35-like). */
const G = { virtioNetNotify: 0xfe003000, virtioBlkNotify: 0xfe007000, e1000Bar: 0xfebc0000, ahciBar: 0xfebf1000 } as const;

export class ModernGuest extends Guest {
  /** Guest cpuidle-haltpoll (--guest-opt haltpoll). */
  readonly haltpoll: boolean;
  /** IPI virtualization (--host-opt ipiv). */
  readonly ipiv: boolean;
  constructor(cfg: EmulatorConfig, p: HostProfile) {
    super(cfg, p);
    this.haltpoll = cfg.guestOpts.includes('haltpoll');
    this.ipiv = cfg.hostOpts.includes('ipiv');
    const f = this.f.withHi(KERNEL_HI), h = p.handling, s = this.s, e = p.devices.e1000;
    s.extIrq = f.plain('external interrupt', M.nativeSafeHalt + 9, 0, 'EXTERNAL_INTERRUPT', h.extIrqNs);
    s.timerArrival = f.plain('TSC deadline passed (preemption timer)', M.nativeSafeHalt + 9, 0, 'PREEMPTION_TIMER', h.extIrqNs);
    s.hlt = f.plain('hlt', M.nativeSafeHalt + 9, M.defaultIdle + 0xa, 'HLT', h.hltNs);
    s.timerEoi = f.msrWrite('native_apic_msr_eoi_write <- sysvec_apic_timer_interrupt', M.apicMsrEoi + 0x8, M.sysvecTimerInner + 0x2b, 0x80b, h.msrNs);
    s.deadline = f.msrWrite('lapic_next_deadline WRMSR TSC_DEADLINE', M.lapicNextDeadline + 0x1b, M.clockeventsProgram + 0x5c, 0x6e0, h.msrNs);
    s.softirqWin = f.plain('__do_softirq interrupt window', M.doSoftirq + 0x6, M.irqExitRcu + 0x8, 'INTERRUPT_WINDOW', h.intrWindowNs);
    s.intrWin = f.plain('_raw_spin_unlock_irqrestore interrupt window', M.rawSpinUnlockIrqrestore + 0xe, M.netRxAction + 0x1d3, 'INTERRUPT_WINDOW', h.intrWindowNs);
    s.msiEoi = f.msrWrite('native_apic_msr_eoi_write <- __common_interrupt', M.apicMsrEoi + 0x8, M.commonInterrupt + 0x6a, 0x80b, h.msrNs);
    s.levelAck = f.msrWrite('native_apic_msr_eoi_write <- ioapic_ack_level', M.apicMsrEoi + 0x8, M.ioapicAckLevel + 0x4e, 0x80b, h.msrNs);
    s.eoiInduced = f.plain('EOI (level, APICv)', M.apicMsrEoi + 0x8, M.ioapicAckLevel + 0x4e, 'EOI_INDUCED', h.eoiInducedNs);
    s.cr3 = f.msrWrite('native_x2apic_icr_write <- native_smp_send_reschedule', M.icrWrite + 0x1b, M.sendReschedule + 0x2f, 0x830, h.msrNs);
    // virtio-pci modern: notifications are MMIO writes KVM completes through ioeventfd (fast MMIO), interrupts MSI-X.
    s.vnetNotify = f.mmioKernel('iowrite16 <- vp_notify (net)', M.iowrite16 + 0x8, M.vpNotify + 0x1c, G.virtioNetNotify, 2, h.ioeventfdNs);
    s.vblkNotify = f.mmioKernel('iowrite16 <- vp_notify (blk)', M.iowrite16 + 0x8, M.vpNotify + 0x1c, G.virtioBlkNotify, 2, h.ioeventfdNs);
    // e1000 (INTx) at its module's addresses.
    const eb = G.e1000Bar;
    s.e1000Icr = f.mmio('e1000_intr read ICR', M.e1000Intr + 0x1c, M.commonInterrupt + 0x6a, eb + 0xc0, 4, false, e.icrReadNs);
    s.e1000Imc = f.mmio('e1000_irq_disable write IMC (NAPI)', M.e1000IrqDisable + 0x10, M.e1000Intr + 0x60, eb + 0xd8, 4, true, e.maskWriteNs);
    s.e1000ImcFlush = f.mmio('e1000_irq_disable flush STATUS (NAPI)', M.e1000IrqDisable + 0x18, M.e1000Intr + 0x60, eb + 0x08, 4, false, e.statusReadNs);
    s.e1000Ims = f.mmio('e1000_irq_enable write IMS (NAPI)', M.e1000IrqEnable + 0x10, M.e1000Clean + 0x90, eb + 0xd0, 4, true, e.maskWriteNs);
    s.e1000ImsFlush = f.mmio('e1000_irq_enable flush STATUS (NAPI)', M.e1000IrqEnable + 0x18, M.e1000Clean + 0x90, eb + 0x08, 4, false, e.statusReadNs);
    s.e1000Rdt = f.mmio('e1000_clean_rx_irq write RDT', M.e1000CleanRx + 0xa0, M.e1000Clean + 0x60, eb + 0x2818, 4, true, e.tailWriteNs);
    s.e1000Tdt = f.mmio('e1000_xmit_frame write TDT', M.e1000Xmit + 0x100, M.startXmit, eb + 0x3818, 4, true, e.tailWriteNs);
    // AHCI: command issue and the interrupt's status registers, handled by QEMU.
    const ab = G.ahciBar, d = p.devices.ide;
    s.ahciIssue = f.mmio('ahci_qc_issue write PxCI', M.ahciQcIssue + 0x40, M.virtioQueueRq, ab + 0x138, 4, true, d.commandNs);
    s.ahciHostIs = f.mmio('ahci_single_level_irq_intr read HOST_IS', M.ahciIrq + 0x20, M.commonInterrupt + 0x6a, ab + 0x08, 4, false, d.statusNs);
    s.ahciPortIs = f.mmio('ahci_port_intr read PxIS', M.ahciPortIntr + 0x18, M.ahciIrq + 0x60, ab + 0x110, 4, false, d.statusNs);
    s.ahciPortIsClr = f.mmio('ahci_port_intr write PxIS', M.ahciPortIntr + 0x30, M.ahciIrq + 0x60, ab + 0x110, 4, true, d.bmdmaNs);
    s.ahciHostIsClr = f.mmio('ahci_single_level_irq_intr write HOST_IS', M.ahciIrq + 0x80, M.commonInterrupt + 0x6a, ab + 0x08, 4, true, d.bmdmaNs);
  }

  override setupVcpu(v: VcpuSim, busy: boolean): void {
    v.timerArrival = this.s.timerArrival;
    // NO_HZ_IDLE: an idle vcpu's next timer (a timer-wheel or hrtimer event) is due at irregular intervals: 2-60 ms.
    const nextTimerNs = (): number => 2e6 + v.timerRng.next() * 58e6;
    if (!busy) { v.idleTimerNs = nextTimerNs; return; }
    // A working vcpu that waits for its device goes idle too: the idle loop stops the tick (one TSC-deadline write) and restarts it
    // when the vcpu wakes (another): without a cpuidle driver, cpuidle_idle_call() stops it at every idle entry.
    v.idlePolicy = {
      nohz: (vv) => vv.exit(this.s.deadline, 0),
      nextTimerNs,
      // cpuidle-haltpoll (guest_halt_poll_ns 200 us, grow x2 from 50 us, shrink /2): the haltpoll governor's defaults.
      haltPoll: this.haltpoll ? { maxNs: 200_000, growStartNs: 50_000, grow: 2, shrink: 2, rip: M.pollIdle + 0x4c, ripHi: KERNEL_HI } : null,
    };
  }

  /** No PIT: the LAPIC timer in TSC-deadline mode is set up through MSRs at boot (before the trace). */
  override programPit(): void {}

  override contextSwitch(v: VcpuSim): void {
    // Waking a task on another vcpu: a reschedule IPI through the x2APIC ICR. With IPI virtualization (Intel IPIv, on top of APICv) the
    // CPU delivers a fixed, physical-destination ICR write as a posted interrupt without a VM exit; the receiver's side is APICv's either way.
    if (this.cfg.vcpus > 1 && !this.ipiv) v.exit(this.s.cr3, 0xfd);
    else v.skip(1);
  }

  override maybeVerifyPmtmr(): void {}

  private edgeEoi(v: VcpuSim, site: Site): void {
    this.eoi(v, site);
  }

  override levelEoi(v: VcpuSim): void {
    if (this.apicv) v.exit(this.s.eoiInduced);
    else v.exit(this.s.levelAck);
  }

  /** A timer interrupt: EOI, the tick's work, the deadline re-armed, the softirq window. */
  override tick(v: VcpuSim): void {
    this.edgeEoi(v, this.s.timerEoi);
    v.rawWork(this.p.guest.tickWorkNs);
    v.exit(this.s.deadline, 0);
    if (!this.apicv) v.exit(this.s.softirqWin);
  }

  override submitDisk(v: VcpuSim): void {
    v.curRip = M.user;
    if (this.cfg.disk === 'virtio') v.exit(this.s.vblkNotify, 0);
    else v.exit(this.s.ahciIssue, 1);
  }

  override completeDisk(v: VcpuSim): void {
    const s = this.s;
    if (this.cfg.disk === 'virtio') { v.rawWork(800); this.edgeEoi(v, s.msiEoi); return; }
    v.exit(s.ahciHostIs, 1);
    v.exit(s.ahciPortIs, 1);
    v.exit(s.ahciPortIsClr, 1);
    v.exit(s.ahciHostIsClr, 1);
    this.edgeEoi(v, s.msiEoi);
  }

  override transmit(v: VcpuSim): void {
    if (this.cfg.nic === 'virtio') {
      v.curRip = M.user;
      // Event suppression: a notification only when the host is not already draining the ring.
      if (v.chance(0.25)) v.exit(this.s.vnetNotify, 1);
      if (v.chance(0.6) && !this.apicv) v.exit(this.s.intrWin);
      return;
    }
    super.transmit(v);
  }

  override nicInterrupt(v: VcpuSim, rx: number, tx: number): void {
    if (this.cfg.nic !== 'virtio') { super.nicInterrupt(v, rx, tx); return; }
    const g = this.p.guest;
    // MSI-X: no ISR read; vring_interrupt schedules NAPI, virtnet_poll refills the RX ring.
    v.rawWork(g.napiPollNs * 0.5);
    for (let k = 0; k < rx; k++) v.rawWork(g.netRxCpuNs);
    if (rx > 0 && v.chance(0.3)) v.exit(this.s.vnetNotify, 0);
    if (v.chance(0.6) && !this.apicv) v.exit(this.s.intrWin);
    this.edgeEoi(v, this.s.msiEoi);
  }
}
