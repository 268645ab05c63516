/**
 * The emulated guest kernel's device paths: which exits each operation makes,
 * in which order, at which sites. Every optimization of the paper (and the
 * host-side ones that came after) is a switch here, so an optimized run is the
 * ground truth an estimate from the baseline trace is checked against.
 *
 * Paths (2.6.27-era i386 guest on a KVM host):
 * - timer tick: PIT IRQ0 -> timer_interrupt's PIC poll (outb/inb 0x20),
 *   ack_ioapic_irq's LAPIC EOI, the LAPIC timer's smp_apic_timer_interrupt EOI,
 *   the interrupt window on irq_exit -> do_softirq (Table 1);
 * - verify_pmtmr_rate: bursts of acpi_pm_read (inl 0x608) (Table 3, Fig. 8);
 * - disk: drivers/ide taskfile load (11 outb, Fig. 5) and read-back, BMDMA;
 *   libata dev_select / tf_load / bmdma_setup / bmdma_status (Table 3);
 *   virtio-blk notify + ISR; the guest I/O scheduler's own cost (CFQ vs noop);
 * - net: rtl8139 (PIO through ioread/iowrite, Table 2), e1000 (MMIO ICR/IMS/IMC
 *   and ring tails), virtio-net; NAPI's interrupt-mask churn (Fig. 9).
 */
import type { EmulatorConfig } from './config.js';
import type { HostProfile } from './profile.js';
import { e1000Coalesced } from '../symbols/devices.js';
import { A, IO, SiteFactory, type Site } from './sites.js';
import type { VcpuSim } from './vcpu.js';

/** Ports of the IDE taskfile as Fig. 5 writes them (LBA48: HOB bytes first). */
const TF_PORTS = [0x1f1, 0x1f2, 0x1f3, 0x1f4, 0x1f5, 0x1f1, 0x1f2, 0x1f3, 0x1f4, 0x1f5, 0x1f6];
/** Registers ide_tf_read reads back at completion. */
const TF_READ_PORTS = [0x1f1, 0x1f2, 0x1f3, 0x1f4, 0x1f5, 0x1f6];

export class Guest {
  readonly s: Record<string, Site> = {};
  readonly tfLoad: Site[];
  readonly tfRead: Site[];
  readonly ataTf: Site[];
  readonly coalesceIo: boolean;
  readonly pmtmrVerify: boolean;
  readonly apicv: boolean;
  readonly pvEoi: boolean;
  readonly coalescedMmio: boolean;
  readonly napi: boolean;
  /** PIT channel-0 reload count: 1193182 / count Hz. */
  readonly pitCount: number;
  readonly tickNs: number;
  private pendingCoalesced = 0;
  private pendingCoalescedWork = 0;
  private nextPmVerify: number;
  protected readonly f: SiteFactory;
  private readonly coalescedSites = new Map<Site, Site>();
  private readonly vmcallSites = new Map<Site, Site>();

