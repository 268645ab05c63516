/**
 * Symbols (src/symbols): the KASLR rules a one-line bug breaks (issue 16). Each
 * case is a small map laid out by hand with functions 1 MiB apart and a few
 * RIPs; the candidate slides and what each puts where are worked out in the
 * comments (slide = trace address - map address, candidates are 2 MiB
 * multiples that keep the kernel RIPs inside the map's text).
 */
import { describe, expect, it } from 'vitest';
import { columnsFromRaw } from '../src/symbols/columns.js';
import { detectSlide, type RipWeight } from '../src/symbols/kaslr.js';
import { msrName } from '../src/symbols/msrs.js';
import { SymbolTable } from '../src/symbols/symbol-table.js';
import { parseNmText } from '../src/symbols/nm.js';
import { readFileSync } from 'node:fs';
import { fx } from './helpers.js';

const L = 0xffffffff81000000n;
const MiB = 0x100000n;

/** A core-kernel table from `[offset from L, name]` pairs, unsized text symbols like System.map's. */
function table(syms: Array<[bigint, string]>): SymbolTable {
  return new SymbolTable([{ cols: columnsFromRaw(syms.map(([off, name]) => ({ name, module: '', start: L + off, size: null, text: true }))) }]);
}
const rip = (off: bigint, count: number, reason = ''): RipWeight => ({ addr: L + off, count, reason });

describe('KASLR slide rules', () => {
  it('a tie between slides goes to the smaller one', () => {
    // Text [L, L+8 MiB). One HLT site at L+3 MiB+0x10. Candidates: 0 (always), and the 2 MiB
    // multiples in [L+3MiB+0x10 - (L+8MiB) + 1, 3 MiB+0x10] = -4, -2, +2 MiB.
    //   0      -> work_c      (no fit)      -4 MiB -> L+7MiB mwait_idle (fits HLT)
    //   -2 MiB -> work_e      (no fit)      +2 MiB -> L+1MiB default_idle (fits HLT)
    // -4 and +2 MiB score the same; the smaller |slide| wins.
    const t = table([[0n, 'work_a'], [MiB, 'default_idle'], [2n * MiB, 'work_b'], [3n * MiB, 'work_c'], [4n * MiB, 'work_d'], [5n * MiB, 'work_e'], [6n * MiB, 'work_f'], [7n * MiB, 'mwait_idle'], [8n * MiB, '_etext']]);
    const d = detectSlide(t, [rip(3n * MiB + 0x10n, 100, 'HLT')]);
    expect(d.candidates.map((c) => c.slide).sort((a, b) => (a < b ? -1 : 1))).toEqual([-4n * MiB, -2n * MiB, 0n, 2n * MiB]);
    expect(d.slide).toBe(2n * MiB);
    expect(d.mode).toBe('auto');
  });

  it('a trace that fits the map unslid keeps no slide unless another slide fits its instruction exits better', () => {
    // Text [L, L+6 MiB). 96 HLT exits at L+0x10 and 4 unhinted exits at L-0x1000 (below the text).
    //   0      : HLT in default_idle (fit 1); the 4 outside any function -> coverage 0.96
    //   -2 MiB : HLT in acpi_idle_do_entry (fit 1); the 4 in work_one -> coverage 1, a higher score
    // Same fit: the unslid map is kept.
    const t = table([[0n, 'default_idle'], [MiB, 'work_one'], [2n * MiB, 'acpi_idle_do_entry'], [3n * MiB, 'work_two'], [4n * MiB, 'work_three'], [5n * MiB, 'work_four'], [6n * MiB, '_etext']]);
    const d = detectSlide(t, [rip(0x10n, 96, 'HLT'), rip(-0x1000n, 4)]);
    const zero = d.candidates.find((c) => c.slide === 0n)!, two = d.candidates.find((c) => c.slide === -2n * MiB)!;
    expect([zero.coverage, zero.fit, two.coverage, two.fit]).toEqual([0.96, 1, 1, 1]);
    expect(d.slide).toBe(0n);
  });

  // Text [L, L+4 MiB); the trace is the map moved by +2 MiB: 500 HLT in default_idle, 499 MSR
  // writes in native_write_msr, and one stray RIP outside the moved text (0.1% of the exits).
  const strayMap = () => table([[0n, 'work_a'], [MiB, 'default_idle'], [MiB + MiB / 2n, 'native_write_msr'], [2n * MiB, 'work_b'], [3n * MiB, 'work_c'], [4n * MiB, '_etext']]);
  const slid = [rip(3n * MiB + 0x10n, 500, 'HLT'), rip(3n * MiB + MiB / 2n + 0x20n, 499, 'MSR_WRITE')];

  it('a stray RIP above the text does not rule out the slide (0.5% tail ignored at the top)', () => {
    // Counting the stray at L+7.9 MiB, slides would start at 7.9 - 4 MiB: +2 MiB would not be tried.
    const d = detectSlide(strayMap(), [...slid, rip(7n * MiB + 0xf0000n, 1)]);
    expect(d.slide).toBe(2n * MiB);
    const best = d.candidates.find((c) => c.slide === 2n * MiB)!;
    expect([best.coverage, best.fit]).toEqual([999 / 1000, 1]);
  });

  it('a stray RIP below the text does not rule out the slide (0.5% tail ignored at the bottom)', () => {
    // Counting the stray at L+64 KiB, slides would end at 64 KiB: +2 MiB would not be tried.
    const d = detectSlide(strayMap(), [rip(0x10000n, 1), ...slid]);
    expect(d.slide).toBe(2n * MiB);
  });

  it('strays beyond the 0.5% tail bound the slides (6 exits of 1,005 at the top)', () => {
    // 6 of 1,005 (0.6%) is more than the tail: the stray counts, slides start at 7.9 - 4 MiB, +2 MiB is never tried.
    const d = detectSlide(strayMap(), [...slid, rip(7n * MiB + 0xf0000n, 6)]);
    expect(d.candidates.map((c) => c.slide)).not.toContain(2n * MiB);
    expect(d.slide).toBe(0n);
  });
});

