/**
 * ELF symbol tables (src/symbols/elf.ts). Each file is written by test/elf-builder.ts from a
 * layout given here; what binutils makes of the same bytes (`readelf -sW`, `nm -S`) was checked
 * for each layout, and the expected symbols below are that view, filtered by the rules of the
 * module: FUNC, OBJECT and NOTYPE symbols with a name and a section are kept (a .ko's only if
 * in its laid-out text); FUNC in an allocated executable section (or absolute) and NOTYPE in
 * one are text; a size of 0 is no size.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openOn } from './fd-helper.js';
import { isElf, readElfSymbols } from '../src/symbols/elf.js';
import {
  AX, ET_REL, SHF_EXECINSTR, SHN_ABS, SHN_COMMON, SHN_UNDEF, SHT_DYNSYM, SHT_NOBITS, SHT_PROGBITS, STB_LOCAL, STT_FILE, STT_FUNC, STT_NOTYPE, STT_OBJECT, STT_SECTION, WA,
  buildElf, type ElfSpec,
} from './elf-builder.js';

const dir = mkdtempSync(join(tmpdir(), 'exitscope-elf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** Writes an ELF (built from `spec`, or given bytes) under a name of its own; returns its path. */
function write(spec: ElfSpec | Buffer, name = 'vmlinux'): string {
  const path = join(mkdtempSync(join(dir, 'f-')), name);
  writeFileSync(path, Buffer.isBuffer(spec) ? spec : buildElf(spec));
  return path;
}

const T = 0xffffffff81000000n, D = 0xffffffff81200000n;
type Row = [name: string, start: bigint, size: bigint | null, text: boolean];
const rows = (syms: Array<{ name: string; start: bigint; size: bigint | null; text: boolean }>): Row[] => syms.map((s) => [s.name, s.start, s.size, s.text]);

/** A vmlinux-like executable: .text, .data, and a section that is executable but not loaded. */
const kernelSecs = [
  { name: '.text', flags: AX, addr: T, size: 0x100, align: 16 },
  { name: '.data', flags: WA, addr: D, size: 0x40, align: 8 },
  { name: '.noload_exec', flags: SHF_EXECINSTR, size: 0x10 },
];
const kernelSyms = [
  { name: 'drv.c', value: 0n, type: STT_FILE, bind: STB_LOCAL, shndx: SHN_ABS },
  { name: null, value: T, type: STT_SECTION, bind: STB_LOCAL, shndx: 1 },
  { name: 'fn_a', value: T, size: 0x10n, type: STT_FUNC, shndx: 1 },
  { name: 'fn_b', value: T + 0x20n, size: 0n, type: STT_FUNC, shndx: 1 },
  { name: 'label_c', value: T + 0x40n, type: STT_NOTYPE, shndx: 1 },
  { name: 'table_in_text', value: T + 0x60n, size: 0x20n, type: STT_OBJECT, shndx: 1 },
  { name: '$x', value: T + 0x80n, type: STT_NOTYPE, bind: STB_LOCAL, shndx: 1 },
  { name: '.Ltmp1', value: T + 0x84n, type: STT_NOTYPE, bind: STB_LOCAL, shndx: 1 },
  { name: null, value: T + 0x90n, size: 4n, type: STT_FUNC, shndx: 1 },
  { name: 'fn_e', value: T + 0xa0n, size: 0x60n, type: STT_FUNC, shndx: 1 },
  { name: 'var_d', value: D, size: 8n, type: STT_OBJECT, shndx: 2 },
  { name: 'fn_in_data', value: D + 0x10n, size: 8n, type: STT_FUNC, shndx: 2 },
  { name: 'data_label', value: D + 0x20n, type: STT_NOTYPE, shndx: 2 },
  { name: 'noload_fn', value: 0n, size: 0x10n, type: STT_FUNC, shndx: 3 },
  { name: 'abs_fn', value: T + 0x800n, size: 0x10n, type: STT_FUNC, shndx: SHN_ABS },
  { name: 'abs_label', value: T + 0x900n, type: STT_NOTYPE, shndx: SHN_ABS },
  { name: 'abs_var', value: T + 0xa00n, size: 4n, type: STT_OBJECT, shndx: SHN_ABS },
  { name: 'printk', value: 0n, type: STT_NOTYPE, shndx: SHN_UNDEF },
  { name: 'common_var', value: 8n, size: 8n, type: STT_OBJECT, shndx: SHN_COMMON },
  { name: 'bad_index_fn', value: T + 0xc0n, size: 4n, type: STT_FUNC, shndx: 40 },
];
/** readelf -sW of that file, filtered by the rules above. */
const kernelWant: Row[] = [
  ['fn_a', T, 0x10n, true],
  ['fn_b', T + 0x20n, null, true],
  ['label_c', T + 0x40n, null, true],
  ['table_in_text', T + 0x60n, 0x20n, false],
  ['fn_e', T + 0xa0n, 0x60n, true],
  ['var_d', D, 8n, false],
  ['fn_in_data', D + 0x10n, 8n, false],
  ['data_label', D + 0x20n, null, false],
  ['noload_fn', 0n, 0x10n, false],
  ['abs_fn', T + 0x800n, 0x10n, true],
  ['abs_label', T + 0x900n, null, false],
  ['abs_var', T + 0xa00n, 4n, false],
];

