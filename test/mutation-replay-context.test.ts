/**
 * The replay context (src/replay/context.ts, rules in its header) on traces
 * built row by row in the test (issue 16). Every expected value is worked out
 * by hand from the rows, in the comment next to it; no value is read back from
 * the context to compute another.
 *
 * Layout conventions: exits "far apart in code" are 0x1000 bytes or more apart
 * (never a nearby pair); between the pairs of interest the gap is 100 us.
 */
import { describe, expect, it } from 'vitest';
import { F_GPA, F_MSR, F_PORT, F_USERSPACE } from '../src/model/chunk.js';
import { isUserspaceIo, kth, NameClass, ReplayContext } from '../src/replay/context.js';
import { symbolizerFromKallsyms } from '../src/symbols/index.js';
import { chain, rows, type Row } from './replay-rows.js';

const A = 0xc0100000;
type Item = Omit<Row, 'ts'> & { gap?: number };
const ctxOf = (list: Row[], opts: ConstructorParameters<typeof ReplayContext>[2] = {}) => new ReplayContext(rows(list), null, opts);

/** n pairs [first, second]: the second `gap` ns after the first one's end, 0x1000 bytes away in code; 100 us between pairs. */
function pairs(n: number, first: Item, second: Item, gap: number | ((k: number) => number), base = A): Item[] {
  const out: Item[] = [];
  for (let k = 0; k < n; k++) {
    out.push({ ...first, rip: base + k * 0x10000, gap: typeof gap === 'number' ? gap : gap(k) });
    out.push({ ...second, rip: base + k * 0x10000 + 0x1000, gap: 100_000 });
  }
  return out;
}
/** n pairs of exits 8 bytes apart in code (nearby), `gap` apart; 100 us and 0x10000 bytes between pairs. */
function nearPairs(n: number, gap: number, base = A): Item[] {
  const out: Item[] = [];
  for (let k = 0; k < n; k++) out.push({ reason: 'CPUID', rip: base + k * 0x10000, gap }, { reason: 'CPUID', rip: base + k * 0x10000 + 8, gap: 100_000 });
  return out;
}
/** n exits far apart in code, the gap after exit k given. */
function farRun(n: number, gap: (k: number) => number, base = 0xc8000000): Item[] {
  return Array.from({ length: n }, (_, k) => ({ reason: 'CPUID', rip: base + k * 0x10000, gap: gap(k) }));
}

describe('kth: the element of rank k as an ascending sort places it', () => {
  it('agrees with a sort on arrays with duplicates, for every rank', () => {
    // A fixed pseudo-random sequence (a linear congruential generator), values 0..9 so ties are common.
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % 10;
    for (let n = 1; n <= 33; n++) {
      const xs = Array.from({ length: n }, next);
      const sorted = [...xs].sort((a, b) => a - b);
      for (let k = 0; k < n; k++) expect(kth(Float64Array.from(xs), k)).toBe(sorted[k]);
    }
    // Sorted, reversed, all equal.
    const up = Array.from({ length: 50 }, (_, k) => k);
    for (const xs of [up, [...up].reverse(), up.map(() => 7)]) {
      const sorted = [...xs].sort((a, b) => a - b);
      for (let k = 0; k < xs.length; k++) expect(kth(Float64Array.from(xs), k)).toBe(sorted[k]);
    }
    expect(kth(new Float64Array(0), 0)).toBeUndefined();
  });
});

