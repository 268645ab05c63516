/**
 * Aggregations (src/analyze) that a one-line bug breaks (issue 16), on
 * fixtures whose rows are worked out by hand in their READMEs.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diff, type DiffReport } from '../src/analyze/diff.js';
import { analyze } from '../src/analyze/index.js';
import { cli, comparable, fx, readJson } from './helpers.js';

/** fixtures/neighbours64/README.md: alpha 3 IO exits 60 ns, beta 2 IO 3000 ns, gamma 1 HLT 5 ns, [unknown] 1 HLT 7 ns. */
const N64 = { inputs: [fx('neighbours64', 'trace.csv')], maps: [fx('neighbours64', 'System.map')], keepUnknown: true };

describe('rows past --top are counted, not dropped', () => {
  it('by count, top 2: gamma and [unknown] are the 2 omitted rows, 2 exits, 12 ns of idle time', async () => {
    const idle = await analyze({ ...N64, includeIdle: true, top: 2 });
    expect(idle.rows.map((r) => r.symbol)).toEqual(['alpha', 'beta']);
    expect(idle.omitted).toEqual({ rows: 2, count: 2, timeNs: 12 });
    // Without --include-idle the omitted time is handling time: both omitted exits are HLT.
    const handling = await analyze({ ...N64, top: 2 });
    expect(handling.omitted).toEqual({ rows: 2, count: 2, timeNs: 0 });
  });

  it('by time, top 1: beta shown; alpha, gamma and [unknown] omitted with alpha\'s 60 ns of handling', async () => {
    const rep = await analyze({ ...N64, sort: 'time', top: 1 });
    expect(rep.rows.map((r) => [r.symbol, r.count, r.timeNs])).toEqual([['beta', 2, 3000]]);
    expect(rep.omitted).toEqual({ rows: 3, count: 5, timeNs: 60 });
  });

  it('top 0 shows every row and omits none', async () => {
    const rep = await analyze({ ...N64, top: 0 });
    expect(rep.rows).toHaveLength(4);
    expect(rep.omitted).toEqual({ rows: 0, count: 0, timeNs: 0 });
  });

  it('the table says how many rows, exits and how much time --top left out', async () => {
    const r = await cli(['analyze', fx('neighbours64', 'trace.csv'), '--map', fx('neighbours64', 'System.map'), '--keep-unknown', '--include-idle', '--top', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\(2 more rows: 2 exits, 12 ?ns; --top 0 shows all\)/);
  });
});

describe('diff on two hand-worked traces (fixtures/mutation/README.md)', () => {
  const MAP = fx('kallsyms-modules', 'kallsyms');
  const before = fx('mutation', 'diff-before.csv'), after = fx('mutation', 'diff-after.csv');
  type Row = DiffReport['sections'][number]['rows'][number];
  /** key, before exits/time, after exits/time, change, ratio, only. */
  const brief = (r: Row) => [r.key, r.before.exits, r.before.timeNs, r.after.exits, r.after.timeNs, r.change.exits, r.change.timeNs, r.ratio.exits, r.ratio.timeNs, r.only];
  const section = (rep: DiffReport, by: 'address' | 'function') => rep.sections.find((s) => s.by === by)!;
  const UNRESOLVED = '0xffffffffc0a20000';

  it('per trap address: counts, time, change, ratio, which side, ranked by the change in exits', async () => {
    const rep = await diff({ before, after, maps: [MAP], top: 0 });
    const s = section(rep, 'address');
    expect(s.rows.map(brief)).toEqual([
      ['ioread8+0x20', 4, 4000, 1, 1000, -3, -3000, 0.25, 0.25, null],
      ['ata_sff_dev_select+0x33 [libata]', 3, 6000, 5, 10000, 2, 4000, 1.666667, 1.666667, null],
      ['e1000_intr+0x10 [e1000]', 1, 5000, 0, 0, -1, -5000, 0, 0, 'before'],
      ['ioread8+0x40', 0, 0, 1, 1500, 1, 1500, null, null, 'after'],
      [UNRESOLVED, 1, 700, 2, 1400, 1, 700, 2, 2, null],
      ['pv_native_safe_halt+0x9', 2, 0, 1, 0, -1, 0, 0.5, null, null],
      ['iowrite8+0x14', 2, 6000, 2, 6000, 0, 0, 1, 1, null],
    ]);
    expect(s.rows.map((r) => r.rank)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(s.rows.map((r) => [r.symbol, r.module, r.addressBefore, r.addressAfter])).toEqual([
      ['ioread8', null, '0xffffffff81b97190', '0xffffffff81b97190'],
      ['ata_sff_dev_select', 'libata', '0xffffffffc052d073', '0xffffffffc052d073'],
      ['e1000_intr', 'e1000', '0xffffffffc0a10010', null],
      ['ioread8', null, null, '0xffffffff81b971b0'],
      ['[guest kernel, no symbol]', null, UNRESOLVED, UNRESOLVED],
      ['pv_native_safe_halt', null, '0xffffffff821f4da9', '0xffffffff821f4da9'],
      ['iowrite8', null, '0xffffffff81b975c4', '0xffffffff81b975c4'],
    ]);
    expect([s.common, s.onlyBefore, s.onlyAfter]).toEqual([5, 1, 1]);
    expect(s.omitted).toEqual({ rows: 0, before: { exits: 0, timeNs: 0 }, after: { exits: 0, timeNs: 0 } });
  });

  it('per function: the sum of its trap addresses, at the function\'s start', async () => {
    const rep = await diff({ before, after, maps: [MAP], top: 0 });
    const s = section(rep, 'function');
    expect(s.rows.map(brief)).toEqual([
      ['ata_sff_dev_select [libata]', 3, 6000, 5, 10000, 2, 4000, 1.666667, 1.666667, null],
      ['ioread8', 4, 4000, 2, 2500, -2, -1500, 0.5, 0.625, null],
      ['e1000_intr [e1000]', 1, 5000, 0, 0, -1, -5000, 0, 0, 'before'],
      ['[guest kernel, no symbol]', 1, 700, 2, 1400, 1, 700, 2, 2, null],
      ['pv_native_safe_halt', 2, 0, 1, 0, -1, 0, 0.5, null, null],
      ['iowrite8', 2, 6000, 2, 6000, 0, 0, 1, 1, null],
    ]);
    expect(s.rows.map((r) => [r.addressBefore, r.addressAfter])).toEqual([
      ['0xffffffffc052d040', '0xffffffffc052d040'], ['0xffffffff81b97170', '0xffffffff81b97170'], ['0xffffffffc0a10000', null],
      [null, null], ['0xffffffff821f4da0', '0xffffffff821f4da0'], ['0xffffffff81b975b0', '0xffffffff81b975b0'],
    ]);
    expect([s.common, s.onlyBefore, s.onlyAfter]).toEqual([5, 1, 0]);
  });

  it('totals, their change and ratios; a note when the spans differ by more than 5%', async () => {
    const rep = await diff({ before, after, maps: [MAP], top: 0 });
    expect([rep.before.exits, rep.before.handlingNs, rep.before.idleNs, rep.before.timeNs, rep.before.spanNs, rep.before.vcpus]).toEqual([13, 21700, 200000, 21700, 650000, 1]);
    expect([rep.after.exits, rep.after.handlingNs, rep.after.idleNs, rep.after.timeNs, rep.after.spanNs, rep.after.vcpus]).toEqual([12, 19900, 300000, 19900, 750000, 1]);
    expect(rep.change).toEqual({ exits: -1, timeNs: -1800, exitsRatio: 0.923077, timeRatio: 0.917051 });
    expect([rep.sort, rep.includeIdle, rep.before.maps, rep.after.maps]).toEqual(['count', false, [MAP], [MAP]]);
    expect(rep.filter).toEqual({ reasons: [], excludeReasons: [], vcpus: [] });
    expect(rep.notes).toHaveLength(1);
    expect(rep.notes[0]).toMatch(/^the traces cover different spans \(0\.001 s before, 0\.001 s after\): counts compare whole runs/);
    // The same trace on both sides: same span, no note.
    expect((await diff({ before, after: before, maps: [MAP] })).notes).toEqual([]);
  });

  it('--include-idle counts the HLT wait as exit time', async () => {
    const rep = await diff({ before, after, maps: [MAP], top: 0, includeIdle: true });
    const halt = section(rep, 'address').rows.find((r) => r.key === 'pv_native_safe_halt+0x9')!;
    expect(brief(halt)).toEqual(['pv_native_safe_halt+0x9', 2, 200000, 1, 300000, -1, 100000, 0.5, 1.5, null]);
    expect([rep.before.timeNs, rep.after.timeNs, rep.change.timeNs]).toEqual([221700, 319900, 98200]);
    expect(section(rep, 'function').rows.find((r) => r.key === 'pv_native_safe_halt')!.before.timeNs).toBe(200000);
  });

  it('--top 2 counts what it leaves out; --sort time ranks by the change in time', async () => {
    const top = await diff({ before, after, maps: [MAP], top: 2, views: ['address'] });
    const s = section(top, 'address');
    expect(s.rows.map((r) => r.key)).toEqual(['ioread8+0x20', 'ata_sff_dev_select+0x33 [libata]']);
    expect(s.omitted).toEqual({ rows: 5, before: { exits: 6, timeNs: 11700 }, after: { exits: 6, timeNs: 8900 } });
    expect(top.sections.map((x) => x.by)).toEqual(['address']);
    const byTime = await diff({ before, after, maps: [MAP], top: 0, sort: 'time', views: ['address'] });
    expect(byTime.sort).toBe('time');
    expect(section(byTime, 'address').rows.map((r) => r.key)).toEqual(['e1000_intr+0x10 [e1000]', 'ata_sff_dev_select+0x33 [libata]', 'ioread8+0x20', 'ioread8+0x40', UNRESOLVED, 'pv_native_safe_halt+0x9', 'iowrite8+0x14']);
  });

  it('another KASLR slide after: rows matched by symbol+offset, addresses as each trace has them, and a note', async () => {
    const plain = await diff({ before, after, maps: [MAP], top: 0 });
    const slid = await diff({ before, after: fx('mutation', 'diff-after-slid.csv'), maps: [MAP], top: 0, kaslrAfter: 0x200000n });
    expect([slid.before.kaslr.slide, slid.after.kaslr.slide, slid.after.kaslr.mode]).toEqual(['0x0', '0x200000', 'forced']);
    const up = (a: string | null) => (a === null || BigInt(a) >= 0xffffffffc0000000n ? a : `0x${(BigInt(a) + 0x200000n).toString(16)}`);
    for (const by of ['address', 'function'] as const) {
      expect(section(slid, by).rows.map(brief)).toEqual(section(plain, by).rows.map(brief));
      expect(section(slid, by).rows.map((r) => [r.addressBefore, r.addressAfter])).toEqual(section(plain, by).rows.map((r) => [r.addressBefore, up(r.addressAfter)]));
    }
    expect(slid.notes).toContain('the traces ran under different KASLR slides (0x0 before, 0x200000 after): trap addresses are matched by symbol+offset');
  });

  describe('nothing to compare is one error that says why', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'exitscope-diff-'));
    const trace = (name: string, rips: bigint[]): string => {
      const p = join(tmp, name);
      writeFileSync(p, ['ts_ns,vcpu,reason,rip,duration_ns', ...rips.map((r, i) => `${1000 + i * 100},0,IO_INSTRUCTION,0x${r.toString(16)},10`)].join('\n') + '\n');
      return p;
    };
    const otherOffset = trace('other-offset.csv', [0xffffffff81b971a0n]); // ioread8+0x30: a function in common, no address
    const user = trace('user.csv', [0x7f0000401234n]); // guest user space only

    it('no exit passes the filter', async () => {
      await expect(diff({ before: otherOffset, after, maps: [MAP], excludeReasons: ['IO_INSTRUCTION'] })).rejects.toThrow(/other-offset\.csv: no VM exits that pass the filter in it \(2 lines, 1 event read\): nothing to compare/);
      await expect(diff({ before, after: otherOffset, maps: [MAP], excludeReasons: ['IO_INSTRUCTION'] })).rejects.toThrow(/other-offset\.csv: no VM exits that pass the filter in it/);
    });

    it('no trap address in common: a shared function, no map, or nothing shared at all', async () => {
      await expect(diff({ before, after: otherOffset, maps: [MAP] })).rejects.toThrow(/diff-before\.csv and .*other-offset\.csv have no trap address in common \(6 before, 1 after\): they share 1 function\(s\) but no trap address: another kernel build or KASLR slide\?/);
      await expect(diff({ before, after: otherOffset })).rejects.toThrow(/have no trap address in common \(6 before, 1 after\): give the guest kernel map \(--map\) to match them by symbol\+offset/);
      await expect(diff({ before, after: user, maps: [MAP] })).rejects.toThrow(/have no trap address in common \(6 before, 1 after\): no function in common either; are they traces of the same guest\?/);
      await expect(diff({ before, after: user, maps: [MAP], views: ['function'] })).rejects.toThrow(/diff-before\.csv and .*user\.csv have no function in common \(6 before, 1 after\): are they traces of the same guest\?/);
      // By function only, a shared function is enough.
      const fn = await diff({ before, after: otherOffset, maps: [MAP], views: ['function'] });
      expect(section(fn, 'function').rows.find((r) => r.key === 'ioread8')!.after.exits).toBe(1);
    });
  });
});

