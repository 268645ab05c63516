/**
 * The parts of src/analyze that turn exits into rows (issue 16), called
 * directly on hand-built inputs: the key table, the filter and its census, the
 * handler run, the dimensions' keys and labels, the totals per vcpu and the
 * kernel/user split, and ranking and describing rows. Expected values are
 * worked out by hand in the comments.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CellsHandler, SERIES_CELL_CAP } from '../src/analyze/cells.js';
import { DIMENSION_SPECS, type LabelContext } from '../src/analyze/dimensions.js';
import { Census, NO_FILTER, ReasonFilter, selectRows } from '../src/analyze/filter.js';
import { HandlerRun, runHandlers, type ExitHandler, type InputChunk } from '../src/analyze/handler.js';
import { analyze } from '../src/analyze/index.js';
import { KeyTable } from '../src/analyze/key-table.js';
import { AddressResolver } from '../src/analyze/resolver.js';
import { describeRows, groupCells, rankRows, type RowGroups } from '../src/analyze/rows.js';
import { TotalsHandler } from '../src/analyze/totals.js';
import { DIR_NONE, DIR_READ, DIR_WRITE, ExitChunk, F_CALLER, F_GPA, F_MSR, F_PORT, F_UNPAIRED } from '../src/model/chunk.js';
import { REASONS } from '../src/model/reasons.js';
import { IoMap } from '../src/symbols/iomap.js';
import { fx } from './helpers.js';

const IO = REASONS.lookup('IO_INSTRUCTION');
const HLT = REASONS.lookup('HLT');

/** A chunk of [ts, vcpu, reason, dur, vm] rows (rip 0). */
function chunk(rows: Array<[number, number, number, number, number?]>, capacity = Math.max(rows.length, 1)): ExitChunk {
  const c = new ExitChunk(capacity);
  for (const [ts, vcpu, reason, dur, vm] of rows) {
    const i = c.push(ts, vcpu, reason, 0, 0, dur);
    c.vm[i] = vm ?? 0;
  }
  return c;
}

describe('KeyTable', () => {
  /** 1,000 distinct pairs, none (0, 0): a spread first word and a small second one, so many share a slot. */
  const pair = (k: number): [number, number] => [(k * 2654435761) >>> 0 || 1, k % 5];

  it('ids are 0, 1, 2, ... in insertion order; every key reads back and interns to its id again after the table grew', () => {
    const t = new KeyTable(2, 4);
    const ids = Array.from({ length: 1000 }, (_, k) => k);
    expect(ids.map((k) => t.intern(pair(k)))).toEqual(ids);
    expect(t.size).toBe(1000);
    expect(ids.map((k) => [t.key(k, 0), t.key(k, 1)])).toEqual(ids.map(pair));
    expect(ids.map((k) => t.intern(pair(k)))).toEqual(ids);
    expect(ids.map((k) => t.intern2(...pair(k)))).toEqual(ids);
    expect(t.size).toBe(1000);
    // A new key after all that growth is the next id, and only one.
    expect(t.intern([0, 0])).toBe(1000);
    expect(t.intern([0, 0])).toBe(1000);
    expect(t.intern2(7, 7)).toBe(1001);
    expect(t.size).toBe(1002);
  });

  it('the all-zero key right after the table doubled gets a new id of its own', () => {
    // 16 slots for 4 keys: the 9th key fills more than half of them and the table doubles; (0, 0) is then key 9.
    const t = new KeyTable(2, 4);
    for (let k = 1; k <= 9; k++) expect(t.intern([k, k])).toBe(k - 1);
    expect(t.intern([0, 0])).toBe(9);
    expect(t.size).toBe(10);
    expect(t.intern2(10, 10)).toBe(10);
    expect([t.intern([0, 0]), t.intern([10, 10]), t.size]).toEqual([9, 10, 11]);
  });

  it('a one-key table grows its key array: ids and keys stay right', () => {
    const t = new KeyTable(2, 1);
    for (let k = 0; k < 40; k++) expect(t.intern2(k + 1, 100 - k)).toBe(k);
    for (let k = 0; k < 40; k++) expect([t.key(k, 0), t.key(k, 1), t.intern([k + 1, 100 - k])]).toEqual([k + 1, 100 - k, k]);
  });

  it('three-word keys (the totals\' input, vm, vcpu) tell apart keys that differ in one word', () => {
    const t = new KeyTable(3, 64);
    const keys: Array<[number, number, number]> = [];
    for (let input = 0; input < 3; input++) for (let vm = 0; vm < 10; vm++) for (let v = 0; v < 10; v++) keys.push([input, vm, v]);
    keys.forEach((k, id) => expect(t.intern(k)).toBe(id));
    keys.forEach((k, id) => {
      expect(t.intern(k)).toBe(id);
      expect([t.key(id, 0), t.key(id, 1), t.key(id, 2)]).toEqual(k);
    });
    expect(t.size).toBe(300);
  });
});

