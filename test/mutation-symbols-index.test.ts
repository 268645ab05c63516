/**
 * Loading maps and resolving with them (src/symbols/index.ts): `--map` specs, the kind and
 * placement of each map, the errors a user sees, the symbolizer's ids, slides and the
 * kernel/user boundary it infers. Maps are small files written here; ELF ones by
 * test/elf-builder.ts. Every expected address is the map's address plus a slide worked out in
 * the comments.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openOn } from './fd-helper.js';
import { rawFromColumns } from '../src/symbols/columns.js';
import { Symbolizer, loadMap, loadSymbolizer, parseMapSpec, symbolizerFromKallsyms } from '../src/symbols/index.js';
import { AX, STT_FUNC, STT_NOTYPE, STT_OBJECT, WA, buildElf } from './elf-builder.js';

const dir = mkdtempSync(join(tmpdir(), 'exitscope-maps-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** Writes `content` as `name` in a directory of its own; returns the path. */
function file(name: string, content: string | Buffer): string {
  const path = join(mkdtempSync(join(dir, 'm-')), name);
  writeFileSync(path, content);
  return path;
}
const lines = (...l: string[]) => l.join('\n') + '\n';
const hex = (v: bigint) => '0x' + v.toString(16);

describe('--map specs: path@BASE', () => {
  it('splits at the last @ when an address follows it; otherwise the whole spec is the path', () => {
    expect(parseMapSpec('libata.ko@0xffffffffc052d000')).toEqual({ path: 'libata.ko', base: 0xffffffffc052d000n });
    expect(parseMapSpec('maps/a@b/System.map@4096')).toEqual({ path: 'maps/a@b/System.map', base: 4096n });
    expect(parseMapSpec('/home/user@host/System.map')).toEqual({ path: '/home/user@host/System.map', base: null });
    expect(parseMapSpec('System.map@latest')).toEqual({ path: 'System.map@latest', base: null });
    // A file named like a number, and one whose name starts with @, are paths.
    expect(parseMapSpec('20241201')).toEqual({ path: '20241201', base: null });
    expect(parseMapSpec('@0x1000')).toEqual({ path: '@0x1000', base: null });
  });
});

describe('loading a map: errors and file handles', () => {
  it('a missing file, a directory, a path through a file: each says so', async () => {
    const missing = join(dir, 'no-such-System.map');
    await expect(loadMap(missing)).rejects.toThrow(`${missing}: cannot read map (no such file)`);
    const d = join(dir, 'a-directory');
    mkdirSync(d, { recursive: true });
    await expect(loadMap(d)).rejects.toThrow(`${d}: cannot read map (is a directory)`);
    const notDir = join(file('plain', 'x'), 'System.map');
    await expect(loadMap(notDir)).rejects.toThrow(`${notDir}: cannot read map (ENOTDIR)`);
    // The @base part is not part of the path in the message.
    await expect(loadMap(`${missing}@0x1000`)).rejects.toThrow(`${missing}: cannot read map (no such file)`);
  });

  it('loading maps leaves no file descriptor open', async () => {
    if (!existsSync('/proc/self/fd')) return;
    const text = file('System.map', lines('ffffffff81000000 T _text', 'ffffffff81000100 t default_idle'));
    const elf = file('vmlinux', buildElf({ secs: [{ name: '.text', flags: AX, addr: 0xffffffff81000000n, size: 0x40 }], syms: [{ name: 'one_fn', value: 0xffffffff81000000n, size: 8n, type: STT_FUNC, shndx: 1 }] }));
    for (let k = 0; k < 8; k++) {
      await loadMap(text);
      await loadMap(elf);
      await loadMap(join(dir, 'missing')).catch(() => undefined);
    }
    // Descriptors of this process still open on the maps read (other open files are not counted: the process is shared).
    expect(openOn([text, elf])).toEqual([]);
  });
});

