/**
 * The stored oracle outputs are the oracle's (issue 16): fixtures/oracle/analyze_oracle.py,
 * written from the documentation alone, reproduces every expected-*.json it made,
 * so the analyze tests that compare against those files compare against an
 * independent implementation, not against an earlier run of the code.
 * Skipped, saying why, where python3 is not installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, fx, readJson } from './helpers.js';

const python = spawnSync('python3', ['--version']).status === 0;
if (!python) console.warn('test/mutation-oracle.test.ts skipped: python3 not found');

function oracle(trace: string, args: string[]): any {
  const r = spawnSync('python3', [fx('oracle', 'analyze_oracle.py'), trace, ...args], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe.runIf(python)('the oracle reproduces the expected files', () => {
  for (const by of ['function', 'address', 'caller']) {
    it(`paper32 --by ${by}`, () => {
      expect(oracle(fx('paper32', 'trace.csv'), ['--map', fx('paper32', 'guest.map'), '--by', by])).toEqual(readJson(fx('paper32', `expected-${by}.json`)));
    });
  }

  it('paper32 --by callsite (fixtures/mutation/paper32-expected-callsite.json)', () => {
    expect(oracle(fx('paper32', 'trace.csv'), ['--map', fx('paper32', 'guest.map'), '--by', 'callsite'])).toEqual(readJson(fx('mutation', 'paper32-expected-callsite.json')));
  });

  it('kallsyms-modules and kaslr (--slide 0x2e400000)', () => {
    expect(oracle(fx('kallsyms-modules', 'trace.csv'), ['--map', fx('kallsyms-modules', 'kallsyms')])).toEqual(readJson(fx('kallsyms-modules', 'expected-function.json')));
    expect(oracle(fx('kaslr', 'trace.csv'), ['--map', fx('kaslr', 'System.map'), '--slide', '0x2e400000'])).toEqual(readJson(fx('kaslr', 'expected-function.json')));
  });

  it('trace-cmd-6x: the same but for the one exit the documentation does not decide (fixtures/oracle/README.md)', async () => {
    const csv = join(mkdtempSync(join(tmpdir(), 'exitscope-oracle-')), 't.csv');
    expect((await cli(['convert', fx('ftrace', 'trace-cmd-6x.txt'), '--to', 'csv', '-o', csv])).code).toBe(0);
    const got = oracle(csv, ['--map', fx('kallsyms-modules', 'kallsyms')]);
    const stored = readJson(fx('ftrace', 'trace-cmd-6x.expected-function.json'));
    const keys = (j: any) => j.rows.map((r: any) => r.key);
    // 3.2 MiB from `_stext` to the next symbol: the documented rule runs `_stext` that far, the code stops it at 64 KiB.
    expect(keys(got).filter((k: string) => !keys(stored).includes(k))).toEqual(['_stext']);
    expect(keys(stored).filter((k: string) => !keys(got).includes(k))).toEqual(['[unknown] 0xffffffff8112a3b2']);
    const rest = (j: any) => j.rows.filter((r: any) => r.key !== '_stext' && !r.key.startsWith('[unknown]'));
    expect(rest(got)).toEqual(rest(stored));
    expect([got.exits, got.timeNs]).toEqual([stored.exits, stored.timeNs]);
  });
});