describe('ReasonFilter and Census', () => {
  it('active only with a word to include or exclude; one argument is enough', () => {
    expect(new ReasonFilter([]).active).toBe(false);
    expect(new ReasonFilter([], []).active).toBe(false);
    const inc = new ReasonFilter(['HLT']);
    expect([inc.active, inc.include, inc.exclude]).toEqual([true, ['HLT'], []]);
    const exc = new ReasonFilter([], ['HLT']);
    expect([exc.active, exc.include, exc.exclude]).toEqual([true, [], ['HLT']]);
    const bang = new ReasonFilter(['!HLT']);
    expect([bang.active, bang.include, bang.exclude]).toEqual([true, [], ['HLT']]);
  });

  it('decides reason ids past its first 64 (MSR_WRITE_IMM is id 64), the same every time', () => {
    const imm = REASONS.lookup('MSR_WRITE_IMM');
    expect(imm).toBe(64);
    const noHlt = new ReasonFilter([], ['HLT']);
    expect([noHlt.accepts(imm), noHlt.accepts(imm), noHlt.accepts(HLT), noHlt.accepts(IO)]).toEqual([true, true, false, true]);
    const only = new ReasonFilter(['MSR_WRITE_IMM']);
    expect([only.accepts(IO), only.accepts(imm), only.accepts(imm), only.accepts(HLT)]).toEqual([false, true, true, false]);
  });

  it('counts every exit by reason and vcpu: vcpu 64 (the first past the dense array), 100, and far ones', () => {
    const imm = REASONS.lookup('MSR_WRITE_IMM');
    const c = new Census();
    c.count(chunk([[1, 0, IO, 5], [2, 64, IO, 5], [3, 100, imm, 5], [4, 100, HLT, 5], [5, 80000, IO, 5], [6, 70000, IO, 5], [7, 80000, IO, 5]]));
    c.count(chunk([[8, 64, imm, 5]]));
    expect(c.reasons).toEqual(new Map([[HLT, 1], [IO, 5], [imm, 2]]));
    expect(c.vcpus).toEqual(new Map([[0, 1], [64, 2], [100, 2], [80000, 2], [70000, 1]]));
  });

  it('check: a filter that matches nothing names what the trace holds, vcpus in numeric order, or none', () => {
    const empty = new Census();
    expect(() => empty.check({ reasons: new ReasonFilter(['HLT']), vcpus: null })).toThrow('--reason HLT: no such exit in this trace (reasons present: none)');
    expect(() => empty.check({ reasons: null, vcpus: new Set([3]) })).toThrow('--vcpu 3: no exits of vcpu 3 in this trace (vcpus present: none)');
    const c = new Census();
    c.count(chunk([[1, 80000, IO, 5], [2, 70000, IO, 5], [3, 5, IO, 5], [4, 65535, IO, 5]]));
    expect(() => c.check({ reasons: null, vcpus: new Set([5, 6]) })).toThrow('--vcpu 6: no exits of vcpu 6 in this trace (vcpus present: 5, 65535, 70000, 80000)');
    expect(() => c.check({ reasons: new ReasonFilter(['HLT']), vcpus: null })).toThrow('--reason HLT: no such exit in this trace (reasons present: IO_INSTRUCTION)');
    expect(() => c.check({ reasons: new ReasonFilter(['IO_INSTRUCTION'], ['HLT']), vcpus: new Set([70000]) })).not.toThrow();
  });

  it('selectRows: every row without a filter; the reason and vcpu filters together otherwise', () => {
    const c = chunk([[1, 0, IO, 5], [2, 1, HLT, 5], [3, 1, IO, 5], [4, 2, IO, 5]]);
    const sel = new Uint32Array(4);
    expect(selectRows(c, NO_FILTER, sel)).toBe(4);
    expect([...sel]).toEqual([0, 1, 2, 3]);
    expect(selectRows(c, { reasons: new ReasonFilter(['IO_INSTRUCTION']), vcpus: new Set([1, 2]) }, sel)).toBe(2);
    expect([...sel.subarray(0, 2)]).toEqual([2, 3]);
  });
});