  constructor(readonly cfg: EmulatorConfig, readonly p: HostProfile) {
    const f = (this.f = new SiteFactory(p));
    const h = p.handling, d = p.devices;
    this.coalesceIo = cfg.guestOpts.includes('coalesce-io');
    this.pmtmrVerify = !cfg.guestOpts.includes('no-pmtmr-verify');
    this.apicv = cfg.hostOpts.includes('apicv');
    this.pvEoi = cfg.hostOpts.includes('pv-eoi');
    this.coalescedMmio = cfg.hostOpts.includes('coalesced-mmio');
    this.napi = cfg.napi === 'on';
    this.pitCount = Math.round(1193182 / cfg.hz);
    this.tickNs = (this.pitCount / 1193182) * 1e9;
    this.nextPmVerify = p.guest.pmtmrVerifyEveryNs;
    const s = this.s;
    // Timer path: the PIC is emulated in the kernel (KVM has had in-kernel irqchip since KVM-60).
    s.extIrq = f.plain('external interrupt', A.safeHalt, 0, 'EXTERNAL_INTERRUPT', h.extIrqNs);
    s.hlt = f.plain('hlt', A.safeHalt, A.defaultIdle, 'HLT', h.hltNs);
    s.picOut = f.pio('timer_interrupt outb PIC OCW3', A.timerPicOut, A.handleIrq, IO.picCmd, 1, true, h.picPollNs, true);
    s.picIn = f.pio('timer_interrupt inb PIC poll', A.timerPicIn, A.handleIrq, IO.picCmd, 1, false, h.picPollNs * 0.123, true);
    s.ioapicAck = f.apic('ack_ioapic_irq LAPIC EOI', A.ackIoapicIrq, A.handleIrq2, h.ioapicEoiNs);
    s.lapicTimer = f.apic('smp_apic_timer_interrupt EOI', A.smpApicTimer, A.apicTimerEntry, h.lapicEoiNs);
    s.eoiInduced = f.plain('EOI (level, APICv)', A.ackIoapicQuirkIrq, A.handleIrq2, 'EOI_INDUCED', h.eoiInducedNs);
    // Level-triggered PCI INTx (NIC, disk) is acked by ack_ioapic_quirk_irq; edge IRQ0 by ack_ioapic_irq.
    s.levelAck = f.apic('ack_ioapic_quirk_irq LAPIC EOI', A.ackIoapicQuirkIrq, A.handleIrq2, h.ioapicEoiNs);
    s.softirqWin = f.plain('do_softirq interrupt window', A.doSoftirq, A.irqExit, 'INTERRUPT_WINDOW', h.intrWindowNs);
    s.pitMode = f.pio('pit_load_count mode', A.pitLoadCount, 0xc040a020, IO.pitCmd, 1, true, h.picPollNs, true);
    s.pitLo = f.pio('pit_load_count lo', A.pitLoadCount + 6, 0xc040a020, IO.pitCh0, 1, true, h.picPollNs, true);
    s.pitHi = f.pio('pit_load_count hi', A.pitLoadCount + 12, 0xc040a020, IO.pitCh0, 1, true, h.picPollNs, true);
    s.pmRead = f.pio('acpi_pm_read <- verify_pmtmr_rate', A.acpiPmRead, A.verifyPmtmrRate, IO.pmTimer, 4, false, h.pmTimerNs);
    s.cr3 = f.plain('switch_mm write cr3', A.writeCr3, A.switchTo, 'CR_ACCESS', h.crAccessNs);
    s.userPf = f.plain('guest page fault (shadow paging)', 0x08048000, 0, 'EXCEPTION_NMI', h.shadowPfNs);
    s.intrWin = f.plain('spin_unlock_irqrestore interrupt window', A.spinUnlockIrqrestore, A.netRxAction, 'INTERRUPT_WINDOW', h.intrWindowNs);
    // drivers/ide: ide_tf_load's 11 OUTBs all trap in ide_outb, called from 11 sites.
    this.tfLoad = TF_PORTS.map((port, k) => f.pio(`ide_outb <- ide_tf_load #${k}`, A.ideOutb, A.ideTfLoad + 0x10 * k, port, 1, true, d.ide.taskfileNs));
    this.tfRead = TF_READ_PORTS.map((port, k) => f.pio(`ide_inb <- ide_tf_read #${k}`, A.ideInb, A.ideTfRead + 0x10 * k, port, 1, false, d.ide.taskfileNs));
    s.ideTfLoadCall = f.plain('ide_tf_load vmcall (merged taskfile)', A.ideTfLoadVmcall, A.ideDoRwDisk, 'VMCALL', h.hypercallNs);
    s.ideTfReadCall = f.plain('ide_tf_read vmcall (merged read-back)', A.ideTfReadVmcall, A.ideIntr, 'VMCALL', h.hypercallNs);
    s.ideCmd = f.pio('ide_outb <- ide_exec_command', A.ideOutb, A.ideExecCommand, IO.ideCmd, 1, true, d.ide.commandNs);
    s.ideDmaCmd = f.pio('ide_outb <- ide_dma_setup', A.ideOutb, A.ideDmaSetupCmd, IO.bmdmaCmd, 1, true, d.ide.bmdmaNs);
    s.ideDmaPrd = f.pio('ide_outl <- ide_dma_setup', A.ideOutl, A.ideDmaSetupPrd, IO.bmdmaPrd, 4, true, d.ide.prdNs);
    s.ideDmaStart = f.pio('ide_dma_start outb', A.ideDmaStart, A.ideDoRwDisk, IO.bmdmaCmd, 1, true, d.ide.bmdmaNs);
    s.ideDmaStop = f.pio('__ide_dma_end outb stop', A.ideDmaEndStop, A.ideIntr, IO.bmdmaCmd, 1, true, d.ide.bmdmaNs);
    s.ideDmaStatus = f.pio('__ide_dma_end inb status', A.ideDmaEndStatus, A.ideIntr, IO.bmdmaStatus, 1, false, d.ide.bmdmaNs);
    s.ideDmaClear = f.pio('__ide_dma_end outb clear', A.ideDmaEndClear, A.ideIntr, IO.bmdmaStatus, 1, true, d.ide.bmdmaNs);
    s.ideStatus = f.pio('ide_inb <- ide_read_status', A.ideInb, A.ideReadStatus, IO.ideCmd, 1, false, d.ide.statusNs);
    // libata: everything through lib/iomap.c's iowrite8/ioread8/iowrite32.
    this.ataTf = [0x1f1, 0x1f2, 0x1f3, 0x1f4, 0x1f5].map((port, k) => f.pio(`iowrite8 <- ata_sff_tf_load #${k}`, A.iowrite8, A.ataTfLoad + 0x20 * k, port, 1, true, d.ide.taskfileNs));
    s.ataTfCall = f.plain('ata_sff_tf_load vmcall (merged taskfile)', A.ataTfLoadVmcall, A.ataExecCommand, 'VMCALL', h.hypercallNs);
    s.ataDevSelect = f.pio('iowrite8 <- ata_sff_dev_select', A.iowrite8, A.ataDevSelect, 0x1f6, 1, true, d.ide.taskfileNs);
    s.ataAlt = f.pio('ioread8 <- ata_sff_altstatus', A.ioread8, A.ataAltstatus, IO.ideCtl, 1, false, d.ide.statusNs);
    s.ataExec = f.pio('iowrite8 <- ata_sff_exec_command', A.iowrite8, A.ataExecCommand, IO.ideCmd, 1, true, d.ide.commandNs);
    s.ataPrd = f.pio('iowrite32 <- ata_bmdma_setup', A.iowrite32, A.ataBmdmaSetupPrd, IO.bmdmaPrd, 4, true, d.ide.prdNs);
    s.ataDmaCmd = f.pio('iowrite8 <- ata_bmdma_setup', A.iowrite8, A.ataBmdmaSetupCmd, IO.bmdmaCmd, 1, true, d.ide.bmdmaNs);
    s.ataStart = f.pio('iowrite8 <- ata_bmdma_start', A.iowrite8, A.ataBmdmaStart, IO.bmdmaCmd, 1, true, d.ide.bmdmaNs);
    s.ataStatus = f.pio('ioread8 <- ata_bmdma_status', A.ioread8, A.ataBmdmaStatus, IO.bmdmaStatus, 1, false, d.ide.bmdmaNs);
    s.ataStop = f.pio('iowrite8 <- ata_bmdma_stop', A.iowrite8, A.ataBmdmaStop, IO.bmdmaCmd, 1, true, d.ide.bmdmaNs);
    s.ataCheck = f.pio('ioread8 <- ata_sff_check_status', A.ioread8, A.ataCheckStatus, IO.ideCmd, 1, false, d.ide.statusNs);
    s.ataClear = f.pio('iowrite8 <- ata_bmdma_irq_clear', A.iowrite8, A.ataIrqClear, IO.bmdmaStatus, 1, true, d.ide.bmdmaNs);
    // virtio (QEMU userspace virtio-pci, legacy PIO notify).
    s.vblkNotify = f.pio('iowrite16 <- vp_notify (blk)', A.iowrite16, A.vpNotify, IO.virtioBlkNotify, 2, true, d.virtio.notifyNs);
    s.vblkIsr = f.pio('ioread8 <- vp_interrupt (blk)', A.ioread8, A.vpInterrupt, IO.virtioBlkIsr, 1, false, d.virtio.isrReadNs);
    s.vnetNotify = f.pio('iowrite16 <- vp_notify (net)', A.iowrite16, A.vpNotify, IO.virtioNetNotify, 2, true, d.virtio.notifyNs);
    s.vnetIsr = f.pio('ioread8 <- vp_interrupt (net)', A.ioread8, A.vpInterrupt, IO.virtioNetIsr, 1, false, d.virtio.isrReadNs);
    // rtl8139 through lib/iomap.c (Table 2).
    const r = d.rtl8139, rb = IO.rtlBase;
    s.rtlIsr = f.pio('ioread16 <- rtl8139_interrupt IntrStatus', A.ioread16, A.rtlInterrupt, rb + 0x3e, 2, false, r.read16Ns);
    s.rtlAck = f.pio('iowrite16 <- rtl8139_interrupt ack', A.iowrite16, A.rtlInterrupt + 0x20, rb + 0x3e, 2, true, r.write16Ns);
    s.rtlMask = f.pio('iowrite16 <- rtl8139_interrupt IntrMask (NAPI)', A.iowrite16, A.rtlInterrupt + 0x40, rb + 0x3c, 2, true, r.write16Ns);
    s.rtlMaskFlush = f.pio('ioread16 <- rtl8139_interrupt flush (NAPI)', A.ioread16, A.rtlInterrupt + 0x48, rb + 0x3c, 2, false, r.read16Ns);
    s.rtlUnmask = f.pio('iowrite16 <- rtl8139_poll IntrMask (NAPI)', A.iowrite16, A.rtlPoll, rb + 0x3c, 2, true, r.write16Ns);
    s.rtlUnmaskFlush = f.pio('ioread16 <- rtl8139_poll flush (NAPI)', A.ioread16, A.rtlPoll + 0x8, rb + 0x3c, 2, false, r.read16Ns);
    s.rtlChipCmd = f.pio('ioread8 <- rtl8139_rx ChipCmd', A.ioread8, A.rtlRx, rb + 0x37, 1, false, r.read8Ns);
    s.rtlRxPtr = f.pio('iowrite16 <- rtl8139_rx RxBufPtr', A.iowrite16, A.rtlRx + 0x60, rb + 0x38, 2, true, r.write16Ns);
    s.rtlTxStatusW = f.pio('iowrite32 <- rtl8139_start_xmit TxStatus', A.iowrite32, A.rtlStartXmit, rb + 0x10, 4, true, r.txNs);
    s.rtlTxStatusFlush = f.pio('ioread32 <- rtl8139_start_xmit flush', A.ioread32, A.rtlStartXmit + 0x8, rb + 0x10, 4, false, r.read32Ns);
    s.rtlTxStatusR = f.pio('ioread32 <- rtl8139_tx_interrupt TxStatus', A.ioread32, A.rtlTxInterrupt, rb + 0x10, 4, false, r.read32Ns);
    // e1000 over MMIO.
    const e = d.e1000, eb = IO.e1000Bar;
    s.e1000Icr = f.mmio('e1000_intr read ICR', A.e1000IntrIcr, A.handleIrq2, eb + 0xc0, 4, false, e.icrReadNs);
    s.e1000Imc = f.mmio('e1000_irq_disable write IMC (NAPI)', A.e1000IrqDisableImc, A.e1000Clean, eb + 0xd8, 4, true, e.maskWriteNs);
    s.e1000ImcFlush = f.mmio('e1000_irq_disable flush STATUS (NAPI)', A.e1000IrqDisableFlush, A.e1000Clean, eb + 0x08, 4, false, e.statusReadNs);
    s.e1000Ims = f.mmio('e1000_irq_enable write IMS (NAPI)', A.e1000IrqEnableIms, A.e1000Clean, eb + 0xd0, 4, true, e.maskWriteNs);
    s.e1000ImsFlush = f.mmio('e1000_irq_enable flush STATUS (NAPI)', A.e1000IrqEnableFlush, A.e1000Clean, eb + 0x08, 4, false, e.statusReadNs);
    s.e1000Rdt = f.mmio('e1000_clean_rx_irq write RDT', A.e1000CleanRxRdt, A.e1000Clean, eb + 0x2818, 4, true, e.tailWriteNs);
    s.e1000Tdt = f.mmio('e1000_xmit_frame write TDT', A.e1000XmitTdt, A.devQueueXmit, eb + 0x3818, 4, true, e.tailWriteNs);
  }