describe('ELF magic', () => {
  it('is the four bytes 7f 45 4c 46 at the start, nothing shorter, no byte off', () => {
    const b = (...x: number[]) => Buffer.from(x);
    expect(isElf(b(0x7f, 0x45, 0x4c, 0x46))).toBe(true);
    expect(isElf(b(0x7f, 0x45, 0x4c, 0x46, 2, 1, 1))).toBe(true);
    expect([isElf(b(0x7e, 0x45, 0x4c, 0x46)), isElf(b(0x7f, 0x65, 0x4c, 0x46)), isElf(b(0x7f, 0x45, 0x6c, 0x46)), isElf(b(0x7f, 0x45, 0x4c, 0x66))]).toEqual([false, false, false, false]);
    expect([isElf(b(0x7f, 0x45, 0x4c)), isElf(b()), isElf(Buffer.from('ffffffff81000000 T _text\n'))]).toEqual([false, false, false]);
  });
});

describe('which symbols of a vmlinux are read, and which are text', () => {
  for (const [is64, le] of [[true, true], [true, false], [false, true], [false, false]] as const) {
    it(`ELF${is64 ? 64 : 32} ${le ? 'little' : 'big'}-endian: FUNC/NOTYPE in loaded text are text; OBJECT, data, unloaded sections are not; FILE, SECTION, undefined, common, unnamed, $ and .L symbols and bad section indices are skipped`, async () => {
      const base = is64 ? 0n : 0xffffffff00000000n; // ELF32: the same layout at 0x81000000
      const secs = kernelSecs.map((s) => ({ ...s, addr: s.addr === undefined ? undefined : s.addr - base }));
      const syms = kernelSyms.map((s) => ({ ...s, value: s.value === 0n || s.shndx === SHN_COMMON ? s.value : s.value - base }));
      const got = await readElfSymbols(write({ is64, le, secs, syms }), null);
      expect(rows(got.symbols)).toEqual(kernelWant.map(([n, s, z, t]) => [n, s === 0n ? 0n : s - base, z, t]));
      expect(got.symbols.every((s) => s.module === '')).toBe(true);
      expect([got.relocatable, got.is64]).toEqual([false, is64]);
    });
  }

  it('st_info gives the type (low nibble): names at string offsets of every low nibble do not change it', async () => {
    // Pad the string table so the names start at offsets 1..16 apart: a FUNC read from any other byte would be mistyped.
    const names = Array.from({ length: 16 }, (_, k) => 'f'.repeat(k + 1));
    const syms = names.map((name, k) => ({ name, value: T + BigInt(k) * 0x10n, size: 0x10n, type: STT_FUNC, shndx: 1 }));
    const got = await readElfSymbols(write({ secs: [{ name: '.text', flags: AX, addr: T, size: 0x100, align: 16 }], syms }), null);
    expect(rows(got.symbols)).toEqual(names.map((n, k) => [n, T + BigInt(k) * 0x10n, 0x10n, true]));
  });

  it('a name at the very end of the string table, without its NUL, is read to the end (as readelf does)', async () => {
    const got = await readElfSymbols(write({ secs: [{ name: '.text', flags: AX, addr: T, size: 0x40 }], syms: [{ name: 'head_fn', value: T, size: 8n, type: STT_FUNC, shndx: 1 }, { name: 'tail_fn', value: T + 0x20n, size: 8n, type: STT_FUNC, shndx: 1 }], strtabUnterminated: true }), null);
    expect(got.symbols.map((s) => s.name)).toEqual(['head_fn', 'tail_fn']);
  });

  const small = { secs: [{ name: '.text', flags: AX, addr: T, size: 0x40, align: 16 }], syms: [{ name: 'one_fn', value: T, size: 8n, type: STT_FUNC, shndx: 1 }, { name: 'two_fn', value: T + 0x10n, size: 0x20n, type: STT_FUNC, shndx: 1 }] };
  const smallWant: Row[] = [['one_fn', T, 8n, true], ['two_fn', T + 0x10n, 0x20n, true]];

  it('only a .dynsym (no .symtab): its symbols are read', async () => {
    const got = await readElfSymbols(write({ ...small, symtabType: SHT_DYNSYM }), null);
    expect(rows(got.symbols)).toEqual(smallWant);
  });

  it('a symbol table with sh_entsize 0 is read with the standard entry size (24 bytes, 16 in ELF32)', async () => {
    expect(rows((await readElfSymbols(write({ ...small, symEntsize0: true }), null)).symbols)).toEqual(smallWant);
    const small32 = { ...small, is64: false, secs: [{ ...small.secs[0], addr: 0xc0100000n }], syms: small.syms.map((s) => ({ ...s, value: s.value - T + 0xc0100000n })) };
    expect(rows((await readElfSymbols(write({ ...small32, symEntsize0: true }), null)).symbols)).toEqual(smallWant.map(([n, s, z, t]) => [n, s - T + 0xc0100000n, z, t]));
  });
});