describe('HandlerRun and runHandlers', () => {
  /** Records what it is given. */
  class Recorder implements ExitHandler<string[]> {
    readonly name = 'recorder';
    log: string[] = [];
    reset(): void { this.log.push('reset'); }
    handleChunk(c: ExitChunk, sel: Uint32Array, n: number, input: number): void { this.log.push(`${input}:${[...sel.subarray(0, n)].map((i) => c.ts[i]).join(',')}`); }
    finalize(): void { this.log.push('finalize'); }
    data(): string[] { return this.log; }
  }

  it('runs every chunk through every handler, without a census, and finalizes each once', async () => {
    const a = new Recorder(), b = new Recorder();
    async function* source(): AsyncGenerator<InputChunk> {
      yield { chunk: chunk([[1, 0, IO, 5]]), input: 0 };
      // A bigger chunk than the first: the selection grows.
      yield { chunk: chunk([[2, 0, IO, 5], [3, 0, HLT, 5], [4, 1, IO, 5]], 8), input: 1 };
    }
    await runHandlers(source(), [a, b], { reasons: new ReasonFilter(['IO_INSTRUCTION']), vcpus: null });
    expect(a.data()).toEqual(['reset', '0:1', '1:2,4', 'finalize']);
    expect(b.data()).toEqual(a.data());
  });

  it('a census sees the exits the filter drops', () => {
    const census = new Census(), r = new Recorder();
    const run = new HandlerRun([r], { reasons: null, vcpus: new Set([1]) }, census);
    run.feed(chunk([[1, 0, IO, 5], [2, 1, HLT, 5]]), 0);
    run.finish();
    expect(r.data()).toEqual(['reset', '0:2', 'finalize']);
    expect(census.vcpus).toEqual(new Map([[0, 1], [1, 1]]));
  });
});

