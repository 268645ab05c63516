/**
 * Modern-guest rows of the validate matrix (issue 17): each cause found on the
 * way, reproduced on a small emulated run of the 6.1 guest.
 */
import { describe, expect, it } from 'vitest';
import { validateScenario, type Scenario } from '../src/check/validate.js';
import { emulationStream, guestMapFor, prepareEmulation, type EmulationSummary } from '../src/emulator/index.js';
import { ExitTrace, F_MSR } from '../src/model/chunk.js';
import { estimate, parsePassSpec } from '../src/replay/index.js';
import { loadSymbolizer } from '../src/symbols/index.js';

const MODERN = { profile: 'modern', guest: '6.1-x86_64' } as const;
const row = (base: Scenario['base'], opt: Scenario['opt'], passes: string[], ops: number, seed = 1) =>
  validateScenario({ name: 't', optimization: 't', base: { vcpus: 1, ...MODERN, ...base }, opt, passes, targets: true, ops }, 1, seed);
const ok = (r: Awaited<ReturnType<typeof row>>): string => JSON.stringify({ est: r.estimated, meas: r.measured });

async function summary(cfg: object): Promise<EmulationSummary> {
  const em = prepareEmulation({ duration: 86_400, seed: 1, ...MODERN, ...cfg });
  for await (const _ of em.chunks()) void _;
  return em.summary!;
}

async function est(cfg: object, passes: string[]) {
  const em = prepareEmulation({ duration: 86_400, seed: 1, vcpus: 1, ...MODERN, ...cfg });
  const trace = await ExitTrace.collect(emulationStream(em).chunks, new Set(['port', 'size', 'dir', 'value', 'gpa', 'msr', 'caller']));
  return estimate({ input: trace, symbolizer: await loadSymbolizer([guestMapFor(em)]), passes: passes.map(parsePassSpec), bootstrap: 0 });
}

describe('estimator on the 6.1 guest', () => {
  it('the hardware transition is not read off a busy loop that came back to a nearby RIP', async () => {
    // Before: 62 pairs of consecutive exits at nearby user RIPs, 60 us apart, made T = 61 us; apicv's exit time came out 150x the measured.
    const rep = await est({ workload: 'jbb', vcpus: 2, ops: 3000 }, ['apicv']);
    expect(rep.inferred.transitionNs.value).toBeLessThan(400);
    const r = await row({ workload: 'jbb', vcpus: 2 }, { hostOpts: ['apicv'] }, ['apicv'], 3000);
    expect(r.checks.exitTime, ok(r)).toBe(true);
  });

  it('apicv: a level-triggered x2APIC EOI becomes an EOI-induced exit of the same cost (no decode to save)', async () => {
    const r = await row({ workload: 'net', nic: 'e1000', netTest: 'TCP_STREAM' }, { hostOpts: ['apicv'] }, ['apicv'], 3000);
    expect(r.checks.exitTime, ok(r)).toBe(true);
  });

  it('a halt that crosses a window boundary counts whole: the CPU-bound end holds on a run with a long-sleeping idle vcpu', async () => {
    // Before: rounding stopped the spreading of a halt at a window boundary; the idle vcpu looked 47 ms busy and the high end fell short.
    const r = await row({ workload: 'net', nic: 'virtio', netTest: 'TCP_STREAM', vcpus: 2 }, { hostOpts: ['apicv'] }, ['apicv'], 3000);
    expect(r.checks.speedupInRange, ok(r)).toBe(true);
  });

  it('virtio from e1000/AHCI: MSI-X takes no ISR read, AHCI commands are requests, skipped notifications count in the speedup too', async () => {
    const nic = await row({ workload: 'net', nic: 'e1000', netTest: 'UDP_RR' }, { nic: 'virtio' }, ['virtio:dev=nic'], 1500);
    expect(nic.checks.exits, ok(nic)).toBe(true);
    const stream = await row({ workload: 'net', nic: 'e1000', netTest: 'TCP_STREAM' }, { nic: 'virtio' }, ['virtio:dev=nic'], 3000);
    expect(stream.checks.speedupInRange, ok(stream)).toBe(true);
    const disk = await row({ workload: 'disk', disk: 'ata', diskTest: 'write', blockKB: [16], iosched: 'noop' }, { disk: 'virtio' }, ['virtio:dev=disk'], 4000);
    expect(disk.estimated!.exitsSavedRange[1], ok(disk)).toBeGreaterThan(0);
    expect(disk.checks.exits, ok(disk)).toBe(true);
    expect(disk.checks.exitTime, ok(disk)).toBe(true);
  });
});