describe('errors name the file and what is wrong', () => {
  const ok = { secs: [{ name: '.text', flags: AX, addr: T, size: 0x40 }], syms: [{ name: 'one_fn', value: T, size: 8n, type: STT_FUNC, shndx: 1 }] };

  it('a file shorter than the ELF header is truncated', async () => {
    const p = write(buildElf(ok).subarray(0, 40));
    await expect(readElfSymbols(p, null)).rejects.toThrow(`${p}: truncated ELF file (wanted 64 bytes at 0)`);
  });

  it('a file cut before its section headers is truncated too', async () => {
    const whole = buildElf(ok);
    const p = write(whole.subarray(0, whole.length - 10));
    await expect(readElfSymbols(p, null)).rejects.toThrow(/: truncated ELF file \(wanted \d+ bytes at \d+\)$/);
  });

  it('not ELF, an unknown class, no section headers, no symbol table, no function symbol', async () => {
    const text = write(Buffer.from('ffffffff81000000 T _text\n'.repeat(4)));
    await expect(readElfSymbols(text, null)).rejects.toThrow(`${text}: not an ELF file`);
    const cls = write({ ...ok, classByte: 3 });
    await expect(readElfSymbols(cls, null)).rejects.toThrow(`${cls}: unknown ELF class 3`);
    const cls0 = write({ ...ok, classByte: 0 });
    await expect(readElfSymbols(cls0, null)).rejects.toThrow(`${cls0}: unknown ELF class 0`);
    const noSh = write({ ...ok, noSectionHeaders: true });
    await expect(readElfSymbols(noSh, null)).rejects.toThrow(`${noSh}: ELF file has no section headers (stripped?)`);
    const noSym = write({ ...ok, symtabType: SHT_PROGBITS });
    await expect(readElfSymbols(noSym, null)).rejects.toThrow(`${noSym}: ELF file has no symbol table (stripped? use the -dbg package's vmlinux or the unstripped .ko)`);
    const noFn = write({ secs: [{ name: '.data', flags: WA, addr: D, size: 0x40 }], syms: [{ name: 'only_var', value: D, size: 8n, type: STT_OBJECT, shndx: 1 }] });
    await expect(readElfSymbols(noFn, null)).rejects.toThrow(`${noFn}: ELF symbol table has no function symbols`);
  });

  it('reading ELF files, good or bad, leaves no file descriptor open', async () => {
    if (!existsSync('/proc/self/fd')) return;
    const good = write(ok);
    const bad = write({ ...ok, noSectionHeaders: true });
    for (let k = 0; k < 8; k++) {
      await readElfSymbols(good, null);
      await readElfSymbols(bad, null).catch(() => undefined);
    }
    // Descriptors of this process still open on the maps read (other open files are not counted: the process is shared).
    expect(openOn([good, bad])).toEqual([]);
  });
});