describe('dimensions', () => {
  const resolver = new AddressResolver(null, false);
  const ctx = (inputs: LabelContext['inputs'], severalVms = false): LabelContext => ({ resolver, iomap: new IoMap(), inputs, severalVms, msrName: (m) => (m === 0x10 ? 'IA32_TIME_STAMP_COUNTER' : null) });

  it('msr: only exits with an MSR detail get a key; the label says R, W or ? for no direction', () => {
    const c = new ExitChunk(2);
    c.push(1, 0, REASONS.lookup('MSR_WRITE'), 0, 0, 5);
    const i = c.push(2, 0, REASONS.lookup('MSR_WRITE'), 0, 0, 5);
    c.flags[i] |= F_MSR; c.msr[i] = 0x10; c.dir[i] = DIR_WRITE;
    const key = new Uint32Array(3);
    expect(DIMENSION_SPECS.msr.key(c, 0, 0, resolver, key, 1)).toBe(false);
    expect(DIMENSION_SPECS.msr.key(c, 1, 0, resolver, key, 1)).toBe(true);
    expect([...key]).toEqual([0, 0x10, DIR_WRITE]);
    const label = (dir: number) => DIMENSION_SPECS.msr.label([0x10, dir], 0, ctx([]));
    expect([label(DIR_READ).text, label(DIR_WRITE).text, label(DIR_NONE).text]).toEqual(['0x10:R', '0x10:W', '0x10:?']);
    expect(label(DIR_NONE)).toEqual({ text: '0x10:?', address: 0x10n, register: 'IA32_TIME_STAMP_COUNTER' });
  });

  it('port and mmio: the direction words of perf kvm stat, ? when the trace gave none', () => {
    expect(DIMENSION_SPECS.port.label([0x3f8 | (DIR_NONE << 16)], 0, ctx([])).text).toBe('0x3f8:?');
    expect(DIMENSION_SPECS.port.label([0x3f8 | (DIR_READ << 16)], 0, ctx([])).text).toBe('0x3f8:PIN');
    expect(DIMENSION_SPECS.mmio.label([0, 0xfebc0008, DIR_NONE], 0, ctx([])).text).toBe('0xfebc0008:?');
  });

  it('vm: its label, with the input\'s path when there are several, and "input N" for one the context does not list', () => {
    const one = ctx([{ path: 'a.csv', vms: new Map([[7, 'qemu pid 7']]) }]);
    expect([DIMENSION_SPECS.vm.label([0, 7], 0, one).text, DIMENSION_SPECS.vm.label([0, 3], 0, one).text]).toEqual(['qemu pid 7', 'vm 3']);
    const two = ctx([{ path: 'a.csv', vms: new Map() }, { path: 'b.csv', vms: new Map([[7, 'qemu pid 7']]) }]);
    expect(DIMENSION_SPECS.vm.label([1, 7], 0, two).text).toBe('b.csv: qemu pid 7');
    expect(DIMENSION_SPECS.vm.label([5, 3], 0, two).text).toBe('input 5: vm 3');
    expect(DIMENSION_SPECS.vcpu.label([5, 3, 2], 0, ctx(two.inputs, true)).text).toBe('input 5: vm 3 vcpu 2');
  });

  it('keys: each dimension writes its words, and a device dimension refuses an exit without its detail', () => {
    const c = new ExitChunk(4);
    // Row 0: a port write (0x3f8) on vcpu 2 of vm -1 (a reader's "unknown guest"); row 1: an MMIO read at
    // 0x1_fee00300 with a caller; row 2: a caller flag with a caller of 0 (none recorded); row 3: nothing.
    let i = c.push(10, 2, IO, 0xffffffff, 0x81000010, 5);
    c.flags[i] |= F_PORT; c.port[i] = 0x3f8; c.dir[i] = DIR_WRITE; c.vm[i] = -1;
    i = c.push(20, 0, REASONS.lookup('EPT_MISCONFIG'), 0, 0x1000, 5);
    c.flags[i] |= F_GPA | F_CALLER; c.gpaHi[i] = 1; c.gpaLo[i] = 0xfee00300; c.dir[i] = DIR_READ; c.callerHi[i] = 0; c.callerLo[i] = 0x2000;
    i = c.push(30, 0, IO, 0, 0x1000, 5);
    c.flags[i] |= F_CALLER;
    c.push(40, 0, IO, 0, 0x3000, 5);
    const r = new AddressResolver(null, false);
    const key = new Uint32Array(6);
    const words = (d: keyof typeof DIMENSION_SPECS, row: number, input = 0): number[] | false => {
      key.fill(0xdead);
      return DIMENSION_SPECS[d].key(c, row, input, r, key, 1) ? [...key.subarray(1, 1 + DIMENSION_SPECS[d].words)] : false;
    };
    expect(words('port', 0)).toEqual([0x3f8 | (DIR_WRITE << 16)]);
    expect([words('port', 1), words('port', 3), words('mmio', 0), words('mmio', 3)]).toEqual([false, false, false, false]);
    expect(words('mmio', 1)).toEqual([1, 0xfee00300, DIR_READ]);
    expect(words('address', 0)).toEqual([0xffffffff, 0x81000010]);
    expect(words('reason', 1)).toEqual([REASONS.lookup('EPT_MISCONFIG')]);
    expect(words('vcpu', 0, 3)).toEqual([3, 0xffffffff, 2]);
    expect(words('vm', 0, 3)).toEqual([3, 0xffffffff]);
    // callsite: trap address, then 1 and the caller address when there is one, 0 0 0 otherwise.
    expect([words('callsite', 1), words('callsite', 2), words('callsite', 3)]).toEqual([[0, 0x1000, 1, 0, 0x2000], [0, 0x1000, 0, 0, 0], [0, 0x3000, 0, 0, 0]]);
    // caller: the trap's id, then the caller's id, or the no-caller word for a caller of 0 or none.
    const [trap, caller] = words('caller', 1) as number[];
    expect([trap, caller]).toEqual([r.id(0, 0x1000) >>> 0, r.id(0, 0x2000) >>> 0]);
    const none = (words('caller', 2) as number[])[1];
    expect((words('caller', 3) as number[])[1]).toBe(none);
    expect(none).not.toBe(caller);
    const l = { ...ctx([{ path: 'a.csv', vms: new Map() }]), resolver: r };
    expect(DIMENSION_SPECS.caller.label([trap, caller], 0, l)).toMatchObject({ text: '[unknown] 0x1000 <- [unknown] 0x2000', caller: '[unknown]', callerAddress: 0x2000n });
    expect(DIMENSION_SPECS.caller.label([trap, none], 0, l)).toMatchObject({ text: '[unknown] 0x1000 <- [no caller]', caller: '[no caller]', callerAddress: null });
    // Labels of the words written above: vm -1 comes back as -1; the MMIO address keeps its high word.
    expect(DIMENSION_SPECS.vcpu.label([3, 0xffffffff, 2], 0, ctx([{ path: 'a', vms: new Map() }, { path: 'b', vms: new Map() }], true)).text).toBe('input 3: vm -1 vcpu 2');
    expect(DIMENSION_SPECS.vcpu.label([0, 0xffffffff, 2], 0, l).text).toBe('vcpu 2');
    expect(DIMENSION_SPECS.mmio.label([1, 0xfee00300, DIR_READ], 0, l)).toMatchObject({ text: '0x1fee00300:R', address: 0x1fee00300n });
    expect(DIMENSION_SPECS.port.label([0x3f8 | (DIR_WRITE << 16)], 0, l)).toMatchObject({ text: '0x3f8:POUT', address: 0x3f8n });
    expect(DIMENSION_SPECS.reason.label([HLT], 0, l)).toEqual({ text: 'HLT' });
  });

  describe('--by callsite with a module map, a class and addresses kept as rows', () => {
    // fixtures/kallsyms-modules/kallsyms: ata_sff_dev_select [libata] at 0xffffffffc052d040, e1000_intr [e1000] at
    // 0xffffffffc0a10000, nothing at 0xffffffffc0a20000 (past e1000's last symbol: the kernel window, no symbol).
    const f = join(mkdtempSync(join(tmpdir(), 'exitscope-callsite-a2-')), 'c.csv');
    writeFileSync(f, ['ts_ns,vcpu,reason,rip,duration_ns,caller',
      '1000,0,IO_INSTRUCTION,0xffffffffc052d073,10,0xffffffffc0a20000',
      '2000,0,IO_INSTRUCTION,0xffffffffc052d073,10,0xffffffffc0a10010',
      '3000,0,IO_INSTRUCTION,0xffffffffc052d073,10,0xffffffffc0a10010'].join('\n') + '\n');
    const maps = [fx('kallsyms-modules', 'kallsyms')];
    const rows = async (o: object) => (await analyze({ inputs: [f], by: 'callsite', top: 0, ...o })).rows.map((r) => [r.key, r.count, r.symbol, r.module, r.caller, r.callerAddress]);

    it('a caller in no function is "[unknown] ADDRESS", whose caller is the class', async () => {
      expect(await rows({ maps })).toEqual([
        ['ata_sff_dev_select+0x33 [libata] <- e1000_intr+0x10 [e1000]', 2, 'ata_sff_dev_select', 'libata', 'e1000_intr', '0xffffffffc0a10010'],
        ['ata_sff_dev_select+0x33 [libata] <- [unknown] 0xffffffffc0a20000', 1, 'ata_sff_dev_select', 'libata', '[guest kernel, no symbol]', '0xffffffffc0a20000'],
      ]);
    });

    it('--keep-unknown: the same text for the address kept as its own row', async () => {
      expect((await rows({ maps, keepUnknown: true }))[1]).toEqual(['ata_sff_dev_select+0x33 [libata] <- [unknown] 0xffffffffc0a20000', 1, 'ata_sff_dev_select', 'libata', '[unknown]', '0xffffffffc0a20000']);
    });

    it('no map: every site is [unknown] ADDRESS', async () => {
      expect(await rows({})).toEqual([
        ['[unknown] 0xffffffffc052d073 <- [unknown] 0xffffffffc0a10010', 2, '[unknown]', null, '[unknown]', '0xffffffffc0a10010'],
        ['[unknown] 0xffffffffc052d073 <- [unknown] 0xffffffffc0a20000', 1, '[unknown]', null, '[unknown]', '0xffffffffc0a20000'],
      ]);
    });
  });
});

