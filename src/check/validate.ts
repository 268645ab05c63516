/**
 * `exitscope validate`: is the estimate right? For each optimization the
 * emulator can switch: emulate a baseline and an optimized run of the same
 * work (same --ops), estimate from the baseline trace alone, and compare
 * estimated vs measured exits saved, exit time saved (time out of guest mode:
 * traced duration + hardware transition) and throughput change.
 * Targets (issue 4): exits within 5%, exit time within 15% for coalesce-io,
 * timer-hz, drop and napi-off; the measured throughput change inside the
 * estimated range. A missed target shows as MISS.
 */
import { z } from 'zod';
import { emulationStream, GUEST_MAP, prepareEmulation, type EmulationSummary } from '../emulator/index.js';
import type { EmulatorConfigInput } from '../emulator/config.js';
import { ExitTrace } from '../model/chunk.js';
import { ExitscopeError } from '../model/errors.js';
import { loadSymbolizer } from '../symbols/index.js';
import { estimate, parsePassSpec, type PassEstimate } from '../replay/index.js';

export interface Scenario {
  name: string;
  optimization: string;
  base: EmulatorConfigInput;
  opt: Partial<EmulatorConfigInput>;
  passes: string[];
  /** Whether issue 4's accuracy targets apply. */
  targets: boolean;
  ops: number;
}

export const SCENARIOS: Scenario[] = [
  { name: 'disk ide write', optimization: 'coalesce-io', base: { workload: 'disk', disk: 'ide', diskTest: 'write', blockKB: [16], vcpus: 1 }, opt: { guestOpts: ['coalesce-io'] }, passes: ['coalesce-io:in=ide_tf_load,ide_tf_read'], targets: true, ops: 40000 },
  { name: 'jbb', optimization: 'timer-hz 1000->100', base: { workload: 'jbb', vcpus: 1 }, opt: { hz: 100 }, passes: ['timer-hz:100'], targets: true, ops: 15000 },
  { name: 'disk ata write', optimization: 'drop verify_pmtmr_rate', base: { workload: 'disk', disk: 'ata', diskTest: 'write', blockKB: [16], vcpus: 1 }, opt: { guestOpts: ['no-pmtmr-verify'] }, passes: ['drop-caller:verify_pmtmr_rate'], targets: true, ops: 40000 },
  { name: 'net e1000 TCP_STREAM', optimization: 'napi-off', base: { workload: 'net', nic: 'e1000', netTest: 'TCP_STREAM', vcpus: 1 }, opt: { napi: 'off' }, passes: ['napi-off'], targets: true, ops: 30000 },
  { name: 'net e1000 UDP_RR', optimization: 'napi-off', base: { workload: 'net', nic: 'e1000', netTest: 'UDP_RR', vcpus: 1 }, opt: { napi: 'off' }, passes: ['napi-off'], targets: true, ops: 8000 },
  { name: 'jbb', optimization: 'pv-eoi', base: { workload: 'jbb', vcpus: 1 }, opt: { hostOpts: ['pv-eoi'] }, passes: ['pv-eoi'], targets: false, ops: 15000 },
  { name: 'jbb (modern host)', optimization: 'apicv', base: { workload: 'jbb', vcpus: 1, profile: 'modern' }, opt: { hostOpts: ['apicv'] }, passes: ['apicv'], targets: false, ops: 30000 },
  { name: 'net e1000 TCP_STREAM', optimization: 'coalesced-mmio', base: { workload: 'net', nic: 'e1000', netTest: 'TCP_STREAM', vcpus: 1 }, opt: { hostOpts: ['coalesced-mmio'] }, passes: ['coalesced-mmio:auto'], targets: false, ops: 30000 },
  { name: 'net TCP_STREAM', optimization: 'rtl8139 -> virtio', base: { workload: 'net', nic: 'rtl8139', netTest: 'TCP_STREAM', vcpus: 1 }, opt: { nic: 'virtio' }, passes: ['virtio:dev=nic'], targets: false, ops: 30000 },
  { name: 'disk ata', optimization: 'guest iosched noop', base: { workload: 'disk', disk: 'ata', diskTest: 'both', blockKB: [16], vcpus: 1 }, opt: { iosched: 'noop' }, passes: ['iosched-noop'], targets: false, ops: 40000 },
];

/** The accuracy targets (issue 4): exits saved within 5%, exit time saved within 15%, measured throughput inside the range. */
export const TARGETS = { exits: 0.05, exitTime: 0.15 } as const;

const Range = z.tuple([z.number(), z.number()]);

