/**
 * /proc/ioports and /proc/iomem naming rules (src/symbols/iomap.ts), on small
 * texts written for each rule (two spaces per nesting level, `start-end : name`
 * as the kernel's r_show prints them). Register names are the drivers' own
 * (rtl8139: 8139too.c's RTL8139_registers; e1000: the 8254x manual; legacy
 * virtio: virtio_pci_legacy.h; local APIC: the SDM's xAPIC map).
 */
import { describe, expect, it } from 'vitest';
import { IoMap, parseIoResources } from '../src/symbols/iomap.js';

const PORTS = [
  '0000-0cf7 : PCI Bus 0000:00',
  '  0060-0060 : keyboard',
  '0cf8-0cff : PCI conf1',
  '0d00-ffff : PCI Bus 0000:00',
  '  c000-c0ff : 0000:00:03.0',
  '    c000-c0ff : 8139too',
  '  c100-c13f : 0000:00:04.0',
  '    c100-c13f : e1000',
  '  c140-c15f : 0000:00:05.0',
  '    c140-c15f : virtio-pci-legacy',
  '  c160-c16f : 0000:00:06.0',
].join('\n');

const MEM = [
  '00000000-00000fff : Reserved',
  '00001000-0009fbff : System RAM',
  'febc0000-febdffff : 0000:00:04.0',
  '  febc0000-febdffff : e1000e',
  'febe0000-febeffff : 0000:00:07.0',
  'fec00000-fec003ff : IOAPIC 0',
  'fed00000-fed003ff : HPET 0',
  'fee00000-fee00fff : Local APIC',
].join('\r\n');

describe('iomap parsing', () => {
  it('reads depth from the indentation, names trimmed, CR line ends, blank lines skipped', () => {
    const r = parseIoResources('0000-0cf7 : PCI Bus 0000:00\r\n\r\n  0060-0060 : keyboard  \r\n    0064-0064 : deeper\n', 'io');
    expect(r.map((x) => [x.lo, x.hi, x.name, x.depth])).toEqual([[0n, 0xcf7n, 'PCI Bus 0000:00', 0], [0x60n, 0x60n, 'keyboard', 1], [0x64n, 0x64n, 'deeper', 2]]);
  });

  it('a line that is not `start-end : name` is an error naming its line; all-zero addresses after the first line mean no root', () => {
    expect(() => parseIoResources('0000-0cf7 : PCI Bus\nnonsense\n', 'io')).toThrow(/^io:2: not a \/proc\/ioports or \/proc\/iomem line/);
    expect(() => parseIoResources('00000000-00000000 : Reserved\n00000000-00000000 : System RAM\n', 'mem')).toThrow(/^mem: addresses read as zeros: \/proc\/iomem read without root/);
    // A first line of zeros alone is a real (empty) region.
    expect(parseIoResources('00000000-00000000 : Reserved\n', 'mem')).toHaveLength(1);
  });

  it('layouts by driver name: 8139too, e1000 and e1000e, virtio-pci*, virtio0; not e1000-like or virtio-like names', () => {
    const names = ['8139too', 'e1000', 'e1000e', 'virtio-pci-legacy', 'virtio0', 'virtio', 'xe1000', 'e1000x', 'my-virtio-pci', 'virtio0x'];
    const r = parseIoResources(names.map((n, k) => `${(0x100 * (k + 1)).toString(16)}-${(0x100 * (k + 1) + 0xff).toString(16)} : ${n}`).join('\n'), 'io');
    expect(r.map((x) => x.layout ?? null)).toEqual(['rtl8139', 'e1000', 'e1000', 'virtioLegacy', 'virtioLegacy', 'virtioLegacy', null, null, null, null]);
  });
});

describe('iomap names', () => {
  const map = new IoMap(parseIoResources(PORTS, 'ioports'), parseIoResources(MEM, 'iomem'));

  it('ports: the deepest claim, with the register at its offset (+0xN inside a wider register)', () => {
    expect(map.port(0xc03c)).toEqual({ device: '8139too @ 0xc000', register: 'IntrMask' });
    expect(map.port(0xc03d)).toEqual({ device: '8139too @ 0xc000', register: 'IntrMask+0x1' });
    expect(map.port(0xc000)).toEqual({ device: '8139too @ 0xc000', register: 'IDR (MAC)' });
    expect(map.port(0xc006)).toEqual({ device: '8139too @ 0xc000', register: null }); // between IDR (6 bytes) and MAR
    // e1000's port BAR is its IOADDR/IODATA window.
    expect(map.port(0xc104)).toEqual({ device: 'e1000 @ 0xc100', register: 'IODATA' });
    expect(map.port(0xc150)).toEqual({ device: 'virtio-pci-legacy @ 0xc140', register: 'QueueNotify' });
    // A PCI function with no driver claim: named by its address, no register.
    expect(map.port(0xc165)).toEqual({ device: '0000:00:06.0 @ 0xc160', register: null });
    expect(map.port(0x60)).toEqual({ device: 'keyboard', register: null });
    // Only a PCI bus covers it: nothing to say.
    expect(map.port(0x2000)).toBeNull();
  });

  it('MMIO: the fixed APIC/HPET windows with registers, a driver BAR, an unclaimed PCI function, and no name for RAM or reserved ranges', () => {
    expect(map.mmioAt(0xfee000b0n)).toEqual({ device: 'LAPIC', register: 'EOI' });
    expect(map.mmioAt(0xfee00380n)).toEqual({ device: 'LAPIC', register: 'TMICT (initial count)' });
    expect(map.mmioAt(0xfec00010n)).toEqual({ device: 'IOAPIC', register: 'IOWIN' });
    expect(map.mmioAt(0xfed000f0n)).toEqual({ device: 'HPET', register: 'MAIN_CNT' });
    expect(map.mmioAt(0xfebc00d0n)).toEqual({ device: 'e1000e @ 0xfebc0000', register: 'IMS' });
    expect(map.mmioAt(0xfebc3818n)).toEqual({ device: 'e1000e @ 0xfebc0000', register: 'TDT' });
    expect(map.mmioAt(0xfebe0010n)).toEqual({ device: '0000:00:07.0 @ 0xfebe0000', register: null });
    expect(map.mmioAt(0x2000n)).toBeNull();
    expect(map.mmioAt(0x100n)).toBeNull();
    expect(map.mmioAt(0xfee01000n)).toBeNull();
  });
});
