/**
 * Time-driven exits (src/replay/periodic.ts, rules in its header) on traces
 * built in the test: every rate below is worked out by hand from the rows.
 * Rates are per ns of the vcpu's span (its last exit's timestamp minus its
 * first); the transition is given as 1,000 ns.
 */
import { describe, expect, it } from 'vitest';
import { periodicRates, tickWindows, type TickWindows } from '../src/replay/periodic.js';
import { GUEST_MAP } from '../src/emulator/index.js';
import { readTrace } from '../src/formats/index.js';
import { ReplayContext } from '../src/replay/context.js';
import { ReplayTrace } from '../src/replay/trace.js';
import { loadSymbolizer } from '../src/symbols/index.js';
import { fx } from './helpers.js';
import { context, rows, type Row } from './replay-rows.js';

const T = 1000;

describe('timer ticks given as time windows', () => {
  it('counts the exits in each window, one transition each, the handler time between them, and the HLT a tick interrupts', () => {
    const list: Row[] = [
      { ts: 0, reason: 'HLT', dur: 900_000 },
      // Tick 1, [1,000,000, 1,006,000]: both ends inclusive, halted before and after.
      { ts: 1_000_000, reason: 'EXTERNAL_INTERRUPT', dur: 2000 },
      { ts: 1_004_000, reason: 'MSR_WRITE', dur: 1000 },
      { ts: 1_006_000, reason: 'CPUID', dur: 500 },
      { ts: 1_006_001, reason: 'HLT', dur: 1_000_000 },
      { ts: 2_999_999, reason: 'CPUID', dur: 1 },
      // Tick 2, [3,000,000, 3,000,000]: one exit; a HLT after it but not before: no halt of its own.
      { ts: 3_000_000, reason: 'EXTERNAL_INTERRUPT', dur: 3000 },
      { ts: 3_010_000, reason: 'HLT', dur: 1000 },
      // (Tick 3, [5,000,000, 5,100,000], has no exit.)
      { ts: 10_000_000, reason: 'CPUID', dur: 1000 },
    ];
    const t = rows(list);
    const ticks: TickWindows = new Map([[0, [[1_000_000, 1_006_000], [3_000_000, 3_000_000], [5_000_000, 5_100_000]]]]);
    const r = periodicRates(t, context(t), ticks).get(0)!;
    // Tick 1: 3 exits (3,500 ns + 3 T), busy from its first exit to its last one's end + T (7,500), plus the halt (1 exit, T, T).
    // Tick 2: 1 exit, 3,000 + T, busy 3,000 + T.
    const span = 10_000_000;
    expect(r.what).toEqual(['2 timer ticks']);
    expect(r.exitsPerNs).toBe(5 / span);
    expect(r.timePerNs).toBe((3500 + 3 * T + T + 3000 + T) / span);
    expect(r.busyPerNs).toBe((7500 + T + 3000 + T) / span);
  });

  it('busy time is capped at 90% of the span; a vcpu with one exit, or nothing time-driven, has no rate', () => {
    const t = rows([
      { ts: 0, reason: 'CPUID', dur: 1000, vcpu: 1 }, { ts: 9000, reason: 'CPUID', dur: 1000, vcpu: 1 },
      { ts: 0, reason: 'CPUID', vcpu: 2 },
      { ts: 0, reason: 'CPUID', vcpu: 3 }, { ts: 50_000, reason: 'CPUID', vcpu: 3 },
    ]);
    const rates = periodicRates(t, context(t), new Map([[1, [[0, 9000]]], [2, [[0, 0]]]]));
    expect([...rates.keys()]).toEqual([1]);
    // Busy 9,000 + 1,000 + T = 11,000 over a span of 9,000: more than the span, capped.
    expect(rates.get(1)).toEqual({ exitsPerNs: 2 / 9000, timePerNs: 4000 / 9000, busyPerNs: 0.9, what: ['1 timer ticks'] });
  });

  it('an unknown duration counts as no handling time, only the transition', () => {
    const t = rows([{ ts: 0, reason: 'CPUID', dur: 1000 }, { ts: 100, reason: 'EXTERNAL_INTERRUPT', dur: NaN }, { ts: 1_000_000, reason: 'CPUID', dur: 1000 }]);
    const r = periodicRates(t, context(t), new Map([[0, [[100, 100]]]])).get(0)!;
    expect([r.exitsPerNs, r.timePerNs, r.busyPerNs]).toEqual([1 / 1_000_000, T / 1_000_000, T / 1_000_000]);
  });

  it('the rates of one trace are remembered for the same context and ticks, and computed anew for other ticks', () => {
    const t = rows([{ ts: 0, reason: 'CPUID', dur: 1000 }, { ts: 1_000_000, reason: 'CPUID', dur: 1000 }]);
    const ctx = context(t);
    const ticks: TickWindows = new Map([[0, [[0, 0]]]]);
    const a = periodicRates(t, ctx, ticks);
    expect(periodicRates(t, ctx, ticks)).toBe(a);
    const b = periodicRates(t, ctx, new Map([[0, [[0, 1_000_000]]]]));
    expect(b.get(0)!.exitsPerNs).toBe(2 / 1_000_000);
    expect(a.get(0)!.exitsPerNs).toBe(1 / 1_000_000);
  });
});

