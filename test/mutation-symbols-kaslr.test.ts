/**
 * KASLR slide detection (src/symbols/kaslr.ts): the candidates tried, the choice, and the note
 * and warnings a user reads. Maps are laid out by hand as in test/mutation-symbols.test.ts
 * (unsized text symbols from L = 0xffffffff81000000, functions 1 MiB apart, `_etext` closing
 * the text); for each case the comments work out the candidate slides (2 MiB multiples s with
 * every kernel RIP - s inside [text start, text end), plus 0), where each puts the RIPs, and the
 * score (coverage / 2 + fit) that ranks them.
 */
import { describe, expect, it } from 'vitest';
import { columnsFromRaw } from '../src/symbols/columns.js';
import { detectSlide, type RipWeight } from '../src/symbols/kaslr.js';
import { SymbolTable } from '../src/symbols/symbol-table.js';

const L = 0xffffffff81000000n;
const MiB = 0x100000n;

function table(syms: Array<[bigint, string]>, base = L): SymbolTable {
  return new SymbolTable([{ cols: columnsFromRaw(syms.map(([off, name]) => ({ name, module: '', start: base + off, size: null, text: true }))) }]);
}
const rip = (off: bigint, count: number, reason = ''): RipWeight => ({ addr: L + off, count, reason });
const slides = (d: { candidates: Array<{ slide: bigint }> }) => d.candidates.map((c) => c.slide);

/** Text [L, L+8 MiB): f_k at L + k MiB, named by `names[k]`. */
const map8 = (names: string[]) => table([...names.map((n, k): [bigint, string] => [BigInt(k) * MiB, n]), [8n * MiB, '_etext']]);
const work8 = ['work_a', 'work_b', 'work_c', 'work_d', 'work_e', 'work_f', 'work_g', 'work_h'];
const with8 = (over: Record<number, string>) => work8.map((n, k) => over[k] ?? n);

