/**
 * Replay passes and the estimate (src/replay) on hand-worked traces (issue 16):
 * fixtures/mutation/README.md works out every number asserted here.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUEST_MAP } from '../src/emulator/index.js';
import { readTrace } from '../src/formats/index.js';
import { ReplayContext } from '../src/replay/context.js';
import { ReplayTrace } from '../src/replay/trace.js';
import { estimate } from '../src/replay/estimate.js';
import { parsePassSpec } from '../src/replay/pipeline.js';
import { cli, fx } from './helpers.js';

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

/** A trace of rows [ts, vcpu, reason, rip, dur, port?, dir?, gpa?, caller?] read as the replay sees it. */
async function replayTrace(rows: Array<[number, number, string, number, number | null, number?, string?, number?, number?]>): Promise<ReplayTrace> {
  const f = join(mkdtempSync(join(tmpdir(), 'exitscope-ctx-')), 't.csv');
  const hex = (x: number | undefined) => (x === undefined ? '' : `0x${x.toString(16)}`);
  writeFileSync(f, ['ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,gpa,caller', ...rows.map(([ts, v, r, rip, d, port, dir, gpa, caller]) => `${ts},${v},${r},${hex(rip)},${d ?? ''},${hex(port)},${port !== undefined || gpa !== undefined ? 1 : ''},${dir ?? ''},${hex(gpa)},${hex(caller)}`)].join('\n') + '\n');
  return ReplayTrace.from((await readTrace(f)).trace);
}

/** Exits one after another on vcpu 0 from 1 ms: each [reason, rip, dur, gap after it, port?, dir?, gpa?]. */
function chain(items: Array<[string, number, number, number, number?, string?, number?]>, start = 1_000_000): Array<[number, number, string, number, number, number?, string?, number?]> {
  let ts = start;
  return items.map(([r, rip, d, gap, port, dir, gpa]) => { const row: [number, number, string, number, number, number?, string?, number?] = [ts, 0, r, rip, d, port, dir, gpa]; ts += d + gap; return row; });
}

