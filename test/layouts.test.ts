/**
 * Issue 9: real layouts and markers, and the CLI behaviours a user meets
 * first. Expected numbers are the hand-worked ones of fixtures/ftrace/README.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze, type AnalyzeReport } from '../src/analyze/index.js';
import { openTrace } from '../src/formats/index.js';
import { parseLinePrefix } from '../src/formats/ftrace.js';
import { GUEST_MAP } from '../src/emulator/index.js';
import { ROOT, cli, cliProcess, fx } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-layouts-'));
const rowsOf = (r: AnalyzeReport): Array<[string, number, number]> => r.rows.map((x) => [x.key, x.count, x.timeNs]);
const byKey = (r: AnalyzeReport): Record<string, [number, number]> => Object.fromEntries(r.rows.map((x) => [x.key, [x.count, x.timeNs]]));

describe('line layouts', () => {
  it('reads the context of every layout: pid, tgid and CPU', () => {
    expect(parseLinePrefix('CPU 0/KV-7289    3d..1.  2925.000100: kvm_exit:             reason HLT')).toEqual({ pid: 7289, tgid: -1, cpu: 3, event: 'kvm_exit' });
    expect(parseLinePrefix('CPU 10/K-17289  23dNh2.  2925.000100: kvm_exit: reason HLT')).toEqual({ pid: 17289, tgid: -1, cpu: 23, event: 'kvm_exit' });
    expect(parseLinePrefix('       CPU 0/KVM-7289    (   7280) [001] d....  2925.000100: kvm_exit: vcpu 0')).toEqual({ pid: 7289, tgid: 7280, cpu: 1, event: 'kvm_exit' });
    expect(parseLinePrefix('  memfd:sealed-91-7995  [001]   636.783753132: kvm_pio: pio_read')).toEqual({ pid: 7995, tgid: -1, cpu: 1, event: 'kvm_pio' });
    expect(parseLinePrefix('qemu-system-x86 18971 [015] 95922.997039: kvm:kvm_exit: vcpu 0')).toEqual({ pid: 18971, tgid: -1, cpu: 15, event: 'kvm_exit' });
  });

  it('trace-cmd report -l: pairs by the vcpu thread, never by a cut comm or the CPU', async () => {
    const rep = await analyze({ inputs: [fx('ftrace', 'latency-4vcpu.txt')], by: 'vcpu,reason', top: 0 });
    expect(rep.inputs[0]).toMatchObject({ format: 'trace-cmd', lines: 32, events: 21, skipped: 11, rejected: 0, counters: { unpairedExits: 1, unpairedEntries: 1, lostEvents: 0 } });
    expect(rep.totals).toMatchObject({ exits: 9, timed: 8, timeNs: 3_515_000, handlingNs: 15_000, idleNs: 3_500_000, vcpus: 4 });
    expect(byKey(rep)).toEqual({
      'vcpu 0 | HLT': [1, 1_000_000], 'vcpu 0 | IO_INSTRUCTION': [1, 4_000], 'vcpu 1 | IO_INSTRUCTION': [1, 5_000], 'vcpu 1 | MSR_WRITE': [1, 1_000],
      'vcpu 2 | EXTERNAL_INTERRUPT': [2, 5_000], 'vcpu 2 | HLT': [1, 500_000], 'vcpu 3 | HLT': [2, 2_000_000],
    });
  });

  it("trace-cmd's [N EVENTS DROPPED] and [EVENTS DROPPED] reset the CPU's open exits like the kernel's [LOST N EVENTS]", async () => {
    const rep = await analyze({ inputs: [fx('ftrace', 'dropped.txt')], by: 'vcpu,reason', top: 0 });
    expect(rep.inputs[0]).toMatchObject({ rejected: 0, counters: { lostEvents: 1241, lostMarkers: 3, unpairedExits: 2, unpairedEntries: 1 } });
    expect(rep.totals).toMatchObject({ exits: 6, timed: 4, timeNs: 302_000 });
    expect(byKey(rep)).toEqual({
      'vcpu 0 | HLT': [2, 100_000], 'vcpu 0 | MSR_WRITE': [1, 1_000], 'vcpu 1 | IO_INSTRUCTION': [1, 1_000],
      'vcpu 1 | EXTERNAL_INTERRUPT': [1, 0], 'vcpu 1 | HLT': [1, 200_000],
    });
  });

  it('the ##### CPU N buffer started marker resets that CPU only', async () => {
    const rep = await analyze({ inputs: [fx('ftrace', 'buffer-started.txt')], by: 'vcpu', top: 0 });
    expect(rep.inputs[0]).toMatchObject({ counters: { bufferStarts: 1, unpairedExits: 1, unpairedEntries: 1 } });
    expect(byKey(rep)).toEqual({ 'vcpu 0': [1, 0], 'vcpu 1': [1, 500_000] });
  });

  it('a several-file trace-cmd report keeps the host lines and counts the guest side', async () => {
    const s = await openTrace(fx('ftrace', 'host-guest.txt'));
    expect(s.format).toBe('ftrace');
    const rep = await analyze({ inputs: [fx('ftrace', 'host-guest.txt')], by: 'reason', top: 0 });
    expect(rep.inputs[0]).toMatchObject({ format: 'trace-cmd', lines: 10, events: 5, skipped: 5, rejected: 0, counters: { guestEvents: 2 } });
    expect(rowsOf(rep)).toEqual([['IO_INSTRUCTION', 1, 4_000], ['HLT', 1, 100_000]]);
  });

  it("libtraceevent's names and UNKNOWN (N) codes become the kernel's names, by vendor", async () => {
    const vmx = await analyze({ inputs: [fx('ftrace', 'traceevent-vmx.txt')], by: 'reason', top: 0 });
    expect(byKey(vmx)).toEqual({ INTERRUPT_WINDOW: [2, 3_000], BUS_LOCK: [1, 3_000], 'UNKNOWN (99)': [1, 7_000] });
    const svm = await analyze({ inputs: [fx('ftrace', 'traceevent-svm.txt')], by: 'reason', top: 0 });
    expect(byKey(svm)).toEqual({ io: [2, 6_000], interrupt: [1, 1_000], 'GP excp': [1, 6_000], 'idle-halt': [1, 500_000] });
    expect(svm.totals).toMatchObject({ idleNs: 500_000, handlingNs: 13_000 });
  });

  it('two VMs in one host trace stay two VMs, with and without the tgid column', async () => {
    const t = await analyze({ inputs: [fx('ftrace', 'two-vms-tgid.txt')], by: 'vm,vcpu', top: 0 });
    expect(byKey(t)).toEqual({ 'qemu pid 7280 | vcpu 0': [1, 3_000], 'qemu pid 7280 | vcpu 1': [1, 1_000], 'qemu pid 9100 | vcpu 0': [1, 500_000] });
    const g = await analyze({ inputs: [fx('ftrace', 'two-vms.txt')], by: 'vm', top: 0 });
    expect(byKey(g)).toEqual({ 'guest 0 (threads 7289-7290)': [2, 4_000], 'guest 1 (threads 9101-9102)': [2, 502_000] });
  });

  it('a trace with kvm detail events but no kvm_exit says so and how to record', async () => {
    const r = await cli(['analyze', fx('trace-dat', 'kvm-pio.report-t.txt')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/no kvm_exit events in this trace, only .*kvm_pio.*record with trace-cmd record -e kvm:kvm_exit -e kvm:kvm_entry/);
  });
});

describe('CLI behaviour (issue 9)', () => {
  it('analyze - reads standard input', async () => {
    const { readFileSync } = await import('node:fs');
    const r = await cli(['analyze', '-', '--by', 'reason', '--format', 'json'], readFileSync(fx('ftrace', 'dropped.txt')));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).totals.exits).toBe(6);
  });

  it('output piped into head ends quietly with exit 0 (a real process, a real pipe)', () => {
    for (const cmd of [`analyze ${join(ROOT, 'traces', 'jbb.csv')} --by address --top 0 --format csv`, 'emulate --workload jbb --duration 0.5 --vcpus 1', `convert ${join(ROOT, 'traces', 'jbb.csv')} --to jsonl`]) {
      const r = spawnSync('bash', ['-c', `node ${join(ROOT, 'bin', 'exitscope.js')} ${cmd} | head -c 10 >/dev/null; echo "exit=\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
      expect(r.stdout.trim(), cmd).toBe('exit=0');
      expect(r.stderr, cmd).toBe('');
    }
  });

  it('a line of 120 MB without a newline is rejected by number, in bounded memory', () => {
    const f = join(tmp, 'long.txt');
    const fd = openSync(f, 'w');
    writeSync(fd, 'cpus=1\n CPU 0/KVM-1 [000] d.... 1.000001: kvm_exit: vcpu 0 reason HLT rip 0x1\n');
    const block = Buffer.alloc(1 << 20, 'x');
    for (let i = 0; i < 120; i++) writeSync(fd, block);
    writeSync(fd, '\n CPU 0/KVM-1 [000] d.... 1.000002: kvm_entry: vcpu 0, rip 0x1\n');
    closeSync(fd);
    const script = `import('${join(ROOT, 'dist', 'index.js')}').then(async (m) => { const r = await m.analyze({ inputs: ['${f}'], by: 'reason' }); console.log(JSON.stringify({ rss: process.resourceUsage().maxRSS, inp: r.inputs[0], exits: r.totals.exits })); })`;
    const p = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    const out = JSON.parse(p.stdout);
    expect(out.inp).toMatchObject({ lines: 4, events: 2, skipped: 1, rejected: 1 });
    expect(out.inp.rejections[0]).toMatch(/long\.txt:3: line longer than 1 MiB/);
    expect(out.exits).toBe(1);
    expect(out.rss).toBeLessThan(150 * 1024); // KiB: the 120 MB line is never held
  });

  const two = (r: { code: number; stderr: string }, re: RegExp): void => {
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  };
  it('exit 2 with one line: bad --only, empty file, every line rejected, unknown function, absent vcpu, bad --top', async () => {
    two(await cli(['validate', '--only', 'bogus']), /validate --only: unknown optimization 'bogus' \(choose from: coalesce-io/);
    two(await cli(['reproduce', '--only', 'table9']), /reproduce --only: unknown item 'table9' \(choose from: table1/);
    const empty = join(tmp, 'empty.csv');
    writeFileSync(empty, '');
    two(await cli(['analyze', empty]), /empty\.csv: empty file/);
    two(await cli(['analyze', fx('paper32', 'trace.csv'), '--input-format', 'jsonl']), /trace\.csv: none of its .* lines could be read as jsonl/);
    two(await cli(['estimate', fx('replay', 'ide-fragment.csv'), '--map', GUEST_MAP, '--pass', 'drop:no_such_function']), /--pass drop:no_such_function: no function no_such_function in the map/);
    two(await cli(['analyze', fx('paper32', 'trace.csv'), '--vcpu', '7']), /--vcpu 7: no exits of vcpu 7 in this trace \(vcpus present: 0, 1\)/);
    two(await cli(['analyze', fx('paper32', 'trace.csv'), '--top', 'abc']), /--top: expected a whole number >= 0, got 'abc'/);
  });

  it('--reason takes kernel names, aliases, codes and exclusions; a word that matches nothing lists what is there', async () => {
    const json = async (args: string[]): Promise<AnalyzeReport> => JSON.parse((await cli(['analyze', fx('ftrace', 'traceevent-vmx.txt'), '--by', 'reason', '--format', 'json', ...args])).stdout);
    expect(rowsOf(await json(['--reason', 'INTERRUPT_WINDOW']))).toEqual([['INTERRUPT_WINDOW', 2, 3_000]]);
    expect(rowsOf(await json(['--reason', 'PENDING_INTERRUPT']))).toEqual([['INTERRUPT_WINDOW', 2, 3_000]]);
    expect(rowsOf(await json(['--reason', '74']))).toEqual([['BUS_LOCK', 1, 3_000]]);
    expect(rowsOf(await json(['--reason', '!INTERRUPT_WINDOW,!74']))).toEqual([['UNKNOWN (99)', 1, 7_000]]);
    expect(rowsOf(await json(['--exclude-reason', 'BUS_LOCK', '--exclude-reason', '99']))).toEqual([['INTERRUPT_WINDOW', 2, 3_000]]);
    two(await cli(['analyze', fx('ftrace', 'traceevent-vmx.txt'), '--reason', 'HLT']), /--reason HLT: no such exit in this trace \(reasons present: INTERRUPT_WINDOW, BUS_LOCK, UNKNOWN \(99\)\)/);
    two(await cli(['analyze', fx('ftrace', 'traceevent-vmx.txt'), '--reason', 'WARP']), /--reason: 'WARP' names no exit reason/);
  });

  it('runs as a separate process too (the built CLI)', () => {
    const r = cliProcess(['analyze', fx('ftrace', 'dropped.txt'), '--by', 'vcpu']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1,241 lost events/);
  });
});