describe('views: callsite, callers of address 0, several inputs', () => {
  it('--by callsite: (trap address, return address) pairs as the oracle gives them (fixtures/mutation/paper32-expected-callsite.json)', async () => {
    const rep = await analyze({ inputs: [fx('paper32', 'trace.csv')], maps: [fx('paper32', 'guest.map')], by: 'callsite', top: 0, includeIdle: true, keepUnknown: true });
    const want = readJson(fx('mutation', 'paper32-expected-callsite.json'));
    expect([rep.totals.exits, rep.totals.timeNs]).toEqual([want.exits, want.timeNs]);
    expect(comparable(rep.rows)).toEqual(comparable(want.rows));
  });

  const callerZero = (): string => {
    const f = join(mkdtempSync(join(tmpdir(), 'exitscope-caller0-')), 'c.csv');
    writeFileSync(f, ['ts_ns,vcpu,reason,rip,duration_ns,caller', '1000,0,IO_INSTRUCTION,0xffffffff81000010,10,0x0', '2000,0,IO_INSTRUCTION,0xffffffff81000010,20,0xffffffff81000110', '3000,0,IO_INSTRUCTION,0xffffffff81000010,30,'].join('\n') + '\n');
    return f;
  };
  const maps = [fx('neighbours64', 'System.map')];

  it('--by caller: a caller column of 0x0 is no caller (no return address was recorded)', async () => {
    const byCaller = await analyze({ inputs: [callerZero()], maps, by: 'caller', top: 0 });
    expect(byCaller.rows.map((r) => [r.key, r.count, r.caller, r.callerAddress, r.address])).toEqual([
      ['alpha <- [no caller]', 2, '[no caller]', null, '0xffffffff81000000'],
      ['alpha <- beta', 1, 'beta', '0xffffffff81000100', '0xffffffff81000000'],
    ]);
  });

  // Was a known defect: the callsite view keyed the caller on the caller flag alone, so a caller of 0x0 became a row
  // `<- [unknown] 0x0` whose caller was `[firmware]`, where --by caller says [no caller].
  it('--by callsite: a caller column of 0x0 is no caller either', async () => {
    const bySite = await analyze({ inputs: [callerZero()], maps, by: 'callsite', top: 0 });
    expect(bySite.rows.map((r) => [r.key, r.count, r.caller, r.callerAddress, r.address, r.symbol])).toEqual([
      ['alpha+0x10 <- [no caller]', 2, '[no caller]', null, '0xffffffff81000010', 'alpha'],
      ['alpha+0x10 <- beta+0x10', 1, 'beta', '0xffffffff81000110', '0xffffffff81000010', 'alpha'],
    ]);
  });

  it('--by callsite: a return address is kept exact, and one without a caller says so', async () => {
    const bySite = await analyze({ inputs: [callerZero()], maps, by: 'callsite', top: 0 });
    const rows = bySite.rows;
    expect(rows.map((r) => [r.key, r.count, r.caller, r.callerAddress, r.address, r.symbol])).toEqual([
      ['alpha+0x10 <- [no caller]', 2, '[no caller]', null, '0xffffffff81000010', 'alpha'],
      ['alpha+0x10 <- beta+0x10', 1, 'beta', '0xffffffff81000110', '0xffffffff81000010', 'alpha'],
    ]);
  });

  it('several inputs: each VM and vcpu row names its file, then its VM', async () => {
    const tgid = fx('ftrace', 'two-vms-tgid.txt'), n64 = fx('neighbours64', 'trace.csv');
    const byVm = await analyze({ inputs: [tgid, n64], by: 'vm', top: 0 });
    expect(byVm.rows.map((r) => [r.key, r.count])).toEqual([[`${n64}: vm 0`, 7], [`${tgid}: qemu pid 7280`, 2], [`${tgid}: qemu pid 9100`, 1]]);
    const byVcpu = await analyze({ inputs: [tgid, n64], by: 'vcpu', top: 0 });
    expect(byVcpu.rows.map((r) => [r.key, r.count])).toEqual([[`${n64}: vm 0 vcpu 0`, 7], [`${tgid}: qemu pid 7280 vcpu 0`, 1], [`${tgid}: qemu pid 7280 vcpu 1`, 1], [`${tgid}: qemu pid 9100 vcpu 0`, 1]]);
    // One input with one VM: plain labels.
    expect((await analyze({ inputs: [n64], by: 'vm,vcpu', top: 0 })).rows.map((r) => r.key)).toEqual(['vm 0 | vcpu 0']);
  });
});

