/**
 * A command loads only what it runs (README, Layout): `analyze` reads, ranks and
 * renders a table without zod, the pass registry, the estimator or the emulator.
 * Checked on the built CLI (npm test builds first) with a module-resolution hook
 * that lists every module the process loads.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

function loaded(args: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'exitscope-load-'));
  const log = join(dir, 'loaded.txt');
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }\n`);
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, join(ROOT, 'bin', 'exitscope.js'), ...args], { cwd: ROOT, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return spawnSync('cat', [log], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
}

describe('start-up: a command loads what it runs', () => {
  it('analyze of a CSV with a map, as a table: no zod, no replay, no emulator, no fleet, no other report', () => {
    const urls = loaded(['analyze', 'traces/jbb.csv', '--map', 'traces/guest-2.6.27-i386.map', '-o', '/dev/null']);
    expect(urls.some((u) => u.includes('/dist/analyze/'))).toBe(true);
    for (const unwanted of ['/node_modules/zod/', '/dist/replay/', '/dist/emulator/', '/dist/fleet/', '/dist/check/', '/dist/report/estimate-report', '/dist/report/schemas']) {
      expect(urls.filter((u) => u.includes(unwanted)), unwanted).toEqual([]);
    }
  });

  it('estimate loads the pass registry (and zod with it), so the check above can fail', () => {
    const urls = loaded(['estimate', 'traces/jbb.csv', '--map', 'traces/guest-2.6.27-i386.map', '--pass', 'timer-hz:100', '-o', '/dev/null']);
    expect(urls.some((u) => u.includes('/dist/replay/pipeline.js'))).toBe(true);
    expect(urls.some((u) => u.includes('/node_modules/zod/'))).toBe(true);
  });
});
