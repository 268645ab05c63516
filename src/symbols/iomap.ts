/**
 * Names for I/O ports and MMIO addresses: which device, and for devices whose
 * register layout is public, which register. The symbolizer of the `--by port`
 * and `--by mmio` views (perf kvm stat's ioport/mmio tables show bare numbers).
 *
 * Two sources:
 * - a built-in table of the fixed PC devices QEMU's PC and Q35 machines place
 *   at fixed addresses (PIC, PIT, i8042, RTC/CMOS, POST port, serial, IDE,
 *   VGA, ELCR, fw_cfg, PCI config, the ACPI PM block of PIIX4 at 0xb000 and of
 *   ICH9 at 0x600, the IOAPIC, HPET and local APIC);
 * - the guest's own /proc/ioports and /proc/iomem (`--iomap FILE`,
 *   repeatable), whose nested `start-end : name` lines name PCI BARs by the
 *   driver that claimed them (`e1000`, `ahci`) or the PCI address.
 * Register names: e1000 (Intel 8254x SDM), rtl8139 (RealTek datasheet, as
 * drivers/net/ethernet/realtek/8139too.c names them), legacy virtio-pci
 * (virtio spec 1.x §4.1.4.8), LAPIC (SDM Vol. 3 §11.4.1 table 11-1), IOAPIC
 * and HPET (IA-PC HPET spec).
 */
import { readFile } from 'node:fs/promises';
import { ExitscopeError } from '../model/errors.js';

export interface IoRegion {
  lo: bigint;
  hi: bigint;
  name: string;
  /** Nesting depth in /proc/ioports|iomem (deeper is more specific). */
  depth: number;
  /** Register layout key, when the region's device has a known one. */
  layout?: keyof typeof LAYOUTS;
}

type Layout = ReadonlyArray<readonly [number, number, string]>;

const rtl8139: Layout = [
  [0x00, 6, 'IDR (MAC)'], [0x08, 8, 'MAR'], [0x10, 16, 'TxStatus'], [0x20, 16, 'TxAddr'], [0x30, 4, 'RxBuf'],
  [0x37, 1, 'ChipCmd'], [0x38, 2, 'RxBufPtr'], [0x3a, 2, 'RxBufAddr'], [0x3c, 2, 'IntrMask'], [0x3e, 2, 'IntrStatus'],
  [0x40, 4, 'TxConfig'], [0x44, 4, 'RxConfig'], [0x48, 4, 'Timer'], [0x4c, 4, 'RxMissed'], [0x50, 1, 'Cfg9346'],
  [0x51, 1, 'Config0'], [0x52, 1, 'Config1'], [0x58, 1, 'MediaStatus'], [0x59, 1, 'Config3'], [0x5a, 1, 'Config4'],
  [0x60, 2, 'MultiIntr'], [0x62, 2, 'BasicModeCtrl'], [0x64, 2, 'BasicModeStatus'], [0x66, 2, 'NWayAdvert'],
  [0x68, 2, 'NWayLPAR'], [0x6a, 2, 'NWayExpansion'], [0xd8, 1, 'Config5'],
];

const e1000: Layout = [
  [0x0000, 4, 'CTRL'], [0x0008, 4, 'STATUS'], [0x0010, 4, 'EECD'], [0x0014, 4, 'EERD'], [0x0018, 4, 'CTRL_EXT'],
  [0x0020, 4, 'MDIC'], [0x00c0, 4, 'ICR'], [0x00c4, 4, 'ITR'], [0x00c8, 4, 'ICS'], [0x00d0, 4, 'IMS'], [0x00d8, 4, 'IMC'],
  [0x0100, 4, 'RCTL'], [0x0400, 4, 'TCTL'], [0x0410, 4, 'TIPG'], [0x2800, 4, 'RDBAL'], [0x2804, 4, 'RDBAH'],
  [0x2808, 4, 'RDLEN'], [0x2810, 4, 'RDH'], [0x2818, 4, 'RDT'], [0x2820, 4, 'RDTR'], [0x3800, 4, 'TDBAL'],
  [0x3804, 4, 'TDBAH'], [0x3808, 4, 'TDLEN'], [0x3810, 4, 'TDH'], [0x3818, 4, 'TDT'], [0x3820, 4, 'TIDV'],
  [0x5200, 0x200, 'MTA'], [0x5400, 8, 'RAL/RAH'],
];

/** e1000's I/O BAR: an indirect window onto the MMIO registers (8254x SDM 13.2.2). */
const e1000io: Layout = [[0x00, 4, 'IOADDR'], [0x04, 4, 'IODATA']];

