/**
 * Aggregations (src/analyze) that a one-line bug breaks (issue 16), on
 * fixtures whose rows are worked out by hand in their READMEs.
 */
import { describe, expect, it } from 'vitest';
import { analyze } from '../src/analyze/index.js';
import { cli, fx } from './helpers.js';

/** fixtures/neighbours64/README.md: alpha 3 IO exits 60 ns, beta 2 IO 3000 ns, gamma 1 HLT 5 ns, [unknown] 1 HLT 7 ns. */
const N64 = { inputs: [fx('neighbours64', 'trace.csv')], maps: [fx('neighbours64', 'System.map')], keepUnknown: true };

describe('rows past --top are counted, not dropped', () => {
  it('by count, top 2: gamma and [unknown] are the 2 omitted rows, 2 exits, 12 ns of idle time', async () => {
    const idle = await analyze({ ...N64, includeIdle: true, top: 2 });
    expect(idle.rows.map((r) => r.symbol)).toEqual(['alpha', 'beta']);
    expect(idle.omitted).toEqual({ rows: 2, count: 2, timeNs: 12 });
    // Without --include-idle the omitted time is handling time: both omitted exits are HLT.
    const handling = await analyze({ ...N64, top: 2 });
    expect(handling.omitted).toEqual({ rows: 2, count: 2, timeNs: 0 });
  });

  it('by time, top 1: beta shown; alpha, gamma and [unknown] omitted with alpha\'s 60 ns of handling', async () => {
    const rep = await analyze({ ...N64, sort: 'time', top: 1 });
    expect(rep.rows.map((r) => [r.symbol, r.count, r.timeNs])).toEqual([['beta', 2, 3000]]);
    expect(rep.omitted).toEqual({ rows: 3, count: 5, timeNs: 60 });
  });

  it('top 0 shows every row and omits none', async () => {
    const rep = await analyze({ ...N64, top: 0 });
    expect(rep.rows).toHaveLength(4);
    expect(rep.omitted).toEqual({ rows: 0, count: 0, timeNs: 0 });
  });

  it('the table says how many rows, exits and how much time --top left out', async () => {
    const r = await cli(['analyze', fx('neighbours64', 'trace.csv'), '--map', fx('neighbours64', 'System.map'), '--keep-unknown', '--include-idle', '--top', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\(2 more rows: 2 exits, 12 ?ns; --top 0 shows all\)/);
  });
});