describe('the note: which slide, the runner-up, how close', () => {
  // One HLT site at L+4 MiB+0x10. Candidates 0, -2, +2, +4 MiB put it in f4, f6, f2, f0.
  const hlt = [rip(4n * MiB + 0x10n, 100, 'HLT')];

  it('a clear winner is named with its coverage and fit, and the best of the rest (ties among them to the smallest |slide|)', () => {
    // f2 idle: +2 MiB fits (score 1.5); 0, -2, +4 MiB all score 0.5 -> the runner-up is 0 (smallest |slide|).
    const d = detectSlide(map8(with8({ 2: 'default_idle' })), hlt);
    expect(slides(d)).toEqual([0n, -2n * MiB, 2n * MiB, 4n * MiB]);
    expect(d.slide).toBe(2n * MiB);
    expect(d.note).toBe('slide 0x200000 detected: 100% of kernel RIPs in functions, 100% of instruction exits in matching functions; next best 0x0 (0%)');
  });

  it('a runner-up that fits as well is named, and the call is said to be close', () => {
    // f2 and f0 idle: +2 and +4 MiB both score 1.5; +2 is the smaller; +4 is the runner-up, not 0 or -2 (0.5).
    const d = detectSlide(map8(with8({ 0: 'poll_idle', 2: 'default_idle' })), hlt);
    expect(d.slide).toBe(2n * MiB);
    expect(d.note).toBe('slide 0x200000 detected: 100% of kernel RIPs in functions, 100% of instruction exits in matching functions; next best 0x400000 (100%) — a close call: confirm with --kaslr');
  });

  it('no slide, clearly: the map fits as linked', () => {
    // f4 idle: 0 fits (1.5), the others 0.5.
    const d = detectSlide(map8(with8({ 4: 'default_idle' })), hlt);
    expect(d.slide).toBe(0n);
    expect(d.note).toBe("no slide: the trace's kernel RIPs fit the map as linked (100% inside functions)");
  });

  it('no slide when no exit is an instruction exit (nothing to tell slides apart): every candidate ties, 0 is kept', () => {
    const d = detectSlide(map8(work8), [rip(4n * MiB + 0x10n, 100)]);
    expect(d.candidates.map((c) => [c.slide, c.coverage, c.fit, c.hinted])).toEqual([[0n, 1, 0, 0], [-2n * MiB, 1, 0, 0], [2n * MiB, 1, 0, 0], [4n * MiB, 1, 0, 0]]);
    expect(d.note).toBe("no slide: the trace's kernel RIPs fit the map as linked (100% inside functions)");
  });

  it('no slide but a close call: 0 is said to be detected, with the runner-up 15 points or less behind', () => {
    // 90 HLT at L+4 MiB+0x10 and 10 at L+4.5 MiB, both in f4 (default_idle): slide 0 fits all.
    // f2 is default_idle up to L+2.5 MiB, then work_x: +2 MiB fits the 90 only (fit 0.9). -2 and +4 MiB fit none.
    const t = table([...with8({ 4: 'default_idle', 2: 'default_idle' }).map((n, k): [bigint, string] => [BigInt(k) * MiB, n]), [2n * MiB + MiB / 2n, 'work_x'], [8n * MiB, '_etext']]);
    const d = detectSlide(t, [rip(4n * MiB + 0x10n, 90, 'HLT'), rip(4n * MiB + MiB / 2n, 10, 'HLT')]);
    expect(d.slide).toBe(0n);
    expect(d.note).toBe('slide 0x0 detected: 100% of kernel RIPs in functions, 100% of instruction exits in matching functions; next best 0x200000 (90%) — a close call: confirm with --kaslr');
  });

  // Text [L, L+4 MiB): f3 is default_idle up to L+3.5 MiB, then work_y; 3 HLT at L+3 MiB+0x10 and 17 at L+3.5 MiB+0x10.
  // Candidates 0 and +2 MiB (f1/f1b): under 0, 3 of 20 fit (0.15); under +2 MiB none.
  const edge = () => table([[0n, 'work_a'], [MiB, 'work_b'], [MiB + MiB / 2n, 'work_z'], [2n * MiB, 'work_c'], [3n * MiB, 'default_idle'], [3n * MiB + MiB / 2n, 'work_y'], [4n * MiB, '_etext']]);
  const edgeRips = [rip(3n * MiB + 0x10n, 3, 'HLT'), rip(3n * MiB + MiB / 2n + 0x10n, 17, 'HLT')];

  it('no slide is said only when it fits more than 15 points better than the runner-up (exactly 15 is not enough)', () => {
    const d = detectSlide(edge(), edgeRips);
    expect(slides(d)).toEqual([0n, 2n * MiB]);
    expect(d.slide).toBe(0n);
    expect(d.note.startsWith('slide 0x0 detected: 100% of kernel RIPs in functions, 15% of instruction exits in matching functions; next best 0x200000 (0%);')).toBe(true);
  });

  it('a slide that fits exactly 15 points better than none is taken, and is no close call', () => {
    // The same layout with default_idle at f1 instead: +2 MiB fits 3 of 20 (0.15), 0 fits none.
    const t = table([[0n, 'work_a'], [MiB, 'default_idle'], [MiB + MiB / 2n, 'work_z'], [2n * MiB, 'work_c'], [3n * MiB, 'work_d'], [3n * MiB + MiB / 2n, 'work_y'], [4n * MiB, '_etext']]);
    const d = detectSlide(t, edgeRips);
    expect(d.slide).toBe(2n * MiB);
    expect(d.note.startsWith('slide 0x200000 detected: 100% of kernel RIPs in functions, 15% of instruction exits in matching functions; next best 0x0 (0%);')).toBe(true);
    expect(d.note).not.toContain('close call');
  });

  it('the unslid map keeps priority at exactly 95% coverage', () => {
    // As in mutation-symbols: 95 HLT at L+0x10 (default_idle) and 5 unhinted at L-0x1000, below the text.
    //   0: coverage 0.95, fit 1 (1.475)    -2 MiB: coverage 1, fit 1 (1.5)    -4 MiB: fit 0
    const t = table([[0n, 'default_idle'], [MiB, 'work_one'], [2n * MiB, 'acpi_idle_do_entry'], [3n * MiB, 'work_two'], [4n * MiB, 'work_three'], [5n * MiB, 'work_four'], [6n * MiB, '_etext']]);
    const d = detectSlide(t, [rip(0x10n, 95, 'HLT'), rip(-0x1000n, 5)]);
    expect(d.candidates.find((c) => c.slide === 0n)!.coverage).toBe(0.95);
    expect(d.slide).toBe(0n);
  });
});