  /** A context switch: the CR3 write exits under shadow paging. */
  contextSwitch(v: VcpuSim): void {
    v.exit(this.s.cr3);
  }

  /** Per-vcpu wiring a guest kernel needs (the modern guest's timer); none for 2.6.27. */
  setupVcpu(_v: VcpuSim, _busy: boolean): void {}

  // ---- timer -------------------------------------------------------------

  /** Boot-time PIT programming (pit_load_count): mode, then the reload count lo/hi. */
  programPit(v: VcpuSim): void {
    v.exit(this.s.pitMode, 0x34);
    v.exit(this.s.pitLo, this.pitCount & 0xff);
    v.exit(this.s.pitHi, this.pitCount >>> 8);
  }

  /** LAPIC EOI for an edge-triggered interrupt: an exit unless APICv or PV EOI absorb it. */
  protected eoi(v: VcpuSim, site: Site): void {
    if (this.apicv) { v.skip(1); return; }
    if (this.pvEoi) { v.skip(1); v.rawWork(this.p.handling.pvEoiNs); return; }
    v.exit(site);
  }

  /** EOI of a level-triggered device interrupt: APICv still exits (EOI-induced); PV EOI cannot skip it. */
  levelEoi(v: VcpuSim): void {
    if (this.apicv) v.exit(this.s.eoiInduced);
    else v.exit(this.s.levelAck);
  }