describe('TotalsHandler', () => {
  it('vcpus listed by input, then vm, then vcpu, whatever order they came in', () => {
    const t = new TotalsHandler();
    const run = new HandlerRun([t]);
    // Input 1 first: vm 0 vcpu 0 (10 ns at 100). Then input 0: vm 5 vcpu 0, vm 2 vcpu 3, vm 2 vcpu 1, vm 2 vcpu 3 again.
    run.feed(chunk([[100, 0, IO, 10, 0]]), 1);
    run.feed(chunk([[1000, 0, IO, 20, 5], [2000, 3, IO, 30, 2], [3000, 1, HLT, 400, 2], [4000, 3, IO, 50, 2]]), 0);
    run.finish();
    const d = t.data();
    expect(d.vcpus.map((v) => [v.input, v.vm, v.vcpu, v.exits, v.handlingNs, v.idleNs, v.wallNs])).toEqual([
      [0, 2, 1, 1, 0, 400, 400],
      [0, 2, 3, 2, 80, 0, 2050], // 2,000 to 4,050
      [0, 5, 0, 1, 20, 0, 20],
      [1, 0, 0, 1, 10, 0, 10],
    ]);
    // Spans per input, summed: input 0 from 1,000 to 4,050 (3,050), input 1 10 ns.
    expect([d.exits, d.handlingNs, d.idleNs, d.timeNs, d.timed, d.spanNs, d.split]).toEqual([5, 110, 400, 510, 5, 3060, null]);
  });

  it('an unpaired exit is counted, untimed, and ends where it starts', () => {
    const t = new TotalsHandler();
    const c = chunk([[1000, 0, IO, 10], [2000, 0, IO, 999]]);
    c.flags[1] |= F_UNPAIRED;
    const run = new HandlerRun([t]);
    run.feed(c, 0);
    const d = t.data();
    expect([d.exits, d.timed, d.handlingNs, d.spanNs, d.vcpus[0].wallNs]).toEqual([2, 1, 10, 1000, 1000]);
  });

  it('each input has its own vcpu slots; vcpus of other VMs and past 1,024 alternate within a chunk', () => {
    const t = new TotalsHandler();
    const run = new HandlerRun([t]);
    // Input 0: vcpu 0 (10 ns), vm 7 vcpu 0 (20), vcpu 0 (30), vcpu 2000 (40), vcpu 0 HLT (500, idle), vcpu 2000 (60).
    run.feed(chunk([[0, 0, IO, 10], [100, 0, IO, 20, 7], [200, 0, IO, 30], [300, 2000, IO, 40], [400, 0, HLT, 500], [1000, 2000, IO, 60]]), 0);
    // Input 2 (none for input 1): vcpu 0 twice, 5 ns each, at 50 and 60.
    run.feed(chunk([[50, 0, IO, 5], [60, 0, IO, 5]]), 2);
    // Input 0 again: vcpu 0, 1 ns at 2,000.
    run.feed(chunk([[2000, 0, IO, 1]]), 0);
    const d = t.data();
    expect(d.vcpus.map((v) => [v.input, v.vm, v.vcpu, v.exits, v.handlingNs, v.idleNs, v.wallNs])).toEqual([
      [0, 0, 0, 4, 41, 500, 2001], // 0 to 2,001
      [0, 0, 2000, 2, 100, 0, 760], // 300 to 1,060
      [0, 7, 0, 1, 20, 0, 20],
      [2, 0, 0, 2, 10, 0, 15], // 50 to 65
    ]);
    // Spans: input 0 from 0 to 2,001, input 2 from 50 to 65: 2,016.
    expect([d.exits, d.handlingNs, d.idleNs, d.timed, d.spanNs]).toEqual([9, 171, 500, 9, 2016]);
    // reset() starts over.
    t.reset();
    const e = t.data();
    expect([e.exits, e.handlingNs, e.idleNs, e.spanNs, e.vcpus]).toEqual([0, 0, 0, 0, []]);
  });

  it('the kernel/user/unresolved split is the same with --keep-unknown (fixtures/mutation/README.md, totals.csv)', async () => {
    const f = fx('mutation', 'totals.csv'), maps = [fx('neighbours64', 'System.map')];
    // README: kernel 3 exits, 1,600 ns; user 2, 250; unresolved 1, 300. Kept as address rows, the two user-space RIPs
    // are still user space and 0xffffffff81000300 still unresolved.
    const want = { kernel: { exits: 3, timeNs: 1600 }, user: { exits: 2, timeNs: 250 }, unresolved: { exits: 1, timeNs: 300 } };
    expect((await analyze({ inputs: [f], maps, top: 0, keepUnknown: true })).totals.split).toEqual(want);
    expect((await analyze({ inputs: [f], maps, top: 0 })).totals.split).toEqual(want);
  });
});

