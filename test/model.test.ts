import { describe, expect, it } from 'vitest';
import { REASONS } from '../src/model/reasons.js';
import { TimeBase, formatAbsNs } from '../src/model/time.js';
import { formatHexU64, newU64Out, parseHexU64, u64ToBigInt } from '../src/model/u64.js';

describe('exact 64-bit addresses', () => {
  it('keeps neighbouring kernel addresses distinct where doubles merge them', () => {
    // The premise: as doubles these two are equal.
    expect(Number(0xffffffff810000ffn)).toBe(Number(0xffffffff81000100n));
    const a = newU64Out(), b = newU64Out();
    expect(parseHexU64('0xffffffff810000ff', a)).toBe(true);
    expect(parseHexU64('0xffffffff81000100', b)).toBe(true);
    expect([a[0], a[1]]).toEqual([0xffffffff, 0x810000ff]);
    expect([b[0], b[1]]).toEqual([0xffffffff, 0x81000100]);
    expect(u64ToBigInt(a[0], a[1]) + 1n).toBe(u64ToBigInt(b[0], b[1]));
    expect(formatHexU64(b[0], b[1])).toBe('0xffffffff81000100');
  });

  it('parses and formats the edges', () => {
    const o = newU64Out();
    expect(parseHexU64('0x0', o) && formatHexU64(o[0], o[1])).toBe('0x0');
    expect(parseHexU64('0xC041BE3F', o) && formatHexU64(o[0], o[1])).toBe('0xc041be3f');
    expect(parseHexU64('0x0000ffffffffffffffff', o)).toBe(true); // leading zeros are not bits
    expect(parseHexU64('0x1ffffffffffffffff', o)).toBe(false); // 65 bits
    expect(parseHexU64('c041be3f', o)).toBe(false); // the canonical form wants 0x
    expect(parseHexU64('0x', o)).toBe(false);
    expect(parseHexU64('0xg1', o)).toBe(false);
  });
});

describe('timestamps', () => {
  it('stays exact for absolute stamps above 2^53', () => {
    const t = new TimeBase();
    const base = 1732460000123456789n; // epoch ns
    expect(t.offsetOfDigits(base.toString())).toBe(0);
    expect(t.offsetOfDigits((base + 1n).toString())).toBe(1);
    expect(t.offsetOfDigits((base + 86_400_000_000_001n).toString())).toBe(86_400_000_000_001);
    expect(formatAbsNs(base, 1)).toBe('1732460000123456790');
    expect(t.offsetOfDigits('-5')).toBeNaN();
  });
});

describe('exit reasons', () => {
  const name = (t: string, isa?: 'vmx' | 'svm') => { const id = REASONS.lookup(t, isa); return id < 0 ? null : REASONS.get(id); };
  it('maps VMX, SVM, old VMX and numeric spellings onto one table with the ISA kept', () => {
    expect(name('IO_INSTRUCTION')).toMatchObject({ isa: 'vmx', code: 30, canonical: 'IO_INSTRUCTION' });
    expect(name('io')).toMatchObject({ isa: 'svm', code: 0x7b, canonical: 'IO_INSTRUCTION' });
    expect(name('io_instruction')).toMatchObject({ isa: 'vmx', name: 'IO_INSTRUCTION' });
    expect(name('apic_access')).toMatchObject({ isa: 'vmx', name: 'APIC_ACCESS' });
    expect(name('npf')).toMatchObject({ isa: 'svm', code: 0x400, canonical: 'EPT_VIOLATION' });
    expect(name('hlt')).toMatchObject({ isa: 'svm', canonical: 'HLT' });
    expect(name('30')).toMatchObject({ isa: 'vmx', name: 'IO_INSTRUCTION' });
    expect(name('0x7b', 'svm')).toMatchObject({ isa: 'svm', name: 'io' });
    // Spelled alike on both vendors: the ISA hint decides.
    expect(name('hypercall', 'vmx')).toMatchObject({ isa: 'vmx', name: 'VMCALL' });
    expect(name('hypercall', 'svm')).toMatchObject({ isa: 'svm', name: 'hypercall' });
    expect(name('VMX_99')).toMatchObject({ isa: 'vmx', code: 99 });
    expect(name('no such reason')).toBeNull();
  });

  it('lets --reason match a class across vendors', () => {
    const ids = REASONS.matching('IO_INSTRUCTION').map((id) => REASONS.get(id).name).sort();
    expect(ids).toEqual(['IO_INSTRUCTION', 'io']);
  });
});