describe('what the replay context infers from a trace alone (src/replay/context.ts, rules in its header)', () => {
  const A = 0xc0100000;
  const same = (n: number, gap: (k: number) => number, rip = (_k: number) => A) => chain(Array.from({ length: n }, (_, k) => ['CPUID', rip(k), 500, gap(k)] as [string, number, number, number]));

  it('the hardware exit + entry: the 5th percentile of gaps between exits at most 64 bytes of code apart, with 20 pairs or more', async () => {
    // 21 exits 0 or 64 bytes apart; the 20 gaps are 1,000 (twice), then 1,100 .. 2,800: every 5th percentile is 1,000.
    const ctx = new ReplayContext(await replayTrace(same(21, (k) => (k < 2 ? 1000 : 1000 + 100 * (k - 1)), (k) => A + (k % 2) * 64)), null);
    expect(ctx.transition.value).toBe(1000);
    expect(ctx.transition.inferred).toBe(true);
    expect(ctx.transition.how).toMatch(/^5th percentile of the guest gap between 20 pairs of consecutive exits at most 64 bytes of code apart/);
  });

  it('19 pairs are too few, and 65 bytes apart is not nearby: 1,000 ns is assumed and said to be', async () => {
    for (const ctx of [new ReplayContext(await replayTrace(same(20, () => 2000)), null), new ReplayContext(await replayTrace(same(21, () => 2000, (k) => A + (k % 2) * 65)), null)]) {
      expect(ctx.transition).toEqual({ value: 1000, how: expect.stringMatching(/^assumed 1000 ns: only (19|0) pairs of nearby consecutive exits to infer it from \(give --transition-ns\)$/), inferred: false });
    }
  });

  it('an interrupt arrival then its handler\'s PIC ack: the 5th percentile of those gaps', async () => {
    // 20 arrivals (EXTERNAL_INTERRUPT) each followed 900 ns later (1,200 for the last 10) by an ack of the PIC at
    // port 0x20 far away in code; 50 us between pairs. 39 gaps in all: too few for the all-gaps bound.
    const items: Array<[string, number, number, number, number?, string?]> = [];
    for (let k = 0; k < 20; k++) items.push(['EXTERNAL_INTERRUPT', A, 2000, k < 10 ? 900 : 1200], ['IO_INSTRUCTION', A + 0x4000, 3000, 50_000, 0x20, 'w']);
    const ctx = new ReplayContext(await replayTrace(chain(items)), null);
    expect(ctx.transition.value).toBe(900);
    expect(ctx.transition.inferred).toBe(true);
    expect(ctx.transition.how).toMatch(/^5th percentile of the guest gap between 20 interrupt arrivals \(or halt wake-ups\) and their handler's ack/);
  });

  it('with neither, the 1st percentile of all gaps is only an upper bound (100 gaps or more)', async () => {
    // 101 exits 4 KiB apart in code, gaps 5,000 (the first two) then 6,000 ..: every 1st percentile is 5,000.
    const ctx = new ReplayContext(await replayTrace(same(101, (k) => (k < 2 ? 5000 : 6000 + k), (k) => A + k * 0x1000)), null);
    expect(ctx.transition.value).toBe(5000);
    expect(ctx.transition.inferred).toBe(false);
    expect(ctx.transition.how).toMatch(/^upper bound: 1st percentile of the guest gap between 100 consecutive exits of a vcpu;.*\(give --transition-ns\)$/);
    // Given, it is taken as is.
    expect((new ReplayContext(await replayTrace(same(101, () => 5000)), null, { transitionNs: 777 })).transition).toEqual({ value: 777, how: 'given with --transition-ns', inferred: true });
  });

  it('the userspace round trip: device-model port I/O minus the in-kernel PIC/PIT ports, else MMIO, else an upper bound', async () => {
    const far = (k: number) => A + k * 0x1000;
    // 20 PIT (0x40, in the kernel) at 2,000 ns and 20 COM1 (0x3f8, QEMU) at 9,000: 7,000.
    const pio: Array<[string, number, number, number, number?, string?, number?]> = [];
    for (let k = 0; k < 20; k++) pio.push(['IO_INSTRUCTION', far(2 * k), 2000, 20_000, 0x40, 'w'], ['IO_INSTRUCTION', far(2 * k + 1), 9000, 20_000, 0x3f8, 'w']);
    const p = new ReplayContext(await replayTrace(chain(pio)), null).userspaceRoundTrip;
    expect([p.value, p.inferred]).toEqual([7000, true]);
    expect(p.how).toMatch(/^5th percentile of 20 port I\/O device-model accesses minus that of 20 port accesses KVM emulates in the kernel \(PIC, PIT\)$/);
    // 20 IOAPIC (0xfec00000, in the kernel) at 3,000 and 20 to a device BAR at 10,000: 7,000 by MMIO.
    const mmio: Array<[string, number, number, number, number?, string?, number?]> = [];
    for (let k = 0; k < 20; k++) mmio.push(['EPT_MISCONFIG', far(2 * k), 3000, 20_000, undefined, 'w', 0xfec00000], ['EPT_MISCONFIG', far(2 * k + 1), 10_000, 20_000, undefined, 'w', 0xfebc0000]);
    const m = new ReplayContext(await replayTrace(chain(mmio)), null).userspaceRoundTrip;
    expect([m.value, m.inferred]).toEqual([7000, true]);
    expect(m.how).toMatch(/^5th percentile of 20 MMIO device-model accesses minus that of 20 MMIO accesses handled in the kernel/);
    // 20 COM1 accesses and 20 CPUID exits, nothing of the same kind in the kernel: 9,000 - 1,500, an upper bound.
    const mixed: Array<[string, number, number, number, number?, string?, number?]> = [];
    for (let k = 0; k < 20; k++) mixed.push(['CPUID', far(2 * k), 1500, 20_000], ['IO_INSTRUCTION', far(2 * k + 1), 9000, 20_000, 0x3f8, 'w']);
    const u = new ReplayContext(await replayTrace(chain(mixed)), null).userspaceRoundTrip;
    expect([u.value, u.inferred]).toEqual([7500, false]);
    expect(u.how).toMatch(/^upper bound: 5th percentile of 20 device-model accesses minus that of 20 exits handled in the kernel/);
    const none = new ReplayContext(await replayTrace(same(21, () => 2000)), null).userspaceRoundTrip;
    expect(none).toEqual({ value: 0, how: 'no userspace I/O exits to infer it from', inferred: false });
  });

  it('a hypercall\'s dispatch: the median VMCALL, else the median of the cheapest trivially handled class, else 0', async () => {
    const far = (k: number) => A + k * 0x1000;
    const vm = chain([100, 200, 300, 400, 500].map((d, k) => ['VMCALL', far(k), d, 10_000] as [string, number, number, number]));
    expect(new ReplayContext(await replayTrace(vm), null).hypercall).toEqual({ value: 300, how: 'median of 5 VMCALL exits in the trace', inferred: true });
    // 4 VMCALLs are too few; 20 CPUID at 700 and 20 INTERRUPT_WINDOW at 400: the window is the cheaper class.
    const items: Array<[string, number, number, number]> = [100, 200, 300, 400].map((d, k) => ['VMCALL', far(k), d, 10_000]);
    for (let k = 0; k < 20; k++) items.push(['CPUID', far(10 + 2 * k), 700, 10_000], ['INTERRUPT_WINDOW', far(11 + 2 * k), 400, 10_000]);
    const h = new ReplayContext(await replayTrace(chain(items)), null).hypercall;
    expect([h.value, h.inferred]).toEqual([400, true]);
    expect(h.how).toMatch(/^no VMCALL exits in the trace: taken as the median of 20 INTERRUPT_WINDOW exits, the cheapest class/);
    // 19 of a class are not enough.
    const few = new ReplayContext(await replayTrace(chain(Array.from({ length: 19 }, (_, k) => ['CPUID', far(k), 700, 10_000] as [string, number, number, number]))), null).hypercall;
    expect([few.value, few.inferred]).toEqual([0, false]);
  });

  it('time windows: one per millisecond of the trace, at most 40 (or as asked), at least one', async () => {
    // Times are offsets from the trace's first timestamp. 21 exits of 500 ns with gaps of 2,000 span
    // 20 x 2,500 + 500 = 50,500 ns: one window.
    const short = new ReplayContext(await replayTrace(same(21, () => 2000)), null);
    expect([short.t0, short.t1, short.windows, short.windowNs]).toEqual([0, 50_500, 1, 50_500]);
    // 101 exits 100 us apart: 10 ms + 500 ns, so 10 windows of 1,000,050 ns; 4 when asked.
    const long = same(101, () => 99_500);
    const ten = new ReplayContext(await replayTrace(long), null);
    expect([ten.t1, ten.windows, ten.windowNs]).toEqual([10_000_500, 10, 1_000_050]);
    expect([ten.window(0), ten.window(1_000_049), ten.window(1_000_050), ten.window(10_000_500), ten.window(-5)]).toEqual([0, 0, 1, 9, 0]);
    const four = new ReplayContext(await replayTrace(long), null, { windows: 4 });
    expect([four.windows, four.window(2_500_124), four.window(2_500_125)]).toEqual([4, 0, 1]);
    expect(new ReplayContext(await replayTrace(long), null, { windows: 400 }).windows).toBe(10);
  });

  it('describe() says each value and how it was found', async () => {
    const ctx = new ReplayContext(await replayTrace(same(21, () => 1000)), null);
    const lines = ctx.describe();
    expect(lines[0]).toMatch(/^hardware exit\+entry: 1000 ns \(5th percentile/);
    expect(lines[1]).toBe('userspace round trip of a device-model exit: 0 ns (no userspace I/O exits to infer it from)');
    expect(lines[2]).toMatch(/^hypercall dispatch: 500 ns \(no VMCALL exits in the trace: taken as the median of 21 CPUID exits/);
  });
});

describe('drop and drop-caller on a hand-worked trace (fixtures/mutation/drop.csv)', () => {
  const f = fx('mutation', 'drop.csv'), maps = [fx('paper32', 'guest.map')];
  const run = (pass: string) => estimate({ input: f, maps, passes: [parsePassSpec(pass)], transitionNs: 1000, bootstrap: 0 });

  it('drop-caller:verify_pmtmr_rate removes the exits it calls, their transitions, and the guest time between them', async () => {
    const p = (await run('drop-caller:verify_pmtmr_rate')).passes[0];
    expect([p.name, p.verdict, p.exitsBefore, p.exitsAfter]).toEqual(['drop-caller', 'applied', 5, 2]);
    expect([p.timeBeforeNs, p.timeAfterNs, p.exitTimeSavedNs, p.savedNs]).toEqual([42_000, 15_000, 30_000, 34_000]);
    expect(p.assumptions.join(' ')).toMatch(/the exits called from verify_pmtmr_rate disappear with the code/);
  });

  it('drop:acpi_pm_read removes every exit in the function, whoever calls it', async () => {
    const p = (await run('drop:acpi_pm_read')).passes[0];
    expect([p.name, p.exitsBefore, p.exitsAfter, p.exitTimeSavedNs, p.savedNs]).toEqual(['drop', 5, 1, 40_000, 44_000]);
    expect(p.assumptions.join(' ')).toMatch(/the exits in acpi_pm_read disappear with the code/);
  });

  it('a function the map lacks, or no map: one error naming what to do', async () => {
    await expect(run('drop:acpi_pm_reed')).rejects.toThrow(/^--pass drop:acpi_pm_reed: no function acpi_pm_reed in the map \(.*guest\.map\): check the spelling$/);
    await expect(estimate({ input: f, passes: [parsePassSpec('drop-caller:verify_pmtmr_rate')], transitionNs: 1000, bootstrap: 0 })).rejects.toThrow(/^--pass drop-caller:verify_pmtmr_rate: needs the guest kernel map \(--map\) to know where verify_pmtmr_rate is$/);
  });

  it('drop-caller on a trace without callers does not apply, and says why', async () => {
    const rep = await estimate({ input: fx('mutation', 'ticks-1000hz.csv'), maps: [GUEST_MAP], passes: [parsePassSpec('drop-caller:timer_interrupt')], transitionNs: 1000, bootstrap: 0 });
    expect(rep.notApplied).toEqual([{ name: 'drop-caller:timer_interrupt', verdict: 'not-applicable', why: 'this trace carries no caller column: drop-caller finds nothing (record callers, or use drop:FUNCTION on the trap function)' }]);
  });
});

describe('drop-io on a hand-worked trace (fixtures/mutation/drop-io.csv)', () => {
  const run = (pass: string) => estimate({ input: fx('mutation', 'drop-io.csv'), passes: [parsePassSpec(pass)], transitionNs: 1000, bootstrap: 0 });
  const saved = async (pass: string) => { const p = (await run(pass)).passes[0]; return [p.exitsBefore - p.exitsAfter, p.exitTimeSavedNs, p.savedNs]; };

  it('writes to a port range, and with flush the read that follows a removed write on the same device', async () => {
    const rep = await run('drop-io:port=0x1f0-0x1f7,rw=w,flush');
    const p = rep.passes[0];
    expect([p.exitsBefore, p.exitsAfter, p.exitTimeSavedNs, p.savedNs]).toEqual([7, 4, 17_000, 17_000]);
    expect(p.notes).toContain('1 flush reads after removed writes removed with them');
    expect(await saved('drop-io:port=0x1f0-0x1f7,rw=w')).toEqual([2, 12_000, 12_000]);
    expect(await saved('drop-io:port=0x1f0-0x1f7,rw=r')).toEqual([2, 10_000, 10_000]);
    expect(await saved('drop-io:port=0x1f7')).toEqual([2, 10_000, 10_000]);
  });

  it('an MMIO range, and several ranges at once', async () => {
    expect(await saved('drop-io:mmio=0xfebc0000-0xfebcffff')).toEqual([1, 4_000, 4_000]);
    expect(await saved('drop-io:port=0x1f0-0x1f7,rw=w;mmio=0xfebc0000-0xfebcffff')).toEqual([3, 16_000, 16_000]);
  });

  it('nothing to remove says what it looked for; a malformed range says what it expects', async () => {
    const rep = await run('drop-io:port=0x60');
    expect(rep.passes[0]).toMatchObject({ verdict: 'nothing-to-change', why: 'no access to these registers in this trace', exitsBefore: 7, exitsAfter: 7 });
    expect(() => parsePassSpec('drop-io:port=zz')).toThrow(/expected port=0xNNN\[-0xMMM\]\[,rw=r\|w\]\[,flush\] or mmio=0xADDR\[-0xEND\]/);
  });
});

describe('pv-eoi and apicv on a hand-worked trace (fixtures/mutation/apic.csv)', () => {
  const f = fx('mutation', 'apic.csv');
  const run = (pass: string) => estimate({ input: f, maps: [GUEST_MAP], passes: [parsePassSpec(pass)], transitionNs: 1000, bootstrap: 0 });

  it('pv-eoi removes the edge-triggered EOIs (register write and x2APIC MSR) and keeps the level-triggered ones', async () => {
    const p = (await run('pv-eoi')).passes[0];
    expect([p.exitsBefore, p.exitsAfter, p.exitTimeSavedNs, p.savedNs]).toEqual([12, 10, 6_500, 6_500]);
  });

  it('apicv also removes interrupt windows and device-interrupt arrivals, and turns level EOIs into EOI-induced exits', async () => {
    const p = (await run('apicv')).passes[0];
    expect([p.exitsBefore, p.exitsAfter, p.exitTimeSavedNs, p.savedNs]).toEqual([12, 7, 16_100, 16_100]);
    expect(p.notes).toContain('1 interrupt-window exits and 2 device-interrupt arrivals removed (posted interrupts); 2 level-triggered EOIs become EOI-induced exits');
    const out = join(mkdtempSync(join(tmpdir(), 'exitscope-apicv-')), 'out.csv');
    const r = await cli(['replay', f, '--map', GUEST_MAP, '--pass', 'apicv', '--transition-ns', '1000', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const [head, ...lines] = readFileSync(out, 'utf8').trim().split('\n');
    const cols = head.split(',');
    const rows = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
    expect(rows.map((x) => [x.reason, x.duration_ns, x.gpa ?? '', x.msr ?? ''])).toEqual([
      ['EOI_INDUCED', '2000', '', ''], ['EOI_INDUCED', '1000', '', ''], ['EXTERNAL_INTERRUPT', '2000', '', ''], ['HLT', '50000', '', ''],
      ['IO_INSTRUCTION', '5000', '', ''], ['EXTERNAL_INTERRUPT', '2000', '', ''], ['IO_INSTRUCTION', '5000', '', ''],
    ]);
  });
});

describe('coalesced-mmio on traces built in the test', () => {
  const far = (k: number) => 0xc0100000 + k * 0x1000;
  // 20 PIT accesses in the kernel (2,000 ns) and 20 COM1 accesses through QEMU (9,000): the round trip is 7,000.
  const warmup = (): Array<[string, number, number, number, number?, string?, number?]> => {
    const items: Array<[string, number, number, number, number?, string?, number?]> = [];
    for (let k = 0; k < 20; k++) items.push(['IO_INSTRUCTION', far(2 * k), 2000, 20_000, 0x40, 'w'], ['IO_INSTRUCTION', far(2 * k + 1), 9000, 20_000, 0x3f8, 'w']);
    return items;
  };
  const BAR = 0xfe000000;
  const est = async (items: Array<[string, number, number, number, number?, string?, number?]>, pass: string) => {
    const f = join(mkdtempSync(join(tmpdir(), 'exitscope-cmmio-')), 't.csv');
    const rows = chain(items);
    writeFileSync(f, ['ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,gpa', ...rows.map(([ts, v, r, rip, d, port, dir, gpa]) => `${ts},${v},${r},0x${rip.toString(16)},${d},${port === undefined ? '' : `0x${port.toString(16)}`},4,${dir ?? ''},${gpa === undefined ? '' : `0x${gpa.toString(16)}`}`)].join('\n') + '\n');
    return estimate({ input: f, passes: [parsePassSpec(pass)], transitionNs: 1000, bootstrap: 0 });
  };

  it('writes stay exits but lose the round trip; their device work moves to the next exit that reaches QEMU', async () => {
    // Then: write, write, a read of the BAR (8,000), write, a COM1 access. The range's cheapest access (8,000) less the
    // round trip leaves 1,000 in the kernel: each write keeps 1,000 and moves 10,000 - 7,000 - 1,000 = 2,000 of device
    // work to the next userspace exit (the read: +4,000; the COM1 access: +2,000). Saved: 3 x 9,000 - 6,000 = 3 round trips.
    const items = [...warmup(), ['EPT_MISCONFIG', far(100), 10_000, 5000, undefined, 'w', BAR + 0x10], ['EPT_MISCONFIG', far(101), 10_000, 5000, undefined, 'w', BAR + 0x14],
      ['EPT_MISCONFIG', far(102), 8000, 5000, undefined, 'r', BAR + 0x18], ['EPT_MISCONFIG', far(103), 10_000, 5000, undefined, 'w', BAR + 0x10],
      ['IO_INSTRUCTION', far(104), 9000, 5000, 0x3f8, 'w']] as Array<[string, number, number, number, number?, string?, number?]>;
    const rep = await est(items, `coalesced-mmio:mmio=0x${BAR.toString(16)}-0x${(BAR + 0xfff).toString(16)}`);
    expect(rep.inferred.userspaceRoundTripNs.value).toBe(7000);
    const p = rep.passes[0];
    expect([p.exitsBefore, p.exitsAfter, p.timeBeforeNs - p.timeAfterNs, p.exitTimeSavedNs, p.savedNs]).toEqual([45, 45, 21_000, 21_000, 21_000]);
    expect(p.notes).toContain('3 writes to coalesced registers stay exits but skip the trip to userspace; 2 later userspace exits drain the ring');
    expect(p.assumptions[1]).toBe('a coalesced write keeps 1000 ns in the kernel (the cheapest access of the range less the round trip); its device work moves to the next exit that reaches userspace, where the device model drains the ring');
  });

  it('past 170 queued writes the ring is full: the next write goes to userspace as before', async () => {
    const items = [...warmup(), ...Array.from({ length: 171 }, (_, k) => ['EPT_MISCONFIG', far(100 + k), 10_000, 5000, undefined, 'w', BAR] as [string, number, number, number, number?, string?, number?])];
    const p = (await est(items, `coalesced-mmio:0x${BAR.toString(16)}-0x${(BAR + 0xfff).toString(16)}`)).passes[0];
    expect(p.notes).toContain('170 writes to coalesced registers stay exits but skip the trip to userspace; 1 later userspace exits drain the ring; 1 writes found the ring full');
  });

  it(':auto takes the busiest 128 KiB BAR; an e1000 (IMS/TDT writes) keeps QEMU\'s uncoalesced registers exiting', async () => {
    // e1000 offsets (8254x SDM): IMS 0xd0 and TDT 0x3818 are not coalesced by QEMU, ITR 0xc4 is. Another BAR sees one access.
    const E = 0xfebc0000;
    const items = [...warmup(), ['EPT_MISCONFIG', far(100), 10_000, 5000, undefined, 'w', E + 0xd0], ['EPT_MISCONFIG', far(101), 10_000, 5000, undefined, 'w', E + 0x3818],
      ['EPT_MISCONFIG', far(102), 10_000, 5000, undefined, 'w', E + 0xc4], ['EPT_MISCONFIG', far(103), 10_000, 5000, undefined, 'w', 0xfe800000], ['IO_INSTRUCTION', far(104), 9000, 5000, 0x3f8, 'w']] as Array<[string, number, number, number, number?, string?, number?]>;
    const p = (await est(items, 'coalesced-mmio:auto')).passes[0];
    expect(p.notes).toContain('1 writes to coalesced registers stay exits but skip the trip to userspace; 1 later userspace exits drain the ring');
    expect(p.assumptions[0]).toMatch(/^writes to the e1000 BAR 0xfebc0000 outside QEMU's uncoalesced registers \(MDIC, ICR, ICS, IMS, RCTL, TCTL, TDT\) still exit/);
    const none = await est(warmup(), 'coalesced-mmio:auto');
    expect(none.notApplied).toEqual([{ name: 'coalesced-mmio:auto', verdict: 'not-applicable', why: 'no device MMIO exits in this trace to coalesce' }]);
  });
});

describe('ipiv and ple-window on traces built in the test', () => {
  const far = (k: number) => 0xc0100000 + k * 0x1000;
  const est = async (items: Array<[string, number, number, number, number?, string?, number?, number?]>, pass: string) => {
    const f = join(mkdtempSync(join(tmpdir(), 'exitscope-ipi-')), 't.csv');
    let ts = 1_000_000;
    const lines = items.map(([r, rip, d, gap, , dir, gpa, msr]) => { const l = `${ts},0,${r},0x${rip.toString(16)},${d},,4,${dir ?? ''},${gpa === undefined ? '' : `0x${gpa.toString(16)}`},${msr === undefined ? '' : `0x${msr.toString(16)}`}`; ts += d + gap; return l; });
    writeFileSync(f, ['ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,gpa,msr', ...lines].join('\n') + '\n');
    return (await estimate({ input: f, passes: [parsePassSpec(pass)], transitionNs: 1000, bootstrap: 0 })).passes[0];
  };
  // Three x2APIC ICR writes (MSR 0x830) 1,500 and 2,500 ns apart (a multicast: under T + 2,000), one xAPIC ICR write
  // (0xfee00300) on its own, then an ICR read and a write of ICR high (0xfee00310), which are not IPIs.
  const ipis: Array<[string, number, number, number, number?, string?, number?, number?]> = [
    ['MSR_WRITE', far(0), 2000, 1500, undefined, 'w', undefined, 0x830], ['MSR_WRITE', far(0), 2000, 2500, undefined, 'w', undefined, 0x830],
    ['MSR_WRITE', far(0), 2000, 50_000, undefined, 'w', undefined, 0x830], ['APIC_ACCESS', far(1), 3000, 50_000, undefined, 'w', 0xfee00300],
    ['MSR_READ', far(2), 1000, 50_000, undefined, 'r', undefined, 0x830], ['APIC_ACCESS', far(3), 3000, 50_000, undefined, 'w', 0xfee00310],
  ];

  it('ipiv removes every ICR write (x2APIC MSR or xAPIC register), not reads or other registers', async () => {
    const p = await est(ipis, 'ipiv');
    expect([p.exitsBefore, p.exitsAfter, p.exitTimeSavedNs]).toEqual([6, 2, 2000 * 3 + 3000 + 4 * 1000]);
  });

  it('ipiv:pv merges back-to-back ICR writes into one hypercall of one write plus the dispatch; a lone IPI keeps its exit', async () => {
    // No VMCALL or trivial exits to measure the dispatch from: 0. The three writes become one 2,000 ns VMCALL.
    const p = await est(ipis, 'ipiv:pv');
    expect([p.exitsBefore, p.exitsAfter, p.timeBeforeNs - p.timeAfterNs, p.exitTimeSavedNs]).toEqual([6, 4, 4000, 4000 + 2 * 1000]);
  });

  it('ple-window keeps floor(n/K) exits of each spin episode (one RIP, under 100 us apart)', async () => {
    // Episodes: 5 PAUSEs at R, 1 at R2, 2 at R, then 1 at R 200 us later: 4 episodes.
    const R = far(10), R2 = far(11);
    const spin: Array<[string, number, number, number]> = [
      ...Array.from({ length: 5 }, () => ['PAUSE_INSTRUCTION', R, 500, 1000] as [string, number, number, number]),
      ['PAUSE_INSTRUCTION', R2, 500, 1000], ['PAUSE_INSTRUCTION', R, 500, 1000], ['PAUSE_INSTRUCTION', R, 500, 200_000], ['PAUSE_INSTRUCTION', R, 500, 1000],
    ];
    const two = await est(spin, 'ple-window');
    expect([two.exitsBefore, two.exitsAfter, two.exitTimeSavedNs]).toEqual([9, 3, 6 * 1500]);
    expect(two.notes).toEqual(['4 spin episodes']);
    expect(two.assumptions[0]).toMatch(/with a window 2x larger it exits floor\(n\/2\) times/);
    const four = await est(spin, 'ple-window:x=4');
    expect([four.exitsAfter, four.exitTimeSavedNs]).toEqual([1, 8 * 1500]);
  });
});

describe('napi-off on traces built in the test', () => {
  const far = (k: number) => 0xc0100000 + k * 0x1000;
  type Item = [string, number, number, number, ('port' | 'gpa'), number, string, number];
  const est = async (items: Item[]) => {
    const f = join(mkdtempSync(join(tmpdir(), 'exitscope-napi-')), 't.csv');
    let ts = 1_000_000;
    const lines = items.map(([r, rip, d, gap, kind, a, dir, val]) => {
      const l = `${ts},0,${r},0x${rip.toString(16)},${d},${kind === 'port' ? `0x${a.toString(16)}` : ''},${kind === 'port' ? 2 : 4},${dir},0x${val.toString(16)},${kind === 'gpa' ? `0x${a.toString(16)}` : ''}`;
      ts += d + gap;
      return l;
    });
    writeFileSync(f, ['ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,value,gpa', ...lines].join('\n') + '\n');
    return estimate({ input: f, passes: [parsePassSpec('napi-off')], transitionNs: 1000, bootstrap: 0 });
  };

  it('e1000: the IMC and IMS writes (BAR offsets 0xd8, 0xd0) go with the STATUS read that flushes each', async () => {
    const B = 0xfebc0000;
    const rep = await est([
      ['EPT_MISCONFIG', far(0), 3000, 1000, 'gpa', B + 0xd8, 'w', 0xffffffff], ['EPT_MISCONFIG', far(1), 2000, 30_000, 'gpa', B + 0x08, 'r', 0x80080783],
      ['EPT_MISCONFIG', far(2), 2000, 1000, 'gpa', B + 0xc0, 'r', 0x80], ['EPT_MISCONFIG', far(3), 3000, 1000, 'gpa', B + 0xd0, 'w', 0x9d],
      ['EPT_MISCONFIG', far(4), 2000, 1000, 'gpa', B + 0x08, 'r', 0x80080783], ['EPT_MISCONFIG', far(5), 2000, 1000, 'gpa', B + 0x3818, 'w', 0x10],
    ]);
    const p = rep.passes[0];
    expect([p.name, p.exitsBefore, p.exitsAfter, p.exitTimeSavedNs, p.savedNs]).toEqual(['napi-off', 6, 2, 3000 + 2000 + 3000 + 2000 + 4 * 1000, 14_000]);
    // The masking write (IMC) defers the poll: the guest time after it and its flush, less T, is an upper-bound saving.
    expect(p.maybeSavedNs).toBe(30_000 - 1000);
    expect(p.notes).toEqual(['2 flush reads after removed writes removed with them', 'interrupt-mask churn found: e1000 IMC at 0xfebc00d8, e1000 IMS at 0xfebc00d0. NAPI\'s softirq scheduling is guest CPU, not exits: only the high end counts the guest time between masking and the poll']);
    expect(p.assumptions[0]).toMatch(/^upper bound only: the guest time right after each of 1 masking writes/);
  });

  it('rtl8139: IntrMask (port offset 0x3c) writes with their flush, and the IntrStatus read right before an unmasking write', async () => {
    const P = 0xc000;
    const rep = await est([
      ['IO_INSTRUCTION', far(0), 3000, 1000, 'port', P + 0x3c, 'w', 0], ['IO_INSTRUCTION', far(1), 2000, 20_000, 'port', P + 0x3e, 'r', 0x1],
      ['IO_INSTRUCTION', far(2), 2000, 1000, 'port', P + 0x37, 'r', 0xc], ['IO_INSTRUCTION', far(3), 2000, 1000, 'port', P + 0x3e, 'r', 0x1],
      ['IO_INSTRUCTION', far(4), 3000, 1000, 'port', P + 0x3c, 'w', 0x5], ['IO_INSTRUCTION', far(5), 2000, 1000, 'port', P + 0x37, 'r', 0xc],
      ['IO_INSTRUCTION', far(6), 2000, 1000, 'port', P + 0x38, 'w', 0x10],
    ]);
    const p = rep.passes[0];
    // Gone: the mask write and its flush, the status read before the unmask, the unmask and its flush.
    expect([p.exitsBefore, p.exitsAfter, p.exitTimeSavedNs]).toEqual([7, 2, 12_000 + 5 * 1000]);
    // Only the masking write (value 0) defers the poll.
    expect(p.maybeSavedNs).toBe(20_000 - 1000);
    expect(p.notes.slice(0, 2)).toEqual(['2 flush reads after removed writes removed with them', '1 interrupt-status reads right before an unmasking write removed with it (NAPI\'s poll reads the status once more before it unmasks)']);
    expect(p.notes[2]).toMatch(/^interrupt-mask churn found: rtl8139 IntrMask at port 0xc03c\./);
  });

  it('a trace without mask churn: not applicable, saying what it looked for', async () => {
    const rep = await est([['IO_INSTRUCTION', far(0), 3000, 1000, 'port', 0x3f8, 'w', 0x41]]);
    expect(rep.notApplied).toEqual([{ name: 'napi-off', verdict: 'not-applicable', why: 'no interrupt-mask churn (e1000 IMS/IMC, rtl8139 IntrMask) in this trace' }]);
  });
});

describe('virtio on traces built in the test (map traces/guest-2.6.27-i386.map)', () => {
  type Item = [string, number, number, number, number?, string?];
  const est = async (items: Item[], pass: string) => {
    const f = join(mkdtempSync(join(tmpdir(), 'exitscope-virtio-')), 't.csv');
    let ts = 1_000_000;
    const lines = items.map(([r, rip, d, gap, port, dir]) => { const l = `${ts},0,${r},0x${rip.toString(16)},${d},${port === undefined ? '' : `0x${port.toString(16)}`},1,${dir ?? ''}`; ts += d + gap; return l; });
    writeFileSync(f, ['ts_ns,vcpu,reason,rip,duration_ns,port,size,dir', ...lines].join('\n') + '\n');
    return (await estimate({ input: f, maps: [GUEST_MAP], passes: [parsePassSpec(pass)], transitionNs: 1000, bootstrap: 0 })).passes[0];
  };
  // rtl8139 at port 0xc000 (IntrStatus 0x3e, ChipCmd 0x37, TxStatus0 0x10, RxBufPtr 0x38), in the driver's functions.
  const nic: Item[] = [
    ['IO_INSTRUCTION', 0xc05a0e10, 4000, 10_000, 0xc03e, 'w'], // rtl8139_isr_ack: IntrStatus ack, an interrupt
    ['IO_INSTRUCTION', 0xc05a0320, 3000, 10_000, 0xc037, 'r'], // rtl8139_interrupt: ChipCmd read
    ['IO_INSTRUCTION', 0xc05a0040, 6000, 10_000, 0xc010, 'w'], // rtl8139_start_xmit: TxStatus0, a transmission
    ['IO_INSTRUCTION', 0xc05a0640, 5000, 10_000, 0xc038, 'w'], // rtl8139_rx: RxBufPtr, a refill
    ['IO_INSTRUCTION', 0xc05a0040, 8000, 10_000, 0xc014, 'w'], // TxStatus1, a transmission
    ['IO_INSTRUCTION', 0xc05a0320, 2500, 10_000, 0xc037, 'r'], // ChipCmd read
    ['HLT', 0xc0402150, 50_000, 10_000],
  ];

  it('NIC: an interrupt becomes one ISR read at the cheapest register read, each transmission and refill one notification at the kick it replaces', async () => {
    // Reads 3,000 and 2,500: the ISR read costs 2,500. Kicks: the median transmission (of 6,000 and 8,000, the upper
    // one) 8,000, the refill 5,000. Six register exits (28,500 ns) become four (2,500 + 8,000 + 5,000 + 8,000 = 23,500).
    const p = await est(nic, 'virtio:dev=nic');
    expect([p.exitsBefore, p.exitsAfter, p.timeBeforeNs, p.timeAfterNs, p.exitTimeSavedNs]).toEqual([7, 5, 28_500, 23_500, 5000 + 2 * 1000]);
    expect(p.notes).toEqual(['NIC: 1 interrupts become ISR reads (2500 ns, the cheapest NIC register read); 2 transmissions and 1 RX refills keep a notification each (8000 / 5000 ns, the emulated kicks) at the low end and none at the high end (event suppression)']);
    // At the high end the notifications (3) and the ISR read (1) go too, with their 23,500 ns.
    // (No tick in this trace: nothing time-driven to add.)
    expect(p.exitsSavedRange).toEqual([2, 2 + 4]);
    expect(p.exitTimeSavedRange).toEqual([7000, 7000 + 23_500 + 4 * 1000]);
    // dev=disk leaves the NIC alone.
    expect((await est(nic, 'virtio:dev=disk'))).toMatchObject({ verdict: 'nothing-to-change', why: 'no emulated disk register exits in this trace' });
  });

  it('disk: a command write is one notification, a completion (the first read past 20 us) one ISR read, the rest goes', async () => {
    const disk: Item[] = [
      ['IO_INSTRUCTION', 0xc054fcc0, 6000, 2000, 0x1f2, 'w'], // ide_outb: taskfile
      ['IO_INSTRUCTION', 0xc054ed50, 7000, 30_000, 0x1f7, 'w'], // ide_exec_command: the command
      ['IO_INSTRUCTION', 0xc054ed30, 4000, 2000, 0x1f7, 'r'], // ide_read_status 37 us after it: the completion
      ['IO_INSTRUCTION', 0xc054ed30, 3000, 2000, 0x1f7, 'r'], // another status read
    ];
    // The request keeps the command write's 7,000; the completion reads the ISR at the cheapest disk read, 3,000.
    const p = await est(disk, 'virtio:dev=disk');
    expect([p.exitsBefore, p.exitsAfter, p.timeBeforeNs, p.timeAfterNs, p.exitTimeSavedNs]).toEqual([4, 2, 20_000, 10_000, 10_000 + 2 * 1000]);
    expect(p.notes).toEqual(['disk: 1 requests become one notification each (7000 ns, the command write), 1 completions one ISR read each (3000 ns)']);
    expect(await est(disk, 'virtio:dev=nic')).toMatchObject({ verdict: 'nothing-to-change', why: 'no emulated nic register exits in this trace' });
  });
});

describe('haltpoll: the governor replayed over hand-made halts', () => {
  const A = 0xc0100000;
  type Item = [string, number, number, number?];
  const est = async (items: Item[], pass = 'haltpoll') => {
    const f = join(mkdtempSync(join(tmpdir(), 'exitscope-haltpoll-')), 't.csv');
    let ts = 1_000_000;
    const lines = items.map(([r, d, gap, msr], k) => { const l = `${ts},0,${r},0x${(A + k * 0x1000).toString(16)},${d},${r === 'MSR_WRITE' ? 'w' : ''},${msr === undefined ? '' : `0x${msr.toString(16)}`}`; ts += d + gap; return l; });
    writeFileSync(f, ['ts_ns,vcpu,reason,rip,duration_ns,dir,msr', ...lines].join('\n') + '\n');
    return (await estimate({ input: f, passes: [parsePassSpec(pass)], transitionNs: 1000, bootstrap: 0 })).passes[0];
  };
  // Halts of 30, 40, 120, 90, 500 and 45 us, 20 us of work between them. The governor (limit from 0; after a halt it
  // could have covered, x2 from 50 us up to 200 us; after a longer one, halved):
  //   30: no poll (limit 0) -> limit 50      40: polled (<= 50)
  //   120: poll runs out after 50, halts 70 -> limit 100      90: polled (<= 100)
  //   500: poll runs out after 100, halts 400 (> 200) -> limit 50      45: polled
  const halts = (extra: Item[] = []): Item[] => [...extra, ...[30_000, 40_000, 120_000, 90_000, 500_000, 45_000].map((d) => ['HLT', d, 20_000] as Item)];

  it('polls through the halts its limit covers and shortens the others; with no EOI or window exits the wake-up is posted', async () => {
    const p = await est(halts());
    expect([p.exitsBefore, p.exitsAfter, p.exitTimeSavedNs]).toEqual([6, 3, 3 * 1000]);
    expect(p.notes[0]).toBe('3 of 6 halts polled through (0 tick stop/restart writes with them), 2 halts shortened by a poll that ran out; 0 exits of ticks that land in polls (CONFIG_HZ=1000 at most: the high end takes none, 3.0 exits a tick, assumed)');
    expect(p.assumptions[1]).toMatch(/the interrupt that ends the poll is posted/);
  });

  it('a smaller ns= limit polls less: at 40 us only the 40 us halt is covered', async () => {
    // ns=40000: the start is min(50, 40) = 40. 30: limit -> 40. 40: polled. 120: runs out after 40 (80 left > 40: halve
    // to 20). 90: poll 20 runs out (70 > 40: halve to 10). 500: runs out (490: halve to 5). 45: runs out. One polled.
    const p = await est(halts(), 'haltpoll:ns=40000');
    expect([p.exitsBefore, p.exitsAfter]).toEqual([6, 5]);
    expect(p.notes[0]).toMatch(/^1 of 6 halts polled through \(0 tick stop\/restart writes with them\), 4 halts shortened/);
  });

  it('without posted interrupts each polled halt is woken by an external-interrupt exit, priced as the trace\'s median one; NO_HZ\'s writes around a polled halt go', async () => {
    // Five arrivals of 2.0-2.4 us (median 2,200) and an interrupt window: interrupts are not posted. The 40 us halt is
    // preceded by a TSC-deadline write (the tick stop) and followed by one (the restart) before any other halt.
    const pre: Item[] = [2000, 2100, 2200, 2300, 2400].map((d) => ['EXTERNAL_INTERRUPT', d, 20_000] as Item);
    pre.push(['INTERRUPT_WINDOW', 500, 20_000]);
    const items = halts(pre);
    const at40 = items.findIndex((x) => x[0] === 'HLT' && x[1] === 40_000);
    items.splice(at40, 0, ['MSR_WRITE', 1500, 1000, 0x6e0]);
    // The restart is the first clock-event write after the wake-up that is not right before the next halt (that one is its stop).
    items.splice(at40 + 2, 0, ['MSR_WRITE', 1500, 20_000, 0x6e0], ['CPUID', 500, 20_000]);
    const p = await est(items);
    // 15 exits; 3 halts and 2 clock-event writes go, 3 arrivals come: 13. Handling: -2 x 1,500 + 3 x 2,200 = +3,600 ns,
    // and 2 transitions saved: -1,600.
    expect([p.exitsBefore, p.exitsAfter, p.timeAfterNs - p.timeBeforeNs, p.exitTimeSavedNs]).toEqual([15, 13, 3600, -3600 + 2 * 1000]);
    expect(p.notes[0]).toMatch(/^3 of 6 halts polled through \(2 tick stop\/restart writes with them\)/);
    expect(p.assumptions[1]).toMatch(/arrives by an external-interrupt exit \(2200 ns: median of the trace's 5 external-interrupt exits\)/);
  });
});

describe('coalesce-io batching rules on a hand-worked trace (fixtures/mutation/coalesce.csv)', () => {
  const run = async (pass: string) => (await estimate({ input: fx('mutation', 'coalesce.csv'), maps: [GUEST_MAP], passes: [parsePassSpec(pass)], transitionNs: 1000, bootstrap: 0 })).passes[0];

  it('by calling function: OUT runs merge, a read ends a batch, polling reads and in-kernel ports stay', async () => {
    const p = await run('coalesce-io');
    expect([p.exitsBefore, p.exitsAfter, p.timeBeforeNs, p.timeAfterNs, p.exitTimeSavedNs, p.savedNs]).toEqual([13, 9, 68_000, 68_000, 4000, 4000]);
    expect(p.notes).toEqual(['3 batches merged (2 ended by a read); 3 polling reads left alone']);
    expect(p.assumptions[1]).toMatch(/^batches: successive device-model port I\/O exits on one vcpu from the same calling function, at most 3000 ns of guest time apart, 2 or more; in-kernel PIC\/PIT ports excluded$/);
    expect(p.perAddress).toEqual([
      { address: '0xc054fcc0', key: 'ide_outb+0x10', before: 5, after: 0 },
      { address: '0xc054ecf0', key: 'ide_inb+0x10', before: 2, after: 0 },
    ]);
  });

  it(':reads lets reads join, :scope=address batches one RIP only, :min=4 and :in= restrict', async () => {
    const reads = await run('coalesce-io:reads');
    expect([reads.exitsAfter, reads.exitTimeSavedNs, reads.notes[0]]).toEqual([8, 5000, '2 batches merged (1 ended by a read); 3 polling reads left alone']);
    expect((await run('coalesce-io:scope=address'))).toMatchObject({ exitsAfter: 11, exitTimeSavedNs: 2000 });
    const min4 = await run('coalesce-io:min=4');
    expect([min4.verdict, min4.exitsAfter]).toEqual(['nothing-to-change', 13]);
    const only = await run('coalesce-io:in=ide_tf_load');
    expect([only.exitsAfter, only.exitTimeSavedNs]).toEqual([11, 2000]);
    expect(only.assumptions[1]).toMatch(/from the same calling function \(only in ide_tf_load\)/);
    // A window under the 1,000 ns gaps merges nothing.
    expect((await run('coalesce-io:window=900')).exitsAfter).toBe(13);
  });
});
