/**
 * Issue 12 (and the MSR view of issue 17): the questions after "which
 * function": user vs kernel, idle vs handling, which VM, which device, when,
 * live. Expected numbers come from the fixtures' READMEs or are computed here
 * from the trace rows themselves.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../src/analyze/index.js';
import { openTrace } from '../src/formats/index.js';
import { ROOT, cli, fx } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-depth-'));
const iomaps = [fx('iomap', 'ioports-q35.txt'), fx('iomap', 'iomem-q35.txt')];

describe('which device', () => {
  it("names fixed PC devices, and PCI BARs from the guest's /proc/ioports and /proc/iomem, with registers", async () => {
    const ports = await analyze({ inputs: [fx('iomap', 'devices.txt')], by: 'port', top: 0, iomaps });
    const byKey = Object.fromEntries(ports.rows.map((r) => [r.key, [r.device, r.register, r.count, r.timeNs]]));
    expect(byKey).toEqual({
      '0xc000:POUT': ['e1000 @ 0xc000', 'IOADDR', 1, 2000], '0xc004:PIN': ['e1000 @ 0xc000', 'IODATA', 1, 3000],
      '0x1f7:PIN': ['IDE primary status/command', null, 1, 4000], '0x608:PIN': ['ACPI PM_TMR', null, 1, 5000],
    });
    expect(ports.view).toEqual({ exits: 4, timeNs: 14000 });
    const mmio = await analyze({ inputs: [fx('iomap', 'devices.txt')], by: 'mmio', top: 0, iomaps });
    expect(Object.fromEntries(mmio.rows.map((r) => [r.key, [r.device, r.register, r.count]]))).toEqual({
      '0xfebc00d0:W': ['e1000 @ 0xfebc0000', 'IMS', 1], '0xfebc00c0:R': ['e1000 @ 0xfebc0000', 'ICR', 1],
      '0xfee000b0:W': ['LAPIC', 'EOI', 1], '0xfeb80000:W': ['0000:00:03.0 @ 0xfeb80000', null, 1],
    });
    // Without --iomap only the fixed devices have names; the raw port stays.
    const bare = await analyze({ inputs: [fx('iomap', 'devices.txt')], by: 'port', top: 0 });
    expect(bare.rows.find((r) => r.key === '0xc000:POUT')!.device).toBeNull();
    expect(bare.rows.find((r) => r.key === '0x608:PIN')!.device).toBe('ACPI PM timer (ICH9)');
  });
});

describe('user vs kernel, idle vs handling', () => {
  it('npm start: guest user space is one row, and the summary splits handling and idle', async () => {
    const r = await cli(['analyze', join(ROOT, 'traces', 'jbb.csv'), '--map', join(ROOT, 'traces', 'guest-2.6.27-i386.map')]);
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\s*\d+\s{2}/.test(l));
    expect(rows.filter((l) => l.includes('[guest user]'))).toHaveLength(1);
    expect(r.stdout).toMatch(/exit time [\d.]+ms = handling [\d.]+ms \+ idle/);
    expect(r.stdout).toMatch(/vcpu 0: exit handling [\d.]+% of its/);
    // No row of one or two exits above the user-space row.
    const csv = readFileSync(join(ROOT, 'traces', 'jbb.csv'), 'utf8');
    const user = csv.split('\n').slice(1).filter((l) => l && parseInt(l.split(',')[3], 16) < 0xc0000000).length;
    const json = JSON.parse((await cli(['analyze', join(ROOT, 'traces', 'jbb.csv'), '--map', join(ROOT, 'traces', 'guest-2.6.27-i386.map'), '--format', 'json'])).stdout);
    const u = json.rows.findIndex((x: any) => x.key === '[guest user]');
    expect(json.rows[u].count).toBe(user);
    for (const x of json.rows.slice(0, u)) expect(x.count).toBeGreaterThan(2);
    expect(json.totals.split.user.exits).toBe(user);
  });

  it('HLT time is idle: Handling% leaves it out, --include-idle puts it back', async () => {
    const a = await analyze({ inputs: [fx('ftrace', 'latency-4vcpu.txt')], by: 'reason', sort: 'time', top: 0 });
    expect(a.rows[0].key).not.toBe('HLT');
    expect(a.totals).toMatchObject({ handlingNs: 15_000, idleNs: 3_500_000 });
    const hlt = a.rows.find((r) => r.key === 'HLT')!;
    expect([hlt.handlingNs, hlt.idleNs, hlt.timePct]).toEqual([0, 3_500_000, 0]);
    const b = await analyze({ inputs: [fx('ftrace', 'latency-4vcpu.txt')], by: 'reason', sort: 'time', top: 0, includeIdle: true });
    expect(b.rows[0].key).toBe('HLT');
    expect(b.rows[0].timePct).toBeCloseTo((3_500_000 / 3_515_000) * 100, 3);
    const v0 = a.totals.perVcpu.find((v) => v.vcpu === 0)!;
    // vcpu 0: first exit at 100 us, last entry at 1204 us; HLT 1,000,000 ns idle, IO 4,000 ns handling.
    expect(v0).toMatchObject({ wallNs: 1_104_000, idleNs: 1_000_000, handlingNs: 4_000 });
  });
});

describe('when', () => {
  it('--interval series sum back to the totals, per row and overall', async () => {
    const rep = await analyze({ inputs: [join(ROOT, 'traces', 'jbb.csv')], maps: [join(ROOT, 'traces', 'guest-2.6.27-i386.map')], top: 0, intervalNs: 100_000_000 });
    expect(rep.interval).toMatchObject({ ns: 100_000_000, capped: false });
    expect(rep.interval!.count).toBe(20); // a 2 s trace in 100 ms intervals
    let exits = 0, handling = 0;
    for (const r of rep.rows) {
      const e = r.series!.exits.reduce((s, x) => s + x, 0), h = r.series!.handlingNs.reduce((s, x) => s + x, 0);
      expect(e).toBe(r.count);
      expect(h).toBeCloseTo(r.handlingNs, 3);
      exits += e; handling += h;
    }
    expect(exits).toBe(rep.totals.exits);
    expect(handling).toBeCloseTo(rep.totals.handlingNs, 1);
    // Per interval, against the rows of the CSV itself: exits whose ts falls in the first 100 ms.
    const lines = readFileSync(join(ROOT, 'traces', 'jbb.csv'), 'utf8').split('\n').slice(1).filter(Boolean);
    const t0 = BigInt(lines[0].split(',')[0]);
    const first = lines.filter((l) => BigInt(l.split(',')[0]) - t0 < 100_000_000n).length;
    expect(rep.rows.reduce((s, r) => s + r.series!.exits[0], 0)).toBe(first);
  });

  it('--follow on a pipe fed in steps draws intermediate tables and ends with the plain report', async () => {
    const text = readFileSync(fx('ftrace', 'latency-4vcpu.txt'), 'utf8').split('\n');
    const half = Math.floor(text.length / 2);
    const out = join(tmp, 'final.json');
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'exitscope.js'), 'analyze', '-', '--follow', '--refresh', '0.2', '--by', 'vcpu,reason', '--format', 'json', '-o', out]);
    let stdout = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stdin.write(text.slice(0, half).join('\n') + '\n');
    const deadline = Date.now() + 10_000;
    while (!stdout.includes('exitscope live') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(stdout).toMatch(/exitscope live: \d+ exits since start/);
    child.stdin.end(text.slice(half).join('\n'));
    const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    expect(code).toBe(0);
    const live = JSON.parse(readFileSync(out, 'utf8'));
    const plain = await analyze({ inputs: [fx('ftrace', 'latency-4vcpu.txt')], by: 'vcpu,reason', top: 20 });
    expect(live.rows).toEqual(plain.rows);
    expect(live.totals).toEqual(plain.totals);
  });
});

describe('MSRs by name (issue 17)', () => {
  it('--by msr names x2APIC and TSC-deadline writes, reads and writes apart', async () => {
    const f = join(tmp, 'msr.txt');
    const { writeFileSync } = await import('node:fs');
    const L = (us: number, name: string, payload: string): string => `       CPU 0/KVM-7289  [003] d....  2925.${String(us).padStart(6, '0')}: ${name}: ${payload}`;
    const lines = ['# composed from the 6.x kvm_exit/kvm_msr formats, not a capture', 'cpus=4'];
    let t = 100;
    for (const [rw, msr, reason] of [['write', '6e0', 'MSR_WRITE'], ['write', '80b', 'MSR_WRITE'], ['write', '830', 'MSR_WRITE'], ['write', '6e0', 'MSR_WRITE'], ['read', '1b', 'MSR_READ']]) {
      lines.push(L(t, 'kvm_exit', `vcpu 0 reason ${reason} rip 0xffffffff81001000 info1 0x0 info2 0x0 intr_info 0x00000000 error_code 0x00000000`));
      lines.push(L(t + 1, 'kvm_msr', `msr_${rw} ${msr} = 0x1`));
      lines.push(L(t + 2, 'kvm_entry', 'vcpu 0, rip 0xffffffff81001000'));
      t += 10;
    }
    writeFileSync(f, lines.join('\n') + '\n');
    const rep = await analyze({ inputs: [f], by: 'msr', top: 0 });
    const named = Object.fromEntries(rep.rows.map((r) => [r.key, [r.register, r.count]]));
    expect(named['0x6e0:W']).toEqual([expect.stringMatching(/TSC_DEADLINE/), 2]);
    expect(named['0x80b:W']).toEqual([expect.stringMatching(/EOI/), 1]);
    expect(named['0x830:W']).toEqual([expect.stringMatching(/ICR/), 1]);
    expect(named['0x1b:R']).toEqual([expect.stringMatching(/APIC_BASE/), 1]);
    void openTrace;
  });
});