const virtioLegacy: Layout = [
  [0x00, 4, 'HostFeatures'], [0x04, 4, 'GuestFeatures'], [0x08, 4, 'QueuePFN'], [0x0c, 2, 'QueueSize'],
  [0x0e, 2, 'QueueSelect'], [0x10, 2, 'QueueNotify'], [0x12, 1, 'DeviceStatus'], [0x13, 1, 'ISR'], [0x14, 0x100, 'DeviceConfig'],
];

const lapic: Layout = [
  [0x020, 4, 'ID'], [0x030, 4, 'Version'], [0x080, 4, 'TPR'], [0x090, 4, 'APR'], [0x0a0, 4, 'PPR'], [0x0b0, 4, 'EOI'],
  [0x0c0, 4, 'RRD'], [0x0d0, 4, 'LDR'], [0x0e0, 4, 'DFR'], [0x0f0, 4, 'SVR'], [0x100, 0x80, 'ISR'], [0x180, 0x80, 'TMR'],
  [0x200, 0x80, 'IRR'], [0x280, 4, 'ESR'], [0x2f0, 4, 'LVT CMCI'], [0x300, 4, 'ICR low'], [0x310, 4, 'ICR high'],
  [0x320, 4, 'LVT Timer'], [0x330, 4, 'LVT Thermal'], [0x340, 4, 'LVT PerfMon'], [0x350, 4, 'LVT LINT0'],
  [0x360, 4, 'LVT LINT1'], [0x370, 4, 'LVT Error'], [0x380, 4, 'TMICT (initial count)'], [0x390, 4, 'TMCCT (current count)'],
  [0x3e0, 4, 'TDCR (divide config)'],
];

const ioapic: Layout = [[0x00, 4, 'IOREGSEL'], [0x10, 4, 'IOWIN'], [0x40, 4, 'EOI']];
const hpet: Layout = [[0x000, 8, 'GCAP_ID'], [0x010, 8, 'GEN_CONF'], [0x020, 8, 'GINTR_STA'], [0x0f0, 8, 'MAIN_CNT'], [0x100, 0x300, 'Timer N']];

export const LAYOUTS = { rtl8139, e1000, e1000io, virtioLegacy, lapic, ioapic, hpet } as const;

/** Ports and MMIO every QEMU PC/Q35 guest has, whatever /proc says. */
const FIXED_PORTS: ReadonlyArray<readonly [number, number, string]> = [
  [0x20, 0x21, 'PIC master (i8259)'], [0xa0, 0xa1, 'PIC slave (i8259)'], [0x40, 0x40, 'PIT counter 0 (i8254)'],
  [0x41, 0x42, 'PIT counters 1-2 (i8254)'], [0x43, 0x43, 'PIT mode/command (i8254)'], [0x60, 0x60, 'i8042 data'],
  [0x64, 0x64, 'i8042 status/command'], [0x61, 0x61, 'NMI status / PC speaker'], [0x70, 0x70, 'RTC/CMOS index'],
  [0x71, 0x71, 'RTC/CMOS data'], [0x80, 0x80, 'POST port (io_delay)'], [0x92, 0x92, 'fast A20'],
  [0x170, 0x177, 'IDE secondary'], [0x376, 0x376, 'IDE secondary control'], [0x1f0, 0x1f0, 'IDE primary data'],
  [0x1f1, 0x1f6, 'IDE primary taskfile'], [0x1f7, 0x1f7, 'IDE primary status/command'], [0x3f6, 0x3f6, 'IDE primary control'],
  [0x2f8, 0x2ff, 'serial COM2 (16550A)'], [0x3f8, 0x3f8, 'serial COM1 data'], [0x3f9, 0x3ff, 'serial COM1 registers'],
  [0x3c0, 0x3df, 'VGA'], [0x402, 0x402, 'debug console'], [0x4d0, 0x4d1, 'ELCR (i8259)'],
  [0x510, 0x510, 'fw_cfg selector'], [0x511, 0x511, 'fw_cfg data'], [0x514, 0x51b, 'fw_cfg DMA'],
  [0x600, 0x603, 'ACPI PM1a event (ICH9)'], [0x604, 0x605, 'ACPI PM1a control (ICH9)'], [0x608, 0x60b, 'ACPI PM timer (ICH9)'],
  [0x620, 0x62f, 'ACPI GPE0 (ICH9)'], [0xb000, 0xb003, 'ACPI PM1a event (PIIX4)'], [0xb004, 0xb005, 'ACPI PM1a control (PIIX4)'],
  [0xb008, 0xb00b, 'ACPI PM timer (PIIX4)'], [0xcf8, 0xcfb, 'PCI config address'], [0xcfc, 0xcff, 'PCI config data'],
];

