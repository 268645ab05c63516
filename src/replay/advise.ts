/**
 * `exitscope advise`: finds the opportunities in a trace without being told.
 * Every candidate is estimated with the same passes `estimate` runs, ranked
 * by saved time, and given with its evidence and the concrete change to make.
 */
import { z } from 'zod';
import { readTrace } from '../formats/index.js';
import { F_CALLER, F_PORT, type ExitTrace } from '../model/chunk.js';
import { loadSymbolizer, type KaslrOption, type Symbolizer } from '../symbols/index.js';
import { ReplayContext } from './context.js';
import { estimate, type PassEstimate } from './estimate.js';
import { findTickClusters } from './passes/timer-hz.js';
import { parsePassSpec } from './pipeline.js';
import { findMaskChurn } from './passes/napi-off.js';
import { ReplayTrace } from './trace.js';
import { gapAfter } from './trace.js';

export const AdviceSchema = z.object({
  rank: z.number().int(),
  title: z.string(),
  pass: z.string(),
  savedNs: z.number(),
  exitsSaved: z.number(),
  speedupHigh: z.number(),
  evidence: z.array(z.string()),
  change: z.string(),
});
export const AdviceReportSchema = z.object({ schema: z.literal('exitscope.advise/v1'), input: z.string(), exits: z.number(), advice: z.array(AdviceSchema), checked: z.array(z.string()) });
export type Advice = z.infer<typeof AdviceSchema>;
export type AdviceReport = z.infer<typeof AdviceReportSchema>;

interface Candidate {
  title: string;
  pass: string;
  evidence: string[];
  change: string;
}

