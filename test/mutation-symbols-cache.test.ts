/**
 * The map cache (src/symbols/cache.ts): where it lives, when it is off, which `--map` specs it
 * keys, and that it never turns a map error into another error. Each test sets the environment
 * it needs and restores it.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mapCacheDir } from '../src/symbols/cache.js';
import { loadSymbolizer } from '../src/symbols/index.js';

const dir = mkdtempSync(join(tmpdir(), 'exitscope-cache3-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `f` with `env` set (undefined: unset) and the rest of the environment as it was. */
async function withEnv<T>(env: Record<string, string | undefined>, f: () => Promise<T> | T): Promise<T> {
  const saved = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await f();
  } finally {
    process.env = saved;
  }
}

const MAP = 'ffffffff81000000 T startup_64\nffffffff81000100 t default_idle\nffffffffc0a10000 t e1000_intr\t[e1000]\n';

describe('where the cache lives', () => {
  it('$EXITSCOPE_CACHE_DIR, else $XDG_CACHE_HOME/exitscope/maps, else ~/.cache/exitscope/maps', async () => {
    expect(await withEnv({ EXITSCOPE_CACHE_DIR: '/c/dir', XDG_CACHE_HOME: '/x' }, mapCacheDir)).toBe('/c/dir');
    expect(await withEnv({ EXITSCOPE_CACHE_DIR: undefined, XDG_CACHE_HOME: '/x/cache' }, mapCacheDir)).toBe('/x/cache/exitscope/maps');
    // The home directory as the OS reports it (a worker thread's HOME is not what os.homedir() reads).
    const home = join(homedir(), '.cache', 'exitscope', 'maps');
    expect(await withEnv({ EXITSCOPE_CACHE_DIR: undefined, XDG_CACHE_HOME: undefined }, mapCacheDir)).toBe(home);
    expect(await withEnv({ EXITSCOPE_CACHE_DIR: undefined, XDG_CACHE_HOME: '' }, mapCacheDir)).toBe(home);
  });
});

describe('what is cached', () => {
  it('EXITSCOPE_NO_CACHE=1: nothing is written', async () => {
    const cache = join(dir, 'off');
    const map = join(mkdtempSync(join(dir, 'm-')), 'kallsyms');
    writeFileSync(map, MAP);
    const s = await withEnv({ EXITSCOPE_CACHE_DIR: cache, EXITSCOPE_NO_CACHE: '1' }, () => loadSymbolizer([map]));
    expect(s.functionCount).toBe(3);
    expect(existsSync(cache)).toBe(false);
  });

  it('maps given with a decimal or hex @BASE, and maps under a directory with @ in its name, are cached', async () => {
    const d = mkdtempSync(join(dir, 'user@host-'));
    const map = join(d, 'kallsyms');
    writeFileSync(map, MAP);
    for (const spec of [`${map}@4096`, `${map}@0xffffffff90000000`, map]) {
      const cache = mkdtempSync(join(dir, 'on-'));
      await withEnv({ EXITSCOPE_CACHE_DIR: cache, EXITSCOPE_NO_CACHE: undefined }, async () => {
        const parsed = await loadSymbolizer([spec]);
        expect([spec, readdirSync(cache).length]).toEqual([spec, 1]);
        const cached = await loadSymbolizer([spec]);
        expect(cached.functionCount).toBe(parsed.functionCount);
      });
    }
  });

  it('a missing map with the cache on fails as it does without: cannot read map', async () => {
    const missing = join(dir, 'no-such-map');
    const cache = mkdtempSync(join(dir, 'on-'));
    await withEnv({ EXITSCOPE_CACHE_DIR: cache, EXITSCOPE_NO_CACHE: undefined }, async () => {
      await expect(loadSymbolizer([missing])).rejects.toThrow(`${missing}: cannot read map (no such file)`);
    });
  });
});
