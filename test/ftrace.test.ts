import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../src/analyze/index.js';
import { readTrace } from '../src/formats/index.js';
import { DIR_READ, DIR_WRITE, F_FAILED_ENTRY, F_GPA, F_MSR, F_PORT, F_UNPAIRED, F_USERSPACE, type ExitChunk } from '../src/model/chunk.js';
import { REASONS } from '../src/model/reasons.js';
import { cli, comparable, fx, readJson } from './helpers.js';

interface Row { ts: bigint; vcpu: number; reason: string; isa: string; rip: string; dur: number; flags: number; port: number; dir: number; gpa: string; msr: number; val: string }

/** The exits of a fixture, in time order, as plain rows. */
async function exits(name: string) {
  const { trace, stream } = await readTrace(fx('ftrace', name));
  const rows: Row[] = [];
  for (const c of trace.chunks as ExitChunk[]) {
    for (let i = 0; i < c.length; i++) {
      const r = REASONS.get(c.reason[i]);
      rows.push({
        ts: c.tsBaseNs + BigInt(c.ts[i]), vcpu: c.vcpu[i], reason: r.name, isa: r.isa,
        rip: '0x' + ((BigInt(c.ripHi[i]) << 32n) | BigInt(c.ripLo[i])).toString(16), dur: c.dur[i], flags: c.flags[i],
        port: c.port[i], dir: c.dir[i], gpa: '0x' + ((BigInt(c.gpaHi[i]) << 32n) | BigInt(c.gpaLo[i])).toString(16), msr: c.msr[i],
        val: '0x' + ((BigInt(c.valHi[i]) << 32n) | BigInt(c.valLo[i])).toString(16),
      });
    }
  }
  rows.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  return { rows, stats: stream.stats, counters: stream.counters };
}