describe('totals, per-vcpu shares, where exits trapped, and what the notes say (fixtures/mutation/totals.csv)', () => {
  const f = fx('mutation', 'totals.csv');
  const maps = [fx('neighbours64', 'System.map')];
  const UNPAIRED = '1 exits have no known duration (unpaired exit/entry): counted, left out of time statistics';

  it('totals and each vcpu\'s handling and idle share of its own wall time', async () => {
    const rep = await analyze({ inputs: [f], maps, top: 0 });
    const { perVcpu, split, ...t } = rep.totals;
    expect(t).toEqual({ exits: 6, timeNs: 2150, handlingNs: 650, idleNs: 1500, timed: 5, spanNs: 5050, vcpus: 2 });
    expect(perVcpu).toEqual([
      { input: 0, vm: 0, vcpu: 0, exits: 3, handlingNs: 150, idleNs: 1500, wallNs: 5050, label: 'vcpu 0', handlingShare: 0.029703, idleShare: 0.29703 },
      { input: 0, vm: 0, vcpu: 1, exits: 3, handlingNs: 500, idleNs: 0, wallNs: 3000, label: 'vcpu 1', handlingShare: 0.166667, idleShare: 0 },
    ]);
    expect(split).toEqual({ kernel: { exits: 3, timeNs: 1600 }, user: { exits: 2, timeNs: 250 }, unresolved: { exits: 1, timeNs: 300 } });
    expect(rep.view).toEqual({ exits: 6, timeNs: 650 });
    expect(rep.kaslr).toEqual({ slide: '0x0', mode: 'auto', note: 'no slide: the trace\'s kernel RIPs fit the map as linked (75% inside functions)' });
    expect(rep.rows.map((r) => [r.key, r.count, r.timeNs, r.handlingNs, r.idleNs, r.timed])).toEqual([
      ['[guest user]', 2, 250, 250, 0, 2], ['[guest kernel, no symbol]', 1, 300, 300, 0, 1], ['alpha', 1, 100, 100, 0, 1], ['beta', 1, 1500, 0, 1500, 1], ['gamma', 1, 0, 0, 0, 0],
    ]);
    expect(rep.notes).toEqual([UNPAIRED, '1 exits in the guest kernel\'s address space outside every map (modules? give /proc/kallsyms with its [module] lines, or MODULE.ko@BASE); --keep-unknown lists them by address']);
  });

  it('--keep-unknown lists the 3 unresolved and user exits by address, and says so', async () => {
    const rep = await analyze({ inputs: [f], maps, top: 0, keepUnknown: true });
    expect(rep.notes).toEqual([UNPAIRED, '3 exits at addresses no map resolves, shown one row per address (--keep-unknown)']);
  });

  it('without a map: no split, addresses as [unknown] rows, no slide', async () => {
    const rep = await analyze({ inputs: [f], top: 0 });
    expect(rep.totals.split).toBeNull();
    expect(rep.kaslr).toEqual({ slide: '0x0', mode: 'none', note: 'no map given' });
    expect(rep.notes).toEqual([UNPAIRED, 'no --map given: guest addresses are shown as [unknown] rows']);
    expect((await analyze({ inputs: [f], top: 0, by: 'reason' })).notes).toEqual([UNPAIRED]);
  });

  it('--by caller on a trace without callers says every row is [no caller]', async () => {
    const rep = await analyze({ inputs: [f], maps, top: 0, by: 'caller' });
    expect(rep.notes[rep.notes.length - 1]).toBe('this trace carries no caller column: every row is [no caller]');
  });

  it('--interval: exits and handling time per window from the first exit, per row', async () => {
    // Windows of 2,000 ns from 1,000: [1000, 3000) holds 1000, 2000, 2500; [3000, 5000) 3000; [5000, 7000) 5000, 6000.
    const rep = await analyze({ inputs: [f], top: 0, by: 'vcpu', intervalNs: 2000 });
    expect(rep.interval).toEqual({ ns: 2000, count: 3, capped: false });
    expect(rep.rows.map((r) => [r.key, r.series])).toEqual([
      ['vcpu 1', { exits: [1, 1, 1], handlingNs: [200, 300, 0] }],
      ['vcpu 0', { exits: [2, 0, 1], handlingNs: [100, 0, 50] }],
    ]);
    expect((await analyze({ inputs: [f], top: 0, by: 'vcpu' })).interval).toBeNull();
  });

  it('a row lists its reasons most frequent first', async () => {
    const rep = await analyze({ inputs: [f], top: 0, by: 'vm' });
    expect(rep.rows).toHaveLength(1);
    expect(rep.rows[0].reasons).toEqual({ IO_INSTRUCTION: 3, HLT: 1, EPT_MISCONFIG: 1, MSR_WRITE: 1 });
    expect(Object.keys(rep.rows[0].reasons)[0]).toBe('IO_INSTRUCTION');
  });

  it('device views cover only the exits with that detail, and say how many they leave out', async () => {
    const port = await analyze({ inputs: [f], maps, top: 0, by: 'port' });
    expect(port.view).toEqual({ exits: 1, timeNs: 100 });
    expect(port.rows.map((r) => [r.key, r.count, r.countPct, r.timePct])).toEqual([['0x3f8:POUT', 1, 100, 100]]);
    expect(port.rows[0].device).toMatch(/COM1/); // the PC's first serial port
    expect(port.notes).toEqual(['5 of 6 exits carry no I/O port detail (kvm_pio) and are not in this view', UNPAIRED]);
    const both = await analyze({ inputs: [f], maps, top: 0, by: 'port,mmio' });
    expect(both.view).toEqual({ exits: 0, timeNs: 0 });
    expect(both.notes[0]).toBe('6 of 6 exits carry no I/O port detail (kvm_pio) and MMIO detail (kvm_mmio) and are not in this view');
  });
});