  tick(v: VcpuSim): void {
    if (v.id === 0) {
      // PIT IRQ0 through the IOAPIC: timer_interrupt polls the PIC, ack_ioapic_irq EOIs.
      v.exit(this.s.picOut, 0x0c);
      v.exit(this.s.picIn, 0x80);
      this.eoi(v, this.s.ioapicAck);
    }
    this.eoi(v, this.s.lapicTimer);
    v.rawWork(this.p.guest.tickWorkNs);
    if (!this.apicv) v.exit(this.s.softirqWin);
    // The PM-timer rate check is periodic work: it runs from the timer (not at a request's submission, which would lock it to the I/O cadence).
    if (v.id === 0 && this.cfg.workload === 'disk') this.maybeVerifyPmtmr(v);
  }

  // ---- PM timer ------------------------------------------------------------

  /** verify_pmtmr_rate passes, due every pmtmrVerifyEveryNs during disk I/O, checked from the timer tick. */
  maybeVerifyPmtmr(v: VcpuSim): void {
    if (!this.pmtmrVerify || v.t < this.nextPmVerify) return;
    // A kernel timer: due every pmtmrVerifyEveryNs whatever the tick rate (due times do not drift with when it ran).
    while (this.nextPmVerify <= v.t) this.nextPmVerify += this.p.guest.pmtmrVerifyEveryNs;
    for (let k = 0; k < this.p.guest.pmtmrVerifyReads; k++) {
      v.exit(this.s.pmRead, (v.t * 3.579545e-3) & 0xffffff);
      v.rawWork(60);
    }
  }