describe('posted interrupts', () => {
  it('with APICv a device interrupt that finds the vcpu running takes no exit, and apicv\'s estimate removes those arrivals', async () => {
    // Before: the emulator kicked the vcpu out (an external-interrupt exit) with APICv too, and the estimate agreed: agreement that proved nothing.
    const a = await summary({ workload: 'net', nic: 'virtio', netTest: 'TCP_STREAM', vcpus: 1, ops: 2000 });
    const b = await summary({ workload: 'net', nic: 'virtio', netTest: 'TCP_STREAM', vcpus: 1, ops: 2000, hostOpts: ['apicv'] });
    expect(a.byReason.EXTERNAL_INTERRUPT.count).toBeGreaterThan(1900);
    expect(b.byReason.EXTERNAL_INTERRUPT?.count ?? 0).toBeLessThan(10);
    const r = await row({ workload: 'net', nic: 'virtio', netTest: 'TCP_STREAM', vcpus: 2 }, { hostOpts: ['apicv'] }, ['apicv'], 2000);
    expect(r.checks.exits, ok(r)).toBe(true);
    expect(r.checks.exitTime, ok(r)).toBe(true);
    // The legacy guest's PIT tick still arrives by an exit (the host timer): only device arrivals go.
    const l = await row({ workload: 'net', nic: 'e1000', netTest: 'TCP_STREAM', guest: '2.6.27-i386' }, { hostOpts: ['apicv'] }, ['apicv'], 2000);
    expect(l.checks.exits, ok(l)).toBe(true);
  });

  it('haltpoll on an APICv host: the poll ends without an exit, read off the trace (no EOI or window exits)', async () => {
    const r = await row({ workload: 'net', nic: 'virtio', netTest: 'UDP_RR', hostOpts: ['apicv'] }, { guestOpts: ['haltpoll'] }, ['haltpoll'], 1500);
    expect(r.checks.exits, ok(r)).toBe(true);
    expect(r.checks.exitTime, ok(r)).toBe(true);
    // No EOI exits to pair with arrivals on this trace: T is read off NO_HZ's tick stop and the halt right after it, not bounded.
    expect(r.limit).toBeNull();
  });
});

describe('emulator: the 6.1 guest idles as NO_HZ_IDLE does', () => {
  it('the run ends with its work, not with an idle vcpu\'s last (up to 60 ms) sleep', async () => {
    const one = await summary({ workload: 'net', nic: 'virtio', netTest: 'TCP_STREAM', vcpus: 1, ops: 2000 });
    const two = await summary({ workload: 'net', nic: 'virtio', netTest: 'TCP_STREAM', vcpus: 2, ops: 2000 });
    expect(Math.abs(two.simulatedNs / one.simulatedNs - 1)).toBeLessThan(0.01);
  });

  it('a working vcpu that waits stops its tick and restarts it on waking: two TSC-deadline writes a halt, and timer-hz says the guest is tickless', async () => {
    const s = await summary({ workload: 'net', nic: 'virtio', netTest: 'UDP_RR', vcpus: 1, ops: 1000 });
    expect(s.byReason.HLT.count).toBe(1000);
    // EOIs (one per interrupt) + tick stop + restart per halt.
    expect(s.byReason.MSR_WRITE.count).toBeGreaterThanOrEqual(3000);
    const rep = await est({ workload: 'net', nic: 'virtio', netTest: 'UDP_RR', ops: 1000 }, ['timer-hz:100']);
    expect(rep.notApplied[0]?.why).toMatch(/tickless/);
  });

  it('x2APIC EOIs of device interrupts and device interrupt windows are not the tick\'s', async () => {
    // Before: every WRMSR 0x80b counted as the tick's edge EOI and any interrupt window after a tick closed it, so an e1000 interrupt's
    // level EOI + the tick restart looked like a tick.
    const rep = await est({ workload: 'net', nic: 'e1000', netTest: 'UDP_RR', ops: 1500 }, ['timer-hz:100']);
    expect(rep.notApplied[0]?.why ?? '').toMatch(/tickless/);
  });
});