describe('analyze refuses what it cannot do, in one line that says what to do', () => {
  it('an unknown --by names the dimensions there are; an empty --by is the default, function', async () => {
    const all = 'function, address, caller, callsite, reason, port, mmio, msr, vcpu, vm';
    await expect(analyze({ inputs: [fx('paper32', 'trace.csv')], by: 'fn' })).rejects.toThrow(`--by: unknown dimension 'fn' (choose from: ${all}; several with commas, e.g. function,vcpu)`);
    await expect(analyze({ inputs: [fx('paper32', 'trace.csv')], by: 'function,bogus' })).rejects.toThrow(`--by: unknown dimension 'bogus' (choose from: ${all};`);
    expect((await analyze({ inputs: [fx('paper32', 'trace.csv')], by: ' , ', top: 1 })).by).toEqual(['function']);
    expect((await analyze({ inputs: [fx('paper32', 'trace.csv')], by: ['reason', 'vcpu'], top: 1 })).by).toEqual(['reason', 'vcpu']);
  });

  it('a file none of whose lines reads in the format given quotes its first rejected line', async () => {
    // paper32/trace.csv: 27 lines, one blank; as JSON Lines the other 26 are rejected, the header first.
    await expect(analyze({ inputs: [fx('paper32', 'trace.csv')], inputFormat: 'jsonl' })).rejects.toThrow(/^\S*paper32\/trace\.csv: none of its 26 lines could be read as jsonl \(the first: line 1: not JSON: .*\); is it in another format\? \(drop --input-format to let exitscope sniff it\)$/);
  });
});