describe('warnings about the map', () => {
  // Text [L, L+4 MiB): f0 default_idle, f1 work_b, f2 work_c, f3 work_d. HLT exits at L+0x10 (f0) and L+1 MiB+0x10 (f1).
  // Candidates 0 and -2 MiB (which puts them in f2/f3: fit 0); 0 wins whenever any of them is in f0.
  const t = () => table([[0n, 'default_idle'], [MiB, 'work_b'], [2n * MiB, 'work_c'], [3n * MiB, 'work_d'], [4n * MiB, '_etext']]);
  const strict = (inIdle: number, elsewhere: number) => detectSlide(t(), [rip(0x10n, inIdle, 'HLT'), ...(elsewhere ? [rip(MiB + 0x10n, elsewhere, 'HLT')] : [])]);
  const WARN = 'HLT/MSR/CPUID exits land in functions that cannot execute those instructions: this map is likely from another build of the guest kernel (names below are suspect)';

  it('HLT exits in the first function of the map, an idle one, are where they should be: no warning', () => {
    const d = strict(30, 0);
    expect(d.slide).toBe(0n);
    expect(d.note).toBe("no slide: the trace's kernel RIPs fit the map as linked (100% inside functions)");
  });

  it('most HLT exits outside idle functions: a warning with the share that misfit', () => {
    const d = strict(10, 20);
    expect(d.slide).toBe(0n);
    expect(d.note).toBe(`no slide: the trace's kernel RIPs fit the map as linked (100% inside functions); WARNING: 67% of 30 ${WARN}`);
  });

  it('from 20 such exits on, and only under half fitting', () => {
    expect(strict(5, 15).note).toContain(`; WARNING: 75% of 20 ${WARN}`);
    expect(strict(4, 15).note).not.toContain('WARNING');
    expect(strict(10, 10).note).not.toContain('WARNING');
  });

  // I/O exits (named-for hint, not one of the strict HLT/MSR/CPUID): f0 serial_in fits, f1 work_b does not.
  const io = (fit: number, miss: number) => detectSlide(table([[0n, 'serial_in'], [MiB, 'work_b'], [2n * MiB, 'work_c'], [3n * MiB, 'work_d'], [4n * MiB, '_etext']]), [rip(0x10n, fit, 'IO_INSTRUCTION'), rip(MiB + 0x10n, miss, 'IO_INSTRUCTION')]);
  const IOWARN = 'instruction exits (I/O, MSR, HLT, ...) land in functions named for them: is this map from the guest kernel that ran?';

  it('from 50 instruction exits on, fewer than 20% in functions named for them is a warning', () => {
    expect(io(5, 45).note).toContain(`; WARNING: only 10% of 50 ${IOWARN}`);
    expect(io(5, 44).note).not.toContain('WARNING');
    expect(io(10, 40).note).not.toContain('WARNING'); // exactly 20%
  });
});

describe('which slides are tried', () => {
  // Text [L, L+4 MiB) of work functions.
  const work4 = () => table([[0n, 'work_a'], [MiB, 'work_b'], [2n * MiB, 'work_c'], [3n * MiB, 'work_d'], [4n * MiB, '_etext']]);

  it('RIPs at the first and the last byte of the text moved by 2 MiB: that one slide (and 0) is tried, and taken', () => {
    const d = detectSlide(work4(), [rip(2n * MiB, 50), rip(6n * MiB - 1n, 50)]);
    expect(slides(d)).toEqual([0n, 2n * MiB]);
    expect(d.slide).toBe(2n * MiB);
  });

  it('a slide that would put a RIP at the end of the text (one past its last byte) is not tried', () => {
    // RIPs at L+2 MiB+0x10 and L+6 MiB: +2 MiB would put the second at L+4 MiB, the end. Only 0 remains, fitting half.
    const d = detectSlide(work4(), [rip(2n * MiB + 0x10n, 50), rip(6n * MiB, 50)]);
    expect(slides(d)).toEqual([0n]);
    expect(d.slide).toBe(0n);
    expect(d.note).toBe("no slide: the trace's kernel RIPs fit the map as linked (50% inside functions)");
  });

  it('RIPs in any order give the same candidates (slides keeping the lowest and the highest inside)', () => {
    // Lowest L+1 MiB+0x10, highest L+4 MiB+0x10, text 8 MiB: s in [-4 MiB+0x11, 1 MiB+0x10] -> -2 MiB and 0.
    const rips = [rip(4n * MiB + 0x10n, 100), rip(2n * MiB + 0x10n, 100), rip(MiB + 0x10n, 100)];
    for (const order of [rips, [...rips].reverse(), [rips[1], rips[0], rips[2]]]) {
      expect(slides(detectSlide(map8(work8), order))).toEqual([0n, -2n * MiB]);
    }
  });

  // Map as in mutation-symbols' stray tests: default_idle at L+1 MiB, native_write_msr at L+1.5 MiB; the trace is it moved by +2 MiB.
  const strayMap = () => table([[0n, 'work_a'], [MiB, 'default_idle'], [MiB + MiB / 2n, 'native_write_msr'], [2n * MiB, 'work_b'], [3n * MiB, 'work_c'], [4n * MiB, '_etext']]);

  it('strays of exactly 0.5% of the exits are still ignored, below or above the text', () => {
    const slid = [rip(3n * MiB + 0x10n, 100, 'HLT'), rip(3n * MiB + MiB / 2n + 0x20n, 99, 'MSR_WRITE')];
    expect(detectSlide(strayMap(), [rip(0x10000n, 1), ...slid]).slide).toBe(2n * MiB);
    expect(detectSlide(strayMap(), [...slid, rip(7n * MiB + 0xf0000n, 1)]).slide).toBe(2n * MiB);
  });

  it('a stray above the text is ignored also when every other exit is at one RIP', () => {
    const d = detectSlide(strayMap(), [rip(3n * MiB + 0x10n, 1000, 'HLT'), rip(7n * MiB + 0xf0000n, 1)]);
    expect(slides(d)).toEqual([0n, 2n * MiB]);
    expect(d.slide).toBe(2n * MiB);
  });
});

