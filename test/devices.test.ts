/**
 * Device address predicates (src/symbols/devices.ts), at their edges, from the
 * documents they follow: the ISA IDE ports (primary 0x1f0-0x1f7 + control
 * 0x3f6, secondary 0x170-0x177 + 0x376), the local APIC window 0xfee00000 +
 * 1 MiB and the IOAPIC page 0xfec00000 + 4 KiB (the ranges KVM emulates in the
 * kernel), AHCI 1.3.1 §3 (port n's registers at 0x100 + 0x80 n, PxCI at +0x38)
 * and QEMU's e1000 registration of coalesced MMIO (every register of the 128 KiB
 * BAR but MDIC, ICR, ICS, IMS, RCTL, TCTL, TDT).
 */
import { describe, expect, it } from 'vitest';
import { e1000Coalesced, isAhciCommandIssue, isIdePort, isKernelApic, isKernelApicGpa } from '../src/symbols/devices.js';

describe('device address predicates', () => {
  it('IDE ports: both channels, their control ports, and nothing next to them', () => {
    const yes = [0x1f0, 0x1f7, 0x3f6, 0x170, 0x177, 0x376];
    const no = [0x1ef, 0x1f8, 0x3f5, 0x3f7, 0x16f, 0x178, 0x375, 0x377, 0x60, 0xc000];
    expect(yes.map(isIdePort)).toEqual(yes.map(() => true));
    expect(no.map(isIdePort)).toEqual(no.map(() => false));
  });

  it('in-kernel APIC ranges: the local APIC 1 MiB window and the IOAPIC 4 KiB page, only below 4 GiB', () => {
    const cases: Array<[number, number, boolean]> = [
      [0, 0xfee00000, true], [0, 0xfedfffff, false], [0, 0xfeefffff, true], [0, 0xfef00000, false],
      [0, 0xfec00000, true], [0, 0xfec00fff, true], [0, 0xfebfffff, false], [0, 0xfec01000, false],
      [1, 0xfee00000, false], [1, 0xfec00000, false], [0, 0xfee000b0, true],
    ];
    expect(cases.map(([hi, lo]) => isKernelApic(hi, lo))).toEqual(cases.map((c) => c[2]));
    expect(cases.map(([hi, lo]) => isKernelApicGpa((BigInt(hi) << 32n) | BigInt(lo)))).toEqual(cases.map((c) => c[2]));
  });

  it('AHCI command issue: PxCI of every port, not the HBA registers or other port registers', () => {
    expect([0x138, 0x1b8, 0x238, 0x138 + 31 * 0x80].map(isAhciCommandIssue)).toEqual([true, true, true, true]);
    expect([0x38, 0xb8, 0x100, 0x110, 0x13c, 0x134, 0x180, 0x08].map(isAhciCommandIssue)).toEqual(Array(8).fill(false));
  });

  it("e1000 coalesced MMIO: the BAR's registers but QEMU's uncoalesced seven (each 4 bytes), nothing outside the BAR", () => {
    const uncoalesced = [0x20, 0x23, 0xc0, 0xc8, 0xd0, 0xd3, 0x100, 0x400, 0x3818, 0x381b];
    expect(uncoalesced.map(e1000Coalesced)).toEqual(uncoalesced.map(() => false));
    const coalesced = [0x0, 0x08, 0x1c, 0x24, 0xbc, 0xc4, 0xd8, 0x104, 0x3817, 0x381c, 0x2818, 0x1ffff];
    expect(coalesced.map(e1000Coalesced)).toEqual(coalesced.map(() => true));
    expect([-4, 0x20000, 0x30000].map(e1000Coalesced)).toEqual([false, false, false]);
  });
});