describe('many rows', () => {
  // 1,500 distinct trap addresses 0x10 apart (k = 0..1,499), one exit each, written in a shuffled
  // order; every exit lasts 1,000 ns but k = 1,499 (4,000), 1,498 (3,000) and 5 (2,000).
  const addr = (k: number): string => `0x${(0xc0100000 + k * 16).toString(16)}`;
  const many = (): string => {
    const f = join(mkdtempSync(join(tmpdir(), 'exitscope-many-')), 'many.csv');
    const ns = (k: number): number => (k === 1499 ? 4000 : k === 1498 ? 3000 : k === 5 ? 2000 : 1000);
    const ks = Array.from({ length: 1500 }, (_, k) => (k * 7919) % 1500);
    writeFileSync(f, ['ts_ns,vcpu,reason,rip,duration_ns', ...ks.map((k, i) => `${1000 + i * 10_000},0,IO_INSTRUCTION,${addr(k)},${ns(k)}`)].join('\n') + '\n');
    return f;
  };

  it('1,500 rows (past the first 1,024 slots): equal counts rank by time, then by their text; the rest of --top is counted', async () => {
    const f = many();
    const all = await analyze({ inputs: [f], by: 'address', top: 0 });
    expect(all.rows).toHaveLength(1500);
    expect(all.rows.slice(0, 6).map((r) => [r.key, r.timeNs])).toEqual([[addr(1499), 4000], [addr(1498), 3000], [addr(5), 2000], [addr(0), 1000], [addr(1), 1000], [addr(2), 1000]]);
    expect(all.rows[1499].key).toBe(addr(1497));
    for (const sort of ['count', 'time'] as const) {
      const top = await analyze({ inputs: [f], by: 'address', top: 3, sort });
      expect(top.rows.map((r) => r.key)).toEqual([addr(1499), addr(1498), addr(5)]);
      expect(top.omitted).toEqual({ rows: 1497, count: 1497, timeNs: 1497 * 1000 });
    }
    const five = await analyze({ inputs: [f], by: 'address', top: 5 });
    expect(five.rows.map((r) => r.key)).toEqual([addr(1499), addr(1498), addr(5), addr(0), addr(1)]);
  });
});

