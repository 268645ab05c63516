/**
 * Time-driven exits (src/replay/periodic.ts), the cases test/mutation-replay-periodic.test.ts
 * leaves open (issue 16): which vcpus' ticks become time windows, the cache by
 * context, the halt a tick ends at the trace's edges, and housekeeping bursts
 * keyed by function. Rates are per ns of the vcpu's span (last exit's timestamp
 * minus the first's); the transition is 1,000 ns unless said. Every expected
 * value is worked out by hand from the rows.
 */
import { describe, expect, it } from 'vitest';
import { periodicRates, tickWindows, type TickWindows } from '../src/replay/periodic.js';
import { context, rows, type Row, ticksAt, every } from './replay-rows.js';

const T = 1000;

const win = (starts: number[]) => starts.map((t) => [t, t + 7600]);

describe('tickWindows: the ticks of the vcpus that tick, as time windows', () => {
  it('periodic: every vcpu\'s ticks, a vcpu with too few ticks to be steady too', () => {
    // vcpu 0: 10 ticks 4 ms apart; vcpu 1: 2 ticks (not periodic, too few to count against the mode).
    const t = rows([...ticksAt(every(10, 4_000_000)), ...ticksAt([1_000_000, 5_000_000], 1)]);
    expect(tickWindows(t, context(t))).toEqual(new Map([[0, win(every(10, 4_000_000))], [1, win([1_000_000, 5_000_000])]]));
  });

  it('mixed: the vcpu with 3 irregular ticks is left out', () => {
    const t = rows([...ticksAt(every(10, 4_000_000)), ...ticksAt([1_000_000, 2_000_000, 9_000_000], 1)]);
    expect(tickWindows(t, context(t))).toEqual(new Map([[0, win(every(10, 4_000_000))]]));
  });

  it('tickless or no timer at all: no windows', () => {
    const tl = rows(ticksAt([1_000_000, 2_000_000, 9_000_000, 10_000_000]));
    expect(tickWindows(tl, context(tl)).size).toBe(0);
    const none = rows([{ ts: 0, reason: 'CPUID' }, { ts: 5000, reason: 'CPUID' }]);
    expect(tickWindows(none, context(none)).size).toBe(0);
  });

  it('the rates with the trace\'s own ticks: 10 ticks of 4 exits on a 36,007,600 ns span', () => {
    const t = rows(ticksAt(every(10, 4_000_000)));
    const r = periodicRates(t, context(t)).get(0)!;
    // Per tick: 4 exits, 3,800 traced + 4 T handling; busy from the arrival to the window's end (8,100) + T.
    const span = 36_007_600;
    expect(r).toEqual({ exitsPerNs: 40 / span, timePerNs: (10 * (3800 + 4 * T)) / span, busyPerNs: (10 * (8100 + T)) / span, what: ['10 timer ticks'] });
  });
});

describe('the rates cache and the tick\'s halt at the edges', () => {
  it('another context (another transition) computes the rates anew', () => {
    const t = rows([{ ts: 0, reason: 'CPUID', dur: 1000 }, { ts: 1_000_000, reason: 'CPUID', dur: 1000 }]);
    const ticks: TickWindows = new Map([[0, [[0, 0]]]]);
    const a = periodicRates(t, context(t), ticks);
    const b = periodicRates(t, context(t, { transitionNs: 3000 }), ticks);
    // One exit of 1,000 ns: 1,000 + T handling.
    expect(a.get(0)!.timePerNs).toBe(2000 / 1_000_000);
    expect(b.get(0)!.timePerNs).toBe(4000 / 1_000_000);
  });

  it('a tick adds a halt only between two HLTs: not at the first row, the last row, or with another exit on one side', () => {
    const t = rows([
      { ts: 0, reason: 'EXTERNAL_INTERRUPT', dur: 1000 }, // tick 1: first row, HLT after
      { ts: 10_000, reason: 'HLT', dur: 1000 },
      { ts: 100_000, reason: 'HLT', dur: 1000 },
      { ts: 200_000, reason: 'EXTERNAL_INTERRUPT', dur: 1000 }, // tick 2: HLT before, CPUID after
      { ts: 210_000, reason: 'CPUID', dur: 1000 },
      { ts: 220_000, reason: 'HLT', dur: 1000 },
      { ts: 300_000, reason: 'EXTERNAL_INTERRUPT', dur: 1000 }, // tick 3: last row, HLT before
    ]);
    const r = periodicRates(t, context(t), new Map([[0, [[0, 0], [200_000, 200_000], [300_000, 300_000]]]])).get(0)!;
    // 3 ticks of one exit each: 3 exits, 3 x (1,000 + T) handling and busy; no halt of their own. Span 300,000.
    expect([r.exitsPerNs, r.timePerNs, r.busyPerNs]).toEqual([3 / 300_000, 6000 / 300_000, 6000 / 300_000]);
    expect(r.what).toEqual(['3 timer ticks']);
  });

  it('the halt is the one before the tick and the one after it: a HLT after the tick and after its first exit is not one', () => {
    // CPUID, then a tick of one exit, then two HLTs: the exit before the tick is no HLT: no halt of its own.
    const t = rows([{ ts: 0, reason: 'CPUID', dur: 1000 }, { ts: 100_000, reason: 'EXTERNAL_INTERRUPT', dur: 1000 }, { ts: 110_000, reason: 'HLT', dur: 1000 }, { ts: 200_000, reason: 'HLT', dur: 1000 }]);
    const r = periodicRates(t, context(t), new Map([[0, [[100_000, 100_000]]]])).get(0)!;
    expect([r.exitsPerNs, r.timePerNs]).toEqual([1 / 200_000, 2000 / 200_000]);
  });
});