describe('text trace readers (numbers from fixtures/ftrace/README.md)', () => {
  it('trace-cmd report, 6.x format: pairing, detail events, lost events, unpaired exits and entries', async () => {
    const { rows, stats, counters } = await exits('trace-cmd-6x.txt');
    expect(stats).toMatchObject({ format: 'trace-cmd', lines: 25, events: 20, skipped: 5, rejected: 0 });
    expect(counters).toEqual({ lostEvents: 17, lostMarkers: 1, bufferStarts: 0, unpairedExits: 2, unpairedEntries: 1, timeWentBackwards: 0, orphanDetails: 0, guestEvents: 0 });
    expect(rows.map((r) => [r.vcpu, r.reason, r.dur])).toEqual([
      [0, 'EXTERNAL_INTERRUPT', 2000], [1, 'IO_INSTRUCTION', 12000], [0, 'MSR_WRITE', 1000], [1, 'EPT_MISCONFIG', 7000],
      [0, 'HLT', NaN], [0, 'IO_INSTRUCTION', 50000], [1, 'INVALID_STATE', 1000], [1, 'PAUSE_INSTRUCTION', NaN],
    ]);
    expect(rows[0].ts).toBe(2925640967000n);
    const io = rows[1];
    expect(io.flags & F_PORT && io.port).toBe(0xc037);
    expect(io.dir).toBe(DIR_READ);
    expect(io.val).toBe('0x1');
    expect(io.flags & F_USERSPACE).toBeTruthy();
    expect(rows[2].flags & F_MSR && rows[2].msr).toBe(0x6e0);
    expect(rows[2].val).toBe('0x2a6b1c3e4f');
    expect(rows[3].flags & F_GPA && rows[3].gpa).toBe('0xfebc00d0');
    expect(rows[3].dir).toBe(DIR_WRITE);
    expect(rows[4].flags & F_UNPAIRED).toBeTruthy();
    expect(rows[5].port).toBe(0x1f0);
    expect(rows[6].flags & F_FAILED_ENTRY).toBeTruthy();
    expect(rows[1].rip).toBe('0xffffffff81b97190');
  });

  it('raw ftrace from a 2.6-era kernel: lower-case VMX names, vcpu from kvm_entry', async () => {
    const { rows, stats } = await exits('ftrace-2.6-old.txt');
    expect(stats).toMatchObject({ lines: 11, events: 7, skipped: 4, rejected: 0 });
    expect(rows.map((r) => [r.vcpu, r.reason, r.isa, r.dur, r.rip])).toEqual([
      [0, 'IO_INSTRUCTION', 'vmx', 13000, '0xc01e4473'], [1, 'APIC_ACCESS', 'vmx', 12000, '0xc041add2'], [0, 'EXTERNAL_INTERRUPT', 'vmx', 4000, '0xc0402141'],
    ]);
    expect([rows[0].port, rows[0].dir]).toEqual([0xc13e, DIR_READ]);
  });

  it('4-character latency flags and the `info A B` form', async () => {
    const { rows, stats } = await exits('ftrace-3.x-flags4.txt');
    expect(stats).toMatchObject({ lines: 4, events: 4, rejected: 0 });
    expect(rows.map((r) => [r.reason, r.rip, r.dur])).toEqual([['IO_INSTRUCTION', '0xff', 45000], ['EXTERNAL_INTERRUPT', '0xc0402141', 10000]]);
  });

  it('SVM reasons with 9-decimal timestamps and a migrating vcpu thread', async () => {
    const { rows } = await exits('svm-5x-ns.txt');
    expect(rows.map((r) => [r.vcpu, r.reason, r.isa, r.dur])).toEqual([
      [0, 'npf', 'svm', 3250], [1, 'io', 'svm', 2000], [0, 'msr', 'svm', 777], [0, 'PF excp', 'svm', 3333], [1, 'hlt', 'svm', 1000000], [1, 'vintr', 'svm', 250],
    ]);
    expect(rows[0].ts).toBe(95922997039120n);
    expect([rows[0].gpa, rows[1].port, rows[2].msr]).toEqual(['0xfebc00d0', 0x70, 0x838]);
  });

  it('perf script, with and without comm/pid', async () => {
    const { rows, stats } = await exits('perf-script.txt');
    expect(stats.format).toBe('perf-script');
    expect(rows.map((r) => [r.vcpu, r.reason, r.dur, r.port])).toEqual([[0, 'TRIPLE_FAULT', 93000, 0], [0, 'IO_INSTRUCTION', 30000, 0x3f8], [1, 'EXCEPTION_NMI', 94000, 0]]);
  });

  it('detects time going backwards in concatenated per-CPU buffers', async () => {
    const { rows, counters } = await exits('backwards.txt');
    expect(counters.timeWentBackwards).toBe(1);
    expect(rows.map((r) => r.dur)).toEqual([100000, 50000, 100000]);
  });

  it('survives a BOM, CRLF, binary junk and a truncated last line, naming each bad line', async () => {
    const { rows, stats } = await exits('garbage-crlf.txt');
    expect(stats).toMatchObject({ lines: 7, events: 2, skipped: 1, rejected: 4 });
    expect(stats.rejections.map((r) => r.replace(/^.*garbage-crlf\.txt:/, ''))).toEqual([
      "3: not a trace event line: '???garbage??'",
      "4: not a trace event line: 'this is not a trace line'",
      "6: kvm_exit: rip '0xzz' is not hex",
      "7: not a trace event line: 'CPU 0/KVM-7289 [023] d.... 2925.6430'",
    ]);
    expect(rows.map((r) => [r.reason, r.dur])).toEqual([['HLT', 1000000]]);
  });

  it('a file of unrelated events is all skipped, and says so', async () => {
    const { rows, stats } = await exits('unrelated-only.txt');
    expect(rows).toHaveLength(0);
    expect(stats).toMatchObject({ lines: 3, events: 0, skipped: 3, rejected: 0 });
    expect(stats.notes.join()).toMatch(/no kvm_exit\/kvm_entry events/);
  });

  it('--strict stops at the first rejected line', async () => {
    const r = await cli(['analyze', fx('ftrace', 'garbage-crlf.txt'), '--strict']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/garbage-crlf\.txt:3: not a trace event line/);
  });
});