describe('many vcpus, large vcpu numbers', () => {
  // 70 vcpus numbered 1..70 (the first exit is vcpu 1's), then vcpu 5000 and vcpu 70000, one 100 ns IO exit each,
  // and a HLT of 1,000 ns on vcpu 70000.
  const trace = (): string => {
    const f = join(mkdtempSync(join(tmpdir(), 'exitscope-vcpus-')), 'v.csv');
    const vs = [...Array.from({ length: 70 }, (_, k) => k + 1), 5000, 70000];
    const lines = vs.map((v, k) => `${1000 + k * 1000},${v},IO_INSTRUCTION,0xc0100000,100`);
    lines.push(`${1000 + 72 * 1000},70000,HLT,0xc0100010,1000`);
    writeFileSync(f, ['ts_ns,vcpu,reason,rip,duration_ns', ...lines].join('\n') + '\n');
    return f;
  };

  it('each vcpu gets its own totals, past the first 64 and beyond 1,024 and 65,536', async () => {
    const rep = await analyze({ inputs: [trace()], by: 'vcpu', top: 0 });
    expect(rep.totals.vcpus).toBe(72);
    const per = rep.totals.perVcpu;
    expect(per.map((v) => v.vcpu)).toEqual([...Array.from({ length: 70 }, (_, k) => k + 1), 5000, 70000]);
    expect(per.every((v) => v.vm === 0 && v.input === 0)).toBe(true);
    expect(per.slice(0, 70).every((v) => v.exits === 1 && v.handlingNs === 100 && v.idleNs === 0 && v.wallNs === 100)).toBe(true);
    expect(per[70]).toMatchObject({ vcpu: 5000, exits: 1, handlingNs: 100, wallNs: 100, label: 'vcpu 5000' });
    expect(per[71]).toMatchObject({ vcpu: 70000, exits: 2, handlingNs: 100, idleNs: 1000, wallNs: 2000, handlingShare: 0.05, idleShare: 0.5 });
    expect(rep.rows.find((r) => r.key === 'vcpu 70000')).toMatchObject({ count: 2, handlingNs: 100, idleNs: 1000 });
  });

  it('--vcpu picks a large vcpu number; an absent one lists those present', async () => {
    const rep = await analyze({ inputs: [trace()], by: 'reason', top: 0, vcpus: [70000] });
    expect(rep.rows.map((r) => [r.key, r.count])).toEqual([['IO_INSTRUCTION', 1], ['HLT', 1]]);
    await expect(analyze({ inputs: [trace()], vcpus: [71] })).rejects.toThrow(/^--vcpu 71: no exits of vcpu 71 in this trace \(vcpus present: 1, 2, 3, .*, 69, 70, 5000, 70000\)$/);
  });
});

