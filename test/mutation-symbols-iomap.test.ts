/**
 * /proc/ioports and /proc/iomem naming (src/symbols/iomap.ts), the cases test/iomap-rules.test.ts
 * leaves open: files that cannot be read, whitespace lines, a port range at 0 after the first
 * line (dma1 under the PCI bus, as every x86 /proc/ioports has it), overlapping claims at one
 * depth, a top-level claim over a fixed PC port, and the first and last byte of the fixed
 * IOAPIC/HPET/LAPIC windows.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IoMap, parseIoResources } from '../src/symbols/iomap.js';

const dir = mkdtempSync(join(tmpdir(), 'exitscope-iomap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('reading iomap files', () => {
  it('a missing file or a directory is an error naming it', async () => {
    const missing = join(dir, 'no-such-ioports');
    await expect(IoMap.load([missing])).rejects.toThrow(`${missing}: cannot read iomap (no such file)`);
    await expect(IoMap.load([dir])).rejects.toThrow(`${dir}: cannot read iomap (EISDIR)`);
  });

  it('ioports and iomem files load into port and MMIO names', async () => {
    const ports = join(dir, 'ioports'), mem = join(dir, 'iomem');
    writeFileSync(ports, '0000-0cf7 : PCI Bus 0000:00\n  0000-001f : dma1\n0d00-ffff : PCI Bus 0000:00\n  c000-c0ff : 0000:00:03.0\n    c000-c0ff : 8139too\n');
    writeFileSync(mem, '00000000-00000fff : Reserved\nfebc0000-febdffff : 0000:00:04.0\n  febc0000-febdffff : e1000e\n');
    const m = await IoMap.load([ports, mem]);
    expect(m.port(0xc03c)).toEqual({ device: '8139too @ 0xc000', register: 'IntrMask' });
    expect(m.mmioAt(0xfebc00d0n)).toEqual({ device: 'e1000e @ 0xfebc0000', register: 'IMS' });
  });

  it('lines of blanks are skipped; a line with anything before its range is an error', () => {
    expect(parseIoResources('0000-0cf7 : PCI Bus 0000:00\n   \n\t\n  0060-0060 : keyboard\n', 'io').map((r) => r.name)).toEqual(['PCI Bus 0000:00', 'keyboard']);
    expect(() => parseIoResources('0000-0cf7 : PCI Bus 0000:00\nx0060-0060 : keyboard\n', 'io')).toThrow(/^io:2: not a \/proc\/ioports or \/proc\/iomem line/);
  });

  it('a range starting at 0 after the first line (dma1 under the PCI bus) is no sign of missing root', () => {
    const r = parseIoResources('0000-0cf7 : PCI Bus 0000:00\n  0000-001f : dma1\n  0020-0021 : pic1\n', 'io');
    expect(r.map((x) => [x.lo, x.hi, x.name, x.depth])).toEqual([[0n, 0xcf7n, 'PCI Bus 0000:00', 0], [0n, 0x1fn, 'dma1', 1], [0x20n, 0x21n, 'pic1', 1]]);
  });

  it('names ending in virtio are not the virtio device', () => {
    const r = parseIoResources('c000-c03f : snd-virtio\nc040-c07f : my-virtio0\n', 'io');
    expect(r.map((x) => x.layout ?? null)).toEqual([null, null]);
  });
});

describe('which claim names an address', () => {
  it('of two overlapping claims at one depth, the narrower names the port, listed first or last', () => {
    for (const text of ['3000-30ff : wide_claim\n3040-305f : narrow_claim\n', '3040-305f : narrow_claim\n3000-30ff : wide_claim\n']) {
      const m = new IoMap(parseIoResources(text, 'io'));
      expect([m.port(0x3040), m.port(0x3000)]).toEqual([{ device: 'narrow_claim', register: null }, { device: 'wide_claim', register: null }]);
    }
  });

  it('the same for MMIO', () => {
    for (const text of ['d0000000-d00fffff : wide_bar\nd0040000-d004ffff : narrow_bar\n', 'd0040000-d004ffff : narrow_bar\nd0000000-d00fffff : wide_bar\n']) {
      const m = new IoMap([], parseIoResources(text, 'mem'));
      expect([m.mmioAt(0xd0040010n)?.device, m.mmioAt(0xd0000010n)?.device]).toEqual(['narrow_bar @ 0xd0040000', 'wide_bar @ 0xd0000000']);
    }
  });

  it('a top-level claim without a driver layout does not rename a fixed PC port', () => {
    const m = new IoMap(parseIoResources('0040-0043 : timer0\n0060-0060 : keyboard\n', 'io'));
    expect([m.port(0x40)?.device, m.port(0x60)?.device]).toEqual(['PIT counter 0 (i8254)', 'i8042 data']);
  });

  it('the fixed IOAPIC, HPET and LAPIC windows from their first byte to their last', () => {
    const m = new IoMap();
    const dev = (a: bigint) => m.mmioAt(a)?.device ?? null;
    expect([dev(0xfec00000n), dev(0xfec003ffn), dev(0xfed00000n), dev(0xfed003ffn), dev(0xfee00000n), dev(0xfee00fffn)]).toEqual(['IOAPIC', 'IOAPIC', 'HPET', 'HPET', 'LAPIC', 'LAPIC']);
    expect([dev(0xfebfffffn), dev(0xfec00400n), dev(0xfecfffffn), dev(0xfed00400n), dev(0xfedfffffn), dev(0xfee01000n)]).toEqual([null, null, null, null, null, null]);
  });
});
