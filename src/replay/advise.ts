/**
 * `exitscope advise`: finds the opportunities in a trace without being told.
 * Every candidate is estimated with the same passes `estimate` runs, ranked
 * by saved time, and given with its evidence and the concrete change to make.
 */
import { z } from 'zod';
import { F_CALLER, F_PORT, type ExitTrace } from '../model/chunk.js';
import type { KaslrOption, Symbolizer } from '../symbols/index.js';
import { estimateAlone, openEstimate, type PassEstimate } from './estimate.js';
import { detectTimer } from './passes/timer-hz.js';
import { isIcrWrite } from './passes/ipiv.js';
import { msrName } from '../symbols/msrs.js';
import { REASONS } from '../model/reasons.js';
import { F_MSR, F_GPA, F_USERSPACE } from '../model/chunk.js';
import { DISK_FN, LAPIC_EOI, MSR_TSC_DEADLINE, MSR_X2APIC_EOI, NIC_FN } from '../symbols/devices.js';
import { parsePassSpec } from './pipeline.js';
import { findMaskChurn } from './passes/napi-off.js';
import { gapAfter } from './trace.js';

export const AdviceSchema = z.object({
  rank: z.number().int(),
  title: z.string(),
  pass: z.string(),
  savedNs: z.number(),
  exitsSaved: z.number(),
  speedupHigh: z.number().nullable().describe('As estimate\'s: null when the saving has no bound'),
  evidence: z.array(z.string()),
  change: z.string(),
});
export const AdviceReportSchema = z.object({ schema: z.literal('exitscope.advise/v2'), input: z.string(), exits: z.number(), advice: z.array(AdviceSchema), checked: z.array(z.string()) });
export type Advice = z.infer<typeof AdviceSchema>;
export type AdviceReport = z.infer<typeof AdviceReportSchema>;

interface Candidate {
  title: string;
  pass: string;
  evidence: string[];
  change: string;
}

