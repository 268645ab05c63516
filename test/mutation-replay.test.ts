/**
 * Replay passes and the estimate (src/replay) on hand-worked traces (issue 16):
 * fixtures/mutation/README.md works out every number asserted here.
 */
import { describe, expect, it } from 'vitest';
import { GUEST_MAP } from '../src/emulator/index.js';
import { estimate } from '../src/replay/estimate.js';
import { parsePassSpec } from '../src/replay/pipeline.js';
import { fx } from './helpers.js';

describe('timer-hz on ten hand-made 1000 Hz ticks (fixtures/mutation/ticks-1000hz.csv)', () => {
  it('keeps one tick in ten and saves the exits, one transition per exit, and the handler time between them', async () => {
    const rep = await estimate({ input: fx('mutation', 'ticks-1000hz.csv'), maps: [GUEST_MAP], passes: [parsePassSpec('timer-hz:100')], transitionNs: 1000, bootstrap: 0 });
    expect(rep.notApplied).toEqual([]);
    const p = rep.passes[0];
    expect(p.notes[0]).toMatch(/^1000 Hz PIT tick \(measured 1000\.0 Hz; 100% of intervals/);
    expect([p.exitsBefore, p.exitsAfter]).toEqual([20, 2]);
    expect([p.timeBeforeNs, p.timeAfterNs]).toEqual([70_000, 7_000]);
    expect(p.exitTimeSavedNs).toBe(9 * 7_000 + 18 * 1_000);
    expect(p.savedNs).toBe(81_000 + 9 * (3_000 - 1_000));
    expect(p.perVcpu).toEqual([{ vcpu: 0, savedNs: 99_000, wallNs: 9_010_000, shareOfWall: 99_000 / 9_010_000 }]);
    // The I/O-bound ends of the ranges are this trace's own exits and time.
    expect(p.exitsSavedRange[0]).toBe(18);
    expect(p.exitTimeSavedRange[0]).toBe(81_000);
    expect(p.speedupLow).toBe(1);
  });
});