describe('what kind of map, and where its symbols sit', () => {
  it('kallsyms by its name or by [module] lines; System.map otherwise', async () => {
    const core = lines('ffffffff81000000 T _text', 'ffffffff81000100 t default_idle');
    const withModules = core + lines('ffffffffc0a10000 t e1000_intr\t[e1000]');
    expect((await loadMap(file('System.map', core))).kind).toBe('system.map');
    expect((await loadMap(file('System.map', withModules))).kind).toBe('kallsyms');
    expect((await loadMap(file('guest.KALLSYMS', core))).kind).toBe('kallsyms');
    expect((await loadMap(file('System.map', core))).absolute).toBe(false);
  });

  it('a text map given @BASE moves so its lowest text symbol sits at BASE (data moves with it), and is absolute', async () => {
    // Lowest text symbol: first_text at ...81000100 (not the first line, and not data_low below it).
    const path = file('System.map', lines('ffffffff81000200 T second_text', 'ffffffff80fff000 D data_low', 'ffffffff81000100 t first_text', 'ffffffff81000300 T third_text'));
    const B = 0xffffffffa0000000n;
    const src = await loadMap(`${path}@${hex(B)}`);
    expect(rawFromColumns(src.columns).map((s) => [s.name, s.start])).toEqual([['second_text', B + 0x100n], ['data_low', B - 0x1100n], ['first_text', B], ['third_text', B + 0x200n]]);
    expect([src.absolute, src.path, src.kind]).toEqual([true, path, 'system.map']);
  });

  it('a text map given @BASE whose first line is its lowest text symbol', async () => {
    const path = file('System.map', lines('c0100000 T startup_32', 'c0100100 t default_idle'));
    const src = await loadMap(`${path}@0xd0000000`);
    expect(rawFromColumns(src.columns).map((s) => s.start)).toEqual([0xd0000000n, 0xd0000100n]);
  });

  it('a text map @BASE with no text symbol at all stays where it is', async () => {
    const path = file('System.map', lines('c0500000 D jiffies', 'c0500100 B some_bss'));
    const src = await loadMap(`${path}@0xd0000000`);
    expect(rawFromColumns(src.columns).map((s) => s.start)).toEqual([0xc0500000n, 0xc0500100n]);
    expect(src.absolute).toBe(true);
  });

  const T = 0xffffffff81000000n;
  /** A vmlinux with a function below _text (as .head.text can be), a data symbol below both, and _text itself. */
  const vmlinux = (withText: boolean) => buildElf({
    secs: [{ name: '.text', flags: AX, addr: T, size: 0x1000, align: 16 }, { name: '.data', flags: WA, addr: T - 0x10000n, size: 0x100 }],
    syms: [
      { name: 'data_below', value: T - 0x10000n, size: 8n, type: STT_OBJECT, shndx: 2 },
      { name: 'late_fn', value: T + 0x800n, size: 0x10n, type: STT_FUNC, shndx: 1 },
      { name: 'early_fn', value: T, size: 0x10n, type: STT_FUNC, shndx: 1 },
      ...(withText ? [{ name: '_text', value: T + 0x100n, type: STT_NOTYPE, shndx: 1 }] : []),
      { name: 'mid_fn', value: T + 0x200n, size: 0x10n, type: STT_FUNC, shndx: 1 },
    ],
  });

  it('vmlinux@ADDR: the image moves so _text sits at ADDR; the map is then absolute', async () => {
    const X = 0xffffffff9a000000n;
    const src = await loadMap(`${file('vmlinux', vmlinux(true))}@${hex(X)}`);
    // _text at T+0x100 -> X: everything moves by X - T - 0x100.
    const d = X - T - 0x100n;
    expect(rawFromColumns(src.columns).map((s) => [s.name, s.start])).toEqual([['data_below', T - 0x10000n + d], ['late_fn', T + 0x800n + d], ['early_fn', T + d], ['_text', X], ['mid_fn', T + 0x200n + d]]);
    expect([src.kind, src.absolute]).toEqual(['elf', true]);
  });

  it('vmlinux@ADDR without _text: its lowest function (not a lower data symbol) sits at ADDR', async () => {
    const X = 0xffffffff9a000000n;
    const src = await loadMap(`${file('vmlinux', vmlinux(false))}@${hex(X)}`);
    const d = X - T;
    expect(rawFromColumns(src.columns).map((s) => [s.name, s.start])).toEqual([['data_below', T - 0x10000n + d], ['late_fn', T + 0x800n + d], ['early_fn', X], ['mid_fn', T + 0x200n + d]]);
    expect(src.absolute).toBe(true);
  });

  it('a vmlinux without @ADDR stays at its link addresses and moves with the KASLR slide', async () => {
    const src = await loadMap(file('vmlinux', vmlinux(true)));
    expect(rawFromColumns(src.columns).find((s) => s.name === 'early_fn')!.start).toBe(T);
    expect(src.absolute).toBe(false);
  });
});