describe('maps that do not fit the trace', () => {
  it('no core-kernel map: nothing to slide', () => {
    expect(detectSlide(new SymbolTable([]), [rip(0x10n, 5, 'HLT')])).toEqual({ slide: 0n, mode: 'none', note: 'no core-kernel map: no slide needed', candidates: [] });
  });

  it('exactly half the kernel RIPs inside the text under the best slide is a fit; less is a mismatch', () => {
    const work4 = () => table([[0n, 'work_a'], [MiB, 'work_b'], [2n * MiB, 'work_c'], [3n * MiB, 'work_d'], [4n * MiB, '_etext']]);
    // Half at L+0x10, half at L+5 MiB (outside; no 2 MiB slide keeps both inside).
    expect(detectSlide(work4(), [rip(0x10n, 50), rip(5n * MiB, 50)]).mismatch).toBeUndefined();
    const d = detectSlide(work4(), [rip(0x10n, 49), rip(5n * MiB, 51)]);
    expect(d.note).toBe('map does not fit the trace');
    expect(d.mismatch).toBe("the trace's kernel RIPs (0xffffffff81000010–0xffffffff81500000) do not fall in the map's text (0xffffffff81000000–0xffffffff81400000) under any 0x200000-aligned KASLR slide: is the map from the guest kernel that ran? (force one with --kaslr 0xOFFSET)");
  });

  const L32 = 0xc0100000n;
  const map32 = () => table([[0n, 'default_idle'], [MiB, 'work_a'], [2n * MiB, '_etext']], L32);

  it('a 32-bit map with kernel RIPs is a fit even if a 64-bit address shows up among them', () => {
    const d = detectSlide(map32(), [{ addr: L32 + 0x10n, count: 100, reason: 'HLT' }, { addr: 0xffffffff81000010n, count: 1, reason: '' }]);
    expect(d.mismatch).toBeUndefined();
    expect(d.slide).toBe(0n);
  });

  it('a 32-bit map for a trace of 64-bit addresses is a mismatch even if a low (user) address is among them', () => {
    const d = detectSlide(map32(), [{ addr: 0xffffffff81000010n, count: 50, reason: 'HLT' }, { addr: 0x08048000n, count: 3, reason: '' }]);
    expect(d.note).toBe('map does not fit the trace');
    expect(d.mismatch).toBe('a 32-bit map (text 0xc0100000–0xc0300000) for a trace of 64-bit guest addresses: give the map of the guest kernel that ran');
  });

  it('a map in the lowest gigabyte names its window from 0x0', () => {
    const low = table([[0n, 'fw_entry'], [MiB, 'fw_main'], [2n * MiB, '_etext']], 0x100000n);
    const d = detectSlide(low, [{ addr: 0xc0100010n, count: 5, reason: '' }]);
    expect(d.note).toBe("no RIP of the trace is in the map's kernel window 0x0–0x40000000: slide not detectable, none applied");
  });
});