  // ---- disk ----------------------------------------------------------------

  /** Issues one block request on the configured disk path. */
  submitDisk(v: VcpuSim): void {
    const s = this.s;
    v.curRip = 0xc0557f00;
    switch (this.cfg.disk) {
      case 'ide': {
        if (this.coalesceIo) this.batch(v, s.ideTfLoadCall, this.tfLoad);
        else for (const site of this.tfLoad) v.exit(site, 0);
        v.exit(s.ideDmaPrd, 0x1f8000);
        v.exit(s.ideDmaCmd, 0x08);
        v.exit(s.ideCmd, 0x35);
        v.exit(s.ideDmaStart, 0x09);
        break;
      }
      case 'ata': {
        v.exit(s.ataDevSelect, 0xe0);
        v.exit(s.ataAlt, 0x50);
        if (this.coalesceIo) this.batch(v, s.ataTfCall, this.ataTf);
        else for (const site of this.ataTf) v.exit(site, 0);
        v.exit(s.ataDevSelect, 0xe0);
        this.io(v, [[s.ataPrd, 0x1f8000], [s.ataDmaCmd, 0x08]]);
        v.exit(s.ataExec, 0x35);
        v.exit(s.ataStart, 0x09);
        break;
      }
      case 'virtio':
        v.exit(s.vblkNotify, 0);
        break;
    }
  }

