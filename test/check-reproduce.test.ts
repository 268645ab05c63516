/**
 * `reproduce` (issue 16): what each check compares is recounted here from the
 * emulated traces themselves (exits by trap address, counted row by row, no
 * `analyze`), with the paper's numbers from traces/paper-data.json; the
 * item's table and its ok flags must say what the recount says.
 */
import { describe, expect, it } from 'vitest';
import { paperData, reproduce } from '../src/check/reproduce.js';
import { prepareEmulation } from '../src/emulator/index.js';
import type { EmulatorConfigInput } from '../src/emulator/config.js';
import { REASONS } from '../src/model/reasons.js';

const SCALE = 0.3;

/** Exits of a run by trap address (`0x…`), of the given reasons only (null: all); and its metric. */
async function countByAddress(cfg: EmulatorConfigInput, reasons: readonly string[] | null): Promise<{ counts: Map<string, number>; metric: number }> {
  const ids = reasons && new Set(reasons.flatMap((r) => REASONS.matching(r)));
  const counts = new Map<string, number>();
  const em = prepareEmulation(cfg, 'reproduce');
  for await (const c of em.chunks()) {
    for (let i = 0; i < c.length; i++) {
      if (ids && !ids.has(c.reason[i])) continue;
      const a = '0x' + ((BigInt(c.ripHi[i]) << 32n) | BigInt(c.ripLo[i])).toString(16);
      counts.set(a, (counts.get(a) ?? 0) + 1);
    }
  }
  return { counts, metric: em.summary!.metric.value };
}

describe('reproduce, recounted from the two traces', () => {
  it('Table 4: exits at the two IDE port accessors before and after coalescing, the cut and its check', async () => {
    const { items } = await reproduce({ scale: SCALE, only: ['table4'] });
    expect(items.map((i) => i.id)).toEqual(['table4']);
    const item = items[0];
    const cfg: EmulatorConfigInput = { workload: 'disk', disk: 'ide', diskTest: 'write', vcpus: 1, duration: 4 * SCALE, seed: 1 };
    const before = await countByAddress(cfg, ['IO_INSTRUCTION']);
    const after = await countByAddress({ ...cfg, guestOpts: ['coalesce-io'] }, ['IO_INSTRUCTION']);
    const paper = paperData().table4.rows as Array<{ address: string; before: number; after: number }>;
    expect(paper.map((p) => p.address)).toEqual(['0xc054fcc0', '0xc054ecf0']);
    paper.forEach((p, k) => {
      const b = before.counts.get(p.address) ?? 0, a = after.counts.get(p.address) ?? 0;
      expect(b, p.address).toBeGreaterThan(0);
      const modelCut = (1 - a / b) * 100, paperCut = (1 - p.after / p.before) * 100;
      const row = item.table.rows[k];
      expect(row.slice(0, 3)).toEqual([p.address, String(p.before), String(p.after)]);
      expect(row.slice(4, 6)).toEqual([String(b), String(a)]);
      expect(row[6]).toBe(`${-modelCut >= 0 ? '+' : ''}${(-modelCut).toFixed(1)}%`);
      // The check: within 5 points of the paper's cut.
      expect(item.checks[k].ok, `${p.address}: model cut ${modelCut} vs paper ${paperCut}`).toBe(Math.abs(modelCut - paperCut) <= 5);
    });
    // Throughput moves less than 5% (Section 3.1.1).
    const tp = (after.metric / before.metric - 1) * 100;
    expect(item.checks[2].ok).toBe(Math.abs(tp) < 5);
  });

  it('Table 1: the five trap addresses against the model\'s five most frequent ones', async () => {
    const { items } = await reproduce({ scale: SCALE, only: ['table1'] });
    const item = items[0];
    const { counts } = await countByAddress({ workload: 'jbb', vcpus: 1, duration: 10 * SCALE, seed: 1 }, null);
    const ranked = [...counts].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
    const top5 = new Set(ranked.slice(0, 5).map(([a]) => a));
    const paper = paperData().table1.rows as Array<{ address: string; count: number }>;
    paper.forEach((p, k) => expect(item.table.rows[k][5], p.address).toBe(String(counts.get(p.address) ?? '-')));
    expect(item.checks[0].ok).toBe(paper.every((p) => top5.has(p.address)));
  });
});
