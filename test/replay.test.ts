import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUEST_MAP } from '../src/emulator/index.js';
import { estimate, EstimateReportSchema } from '../src/replay/estimate.js';
import { parsePassSpec, parsePipelineJson } from '../src/replay/pipeline.js';
import { validate } from '../src/check/validate.js';
import { cli, fx } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-replay-'));

describe('coalesce-io on a hand-worked fragment (fixtures/replay/README.md)', () => {
  it('merges the tf_load runs only, keeps each exit\'s work, saves the transitions', async () => {
    const rep = await estimate({ input: fx('replay', 'ide-fragment.csv'), maps: [GUEST_MAP], passes: [parsePassSpec('coalesce-io')], transitionNs: 1000, bootstrap: 0 });
    EstimateReportSchema.parse(rep);
    const p = rep.passes[0];
    expect([p.exitsBefore, p.exitsAfter]).toEqual([11, 5]);
    // Exit time is handling time: the fragment's 500 us HLT is a wait, not handling (562000 ns traced in all).
    expect([p.timeBeforeNs, p.timeAfterNs]).toEqual([62000, 62000]);
    expect(p.exitTimeSavedNs).toBe(6000);
    expect(p.savedNs).toBe(6000);
    expect(p.perAddress).toEqual([{ address: '0xc054fcc0', key: 'ide_outb+0x10', before: 10, after: 2 }]);
    expect(p.speedupLow).toBe(1);
    expect(p.speedupHigh).toBeCloseTo(2000000 / 1994000, 6);
    expect(rep.inferred.hypercallNs.inferred).toBe(false);
  });

  it('replay writes the rewritten trace', async () => {
    const out = join(tmp, 'merged.csv');
    const r = await cli(['replay', fx('replay', 'ide-fragment.csv'), '--map', GUEST_MAP, '--pass', 'coalesce-io', '--transition-ns', '1000', '-o', out]);
    expect(r.code).toBe(0);
    const a = await cli(['analyze', out, '--by', 'reason', '--format', 'json']);
    expect(JSON.parse(a.stdout).rows.map((x: any) => [x.key, x.count, x.timeNs])).toEqual([['VMCALL', 2, 48000], ['IO_INSTRUCTION', 2, 14000], ['HLT', 1, 500000]]);
  });
});

