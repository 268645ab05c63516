import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadMap, loadSymbolizer } from '../src/symbols/index.js';
import { rawFromColumns } from '../src/symbols/columns.js';
import { fx } from './helpers.js';

/** binutils' `nm -S` view of a fixture: name -> [address, size]. */
function nmOf(file: string): Map<string, [bigint, bigint | null]> {
  const m = new Map<string, [bigint, bigint | null]>();
  for (const line of readFileSync(fx('elf', file), 'utf8').split('\n')) {
    const p = line.trim().split(/\s+/);
    if (p.length === 4 && /^[Tt]$/.test(p[2])) m.set(p[3], [BigInt('0x' + p[0]), BigInt('0x' + p[1])]);
  }
  return m;
}

describe('ELF symtabs', () => {
  for (const [file, nm] of [['vmlinux-mini', 'vmlinux-mini.nm'], ['vmlinux32-mini', 'vmlinux32-mini.nm']]) {
    it(`reads ${file} exactly as nm does`, async () => {
      const src = await loadMap(fx('elf', file));
      const want = nmOf(nm);
      const got = new Map(rawFromColumns(src.columns).filter((s) => s.text).map((s) => [s.name, [s.start, s.size]]));
      expect(got).toEqual(want);
    });
  }

  it('lays a module .ko out at its load base like the kernel: .text there, .init.text left out', async () => {
    const base = 0xffffffffc052d000n;
    const src = await loadMap(`${fx('elf', 'fake_ata.ko')}@0x${base.toString(16)}`);
    const nm = nmOf('fake_ata.ko.nm'); // section-relative values
    const got = new Map(rawFromColumns(src.columns).filter((s) => s.text).map((s) => [s.name, s.start]));
    expect(got.get('fake_dev_select')).toBe(base + nm.get('fake_dev_select')![0]);
    expect(got.get('fake_bmdma_status')).toBe(base + nm.get('fake_bmdma_status')![0]);
    expect(got.has('fake_probe')).toBe(false);
    expect(rawFromColumns(src.columns)[0].module).toBe('fake_ata');
    const sym = await loadSymbolizer([`${fx('elf', 'fake_ata.ko')}@0xffffffffc052d000`]);
    // fake_dev_select is 0x16 bytes at +0x10: its last byte resolves, the next byte is the next function.
    expect(sym.resolve(0xffffffffc052d025n)).toMatchObject({ name: 'fake_dev_select', module: 'fake_ata', offset: 0x15n });
    expect(sym.resolve(0xffffffffc052d026n)).toMatchObject({ name: 'fake_bmdma_status', offset: 0n });
  });

  it('asks for the load base of a .ko', async () => {
    await expect(loadMap(fx('elf', 'fake_ata.ko'))).rejects.toThrow(/--map fake_ata\.ko@0xADDRESS/);
  });

  it('uses ELF sizes as extents: padding after a sized function is not that function', async () => {
    const sym = await loadSymbolizer([fx('elf', 'vmlinux32-mini')]);
    // fake_inb: c0100006 size 6 -> c010000c is fake_outb; fake_bmdma_status ends at c0100037 where fake_probe begins.
    expect(sym.resolve(0xc010000bn)?.name).toBe('fake_inb');
    expect(sym.resolve(0xc010000cn)?.name).toBe('fake_outb');
    expect(sym.resolve(0xc0100036n)?.name).toBe('fake_bmdma_status');
    expect(sym.resolve(0xc010003dn)).toBeNull(); // past fake_probe's 6 bytes
  });
});

describe('text maps', () => {
  it('reads kallsyms with [module] suffixes into absolute module symbols', async () => {
    const sym = await loadSymbolizer([fx('kallsyms-modules', 'kallsyms')]);
    expect(sym.absolute.size).toBe(9); // 5 libata + 4 e1000 functions; their data symbols only bound extents
    expect(sym.resolve(0xffffffffc052d073n)).toMatchObject({ name: 'ata_sff_dev_select', module: 'libata', offset: 0x33n });
    expect(sym.resolve(0xffffffffc0534000n)).toBeNull(); // ata_sff_port_ops is data
  });

  it('refuses a kallsyms read without root, saying how to fix it', async () => {
    await expect(loadMap(fx('bad', 'kallsyms-noroot'))).rejects.toThrow(/every address is zero: this kallsyms was read without root.*sudo cat \/proc\/kallsyms/);
  });

  it('does not let an end marker or a start marker alias become the function', async () => {
    const sym = await loadSymbolizer([fx('neighbours64', 'System.map')]);
    expect(sym.resolve(0xffffffff81000000n)?.name).toBe('alpha'); // not _text
    expect(sym.resolve(0xffffffff81000200n)).toBeNull(); // _etext
  });
});

