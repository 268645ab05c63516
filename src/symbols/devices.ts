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
/** Guest disk driver functions of emulated IDE/ATA disks (drivers/ide, libata). */
export const DISK_FN = /^(ata_|ide_|__ide_)/;