export async function advise(opts: { input: string | ExitTrace; maps?: readonly string[]; symbolizer?: Symbolizer | null; min?: number; kaslr?: KaslrOption }): Promise<AdviceReport> {
  const trace = typeof opts.input === 'string' ? (await readTrace(opts.input)).trace : opts.input;
  const symbols = opts.symbolizer !== undefined ? opts.symbolizer : opts.maps && opts.maps.length ? await loadSymbolizer(opts.maps) : null;
  const rt = ReplayTrace.from(trace);
  const ctx = new ReplayContext(rt, symbols, { kaslr: opts.kaslr });
  const cands: Candidate[] = [];
  const checked: string[] = [];

  // 1. Runs of successive I/O instructions, by the function they come from.
  checked.push('runs of successive I/O instructions');
  const runs = new Map<string, { runs: number; exits: number; trap: string; ports: Set<number> }>();
  const window = ctx.transition.value + 2000;
  for (const c of rt.vcpus.values()) {
    let i = 0;
    while (i < c.length) {
      if (!(c.flags[i] & F_PORT)) { i++; continue; }
      const key = (k: number): string => (ctx.hasCallers && c.flags[k] & F_CALLER ? ctx.fnName(c.callerHi[k], c.callerLo[k]) : ctx.fnName(c.ripHi[k], c.ripLo[k])) ?? '?';
      const k0 = key(i);
      let j = i;
      while (j + 1 < c.length && c.flags[j + 1] & F_PORT && gapAfter(c, j) < window && key(j + 1) === k0) j++;
      if (j > i) {
        const r = runs.get(k0) ?? { runs: 0, exits: 0, trap: ctx.label(c.ripHi[i], c.ripLo[i]), ports: new Set<number>() };
        r.runs++;
        r.exits += j - i + 1;
        for (let k = i; k <= j; k++) r.ports.add(c.port[k]);
        runs.set(k0, r);
      }
      i = j + 1;
    }
  }
  for (const [fn, r] of [...runs.entries()].sort((a, b) => b[1].exits - a[1].exits).slice(0, 4)) {
    if (fn === '?') continue;
    const ports = [...r.ports].sort((a, b) => a - b).map((p) => `0x${p.toString(16)}`);
    cands.push({
      title: `merge the successive I/O instructions of ${fn}`,
      pass: `coalesce-io:in=${fn}`,
      evidence: [`${r.runs} runs of ${(r.exits / r.runs).toFixed(1)} I/O exits on average from ${fn} (trap ${r.trap}; ports ${ports.slice(0, 8).join(' ')}${ports.length > 8 ? ' ...' : ''})`],
      change: `queue ${fn}'s port accesses and issue one hypercall (paper §3.1.1, Fig. 6), or move the device to virtio`,
    });
  }

  // 2. The tick rate.
  checked.push('timer tick rate');
  const { clusters, periods } = findTickClusters(rt, ctx);
  const ticks = [...clusters.values()].reduce((s, l) => s + l.length, 0);
  if (ticks >= 10 && periods.length) {
    const sorted = periods.slice().sort((a, b) => a - b);
    const hz = 1e9 / sorted[Math.floor(sorted.length / 2)];
    let exitsInTicks = 0;
    for (const l of clusters.values()) for (const [a, b] of l) exitsInTicks += b - a + 1;
    if (hz > 150) {
      cands.push({
        title: `lower the guest tick rate from ${hz.toFixed(0)} Hz to 100 Hz`,
        pass: 'timer-hz:100',
        evidence: [`${ticks} timer ticks at ${hz.toFixed(1)} Hz with ${(exitsInTicks / ticks).toFixed(1)} exits each (${exitsInTicks} exits)`],
        change: 'build the guest with CONFIG_HZ=100 or run it tickless (CONFIG_NO_HZ, nohz=on); on an old KVM, rewrite the PIT reload count as the paper did (pit_load_count, §3.1.2)',
      });
    }
  }

  // 3. Operations that are redundant under virtualization.
  checked.push('known-redundant operations (PM timer calibration, PIT polling)');
  const callers = new Map<string, number>();
  const hotFns = new Map<string, number>();
  for (const c of rt.vcpus.values()) {
    for (let i = 0; i < c.length; i++) {
      const f = ctx.fnName(c.ripHi[i], c.ripLo[i]);
      if (f) hotFns.set(f, (hotFns.get(f) ?? 0) + 1);
      if (c.flags[i] & F_CALLER) { const cf = ctx.fnName(c.callerHi[i], c.callerLo[i]); if (cf) callers.set(cf, (callers.get(cf) ?? 0) + 1); }
    }
  }
  const REDUNDANT: Array<[RegExp, string, string]> = [
    [/^(verify_pmtmr_rate|acpi_pm_read_verified)$/, 'the ACPI PM timer rate check', 'drop verify_pmtmr_rate from the guest (paper §3.2.1) or boot with clocksource=tsc so the PM timer is not read'],
    [/^(pit_calibrate_tsc|pit_hpet_ptimer_calibrate_cpu|calibrate_delay|native_calibrate_tsc|pit_expect_msb)$/, 'PIT polling to calibrate the TSC', 'boot with tsc=reliable and lpj=<value>, or use a kvmclock guest: the calibration loop polls an emulated PIT'],
  ];
  for (const [re, what, change] of REDUNDANT) {
    for (const [fn, n] of callers) {
      if (!re.test(fn)) continue;
      cands.push({ title: `remove ${what} (${fn})`, pass: `drop-caller:${fn}`, evidence: [`${n} exits called from ${fn}`], change });
    }
    if (!ctx.hasCallers) for (const [fn, n] of hotFns) if (re.test(fn)) cands.push({ title: `remove ${what} (${fn})`, pass: `drop:${fn}`, evidence: [`${n} exits in ${fn}`], change });
  }

  // 4. Interrupt-mask churn (NAPI).
  checked.push('interrupt-mask churn of NAPI drivers');
  const churn = findMaskChurn(rt);
  if (churn.ranges.length) {
    cands.push({
      title: 'stop the NIC driver\'s interrupt-mask churn (NAPI)',
      pass: 'napi-off',
      evidence: [`mask/unmask register writes: ${churn.found.join(', ')}, each followed by a flushing read`],
      change: 'build the guest NIC driver without NAPI (paper §3.2.2: e1000 without CONFIG_E1000_NAPI) or switch the NIC to virtio-net, whose event suppression needs no mask writes',
    });
  }

  // 5. Emulated devices virtio would replace; 6. EOIs; 7. coalesced MMIO.
  checked.push('emulated NIC/disk register exits (virtio)', 'EOI and interrupt-window exits (APICv, PV EOI)', 'NIC MMIO writes (coalesced MMIO)');
  const nicFns = [...hotFns.keys()].filter((f) => /rtl8139|e1000|ne2k|pcnet/.test(f));
  const nicCallers = [...callers.keys()].filter((f) => /rtl8139|e1000|ne2k|pcnet/.test(f));
  if (nicFns.length || nicCallers.length) cands.push({ title: 'replace the emulated NIC with virtio-net', pass: 'virtio:dev=nic', evidence: [`register exits from ${[...new Set([...nicFns, ...nicCallers])].slice(0, 5).join(', ')}`], change: 'give the guest a virtio-net device (-device virtio-net-pci), with vhost-net on the host' });
  const diskFns = [...new Set([...hotFns.keys(), ...callers.keys()])].filter((f) => /^(ata_|ide_|__ide_)/.test(f));
  if (diskFns.length) cands.push({ title: 'replace the emulated IDE/ATA disk with virtio-blk', pass: 'virtio:dev=disk', evidence: [`register exits from ${diskFns.slice(0, 5).join(', ')}`], change: 'give the guest a virtio-blk (or virtio-scsi) disk (-drive if=virtio)' });
  cands.push({ title: 'remove EOI and interrupt-window exits with APICv', pass: 'apicv', evidence: ['APIC EOI writes and interrupt-window exits in the trace'], change: 'run on a host CPU with APICv and load kvm_intel with enable_apicv=1 (AMD: AVIC, kvm_amd avic=1)' });
  cands.push({ title: 'remove edge-triggered EOI exits with PV EOI', pass: 'pv-eoi', evidence: ['APIC EOI writes for edge-triggered interrupts'], change: 'use a guest kernel with CONFIG_KVM_GUEST (PV EOI is negotiated through MSR_KVM_PV_EOI_EN)' });
  if (churn.ranges.some((r) => r.kind === 'mmio')) cands.push({ title: 'queue the NIC\'s MMIO writes (coalesced MMIO)', pass: 'coalesced-mmio:auto', evidence: ['MMIO register writes to the NIC'], change: 'register the NIC\'s write-only registers as coalesced MMIO in the device model (KVM_REGISTER_COALESCED_MMIO)' });

  // Estimate each candidate with the same machinery as `estimate`.
  const advice: Advice[] = [];
  for (const cand of cands) {
    const rep = await estimate({ input: trace, symbolizer: symbols, passes: [parsePassSpec(cand.pass)], bootstrap: 0 });
    const p: PassEstimate = rep.passes[0];
    const exitsSaved = p.exitsBefore - p.exitsAfter;
    if (p.savedNs <= (opts.min ?? 0) && exitsSaved <= 0) continue;
    const evidence = [...cand.evidence, ...p.notes.filter((n) => !/runs merged/.test(n))];
    advice.push({ rank: 0, title: cand.title, pass: cand.pass, savedNs: p.savedNs, exitsSaved, speedupHigh: p.speedupHigh, evidence, change: cand.change });
  }
  advice.sort((a, b) => b.savedNs - a.savedNs);
  advice.forEach((a, k) => { a.rank = k + 1; });
  return { schema: 'exitscope.advise/v1', input: typeof opts.input === 'string' ? opts.input : '(in memory)', exits: rt.length, advice, checked };
}
