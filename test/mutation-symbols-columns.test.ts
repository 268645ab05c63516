/**
 * Symbol columns (src/symbols/columns.ts): symbols as columns and back, without loss; the core
 * kernel is module 0 ('').
 */
import { describe, expect, it } from 'vitest';
import { addrOf, columnsFromRaw, nameOf, rawFromColumns, shiftColumns } from '../src/symbols/columns.js';
import type { RawSymbol } from '../src/symbols/types.js';

const raw: RawSymbol[] = [
  { name: 'startup_64', module: '', start: 0xffffffff81000000n, size: null, text: true },
  { name: 'e1000_intr', module: 'e1000', start: 0xffffffffc0a10000n, size: 0x40n, text: true },
  { name: 'jiffies', module: '', start: 0xffffffff82000000n, size: 8n, text: false },
  { name: 'zero_sized', module: 'e1000', start: 0xffffffffc0a10100n, size: 0n, text: true },
  { name: 'ata_sff_port_ops', module: 'libata', start: 0xffffffffc0534000n, size: null, text: false },
];

describe('symbol columns', () => {
  it('hold every symbol as given: name, module, address, size (none, zero or some), text', () => {
    expect(rawFromColumns(columnsFromRaw(raw))).toEqual(raw);
  });

  it('number modules in order of first appearance after the core kernel, which is module 0 named ""', () => {
    const c = columnsFromRaw(raw);
    expect(c.modules).toEqual(['', 'e1000', 'libata']);
    expect(Array.from(c.module)).toEqual([0, 1, 0, 1, 2]);
    expect(columnsFromRaw(raw.slice(0, 1)).modules).toEqual(['']);
    expect([nameOf(c, 3), addrOf(c, 4)]).toEqual(['zero_sized', 0xffffffffc0534000n]);
  });

  it('shift by a signed delta with exact 64-bit wrap-around', () => {
    const c = columnsFromRaw(raw.slice(0, 3));
    shiftColumns(c, -0x1000000n);
    expect([addrOf(c, 0), addrOf(c, 1), addrOf(c, 2)]).toEqual([0xffffffff80000000n, 0xffffffffbfa10000n, 0xffffffff81000000n]);
    shiftColumns(c, 0x80000000n);
    expect(addrOf(c, 0)).toBe(0n); // 0xffffffff80000000 + 0x80000000 wraps to 0
  });
});
