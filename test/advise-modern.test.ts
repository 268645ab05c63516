/** Issue 17: timers known by their source, tickless guests, advice for modern exit sources, the modern guest's map. */
import { describe, expect, it } from 'vitest';
import { emulationStream, guestMapFor, prepareEmulation, MODERN_GUEST_MAP } from '../src/emulator/index.js';
import { ExitTrace, ExitChunk } from '../src/model/chunk.js';
import { analyze } from '../src/analyze/index.js';
import { advise } from '../src/replay/advise.js';
import { ReplayContext } from '../src/replay/context.js';
import { detectTimer } from '../src/replay/passes/timer-hz.js';
import { ReplayTrace } from '../src/replay/trace.js';
import { estimate, parsePassSpec } from '../src/replay/index.js';
import { loadSymbolizer } from '../src/symbols/index.js';
import { msrName } from '../src/symbols/msrs.js';

const COLS = new Set(['port', 'size', 'dir', 'value', 'gpa', 'msr', 'caller'] as const);

async function trace(cfg: object): Promise<{ trace: ExitTrace; map: string }> {
  const em = prepareEmulation({ duration: 86_400, seed: 1, ...cfg });
  return { trace: await ExitTrace.collect(emulationStream(em).chunks, COLS), map: guestMapFor(em) };
}

/** Only one vcpu's exits (an idle, tickless vcpu). */
function onlyVcpu(t: ExitTrace, vcpu: number): ExitTrace {
  const out = new ExitChunk(t.chunks.reduce((s, c) => s + c.length, 0) + 1, t.tsBaseNs);
  for (const c of t.chunks) for (let i = 0; i < c.length; i++) if (c.vcpu[i] === vcpu) out.copyRow(c, i);
  const r = new ExitTrace(t.tsBaseNs, t.columns);
  r.chunks.push(out);
  return r;
}

describe('modern guest', () => {
  it('analyzes with the real 6.1 map: x2APIC EOI, TSC deadline and ICR writes by function', async () => {
    const em = prepareEmulation({ workload: 'jbb', profile: 'modern', vcpus: 2, ops: 3000, seed: 1, duration: 86_400 });
    expect(guestMapFor(em)).toBe(MODERN_GUEST_MAP);
    const rep = await analyze({ inputs: [emulationStream(em)], maps: [MODERN_GUEST_MAP], by: 'function', top: 0 });
    const names = rep.rows.map((r) => r.symbol);
    expect(names).toEqual(expect.arrayContaining(['lapic_next_deadline', 'native_apic_msr_eoi_write', 'native_x2apic_icr_write']));
  });

  it('names the MSRs that exit', () => {
    expect(msrName(0x6e0)).toEqual({ name: 'IA32_TSC_DEADLINE', group: 'timer' });
    expect(msrName(0x80b)?.name).toBe('X2APIC_EOI');
    expect(msrName(0x830)?.name).toBe('X2APIC_ICR');
    expect(msrName(0x838)?.name).toMatch(/TMICT/);
    expect(msrName(0x4b564d04)?.name).toBe('MSR_KVM_PV_EOI_EN');
    expect(msrName(0x40000070)?.group).toBe('hyperv');
    expect(msrName(0x1234)).toBeNull();
  });
});

describe('timer detection (issue 17)', () => {
  it('a busy 6.x vcpu ticks at CONFIG_HZ through TSC-deadline re-arms; the paper guest\'s PIT at 1000 Hz', async () => {
    const m = await trace({ workload: 'jbb', profile: 'modern', hz: 250, vcpus: 1, ops: 4000 });
    const ctx = new ReplayContext(ReplayTrace.from(m.trace), await loadSymbolizer([m.map]));
    const d = detectTimer(ReplayTrace.from(m.trace), ctx);
    expect([d.mode, d.hz, d.source]).toEqual(['periodic', 250, 'tsc-deadline']);
    expect(d.confidence).toBeGreaterThan(0.5);
    const l = await trace({ workload: 'jbb', vcpus: 1, ops: 3000 });
    const lctx = new ReplayContext(ReplayTrace.from(l.trace), await loadSymbolizer([l.map]));
    const ld = detectTimer(ReplayTrace.from(l.trace), lctx);
    expect([ld.mode, ld.hz, ld.source]).toEqual(['periodic', 1000, 'pit']);
  });

  it('a tickless vcpu (deadline writes at irregular intervals): no tick-rate advice, timer-hz not applicable', async () => {
    const m = await trace({ workload: 'net', nic: 'virtio', netTest: 'UDP_RR', profile: 'modern', vcpus: 2, ops: 15000 });
    const idle = onlyVcpu(m.trace, 1);
    const sym = await loadSymbolizer([m.map]);
    const rt = ReplayTrace.from(idle);
    expect(detectTimer(rt, new ReplayContext(rt, sym)).mode).toBe('tickless');
    const adv = await advise({ input: idle, symbolizer: sym });
    expect(adv.advice.map((a) => a.pass)).not.toContain('timer-hz:100');
    expect(adv.checked.join(' ')).toMatch(/tickless/);
    const est = await estimate({ input: idle, symbolizer: sym, passes: [parsePassSpec('timer-hz:100')], bootstrap: 0 });
    expect(est.notApplied[0]).toMatchObject({ name: 'timer-hz:100', verdict: 'not-applicable' });
    expect(est.notApplied[0].why).toMatch(/tickless/);
  });

  it('advice for modern exit sources appears with its evidence, and not without it', async () => {
    const m = await trace({ workload: 'jbb', profile: 'modern', vcpus: 2, ops: 4000 });
    const adv = await advise({ input: m.trace, symbolizer: await loadSymbolizer([m.map]) });
    const passes = adv.advice.map((a) => a.pass);
    expect(passes).toEqual(expect.arrayContaining(['ipiv', 'pv-eoi', 'apicv']));
    expect(adv.advice.find((a) => a.pass === 'ipiv')!.evidence.join(' ')).toMatch(/ICR writes \(X2APIC_ICR\)/);
    // The paper guest on one vcpu sends no IPIs: no IPI advice.
    const l = await trace({ workload: 'jbb', vcpus: 1, ops: 3000 });
    const ladv = await advise({ input: l.trace, symbolizer: await loadSymbolizer([l.map]) });
    expect(ladv.advice.map((a) => a.pass)).not.toContain('ipiv');
    expect(ladv.advice.find((a) => a.pass === 'timer-hz:100')?.change).toMatch(/pit_load_count/);
  });
});