describe('the symbolizer', () => {
  const M = 0xffffffffc0a10000n, K = 0xffffffff81000000n;
  const kallsyms = lines(
    'ffffffff81000000 T _text', 'ffffffff81000000 T startup_64', 'ffffffff81000100 t default_idle', 'ffffffff81000200 T _etext',
    'ffffffffc0a10000 t e1000_intr\t[e1000]', 'ffffffffc0a10100 t e1000_clean\t[e1000]', 'ffffffffc0a10200 d e1000_data\t[e1000]',
  );

  it('counts and numbers functions: module (absolute) ones first, then the core kernel; ids give the function back under the slide', () => {
    const s = symbolizerFromKallsyms(kallsyms, 'trace.dat');
    expect([s.absolute.size, s.core.size, s.functionCount, s.empty]).toEqual([2, 2, 4, false]);
    expect(s.slide).toEqual({ slide: 0n, mode: 'none', note: 'no map given', candidates: [] });
    expect(s.decideSlide([], 0x200000n).note).toBe('slide 0x200000 forced by --kaslr');
    // The first module function has id 0; core functions are numbered after the 2 module ones.
    expect(s.functionId(M + 4n)).toBe(0);
    expect(s.functionById(0)).toEqual({ name: 'e1000_intr', module: 'e1000', start: M });
    const idle = s.functionId(K + 0x200000n + 0x104n);
    expect(idle).toBe(3);
    expect(s.functionById(idle)).toEqual({ name: 'default_idle', module: '', start: K + 0x200000n + 0x100n });
    // Under the slide the core text starts at K+0x200000: the unmoved address is in no function.
    expect(s.functionId(K + 0x104n)).toBe(-1);
  });

  it('resolves module addresses unmoved and core addresses under the slide; the first module function too', () => {
    const s = symbolizerFromKallsyms(kallsyms, 'trace.dat');
    s.decideSlide([], 0x200000n);
    expect(s.resolve(M + 4n)).toEqual({ name: 'e1000_intr', module: 'e1000', start: M, offset: 4n });
    expect(s.resolve(K + 0x200000n + 0x104n)).toEqual({ name: 'default_idle', module: '', start: K + 0x200100n, offset: 4n });
    expect(s.resolve(K + 0x104n)).toBeNull(); // the unmoved address is below the moved text
    expect(s.resolve(M + 0x200n)).toBeNull(); // data
  });

  it('is empty only with no function at all: module-only or core-only maps are not empty', async () => {
    expect(new Symbolizer([]).empty).toBe(true);
    expect(new Symbolizer([]).functionCount).toBe(0);
    const modOnly = await loadMap(file('kallsyms', lines('ffffffffc0a10000 t e1000_intr\t[e1000]', 'ffffffffc0a10100 t e1000_clean\t[e1000]')));
    expect(new Symbolizer([modOnly]).empty).toBe(false);
    const coreOnly = await loadMap(file('System.map', lines('ffffffff81000000 T startup_64', 'ffffffff81000100 t default_idle')));
    expect(new Symbolizer([coreOnly]).empty).toBe(false);
  });

  it('module RIPs in the kernel window (32-bit guests) do not count against the core map when the slide is detected', async () => {
    // Core text [c0100000, c0200000); module e1000 at f8000000, in the same 1 GiB window (c0000000-ffffffff).
    const core = await loadMap(file('System.map', lines('c0100000 T startup_32', 'c0100100 t default_idle', 'c0100200 t work_a', 'c0200000 T _etext')));
    const mods = await loadMap(file('kallsyms', lines('f8000000 t e1000_intr\t[e1000]', 'f8000100 t e1000_clean\t[e1000]')));
    const s = new Symbolizer([core, mods]);
    // 900 exits in e1000_intr, 100 HLT in default_idle. Counting the module ones, no slide would put 90% of the
    // kernel RIPs in the core text; without them, slide 0 fits all of them.
    const d = s.decideSlide([{ addr: 0xf8000010n, count: 900, reason: 'IO_INSTRUCTION' }, { addr: 0xc0100110n, count: 100, reason: 'HLT' }], 'auto');
    expect([d.slide, d.mode, d.candidates.length]).toEqual([0n, 'auto', 1]);
    expect(d.candidates[0]).toMatchObject({ coverage: 1, fit: 1, hinted: 100 });
  });

  it('a map that fits no slide is an error naming every map given', async () => {
    const one = file('one.map', lines('ffffffff81000000 T startup_64', 'ffffffff81000100 t default_idle'));
    const two = file('two.map', lines('ffffffff81100000 T other_fn', 'ffffffff81100100 t other_idle'));
    const s = new Symbolizer([await loadMap(one), await loadMap(two)]);
    expect(() => s.decideSlide([{ addr: 0xc0100010n, count: 5, reason: 'HLT' }], 'auto')).toThrow(`${one}, ${two}: a 64-bit map (text 0xffffffff81000000–`);
  });
});