describe('pipelines', () => {
  it('parses specs, presets and JSON files with path-precise errors', async () => {
    expect(parsePassSpec('timer-hz:100:from=1000')).toEqual({ pass: 'timer-hz', hz: 100, from: 1000 });
    expect(parsePassSpec('drop:a,b')).toEqual({ pass: 'drop', symbols: ['a', 'b'] });
    expect(parsePassSpec('drop-io:port=0x1f0-0x1f7,rw=w,flush')).toEqual({ pass: 'drop-io', ranges: ['port=0x1f0-0x1f7,rw=w,flush'] });
    expect(parsePassSpec('paper')).toEqual({ pass: 'paper' });
    expect(() => parsePassSpec('timer-hz:fast')).toThrow(/--pass timer-hz:fast: hz: .*number/);
    expect(() => parsePassSpec('warp-drive')).toThrow(/unknown pass 'warp-drive'/);
    expect(parsePipelineJson('{"passes":[{"pass":"coalesce-io","scope":"caller"},{"pass":"timer-hz","hz":100}]}', 'p.json')).toHaveLength(2);
    expect(() => parsePipelineJson('{"passes":[{"pass":"apicv"},{"pass":"coalesce-io"},{"pass":"timer-hz","hz":"100"}]}', 'p.json')).toThrow(/^p\.json: passes\[2\]\.hz: .*expected number/);
    expect(() => parsePipelineJson('{"passes":[{"pass":"drop"}]}', 'p.json')).toThrow(/p\.json: passes\[0\]\.symbols/);
  });

  it('estimate lists what exits cannot show instead of guessing', async () => {
    const f = join(tmp, 'pipe.json');
    writeFileSync(f, JSON.stringify({ passes: [{ pass: 'timer-hz', hz: 100 }] }));
    const r = await cli(['estimate', fx('replay', 'ide-fragment.csv'), '--map', GUEST_MAP, '--pipeline', f, '--pass', 'iosched-noop', '--format', 'json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.notApplied.map((n: any) => [n.name, n.verdict])).toEqual([['iosched-noop', 'not-estimable'], ['timer-hz:100', 'not-applicable']]);
    const bad = await cli(['estimate', fx('replay', 'ide-fragment.csv'), '--pass', 'timer-hz:zero']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('issue 4 acceptance', () => {
  it('estimate on an emulated disk trace prints the Table-4 view and the savings', async () => {
    const csv = join(tmp, 'disk.csv');
    expect((await cli(['emulate', '--workload', 'disk', '--disk', 'ide', '--disk-test', 'write', '--vcpus', '1', '--duration', '0.5', '-o', csv])).code).toBe(0);
    const r = await cli(['estimate', csv, '--map', GUEST_MAP, '--pass', 'coalesce-io']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/hardware exit\+entry: 1\.00us: 5th percentile of the guest gap/);
    expect(r.stdout).toMatch(/exits per trap address \(the paper's Table 4 view\)/);
    expect(r.stdout).toMatch(/0xc054fcc0\s+ide_outb\+0x10\s+[\d,]+\s+[\d,]+\s+-\d+\.\d%/);
    expect(r.stdout).toMatch(/speedup I\/O-bound \.\. CPU-bound/);
  });

  it('advise ranks the paper\'s four optimizations where they apply', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--workload', 'disk', '--disk', 'ide', '--disk-test', 'write'], /merge the successive I\/O instructions of ide_tf_load/],
      [['--workload', 'disk', '--disk', 'ata', '--disk-test', 'write'], /remove the ACPI PM timer rate check \(verify_pmtmr_rate\)/],
      [['--workload', 'jbb'], /lower the guest tick rate from 1000 Hz to 100 Hz/],
      [['--workload', 'net', '--nic', 'e1000'], /stop the NIC driver's interrupt-mask churn \(NAPI\)/],
    ];
    for (const [args, re] of cases) {
      const csv = join(tmp, 'adv.csv');
      expect((await cli(['emulate', ...args, '--vcpus', '1', '--duration', '0.5', '-o', csv])).code).toBe(0);
      const r = await cli(['advise', csv, '--map', GUEST_MAP]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(re);
    }
  });

  it('validate meets the targets on the reduced matrix: exits within 5%, exit time within 15%, throughput in range (or a stated limit)', async () => {
    const rep = await validate({ matrix: 'reduced', scale: 0.25 });
    const opts = new Set(rep.rows.map((r) => r.optimization));
    for (const o of ['coalesce-io', 'timer-hz 1000->100', 'drop verify_pmtmr_rate', 'napi-off', 'pv-eoi', 'apicv', 'coalesced-mmio', 'virtio (nic)', 'virtio (disk)', 'coalesce-io + timer-hz']) expect(opts.has(o), o).toBe(true);
    // The 6.1 guest (issue 17): its rows, the new passes among them.
    for (const o of ['apicv, 6.1 guest', 'timer-hz 1000->100, 6.1 guest', 'timer-hz, 6.1 guest tickless', 'virtio (nic), 6.1 guest', 'haltpoll, 6.1 guest', 'ipiv, 6.1 guest']) expect(opts.has(o), o).toBe(true);
    const tickless = rep.rows.find((r) => r.optimization === 'timer-hz, 6.1 guest tickless')!;
    expect(tickless.estimated).toBeNull();
    expect(tickless.notes.join(' ')).toMatch(/timer-hz:100: not-applicable: .*tickless/);
    const ipiv = rep.rows.find((r) => r.optimization === 'ipiv, 6.1 guest')!;
    expect(ipiv.checks.exits, JSON.stringify(ipiv)).toBe(true);
    for (const r of rep.rows.filter((x) => x.targets && !x.limit)) {
      const what = `${r.optimization} / ${r.scenario} (seed ${r.seed})`;
      expect(r.checks.exits, `${what}: exits ${JSON.stringify(r.estimated?.exitsSavedRange)} vs ${r.measured.exitsSaved}`).toBe(true);
      expect(r.checks.exitTime, `${what}: exit time ${JSON.stringify(r.estimated?.exitTimeSavedRange)} vs ${r.measured.exitTimeSavedNs}`).toBe(true);
      expect(r.checks.speedupInRange, `${what}: speedup ${r.measured.speedup}`).toBe(true);
    }
    for (const w of rep.worst) expect(w.misses, w.optimization).toBe(0);
    const noop = rep.rows.find((r) => r.optimization === 'guest iosched noop')!;
    expect(noop.estimated).toBeNull();
    expect(noop.measured.speedup).toBeGreaterThan(1);
  }, 60_000);
});