describe('MSR names (Intel SDM vol. 3 table 11-6 for x2APIC, kvm_para.h, hyperv-tlfs.h)', () => {
  const name = (i: number) => msrName(i)?.name ?? null;
  it('x2APIC registers are MSR 0x800 + the xAPIC offset / 16, the ISR/TMR/IRR banks by index', () => {
    expect([name(0x80b), name(0x830), name(0x838), name(0x83f)]).toEqual(['X2APIC_EOI', 'X2APIC_ICR', 'X2APIC_TMICT (timer initial count)', 'X2APIC_SELF_IPI']);
    expect([name(0x810), name(0x817), name(0x818), name(0x81f), name(0x820), name(0x827)]).toEqual(['X2APIC_ISR0', 'X2APIC_ISR7', 'X2APIC_TMR0', 'X2APIC_TMR7', 'X2APIC_IRR0', 'X2APIC_IRR7']);
    // Reserved offsets keep their number; the range is 0x800-0x8ff.
    expect([name(0x801), name(0x8ff), name(0x7ff), name(0x900)]).toEqual(['X2APIC_0x801', 'X2APIC_0x8ff', null, null]);
    expect(msrName(0x80b)!.group).toBe('x2apic');
  });

  it('KVM paravirtual MSRs: the named ones, then the rest of 0x4b564d00-0x4b564dff by number', () => {
    expect([name(0x4b564d01), name(0x4b564d04), name(0x4b564d09), name(0x4b564dff), name(0x4b564e00)]).toEqual(['MSR_KVM_SYSTEM_TIME_NEW (kvmclock)', 'MSR_KVM_PV_EOI_EN', 'MSR_KVM_0x4b564d09', 'MSR_KVM_0x4b564dff', null]);
    expect(msrName(0x4b564d09)!.group).toBe('kvm-pv');
  });

  it('Hyper-V synthetic MSRs: SINT0-15 at 0x40000090, STIMER0-3 CONFIG/COUNT pairs at 0x400000b0', () => {
    expect([name(0x40000090), name(0x4000009f), name(0x400000b0), name(0x400000b1), name(0x400000b6), name(0x400000b7)]).toEqual(['HV_X64_MSR_SINT0', 'HV_X64_MSR_SINT15', 'HV_X64_MSR_STIMER0_CONFIG', 'HV_X64_MSR_STIMER0_COUNT', 'HV_X64_MSR_STIMER3_CONFIG', 'HV_X64_MSR_STIMER3_COUNT']);
    expect([name(0x400000a0), name(0x400000b8), name(0x400000ff), name(0x40000100), name(0x3fffffff)]).toEqual(['HV_X64_MSR_0x400000a0', 'HV_X64_MSR_0x400000b8', 'HV_X64_MSR_0x400000ff', null, null]);
    expect(msrName(0x40000070)).toEqual({ name: 'HV_X64_MSR_EOI', group: 'hyperv' });
  });

  it('architectural MSRs by their SDM names', () => {
    expect([name(0x6e0), name(0x1b), name(0xc0000080), name(0x10)]).toEqual(['IA32_TSC_DEADLINE', 'IA32_APIC_BASE', 'IA32_EFER', 'IA32_TIME_STAMP_COUNTER']);
    expect(name(0x2)).toBeNull();
  });
});