describe('issue 3 acceptance: analyze a trace-cmd report directly, and via convert', () => {
  it('gives identical rows from the text and from its CSV conversion', async () => {
    const map = fx('kallsyms-modules', 'kallsyms');
    const direct = await cli(['analyze', fx('ftrace', 'trace-cmd-6x.txt'), '--map', map, '--format', 'json', '--top', '0', '--include-idle', '--keep-unknown']);
    expect(direct.code).toBe(0);
    const j = JSON.parse(direct.stdout);
    expect(j.inputs[0]).toMatchObject({ format: 'trace-cmd', counters: { lostEvents: 17, unpairedExits: 2, unpairedEntries: 1, timeWentBackwards: 0 } });
    const want = readJson(fx('ftrace', 'trace-cmd-6x.expected-function.json'));
    expect(comparable(j.rows)).toEqual(comparable(want.rows));
    const dir = mkdtempSync(join(tmpdir(), 'exitscope-tc-'));
    const csv = join(dir, 'x.csv');
    expect((await cli(['convert', fx('ftrace', 'trace-cmd-6x.txt'), '--to', 'csv', '-o', csv])).code).toBe(0);
    const via = JSON.parse((await cli(['analyze', csv, '--map', map, '--format', 'json', '--top', '0', '--include-idle', '--keep-unknown'])).stdout);
    expect(via.rows).toEqual(j.rows);
    expect(readFileSync(csv, 'utf8').split('\n')[0]).toBe('ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,value,gpa,msr,vm');
  });

  it('groups I/O by port and MMIO by guest-physical address like perf kvm stat', async () => {
    const ports = await analyze({ inputs: [fx('ftrace', 'trace-cmd-6x.txt')], by: 'port', top: 0 });
    expect(ports.rows.map((r) => [r.key, r.count, r.timeNs])).toEqual([['0x1f0:POUT', 1, 50000], ['0xc037:PIN', 1, 12000]]);
    const mmio = await analyze({ inputs: [fx('ftrace', 'svm-5x-ns.txt'), fx('ftrace', 'trace-cmd-6x.txt')], by: 'mmio', top: 0 });
    expect(mmio.rows.map((r) => [r.key, r.count, r.timeNs])).toEqual([['0xfebc00d0:W', 2, 10250]]);
  });
});

describe('numeric reasons', () => {
  it('maps numbers printed by old kernels onto the table of the file\'s ISA', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'exitscope-num-'));
    const f = join(dir, 'num.txt');
    writeFileSync(f, [
      '  qemu-kvm-300 [001] 50.000100: kvm_exit: reason io_instruction rip 0xc01e4473',
      '  qemu-kvm-300 [001] 50.000110: kvm_entry: vcpu 0',
      '  qemu-kvm-300 [001] 50.000200: kvm_exit: reason 0x1e rip 0xc01e4473',
      '  qemu-kvm-300 [001] 50.000205: kvm_entry: vcpu 0',
      '  qemu-kvm-300 [001] 50.000300: kvm_exit: reason 99 rip 0xc01e4473',
      '  qemu-kvm-300 [001] 50.000301: kvm_entry: vcpu 0',
    ].join('\n') + '\n');
    const rep = await analyze({ inputs: [f], by: 'reason', top: 0 });
    expect(rep.rows.map((r) => [r.key, r.count, r.timeNs])).toEqual([['IO_INSTRUCTION', 2, 15000], ['UNKNOWN (99)', 1, 1000]]);
  });
});

describe('many vcpu threads', () => {
  it('keeps pairing right past the pending table\'s first growth (100 threads, interleaved)', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const f = join(mkdtempSync(join(tmpdir(), 'exitscope-threads-')), 'many.txt');
    const lines: string[] = [];
    const stamp = (ns: number): string => `${Math.floor(ns / 1e9)}.${String(ns % 1e9).padStart(9, '0')}`;
    const exitAt = (k: number): number => 10e9 + k * 10000;
    // All 100 exits are open at once (the pending table grows past 64), then the entries come.
    for (let k = 0; k < 100; k++) {
      lines.push(` CPU ${k}/KVM-${5000 + k} [001] d.... ${stamp(exitAt(k))}: kvm_exit: vcpu ${k} reason IO_INSTRUCTION rip 0xffffffff81000010`);
      lines.push(` CPU ${k}/KVM-${5000 + k} [001] ..... ${stamp(exitAt(k))}: kvm_pio: pio_write at 0x${(0x100 + k).toString(16)} size 1 count 1 val 0x1 `);
    }
    for (let k = 0; k < 100; k++) lines.push(` CPU ${k}/KVM-${5000 + k} [001] d.... ${stamp(exitAt(99) + 2000 + k * 10000)}: kvm_entry: vcpu ${k}, rip 0xffffffff81000012`);
    writeFileSync(f, lines.join('\n') + '\n');
    const { rows, counters } = await (async () => {
      const { trace, stream } = await readTrace(f);
      const out: Array<[number, number, number]> = [];
      for (const c of trace.chunks) for (let i = 0; i < c.length; i++) out.push([c.vcpu[i], c.dur[i], c.port[i]]);
      return { rows: out.sort((a, b) => a[0] - b[0]), counters: stream.counters };
    })();
    expect(counters.unpairedExits).toBe(0);
    // Entry of k at exitAt(99) + 2000 + 10000k; exit at 10000k after the base: 990000 + 2000 ns each.
    expect(rows).toEqual(Array.from({ length: 100 }, (_, k) => [k, 992000, 0x100 + k]));
  });
});
