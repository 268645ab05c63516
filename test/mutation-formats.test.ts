/**
 * Readers (src/formats) and the reason table they decode with (issue 16):
 * behaviour a one-line bug breaks, each expectation worked out by hand in
 * fixtures/mutation/README.md or read from the kernel's own print formats
 * (fixtures/tracefs/, copied from a running kernel).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { analyze } from '../src/analyze/index.js';
import { REASONS } from '../src/model/reasons.js';
import { cli, fx } from './helpers.js';

/** The canonical CSV `convert --to csv` writes, as one record per exit keyed by its header. */
async function csvRows(path: string): Promise<Array<Record<string, string>>> {
  const r = await cli(['convert', path, '--to', 'csv']);
  expect(r.code, r.stderr).toBe(0);
  const [head, ...lines] = r.stdout.trim().split('\n');
  const cols = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
}

describe('lost-event markers reset the CPU they name, and only it', () => {
  it('an exit open on another CPU across `CPU:1 [LOST 9 EVENTS]` still pairs (fixtures/mutation/lost-one-cpu.txt)', async () => {
    const rep = await analyze({ inputs: [fx('mutation', 'lost-one-cpu.txt')], by: 'vcpu,reason', top: 0 });
    expect(rep.inputs[0]).toMatchObject({ lines: 11, events: 8, skipped: 3, rejected: 0 });
    expect(rep.inputs[0].counters).toMatchObject({ lostEvents: 9, lostMarkers: 1, unpairedExits: 1, unpairedEntries: 1 });
    expect(rep.rows.map((r) => [r.key, r.count, r.timed, r.timeNs])).toEqual([
      ['vcpu 1 | IO_INSTRUCTION', 1, 1, 15_000],
      ['vcpu 0 | MSR_WRITE', 1, 1, 2_000],
      ['vcpu 0 | HLT', 1, 0, 0],
    ]);
    expect(rep.totals).toMatchObject({ exits: 3, timed: 2, timeNs: 17_000 });
    // The pio record stays with the exit that went on pairing.
    const rows = await csvRows(fx('mutation', 'lost-one-cpu.txt'));
    expect(rows.map((r) => [r.reason, r.duration_ns, r.port, r.size, r.dir, r.value, r.msr])).toEqual([
      ['HLT', '', '', '', '', '', ''],
      ['IO_INSTRUCTION', '15000', '0x3f8', '1', 'r', '0x60', ''],
      ['MSR_WRITE', '2000', '', '', 'w', '0x2a6b1c3e4f', '0x6e0'],
    ]);
  });
});

describe('kvm_fast_mmio is an ioeventfd doorbell: a write', () => {
  it('records the GPA as a write with no size or value; kvm_mmio keeps its own direction (fixtures/mutation/fast-mmio.txt)', async () => {
    const rows = await csvRows(fx('mutation', 'fast-mmio.txt'));
    expect(rows.map((r) => [r.reason, r.duration_ns, r.gpa, r.dir, r.size, r.value])).toEqual([
      ['EPT_MISCONFIG', '3000', '0xfe003000', 'w', '', ''],
      ['EPT_MISCONFIG', '9000', '0xfebc0008', 'r', '4', '0x80000000'],
    ]);
  });
});

describe('reason codes are the kernel\'s', () => {
  /** `{ CODE, "NAME" }` pairs of each __print_symbolic table of kvm_exit's print fmt (VMX first, then SVM). */
  function kernelTables(): Array<Array<[number, string]>> {
    const fmt = readFileSync(fx('tracefs', 'kvm_exit.format'), 'latin1');
    const line = fmt.split('\n').find((l) => l.startsWith('print fmt:'))!;
    return line.split('__print_symbolic(').slice(1).map((part) => {
      const pairs: Array<[number, string]> = [];
      const table = part.slice(0, part.indexOf('})') + 2);
      for (const m of table.matchAll(/\{ ([^,{}]+), "([^"]+)" \}/g)) {
        const code = m[1].split('+').reduce((s, t) => s + Number(t.trim()), 0);
        if (code >= 0) pairs.push([code, m[2]]);
      }
      return pairs;
    });
  }

  it('every (code, name) pair of the kernel\'s kvm_exit format decodes to that name, VMX and SVM', () => {
    const [vmx, svm] = kernelTables();
    // Spot checks of the parse itself against arch/x86/include/uapi/asm/vmx.h and svm.h.
    expect(vmx).toContainEqual([31, 'MSR_READ']);
    expect(vmx).toContainEqual([32, 'MSR_WRITE']);
    expect(svm).toContainEqual([0x7c, 'msr']);
    expect(vmx.length).toBeGreaterThan(60);
    expect(svm.length).toBeGreaterThan(90);
    for (const [code, name] of vmx) expect(REASONS.get(REASONS.byNativeCode('vmx', code)).name, `vmx ${code}`).toBe(name);
    for (const [code, name] of svm) expect(REASONS.get(REASONS.byNativeCode('svm', code)).name, `svm 0x${code.toString(16)}`).toBe(name);
  });

  it('an MSR exit read by name keeps its direction in the canonical class (rdmsr 31 / wrmsr 32)', () => {
    const byName = (n: string) => REASONS.get(REASONS.lookup(n));
    expect(byName('MSR_READ')).toMatchObject({ isa: 'vmx', code: 31, canonical: 'MSR_READ' });
    expect(byName('MSR_WRITE')).toMatchObject({ isa: 'vmx', code: 32, canonical: 'MSR_WRITE' });
    expect(byName('rdmsr')).toMatchObject({ code: 31 });
    expect(byName('wrmsr')).toMatchObject({ code: 32 });
  });
});