describe("the guest's kernel/user boundary implied by the maps", () => {
  const at = async (...l: string[]) => new Symbolizer([await loadMap(file('System.map', lines(...l)))]).userSpaceEnd();

  it('64-bit maps: user space ends at 0x800000000000, also for text at exactly 4 GiB', async () => {
    expect(await at('ffffffff81000000 T startup_64', 'ffffffff81000100 t default_idle')).toBe(0x800000000000n);
    expect(await at('100000000 T low_fn', '100000100 t next_fn')).toBe(0x800000000000n);
  });

  it('32-bit maps: PAGE_OFFSET 0xc0000000, or the 256 MiB boundary below the text when that is lower', async () => {
    expect(await at('c0100000 T startup_32', 'c0100100 t default_idle')).toBe(0xc0000000n);
    expect(await at('d0100000 T startup_32', 'd0100100 t default_idle')).toBe(0xc0000000n);
    expect(await at('80100000 T startup_32', '80100100 t default_idle')).toBe(0x80000000n); // 2G/2G split
    expect(await at('b8100000 T startup_32', 'b8100100 t default_idle')).toBe(0xb0000000n);
  });

  it('with only absolute maps (@BASE, modules) their text decides; with no map there is none', async () => {
    const path = file('System.map', lines('00100000 T startup_32', '00100100 t default_idle'));
    const s = new Symbolizer([await loadMap(`${path}@0x80100000`)]);
    expect([s.core.size, s.userSpaceEnd()]).toEqual([0, 0x80000000n]);
    expect(new Symbolizer([]).userSpaceEnd()).toBeNull();
  });
});

describe('the map cache gives a symbolizer in the same state as a parse', () => {
  it('no slide decided yet, the same functions', async () => {
    const cacheDir = mkdtempSync(join(dir, 'cache-'));
    const saved = { ...process.env };
    process.env.EXITSCOPE_CACHE_DIR = cacheDir;
    delete process.env.EXITSCOPE_NO_CACHE;
    try {
      const map = file('kallsyms', lines('ffffffff81000000 T startup_64', 'ffffffff81000100 t default_idle', 'ffffffffc0a10000 t e1000_intr\t[e1000]'));
      const parsed = await loadSymbolizer([map]);
      const cached = await loadSymbolizer([map]);
      expect(readdirSync(cacheDir)).toHaveLength(1);
      expect(cached).not.toBe(parsed);
      expect(cached.slide).toEqual({ slide: 0n, mode: 'none', note: 'no map given', candidates: [] });
      expect([cached.functionCount, cached.resolve(0xffffffff81000104n)?.name, cached.resolve(0xffffffffc0a10004n)?.module]).toEqual([3, 'default_idle', 'e1000']);
    } finally {
      process.env = saved;
    }
  });
});