export const ValidationRowSchema = z.object({
  scenario: z.string(),
  optimization: z.string(),
  passes: z.string(),
  targets: z.boolean().describe('Whether the accuracy targets apply to this row'),
  measured: z.object({ exitsSaved: z.number(), exitTimeSavedNs: z.number(), speedup: z.number() }).describe('Baseline run minus optimized run of the same work'),
  estimated: z.object({ exitsSaved: z.number(), exitsSavedRange: Range, exitTimeSavedNs: z.number(), exitTimeSavedRange: Range, speedupLow: z.number(), speedupHigh: z.number(), speedupHighCI: Range }).nullable().describe('From the baseline trace alone; null when not estimable'),
  errors: z.object({ exits: z.number().nullable(), exitTime: z.number().nullable() }).describe('Relative distance of the measured value from the estimated range (0 inside it)'),
  checks: z.object({ exits: z.boolean().nullable(), exitTime: z.boolean().nullable(), speedupInRange: z.boolean().nullable() }),
  notes: z.array(z.string()),
});

export const ValidationReportSchema = z.object({
  schema: z.literal('exitscope.validate/v1'),
  targets: z.object({ exits: z.number(), exitTime: z.number() }),
  rows: z.array(ValidationRowSchema),
});

export type ValidationRow = z.infer<typeof ValidationRowSchema>;
export type ValidationReport = z.infer<typeof ValidationReportSchema>;

async function runSummary(cfg: EmulatorConfigInput): Promise<EmulationSummary> {
  const em = prepareEmulation(cfg, 'validate');
  for await (const _ of em.chunks()) void _;
  return em.summary!;
}

const relErr = (est: number, meas: number): number | null => (meas === 0 ? (est === 0 ? 0 : null) : Math.abs(est - meas) / Math.abs(meas));

export async function validate(opts: { scale?: number; seed?: number; only?: readonly string[] } = {}): Promise<ValidationReport> {
  const known = [...new Set(SCENARIOS.map((s) => s.optimization))];
  for (const o of opts.only ?? []) if (!known.includes(o)) throw new ExitscopeError(`validate --only: unknown optimization '${o}' (choose from: ${known.join(', ')})`);
  const k = opts.scale ?? 1;
  const seed = opts.seed ?? 1;
  const symbolizer = await loadSymbolizer([GUEST_MAP]);
  const rows: ValidationRow[] = [];
  for (const sc of SCENARIOS) {
    if (opts.only && !opts.only.includes(sc.optimization)) continue;
    const ops = Math.max(100, Math.round(sc.ops * k));
    const baseCfg = { ...sc.base, ops, duration: 86_400, seed };
    const em = prepareEmulation(baseCfg, 'validate');
    const trace = await ExitTrace.collect(emulationStream(em).chunks, new Set(['port', 'size', 'dir', 'value', 'gpa', 'caller']));
    const base = em.summary!;
    const opt = await runSummary({ ...baseCfg, ...sc.opt });
    const measured = {
      exitsSaved: base.exits - opt.exits,
      exitTimeSavedNs: base.exitNs + base.transitionNs - (opt.exitNs + opt.transitionNs),
      speedup: opt.metric.value / base.metric.value,
    };
    const rep = await estimate({ input: trace, symbolizer, passes: sc.passes.map(parsePassSpec), bootstrap: 400, seed });
    const est: PassEstimate | null = rep.cumulative ?? rep.passes[0] ?? null;
    const notes = rep.notApplied.map((n) => `${n.name}: ${n.verdict}: ${n.why}`);
    const estimated = est && {
      exitsSaved: est.exitsBefore - est.exitsAfter,
      exitsSavedRange: est.exitsSavedRange as [number, number],
      exitTimeSavedNs: est.exitTimeSavedNs,
      exitTimeSavedRange: est.exitTimeSavedRange as [number, number],
      speedupLow: est.speedupLow,
      speedupHigh: est.speedupHigh,
      speedupHighCI: est.speedupHighCI as [number, number],
    };
    // Error against the estimate's range: zero inside it, else the distance to its nearer end.
    const rangeErr = (r: [number, number], meas: number): number | null => (meas >= r[0] && meas <= r[1] ? 0 : relErr(meas < r[0] ? r[0] : r[1], meas));
    const eExits = estimated ? rangeErr(estimated.exitsSavedRange, measured.exitsSaved) : null;
    const eTime = estimated ? rangeErr(estimated.exitTimeSavedRange, measured.exitTimeSavedNs) : null;
    const inRange = estimated ? measured.speedup >= estimated.speedupLow - 0.005 && measured.speedup <= Math.max(estimated.speedupHighCI[1], estimated.speedupHigh) + 0.005 : null;
    rows.push({
      scenario: sc.name, optimization: sc.optimization, passes: sc.passes.join(' ') || '-', targets: sc.targets, measured, estimated,
      errors: { exits: eExits, exitTime: eTime },
      checks: {
        exits: estimated ? eExits !== null && eExits <= TARGETS.exits : null,
        exitTime: estimated ? eTime !== null && eTime <= TARGETS.exitTime : null,
        speedupInRange: inRange,
      },
      notes,
    });
  }
  return { schema: 'exitscope.validate/v1', targets: { ...TARGETS }, rows };
}
