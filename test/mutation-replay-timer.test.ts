/**
 * timer-hz (src/replay/passes/timer-hz.ts, paper Fig. 7) on traces built row by
 * row in the test (issue 16): what a tick is, how its rate is detected, and what
 * the pass keeps, drops and merges. Every expected value is worked out by hand
 * from the rows, in the comment next to it. The transition is given (1,000 ns
 * unless said).
 */
import { describe, expect, it } from 'vitest';
import { REASONS } from '../src/model/reasons.js';
import { detectTimer, findTickClusters, KERNEL_HZ, TimerHzPass, timerHz } from '../src/replay/passes/timer-hz.js';
import type { BuildEnv } from '../src/replay/pass-def.js';
import { context, kept, rows, sum, type Row, tscTick, ticksAt, every } from './replay-rows.js';

// A made-up guest kernel: one function every 4 KiB.
const FNS = ['default_idle', 'timer_interrupt', 'smp_apic_timer_interrupt', 'lapic_next_event', 'ack_APIC_irq', 'native_apic_msr_eoi', 'irq_exit',
  'ioapic_ack_level', 'spin_unlock_irqrestore', 'e1000_intr', '__do_softirq', 'native_apic_mem_write', 'pit_next_event'];
const MAP = FNS.map((f, k) => `${(0xc0100000 + k * 0x1000).toString(16)} T ${f}\n`).join('') + 'c0200000 T _etext\n';
const at = (f: string) => 0xc0100000 + FNS.indexOf(f) * 0x1000 + 0x10;
const UNMAPPED = 0xc0300000;

/** Start times from 1 ms with these intervals between them. */
const intervals = (ps: number[]) => ps.reduce((a, p) => [...a, a[a.length - 1] + p], [1_000_000]);

const detect = (list: Row[], map?: string) => { const t = rows(list); return detectTimer(t, context(t, { map })); };
const clusters = (list: Row[], map?: string) => detect(list, map).clusters.get(0);