  /** Completion interrupt handler of a block request. */
  completeDisk(v: VcpuSim): void {
    const s = this.s;
    switch (this.cfg.disk) {
      case 'ide':
        v.exit(s.ideDmaStop, 0x00);
        v.exit(s.ideDmaStatus, 0x04);
        v.exit(s.ideDmaClear, 0x04);
        v.exit(s.ideStatus, 0x50);
        if (this.coalesceIo) this.batch(v, s.ideTfReadCall, this.tfRead);
        else for (const site of this.tfRead) v.exit(site, 0);
        break;
      case 'ata':
        v.exit(s.ataStatus, 0x04);
        v.exit(s.ataStop, 0x00);
        v.exit(s.ataStatus, 0x00);
        v.exit(s.ataCheck, 0x50);
        v.exit(s.ataClear, 0x04);
        v.exit(s.ataDevSelect, 0xe0);
        break;
      case 'virtio':
        v.exit(s.vblkIsr, 1);
        break;
    }
    this.levelEoi(v);
  }

  /**
   * The paper's merged form (Fig. 6): the I/O instructions of a fragment go to
   * a queue and one vmcall makes KVM emulate them one by one. What goes is the
   * VM exit/entry per instruction; "the operation after VM Exit is not
   * modified" (§3.1.1): each instruction still reaches the device model.
   */
  private batch(v: VcpuSim, call: Site, sites: readonly Site[]): void {
    let handling = 0;
    for (const site of sites) handling += site.costNs;
    v.rawWork(40 * sites.length); // filling the queue
    v.exit(call, sites.length, handling);
    v.skip(sites.length - 1);
  }

  // ---- net -----------------------------------------------------------------

  /**
   * A write to a device MMIO register. With coalesced MMIO (KVM's documented
   * behaviour, virt/kvm/coalesced_mmio.c) a write to a coalesced zone STILL
   * exits: KVM decodes it, appends it to the VM's ring and re-enters without
   * the trip to userspace. QEMU performs the queued writes when KVM_RUN next
   * returns to it (any vcpu's next userspace exit: VcpuSim.drain). Reads are
   * never coalesced; a full ring sends the write to userspace. QEMU's e1000
   * keeps MDIC, ICR, ICS, IMS, RCTL, TCTL and TDT out of its coalesced zones.
   */
  protected mmioWrite(v: VcpuSim, site: Site, value: number): void {
    if (!this.coalescedMmio || !e1000Coalesced(site.gpa - IO.e1000Bar) || this.pendingCoalesced >= this.p.devices.coalescedRing) { v.exit(site, value); return; }
    let k = this.coalescedSites.get(site);
    if (!k) this.coalescedSites.set(site, (k = this.f.coalescedMmio(site)));
    this.pendingCoalesced++;
    this.pendingCoalescedWork += site.workNs - this.p.handling.mmioDecodeNs;
    v.exit(k, value);
  }

  protected mmioRead(v: VcpuSim, site: Site, value: number): void {
    v.exit(site, value);
  }

  /** Hands the queued coalesced writes' device work to an exit that reaches userspace (wired to every vcpu's drain). */
  drainCoalesced = (): number => {
    const w = this.pendingCoalescedWork;
    this.pendingCoalesced = 0;
    this.pendingCoalescedWork = 0;
    return w;
  };

  /**
   * A fragment of successive port accesses in one guest function. With the
   * guest change coalesce-io (the paper's §3.1.1 applied by rule), the OUTs
   * go to a queue and one hypercall makes KVM emulate them one by one; a read
   * can only end a batch (its value comes back with the hypercall's return:
   * the code may need it before its next access).
   */
  private io(v: VcpuSim, frag: ReadonlyArray<readonly [Site, number]>): void {
    if (!this.coalesceIo) { for (const [site, val] of frag) v.exit(site, val); return; }
    let start = 0;
    for (let k = 0; k < frag.length; k++) {
      const isRead = frag[k][0].dir === 1;
      if (isRead || k === frag.length - 1) {
        const part = frag.slice(start, k + 1);
        if (part.length === 1) v.exit(part[0][0], part[0][1]);
        else {
          let call = this.vmcallSites.get(part[0][0]);
          if (!call) this.vmcallSites.set(part[0][0], (call = this.f.vmcall(`${part[0][0].name} (merged)`, part[0][0].rip, part[0][0].caller)));
          this.batch(v, call, part.map((x) => x[0]));
        }
        start = k + 1;
      }
    }
  }

