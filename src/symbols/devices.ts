/**
 * What a port, an MMIO address or a function name says about the device
 * behind an exit: the one table replay passes, advise and the reports share
 * (so the NIC and disk patterns, the APIC windows and the in-kernel ports are
 * never written twice).
 *
 * Sources: the PC/Q35 fixed I/O map as QEMU and KVM implement it (KVM emulates
 * the PIC, PIT, speaker port and ELCR in the kernel: arch/x86/kvm/i8259.c,
 * i8254.c; the local APIC at 0xfee00000 and the IOAPIC at 0xfec00000:
 * lapic.c, ioapic.c), the legacy IDE ports (0x1f0-0x1f7/0x3f6 primary,
 * 0x170-0x177/0x376 secondary), and the guest drivers' function prefixes.
 */

/** Ports KVM emulates in the kernel (PIC, PIT, speaker, ELCR): no trip to the device model. */
export const KERNEL_PORTS: ReadonlySet<number> = new Set([0x20, 0x21, 0xa0, 0xa1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x4d0, 0x4d1]);

/** PIT and PIC ports a timer tick touches. */
export const TIMER_PORTS: ReadonlySet<number> = new Set([0x20, 0x21, 0x40, 0x41, 0x42, 0x43]);

export function isIdePort(p: number): boolean {
  return (p >= 0x1f0 && p <= 0x1f7) || p === 0x3f6 || (p >= 0x170 && p <= 0x177) || p === 0x376;
}

export const LAPIC_BASE = 0xfee00000;
export const LAPIC_END = 0xfef00000;
export const IOAPIC_BASE = 0xfec00000;
export const IOAPIC_END = 0xfec01000;
/** The local APIC's EOI register (xAPIC MMIO). */
export const LAPIC_EOI = 0xfee000b0;

/** A guest-physical address (two uint32 halves) in the local APIC or IOAPIC window, emulated in the kernel. */
export function isKernelApic(gpaHi: number, gpaLo: number): boolean {
  return gpaHi === 0 && ((gpaLo >= LAPIC_BASE && gpaLo < LAPIC_END) || (gpaLo >= IOAPIC_BASE && gpaLo < IOAPIC_END));
}

/** Guest NIC driver functions (emulated NICs, by their Linux driver names). */
export const NIC_FN = /rtl8139|e1000|ne2k|pcnet|eepro100|8139/;
/** Guest disk driver functions of emulated IDE/ATA/AHCI disks (drivers/ide, libata, drivers/ata/ahci*.c). */
export const DISK_FN = /^(ata_|ide_|__ide_|ahci_)/;

/**
 * AHCI (Serial ATA AHCI 1.3.1 §3): the HBA's registers in its ABAR; port n's
 * registers at 0x100 + 0x80 n. A command is issued by setting its bit in PxCI.
 */
export const AHCI = { HOST_IS: 0x08, PORT_BASE: 0x100, PORT_SPAN: 0x80, PxIS: 0x10, PxCI: 0x38 } as const;

/** An ABAR offset (low 12 bits of the address) that is a port's command-issue register. */
export function isAhciCommandIssue(offset: number): boolean {
  return offset >= AHCI.PORT_BASE && (offset - AHCI.PORT_BASE) % AHCI.PORT_SPAN === AHCI.PxCI;
}

/** IOAPIC / LAPIC window test on a bigint guest-physical address. */
export function isKernelApicGpa(g: bigint): boolean {
  return (g >= BigInt(LAPIC_BASE) && g < BigInt(LAPIC_END)) || (g >= BigInt(IOAPIC_BASE) && g < BigInt(IOAPIC_END));
}

/** Local APIC timer initial count (TMICT), xAPIC MMIO offset. */
export const LAPIC_TMICT_OFFSET = 0x380;

/** x2APIC and timer MSRs (Intel SDM vol. 3 §11.12, Linux arch/x86/include/asm/msr-index.h, apicdef.h). */
export const MSR_TSC_DEADLINE = 0x6e0;
export const MSR_X2APIC_EOI = 0x80b;
export const MSR_X2APIC_ICR = 0x830;
export const MSR_X2APIC_TMICT = 0x838;

/**
 * e1000 register offsets (Intel 8254x SDM; Linux e1000_hw.h) the passes read
 * traces by: interrupt cause/mask, status, descriptor ring tails.
 */
export const E1000 = { STATUS: 0x08, ICR: 0xc0, ICS: 0xc8, IMS: 0xd0, IMC: 0xd8, RCTL: 0x100, TCTL: 0x400, RDT: 0x2818, TDT: 0x3818, MDIC: 0x20, BAR_SPAN: 0x20000 } as const;

/**
 * Registers QEMU's e1000 keeps OUT of its coalesced-MMIO zones
 * (hw/net/e1000.c, e1000_mmio_setup: `excluded_regs` = MDIC, ICR, ICS, IMS,
 * RCTL, TCTL, TDT): writes to them have side effects the device model must see
 * at once. Every other register of the BAR is registered with
 * KVM_REGISTER_COALESCED_MMIO (e.g. IMC, RDT).
 */
export const QEMU_E1000_UNCOALESCED: ReadonlySet<number> = new Set([E1000.MDIC, E1000.ICR, E1000.ICS, E1000.IMS, E1000.RCTL, E1000.TCTL, E1000.TDT]);

/** Whether a write at this e1000 BAR offset lands in one of QEMU's coalesced zones. */
export function e1000Coalesced(offset: number): boolean {
  for (const r of QEMU_E1000_UNCOALESCED) if (offset >= r && offset < r + 4) return false;
  return offset >= 0 && offset < E1000.BAR_SPAN;
}

/** RTL8139 register offsets (RTL8139 datasheet; Linux 8139too.c). */
export const RTL8139 = { TX_STATUS0: 0x10, CHIP_CMD: 0x37, RX_BUF_PTR: 0x38, INTR_MASK: 0x3c, INTR_STATUS: 0x3e, SPAN: 0x100 } as const;

/** Timer interrupt handlers of Linux guests (2.6 to 6.x): a tick's own code, never a device's. */
export const TIMER_HANDLER_FNS: ReadonlySet<string> = new Set([
  'timer_interrupt', 'smp_apic_timer_interrupt', 'apic_timer_interrupt', 'sysvec_apic_timer_interrupt', 'asm_sysvec_apic_timer_interrupt', '__sysvec_apic_timer_interrupt',
  'local_apic_timer_interrupt', 'hrtimer_interrupt', 'tick_handle_periodic', 'tick_sched_timer', 'tick_handle_oneshot_broadcast',
]);

/** Functions that re-arm a one-shot clock event (the timer source's own programming). */
export const TIMER_REARM_FNS: ReadonlySet<string> = new Set(['lapic_next_event', 'lapic_next_deadline', 'pit_next_event', 'clockevents_program_event', 'tick_program_event']);

/** Edge-triggered EOI functions (the timer's EOI; level-triggered device EOIs go through *_quirk_irq / fasteoi). */
export const EDGE_ACK_FNS: ReadonlySet<string> = new Set(['ack_ioapic_irq', 'ack_apic_edge', 'ack_edge_ioapic_irq', 'apic_ack_edge', 'native_apic_msr_eoi', 'native_apic_mem_eoi', 'native_apic_msr_eoi_write', 'native_apic_mem_write', 'apic_eoi', 'ack_APIC_irq']);

/** Function names of the guest's idle loop HLT (a halted vcpu). */
export const IDLE_FNS = /^(default_idle|safe_halt|native_safe_halt|pv_native_safe_halt|mwait_idle|acpi_safe_halt|default_idle_call|arch_safe_halt)$/;