// Functions of a made-up kernel: housekeep (function id 0), other_fn (1), third_fn (2).
const MAP = 'c0100000 T housekeep\nc0101000 T other_fn\nc0102000 T third_fn\nc0200000 T _etext\n';
const HK = 0xc0100010, OTHER = 0xc0101010, UNMAPPED = 0xc0300000;
const rate = (list: Row[], transitionNs = T) => { const t = rows(list); return periodicRates(t, context(t, { map: MAP, transitionNs }), new Map()).get(0); };

describe('housekeeping bursts keyed by function', () => {
  it('periods that fill most of the span: 5 bursts 5.0, 0.1, 3.3 and 5.0 ms apart are housekeeping every 5 ms', () => {
    // Sorted periods [0.1, 3.3, 5.0, 5.0]: the median (index 2) 5.0 ms; 3.3, 5.0, 5.0 within 35% of it: 3 of 4.
    // Half the periods at 5 ms fit the 13.4 ms span: (5 - 1) / 2 x 5 ms = 10 ms. One exit of 2,000 ns per burst.
    const starts = [0, 5_000_000, 5_100_000, 8_400_000, 13_400_000].map((x) => 1_000_000 + x);
    const r = rate(starts.map((ts) => ({ ts, reason: 'IO_INSTRUCTION', rip: HK, dur: 2000 })))!;
    const span = 13_400_000;
    expect(r.what).toEqual(['housekeep every 5.0 ms']);
    expect([r.exitsPerNs, r.timePerNs, r.busyPerNs]).toEqual([5 / span, (5 * (2000 + T)) / span, (5 * (2000 + T)) / span]);
  });

  it('each burst is keyed by its own first exit, after a burst of another function ended by time', () => {
    // Every 10 ms: housekeep, other_fn 3 us later, then nothing for 10 ms: 5 bursts of each, every 10 ms.
    const list = every(5, 10_000_000).flatMap((s) => [{ ts: s, reason: 'IO_INSTRUCTION', rip: HK, dur: 1000 }, { ts: s + 3000, reason: 'IO_INSTRUCTION', rip: OTHER, dur: 1000 }] as Row[]);
    const r = rate(list)!;
    expect(r.what).toEqual(['housekeep every 10.0 ms', 'other_fn every 10.0 ms']);
    // 10 exits, 10 x (1,000 + T); busy: each burst one exit, 1,000 + T. Span 40,003,000.
    expect([r.exitsPerNs, r.timePerNs, r.busyPerNs]).toEqual([10 / 40_003_000, 20_000 / 40_003_000, 20_000 / 40_003_000]);
  });

  it('a caller no function holds falls back to the trap\'s function; exits in no function are no burst', () => {
    const hk = every(5, 10_000_000).map((ts) => ({ ts, reason: 'IO_INSTRUCTION', rip: HK, caller: UNMAPPED, dur: 2000 }));
    expect(rate(hk)!.what).toEqual(['housekeep every 10.0 ms']);
    // Three housekeep exits every 10 ms, then 3 us after the last an exit in no function (few enough that the map stays unslid):
    // it ends housekeep's burst and is no burst itself (one of its own every 10 ms would otherwise count).
    const mixed = every(5, 10_000_000).flatMap((ts) => [
      { ts, reason: 'IO_INSTRUCTION', rip: HK, dur: 2000 }, { ts: ts + 5000, reason: 'IO_INSTRUCTION', rip: HK, dur: 2000 }, { ts: ts + 10_000, reason: 'IO_INSTRUCTION', rip: HK, dur: 2000 },
      { ts: ts + 15_000, reason: 'IO_INSTRUCTION', rip: UNMAPPED, dur: 2000 },
    ] as Row[]);
    const t = rows(mixed);
    const ctx = context(t, { map: MAP });
    expect(ctx.fnId(0, UNMAPPED)).toBe(-1);
    const m = periodicRates(t, ctx, new Map()).get(0)!;
    expect(m.what).toEqual(['housekeep every 10.0 ms']);
    // 15 housekeep exits, span 40,015,000; per burst busy 10,000 + 2,000 + T.
    expect([m.exitsPerNs, m.busyPerNs]).toEqual([15 / 40_015_000, (5 * 13_000) / 40_015_000]);
  });

  it('a burst\'s handling is its exits plus one transition each; its busy time runs from its first exit to its last one\'s end', () => {
    // Bursts of 3 exits: at s (1,000 ns), s + 20,000 (2,000 ns), s + 40,000 (500 ns). T = 700.
    const list = every(5, 10_000_000).flatMap((s) => [
      { ts: s, reason: 'IO_INSTRUCTION', rip: HK, dur: 1000 }, { ts: s + 20_000, reason: 'IO_INSTRUCTION', rip: HK, dur: 2000 }, { ts: s + 40_000, reason: 'IO_INSTRUCTION', rip: HK, dur: 500 },
    ] as Row[]);
    const r = rate(list, 700)!;
    // Per burst: handling 3,500 + 3 x 700 = 5,600; busy 40,500 + 700 = 41,200. Span 40,040,000.
    const span = 40_040_000;
    expect([r.exitsPerNs, r.timePerNs, r.busyPerNs]).toEqual([15 / span, (5 * 5600) / span, (5 * 41_200) / span]);
  });
});