// Functions of a made-up kernel: housekeep first (function id 0), then two others.
const MAP = 'c0100000 T housekeep\nc0101000 T other_fn\nc0102000 T third_fn\nc0200000 T _etext\n';
const HK = 0xc0100010, OTHER = 0xc0101010, THIRD = 0xc0102010;

/** Bursts of housekeep's exits: each burst two exits of 2,000 ns, the second `inner` ns after the first one's end; burst k starts at starts[k]. */
function bursts(starts: number[], inner = 10_000, rip = HK, caller?: number): Row[] {
  return starts.flatMap((s) => [{ ts: s, reason: 'IO_INSTRUCTION', rip, dur: 2000, caller }, { ts: s + 2000 + inner, reason: 'IO_INSTRUCTION', rip, dur: 2000, caller }]);
}
const every = (n: number, period: number, from = 1_000_000) => Array.from({ length: n }, (_, k) => from + k * period);
const rate = (list: Row[]) => { const t = rows(list); return periodicRates(t, context(t, { map: MAP }), new Map()).get(0); };

describe('housekeeping: bursts of one function recurring every 5 ms or more', () => {
  it('five bursts 10 ms apart: their exits, handling and busy time count, named by function and period', () => {
    // A lone other_fn exit in between is one burst of its own: too few.
    const r = rate([...bursts(every(5, 10_000_000)), { ts: 20_500_000, reason: 'CPUID', rip: OTHER, dur: 700 }])!;
    // Span: 1,000,000 .. 41,012,000. Per burst: 2 exits, 2 x (2,000 + T) handling, busy 2,000 + 10,000 + 2,000 + T.
    const span = 40_012_000;
    expect(r.what).toEqual(['housekeep every 10.0 ms']);
    expect(r.exitsPerNs).toBe(10 / span);
    expect(r.timePerNs).toBe(30_000 / span);
    expect(r.busyPerNs).toBe(75_000 / span);
  });

  it('four bursts are too few; a period of exactly 5 ms counts, one ns less does not', () => {
    expect(rate(bursts(every(4, 10_000_000)))).toBeUndefined();
    expect(rate(bursts(every(5, 5_000_000)))!.what).toEqual(['housekeep every 5.0 ms']);
    expect(rate(bursts(every(5, 4_999_999)))).toBeUndefined();
  });

  it('exits 50 us or more apart are two bursts (here the median period is then 52 us: not housekeeping)', () => {
    expect(rate(bursts(every(5, 10_000_000), 49_999))!.exitsPerNs).toBe(10 / (40_000_000 + 2000 + 49_999));
    expect(rate(bursts(every(5, 10_000_000), 50_000))).toBeUndefined();
  });

  it('a burst ends at an exit of another function; a HLT starts none; an unknown duration counts as no handling time', () => {
    const starts = every(5, 10_000_000);
    // Each time: a HLT in housekeep itself, then 59 us later two housekeep exits. The HLT is no burst: 5 starts 10 ms apart.
    const h = rate(starts.flatMap((s) => [{ ts: s, reason: 'HLT', rip: HK, dur: 1000 }, { ts: s + 60_000, reason: 'IO_INSTRUCTION', rip: HK, dur: 2000 }, { ts: s + 72_000, reason: 'IO_INSTRUCTION', rip: HK, dur: 2000 }] as Row[]))!;
    expect(h.what).toEqual(['housekeep every 10.0 ms']);
    expect(h.exitsPerNs).toBe(10 / (40_000_000 + 72_000));
    // Each time: housekeep, housekeep (duration unknown), then (the first four times) an exit in other_fn 1 us later.
    const r = rate(starts.flatMap((s, k) => [
      { ts: s, reason: 'IO_INSTRUCTION', rip: HK, dur: 2000 }, { ts: s + 3000, reason: 'IO_INSTRUCTION', rip: HK, dur: NaN },
      ...(k < 4 ? [{ ts: s + 4000, reason: 'CPUID', rip: OTHER, dur: 1000 }] : []),
    ] as Row[]))!;
    // Per burst: 2 exits, (2,000 + T) + (0 + T) handling, busy 3,000 + 0 + T. other_fn: 4 bursts, too few.
    const span = 40_000_000 + 3000;
    expect(r.what).toEqual(['housekeep every 10.0 ms']);
    expect([r.exitsPerNs, r.timePerNs, r.busyPerNs]).toEqual([10 / span, (5 * 4000) / span, (5 * 4000) / span]);
    // A burst of housekeep interrupted by other_fn: housekeep starts again right after it, 10 starts, median period 5 us.
    const split = rate(starts.flatMap((s) => [{ ts: s, reason: 'IO_INSTRUCTION', rip: HK, dur: 2000 }, { ts: s + 3000, reason: 'CPUID', rip: OTHER, dur: 1000 }, { ts: s + 5000, reason: 'IO_INSTRUCTION', rip: HK, dur: 2000 }] as Row[]));
    expect(split?.what).toEqual(['other_fn every 10.0 ms']);
  });

  it('exits of a tick are not housekeeping, and the bursts around it are counted apart from it', () => {
    const list = bursts(every(5, 10_000_000));
    const t = rows(list);
    // The second exit of the first burst (at 1,012,000) is in a tick: the burst is its first exit alone.
    const r = periodicRates(t, context(t, { map: MAP }), new Map([[0, [[1_012_000, 1_012_000]]]])).get(0)!;
    expect(r.what).toEqual(['1 timer ticks', 'housekeep every 10.0 ms']);
    const span = 40_012_000;
    expect(r.exitsPerNs).toBe(10 / span);
    // Tick: 2,000 + T. Bursts: 9 exits, 9 x (2,000 + T). Busy: tick 3,000; first burst 3,000; the others 15,000 each.
    expect(r.timePerNs).toBe((3000 + 9 * 3000) / span);
    expect(r.busyPerNs).toBe((3000 + 3000 + 4 * 15_000) / span);
  });

  it('bursts are keyed by the caller where it resolves: the caller names them', () => {
    const r = rate(bursts(every(5, 10_000_000), 10_000, OTHER, HK + 0x40))!;
    expect(r.what).toEqual(['housekeep every 10.0 ms']);
    // Traps in two functions called from third_fn: one burst each time, under third_fn.
    const mixed = every(5, 10_000_000).flatMap((s) => [{ ts: s, reason: 'IO_INSTRUCTION', rip: OTHER, dur: 2000, caller: THIRD }, { ts: s + 5000, reason: 'IO_INSTRUCTION', rip: HK, dur: 2000, caller: THIRD }] as Row[]);
    const m = rate(mixed)!;
    expect(m.what).toEqual(['third_fn every 10.0 ms']);
    expect(m.exitsPerNs).toBe(10 / (40_000_000 + 5000));
  });

  it('steady: 70% of the periods within 35% of the median', () => {
    // 11 bursts, 10 periods: 10 ms x 6, 20 ms x 3 and 13.5 ms (exactly 35% off): 7 of 10 near the median 10 ms.
    // In trace order the middle period is 20 ms: the median is taken over the sorted periods.
    const periods = [10e6, 10e6, 10e6, 10e6, 10e6, 20e6, 13.5e6, 10e6, 20e6, 20e6];
    const starts = [1_000_000];
    for (const p of periods) starts.push(starts[starts.length - 1] + p);
    expect(rate(bursts(starts))!.what).toEqual(['housekeep every 10.0 ms']);
    // 13.6 ms is more than 35% off: 6 of 10, not steady.
    const off = [1_000_000];
    for (const p of periods.map((x) => (x === 13.5e6 ? 13.6e6 : x))) off.push(off[off.length - 1] + p);
    expect(rate(bursts(off))).toBeUndefined();
  });
});

