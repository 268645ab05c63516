/**
 * haltpoll and coalesced-mmio (src/replay/passes) applied directly to traces
 * built row by row (issue 16: their surviving mutants). Every expected value
 * is worked out by hand in the comments from the rows and the pass headers.
 * Transition 1,000 ns throughout; fewer than 20 userspace exits, so the
 * userspace round trip is 0 and the hypercall floor is 0 (nothing to infer from).
 */
import { describe, expect, it } from 'vitest';
import { F_GPA, F_PORT, F_USERSPACE } from '../src/model/chunk.js';
import { CoalescedMmioPass, busiestMmioWindow, coalescedMmio } from '../src/replay/passes/coalesced-mmio.js';
import { HaltpollPass } from '../src/replay/passes/haltpoll.js';
import type { BuildEnv } from '../src/replay/pass-def.js';
import { chain, context, kept, rows, type Row } from './replay-rows.js';

const hp = (list: Row[], ns?: number, map?: string) => {
  const t = rows(list);
  const r = new HaltpollPass('haltpoll', ns).apply(t, context(t, { map }));
  return { l: r.ledger, out: r.trace };
};
const HLT = (dur: number, gap = 20_000) => ({ reason: 'HLT', dur, gap });
const wr = (msr: number, gap = 10_000, dur = 1000) => ({ reason: 'MSR_WRITE', msr, dir: 'w' as const, dur, gap });
const DL = 0x6e0, EOI = 0x80b;