describe('rankRows', () => {
  /** Rows with these counts, handling and idle ns. */
  function groups(count: number[], handling: number[], idle: number[] = count.map(() => 0)): RowGroups {
    return { rows: count.length, keys: new KeyTable(1), countOf: (r) => count[r], handlingOf: (r) => handling[r], idleOf: (r) => idle[r] };
  }

  it('by time, equal times rank the row with more exits first', () => {
    // Row 0: 1 exit, 100 ns; row 1: 2 exits, 100 ns; row 2: 3 exits, 50 ns.
    const g = groups([1, 2, 3], [100, 100, 50]);
    expect(rankRows(g, 'time', false, 0, null)).toEqual({ order: [1, 0, 2], omitted: { rows: 0, count: 0, timeNs: 0 } });
    expect(rankRows(g, 'time', false, 2, null)).toEqual({ order: [1, 0], omitted: { rows: 1, count: 3, timeNs: 50 } });
    // By count: 2, 1, 0.
    expect(rankRows(g, 'count', false, 0, null).order).toEqual([2, 1, 0]);
  });

  it('by count, equal counts rank by time, which counts idle only with includeIdle', () => {
    // Row 0: 10 ns handling + 100 idle; row 1: 50 handling. Both 1 exit.
    const g = groups([1, 1], [10, 50], [100, 0]);
    expect(rankRows(g, 'count', false, 0, null).order).toEqual([1, 0]);
    expect(rankRows(g, 'count', true, 0, null).order).toEqual([0, 1]);
    expect(rankRows(g, 'time', true, 1, null).omitted).toEqual({ rows: 1, count: 1, timeNs: 50 });
    expect(rankRows(g, 'time', false, 1, null).omitted).toEqual({ rows: 1, count: 1, timeNs: 10 });
  });

  it('full ties: by text, then by row number; without texts by row number', () => {
    const g = groups([1, 1, 1], [10, 10, 10]);
    for (const top of [0, 2, 3]) {
      const n = top || 3;
      expect(rankRows(g, 'count', false, top, null).order, `no text, top ${top}`).toEqual([0, 1, 2].slice(0, n));
      expect(rankRows(g, 'count', false, top, () => 'same').order, `one text, top ${top}`).toEqual([0, 1, 2].slice(0, n));
      expect(rankRows(g, 'count', false, top, (r) => ['b', 'c', 'a'][r]).order, `texts, top ${top}`).toEqual([2, 0, 1].slice(0, n));
    }
    expect(rankRows(g, 'count', false, 2, (r) => ['b', 'c', 'a'][r]).omitted).toEqual({ rows: 1, count: 1, timeNs: 10 });
  });

  it('100 tied rows come out in the order of their texts', () => {
    // Row r's text is (37 r mod 100), zero-padded; 37 x 73 = 2701 = 1 (mod 100), so the row with text k is 73 k mod 100.
    const n = 100;
    const g = groups(Array(n).fill(1), Array(n).fill(10));
    const text = (r: number): string => String((37 * r) % 100).padStart(3, '0');
    const want = Array.from({ length: n }, (_, k) => (73 * k) % 100);
    expect(rankRows(g, 'count', false, 0, text).order).toEqual(want);
    expect(rankRows(g, 'time', false, 5, text).order).toEqual(want.slice(0, 5));
  });
});