describe('ticks found on the trace itself (fixtures/mutation/ticks-1000hz.csv: ten 1000 Hz PIT ticks, see its README)', () => {
  it('each tick is a window from its arrival to its handler\'s PIC write; the rates count every tick\'s exits', async () => {
    const t = ReplayTrace.from((await readTrace(fx('mutation', 'ticks-1000hz.csv'))).trace);
    const ctx = new ReplayContext(t, await loadSymbolizer([GUEST_MAP]), { transitionNs: 1000 });
    // Times from the trace's first exit (1,000,000 ns in the file).
    const windows = Array.from({ length: 10 }, (_, k) => [k * 1_000_000, k * 1_000_000 + 5000]);
    expect(tickWindows(t, ctx)).toEqual(new Map([[0, windows]]));
    // Per tick: 2 exits, 2,000 + 5,000 + 2 T handling, busy 5,000 + 5,000 + T. Span 9,005,000.
    const r = periodicRates(t, ctx).get(0)!;
    expect(r).toEqual({ exitsPerNs: 20 / 9_005_000, timePerNs: 90_000 / 9_005_000, busyPerNs: 110_000 / 9_005_000, what: ['10 timer ticks'] });
  });
});

describe('housekeeping bursts and halts', () => {
  // periodic.ts says bursts are collected "outside its ticks and halts", and a HLT never starts one; the loop that
  // extended a burst checked only ticks, so a HLT with the same key less than 50 us after a burst's exit joined it (its
  // whole halted time counted as busy). Fixed: a halt ends a burst as a tick does.
  it('a HLT right after a housekeeping exit, in the same function, is not part of its burst', () => {
    const list = every(5, 10_000_000).flatMap((s) => [{ ts: s, reason: 'IO_INSTRUCTION', rip: HK, dur: 2000 }, { ts: s + 3000, reason: 'HLT', rip: HK, dur: 1_000_000 }] as Row[]);
    const r = rate(list)!;
    // Per the rule: five bursts of one exit each: 2,000 + T handling and busy each. Span 1,000,000 .. 41,003,000.
    const span = 40_003_000;
    expect([r.exitsPerNs, r.timePerNs, r.busyPerNs]).toEqual([5 / span, (5 * 3000) / span, (5 * 3000) / span]);
  });
});