describe('map cache', () => {
  it('gives the same functions as a parse, and parses again when the map changes', async () => {
    const { mkdtempSync, copyFileSync, appendFileSync, readdirSync, utimesSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'exitscope-cache-'));
    const map = join(dir, 'System.map');
    copyFileSync(fx('kallsyms-modules', 'kallsyms'), map);
    const saved = { ...process.env };
    process.env.EXITSCOPE_CACHE_DIR = join(dir, 'cache');
    delete process.env.EXITSCOPE_NO_CACHE;
    try {
      const parsed = await loadSymbolizer([map]);
      expect(readdirSync(join(dir, 'cache'))).toHaveLength(1);
      const cached = await loadSymbolizer([map]);
      const probe = [0xffffffffc052d012n, 0xffffffffc052d3a0n, 0xffffffff81000100n, 0xffffffffc0a10210n, 0x1000n];
      for (const a of probe) expect(cached.resolve(a)).toEqual(parsed.resolve(a));
      expect(cached.functionCount).toBe(parsed.functionCount);
      appendFileSync(map, 'ffffffffc0ffff00 t late_function\t[extra]\n');
      utimesSync(map, new Date(), new Date(Date.now() + 5000));
      const reparsed = await loadSymbolizer([map]);
      expect(reparsed.resolve(0xffffffffc0ffff10n)?.name).toBe('late_function');
      expect(readdirSync(join(dir, 'cache'))).toHaveLength(2);
    } finally {
      process.env = saved;
    }
  });
});

describe('map cache: what it must never do', () => {
  /** Runs `f` with the cache on, in a directory of its own; returns that directory. */
  async function withCache<T>(f: (dir: string) => Promise<T>): Promise<T> {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'exitscope-cache2-'));
    const saved = { ...process.env };
    process.env.EXITSCOPE_CACHE_DIR = join(dir, 'cache');
    delete process.env.EXITSCOPE_NO_CACHE;
    try {
      return await f(join(dir, 'cache'));
    } finally {
      process.env = saved;
    }
  }
  const specs = [fx('elf', 'vmlinux-mini'), `${fx('elf', 'fake_ata.ko')}@0xffffffffc052d000`];
  const probes = [0xffffffff81000000n, 0xffffffff81000005n, 0xffffffff81000fffn, 0xffffffffc052d000n, 0xffffffffc052d010n, 0xffffffffc052d3a0n, 0xffffffffc0600000n, 0x1000n];

  it('an ELF core map plus a module at its base: the cached copy resolves every probe as the parse does (sized symbols end where they end)', async () => {
    await withCache(async () => {
      const { readMapCache } = await import('../src/symbols/cache.js');
      const parsed = await loadSymbolizer(specs);
      const cached = await readMapCache(specs);
      expect(cached).not.toBeNull();
      for (const a of probes) expect([a, cached!.resolve(a)]).toEqual([a, parsed.resolve(a)]);
      expect(cached!.functionCount).toBe(parsed.functionCount);
    });
  });

  it('a truncated or foreign cache file is not read: the map is parsed again, with the same answers', async () => {
    await withCache(async (dir) => {
      const { readdirSync, readFileSync: rd, writeFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { readMapCache } = await import('../src/symbols/cache.js');
      const parsed = await loadSymbolizer(specs);
      const [file] = readdirSync(dir);
      const whole = rd(join(dir, file));
      writeFileSync(join(dir, file), whole.subarray(0, whole.length >> 1));
      expect(await readMapCache(specs)).toBeNull();
      writeFileSync(join(dir, file), Buffer.concat([Buffer.from('NOTMAP\n'), whole.subarray(7)]));
      expect(await readMapCache(specs)).toBeNull();
      const again = await loadSymbolizer(specs);
      for (const a of probes) expect(again.resolve(a)).toEqual(parsed.resolve(a));
    });
  });
});