export async function advise(opts: { input: string | ExitTrace; maps?: readonly string[]; symbolizer?: Symbolizer | null; min?: number; kaslr?: KaslrOption }): Promise<AdviceReport> {
  // One read, one inference, one grid: every candidate is estimated against this session (no rerun per candidate).
  const session = await openEstimate({ input: opts.input, maps: opts.maps, symbolizer: opts.symbolizer, kaslr: opts.kaslr, bootstrap: 0 });
  const rt = session.base;
  const ctx = session.ctx;
  const cands: Candidate[] = [];
  const checked: string[] = [];

  // 1. Runs of successive I/O instructions, by the function they come from.
  checked.push('runs of successive I/O instructions');
  // Keyed by function name id (-1: '?', no function holds the address), named once at the end.
  const runIds = new Map<number, { runs: number; exits: number; trap: string; ports: Set<number> }>();
  const window = ctx.transition.value + 2000;
  const byCaller = ctx.hasCallers;
  for (const c of rt.vcpus.values()) {
    const key = (k: number): number => (byCaller && c.flags[k] & F_CALLER ? ctx.nameId(c.callerHi[k], c.callerLo[k]) : ctx.nameId(c.ripHi[k], c.ripLo[k]));
    let i = 0;
    while (i < c.length) {
      if (!(c.flags[i] & F_PORT)) { i++; continue; }
      const k0 = key(i);
      let j = i;
      while (j + 1 < c.length && c.flags[j + 1] & F_PORT && gapAfter(c, j) < window && key(j + 1) === k0) j++;
      if (j > i) {
        let r = runIds.get(k0);
        if (!r) runIds.set(k0, (r = { runs: 0, exits: 0, trap: ctx.label(c.ripHi[i], c.ripLo[i]), ports: new Set<number>() }));
        r.runs++;
        r.exits += j - i + 1;
        for (let k = i; k <= j; k++) r.ports.add(c.port[k]);
      }
      i = j + 1;
    }
  }
  const runs = new Map<string, { runs: number; exits: number; trap: string; ports: Set<number> }>();
  for (const [id, r] of runIds) runs.set(id < 0 ? '?' : ctx.nameById(id), r);
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

  // 2. The tick: from its own source, reported only at a rate kernels are built with.
  checked.push('timer tick (source, rate, tickless)');
  const timer = detectTimer(rt, ctx);
  if (timer.mode === 'tickless') checked.push(`timer: ${timer.summary}; no tick-rate change applies`);
  else if (timer.mode !== 'none' && timer.hz === null) checked.push(`timer: ${timer.summary}`);
  else if (timer.hz !== null && timer.hz > 100) {
    let exitsInTicks = 0, ticks = 0;
    for (const l of timer.clusters.values()) for (const [a, b] of l) { exitsInTicks += b - a + 1; ticks++; }
    const pit = timer.source === 'pit';
    cands.push({
      title: `lower the guest tick rate from ${timer.hz} Hz to 100 Hz`,
      pass: 'timer-hz:100',
      evidence: [`${timer.summary}; ${ticks} ticks with ${(exitsInTicks / Math.max(1, ticks)).toFixed(1)} exits each (${exitsInTicks} exits)`],
      change: pit
        ? 'build the guest with CONFIG_HZ=100 or run it tickless (CONFIG_NO_HZ, nohz=on); on an old KVM, rewrite the PIT reload count as the paper did (pit_load_count, §3.1.2)'
        : `build the guest with CONFIG_HZ=100, or keep the tick off busy vcpus (CONFIG_NO_HZ_FULL, nohz_full=); ${timer.source === 'tsc-deadline' ? 'each tick re-arms the TSC deadline (WRMSR 0x6e0): a host with the VMX preemption timer (kvm_intel preemption_timer=1) handles its expiry cheaply' : 'the LAPIC timer drives it'}`,
    });
  }

  // 3. Operations that are redundant under virtualization.
  checked.push('known-redundant operations (PM timer calibration, PIT polling)');
  // Counted by function id (numbers, per exit: a typed array indexed by id; ids in first-seen order), named once per function.
  const counter = (): { ids: number[]; n: Float64Array; add(f: number): void } => {
    const t = { ids: [] as number[], n: new Float64Array(1024), add(f: number): void {
      if (f >= t.n.length) { const b = new Float64Array(Math.max(f + 1, t.n.length * 2)); b.set(t.n); t.n = b; }
      if (t.n[f]++ === 0) t.ids.push(f);
    } };
    return t;
  };
  const hotIds = counter(), callerIds = counter();
  for (const c of rt.vcpus.values()) {
    for (let i = 0; i < c.length; i++) {
      const f = ctx.fnId(c.ripHi[i], c.ripLo[i]);
      if (f >= 0) hotIds.add(f);
      if (c.flags[i] & F_CALLER) { const cf = ctx.fnId(c.callerHi[i], c.callerLo[i]); if (cf >= 0) callerIds.add(cf); }
    }
  }
  const byName = (ids: ReturnType<typeof counter>): Map<string, number> => {
    const out = new Map<string, number>();
    for (const id of ids.ids) { const name = ctx.fnNameById(id); out.set(name, (out.get(name) ?? 0) + ids.n[id]); }
    return out;
  };
  const hotFns = byName(hotIds);
  const callers = byName(callerIds);
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
  checked.push('emulated NIC/disk register exits (virtio)', 'NIC MMIO writes (coalesced MMIO)');
  // The device passes' own name rules (symbols/devices.ts), so advice names every driver the virtio pass prices.
  const nicFns = [...hotFns.keys()].filter((f) => NIC_FN.test(f));
  const nicCallers = [...callers.keys()].filter((f) => NIC_FN.test(f));
  if (nicFns.length || nicCallers.length) cands.push({ title: 'replace the emulated NIC with virtio-net', pass: 'virtio:dev=nic', evidence: [`register exits from ${[...new Set([...nicFns, ...nicCallers])].slice(0, 5).join(', ')}`], change: 'give the guest a virtio-net device (-device virtio-net-pci), with vhost-net on the host' });
  const diskFns = [...new Set([...hotFns.keys(), ...callers.keys()])].filter((f) => DISK_FN.test(f));
  if (diskFns.length) cands.push({ title: 'replace the emulated IDE/ATA disk with virtio-blk', pass: 'virtio:dev=disk', evidence: [`register exits from ${diskFns.slice(0, 5).join(', ')}`], change: 'give the guest a virtio-blk (or virtio-scsi) disk (-drive if=virtio)' });
  // Modern exit sources, each only where its evidence is in the trace.
  checked.push('x2APIC/xAPIC EOI writes, ICR IPIs, TSC-deadline writes, HLT round trips, PAUSE exits, virtio notifications');
  let eois = 0, icr = 0, deadline = 0, windows = 0, hltShort = 0, pauses = 0, notifyUser = 0;
  // Per reason id: HLT, PAUSE, interrupt window (a table: this loop visits every exit).
  const R_HLT = 1, R_PAUSE = 2, R_WIN = 4;
  const rk = new Uint8Array(REASONS.size + 1);
  for (const r of REASONS.matching('HLT')) rk[r] |= R_HLT;
  for (const r of REASONS.matching('PAUSE_INSTRUCTION')) rk[r] |= R_PAUSE;
  for (const r of REASONS.matching('INTERRUPT_WINDOW')) rk[r] |= R_WIN;
  for (const c of rt.vcpus.values()) {
    for (let i = 0; i < c.length; i++) {
      if ((c.flags[i] & F_MSR && c.msr[i] === MSR_X2APIC_EOI) || (c.flags[i] & F_GPA && c.gpaHi[i] === 0 && c.gpaLo[i] === LAPIC_EOI)) eois++;
      if (isIcrWrite(c, i, ctx)) icr++;
      if (c.flags[i] & F_MSR && c.msr[i] === MSR_TSC_DEADLINE) deadline++;
      const r = c.reason[i] < rk.length ? rk[c.reason[i]] : 0;
      if (r & R_WIN) windows++;
      if (r & R_HLT && c.dur[i] < 200_000) hltShort++;
      if (r & R_PAUSE) pauses++;
      if (c.flags[i] & F_USERSPACE && /vp_notify|virtqueue_notify/.test((c.flags[i] & F_CALLER ? ctx.fnName(c.callerHi[i], c.callerLo[i]) : ctx.fnName(c.ripHi[i], c.ripLo[i])) ?? '')) notifyUser++;
    }
  }
  const eoiName = msrName(MSR_X2APIC_EOI)!.name;
  if (eois || windows) cands.push({ title: 'remove EOI and interrupt-window exits with APICv / AVIC', pass: 'apicv', evidence: [`${eois} EOI writes (${eoiName} or the xAPIC EOI register), ${windows} interrupt-window exits`], change: 'run on a host CPU with APICv and load kvm_intel with enable_apicv=1 (AMD: AVIC, kvm_amd avic=1): EOIs are virtualized and interrupts posted' });
  if (eois) cands.push({ title: 'remove edge-triggered EOI exits with PV EOI', pass: 'pv-eoi', evidence: [`${eois} EOI writes`], change: 'use a guest kernel with CONFIG_KVM_GUEST (PV EOI is negotiated through MSR_KVM_PV_EOI_EN, 0x4b564d04) on a host that offers KVM_FEATURE_PV_EOI' });
  if (icr) {
    cands.push({ title: 'deliver IPIs without exits (IPI virtualization / AVIC)', pass: 'ipiv', evidence: [`${icr} ICR writes (${msrName(0x830)!.name})`], change: 'a host CPU with IPI virtualization (Intel Sapphire Rapids: kvm_intel enable_ipiv=1) or AMD AVIC' });
    cands.push({ title: 'send multicast IPIs with one hypercall (PV send-IPI)', pass: 'ipiv:pv', evidence: [`${icr} ICR writes (${msrName(0x830)!.name})`], change: 'a guest with CONFIG_KVM_GUEST on a host offering KVM_FEATURE_PV_SEND_IPI (kvm_send_ipi_mask)' });
  }
  if (deadline && timer.mode !== 'periodic') checked.push(`${deadline} TSC-deadline writes (${msrName(MSR_TSC_DEADLINE)!.name}) at irregular intervals: timers due, not a tick; a host with the VMX preemption timer (kvm_intel preemption_timer=1) expires them without a host hrtimer`);
  if (hltShort >= 20) cands.push({ title: 'poll in the guest before halting (haltpoll)', pass: 'haltpoll', evidence: [`${hltShort} HLT exits woke within 200 us`], change: 'load the guest\'s cpuidle-haltpoll driver (CONFIG_HALTPOLL_CPUIDLE, guest_halt_poll_ns) or raise the host\'s halt_poll_ns (kvm module parameter) so short idle periods do not pay a full HLT round trip' });
  if (pauses >= 20) cands.push({ title: 'widen the pause-loop exiting window', pass: 'ple-window', evidence: [`${pauses} PAUSE exits (spinning vcpus)`], change: 'raise kvm_intel ple_window (AMD: kvm_amd pause_filter_count), or give the guest PV spinlocks (CONFIG_PARAVIRT_SPINLOCKS, KVM_FEATURE_PV_UNHALT)' });
  if (notifyUser) checked.push(`${notifyUser} virtio notifications went to userspace: enable ioeventfd (QEMU ioeventfd=on, the default for virtio-pci) or vhost so KVM completes them in the kernel; with event index (VIRTIO_RING_F_EVENT_IDX) the guest skips most of them`);
  if (churn.ranges.some((r) => r.kind === 'mmio')) cands.push({ title: 'queue the NIC\'s MMIO writes (coalesced MMIO)', pass: 'coalesced-mmio:auto', evidence: ['MMIO register writes to the NIC'], change: 'register the NIC\'s write-only registers as coalesced MMIO in the device model (KVM_REGISTER_COALESCED_MMIO)' });

  // Estimate each candidate with the same machinery as `estimate`.
  const advice: Advice[] = [];
  for (const cand of cands) {
    const r = estimateAlone(session, parsePassSpec(cand.pass));
    if ('notApplied' in r) continue;
    const p: PassEstimate = r;
    const exitsSaved = p.exitsBefore - p.exitsAfter;
    if (p.savedNs <= (opts.min ?? 0) && exitsSaved <= 0) continue;
    const evidence = [...cand.evidence, ...p.notes.filter((n) => !/runs merged/.test(n))];
    advice.push({ rank: 0, title: cand.title, pass: cand.pass, savedNs: p.savedNs, exitsSaved, speedupHigh: p.speedupHigh, evidence, change: cand.change });
  }
  advice.sort((a, b) => b.savedNs - a.savedNs);
  advice.forEach((a, k) => { a.rank = k + 1; });
  return { schema: 'exitscope.advise/v2', input: typeof opts.input === 'string' ? opts.input : '(in memory)', exits: rt.length, advice, checked };
}