describe('haltpoll: the governor, halt by halt', () => {
  it('grows x2 from 50 us to 200 us after coverable halts, keeps the limit when the rest equals it, halves after longer ones', () => {
    // 200: no poll -> 50. 50: polled. 100: out after 50, rest 50 = limit: unchanged (not grown). 90: out after 50 (rest 40).
    // 150: out, rest 100 -> 100. 300: out, rest 200 -> 200. 400: out, rest 200 = max and = limit: unchanged (not halved).
    // 150: polled. 500: out after 200, rest 300 > 200 -> 100. 150: out after 100 (rest 50). 100: polled (= limit).
    const { l, out } = hp(chain([200, 50, 100, 90, 150, 300, 400, 150, 500, 150, 100].map((k) => HLT(k * 1000))));
    expect([l.exitsBefore, l.exitsAfter, l.removed, l.added, l.changed]).toEqual([11, 8, 3, 0, 7]);
    // Before 2,190 us; polled 300 us go, polls that ran out trim 50+50+50+100+200+200+100 = 750 us: 1,140 us left.
    expect([l.timeBeforeNs, l.timeAfterNs]).toEqual([2_190_000, 1_140_000]);
    // Starts: 1,000,000 then + dur + 20,000 each; a shortened halt starts later by the poll.
    expect(kept(out)).toEqual([[1_000_000, 'HLT', 200_000], [1_340_000, 'HLT', 50_000], [1_460_000, 'HLT', 40_000], [1_570_000, 'HLT', 100_000],
      [1_790_000, 'HLT', 200_000], [2_210_000, 'HLT', 200_000], [2_800_000, 'HLT', 300_000], [3_220_000, 'HLT', 50_000]]);
    expect(l.notes).toEqual(['3 of 11 halts polled through (0 tick stop/restart writes with them), 7 halts shortened by a poll that ran out; 0 exits of ticks that land in polls (CONFIG_HZ=1000 at most: the high end takes none, 3.0 exits a tick, assumed)']);
    expect(l.assumptions[0]).toBe('the haltpoll governor replayed on each vcpu\'s halts: poll after a halt or a woken poll, limit from 0 growing x2 (from 50 us) to 200 us after halts it could have covered, halving after longer ones');
    expect(l.assumptions[3]).toBe('the polling burns host CPU, not guest throughput');
    expect(l.moreSavedHigh).toBeUndefined(); // no ticks added
    expect(new HaltpollPass('haltpoll').name).toBe('haltpoll');
  });

  it('drops only real tick stops (TSC-deadline writes) right before a polled halt, and the first restart before the next halt', () => {
    const { l, out } = hp(chain([
      HLT(100_000), //                                   r0: no poll, limit 50 us
      { reason: 'CPUID', gap: 2000 }, HLT(40_000), //     r1 not a deadline write: kept; r2 polled
      { reason: 'MSR_READ', msr: DL, dir: 'r', gap: 2000 }, HLT(40_000), // r3 a read of the deadline MSR: kept; r4 polled
      wr(0x10, 2000), HLT(40_000), //                    r5 another MSR written: kept; r6 polled
      wr(DL, 2000), HLT(40_000, 5000), HLT(40_000, 5000), wr(DL, 20_000), // r7 stop: dropped; r8, r9 polled; r10 after a halt: kept
      wr(DL, 2000), HLT(40_000, 100_000), wr(DL, 20_000), // r11 stop dropped; r12 polled; r13 starts 100,000 after r12's end: kept
      wr(DL, 2000), HLT(40_000, 5000), wr(DL, 2000), HLT(40_000, 5000), wr(DL, 20_000), // r14 stop; r16 is r17's stop, not r15's restart; r18 restart
      wr(DL, 2000), HLT(40_000, 5000), wr(DL), //         r19 stop, r20 polled, r21 (the last row) its restart
    ]));
    // 22 rows: 9 halts polled (r2 r4 r6 r8 r9 r12 r15 r17 r20), 7 writes dropped (r7 r11 r14 r16 r18 r19 r21); no EOI or window
    // exits: posted, nothing added. Kept: r0 r1 r3 r5 r10 r13 at 1,000,000 (+120,000) 1,120,000 (+3,000+60,000) 1,183,000 ...
    expect([l.exitsBefore, l.exitsAfter, l.removed, l.added]).toEqual([22, 6, 16, 0]);
    expect(kept(out).map(([ts, r]) => [ts, r])).toEqual([[1_000_000, 'HLT'], [1_120_000, 'CPUID'], [1_183_000, 'MSR_READ'], [1_246_000, 'MSR_WRITE'], [1_402_000, 'MSR_WRITE'], [1_566_000, 'MSR_WRITE']]);
    expect(l.notes[0]).toBe('9 of 10 halts polled through (7 tick stop/restart writes with them), 0 halts shortened by a poll that ran out; 0 exits of ticks that land in polls (CONFIG_HZ=1000 at most: the high end takes none, 3.0 exits a tick, assumed)');
    expect(l.assumptions[1]).toMatch(/^a polled halt loses its HLT exit and the NO_HZ tick stop\/restart writes around it; the interrupt that ends the poll is posted/);
  });

  it('without kvm_msr detail a tick stop is a WRMSR in a clock-event function (map), and an EOI a WRMSR in an ack function', () => {
    const MAP = ['filler', 'lapic_next_deadline', 'other_fn', 'ack_APIC_irq'].map((n, k) => `${(0xc0100000 + k * 0x1000).toString(16)} T ${n}\n`).join('') + 'c0200000 T _etext\n';
    const at = (k: number) => 0xc0100000 + k * 0x1000 + 0x10;
    const { l } = hp(chain([
      HLT(100_000),
      { reason: 'MSR_WRITE', rip: at(1), gap: 2000 }, HLT(40_000), // a stop: dropped
      { reason: 'CPUID', rip: at(1), gap: 2000 }, HLT(40_000), //     not a WRMSR: kept
      { reason: 'MSR_WRITE', rip: at(2), gap: 2000 }, HLT(40_000), // a WRMSR elsewhere: kept
      { reason: 'MSR_WRITE', rip: at(3) }, //                        an EOI write: interrupts are not posted
    ]), undefined, MAP);
    // 8 rows; 3 halts polled, 1 stop dropped; an external-interrupt exit for each polled halt: 8 - 4 + 3 = 7.
    expect([l.exitsBefore, l.exitsAfter, l.removed, l.added]).toEqual([8, 7, 4, 3]);
    expect(l.notes[0]).toMatch(/^3 of 4 halts polled through \(1 tick stop\/restart writes with them\)/);
  });

  const posted = (extra: Row[]) => hp([...extra, ...chain([HLT(100_000), HLT(40_000)], 10_000_000)]).l;
  it('what says the wake-up interrupt is posted: EOI-induced exits, else halts with no EOI write and no window', () => {
    // One halt polled. Posted: 2 halts go to 1; not posted: an external-interrupt exit comes back (2).
    expect(posted([{ ts: 0, reason: 'EOI_INDUCED' }, { ts: 5000, reason: 'INTERRUPT_WINDOW' }]).exitsAfter).toBe(1 + 2);
    expect(posted([{ ts: 0, reason: 'EPT_MISCONFIG', gpa: 0xfebc0000, dir: 'w' }]).exitsAfter).toBe(1 + 1); // device MMIO, not the EOI register
    expect(posted([{ ts: 0, reason: 'EPT_MISCONFIG', gpa: 0x1fee000b0, dir: 'w' }]).exitsAfter).toBe(1 + 1); // EOI's low half above 4 GiB
    expect(posted([{ ts: 0, reason: 'EPT_MISCONFIG', gpa: 0xfee000b0, dir: 'w' }]).exitsAfter).toBe(1 + 2); // the xAPIC EOI
    expect(posted([{ ts: 0, reason: 'MSR_WRITE', msr: EOI, dir: 'w' }]).exitsAfter).toBe(1 + 2); // the x2APIC EOI
    expect(posted([{ ts: 0, reason: 'MSR_WRITE' }]).exitsAfter).toBe(1 + 1); // a WRMSR with no detail and no map
    // No halt at all: not posted (the text says so).
    const none = hp([{ ts: 0, reason: 'CPUID' }]).l;
    expect(none.assumptions[1]).toBe('a polled halt loses its HLT exit and the NO_HZ tick stop/restart writes around it; the interrupt that ends the poll arrives by an external-interrupt exit (1000 ns: no interrupt arrivals in the trace: the median of its 1 other in-kernel exits); on a host with posted interrupts it would not');
    expect(none.verdict).toBe('nothing-to-change');
    expect(none.why).toBe('no halt the governor would poll through (none shorter than 200 us after a short one)');
  });

  it('the price of the interrupt that ends a poll: median of real arrivals, of in-kernel exits (userspace ones left out), else the dispatch floor', () => {
    // 3 arrivals of 1,000-3,000 and 4 with no duration: the median of the 3 measured, 2,000 (7 counted).
    const a = hp([1000, 2000, 3000, NaN, NaN, NaN, NaN].map((dur, k) => ({ ts: k * 100_000, reason: 'EXTERNAL_INTERRUPT', dur }))).l;
    expect(a.assumptions[1]).toMatch(/external-interrupt exit \(2000 ns: median of the trace's 7 external-interrupt exits\)/);
    // A flagged trace: only exits flagged as going to userspace are userspace; the unflagged COM1 access (9,000) is in-kernel.
    const flagged = hp([{ ts: 0, reason: 'IO_INSTRUCTION', port: 0x3f8, dir: 'w', dur: 9000, flags: F_PORT | F_USERSPACE },
      { ts: 100_000, reason: 'IO_INSTRUCTION', port: 0x3f8, dir: 'w', dur: 9000, flags: F_PORT }, { ts: 200_000, reason: 'CPUID', dur: 1000 }]).l;
    expect(flagged.assumptions[1]).toMatch(/\(9000 ns: no interrupt arrivals in the trace: the median of its 2 other in-kernel exits\)/); // [1000, 9000][1]
    // Unflagged: COM1 is a device-model port, left out.
    const plain = hp([{ ts: 0, reason: 'IO_INSTRUCTION', port: 0x3f8, dir: 'w', dur: 9000 }, { ts: 100_000, reason: 'CPUID', dur: 1000 }]).l;
    expect(plain.assumptions[1]).toMatch(/\(1000 ns: no interrupt arrivals in the trace: the median of its 1 other in-kernel exits\)/);
    // Only userspace exits: the dispatch floor (no VMCALL or trivial exits to measure it: 0).
    const floor = hp([{ ts: 0, reason: 'IO_INSTRUCTION', port: 0x3f8, dir: 'w', dur: 9000 }]).l;
    expect(floor.assumptions[1]).toMatch(/arrives by an external-interrupt exit \(0 ns: the dispatch floor\); on a host/);
  });

  it('a steady 1000 Hz tick is named in the notes and the assumptions', () => {
    // 6 ticks, 1 ms apart: arrival (2,000), gap 1,000, TSC-deadline write (1,000), gap 996,000. 2 exits a tick.
    const { l } = hp(chain(Array.from({ length: 6 }, () => [{ reason: 'EXTERNAL_INTERRUPT', dur: 2000, gap: 1000 }, wr(DL, 996_000)]).flat()));
    expect(l.notes[0]).toBe('0 of 0 halts polled through (0 tick stop/restart writes with them), 0 halts shortened by a poll that ran out; 0 exits of ticks that land in polls (1000 Hz tick, 2.0 exits a tick)');
    expect(l.assumptions[2]).toBe('the tick runs while the vcpu polls: 1000 Hz (the trace\'s tick)');
    expect(l.moreSavedHigh).toBeUndefined();
  });

  it('ticks that land in long polls (ns=1 ms, tickless trace): exits and time per tick from the trace\'s 5 timer interrupts', () => {
    const { l, out } = hp(chain([
      { reason: 'EXTERNAL_INTERRUPT', dur: 2000, gap: 1000 }, wr(DL, 3_000_000), //    tick 1: 2 exits, 3,000
      { reason: 'PREEMPTION_TIMER', dur: 2000, gap: 1000 }, wr(DL, 7_000_000), //      tick 2: 2 exits, 3,000
      wr(DL, 1000), wr(EOI, 1_500_000, 500), //                                       tick 3 (its interrupt: the EOI, last): 2, 1,500
      { reason: 'EXTERNAL_INTERRUPT', dur: NaN, gap: 1000 }, wr(DL, 9_000_000), //     tick 4: 2 exits, 1,000 (no duration: 0)
      { reason: 'EXTERNAL_INTERRUPT', dur: 2000, gap: 1000 }, wr(EOI, 1000, 500), wr(DL, 4_000_000), // tick 5: 3 exits, 3,500
      // ns=1e6: 1000 -> 50 us; then runs out with rests 950, 900, 800, 600, 900 us: 100, 200, 400, 800, 1000 us.
      HLT(1_000_000), HLT(1_000_000), HLT(1_000_000), HLT(1_000_000), HLT(1_000_000), HLT(1_700_000),
      wr(DL, 2000), HLT(990_000, 10_000), wr(DL, 300_000), // polled, tick off from stop to restart: 1,000+2,000+990,000+10,000
      wr(DL, 2000), HLT(990_000, 10_000), wr(DL),
    ]), 1_000_000);
    // Per tick: 11 / 5 = 2.2 exits (2 rows), 12,000 / 5 = 2,400 ns (1,200 each). Tick starts are 3.0, 7.0, 1.5, 9.0 ms ...
    // apart: no steady tick, CONFIG_HZ=1000 (1 ms). Each polled halt: 1,003,000 ns of tick -> 1 tick, plus an external-interrupt
    // exit (EOI writes: not posted) priced at the median of 11 in-kernel exits (MSR writes: 2 x 500, 9 x 1,000) = 1,000.
    expect([l.exitsBefore, l.exitsAfter, l.removed, l.added, l.changed]).toEqual([23, 23, 6, 6, 5]);
    // -2 x 990,000 halts - 4 x 1,000 writes - (50+100+200+400+800) us trimmed + 2 x 1,000 arrivals + 4 x 1,200 tick exits.
    expect(l.timeAfterNs - l.timeBeforeNs).toBe(-1_980_000 - 4000 - 1_550_000 + 2000 + 4800);
    // The high end takes none of them: 4 exits and 2 x (2,400 + 2 x 1,000) - 4 x 1,000 = 4,800 ns.
    expect(l.moreSavedHigh).toEqual({ exits: 4, timeNs: 4800 });
    expect(l.notes[0]).toBe('2 of 8 halts polled through (4 tick stop/restart writes with them), 5 halts shortened by a poll that ran out; 4 exits of ticks that land in polls (CONFIG_HZ=1000 at most: the high end takes none, 2.2 exits a tick)');
    expect(l.assumptions[1]).toMatch(/external-interrupt exit \(1000 ns: no interrupt arrivals in the trace: the median of its 11 other in-kernel exits\)/);
    expect(l.assumptions[2]).toBe('the tick runs while the vcpu polls: the trace shows no steady tick: at most CONFIG_HZ=1000 (the rewritten trace), none at the high end');
    // The last polled halt's replacement rows: its arrival, then one tick as 2 timer exits, at the halt's end.
    expect(kept(out).slice(-3).map(([, r, d]) => [r, d])).toEqual([['EXTERNAL_INTERRUPT', 1000], ['PREEMPTION_TIMER', 1200], ['PREEMPTION_TIMER', 1200]]);
  });
});

describe('coalesced-mmio applied directly (round trip 0: under 20 userspace exits)', () => {
  const BAR = 0xfe000000;
  const cm = (list: Row[], lo: number, hi: number, e1000 = false) => {
    const t = rows(list);
    const r = new CoalescedMmioPass('cm', BigInt(lo), BigInt(hi), e1000).apply(t, context(t));
    return { l: r.ledger, out: r.trace };
  };
  const w = (gpa: number, dur: number, more: Partial<Row> = {}) => ({ reason: 'EPT_MISCONFIG', gpa, dir: 'w' as const, dur, ...more });

  it('the range includes both ends and nothing outside; the next userspace exit takes the queued work', () => {
    // Range 0x10-0x20 of the BAR: writes at 0x0f and 0x21 are outside, 0x10 (4,000) and 0x20 (6,000) inside. The cheapest
    // access of the range: 4,000 - 0 = 4,000 kept in the kernel; 0x20 moves 2,000 of work to 0x21 (a userspace MMIO exit).
    const { l, out } = cm(chain([w(BAR + 0x0f, 10_000), w(BAR + 0x10, 4000), w(BAR + 0x20, 6000), w(BAR + 0x21, 10_000)]), BAR + 0x10, BAR + 0x20);
    expect(kept(out).map(([, , d]) => d)).toEqual([10_000, 4000, 4000, 12_000]);
    expect([l.changed, l.removed, l.added]).toEqual([3, 0, 0]);
    expect(l.notes).toEqual(['2 writes to coalesced registers stay exits but skip the trip to userspace; 1 later userspace exits drain the ring']);
    expect(l.assumptions).toEqual([
      'writes to 0xfe000010-0xfe000020 still exit; KVM appends them to the 170-entry ring and re-enters, each saving the userspace round trip (0 ns: no userspace I/O exits to infer it from)',
      'a coalesced write keeps 4000 ns in the kernel (the cheapest access of the range less the round trip); its device work moves to the next exit that reaches userspace, where the device model drains the ring',
      'which registers the device model coalesces is not in a trace: every write in the range is assumed coalesced',
    ]);
    expect(new CoalescedMmioPass('cm', 0n, 1n, false).name).toBe('coalesced-mmio');
  });

  it('a write with no duration is not queued and does not set the kernel share', () => {
    // Zone [8,000, 9,000]: keeps 8,000; the 9,000 write moves 1,000 to the COM1 exit (3,000 -> 4,000).
    const { l, out } = cm(chain([w(BAR, NaN), w(BAR + 4, 8000), w(BAR + 8, 9000), { reason: 'IO_INSTRUCTION', port: 0x3f8, dir: 'w', dur: 3000 }]), BAR, BAR + 0xfff);
    expect(kept(out).slice(1).map(([, , d]) => d)).toEqual([8000, 8000, 4000]);
    expect(l.notes[0]).toBe('2 writes to coalesced registers stay exits but skip the trip to userspace; 1 later userspace exits drain the ring');
    expect(l.assumptions[1]).toMatch(/^a coalesced write keeps 8000 ns in the kernel/);
  });

  it('the kernel share is the 5th percentile: index floor(0.05 x (n - 1)) of the range\'s sorted accesses', () => {
    // Reads of 1,000, 2,000, ... n x 1,000: n = 20 -> index 0 (1,000); n = 21 -> index 1 (2,000). Reads are never queued.
    const reads = (n: number) => Array.from({ length: n }, (_, k): Row => ({ ts: k * 100_000, reason: 'EPT_MISCONFIG', gpa: BAR, dir: 'r', dur: (k + 1) * 1000 }));
    const a = cm(reads(20), BAR, BAR + 0xfff).l, b = cm(reads(21), BAR, BAR + 0xfff).l;
    expect(a.assumptions[1]).toMatch(/^a coalesced write keeps 1000 ns/);
    expect(b.assumptions[1]).toMatch(/^a coalesced write keeps 2000 ns/);
    expect([a.verdict, a.why]).toEqual(['nothing-to-change', 'no MMIO writes to coalesced registers of this range in the trace']);
  });

  it('a port write is not an MMIO write even in a range from 0', () => {
    const { l } = cm([{ ts: 0, reason: 'IO_INSTRUCTION', port: 0x3f8, dir: 'w', dur: 5000 }], 0, 0xfff);
    expect(l.notes[0]).toMatch(/^0 writes to coalesced registers/);
  });

  it('with kvm_userspace_exit flags (seen on any vcpu), only flagged exits drain the ring', () => {
    // vcpu 0: a queued write, then an unflagged COM1 exit (in the kernel by the flags); the flag is only on vcpu 1.
    const { l } = cm([{ ts: 0, reason: 'EPT_MISCONFIG', gpa: BAR, dir: 'w', dur: 5000, flags: F_GPA }, { ts: 100_000, reason: 'IO_INSTRUCTION', port: 0x3f8, dir: 'w', dur: 3000, flags: F_PORT },
      { ts: 0, vcpu: 1, reason: 'IO_INSTRUCTION', port: 0x3f8, dir: 'w', dur: 3000, flags: F_PORT | F_USERSPACE }], BAR, BAR + 0xfff);
    expect(l.notes[0]).toBe('1 writes to coalesced registers stay exits but skip the trip to userspace; 0 later userspace exits drain the ring');
  });

  it('an e1000 BAR says QEMU\'s registration is assumed', () => {
    const { l } = cm([{ ts: 0, ...w(BAR + 0xc4, 5000) }], BAR, BAR + 0x1ffff, true);
    expect(l.assumptions[2]).toBe('which registers the device model coalesces is not in a trace: QEMU\'s e1000 registration is assumed');
  });

  it('busiestMmioWindow: APIC accesses do not count, ties go to the first BAR seen, e1000 by a write to IMS, IMC, TDT or RDT', () => {
    const at = (list: Array<[number, 'r' | 'w']>) => busiestMmioWindow(rows(list.map(([gpa, dir], k) => ({ ts: k * 10_000, reason: 'EPT_MISCONFIG', gpa, dir }))));
    expect(at([[0xfee000b0, 'w'], [0xfee000b0, 'w'], [0xfee00300, 'w'], [BAR + 0x10, 'w']])).toEqual({ lo: BigInt(BAR), hi: BigInt(BAR + 0x1ffff), e1000Like: false });
    expect(at([[BAR + 0x10, 'w'], [BAR + 0x20000, 'w']])?.lo).toBe(BigInt(BAR));
    for (const off of [0xd0, 0xd8, 0x3818, 0x2818]) expect(at([[BAR + off, 'w']])?.e1000Like).toBe(true);
    expect(at([[BAR + 0xd0, 'r'], [BAR + 0x10, 'w']])?.e1000Like).toBe(false);
  });

  it('parse and build: mmio= or a bare range, auto by default; an explicit range is never e1000', () => {
    expect(coalescedMmio.parse(['0xfe000000-0xfe000fff'])).toEqual({ pass: 'coalesced-mmio', range: '0xfe000000-0xfe000fff' });
    expect(coalescedMmio.parse(['mmio=0x1-0x2'])).toEqual({ pass: 'coalesced-mmio', range: '0x1-0x2' });
    expect(coalescedMmio.parse([])).toEqual({ pass: 'coalesced-mmio', range: 'auto' });
    const t = rows([{ ts: 0, reason: 'CPUID' }]);
    const env = { trace: t, ctx: context(t), expand: () => [] } as unknown as BuildEnv; // only trace and ctx are read
    const [p] = coalescedMmio.build({ pass: 'coalesced-mmio', range: '0xfe000000-0xfe000fff' }, env, 'x');
    expect(p.name).toBe('coalesced-mmio');
    expect(p.apply(t, env.ctx).ledger.assumptions[0]).toMatch(/^writes to 0xfe000000-0xfe000fff still exit/);
    const [v] = coalescedMmio.build({ pass: 'coalesced-mmio', range: 'auto' }, env, 'y');
    expect(v.name).toBe('coalesced-mmio');
    expect(v.apply(t, env.ctx).ledger.verdict).toBe('not-applicable');
  });
});