  /** Sends one packet through the driver. */
  transmit(v: VcpuSim): void {
    const s = this.s;
    v.curRip = A.devQueueXmit;
    switch (this.cfg.nic) {
      case 'rtl8139':
        this.io(v, [[s.rtlTxStatusW, 0x2005ea], [s.rtlTxStatusFlush, 0x2005ea]]);
        break;
      case 'e1000':
        this.mmioWrite(v, s.e1000Tdt, 0x10);
        break;
      case 'virtio':
        // Event suppression: a notify only when the host is not already draining the ring.
        if (v.chance(0.25)) v.exit(s.vnetNotify, 1);
        break;
    }
    // Posted interrupts (APICv) deliver without waiting for an interrupt window: no exit.
    if (v.chance(0.6) && !this.apicv) v.exit(s.intrWin);
  }

  /**
   * NAPI: the hard interrupt only masks the device and raises NET_RX_SOFTIRQ;
   * the poll runs later from ksoftirqd. In the guest that costs the poll's CPU
   * (napiPollNs) and the wake-up and scheduling of ksoftirqd (napiDelayNs),
   * guest CPU either way (the vcpu does not halt meanwhile).
   */
  protected napiDefer(v: VcpuSim): void {
    v.rawWork(this.p.guest.napiPollNs + this.p.guest.napiDelayNs);
  }

  /** Interrupt handler of the NIC: `rx` packets received, `tx` transmissions completed. */
  nicInterrupt(v: VcpuSim, rx: number, tx: number): void {
    const s = this.s, g = this.p.guest;
    switch (this.cfg.nic) {
      case 'rtl8139': {
        this.io(v, this.napi ? [[s.rtlIsr, 0x0005], [s.rtlAck, 0x0005], [s.rtlMask, 0x0000], [s.rtlMaskFlush, 0x0000]] : [[s.rtlIsr, 0x0005], [s.rtlAck, 0x0005]]);
        if (this.napi) this.napiDefer(v);
        // rtl8139_tx_interrupt reads TxStatus of each completed descriptor, and of the next one when it is still busy.
        for (let k = 0; k < tx; k++) v.exit(s.rtlTxStatusR, 0x2005ea);
        if (tx > 0 && v.chance(0.6)) v.exit(s.rtlTxStatusR, 0x0005ea);
        // rtl8139_rx: ChipCmd before each packet; the loop ends on an empty ring or on the budget.
        for (let k = 0; k < rx; k++) { v.exit(s.rtlChipCmd, 0x0c); v.rawWork(g.netRxCpuNs); }
        if (rx > 0 && v.chance(0.4)) v.exit(s.rtlChipCmd, 0x0d);
        if (rx > 0 && v.chance(0.75)) v.exit(s.rtlRxPtr, 0x1ff0);
        if (this.napi) { v.exit(s.rtlIsr, 0x0000); this.io(v, [[s.rtlUnmask, 0xe07f], [s.rtlUnmaskFlush, 0xe07f]]); }
        break;
      }
      case 'e1000': {
        this.mmioRead(v, s.e1000Icr, 0x80);
        if (this.napi) { this.mmioWrite(v, s.e1000Imc, 0xffffffff); this.mmioRead(v, s.e1000ImcFlush, 0x80080783); this.napiDefer(v); }
        for (let k = 0; k < rx; k++) v.rawWork(g.netRxCpuNs);
        if (rx > 0) this.mmioWrite(v, s.e1000Rdt, 0xff);
        if (this.napi) { this.mmioWrite(v, s.e1000Ims, 0x9d); this.mmioRead(v, s.e1000ImsFlush, 0x80080783); }
        break;
      }
      case 'virtio': {
        v.exit(s.vnetIsr, 1);
        v.rawWork(g.napiPollNs * 0.5);
        for (let k = 0; k < rx; k++) v.rawWork(g.netRxCpuNs);
        if (rx > 0 && v.chance(0.3)) v.exit(s.vnetNotify, 0);
        break;
      }
    }
    if (v.chance(0.6) && !this.apicv) v.exit(s.intrWin);
    this.levelEoi(v);
  }
}