describe('the transition (hardware exit + entry): which reading wins', () => {
  const ACK_HOW = /^5th percentile of the guest gap between (\d+) interrupt arrivals \(or halt wake-ups\) and their handler's ack \(an EOI write or the PIC poll, the first thing a handler does\), or a tick stop and the halt right after it/;
  const arrival: Item = { reason: 'EXTERNAL_INTERRUPT' };
  const picAck: Item = { reason: 'IO_INSTRUCTION', port: 0x20, dir: 'w' };

  it('an arrival-ack reading below the nearby-pairs one wins, and says the nearby pairs were a loop', () => {
    // 20 nearby pairs 3,000 apart, 20 arrival + PIC-ack pairs 2,000 apart: 80 exits, 79 gaps (too few for the all-gaps bound).
    const c = ctxOf(chain([...nearPairs(20, 3000), ...pairs(20, arrival, picAck, 2000, 0xc4000000)]));
    expect(c.transition.value).toBe(2000);
    expect(c.transition.inferred).toBe(true);
    expect(c.transition.how).toMatch(ACK_HOW);
    expect(c.transition.how).toMatch(/; the 5th percentile of 20 pairs at nearby RIPs \(3000 ns\) is a loop that came back, not one instruction$/);
  });

  it('a tie between nearby pairs and arrivals goes to the nearby pairs', () => {
    const c = ctxOf(chain([...nearPairs(20, 2000), ...pairs(20, arrival, picAck, 2000, 0xc4000000)]));
    expect(c.transition.value).toBe(2000);
    expect(c.transition.how).toMatch(/^5th percentile of the guest gap between 20 pairs of consecutive exits at most 64 bytes of code apart/);
  });

  it('the all-gaps bound below the nearby pairs wins (inferred: false) and names the loop; equal, the nearby pairs win', () => {
    // 20 nearby pairs 3,000 apart (40 exits), then 70 exits far apart, gaps 2,500 twice then 50,000: 110 exits, 109 gaps.
    // The 1st percentile is rank floor(0.01 x 108) = 1 of the sorted gaps [2,500, 2,500, 3,000 x 20, ...]: 2,500.
    const c = ctxOf(chain([...nearPairs(20, 3000), ...farRun(70, (k) => (k < 2 ? 2500 : 50_000))]));
    expect(c.transition.value).toBe(2500);
    expect(c.transition.inferred).toBe(false);
    expect(c.transition.how).toMatch(/^upper bound: 1st percentile of the guest gap between 109 consecutive exits of a vcpu; .*; the 5th percentile of 20 pairs at nearby RIPs \(3000 ns\) is a loop that came back, not one instruction \(give --transition-ns\)$/);
    // The two small gaps 3,000: the bound is 3,000, as the nearby pairs: they win.
    const tie = ctxOf(chain([...nearPairs(20, 3000), ...farRun(70, (k) => (k < 2 ? 3000 : 50_000))]));
    expect([tie.transition.value, tie.transition.inferred]).toEqual([3000, true]);
    expect(tie.transition.how).toMatch(/^5th percentile of the guest gap between 20 pairs/);
  });

  it('arrivals with no nearby pairs: the lower of the arrival reading and the all-gaps bound, without a loop note', () => {
    // 20 arrival + ack pairs 2,000 apart (40 exits) and 70 far exits, two gaps of 1,500: 109 gaps, rank 1 is 1,500.
    const c = ctxOf(chain([...pairs(20, arrival, picAck, 2000), ...farRun(70, (k) => (k < 2 ? 1500 : 50_000))]));
    expect([c.transition.value, c.transition.inferred]).toEqual([1500, true]);
    expect(c.transition.how).toMatch(ACK_HOW);
    expect(c.transition.how).toMatch(/the halt right after it$/);
    // Without the 70 far exits, 39 gaps: no bound, the arrivals alone.
    const alone = ctxOf(chain(pairs(20, arrival, picAck, 2000)));
    expect(alone.transition.value).toBe(2000);
    expect(alone.transition.how).toMatch(/^5th percentile of the guest gap between 20 interrupt arrivals/);
  });

  it('the 5th percentile is rank floor(0.05 x (n - 1)): the 2nd smallest of 40 arrival gaps', () => {
    // 40 pairs, gaps 1,500, 1,600, then 2,000 + k: rank floor(0.05 x 39) = 1: 1,600. (79 gaps: no bound.)
    const c = ctxOf(chain(pairs(40, arrival, picAck, (k) => (k === 0 ? 1500 : k === 1 ? 1600 : 2000 + k))));
    expect(c.transition.value).toBe(1600);
    expect(c.transition.how).toMatch(/^5th percentile of the guest gap between 40 interrupt arrivals/);
  });

  // Which pairs are an arrival (or a halt's wake-up) and its handler's ack, or a tick stop and its halt: 20 of them, 2,000 apart,
  // read 2,000; anything else leaves 39 gaps far apart in code and the 1,000 ns default.
  const ackCases: Array<[string, Item, Item, boolean]> = [
    ['EXTERNAL_INTERRUPT then the PIC command port 0x20', arrival, picAck, true],
    ['the slave PIC command port 0xa0', arrival, { reason: 'IO_INSTRUCTION', port: 0xa0, dir: 'w' }, true],
    ['the PIC mask port 0x21 is no ack', arrival, { reason: 'IO_INSTRUCTION', port: 0x21, dir: 'w' }, false],
    ['a port column of 0x20 without the port flag is no ack', arrival, { reason: 'IO_INSTRUCTION', port: 0x20, dir: 'w', flags: 0 }, false],
    ['PREEMPTION_TIMER then an x2APIC EOI write', { reason: 'PREEMPTION_TIMER' }, { reason: 'MSR_WRITE', msr: 0x80b, dir: 'w' }, true],
    ['an x2APIC EOI with no direction is taken as a write', arrival, { reason: 'MSR_WRITE', msr: 0x80b }, true],
    ['an x2APIC EOI read is no ack', arrival, { reason: 'MSR_READ', msr: 0x80b, dir: 'r' }, false],
    ['another MSR is no ack', arrival, { reason: 'MSR_WRITE', msr: 0x80c, dir: 'w' }, false],
    ['HLT (a wake-up) then the xAPIC EOI register write', { reason: 'HLT' }, { reason: 'APIC_ACCESS', gpa: 0xfee000b0, dir: 'w' }, true],
    ['the EOI register above 4 GiB is not the local APIC', arrival, { reason: 'APIC_ACCESS', gpa: 0x1fee000b0, dir: 'w' }, false],
    ['another local APIC register is no ack', arrival, { reason: 'APIC_ACCESS', gpa: 0xfee000b4, dir: 'w' }, false],
    ['CPUID is no arrival', { reason: 'CPUID' }, picAck, false],
    ['an exit with no port, address or MSR is no ack', arrival, { reason: 'CPUID' }, false],
    ['a TSC-deadline write then HLT (NO_HZ stopping the tick)', { reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w' }, { reason: 'HLT' }, true],
    ['a TSC-deadline write with no direction then HLT', { reason: 'MSR_WRITE', msr: 0x6e0 }, { reason: 'HLT' }, true],
    ['a TSC-deadline read then HLT', { reason: 'MSR_READ', msr: 0x6e0, dir: 'r' }, { reason: 'HLT' }, false],
    ['a TSC-deadline write then CPUID', { reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w' }, { reason: 'CPUID' }, false],
    ['another MSR write then HLT', { reason: 'MSR_WRITE', msr: 0x6e1, dir: 'w' }, { reason: 'HLT' }, false],
    ['an x2APIC EOI write (an ack, not a clock event) then HLT', { reason: 'MSR_WRITE', msr: 0x80b, dir: 'w' }, { reason: 'HLT' }, false],
  ];
  for (const [what, first, second, ack] of ackCases) {
    it(`pairs read as an arrival and its ack: ${what}`, () => {
      const c = ctxOf(chain(pairs(20, first, second, 2000)));
      expect([c.transition.value, c.transition.inferred]).toEqual(ack ? [2000, true] : [1000, false]);
    });
  }

  it('19 arrival pairs are too few; a zero gap and an arrival of unknown duration do not count', () => {
    const few = ctxOf(chain(pairs(19, arrival, picAck, 2000)));
    expect(few.transition).toMatchObject({ value: 1000, inferred: false });
    // 20 pairs, one of them with the ack right at the arrival's end (gap 0): 19 readings.
    const zero = ctxOf(chain(pairs(20, arrival, picAck, (k) => (k === 7 ? 0 : 2000))));
    expect(zero.transition).toMatchObject({ value: 1000, inferred: false });
    // 20 pairs, one arrival's duration unknown: 19 readings.
    const items = pairs(20, arrival, picAck, 2000);
    items[6] = { ...items[6], dur: NaN };
    expect(ctxOf(chain(items)).transition).toMatchObject({ value: 1000, inferred: false });
    // A 21st good pair makes it 20 again.
    const more = pairs(21, arrival, picAck, 2000);
    more[6] = { ...more[6], dur: NaN };
    expect(ctxOf(chain(more)).transition).toMatchObject({ value: 2000, inferred: true });
  });

  it('nearby pairs: same upper half of the address, at most 64 bytes apart either way, both durations known, gap above 0', () => {
    // 21 exits alternating A and A + 2^32 (same low half, other upper half): no nearby pair.
    const hi = ctxOf(chain(Array.from({ length: 21 }, (_, k) => ({ reason: 'CPUID', rip: A + (k % 2) * 2 ** 32, gap: 2000 }))));
    expect(hi.transition.how).toBe('assumed 1000 ns: only 0 pairs of nearby consecutive exits to infer it from (give --transition-ns)');
    // 21 exits going down 64 bytes at a time: 20 nearby pairs.
    const down = ctxOf(chain(Array.from({ length: 21 }, (_, k) => ({ reason: 'CPUID', rip: A + 0x1000 - 64 * k, gap: 2000 }))));
    expect([down.transition.value, down.transition.inferred]).toEqual([2000, true]);
    // 21 exits at one RIP, exit 10's duration unknown: pairs (9, 10) and (10, 11) do not count: 18.
    const nan = ctxOf(chain(Array.from({ length: 21 }, (_, k) => ({ reason: 'CPUID', rip: A, gap: 2000, dur: k === 10 ? NaN : 1000 }))));
    expect(nan.transition.how).toBe('assumed 1000 ns: only 18 pairs of nearby consecutive exits to infer it from (give --transition-ns)');
    // 21 exits at one RIP, two of the gaps 0 and one negative (an overlap): 17 pairs.
    const z = ctxOf(chain(Array.from({ length: 21 }, (_, k) => ({ reason: 'CPUID', rip: A, gap: k === 3 || k === 4 ? 0 : k === 5 ? -500 : 2000 }))));
    expect(z.transition.how).toBe('assumed 1000 ns: only 17 pairs of nearby consecutive exits to infer it from (give --transition-ns)');
  });

  it('all gaps: 100 positive gaps between exits of known duration are needed for the bound', () => {
    // 101 far exits, 100 gaps of 5,000: the bound is 5,000.
    expect(ctxOf(chain(farRun(101, () => 5000))).transition).toMatchObject({ value: 5000, inferred: false });
    // 101 far exits, one gap 0 (99 positive gaps): no bound. With the zero counted the 1st percentile would be 0.
    expect(ctxOf(chain(farRun(101, (k) => (k === 50 ? 0 : 5000)))).transition).toMatchObject({ value: 1000, inferred: false, how: expect.stringMatching(/^assumed/) });
    // 102 far exits, exit 50's duration unknown: gaps (49, 50) and (50, 51) do not count, 99 left: no bound.
    const items = farRun(102, () => 5000);
    items[50] = { ...items[50], dur: NaN };
    expect(ctxOf(chain(items)).transition.how).toMatch(/^assumed/);
    // Exits of one vcpu only: two vcpus of 51 exits each have 50 + 50 gaps, none between them.
    const two = chain(farRun(51, () => 5000)).concat(chain(farRun(51, () => 5000)).map((r) => ({ ...r, vcpu: 1 })));
    expect(ctxOf(two).transition.how).toMatch(/^upper bound: 1st percentile of the guest gap between 100 consecutive exits/);
  });

  it('given with transitionNs it is taken as is, even 0', () => {
    expect(ctxOf(chain(nearPairs(20, 3000)), { transitionNs: 0 }).transition).toEqual({ value: 0, how: 'given with --transition-ns', inferred: true });
  });
});

describe('the userspace round trip', () => {
  const far = (k: number) => A + k * 0x1000;
  /** 20 exits of each item, interleaved, 20 us apart and far apart in code. */
  const each = (...items: Item[]) => chain(Array.from({ length: 20 }, (_, k) => items.map((it, j) => ({ ...it, rip: far(k * items.length + j), gap: 20_000 }))).flat());

  it('with kvm_userspace_exit flags, the flag says what went to userspace, whatever the port', () => {
    // 20 flagged accesses to the PIT port 0x40 at 9,000 (they went to userspace) and 20 unflagged COM1 (0x3f8) at 2,000: 7,000.
    const r = ctxOf(each({ reason: 'IO_INSTRUCTION', port: 0x40, flags: F_PORT | F_USERSPACE, dur: 9000 }, { reason: 'IO_INSTRUCTION', port: 0x3f8, dur: 2000 })).userspaceRoundTrip;
    expect([r.value, r.inferred]).toEqual([7000, true]);
    expect(r.how).toBe('5th percentile of 20 port I/O exits that went to userspace (kvm_userspace_exit) minus that of 20 port accesses KVM emulates in the kernel (PIC, PIT)');
    // One flagged exit on another vcpu is enough to read flags everywhere: vcpu 0's COM1 accesses are then in-kernel ones.
    const list = [...each({ reason: 'IO_INSTRUCTION', port: 0x3f8, dur: 2000 }), { ts: 0, vcpu: 1, reason: 'CPUID', flags: F_USERSPACE }];
    const none = ctxOf(list).userspaceRoundTrip;
    expect(none).toEqual({ value: 0, how: 'no userspace I/O exits to infer it from', inferred: false });
  });

  it('the userspace side cheaper than the kernel one gives 0, not a negative time', () => {
    const r = ctxOf(each({ reason: 'IO_INSTRUCTION', port: 0x3f8, dur: 1500 }, { reason: 'IO_INSTRUCTION', port: 0x61, dur: 4000 })).userspaceRoundTrip;
    expect([r.value, r.inferred]).toEqual([0, true]);
  });

  it('port I/O needs 20 of each side; with 19 userspace ports it falls to MMIO', () => {
    // 19 COM1 at 9,000, 20 PIT at 2,000; 20 IOAPIC at 3,000 and 20 BAR accesses at 10,000: MMIO gives 7,000.
    const list = each({ reason: 'IO_INSTRUCTION', port: 0x40, dur: 2000 }, { reason: 'EPT_MISCONFIG', gpa: 0xfec00000, dir: 'w', dur: 3000 }, { reason: 'EPT_MISCONFIG', gpa: 0xfebc0000, dir: 'w', dur: 10_000 })
      .concat(chain(Array.from({ length: 19 }, (_, k) => ({ reason: 'IO_INSTRUCTION', port: 0x3f8, rip: far(100 + k), dur: 9000, gap: 20_000 })), 50_000_000));
    const r = ctxOf(list).userspaceRoundTrip;
    expect([r.value, r.inferred]).toEqual([7000, true]);
    expect(r.how).toMatch(/^5th percentile of 20 MMIO device-model accesses minus that of 20 MMIO accesses handled in the kernel/);
    // 20 PIT and 19 kernel MMIO: neither kind has both sides; the fallback compares the 39 userspace I/O with the 40 others.
    const k19 = each({ reason: 'IO_INSTRUCTION', port: 0x3f8, dur: 9000 }, { reason: 'EPT_MISCONFIG', gpa: 0xfebc0000, dir: 'w', dur: 10_000 })
      .concat(chain(Array.from({ length: 19 }, (_, k) => ({ reason: 'EPT_MISCONFIG', gpa: 0xfec00000, rip: far(100 + k), dur: 3000, gap: 20_000 })), 50_000_000))
      .concat(chain(Array.from({ length: 19 }, (_, k) => ({ reason: 'IO_INSTRUCTION', port: 0x40, rip: far(200 + k), dur: 2500, gap: 20_000 })), 90_000_000));
    const f = ctxOf(k19).userspaceRoundTrip;
    // Userspace: 20 at 9,000 and 20 at 10,000: rank floor(0.05 x 39) = 1 -> 9,000. Kernel: 19 at 3,000 and 19 at 2,500: rank
    // floor(0.05 x 37) = 1 -> 2,500. 6,500, an upper bound.
    expect([f.value, f.inferred]).toEqual([6500, false]);
    expect(f.how).toBe('upper bound: 5th percentile of 40 device-model accesses minus that of 38 exits handled in the kernel (no in-kernel access of the same kind to compare with, so it also holds the cheapest register\'s device work and decoding)');
  });

  it('local APIC accesses are not in-kernel MMIO of the device kind, and halts and interrupts are not in-kernel exits', () => {
    // 20 APIC_ACCESS at 100 (local APIC page), 20 IOAPIC at 3,000, 20 BAR at 10,000: the APIC exits are left out: 7,000.
    for (const apic of ['APIC_ACCESS', 'APIC_WRITE', 'EOI_INDUCED']) {
      const m = ctxOf(each({ reason: apic, gpa: 0xfee00300, dir: 'w', dur: 100 }, { reason: 'EPT_MISCONFIG', gpa: 0xfec00000, dir: 'w', dur: 3000 }, { reason: 'EPT_MISCONFIG', gpa: 0xfebc0000, dir: 'w', dur: 10_000 })).userspaceRoundTrip;
      expect([apic, m.value]).toEqual([apic, 7000]);
    }
    // 20 COM1 at 9,000, 20 HLT at 100, 20 EXTERNAL_INTERRUPT at 200, 20 CPUID at 1,500: the kernel side is the CPUID: 7,500.
    const u = ctxOf(each({ reason: 'IO_INSTRUCTION', port: 0x3f8, dur: 9000 }, { reason: 'HLT', dur: 100 }, { reason: 'EXTERNAL_INTERRUPT', dur: 200 }, { reason: 'CPUID', dur: 1500 })).userspaceRoundTrip;
    expect([u.value, u.inferred]).toEqual([7500, false]);
    expect(u.how).toMatch(/minus that of 20 exits handled in the kernel/);
    // 20 userspace exits but only 19 in-kernel ones: too few for the fallback too.
    const k19 = ctxOf(each({ reason: 'IO_INSTRUCTION', port: 0x3f8, dur: 9000 }).concat(chain(Array.from({ length: 19 }, (_, k) => ({ reason: 'CPUID', rip: far(300 + k), dur: 1500, gap: 20_000 })), 90_000_000))).userspaceRoundTrip;
    expect(k19).toEqual({ value: 0, how: 'no userspace I/O exits to infer it from', inferred: false });
    // 19 userspace exits are too few for the fallback.
    const few = ctxOf(chain(Array.from({ length: 19 }, (_, k) => ({ reason: 'IO_INSTRUCTION', port: 0x3f8, rip: far(k), dur: 9000, gap: 20_000 }))).concat(each({ reason: 'CPUID', dur: 1500 }).map((r) => ({ ...r, ts: r.ts + 50_000_000 })))).userspaceRoundTrip;
    expect(few.value).toBe(0);
    expect(few.inferred).toBe(false);
  });

  it('a sample holds past its first 256 values, every one of them (its quantile is exact)', () => {
    // 300 COM1 accesses: the first 256 take 3,000 ns; of the 44 after, odd-numbered m (1, 3, .., 43) take 1,000 + m, even ones
    // 2,000 + m. Their 5th percentile is rank floor(0.05 x 299) = 14 of the sorted durations: the 15th of 1,001, 1,003, ..: 1,029.
    // 20 PIT accesses take 100: 1,029 - 100.
    const com = Array.from({ length: 300 }, (_, k) => ({ reason: 'IO_INSTRUCTION', port: 0x3f8, rip: far(k), gap: 20_000, dur: k < 256 ? 3000 : (k - 256) % 2 ? 1000 + (k - 256) : 2000 + (k - 256) }));
    const pit = Array.from({ length: 20 }, (_, k) => ({ reason: 'IO_INSTRUCTION', port: 0x40, rip: far(400 + k), gap: 20_000, dur: 100 }));
    const r = ctxOf(chain([...com, ...pit])).userspaceRoundTrip;
    expect(r.value).toBe(929);
    expect(r.how).toMatch(/^5th percentile of 300 port I\/O device-model accesses minus that of 20 port accesses/);
  });

  it('an exit of unknown duration is in no sample', () => {
    // 20 COM1 and 20 PIT exits, one PIT exit's duration unknown: 19 in-kernel ports, too few; the fallback compares.
    // Row 5 is the third PIT exit. One CPUID at 5,000 makes the in-kernel exits 20 again: 9,000 - 2,000 (their lowest).
    const list = [...each({ reason: 'IO_INSTRUCTION', port: 0x3f8, dur: 9000 }, { reason: 'IO_INSTRUCTION', port: 0x40, dur: 2000 }), { ts: 90_000_000, reason: 'CPUID', dur: 5000 }];
    list[5] = { ...list[5], dur: NaN };
    const r = ctxOf(list).userspaceRoundTrip;
    expect([r.value, r.inferred]).toEqual([7000, false]);
    expect(r.how).toMatch(/^upper bound: 5th percentile of 20 device-model accesses minus that of 20 exits/);
  });
});

describe('isUserspaceIo: which exits a device model in userspace handles', () => {
  const chunk = (list: Row[]) => rows(list).vcpus.get(0)!;
  it('without flags, by port (not the kernel\'s PIC, PIT, speaker, ELCR ports) and by address (not the local APIC or IOAPIC)', () => {
    const ports = [0x20, 0x21, 0xa0, 0xa1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x4d0, 0x4d1, 0x3f8, 0x1f0, 0x44, 0x60, 0x4d2];
    const want = [false, false, false, false, false, false, false, false, false, false, false, true, true, true, true, true];
    const c = chunk(ports.map((port, k) => ({ ts: k, reason: 'IO_INSTRUCTION', port })));
    expect(ports.map((_, i) => isUserspaceIo(c, i, false))).toEqual(want);
    const gpas = [0xfee00000, 0xfeefffff, 0xfef00000, 0xfedfffff, 0xfec00000, 0xfec00fff, 0xfec01000, 0xfebfffff, 0x1fee00000, 0x1fec00000];
    const g = chunk(gpas.map((gpa, k) => ({ ts: k, reason: 'EPT_MISCONFIG', gpa })));
    expect(gpas.map((_, i) => isUserspaceIo(g, i, false))).toEqual([false, false, true, true, false, false, true, true, true, true]);
    const m = chunk([{ ts: 0, reason: 'MSR_WRITE', msr: 0x6e0 }, { ts: 1, reason: 'CPUID' }]);
    expect([isUserspaceIo(m, 0, false), isUserspaceIo(m, 1, false)]).toEqual([false, false]);
  });

  it('with flags, a port or MMIO exit flagged as gone to userspace, and nothing else', () => {
    const c = chunk([
      { ts: 0, reason: 'IO_INSTRUCTION', port: 0x40, flags: F_PORT | F_USERSPACE },
      { ts: 1, reason: 'EPT_MISCONFIG', gpa: 0xfee00000, flags: F_GPA | F_USERSPACE },
      { ts: 2, reason: 'MSR_WRITE', msr: 0x6e0, flags: F_MSR | F_USERSPACE },
      { ts: 3, reason: 'IO_INSTRUCTION', port: 0x3f8, flags: F_PORT },
      { ts: 4, reason: 'EPT_MISCONFIG', gpa: 0xfebc0000, flags: F_GPA },
    ]);
    expect([0, 1, 2, 3, 4].map((i) => isUserspaceIo(c, i, true))).toEqual([true, true, false, false, false]);
  });
});

describe('the hypercall dispatch', () => {
  const far = (k: number) => A + k * 0x1000;
  const run = (reason: string, durs: number[], from = 0) => chain(durs.map((dur, k) => ({ reason, dur, rip: far(from + k), gap: 10_000 })), 1_000_000 + from * 100_000);

  it('the median of 6 VMCALLs is the element of rank floor(0.5 x 5) = 2', () => {
    expect(ctxOf(run('VMCALL', [600, 100, 500, 200, 400, 300])).hypercall).toEqual({ value: 300, how: 'median of 6 VMCALL exits in the trace', inferred: true });
  });

  it('SVM hypercalls are not VMX VMCALLs, and the VMCALL class never stands in as the floor', () => {
    // 20 SVM hypercalls at 200 and 20 CPUID at 700: the floor is CPUID's, 700.
    const h = ctxOf([...run('hypercall', Array(20).fill(200)), ...run('CPUID', Array(20).fill(700), 100)]).hypercall;
    expect([h.value, h.inferred]).toEqual([700, true]);
    expect(h.how).toMatch(/^no VMCALL exits in the trace: taken as the median of 20 CPUID exits/);
  });

  it('of two classes with the same median the one the trace shows first is named', () => {
    const h = ctxOf([...run('RDTSC', Array(20).fill(400)), ...run('CPUID', Array(20).fill(400), 100)]).hypercall;
    expect(h.how).toMatch(/the median of 20 RDTSC exits/);
    // A cheaper class later replaces it.
    const h2 = ctxOf([...run('RDTSC', Array(20).fill(400)), ...run('CPUID', Array(20).fill(399), 100)]).hypercall;
    expect([h2.value, h2.how.match(/median of 20 (\w+) exits/)![1]]).toEqual([399, 'CPUID']);
  });

  it('every trivially handled class can be the floor; others cannot', () => {
    for (const r of ['INTERRUPT_WINDOW', 'CPUID', 'PAUSE_INSTRUCTION', 'NMI_WINDOW', 'TPR_BELOW_THRESHOLD', 'RDTSC', 'RDTSCP', 'XSETBV', 'WBINVD', 'INVD']) {
      const h = ctxOf(run(r, Array(20).fill(321))).hypercall;
      expect([r, h.value, h.inferred]).toEqual([r, 321, true]);
      expect(h.how).toContain(`the median of 20 ${r} exits`);
    }
    for (const r of ['IO_INSTRUCTION', 'HLT', 'MSR_WRITE', 'EPT_VIOLATION']) expect(ctxOf(run(r, Array(20).fill(321))).hypercall).toMatchObject({ value: 0, inferred: false });
  });

  it('an exit of unknown duration is in no class', () => {
    // 20 CPUID, one of unknown duration: 19, too few.
    const d = Array(20).fill(700);
    d[3] = NaN;
    expect(ctxOf(run('CPUID', d)).hypercall).toMatchObject({ value: 0, inferred: false });
    // 5 VMCALLs, one unknown: 4, too few; no other class: 0.
    expect(ctxOf(run('VMCALL', [100, NaN, 300, 400, 500])).hypercall).toMatchObject({ value: 0, inferred: false });
  });
});

describe('the trace\'s span, callers and time windows', () => {
  it('t0 is the earliest exit, t1 the latest end (an exit of unknown duration ends where it starts), over all vcpus', () => {
    const c = ctxOf([
      { ts: 5000, reason: 'CPUID', dur: 1000, vcpu: 0 },
      { ts: 3000, reason: 'CPUID', dur: 10_000, vcpu: 0 },
      { ts: 2000, reason: 'CPUID', dur: NaN, vcpu: 1 },
      { ts: 12_500, reason: 'CPUID', dur: NaN, vcpu: 1 },
    ]);
    // Ends: 6,000, 13,000, 2,000, 12,500: t1 13,000 (the long exit, not the last one to start).
    expect([c.t0, c.t1]).toEqual([2000, 13_000]);
    const d = ctxOf([{ ts: 3000, reason: 'CPUID', dur: 1000 }, { ts: 7000, reason: 'CPUID', dur: NaN }]);
    // The last exit's end is unknown: it ends at 7,000, later than 4,000.
    expect([d.t0, d.t1]).toEqual([3000, 7000]);
  });

  it('an empty trace spans nothing: t0 = t1 = 0, one window of 1 ns', () => {
    const c = ctxOf([]);
    expect([c.t0, c.t1, c.windows, c.windowNs, c.hasCallers]).toEqual([0, 0, 1, 1, false]);
  });

  it('callers are on when more than half the exits carry one (upper or lower half of the address)', () => {
    const list = (withCaller: number[]) => [0, 1, 2, 3].map((k) => ({ ts: k * 1000, reason: 'CPUID', caller: withCaller.includes(k) ? (k === 0 ? 2 ** 32 : A) : undefined }));
    expect(ctxOf(list([0, 1])).hasCallers).toBe(false); // 2 of 4
    expect(ctxOf(list([0, 1, 2])).hasCallers).toBe(true); // 3 of 4, one of them above 4 GiB with a zero lower half
    expect(ctxOf(list([1, 2, 3])).hasCallers).toBe(true);
    expect(ctxOf(list([1, 2])).hasCallers).toBe(false);
  });

  it('windows: floor(span / 1 ms), at least 1, at most the given number (40 unless given)', () => {
    const span = (ns: number, windows?: number) => ctxOf([{ ts: 1_000_000, reason: 'CPUID', dur: 0 }, { ts: 1_000_000 + ns, reason: 'CPUID', dur: 0 }], windows === undefined ? {} : { windows });
    expect(span(2_999_999).windows).toBe(2);
    expect(span(3_000_000).windows).toBe(3);
    expect([span(3_000_000).windowNs, span(2_999_999).windowNs]).toEqual([1_000_000, 2_999_999 / 2]);
    expect(span(999_999).windows).toBe(1);
    expect(span(100_000_000).windows).toBe(40);
    expect(span(41_000_000).windows).toBe(40);
    expect(span(100_000_000, 50).windows).toBe(50);
    expect(span(100_000_000, 0).windows).toBe(1);
    // window(ts): by offset from t0, clamped to [0, windows - 1].
    const c = span(3_000_000);
    expect([c.window(1_000_000), c.window(1_999_999), c.window(2_000_000), c.window(3_999_999), c.window(4_000_000), c.window(99e9), c.window(0)]).toEqual([0, 0, 1, 2, 2, 2, 0]);
  });
});

// A made-up kernel: three functions, then the end of text.
const MAP = 'c0100000 T alpha\nc0101000 T beta\nc0102000 t alpha\nc0103000 T gamma\nc0200000 T _etext\n';
const sym = () => symbolizerFromKallsyms(MAP, 'test.map');
const split = (x: number): [number, number] => [Math.floor(x / 2 ** 32) >>> 0, x >>> 0];

describe('names and numbers per address', () => {
  const t = rows([{ ts: 0, reason: 'CPUID', rip: 0xc0100010 }, { ts: 1000, reason: 'CPUID', rip: 0xc0101020 }]);

  it('without a map: no function, no id, labels in hex, group keys per address', () => {
    const c = new ReplayContext(t, null);
    expect(c.fn(...split(0xc0100010))).toBeNull();
    expect(c.fnId(...split(0xc0100010))).toBe(-1);
    expect(c.fnName(...split(0xc0100010))).toBeNull();
    expect(c.nameId(...split(0xc0100010))).toBe(-1);
    expect(c.label(...split(0xc0100010))).toBe('0xc0100010');
    // First address seen gets index 0, the next 1: group keys -1 and -2.
    expect([c.groupKey(...split(0xc0100010)), c.groupKey(...split(0xc0101020)), c.groupKey(...split(0xc0100010))]).toEqual([-1, -2, -1]);
  });

  it('with a map: the function, its id, name and offset; same-named functions share a name id, not a function id', () => {
    const c = new ReplayContext(t, sym());
    expect(c.fnName(...split(0xc0100010))).toBe('alpha');
    expect(c.label(...split(0xc0100010))).toBe('alpha+0x10');
    expect(c.label(...split(0xc0102abc))).toBe('alpha+0xabc');
    expect(c.label(...split(0xc0300000))).toBe('0xc0300000');
    expect(c.fn(...split(0xc0101020))).toMatchObject({ name: 'beta', offset: 0x20n, start: 0xc0101000n });
    // Function ids in address order: alpha 0, beta 1, the static alpha 2, gamma 3 (the map's own order).
    const ids = [0xc0100010, 0xc0100ff0, 0xc0101020, 0xc0102000, 0xc0103fff, 0xc0300000].map((a) => c.fnId(...split(a)));
    expect(ids).toEqual([0, 0, 1, 2, 3, -1]);
    expect([c.fnNameById(0), c.fnNameById(1), c.fnNameById(2), c.fnNameById(3)]).toEqual(['alpha', 'beta', 'alpha', 'gamma']);
    // Name ids in the order names are first asked for: beta 0, alpha 1 (both alphas), gamma 2; none -1.
    const names = [0xc0101020, 0xc0100010, 0xc0102010, 0xc0103000, 0xc0300000, 0xc0100020].map((a) => c.nameId(...split(a)));
    expect(names).toEqual([0, 1, 1, 2, -1, 1]);
    expect([c.nameById(0), c.nameById(1), c.nameById(2)]).toEqual(['beta', 'alpha', 'gamma']);
    // Group keys: the function id where one holds the address (alpha's 0 included), else -1 - the address index.
    expect(c.groupKey(...split(0xc0100000))).toBe(0);
    expect(c.groupKey(...split(0xc0103000))).toBe(3);
    const k = c.addrIndex(...split(0xc0300000));
    expect(c.groupKey(...split(0xc0300000))).toBe(-1 - k);
    expect(k).toBeGreaterThanOrEqual(0);
  });

  it('addresses get dense indices in first-seen order, kept through thousands of addresses and memo collisions', () => {
    const c = new ReplayContext(t, sym());
    // 9,000 addresses (more than twice the first tables' 4,096; in a 16,384-slot memo many share a slot): half in the map's
    // text, half beyond it, some above 4 GiB with the same lower half.
    const addrs = Array.from({ length: 9000 }, (_, k) => (k % 2 ? 0xc0100000 + k * 8 : 2 ** 32 * (k % 3) + 0xd0000000 + k * 8));
    const wrong: number[] = [];
    addrs.forEach((a, k) => { if (c.addrIndex(...split(a)) !== k) wrong.push(k); });
    for (let k = addrs.length - 1; k >= 0; k -= 3) if (c.addrIndex(...split(addrs[k])) !== k) wrong.push(k);
    expect(wrong).toEqual([]);
    expect(c.addrOf(8999)).toEqual(split(addrs[8999]));
    // The name of the last address first (its table grows from 4,096 straight past index 8,998): gamma, name id 0.
    expect(c.nameId(...split(addrs[8999]))).toBe(0);
    expect(c.nameById(0)).toBe('gamma');
    expect(c.addrOf(0)).toEqual(split(addrs[0]));
    // Function ids past the first 4,096 addresses: k odd is in the text at 0xc0100000 + 8k: alpha below 0xc0101000
    // (k < 512), beta to 0xc0102000 (k < 1024), the static alpha to 0xc0103000 (k < 1536), gamma to _etext (k < 131,072).
    expect(c.fnId(...split(addrs[4097]))).toBe(3);
    expect(c.fnId(...split(addrs[4096]))).toBe(-1);
    expect(c.fnId(...split(addrs[8998]))).toBe(-1);
    expect(c.fnId(...split(addrs[1025]))).toBe(2);
    expect(c.nameId(...split(addrs[5001]))).toBe(0);
    expect(c.nameId(...split(addrs[5000]))).toBe(-1);
    expect(c.nameId(...split(addrs[511]))).toBe(1);
    expect(c.nameById(1)).toBe('alpha');
    expect(c.nameId(...split(addrs[8999]))).toBe(0);
  });

  it('addresses with the same lower half and 20,000 upper halves (more than the memo has slots) keep their own indices', () => {
    const c = new ReplayContext(t, null);
    const wrong: number[] = [];
    for (let hi = 1; hi <= 20_000; hi++) if (c.addrIndex(hi, 0x1234) !== hi - 1) wrong.push(hi);
    for (let hi = 20_000; hi >= 1; hi -= 7) if (c.addrIndex(hi, 0x1234) !== hi - 1) wrong.push(hi);
    expect(wrong).toEqual([]);
  });

  it('function ids of 4,400 addresses each asked for once, in order (past the first table of 4,096)', () => {
    // k-th address 0xc0103000 + 16 k: all in gamma (id 3) up to _etext at 0xc0200000 (k < 64,768).
    const c = new ReplayContext(t, sym());
    const ids = Array.from({ length: 4200 }, (_, k) => c.fnId(...split(0xc0103000 + 16 * k)));
    expect(ids.filter((f) => f !== 3)).toEqual([]);
    // And past _etext, none: -1 for each of 200 fresh ones (indices 4,200 onwards).
    const none = Array.from({ length: 200 }, (_, k) => c.fnId(...split(0xd0000000 + 16 * k)));
    expect(none.filter((f) => f !== -1)).toEqual([]);
  });

  it('the name id of the 4,097th address, asked for first', () => {
    const c = new ReplayContext(t, sym());
    // Addresses 0xc0100000 + 16 k: alpha below 0xc0101000 (k < 256), beta to k < 512, the static alpha to k < 768, then gamma.
    for (let k = 0; k <= 4096; k++) c.addrIndex(...split(0xc0100000 + 16 * k));
    expect(c.nameId(...split(0xc0100000 + 16 * 4096))).toBe(0);
    expect(c.nameById(0)).toBe('gamma');
    expect(c.nameId(...split(0xc0100000 + 16 * 300))).toBe(1);
  });

  it('address 0 is an address like any other: the first one asked for gets index 0', () => {
    const c = new ReplayContext(t, null);
    expect([c.addrIndex(0, 0), c.addrIndex(0, 1), c.addrIndex(0, 0), c.addrIndex(1, 0)]).toEqual([0, 1, 0, 2]);
    expect(c.addrOf(2)).toEqual([1, 0]);
  });

  it('classOf asks the class once per address, keeps bits 0..254, and keeps each class apart', () => {
    const c = new ReplayContext(t, sym());
    const asked: Array<string | null> = [];
    const cls = new NameClass((f) => { asked.push(f); return f === 'alpha' ? 5 : f === 'beta' ? 0 : f === null ? 254 : 300; });
    const other = new NameClass((f) => (f === null ? 1 : 2));
    expect(other.id).toBe(cls.id + 1);
    expect(c.classOf(...split(0xc0100010), cls)).toBe(5);
    expect(c.classOf(...split(0xc0100010), cls)).toBe(5);
    expect(c.classOf(...split(0xc0101010), cls)).toBe(0);
    expect(c.classOf(...split(0xc0101010), cls)).toBe(0);
    expect(c.classOf(...split(0xc0300000), cls)).toBe(254);
    expect(c.classOf(...split(0xc0300000), cls)).toBe(254);
    // gamma: 300 keeps its low 8 bits, 44.
    expect(c.classOf(...split(0xc0103000), cls)).toBe(44);
    expect(asked).toEqual(['alpha', 'beta', null, 'gamma']);
    expect([c.classOf(...split(0xc0100010), other), c.classOf(...split(0xc0300000), other)]).toEqual([2, 1]);
    // Past 4,096 addresses the memo grows and keeps what it had: nothing is asked again.
    for (let k = 0; k < 5000; k++) c.classOf(...split(0xc0400000 + k * 4), cls);
    expect(asked.length).toBe(4 + 5000);
    expect(c.classOf(...split(0xc0100010), cls)).toBe(5);
    expect(c.classOf(...split(0xc0400000 + 4999 * 4), cls)).toBe(254);
    expect(asked.length).toBe(5004);
    // A class first asked about an address past 4,096 gets a table that holds it.
    const late = new NameClass((f) => (f === null ? 9 : 3));
    expect(c.classOf(...split(0xc0400000 + 4999 * 4), late)).toBe(9);
    expect(c.classOf(...split(0xc0100010), late)).toBe(3);
  });

  it('the KASLR slide: forced by the option, detected from the trace\'s RIPs, and a map of the wrong width is an error', () => {
    // Forced 0x200000: the map's alpha is at 0xc0300000.
    const forced = new ReplayContext(t, sym(), { kaslr: 0x200000n });
    expect(forced.fnName(...split(0xc0300010))).toBe('alpha');
    expect(forced.fnName(...split(0xc0100010))).toBeNull();
    // A 64-bit map for a trace of 32-bit addresses fits nothing: the context says so.
    const wide = 'ffffffff81000000 T wide_fn\nffffffff81100000 T _etext\n';
    expect(() => new ReplayContext(t, symbolizerFromKallsyms(wide, 'wide.map'))).toThrow(/a 64-bit map .* for a trace of 32-bit guest addresses/);
    // The same map and a trace slid by 0x4000000: auto finds the slide.
    const slid = rows(Array.from({ length: 30 }, (_, k) => ({ ts: k * 1000, reason: 'CPUID', rip: 0xffffffff85000000 + k * 0x1000 })));
    const c = new ReplayContext(slid, symbolizerFromKallsyms(wide, 'wide.map'));
    expect(c.symbols!.slide.slide).toBe(0x4000000n);
    // The slide is decided from every distinct RIP with its count, past the first 4,096 too: 4,096 32-bit user RIPs, then 64-bit
    // user RIP (outside the kernel window, the 4,097th distinct one) 3 times. The trace has 64-bit addresses: the 64-bit map is no mismatch.
    const user = rows([...Array.from({ length: 4096 }, (_, k) => ({ ts: k, reason: 'CPUID', rip: 0x08048000 + k * 16 })), ...Array.from({ length: 3 }, (_, k) => ({ ts: 5000 + k, reason: 'CPUID', rip: 0x7f0000001000 }))]);
    const u = new ReplayContext(user, symbolizerFromKallsyms(wide, 'wide.map'));
    expect(u.symbols!.slide.mode).toBe('none');
    // A map without functions (data only) is empty: it decides nothing, not even a forced slide.
    const empty = symbolizerFromKallsyms('c0100000 D some_data\n', 'data.map');
    new ReplayContext(t, empty, { kaslr: 0x200000n });
    expect(empty.slide.mode).toBe('none');
  });
});

describe('describe()', () => {
  it('rounds each value to the ns', () => {
    const c = ctxOf([{ ts: 0, reason: 'CPUID' }], { transitionNs: 1234.5 });
    expect(c.describe()[0]).toBe('hardware exit+entry: 1235 ns (given with --transition-ns)');
  });
});
