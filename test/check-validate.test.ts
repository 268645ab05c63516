/**
 * `validate` (issue 16): the targets are numbers (issue 4: exits saved within
 * 5%, exit time saved within 15%), and a row's measured side and verdicts are
 * recomputed here from the two emulated traces, counting their exits and
 * traced non-HLT time row by row, never read back from the row's own flags.
 */
import { describe, expect, it } from 'vitest';
import { TARGETS, validateScenario, type Scenario, type ValidationRow } from '../src/check/validate.js';
import type { EmulatorConfigInput } from '../src/emulator/config.js';
import { prepareEmulation } from '../src/emulator/index.js';
import { REASONS } from '../src/model/reasons.js';

/** A run's exits, traced time of its non-HLT exits (a halted vcpu waits, it does not handle), the emulator's hardware transition time, and its throughput. */
async function recount(cfg: EmulatorConfigInput): Promise<{ exits: number; handlingTracedNs: number; transitionNs: number; metric: number }> {
  const hlt = new Set(REASONS.matching('HLT'));
  const em = prepareEmulation(cfg, 'validate');
  let exits = 0, traced = 0;
  for await (const c of em.chunks()) {
    for (let i = 0; i < c.length; i++) {
      exits++;
      if (!hlt.has(c.reason[i]) && c.dur[i] === c.dur[i]) traced += c.dur[i];
    }
  }
  // The hardware exit + entry is in no traced duration: only the emulator knows it.
  return { exits, handlingTracedNs: traced, transitionNs: em.summary!.transitionNs, metric: em.summary!.metric.value };
}

/** Distance of `meas` from the range [lo, hi], relative to `meas` (0 inside). */
function rangeError([lo, hi]: readonly [number, number], meas: number): number {
  if (meas >= lo && meas <= hi) return 0;
  return Math.abs((meas < lo ? lo : hi) - meas) / Math.abs(meas);
}

async function checkRow(sc: Scenario, seed: number): Promise<{ row: ValidationRow; exitsSaved: number; exitsError: number; timeError: number }> {
  const row = await validateScenario(sc, 1, seed);
  const cfg = { ...sc.base, ops: sc.ops, duration: 86_400, seed };
  const base = await recount(cfg);
  const opt = await recount({ ...cfg, ...sc.opt });
  const exitsSaved = base.exits - opt.exits;
  const timeSaved = base.handlingTracedNs + base.transitionNs - (opt.handlingTracedNs + opt.transitionNs);
  expect(row.measured.exitsSaved).toBe(exitsSaved);
  expect(row.measured.exitTimeSavedNs).toBeCloseTo(timeSaved, 3);
  expect(row.measured.speedup).toBeCloseTo(opt.metric / base.metric, 9);
  const est = row.estimated!;
  expect(est).not.toBeNull();
  const exitsError = rangeError(est.exitsSavedRange, exitsSaved);
  const timeError = rangeError(est.exitTimeSavedRange, timeSaved);
  expect(row.errors.exits).toBeCloseTo(exitsError, 9);
  expect(row.errors.exitTime).toBeCloseTo(timeError, 9);
  // The verdicts, against the targets as numbers.
  expect(row.checks.exits).toBe(exitsError <= 0.05);
  expect(row.checks.exitTime).toBe(timeError <= 0.15);
  return { row, exitsSaved, exitsError, timeError };
}

describe('validate, recounted from the two traces', () => {
  it('targets: exits saved within 5%, exit time saved within 15%', () => {
    expect(TARGETS).toEqual({ exits: 0.05, exitTime: 0.15 });
  });

  it('timer-hz 1000 -> 100 on jbb: the row\'s measured side, errors and verdicts', async () => {
    const sc: Scenario = { name: 'jbb', optimization: 'timer-hz', base: { workload: 'jbb', vcpus: 1, profile: 'core2-kvm76', guest: '2.6.27-i386' }, opt: { hz: 100 }, passes: ['timer-hz:100'], targets: true, ops: 3000 };
    const { exitsSaved } = await checkRow(sc, 1);
    expect(exitsSaved).toBeGreaterThan(0);
  });

  it('an estimate of the wrong change misses: timer-hz:250 estimated, 1000 -> 100 measured, an exits error between 5% and 50%', async () => {
    // Keeping 1 tick in 4 instead of 1 in 10 removes 75% of the ticks instead of 90%: about 1/6 fewer exits saved.
    const sc: Scenario = { name: 'jbb', optimization: 'timer-hz', base: { workload: 'jbb', vcpus: 1, profile: 'core2-kvm76', guest: '2.6.27-i386' }, opt: { hz: 100 }, passes: ['timer-hz:250'], targets: true, ops: 3000 };
    const { row, exitsError } = await checkRow(sc, 1);
    expect(exitsError).toBeGreaterThan(0.05);
    expect(exitsError).toBeLessThan(0.5);
    expect(row.checks.exits).toBe(false);
  });
});