describe('KASLR slide rules: signs and widths', () => {
  it('a tie between a negative and a positive slide goes to the smaller magnitude, whatever the sign', () => {
    // Text [L, L+8 MiB). One HLT site at L+4 MiB+0x10. Candidates (2 MiB multiples keeping it in the text): -2, 0, +2, +4 MiB.
    //   -2 MiB -> L+6 MiB+0x10 poll_idle (fits HLT)    0 -> work_e    +2 MiB -> work_c    +4 MiB -> L+0x10 default_idle (fits HLT)
    // -2 and +4 MiB tie; |-2 MiB| is the smaller.
    const t = table([[0n, 'default_idle'], [MiB, 'work_b'], [2n * MiB, 'work_c'], [3n * MiB, 'work_d'], [4n * MiB, 'work_e'], [5n * MiB, 'work_f'], [6n * MiB, 'poll_idle'], [7n * MiB, 'work_h'], [8n * MiB, '_etext']]);
    const d = detectSlide(t, [rip(4n * MiB + 0x10n, 100, 'HLT')]);
    expect(d.candidates.map((c) => c.slide).sort((a, b) => (a < b ? -1 : 1))).toEqual([-2n * MiB, 0n, 2n * MiB, 4n * MiB]);
    expect(d.slide).toBe(-2n * MiB);
    // A negative slide is written with its sign before 0x (issue 8: both JSON outputs say -0x200000).
    expect(d.note).toContain('-0x200000');
    expect(d.note).not.toContain('0x-');
  });

  const L32 = 0xc0100000n;
  const table32 = (): SymbolTable => new SymbolTable([{ cols: columnsFromRaw([[0n, 'default_idle'], [MiB, 'work_a'], [2n * MiB, '_etext']].map(([off, name]) => ({ name: name as string, module: '', start: L32 + (off as bigint), size: null, text: true }))) }]);

  it('a RIP at exactly 2^32 is a 64-bit guest address: a 32-bit map does not fit that trace, and says so', () => {
    const d = detectSlide(table32(), [{ addr: 0x100000000n, count: 3, reason: 'HLT' }]);
    expect(d.mismatch).toMatch(/^a 32-bit map \(text 0xc0100000–0xc0300000\) for a trace of 64-bit guest addresses/);
  });

  it('RIPs seen with no exit (count 0) do not decide the width of the trace', () => {
    // One 64-bit address with no exits and a 32-bit one outside the map's window: no mismatch, just nothing to detect a slide from.
    const d = detectSlide(table32(), [{ addr: 0xffffffff81000010n, count: 0, reason: '' }, { addr: 0x08048000n, count: 5, reason: '' }]);
    expect(d.mismatch).toBeUndefined();
    expect(d.mode).toBe('none');
    expect(d.note).toMatch(/^no RIP of the trace is in the map's kernel window 0xc0000000–0x100000000: slide not detectable, none applied$/);
  });

  it('a 64-bit map for a trace of 32-bit addresses is named the other way round', () => {
    const t = table([[0n, 'default_idle'], [MiB, 'work_a'], [2n * MiB, '_etext']]);
    const d = detectSlide(t, [{ addr: 0xc0100010n, count: 7, reason: 'HLT' }]);
    expect(d.mismatch).toMatch(/^a 64-bit map \(text 0xffffffff81000000–0xffffffff81200000\) for a trace of 32-bit guest addresses: give the map of the guest kernel that ran$/);
    expect(d.slide).toBe(0n);
  });
});

describe('map lines (System.map, nm, nm -S, /proc/kallsyms), each worked out by hand', () => {
  const parse = (text: string) => parseNmText(text, 'm');

  it('reads address, type and name; T t W w are text, others are not; module suffixes; sizes from nm -S', () => {
    const syms = parse([
      'ffffffff81000000 T _text',
      'ffffffff81000100 t native_safe_halt',
      'ffffffff81000200 W weak_fn',
      'ffffffff81000300 w weak_local',
      'ffffffff82000000 D jiffies',
      'ffffffffc0a10000 t e1000_intr\t[e1000]',
      'ffffffff81000400 0000000000000040 T sized_fn',
    ].join('\n'));
    expect(syms.map((s) => [s.name, s.module, s.start.toString(16), s.text, s.size])).toEqual([
      ['_text', '', 'ffffffff81000000', true, null],
      ['native_safe_halt', '', 'ffffffff81000100', true, null],
      ['weak_fn', '', 'ffffffff81000200', true, null],
      ['weak_local', '', 'ffffffff81000300', true, null],
      ['jiffies', '', 'ffffffff82000000', false, null],
      ['e1000_intr', 'e1000', 'ffffffffc0a10000', true, null],
      ['sized_fn', '', 'ffffffff81000400', true, 0x40n],
    ]);
  });

  it('CRLF line ends, leading blanks, blank lines, # comments and `U name` undefined symbols', () => {
    const syms = parse('# nm output\r\n\r\n   c0100000 T startup_32\r\n                 U printk\r\nc0100100 t default_idle\r\n');
    expect(syms.map((s) => [s.name, s.start.toString(16)])).toEqual([['startup_32', 'c0100000'], ['default_idle', 'c0100100']]);
    // `U` lines are skipped, not malformed: two of them next to one symbol are no "mostly not symbol-map lines".
    expect(parse('         U printk\n         U kmalloc\nc0100000 T startup_32\n')).toHaveLength(1);
  });

  it('a malformed line is skipped while good ones dominate; mostly malformed is an error naming the first', () => {
    expect(parse('c0100000 T a\nc0100010 T b\nnot a symbol line\n').map((s) => s.name)).toEqual(['a', 'b']);
    expect(() => parse('c0100000 T a\nxyz q\nfoo bar baz\n')).toThrow(/^m: mostly not symbol-map lines \(2 bad vs 1 good; first m:2: xyz q\)/);
    expect(() => parse('hello\nworld\n')).toThrow(/^m: not a symbol map \(expected System.map, nm or \/proc\/kallsyms lines .*; first bad line m:1: hello\)/);
    // A size that is not hex makes the line malformed.
    expect(parse('c0100000 T a\nc0100010 00zz T b\nc0100020 T c\n').map((s) => s.name)).toEqual(['a', 'c']);
  });

  it('kallsyms read without root (every address zero) is refused with the fix; 99% zero past ten symbols too', () => {
    const noRoot = readFileSync(fx('bad', 'kallsyms-noroot'), 'latin1');
    expect(() => parse(noRoot)).toThrow(/every address is zero: this kallsyms was read without root .* sudo cat \/proc\/kallsyms > kallsyms/);
    const mostly = Array.from({ length: 200 }, (_, k) => `0000000000000000 t f${k}`).concat(['ffffffff81000000 T _text']).join('\n');
    expect(() => parse(mostly)).toThrow(/every address is zero/);
    // Nine zero addresses and one real one (under ten symbols, not 99%): read.
    const few = Array.from({ length: 9 }, (_, k) => `0000000000000000 t f${k}`).concat(['ffffffff81000000 T _text']).join('\n');
    expect(parse(few)).toHaveLength(10);
  });
});
