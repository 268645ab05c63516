/**
 * The per-row store under analyze (src/analyze/cells.ts): a row's first
 * reason is inline and the others in a side table, its exit time is one sum
 * split into handling and idle by reason, min/max are 32-bit words with
 * longer or fractional durations kept beside, an unpaired exit gives its row
 * a sketch, and the columns are pages of 65,536 rows. Each case is worked by
 * hand on a CSV written here.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../src/analyze/index.js';

const dir = mkdtempSync(join(tmpdir(), 'exitscope-cells-'));
let n = 0;
function csv(rows: ReadonlyArray<readonly [reason: string, rip: string, dur: string]>): string {
  const f = join(dir, `t${n++}.csv`);
  writeFileSync(f, ['ts_ns,vcpu,reason,rip,duration_ns', ...rows.map(([r, rip, d], k) => `${1_000_000 + k * 100_000},0,${r},${rip},${d}`)].join('\n') + '\n');
  return f;
}

describe('rows of the per-row store', () => {
  it('a row with idle and handling reasons splits its time by reason, whichever comes first', async () => {
    const f = csv([
      ['HLT', '0xc0100000', '1000'],
      ['IO_INSTRUCTION', '0xc0100000', '30'],
      ['HLT', '0xc0100000', '2000'],
      ['IO_INSTRUCTION', '0xc0200000', '5'],
      ['HLT', '0xc0200000', '700'],
      ['EXTERNAL_INTERRUPT', '0xc0200000', '11'],
    ]);
    const rep = await analyze({ inputs: [f], by: 'address', includeIdle: true, top: 0 });
    const a = rep.rows.find((r) => r.key === '0xc0100000')!;
    const b = rep.rows.find((r) => r.key === '0xc0200000')!;
    expect([a.count, a.handlingNs, a.idleNs, a.timeNs]).toEqual([3, 30, 3000, 3030]);
    expect(a.reasons).toEqual({ HLT: 2, IO_INSTRUCTION: 1 });
    expect([b.count, b.handlingNs, b.idleNs]).toEqual([3, 16, 700]);
    expect(b.reasons).toEqual({ EXTERNAL_INTERRUPT: 1, HLT: 1, IO_INSTRUCTION: 1 });
    expect([a.minNs, a.maxNs, b.minNs, b.maxNs]).toEqual([30, 2000, 5, 700]);
    expect(rep.totals).toMatchObject({ handlingNs: 46, idleNs: 3700 });
  });

  it('an unpaired exit counts but is left out of the row\'s time statistics, before or after its sketch', async () => {
    const f = csv([
      ['IO_INSTRUCTION', '0xc0100000', '10'],
      ['IO_INSTRUCTION', '0xc0100000', '-'],
      ['IO_INSTRUCTION', '0xc0100000', '30'],
      ['IO_INSTRUCTION', '0xc0100000', '20'],
      ['IO_INSTRUCTION', '0xc0200000', '1'],
      ['IO_INSTRUCTION', '0xc0200000', '2'],
      ['IO_INSTRUCTION', '0xc0200000', '3'],
      ['IO_INSTRUCTION', '0xc0200000', '4'],
      ['IO_INSTRUCTION', '0xc0200000', '-'],
      ['IO_INSTRUCTION', '0xc0200000', '9'],
    ]);
    const rep = await analyze({ inputs: [f], by: 'address', top: 0 });
    const a = rep.rows.find((r) => r.key === '0xc0100000')!;
    const b = rep.rows.find((r) => r.key === '0xc0200000')!;
    expect([a.count, a.timed, a.minNs, a.maxNs, a.meanNs, a.p50Ns, a.handlingNs]).toEqual([4, 3, 10, 30, 20, 20, 60]);
    expect([b.count, b.timed, b.minNs, b.maxNs, b.meanNs, b.p50Ns, b.handlingNs]).toEqual([6, 5, 1, 9, 3.8, 3, 19]);
    expect(rep.totals).toMatchObject({ exits: 10, timed: 8 });
  });

  it('durations past 2^32 ns keep their exact min and max (beside the 32-bit words)', async () => {
    const big = 5_000_000_123, bigger = 9_007_199_254;
    const f = csv([
      ['HLT', '0xc0100000', String(bigger)],
      ['HLT', '0xc0100000', '17'],
      ['HLT', '0xc0100000', String(big)],
      ['HLT', '0xc0300000', String(big)],
    ]);
    const rep = await analyze({ inputs: [f], by: 'address', includeIdle: true, top: 0 });
    const a = rep.rows.find((r) => r.key === '0xc0100000')!;
    expect([a.minNs, a.maxNs, a.p50Ns, a.idleNs]).toEqual([17, bigger, big, bigger + 17 + big]);
    expect(rep.rows.find((r) => r.key === '0xc0300000')).toMatchObject({ minNs: big, maxNs: big, timeNs: big });
  });

  it('rows past the first page of 65,536 keep their own counts (and a row on page two ranks first)', async () => {
    const rows: Array<[string, string, string]> = [];
    const N = 70_000;
    for (let k = 0; k < N; k++) rows.push(['EXCEPTION_NMI', `0x${(0x08048000 + 16 * k).toString(16)}`, String(100 + (k % 7))]);
    const hot = `0x${(0x08048000 + 16 * 69_999).toString(16)}`;
    rows.push(['EXCEPTION_NMI', hot, '1'], ['PAGE_FAULT', hot, '2']);
    const rep = await analyze({ inputs: [csv(rows)], by: 'address', top: 3 });
    expect(rep.rows[0]).toMatchObject({ key: hot, count: 3, minNs: 1, maxNs: 100 + (69_999 % 7), reasons: { EXCEPTION_NMI: 2, PAGE_FAULT: 1 } });
    expect(rep.omitted.rows).toBe(N - 3);
    expect(rep.totals.exits).toBe(N + 2);
    const first = rep.rows[1];
    expect(first.count).toBe(1);
  });
});