describe('--reason filters', () => {
  const f = fx('mutation', 'totals.csv');
  it('names, exclusions with ! or --exclude-reason, and words that name no reason', async () => {
    const rows = async (o: object) => (await analyze({ inputs: [f], by: 'reason', top: 0, ...o })).rows.map((r) => [r.key, r.count]);
    expect(await rows({ reasons: ['IO_INSTRUCTION'] })).toEqual([['IO_INSTRUCTION', 3]]);
    expect(await rows({ reasons: ['!IO_INSTRUCTION', '!HLT'] })).toEqual([['EPT_MISCONFIG', 1], ['MSR_WRITE', 1]]);
    expect(await rows({ excludeReasons: ['IO_INSTRUCTION', 'HLT'] })).toEqual([['EPT_MISCONFIG', 1], ['MSR_WRITE', 1]]);
    expect(await rows({ reasons: ['IO_INSTRUCTION', 'HLT'], excludeReasons: ['HLT'] })).toEqual([['IO_INSTRUCTION', 3]]);
    await expect(analyze({ inputs: [f], reasons: ['BOGUS'] })).rejects.toThrow(/^--reason: 'BOGUS' names no exit reason \(VMX like IO_INSTRUCTION, HLT, MSR_WRITE; SVM like io, npf, msr; libtraceevent like PENDING_INTERRUPT, EXIT_IOIO; or a numeric code\)$/);
    await expect(analyze({ inputs: [f], excludeReasons: ['BOGUS'] })).rejects.toThrow(/^--reason: 'BOGUS' names no exit reason/);
    await expect(analyze({ inputs: [f], reasons: ['VMCALL'] })).rejects.toThrow(/^--reason VMCALL: no such exit in this trace \(reasons present: .*\)$/);
  });
});