describe('haltpoll', () => {
  it('is a guest option of the 6.1 guest only', () => {
    expect(() => prepareEmulation({ workload: 'jbb', guest: '2.6.27-i386', guestOpts: ['haltpoll'] })).toThrow(/haltpoll .*6\.1 guest/);
  });

  it('polls through short waits: no HLT, no tick stop/restart, an interrupt arrival instead, and ticks while it polls', async () => {
    const a = await summary({ workload: 'net', nic: 'virtio', netTest: 'UDP_RR', vcpus: 1, ops: 1000 });
    const b = await summary({ workload: 'net', nic: 'virtio', netTest: 'UDP_RR', vcpus: 1, ops: 1000, guestOpts: ['haltpoll'] });
    expect(b.byReason.HLT?.count ?? 0).toBeLessThan(5);
    expect(b.byReason.EXTERNAL_INTERRUPT.count).toBeGreaterThan(990);
    expect(b.byReason.PREEMPTION_TIMER.count).toBeGreaterThan(a.byReason.PREEMPTION_TIMER?.count ?? 0);
    expect(a.exits - b.exits).toBeGreaterThan(1500);
  });

  it('the estimate replays the governor, drops the NO_HZ writes with the polled halts and counts the ticks the polls take', async () => {
    for (const nic of ['virtio', 'e1000'] as const) {
      const r = await row({ workload: 'net', nic, netTest: 'UDP_RR' }, { guestOpts: ['haltpoll'] }, ['haltpoll'], 1500);
      expect(r.checks.exits, `${nic} ${ok(r)}`).toBe(true);
      expect(r.checks.exitTime, `${nic} ${ok(r)}`).toBe(true);
      expect(r.checks.speedupInRange, `${nic} ${ok(r)}`).toBe(true);
    }
    // Waits longer than guest_halt_poll_ns: the governor shrinks its limit and every halt stays.
    const disk = await est({ workload: 'disk', disk: 'virtio', diskTest: 'write', blockKB: [16], iosched: 'noop', ops: 2000 }, ['haltpoll']);
    expect(disk.passes[0].verdict).toBe('nothing-to-change');
  });
});

describe('traces without kvm_msr detail', () => {
  it('haltpoll finds the NO_HZ tick stop/restart writes by the function that writes the clock event (emulate -o CSV carries no msr column)', async () => {
    const em = prepareEmulation({ duration: 86_400, seed: 1, vcpus: 1, ...MODERN, workload: 'net', nic: 'virtio', netTest: 'UDP_RR', ops: 1000 });
    const trace = await ExitTrace.collect(emulationStream(em).chunks, new Set(['port', 'size', 'dir', 'value', 'gpa', 'caller']));
    for (const c of trace.chunks) for (let i = 0; i < c.length; i++) c.flags[i] &= ~F_MSR;
    const rep = await estimate({ input: trace, symbolizer: await loadSymbolizer([guestMapFor(em)]), passes: [parsePassSpec('haltpoll')], bootstrap: 0 });
    const m = /\((\d+) tick stop\/restart writes with them\)/.exec(rep.passes[0].notes.join(' '));
    expect(Number(m?.[1])).toBeGreaterThan(1900);
    // apicv / pv-eoi find the x2APIC EOIs by their writing function too (one per interrupt).
    const eoi = await estimate({ input: trace, symbolizer: await loadSymbolizer([guestMapFor(em)]), passes: [parsePassSpec('pv-eoi')], bootstrap: 0 });
    expect(eoi.passes[0].exitsBefore - eoi.passes[0].exitsAfter).toBeGreaterThanOrEqual(1000);
  });
});

describe('ipiv', () => {
  it('IPI virtualization needs APICv; with it the reschedule IPIs\' ICR writes do not exit', async () => {
    expect(() => prepareEmulation({ workload: 'jbb', ...MODERN, hostOpts: ['ipiv'] })).toThrow(/ipiv .*APICv/);
    const a = await summary({ workload: 'jbb', vcpus: 2, ops: 3000, hostOpts: ['apicv'] });
    const b = await summary({ workload: 'jbb', vcpus: 2, ops: 3000, hostOpts: ['apicv', 'ipiv'] });
    expect(a.exits - b.exits).toBeGreaterThan(20);
    expect(b.byReason.MSR_WRITE.count).toBe(a.byReason.MSR_WRITE.count - (a.exits - b.exits));
  });

  it('the estimate removes exactly the ICR writes; a trace of an APICv host without back-to-back exits only bounds T, and the row says so', async () => {
    const r = await row({ workload: 'jbb', vcpus: 2, hostOpts: ['apicv'] }, { hostOpts: ['apicv', 'ipiv'] }, ['ipiv'], 3000);
    expect(r.checks.exits, ok(r)).toBe(true);
    expect(r.limit).toMatch(/no back-to-back exits/);
  });
});

describe('ipiv without kvm_msr detail', () => {
  it('finds the ICR writes by their writing function', async () => {
    const em = prepareEmulation({ duration: 86_400, seed: 1, vcpus: 2, ...MODERN, workload: 'jbb', ops: 3000 });
    const trace = await ExitTrace.collect(emulationStream(em).chunks, new Set(['port', 'size', 'dir', 'value', 'gpa', 'caller']));
    for (const c of trace.chunks) for (let i = 0; i < c.length; i++) c.flags[i] &= ~F_MSR;
    const rep = await estimate({ input: trace, symbolizer: await loadSymbolizer([guestMapFor(em)]), passes: [parsePassSpec('ipiv')], bootstrap: 0 });
    expect(rep.passes[0].exitsBefore - rep.passes[0].exitsAfter).toBeGreaterThan(20);
  });
});