describe('module objects (.ko, ET_REL) laid out at their load base', () => {
  const B = 0xffffffffc052d000n;
  // Section headers, in order, and where each executable one lands (each at its alignment, in order):
  //   1 .text            AX  0x13 align 16 -> B         (B .. B+0x13)
  //   2 .data            WA  0x40 align 8  -> not text
  //   3 .text.unlikely   AX  0x20 align 16 -> B+0x20    (0x13 rounded up to 16)
  //   4 .init.text       AX  0x10          -> not laid out (freed after init)
  //   5 .altinstr_repl.  AX  0x05 align 0  -> B+0x40    (align 0 means none)
  //   6 .text.hot        AX  0x04 align 4  -> B+0x48    (0x45 rounded up to 4)
  //   7 .bss             NOBITS WA 0x40
  const koSecs = [
    { name: '.text', flags: AX, size: 0x13, align: 16 },
    { name: '.data', flags: WA, size: 0x40, align: 8 },
    { name: '.text.unlikely', flags: AX, size: 0x20, align: 16 },
    { name: '.init.text', flags: AX, size: 0x10, align: 1 },
    { name: '.altinstr_replacement', flags: AX, size: 5, align: 0 },
    { name: '.text.hot', flags: AX, size: 4, align: 4 },
    { name: '.bss', type: SHT_NOBITS, flags: WA, size: 0x40, align: 32 },
  ];
  const koSyms = [
    { name: 'drv_main', value: 0n, size: 0x10n, type: STT_FUNC, shndx: 1 },
    { name: 'drv_data', value: 0x8n, size: 8n, type: STT_OBJECT, shndx: 2 },
    { name: 'drv_cold', value: 0x4n, size: 0x1cn, type: STT_FUNC, shndx: 3 },
    { name: 'drv_init', value: 0n, size: 0x10n, type: STT_FUNC, shndx: 4 },
    { name: 'drv_alt', value: 0n, type: STT_NOTYPE, shndx: 5 },
    { name: 'drv_hot', value: 0n, size: 4n, type: STT_FUNC, shndx: 6 },
    { name: 'drv_bss', value: 0n, size: 0x40n, type: STT_OBJECT, shndx: 7 },
    { name: 'drv_abs', value: 0x1234n, type: STT_NOTYPE, shndx: SHN_ABS },
    { name: 'drv_common', value: 8n, size: 8n, type: STT_OBJECT, shndx: SHN_COMMON },
    { name: 'printk', value: 0n, type: STT_NOTYPE, shndx: SHN_UNDEF },
  ];
  const koWant: Row[] = [
    ['drv_main', B, 0x10n, true],
    ['drv_cold', B + 0x24n, 0x1cn, true],
    ['drv_alt', B + 0x40n, null, true],
    ['drv_hot', B + 0x48n, 4n, true],
  ];

  for (const is64 of [true, false]) {
    it(`ELF${is64 ? 64 : 32}: executable sections in header order, each at its alignment; .init*, data, absolute and common symbols left out`, async () => {
      const b = is64 ? B : 0xf852d000n;
      const got = await readElfSymbols(write({ is64, type: ET_REL, secs: koSecs, syms: koSyms }, 'fake_drv.ko'), b);
      expect(rows(got.symbols)).toEqual(koWant.map(([n, s, z, t]) => [n, s - B + b, z, t]));
      expect(got.symbols.every((s) => s.module === 'fake_drv')).toBe(true);
      expect(got.relocatable).toBe(true);
    });
  }

  it('the module is named as the kernel names it: .ko (and a suffix after it, like .ko.debug) dropped, dashes as underscores', async () => {
    const spec = { type: ET_REL, secs: koSecs.slice(0, 1), syms: koSyms.slice(0, 1) };
    const names: string[] = [];
    for (const file of ['fake-drv.ko', 'fake_drv.ko.debug', 'snd-hda-intel.ko', 'plain.ko']) {
      names.push((await readElfSymbols(write(spec, file), B)).symbols[0].module);
    }
    expect(names).toEqual(['fake_drv', 'fake_drv', 'snd_hda_intel', 'plain']);
  });

  it('extended section numbering (e_shnum 0, e_shstrndx SHN_XINDEX): counts and names come from section 0', async () => {
    for (const is64 of [true, false]) {
      for (const ext of [{ extShnum: true }, { extShstrndx: true }, { extShnum: true, extShstrndx: true }]) {
        // .init.text first: if its name were not read, it would be laid out at the base and .text after it.
        const secs = [{ name: '.init.text', flags: AX, size: 0x10, align: 16 }, { name: '.text', flags: AX, size: 0x30, align: 16 }];
        const syms = [{ name: 'init_fn', value: 0n, size: 0x10n, type: STT_FUNC, shndx: 1 }, { name: 'text_fn', value: 0x8n, size: 0x10n, type: STT_FUNC, shndx: 2 }];
        const b = is64 ? B : 0xf852d000n;
        const got = await readElfSymbols(write({ is64, type: ET_REL, secs, syms, ...ext }, 'ext.ko'), b);
        expect([is64, ext, rows(got.symbols)]).toEqual([is64, ext, [['text_fn', b + 8n, 0x10n, true]]]);
      }
    }
  });
});

describe('files with more than 0xff00 sections', () => {
  // Was a bug (fixed in elf.ts): the section count of such a file was read from section 0, but a
  // symbol whose section index does not fit st_shndx (SHN_XINDEX, the index in .symtab_shndx) was
  // dropped. binutils reads this file as: hot_fn T ffffffff81000000 size 0x20 in section 65281
  // (`readelf -sW`, `nm -S`); -ffunction-sections objects are where so many sections occur.
  it('a function in a section past 0xff00 (SHN_XINDEX) is read like any other', async () => {
    const Tx = 0xffffffff81000000n;
    const got = await readElfSymbols(write({
      padSections: 0xff00, extShnum: true, extShstrndx: true,
      secs: [{ name: '.text.hot_fn', flags: AX, addr: Tx, size: 0x40, align: 16 }],
      syms: [{ name: 'hot_fn', value: Tx, size: 0x20n, type: STT_FUNC, shndx: 1 }, { name: 'abs_fn', value: Tx + 0x100n, size: 0x10n, type: STT_FUNC, shndx: SHN_ABS }],
    }), null);
    expect(rows(got.symbols)).toEqual([['hot_fn', Tx, 0x20n, true], ['abs_fn', Tx + 0x100n, 0x10n, true]]);
  });
});