describe('describeRows', () => {
  it('a row without a series (cells past SERIES_CELL_CAP get none) reports zeros; the others keep theirs', () => {
    // Two trap addresses, 0x10 (exits at 0 and 2,500 ns, 10 and 30 ns) and 0x20 (one at 1,200 ns, 20 ns); windows of
    // 1,000 ns: 0x10 has [1, 0, 1] exits and [10, 0, 30] ns, 0x20 [0, 1, 0] and [0, 20, 0]. Then 0x20's series is
    // dropped, as the store leaves it for a cell past the cap (65,536 cells, too many for a quick test).
    const resolver = new AddressResolver(null, false);
    const cells = new CellsHandler(['address'], resolver, { ns: 1000 });
    const run = new HandlerRun([cells]);
    const c = new ExitChunk(3);
    c.push(0, 0, IO, 0, 0x10, 10); c.push(1200, 0, IO, 0, 0x20, 20); c.push(2500, 0, IO, 0, 0x10, 30);
    run.feed(c, 0);
    const cd = cells.data();
    expect([cd.intervals, cd.seriesCapped, SERIES_CELL_CAP]).toEqual([3, false, 65_536]);
    const ctx: LabelContext = { resolver, iomap: new IoMap(), inputs: [{ path: 't.csv', vms: new Map() }], severalVms: false, msrName: () => null };
    const opts = { includeIdle: false, viewExits: 3, viewTimeNs: 60 };
    expect(describeRows([0, 1], groupCells(cd), cd, ctx, opts).map((r) => [r.key, r.series])).toEqual([
      ['0x10', { exits: [1, 0, 1], handlingNs: [10, 0, 30] }],
      ['0x20', { exits: [0, 1, 0], handlingNs: [0, 20, 0] }],
    ]);
    cd.store.series[1] = undefined;
    expect(describeRows([1, 0], groupCells(cd), cd, ctx, opts).map((r) => [r.key, r.count, r.series])).toEqual([
      ['0x20', 1, { exits: [0, 0, 0], handlingNs: [0, 0, 0] }],
      ['0x10', 2, { exits: [1, 0, 1], handlingNs: [10, 0, 30] }],
    ]);
  });

  it('--by msr: the MSR\'s name as the register, its index as the address (fixtures/mutation/lost-one-cpu.txt)', async () => {
    // README: vcpu0 MSR_WRITE 500 -> 502 = 2,000 ns, msr 0x6e0 (IA32_TSC_DEADLINE); the other 2 exits carry no MSR.
    const rep = await analyze({ inputs: [fx('mutation', 'lost-one-cpu.txt')], by: 'msr', top: 0 });
    expect(rep.rows.map((r) => [r.key, r.address, r.register, r.count, r.timeNs, r.device])).toEqual([['0x6e0:W', '0x6e0', 'IA32_TSC_DEADLINE', 1, 2000, undefined]]);
    expect(rep.view).toEqual({ exits: 1, timeNs: 2000 });
  });

  it('shares, statistics and reasons of each row (by reason; the reasons of a vm row most frequent first, ties in exit-code order)', async () => {
    // IO 100 and 200 ns, HLT 1,000 ns (idle), MSR_WRITE 50 ns, EPT_MISCONFIG 20 and 20 ns, in the order
    // MSR_WRITE, IO, HLT, EPT, EPT, IO. Handling: 300 + 50 + 40 = 390 ns; with idle 1,390.
    const f = join(mkdtempSync(join(tmpdir(), 'exitscope-rows-a2-')), 'r.csv');
    writeFileSync(f, ['ts_ns,vcpu,reason,rip,duration_ns', '1000,0,MSR_WRITE,0x1000,50', '2000,0,IO_INSTRUCTION,0x1000,100', '3000,0,HLT,0x1000,1000',
      '5000,0,EPT_MISCONFIG,0x1000,20', '6000,0,EPT_MISCONFIG,0x1000,20', '7000,0,IO_INSTRUCTION,0x1000,200'].join('\n') + '\n');
    const vm = await analyze({ inputs: [f], by: 'vm', top: 0 });
    // Counts: IO 2, EPT 2, then HLT (code 12), MSR_WRITE (32) with 1 each; IO (code 30) before EPT (49).
    expect(Object.entries(vm.rows[0].reasons)).toEqual([['IO_INSTRUCTION', 2], ['EPT_MISCONFIG', 2], ['HLT', 1], ['MSR_WRITE', 1]]);
    const rep = await analyze({ inputs: [f], by: 'reason', top: 0 });
    // countPct of 6 exits: 33.3333, 33.3333, 16.6667, 16.6667. timePct of 390 ns handling: IO 300/390 = 76.9231,
    // EPT 40/390 = 10.2564, HLT 0, MSR 50/390 = 12.8205. By count, then time (IO 300 > EPT 40; MSR 50 > HLT's 0 handling).
    expect(rep.rows.map((r) => [r.key, r.count, r.countPct, r.timePct, r.timeNs, r.handlingNs, r.idleNs])).toEqual([
      ['IO_INSTRUCTION', 2, 33.3333, 76.9231, 300, 300, 0],
      ['EPT_MISCONFIG', 2, 33.3333, 10.2564, 40, 40, 0],
      ['MSR_WRITE', 1, 16.6667, 12.8205, 50, 50, 0],
      ['HLT', 1, 16.6667, 0, 1000, 0, 1000],
    ]);
    // IO: {100, 200}: min 100, mean 150, population stddev 50, median 150, p99 by linear interpolation (numpy's
    // default) 100 + 0.99 x 100 = 199, max 200.
    expect(rep.rows.map((r) => [r.timed, r.minNs, r.meanNs, r.stddevNs, r.p50Ns, r.p99Ns, r.maxNs])).toEqual([
      [2, 100, 150, 50, 150, 199, 200], [2, 20, 20, 0, 20, 20, 20], [1, 50, 50, 0, 50, 50, 50], [1, 1000, 1000, 0, 1000, 1000, 1000],
    ]);
    // --include-idle: time shares of 1,390 ns: IO 21.5827, HLT 71.9424, MSR 3.5971, EPT 2.8777; HLT ranks first by time.
    const idle = await analyze({ inputs: [f], by: 'reason', top: 0, includeIdle: true, sort: 'time' });
    expect(idle.rows.map((r) => [r.key, r.timePct])).toEqual([['HLT', 71.9424], ['IO_INSTRUCTION', 21.5827], ['MSR_WRITE', 3.5971], ['EPT_MISCONFIG', 2.8777]]);
  });
});