describe('what a tick is: its rows on one vcpu', () => {
  it('an arrival, its deadline write, its EOI and the interrupt window its irq_exit opens', () => {
    expect(clusters([...tscTick(1_000_000), ...tscTick(2_000_000)])).toEqual([[0, 3], [4, 7]]);
  });

  it('an arrival joins only when a tick row follows it less than 50 us later', () => {
    // Arrival (ends 1,001,000), deadline write 50,000 later: not near, the write alone. Then an arrival 49,999 before one: joined.
    expect(clusters([
      { ts: 1_000_000, reason: 'EXTERNAL_INTERRUPT', dur: 1000 }, { ts: 1_051_000, reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w' },
      { ts: 2_000_000, reason: 'PREEMPTION_TIMER', dur: 1000 }, { ts: 2_050_999, reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w' },
      // An arrival followed by a device exit: no tick.
      { ts: 3_000_000, reason: 'EXTERNAL_INTERRUPT', dur: 1000 }, { ts: 3_002_000, reason: 'IO_INSTRUCTION', port: 0x3f8, dir: 'w' },
      // An arrival as the last row.
      { ts: 4_000_000, reason: 'EXTERNAL_INTERRUPT', dur: 1000 },
    ])).toEqual([[1, 1], [2, 3]]);
  });

  it('tick rows join while less than 50 us apart; a window joins once, only after an anchored tick', () => {
    const list: Row[] = [
      // Deadline write (ends 1,001,000), EOI 49,999 later (ends 1,051,999 + 1,000), window 49,999 after that, a second window.
      { ts: 1_000_000, reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w', dur: 1000 }, { ts: 1_050_999, reason: 'MSR_WRITE', msr: 0x80b, dir: 'w', dur: 1000 },
      { ts: 1_101_998, reason: 'INTERRUPT_WINDOW', dur: 500 }, { ts: 1_103_000, reason: 'INTERRUPT_WINDOW', dur: 500 },
      // Deadline write, EOI exactly 50,000 after its end: not joined (and an EOI alone is no tick); a window 50,000 after it: not joined.
      { ts: 2_000_000, reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w', dur: 1000 }, { ts: 2_051_000, reason: 'MSR_WRITE', msr: 0x80b, dir: 'w', dur: 1000 },
      { ts: 2_102_000, reason: 'INTERRUPT_WINDOW', dur: 500 },
      // EOI and PIT programming with no handler or re-arm (boot-time pit_load_count): no tick, window or not.
      { ts: 3_000_000, reason: 'MSR_WRITE', msr: 0x80b, dir: 'w', dur: 1000 }, { ts: 3_002_000, reason: 'IO_INSTRUCTION', port: 0x43, dir: 'w', dur: 1000 },
      { ts: 3_004_000, reason: 'INTERRUPT_WINDOW', dur: 500 },
      // Deadline write then window 49,999 after it.
      { ts: 4_000_000, reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w', dur: 1000 }, { ts: 4_050_999, reason: 'INTERRUPT_WINDOW', dur: 500 },
    ];
    expect(clusters(list)).toEqual([[0, 2], [4, 4], [10, 11]]);
  });

  it('the clock-event re-arms that anchor a tick: TSC-deadline and x2APIC TMICT writes, LAPIC TMICT MMIO writes', () => {
    // Each candidate, then an EOI 2,000 later: a tick [k, k + 1] when the candidate anchors one.
    const cands: Array<[Row extends infer R ? Omit<R, 'ts'> : never, boolean]> = [
      [{ reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w' }, true],
      [{ reason: 'MSR_WRITE', msr: 0x6e0 }, true],
      [{ reason: 'MSR_READ', msr: 0x6e0, dir: 'r' }, false],
      [{ reason: 'MSR_WRITE', msr: 0x838, dir: 'w' }, true],
      [{ reason: 'MSR_READ', msr: 0x838, dir: 'r' }, false],
      [{ reason: 'MSR_WRITE', msr: 0x839, dir: 'w' }, false],
      [{ reason: 'EPT_MISCONFIG', gpa: 0xfee00380, dir: 'w' }, true],
      [{ reason: 'EPT_MISCONFIG', gpa: 0xfee00380, dir: 'r' }, false],
      [{ reason: 'EPT_MISCONFIG', gpa: 0xfee00380 }, false],
      [{ reason: 'EPT_MISCONFIG', gpa: 0xfee00390, dir: 'w' }, false],
      [{ reason: 'EPT_MISCONFIG', gpa: 0x1fee00380, dir: 'w' }, false],
    ];
    for (const [row, anchors] of cands) {
      const got = clusters([{ ts: 1_000_000, dur: 1000, ...row } as Row, { ts: 1_003_000, reason: 'MSR_WRITE', msr: 0x80b, dir: 'w' }]);
      expect([row, got]).toEqual([row, anchors ? [[0, 1]] : []]);
    }
  });

  it('PIT ports 0x40-0x43 join a tick; 0x3f and 0x44 end it', () => {
    const after = (port: number) => clusters([{ ts: 1_000_000, reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w' }, { ts: 1_003_000, reason: 'IO_INSTRUCTION', port, dir: 'w' }]);
    expect([0x40, 0x43, 0x3f, 0x44].map(after)).toEqual([[[0, 1]], [[0, 1]], [[0, 0]], [[0, 0]]]);
  });

  it('with a map: the handler anchors by its own RIP or as the caller; a device\'s EOI (level-triggered) ends a tick', () => {
    const eoi = (caller?: number): Row => ({ ts: 1_003_000, reason: 'MSR_WRITE', msr: 0x80b, dir: 'w', rip: at('native_apic_msr_eoi'), caller });
    const deadline: Row = { ts: 1_000_000, reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w', rip: at('lapic_next_event') };
    // The EOI called from the timer handler, from no function the map knows, or with no caller: the timer's.
    expect(clusters([deadline, eoi(at('smp_apic_timer_interrupt'))], MAP)).toEqual([[0, 1]]);
    expect(clusters([deadline, eoi(UNMAPPED)], MAP)).toEqual([[0, 1]]);
    expect(clusters([deadline, eoi()], MAP)).toEqual([[0, 1]]);
    // Called from the IOAPIC's level ack or a device handler: not the timer's.
    expect(clusters([deadline, eoi(at('ioapic_ack_level'))], MAP)).toEqual([[0, 0]]);
    expect(clusters([deadline, eoi(at('e1000_intr'))], MAP)).toEqual([[0, 0]]);
    // A PIT port write in timer_interrupt anchors a tick by itself (the handler's RIP) ...
    expect(clusters([{ ts: 1_000_000, reason: 'IO_INSTRUCTION', port: 0x20, dir: 'w', rip: at('timer_interrupt') }], MAP)).toEqual([[0, 0]]);
    // ... so does any exit called from the handler, and any exit in a re-arm function; not an exit in default_idle.
    expect(clusters([{ ts: 1_000_000, reason: 'CPUID', rip: at('default_idle'), caller: at('smp_apic_timer_interrupt') }], MAP)).toEqual([[0, 0]]);
    expect(clusters([{ ts: 1_000_000, reason: 'CPUID', rip: at('lapic_next_event') }], MAP)).toEqual([[0, 0]]);
    expect(clusters([{ ts: 1_000_000, reason: 'CPUID', rip: at('default_idle') }], MAP)).toEqual([]);
    // The handler as the RIP's caller does not make the RIP a re-arm: the caller being lapic_next_event anchors nothing.
    expect(clusters([{ ts: 1_000_000, reason: 'CPUID', rip: at('default_idle'), caller: at('lapic_next_event') }], MAP)).toEqual([]);
  });

  it('an edge-ack function\'s exit without MSR detail: the timer\'s unless an msr_eoi one is called from elsewhere', () => {
    const deadline: Row = { ts: 1_000_000, reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w' };
    const ack = (fn: string, caller?: number): Row => ({ ts: 1_003_000, reason: 'MSR_WRITE', rip: at(fn), caller });
    expect(clusters([deadline, ack('ack_APIC_irq')], MAP)).toEqual([[0, 1]]);
    // ack_APIC_irq's name has no msr_eoi: its caller is not asked.
    expect(clusters([deadline, ack('ack_APIC_irq', at('ioapic_ack_level'))], MAP)).toEqual([[0, 1]]);
    expect(clusters([deadline, ack('native_apic_msr_eoi')], MAP)).toEqual([[0, 1]]);
    expect(clusters([deadline, ack('native_apic_msr_eoi', at('ioapic_ack_level'))], MAP)).toEqual([[0, 0]]);
    expect(clusters([deadline, ack('native_apic_msr_eoi', UNMAPPED)], MAP)).toEqual([[0, 1]]);
    // An exit in neither kind of function, no MSR, port or EOI address: ends the tick.
    expect(clusters([deadline, ack('e1000_intr')], MAP)).toEqual([[0, 0]]);
  });

  it('a bare EOI-register write joins only where no function is known for its RIP', () => {
    const deadline: Row = { ts: 1_000_000, reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w' };
    const eoi = (rip: number, gpa = 0xfee000b0): Row => ({ ts: 1_003_000, reason: 'APIC_ACCESS', gpa, dir: 'w', rip });
    expect(clusters([deadline, eoi(UNMAPPED)])).toEqual([[0, 1]]);
    expect(clusters([deadline, eoi(UNMAPPED)], MAP)).toEqual([[0, 1]]);
    expect(clusters([deadline, eoi(at('e1000_intr'))], MAP)).toEqual([[0, 0]]);
    expect(clusters([deadline, eoi(UNMAPPED, 0xfee000c0)])).toEqual([[0, 0]]);
    expect(clusters([deadline, eoi(UNMAPPED, 0x1fee000b0)])).toEqual([[0, 0]]);
    // In an edge-ack function (native_apic_mem_write) it is the timer's, map or not.
    expect(clusters([deadline, eoi(at('native_apic_mem_write'))], MAP)).toEqual([[0, 1]]);
  });

  it('with a map, the window is irq_exit\'s (by RIP or caller, or unknown RIP), not one a device path opens', () => {
    const win = (rip: number, caller?: number) => clusters([{ ts: 1_000_000, reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w' }, { ts: 1_003_000, reason: 'INTERRUPT_WINDOW', rip, caller }], MAP);
    expect(win(at('irq_exit'))).toEqual([[0, 1]]);
    expect(win(at('__do_softirq'))).toEqual([[0, 1]]);
    expect(win(UNMAPPED)).toEqual([[0, 1]]);
    expect(win(at('spin_unlock_irqrestore'))).toEqual([[0, 0]]);
    expect(win(at('spin_unlock_irqrestore'), at('__do_softirq'))).toEqual([[0, 1]]);
    expect(win(at('spin_unlock_irqrestore'), at('e1000_intr'))).toEqual([[0, 0]]);
  });
});

describe('the timer\'s source', () => {
  const src = (list: Row[]) => detect(list, MAP).source;
  const eoiFromHandler: Row = { ts: 1_003_000, reason: 'APIC_ACCESS', gpa: 0xfee000b0, dir: 'w', rip: at('native_apic_mem_write'), caller: at('smp_apic_timer_interrupt') };
  it('by priority: TSC deadline, then PIT, then one-shot LAPIC, then periodic LAPIC', () => {
    const tsc: Row = { ts: 1_000_000, reason: 'MSR_READ', msr: 0x6e0, dir: 'r', rip: at('lapic_next_event') };
    const pit: Row = { ts: 2_000_000, reason: 'IO_INSTRUCTION', port: 0x40, dir: 'w', rip: at('timer_interrupt') };
    const oneshot: Row = { ts: 3_000_000, reason: 'MSR_WRITE', msr: 0x838, dir: 'w' };
    const periodic: Row = { ...eoiFromHandler, ts: 4_000_000 };
    // A TSC-deadline read in a re-arm function: the tick is the re-arm's, its source the deadline MSR.
    expect(src([tsc, pit, oneshot, periodic])).toBe('tsc-deadline');
    expect(src([pit, oneshot, periodic])).toBe('pit');
    expect(src([oneshot, periodic])).toBe('lapic-oneshot');
    expect(src([periodic])).toBe('lapic-periodic');
    expect(src([{ ts: 0, reason: 'CPUID' }])).toBe('unknown');
  });

  it('a PIT tick is known by its ports, its handler or the PIC ack', () => {
    // x2APIC TMICT write (one-shot) plus, in the same tick, a PIC ack on port 0x20 from an unknown RIP: PIT wins.
    const tmict: Row = { ts: 1_000_000, reason: 'MSR_WRITE', msr: 0x838, dir: 'w' };
    expect(src([tmict, { ts: 1_003_000, reason: 'IO_INSTRUCTION', port: 0x43, dir: 'w' }])).toBe('pit');
    // In the handler (timer_interrupt) the exit is PIT-sourced whatever it is, as is its PIC ack on port 0x20.
    expect(src([{ ts: 1_000_000, reason: 'CPUID', rip: at('timer_interrupt') }, { ts: 1_003_000, reason: 'IO_INSTRUCTION', port: 0x20, dir: 'w', rip: at('timer_interrupt') }])).toBe('pit');
    expect(src([{ ts: 1_000_000, reason: 'CPUID', rip: at('timer_interrupt') }])).toBe('pit');
    expect(src([{ ts: 1_000_000, reason: 'CPUID', rip: at('smp_apic_timer_interrupt') }])).toBe('lapic-periodic');
    expect(src([{ ts: 1_000_000, reason: 'CPUID', rip: at('lapic_next_event') }])).toBe('lapic-oneshot');
    expect(src([{ ts: 1_000_000, reason: 'EPT_MISCONFIG', gpa: 0xfee00380, dir: 'w' }])).toBe('lapic-oneshot');
    // A one-shot PIT re-armed by pit_next_event (a re-arm function) through the PIT's counter port is a PIT tick, not a LAPIC one.
    expect(src([{ ts: 1_000_000, reason: 'IO_INSTRUCTION', port: 0x40, dir: 'w', rip: at('pit_next_event') }])).toBe('pit');
    // In the handler of a periodic LAPIC timer, a read of the count registers (x2APIC TMICT, LAPIC TMICT) is no re-arm.
    const inHandler = { rip: at('smp_apic_timer_interrupt') };
    expect(src([{ ts: 1_000_000, reason: 'MSR_READ', msr: 0x838, dir: 'r', ...inHandler }])).toBe('lapic-periodic');
    expect(src([{ ts: 1_000_000, reason: 'EPT_MISCONFIG', gpa: 0xfee00380, dir: 'r', ...inHandler }])).toBe('lapic-periodic');
    // A port exit the LAPIC timer's handler calls: the PIC ack (port 0x20) makes it a PIT tick, the PIC mask port 0x21 does not.
    const fromHandler = (port: number): Row => ({ ts: 1_000_000, reason: 'IO_INSTRUCTION', port, dir: 'w', rip: at('default_idle'), caller: at('smp_apic_timer_interrupt') });
    expect(src([fromHandler(0x20)])).toBe('pit');
    expect(src([fromHandler(0x21)])).toBe('lapic-periodic');
  });
});

describe('the source named in the summary', () => {
  it('one-shot and periodic LAPIC timers, by the rows that anchor their ticks', () => {
    // Three ticks 1, 7 ms apart (tickless): x2APIC TMICT writes (one-shot); EOIs called from the LAPIC timer handler (periodic).
    const oneshot = intervals([1e6, 7e6]).map((ts) => ({ ts, reason: 'MSR_WRITE', msr: 0x838, dir: 'w' }) as Row);
    expect(detect(oneshot, MAP).summary).toBe('tickless: 3 LAPIC timer (one-shot) interrupts re-armed at irregular intervals (no vcpu has a steady tick)');
    const periodic = intervals([1e6, 7e6]).map((ts) => ({ ts, reason: 'CPUID', rip: at('smp_apic_timer_interrupt') }) as Row);
    expect(detect(periodic, MAP).summary).toBe('tickless: 3 LAPIC timer (periodic) interrupts re-armed at irregular intervals (no vcpu has a steady tick)');
    const pit = every(5, 10_000_000).map((ts) => ({ ts, reason: 'IO_INSTRUCTION', port: 0x20, dir: 'w', rip: at('timer_interrupt') }) as Row);
    expect(detect(pit, MAP).summary).toMatch(/^100 Hz PIT tick \(measured 100\.0 Hz; 100% of intervals/);
  });
});

describe('the tick rate', () => {
  it('ten ticks 4 ms apart: 250 Hz, every interval steady, confidence 1', () => {
    const d = detect(ticksAt(every(10, 4_000_000)));
    expect([d.mode, d.source, d.measuredHz, d.hz, d.confidence]).toEqual(['periodic', 'tsc-deadline', 250, 250, 1]);
    expect(d.perVcpu).toEqual([{ vcpu: 0, ticks: 10, medianPeriodNs: 4_000_000, steady: 1, periodic: true }]);
    expect(d.periods).toEqual(Array(9).fill(4_000_000));
    expect(d.summary).toBe('250 Hz LAPIC timer in TSC-deadline mode tick (measured 250.0 Hz; 100% of intervals within 10% of the period; confidence 1.00)');
    expect(KERNEL_HZ).toEqual([100, 250, 300, 1000]);
  });

  it('fewer than 3 ticks in all: none; 3 or more, none periodic: tickless; 5 steady ticks are periodic, 4 are not', () => {
    const two = detect(ticksAt(every(2, 4_000_000)));
    expect(two).toMatchObject({ mode: 'none', measuredHz: null, hz: null, confidence: 0, summary: 'no timer interrupts found', source: 'tsc-deadline' });
    // Two ticks on vcpu 0 and one on vcpu 1: 3 in all.
    const three = detect([...ticksAt(every(2, 4_000_000)), ...ticksAt([1_000_000], 1)]);
    expect(three).toMatchObject({ mode: 'tickless', measuredHz: null, hz: null, confidence: 0 });
    expect(three.summary).toBe('tickless: 3 LAPIC timer in TSC-deadline mode interrupts re-armed at irregular intervals (no vcpu has a steady tick)');
    // vcpu 1's one tick: no interval, median NaN, steady 0.
    expect(three.perVcpu[1]).toEqual({ vcpu: 1, ticks: 1, medianPeriodNs: NaN, steady: 0, periodic: false });
    expect(detect(ticksAt(every(4, 4_000_000))).mode).toBe('tickless');
    expect(detect(ticksAt(every(5, 4_000_000))).mode).toBe('periodic');
  });

  it('steady: 60% of the intervals within 10% of the median (inclusive); the median of an even count is the upper one', () => {
    // 6 ticks, intervals 1.0, 1.1, 1.0, 2.0, 3.0 ms: sorted [1.0, 1.0, 1.1, 2.0, 3.0], median 1.1 ms; within 110,000 of it:
    // 1.0, 1.1, 1.0 (1.0 is exactly 100,000 off... 1,100,000 - 1,000,000 = 100,000 <= 110,000): 3 of 5 = 0.6, periodic.
    const a = detect(ticksAt(intervals([1_000_000, 1_100_000, 1_000_000, 2_000_000, 3_000_000])));
    expect(a.perVcpu[0]).toMatchObject({ ticks: 6, medianPeriodNs: 1_100_000, steady: 0.6, periodic: true });
    // The steady ones pooled: [1.0, 1.1, 1.0], median 1.0 ms (index 1): 1000 Hz. Closeness 1: confidence 0.6 x 1 = 0.6.
    expect([a.measuredHz, a.hz, a.confidence]).toEqual([1000, 1000, 0.6]);
    expect(a.periods).toEqual([1_000_000, 1_100_000, 1_000_000]);
    // Intervals 1.0 x 3 and 1.1 x 2 ms: median 1.0 ms, 1.1 is exactly 10% off: all 5 steady. At 1,100,001: 3 of 5.
    const edge = detect(ticksAt(intervals([1e6, 1e6, 1e6, 1_100_000, 1_100_000])));
    expect(edge.perVcpu[0]).toMatchObject({ medianPeriodNs: 1e6, steady: 1, periodic: true });
    // All five are pooled for the rate, the 1.1 ms ones included.
    expect(edge.periods).toEqual([1e6, 1e6, 1e6, 1_100_000, 1_100_000]);
    expect(detect(ticksAt(intervals([1e6, 1e6, 1e6, 1_100_001, 1_100_001]))).perVcpu[0]).toMatchObject({ medianPeriodNs: 1e6, steady: 0.6, periodic: true });
    // 1.0, 1.0, 2.0, 3.0, 4.0 ms: median 2.0, only itself within 10%: 1 of 5, not periodic.
    expect(detect(ticksAt(intervals([1e6, 1e6, 2e6, 3e6, 4e6]))).perVcpu[0]).toMatchObject({ medianPeriodNs: 2e6, steady: 0.2, periodic: false });
    // Intervals 4.0, 4.0, 4.1, 4.1 ms: the median is the upper middle, 4.1 ms; all four within 10%. Pooled median 4.1 ms too:
    // 1e9 / 4.1e6 = 243.90 Hz, 2.44% below 250: closeness 1 - 0.02439 / 0.05 = 0.5122, confidence 0.5 + 0.2561 = 0.76.
    const c = detect(ticksAt(intervals([4_000_000, 4_000_000, 4_100_000, 4_100_000])));
    expect(c.perVcpu[0].medianPeriodNs).toBe(4_100_000);
    expect([c.hz, c.confidence]).toEqual([250, 0.76]);
    expect(c.measuredHz).toBeCloseTo(243.902, 3);
    expect(c.summary).toBe('250 Hz LAPIC timer in TSC-deadline mode tick (measured 243.9 Hz; 100% of intervals within 10% of the period; confidence 0.76)');
  });

  it('a rate matches a kernel\'s when within 5%; closeness scales the confidence; other rates are no tick', () => {
    // 980 us: 1020.41 Hz, 2.04% above 1000: closeness 1 - 0.020408 / 0.05 = 0.5918, confidence 0.5 + 0.2959 = 0.80 (rounded).
    const near = detect(ticksAt(every(10, 980_000)));
    expect([near.hz, near.confidence]).toEqual([1000, 0.8]);
    // 4.9% off: 1e9 / 1049 Hz = 953,289 ns -> 1049.0 Hz, closeness 1 - 0.0490/0.05 = 0.02, confidence 0.51.
    const edge = detect(ticksAt(every(10, 953_289)));
    expect(edge.hz).toBe(1000);
    expect(edge.confidence).toBe(0.51);
    // Exactly 5% off: intervals of 1e9 / 1050 ns, added up from 1 ms, measure 1050 Hz exactly (checked: the sum's rounding
    // leaves the median interval at 1e9 / 1050): still 1000 Hz, closeness 0, confidence 0.5.
    const five = detect(ticksAt(intervals(Array(9).fill(1e9 / 1050))));
    expect([five.measuredHz, five.hz, five.confidence]).toEqual([1050, 1000, 0.5]);
    // 5.1% off (1051 Hz = 951,475 ns): no kernel rate.
    const off = detect(ticksAt(every(10, 951_475)));
    expect([off.hz, off.confidence, off.mode]).toEqual([null, 0, 'periodic']);
    // Below the rate: 100 Hz at 4.9% under (95.1 Hz = 10,515,247 ns) and 250 Hz at 4.9% over (262.25 Hz = 3,813,155 ns).
    expect(detect(ticksAt(every(6, 10_515_247))).hz).toBe(100);
    expect(detect(ticksAt(every(6, 3_813_155))).hz).toBe(250);
    expect(detect(ticksAt(every(6, 3_330_000))).hz).toBe(300);
    // 2 ms: 500 Hz, between rates.
    const mid = detect(ticksAt(every(10, 2_000_000)));
    expect([mid.measuredHz, mid.hz, mid.confidence]).toEqual([500, null, 0]);
    expect(mid.summary).toBe('LAPIC timer in TSC-deadline mode interrupts recur every 2000 us (500.0 Hz), not a rate kernels are built with (100, 250, 300, 1000 Hz): not a tick');
  });

  it('several vcpus: periodic ones pool their steady intervals; a vcpu with 3 irregular ticks makes it mixed, one with 2 does not', () => {
    // vcpu 0: 10 ticks 4.0 ms apart. vcpu 1: 10 ticks, intervals 4.2 ms x 6 and 8 ms x 3: median 4.2 ms, steady 6 / 9.
    // Pooled: 9 x 4.0 and 6 x 4.2 (the 8 ms ones left out): 15, median (index 7) 4.0 ms: 250 Hz. (With the 8 ms ones, index 9
    // of 18 would be 4.2 ms.) Steady weighted by ticks: (1 x 10 + 6/9 x 10) / 20 = 0.8333: confidence 0.83.
    const base = [...ticksAt(every(10, 4_000_000)), ...ticksAt(intervals([4.2e6, 8e6, 4.2e6, 4.2e6, 8e6, 4.2e6, 4.2e6, 8e6, 4.2e6]), 1)];
    const d = detect(base);
    expect([d.mode, d.measuredHz, d.hz, d.confidence]).toEqual(['periodic', 250, 250, 0.83]);
    expect(d.periods.length).toBe(15);
    expect(d.summary).toBe('250 Hz LAPIC timer in TSC-deadline mode tick (measured 250.0 Hz; 83% of intervals within 10% of the period; confidence 0.83)');
    // vcpu 2 with two ticks: not counted either way.
    expect(detect([...base, ...ticksAt([1_000_000, 1_500_000], 2)]).mode).toBe('periodic');
    // vcpu 3 with 3 ticks 1 and 7 ms apart: tickless there, mixed in all.
    const m = detect([...base, ...ticksAt([1_000_000, 1_500_000], 2), ...ticksAt(intervals([1e6, 7e6]), 3)]);
    expect(m.mode).toBe('mixed');
    expect(m.summary).toBe('250 Hz LAPIC timer in TSC-deadline mode tick on vcpu 0, 1 (busy); tickless on vcpu 3 (idle) (measured 250.0 Hz; 83% of intervals within 10% of the period; confidence 0.83)');
    // vcpu 4 likewise: both named.
    const m2 = detect([...base, ...ticksAt(intervals([1e6, 7e6]), 3), ...ticksAt(intervals([2e6, 9e6]), 4)]);
    expect(m2.summary).toMatch(/ tick on vcpu 0, 1 \(busy\); tickless on vcpu 3, 4 \(idle\) /);
  });

  it('the detection is kept per trace and context: asked again it is the same object, with another context computed anew', () => {
    const t = rows(ticksAt(every(10, 4_000_000)));
    const ctx = context(t);
    const d = detectTimer(t, ctx);
    expect(detectTimer(t, ctx)).toBe(d);
    const f = findTickClusters(t, ctx);
    expect(f.clusters).toBe(d.clusters);
    expect(f.periods).toBe(d.periods);
    const other = detectTimer(t, context(t));
    expect(other).not.toBe(d);
    expect(other.hz).toBe(250);
  });
});

describe('the pass: keeping TARGET / FROM of the ticks', () => {
  it('250 -> 100 Hz with halts between ticks: 4 ticks of 10 kept, the halts around a removed tick become one', () => {
    // Tick k at t_k = 1 ms + 4 ms x k (4 rows, 3,800 ns traced), then a HLT from t_k + 10 us to t_{k+1} - 10 us (3,980,000 ns).
    const list: Row[] = every(10, 4_000_000).flatMap((t) => [...tscTick(t), { ts: t + 10_000, reason: 'HLT', dur: 3_980_000 }]);
    const t = rows(list);
    const ctx = context(t);
    const { trace, ledger } = new TimerHzPass('timer-hz:100', 100).apply(t, ctx);
    // Ratio 100 / 250 = 0.4: tick k stays when floor(0.4 (k + 1)) > floor(0.4 k): k = 2, 4, 7, 9. Dropped: 0, 1, 3, 5, 6, 8.
    // HLT merges: tick 0 has nothing before it; HLT1 into HLT0, HLT3 into HLT2, HLT5 and HLT6 into HLT4, HLT8 into HLT7: 5.
    expect([ledger.verdict, ledger.exitsBefore, ledger.removed, ledger.changed, ledger.added, ledger.exitsAfter]).toEqual(['applied', 50, 6 * 4 + 5, 5, 0, 50 - 29]);
    // Before: 10 x 3,800 + 10 x 3,980,000. After: 4 x 3,800 and the halts: HLT0 to HLT1's end (t_2 - 10 us): 7,980,000; HLT2
    // likewise 7,980,000; HLT4 to HLT6's end 11,980,000; HLT7 7,980,000; HLT9 3,980,000.
    expect(ledger.timeBeforeNs).toBe(38_000 + 39_800_000);
    expect(ledger.timeAfterNs).toBe(15_200 + 7_980_000 * 3 + 11_980_000 + 3_980_000);
    const out = kept(trace);
    const t0 = 1_000_000, P = 4_000_000;
    const halts = out.filter(([, r]) => r === 'HLT');
    expect(halts).toEqual([[t0 + 10_000, 'HLT', 7_980_000], [t0 + 2 * P + 10_000, 'HLT', 7_980_000], [t0 + 4 * P + 10_000, 'HLT', 11_980_000], [t0 + 7 * P + 10_000, 'HLT', 7_980_000], [t0 + 9 * P + 10_000, 'HLT', 3_980_000]]);
    expect(out.filter(([, r]) => r === 'EXTERNAL_INTERRUPT').map(([ts]) => (ts - t0) / P)).toEqual([2, 4, 7, 9]);
    expect(out.length).toBe(21);
    // Guest time between a removed tick's rows, less T each: (2,000 - T) + (1,500 - T) + max(0, 800 - T) = 1,500 per tick.
    expect(sum(ledger.guestSavedNs)).toBe(6 * 1500);
    // By window: span t0 .. t_9 + 3,990,000 = 39,990,000 ns, 39 windows of 1,025,384.6 ns: ticks 0, 1, 3, 5, 6, 8 fall in
    // windows floor(4 k / 1.0253846) = 0, 3, 11, 19, 23, 31.
    expect([...ledger.guestSavedNs.entries()].filter(([, v]) => v).map(([w]) => w)).toEqual([0, 3, 11, 19, 23, 31]);
    expect(ledger.guestSavedNs[3]).toBe(1500);
    expect(ledger.notes).toEqual([
      '250 Hz LAPIC timer in TSC-deadline mode tick (measured 250.0 Hz; 100% of intervals within 10% of the period; confidence 1.00); keeping 40.0% of ticks',
      '5 HLT exits merge into the HLT before them (the removed tick no longer wakes the halted vcpu)',
    ]);
    expect(ledger.assumptions).toEqual([
      'a tick is the timer interrupt\'s own exits on one vcpu: its arrival, its handler or clock-event re-arm, its edge-triggered EOI and the interrupt window its irq_exit opens, under 50 us apart; device exits and level-triggered EOIs end it',
      'removing a tick removes its exits and the guest time between them (the handler\'s work); work the tick triggers later (timers, scheduling) is assumed unchanged',
      'a halted vcpu the removed tick would have woken stays halted: the HLT exits before and after it become one',
    ]);
    // The input trace is not changed.
    expect(t.vcpus.get(0)!.length).toBe(50);
  });

  it('halts merge only across a removed tick, between two halts of known duration', () => {
    // Ten 1000 Hz ticks; after tick k a HLT from t_k + 20 us lasting 900 us. Tick 2's HLT has no known duration; before tick
    // 4's HLT a CPUID (kept). timer-hz:100 keeps tick 9 only (floor(0.1 (k + 1)) > floor(0.1 k) at k = 9).
    const list: Row[] = every(10, 1_000_000).flatMap((t, k) => [
      ...tscTick(t),
      ...(k === 4 ? [{ ts: t + 10_000, reason: 'CPUID', dur: 1000 }] : []),
      { ts: t + 20_000, reason: 'HLT', dur: k === 2 ? NaN : 900_000 },
    ]);
    const t = rows(list);
    const { trace, ledger } = new TimerHzPass('timer-hz:100', 100).apply(t, context(t, { transitionNs: 1200 }));
    // HLT1 into HLT0; HLT2 (unknown) stays; HLT3 after HLT2 (unknown) stays; HLT4 after the kept CPUID stays; HLT5..8 into HLT4.
    expect([ledger.removed, ledger.changed]).toEqual([9 * 4 + 5, 5]);
    const T0 = 1_000_000, P = 1_000_000;
    expect(kept(trace)).toEqual([
      [T0 + 20_000, 'HLT', P + 900_000],
      [T0 + 2 * P + 20_000, 'HLT', NaN],
      [T0 + 3 * P + 20_000, 'HLT', 900_000],
      [T0 + 4 * P + 10_000, 'CPUID', 1000],
      [T0 + 4 * P + 20_000, 'HLT', 4 * P + 900_000],
      [T0 + 9 * P, 'EXTERNAL_INTERRUPT', 1000], [T0 + 9 * P + 3000, 'MSR_WRITE', 1500], [T0 + 9 * P + 6000, 'MSR_WRITE', 800], [T0 + 9 * P + 7600, 'INTERRUPT_WINDOW', 500],
      [T0 + 9 * P + 20_000, 'HLT', 900_000],
    ]);
    // T = 1,200: (2,000 - T) + (1,500 - T) + 0 = 1,100 per removed tick.
    expect(sum(ledger.guestSavedNs)).toBe(9 * 1100);
    expect(ledger.notes[0]).toMatch(/^1000 Hz .*; keeping 10\.0% of ticks$/);
  });

  it('not applicable: no ticks (with a map or without), a tickless guest, a rate no kernel has unless from= names it', () => {
    const none = rows([{ ts: 0, reason: 'CPUID' }, { ts: 1000, reason: 'CPUID' }]);
    expect(new TimerHzPass('timer-hz:100', 100).apply(none, context(none, { map: MAP })).ledger).toMatchObject({ verdict: 'not-applicable', why: 'no timer interrupt path found in this trace: nothing to thin', removed: 0, exitsAfter: 2 });
    expect(new TimerHzPass('timer-hz:100', 100).apply(none, context(none)).ledger.why).toBe('needs the guest kernel map (--map) to find the timer path');
    const tl = rows(ticksAt(intervals([1e6, 7e6, 2e6])));
    const l = new TimerHzPass('timer-hz:100', 100).apply(tl, context(tl)).ledger;
    expect(l.verdict).toBe('not-applicable');
    expect(l.why).toBe('the guest is tickless: 4 LAPIC timer in TSC-deadline mode interrupts re-armed at irregular intervals (no vcpu has a steady tick): its timer fires when timers are due, not at CONFIG_HZ, so a lower tick rate does not remove these exits');
    const odd = rows(ticksAt(every(10, 2_000_000)));
    const o = new TimerHzPass('timer-hz:100', 100).apply(odd, context(odd)).ledger;
    expect([o.verdict, o.why]).toEqual(['not-applicable', 'LAPIC timer in TSC-deadline mode interrupts recur every 2000 us (500.0 Hz), not a rate kernels are built with (100, 250, 300, 1000 Hz): not a tick; give from=HZ if it is one']);
    // from=500: keep 100 / 500 = 0.2: ticks 4 and 9 (floor(0.2 (k + 1)) > floor(0.2 k)): 8 of 10 ticks go, 32 exits.
    const { trace, ledger } = new TimerHzPass('timer-hz:100:from=500', 100, 500).apply(odd, context(odd));
    expect([ledger.verdict, ledger.removed]).toEqual(['applied', 32]);
    expect(kept(trace).filter(([, r]) => r === 'EXTERNAL_INTERRUPT').map(([ts]) => (ts - 1_000_000) / 2_000_000)).toEqual([4, 9]);
    expect(ledger.notes[0]).toMatch(/: not a tick; from=500 Hz given; keeping 20\.0% of ticks$/);
  });

  it('from= overrides a detected rate; a target at or above it keeps every tick', () => {
    const t = rows(ticksAt(every(10, 4_000_000)));
    // Detected 250, from=1000 given: keep 10%: tick 9 only.
    const a = new TimerHzPass('timer-hz:100:from=1000', 100, 1000).apply(t, context(t)).ledger;
    expect(a.removed).toBe(36);
    expect(a.notes[0]).toMatch(/confidence 1\.00\); from=1000 Hz given; keeping 10\.0% of ticks$/);
    const b = new TimerHzPass('timer-hz:1000', 1000).apply(t, context(t)).ledger;
    expect([b.verdict, b.removed, b.exitsAfter]).toEqual(['nothing-to-change', 0, 40]);
    expect(b.notes[0]).toMatch(/; keeping 100\.0% of ticks$/);
    expect(new TimerHzPass('timer-hz:250', 250).apply(t, context(t)).ledger.removed).toBe(0);
  });

  it('mixed: only the vcpus that tick steadily are thinned', () => {
    // vcpu 0: 10 ticks at 250 Hz; vcpu 1: 3 ticks 1 and 7 ms apart (tickless, kept whole).
    const t = rows([...ticksAt(every(10, 4_000_000)), ...ticksAt(intervals([1e6, 7e6]), 1)]);
    const { trace, ledger } = new TimerHzPass('timer-hz:125', 125).apply(t, context(t));
    // 125 / 250 = 0.5: ticks 1, 3, 5, 7, 9 stay on vcpu 0: 5 go, 20 exits.
    expect(ledger.removed).toBe(20);
    expect(trace.vcpus.get(1)!.length).toBe(12);
    expect(trace.vcpus.get(0)!.length).toBe(20);
    expect(ledger.notes[0]).toMatch(/\(busy\); tickless on vcpu 1 \(idle\) .*; keeping 50\.0% of ticks on the vcpus that tick$/);
  });
});

describe('timer-hz in the pass registry', () => {
  it('parses TARGET[:from=HZ], prints it back, and builds the pass under its text', () => {
    expect(timerHz.parse(['100', 'from=1000'])).toEqual({ pass: 'timer-hz', hz: 100, from: 1000 });
    expect(timerHz.parse(['250'])).toEqual({ pass: 'timer-hz', hz: 250, from: undefined });
    expect(timerHz.print({ pass: 'timer-hz', hz: 100, from: 1000 })).toBe('timer-hz:100:from=1000');
    expect(timerHz.print({ pass: 'timer-hz', hz: 100 })).toBe('timer-hz:100');
    expect(timerHz.schema.safeParse({ pass: 'timer-hz', hz: 0 }).success).toBe(false);
    expect(timerHz.schema.safeParse({ pass: 'timer-hz', hz: 100, from: -1 }).success).toBe(false);
    expect(timerHz.schema.safeParse({ pass: 'timer-hz', hz: 100, extra: 1 }).success).toBe(false);
    expect(timerHz.estimable).toBe(true);
    const [p] = timerHz.build({ pass: 'timer-hz', hz: 100, from: 1000 }, {} as BuildEnv, 'timer-hz:100:from=1000');
    expect(p).toBeInstanceOf(TimerHzPass);
    expect([p.spec, p.name]).toEqual(['timer-hz:100:from=1000', 'timer-hz']);
    // Built with from=1000: on the 250 Hz trace it keeps 10%.
    const t = rows(ticksAt(every(10, 4_000_000)));
    expect(p.apply(t, context(t)).ledger.removed).toBe(36);
    expect(REASONS.lookup('INTERRUPT_WINDOW')).toBeGreaterThanOrEqual(0);
  });
});