const FIXED_MMIO: ReadonlyArray<readonly [bigint, bigint, string, keyof typeof LAYOUTS]> = [
  [0xfec00000n, 0xfec003ffn, 'IOAPIC', 'ioapic'],
  [0xfed00000n, 0xfed003ffn, 'HPET', 'hpet'],
  [0xfee00000n, 0xfee00fffn, 'LAPIC', 'lapic'],
];

function layoutFor(name: string): keyof typeof LAYOUTS | undefined {
  if (/^e1000e?$/.test(name)) return 'e1000';
  if (/8139/.test(name)) return 'rtl8139';
  if (/^virtio-pci/.test(name) || /^virtio\d*$/.test(name)) return 'virtioLegacy';
  return undefined;
}

function register(layout: Layout, off: number): string | null {
  for (const [o, size, name] of layout) if (off >= o && off < o + size) return off === o ? name : `${name}+0x${(off - o).toString(16)}`;
  return null;
}

/** Parses /proc/ioports or /proc/iomem text (nested `start-end : name`, two spaces per level). */
export function parseIoResources(text: string, path: string): IoRegion[] {
  const out: IoRegion[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].replace(/\r$/, '');
    if (line.trim() === '') continue;
    const m = /^( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.+)$/.exec(line);
    if (!m) throw new ExitscopeError(`${path}:${n + 1}: not a /proc/ioports or /proc/iomem line ('start-end : name')`);
    const name = m[4].trim();
    const lo = BigInt('0x' + m[2]), hi = BigInt('0x' + m[3]);
    if (lo === 0n && hi === 0n && n > 0) throw new ExitscopeError(`${path}: addresses read as zeros: /proc/iomem read without root hides them; read it as root`);
    out.push({ lo, hi, name, depth: m[1].length / 2, layout: layoutFor(name) });
  }
  return out;
}

export interface IoName {
  /** `e1000 @ 0xfebc0000`, `PIT counter 0 (i8254)`. */
  device: string;
  /** Register within the device, when its layout is known. */
  register: string | null;
}

/** Port and MMIO naming for one analysis: the fixed table plus any --iomap files. */
export class IoMap {
  constructor(private readonly ports: readonly IoRegion[] = [], private readonly mmio: readonly IoRegion[] = []) {}

  static async load(paths: readonly string[]): Promise<IoMap> {
    const ports: IoRegion[] = [], mmio: IoRegion[] = [];
    for (const p of paths) {
      let text: string;
      try { text = await readFile(p, 'utf8'); } catch (e) {
        throw new ExitscopeError(`${p}: cannot read iomap (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      const regions = parseIoResources(text, p);
      // /proc/ioports stays below 0x10000; /proc/iomem starts with RAM and goes to 4 GiB and above.
      const isPorts = regions.every((r) => r.hi <= 0xffffn);
      (isPorts ? ports : mmio).push(...regions);
    }
    return new IoMap(ports, mmio);
  }

  private best(list: readonly IoRegion[], a: bigint): IoRegion | null {
    let best: IoRegion | null = null;
    for (const r of list) if (a >= r.lo && a <= r.hi && (!best || r.depth > best.depth || (r.depth === best.depth && r.hi - r.lo < best.hi - best.lo))) best = r;
    return best;
  }

  port(p: number): IoName | null {
    const r = this.best(this.ports, BigInt(p));
    // The guest's own claim wins where it is specific (a driver or a PCI device); the fixed table names the rest.
    if (r && (r.layout || r.depth > 0) && !/^PCI Bus/.test(r.name)) {
      // e1000's port BAR is its IOADDR/IODATA window, not the MMIO register file.
      const layout = r.layout === 'e1000' ? 'e1000io' : r.layout;
      const reg = layout ? register(LAYOUTS[layout], p - Number(r.lo)) : null;
      return { device: r.layout || /^[0-9a-f]{4}:/.test(r.name) ? `${r.name} @ 0x${r.lo.toString(16)}` : r.name, register: reg };
    }
    for (const [lo, hi, name] of FIXED_PORTS) if (p >= lo && p <= hi) return { device: name, register: null };
    return r && !/^PCI Bus/.test(r.name) ? { device: r.name, register: null } : null;
  }

  mmioAt(a: bigint): IoName | null {
    for (const [lo, hi, name, layout] of FIXED_MMIO) if (a >= lo && a <= hi) return { device: name, register: register(LAYOUTS[layout], Number(a - lo)) };
    const r = this.best(this.mmio, a);
    if (!r || /^PCI Bus|System RAM|Reserved$/.test(r.name)) return null;
    return { device: `${r.name} @ 0x${r.lo.toString(16)}`, register: r.layout ? register(LAYOUTS[r.layout], Number(a - r.lo)) : null };
  }
}
