/** Issue 14: each diagnosed cause, reproduced on a small emulated run (baseline vs optimized, estimate from the baseline). */
import { describe, expect, it } from 'vitest';
import { validateScenario, type Scenario } from '../src/check/validate.js';
import { emulationStream, guestMapFor, prepareEmulation } from '../src/emulator/index.js';
import { ExitTrace } from '../src/model/chunk.js';
import { estimate, parsePassSpec } from '../src/replay/index.js';
import { loadSymbolizer } from '../src/symbols/index.js';

const row = (base: Scenario['base'], opt: Scenario['opt'], passes: string[], ops: number) =>
  validateScenario({ name: 't', optimization: 't', base: { vcpus: 1, ...base }, opt, passes, targets: true, ops }, 1, 1);

async function est(cfg: object, passes: string[]) {
  const em = prepareEmulation({ duration: 86_400, seed: 1, vcpus: 1, ...cfg });
  const trace = await ExitTrace.collect(emulationStream(em).chunks, new Set(['port', 'size', 'dir', 'value', 'gpa', 'msr', 'caller']));
  return { rep: await estimate({ input: trace, symbolizer: await loadSymbolizer([guestMapFor(em)]), passes: passes.map(parsePassSpec), bootstrap: 0 }), summary: em.summary! };
}

describe('issue 14 causes', () => {
  it('timer-hz keeps device interrupt tails (rtl8139 level EOIs, NIC interrupt windows) and merges the HLTs a removed tick split', async () => {
    const r = await row({ workload: 'net', nic: 'rtl8139', netTest: 'UDP_RR', vcpus: 2 }, { hz: 100 }, ['timer-hz:100'], 2500);
    expect(r.checks.exits, JSON.stringify(r)).toBe(true);
    expect(r.checks.exitTime).toBe(true);
    const { rep } = await est({ workload: 'disk', disk: 'ata', diskTest: 'write', blockKB: [16], vcpus: 2, ops: 3000 }, ['timer-hz:100']);
    expect(rep.passes[0].notes.join(' ')).toMatch(/HLT exits merge into the HLT before them/);
  });

  it('boot-time pit_load_count is not a tick', async () => {
    const { rep } = await est({ workload: 'jbb', ops: 300 }, ['timer-hz:100']);
    expect(rep.passes[0].notes[0]).toMatch(/^1000 Hz PIT tick/);
  });

  it('napi-off also removes the IntrStatus read NAPI adds before unmasking', async () => {
    const r = await row({ workload: 'net', nic: 'rtl8139', netTest: 'TCP_STREAM' }, { napi: 'off' }, ['napi-off'], 3000);
    expect(r.checks.exits, JSON.stringify([r.estimated?.exitsSavedRange, r.measured.exitsSaved])).toBe(true);
    expect(r.checks.exitTime).toBe(true);
  });

  it('coalesce-io leaves reads the code needs and polling loops alone by default; :reads is the optimistic variant', async () => {
    const { rep } = await est({ workload: 'disk', disk: 'ata', diskTest: 'write', blockKB: [16], ops: 3000 }, ['coalesce-io', 'coalesce-io:reads']);
    const [safe] = rep.passes;
    expect(safe.assumptions[0]).toMatch(/a read .* cannot be queued/);
    // verify_pmtmr_rate's PM timer polls (one port, one RIP) never merge, even optimistically.
    expect(rep.passes[1].notes.join(' ')).toMatch(/polling reads left alone/);
    const r = await row({ workload: 'net', nic: 'rtl8139', netTest: 'TCP_STREAM' }, { guestOpts: ['coalesce-io'] }, ['coalesce-io'], 3000);
    expect(r.checks.exits).toBe(true);
    expect(r.checks.exitTime).toBe(true);
  });

  it('coalesced MMIO keeps the exits (both sides) and saves the trip to userspace', async () => {
    const r = await row({ workload: 'net', nic: 'e1000', netTest: 'TCP_STREAM', profile: 'core2-kvm76' }, { hostOpts: ['coalesced-mmio'] }, ['coalesced-mmio:auto'], 3000);
    expect(Math.abs(r.measured.exitsSaved)).toBeLessThan(0.02 * 3000 * 6);
    expect(r.estimated!.exitsSavedRange[0]).toBe(0);
    expect(r.measured.exitTimeSavedNs).toBeGreaterThan(0);
    // The round trip is only bounded from above on this trace: the row says so.
    expect(r.limit).toMatch(/bounded from above/);
  });

  it('apicv: the emulator drops the NIC path\'s interrupt windows too (posted interrupts), as the estimate does', async () => {
    const r = await row({ workload: 'net', nic: 'e1000', netTest: 'TCP_STREAM', profile: 'modern', guest: '2.6.27-i386' }, { hostOpts: ['apicv'] }, ['apicv'], 3000);
    expect(r.checks.exits).toBe(true);
  });

  it('virtio counts device operations (not bursts), with event suppression as a range', async () => {
    const r = await row({ workload: 'net', nic: 'rtl8139', netTest: 'TCP_STREAM' }, { nic: 'virtio' }, ['virtio:dev=nic'], 3000);
    expect(r.checks.exits).toBe(true);
    expect(r.estimated!.exitsSavedRange[1]).toBeGreaterThan(r.estimated!.exitsSavedRange[0]);
  });

  it('exit time saved is handling time: HLT waits are not counted', async () => {
    const { rep } = await est({ workload: 'disk', disk: 'ide', diskTest: 'write', blockKB: [16], ops: 2000 }, ['coalesce-io']);
    expect(rep.totals.timeNs).toBeLessThan(rep.passes[0].timeBeforeNs + 1);
    expect(rep.passes[0].exitsSavedRange[0]).toBeLessThanOrEqual(rep.passes[0].exitsSavedRange[1]);
  });

  it('disk service time jitters: IDE reads at 16K do not lock to the tick', async () => {
    const a = prepareEmulation({ workload: 'disk', disk: 'ide', diskTest: 'read', blockKB: [16], vcpus: 1, ops: 2000, seed: 1, duration: 86_400 });
    const ts: number[] = [];
    for await (const c of a.chunks()) for (let i = 0; i < c.length; i++) if (c.port[i] === 0x1f7 && c.dir[i] === 2) ts.push(c.ts[i]);
    const gaps = ts.slice(1).map((t, k) => t - ts[k]);
    const distinct = new Set(gaps.map((g) => Math.round(g / 1000)));
    expect(distinct.size).toBeGreaterThan(gaps.length / 4);
  });
});
