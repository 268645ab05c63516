/**
 * Replay passes (src/replay/passes) on traces built in the test (issue 16):
 * each expectation is worked out by hand from the rows and the rules in the
 * pass's header comment. The transition is given as 1,000 ns throughout.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReplayContext } from '../src/replay/context.js';
import { loadSymbolizer } from '../src/symbols/index.js';
import { DropIoPass, dropIo, parseIoRange, type IoRange } from '../src/replay/passes/drop-io.js';
import { chain, context, kept, rows, sum, type Row } from './replay-rows.js';
import { F_PORT } from '../src/model/chunk.js';
import { PleWindowPass, pleWindow } from '../src/replay/passes/ple-window.js';
import { IpivPass, ipiv } from '../src/replay/passes/ipiv.js';
import { findMaskChurn, napiOff } from '../src/replay/passes/napi-off.js';
import { DropPass, drop, dropCaller } from '../src/replay/passes/drop.js';
import { CoalesceIoPass, coalesceIo } from '../src/replay/passes/coalesce-io.js';
import { HaltpollPass, haltpoll } from '../src/replay/passes/haltpoll.js';
import { VirtioPass, virtio } from '../src/replay/passes/virtio.js';
import { ApicPass, apicv, pvEoi } from '../src/replay/passes/apic.js';
import type { BuildEnv } from '../src/replay/pass-def.js';
import { parsePassSpec } from '../src/replay/pipeline.js';

const T = 1000;

describe('drop-io: which accesses a range removes', () => {
  const run = (list: Row[], ranges: IoRange[], found = '') => { const t = rows(list); return new DropIoPass('drop-io:test', ranges, found).apply(t, context(t)); };
  const range = (text: string) => parseIoRange(text)!;

  it('a port range takes both its ends and nothing outside, and only exits that carry a port', () => {
    const list = chain([
      { reason: 'IO_INSTRUCTION', port: 0x1ef, dir: 'w' }, { reason: 'IO_INSTRUCTION', port: 0x1f0, dir: 'w', dur: 2000 },
      { reason: 'IO_INSTRUCTION', port: 0x1f7, dir: 'r', dur: 3000 }, { reason: 'IO_INSTRUCTION', port: 0x1f8, dir: 'r' },
      // An MMIO exit at address 0x1f0, and a row whose port column says 0x1f3 without the port flag.
      { reason: 'EPT_MISCONFIG', gpa: 0x1f0, dir: 'w' }, { reason: 'CPUID', port: 0x1f3, flags: 0 },
    ]);
    const { trace, ledger } = run(list, [range('port=0x1f0-0x1f7')]);
    expect(kept(trace).map((r) => r[0])).toEqual([list[0].ts, list[3].ts, list[4].ts, list[5].ts]);
    expect([ledger.verdict, ledger.removed, ledger.exitsBefore, ledger.exitsAfter, ledger.timeBeforeNs, ledger.timeAfterNs]).toEqual(['applied', 2, 6, 4, 9000, 4000]);
    expect(ledger.assumptions).toEqual(['the removed register accesses disappear entirely; the device and the guest do the rest of their work unchanged']);
    expect(ledger.notes).toEqual([]);
    // rw=w keeps the read, rw=r the write; an exit with no direction is neither.
    expect(run(list, [range('port=0x1f0-0x1f7,rw=w')]).ledger.removed).toBe(1);
    expect(kept(run(list, [range('port=0x1f0-0x1f7,rw=r')]).trace).map((r) => r[0])).toEqual([list[0].ts, list[1].ts, list[3].ts, list[4].ts, list[5].ts]);
    expect(run(chain([{ reason: 'IO_INSTRUCTION', port: 0x1f0 }]), [range('port=0x1f0,rw=r')]).ledger.removed).toBe(0);
    expect(run(chain([{ reason: 'IO_INSTRUCTION', port: 0x1f0 }]), [range('port=0x1f0,rw=w')]).ledger.removed).toBe(0);
  });

  it('an MMIO range above 4 GiB compares the whole address; exits without an address are not in it', () => {
    const list = chain([
      { reason: 'EPT_MISCONFIG', gpa: 0x1_0000_1000, dir: 'w' }, { reason: 'EPT_MISCONFIG', gpa: 0x1000, dir: 'w' },
      { reason: 'EPT_MISCONFIG', gpa: 0x1_0000_2000, dir: 'w' }, { reason: 'EPT_MISCONFIG', gpa: 0x1_0000_0fff, dir: 'w' },
      { reason: 'IO_INSTRUCTION', gpa: 0x1_0000_1800, port: 0x10, flags: F_PORT, dir: 'w' }, { reason: 'EPT_MISCONFIG', gpa: 0x1_0000_1fff, dir: 'r' },
    ]);
    const { trace, ledger } = run(list, [range('mmio=0x100001000-0x100001fff')]);
    expect(ledger.removed).toBe(2);
    expect(kept(trace).map((r) => r[0])).toEqual([list[1].ts, list[2].ts, list[3].ts, list[4].ts]);
    // Several ranges: an exit in any of them goes.
    expect(run(list, [range('port=0x10'), range('mmio=0x1000')]).ledger.removed).toBe(2);
  });

  it('flush: the read right after a removed write on the same device (same 256-port window) goes with it, and is counted', () => {
    const list = chain([
      { reason: 'IO_INSTRUCTION', port: 0x1f0, dir: 'w' }, { reason: 'IO_INSTRUCTION', port: 0x1f1, dir: 'r' }, // flushed
      { reason: 'IO_INSTRUCTION', port: 0x1f2, dir: 'w' }, { reason: 'IO_INSTRUCTION', port: 0x2f0, dir: 'r' }, // another device: kept
      { reason: 'IO_INSTRUCTION', port: 0x1f3, dir: 'w' }, { reason: 'CPUID' }, // not a read: kept
      { reason: 'IO_INSTRUCTION', port: 0x1f4, dir: 'r' }, // a read with no write before it: kept (rw=w)
      { reason: 'IO_INSTRUCTION', port: 0x1f5, dir: 'w' }, { reason: 'IO_INSTRUCTION', port: 0x1ff, dir: 'w' }, // not a read
      { reason: 'IO_INSTRUCTION', port: 0x1f6, dir: 'w' }, { reason: 'IO_INSTRUCTION', port: 0x200, dir: 'r' }, // 0x200: the next window
      { reason: 'IO_INSTRUCTION', port: 0x1f7, dir: 'w' }, // the last exit: nothing after it
    ]);
    const { trace, ledger } = run(list, [range('port=0x1f0-0x1f7,rw=w,flush')]);
    expect(kept(trace).map((r) => r[0])).toEqual([3, 5, 6, 8, 10].map((k) => list[k].ts));
    expect(ledger.removed).toBe(7);
    expect(ledger.notes).toEqual(['1 flush reads after removed writes removed with them']);
    // Without flush the read stays.
    expect(run(list, [range('port=0x1f0-0x1f7,rw=w')]).ledger.removed).toBe(6);
  });

  it('a read the range itself removes is not a flush; a flush read needs the same kind of address as the write', () => {
    const both = run(chain([{ reason: 'IO_INSTRUCTION', port: 0x1f0, dir: 'w' }, { reason: 'IO_INSTRUCTION', port: 0x1f1, dir: 'r' }]), [range('port=0x1f0-0x1f7,flush')]).ledger;
    expect([both.removed, both.notes]).toEqual([2, []]);
    // An MMIO write followed by a port read: the read has no guest-physical address.
    const mixed = run(chain([{ reason: 'EPT_MISCONFIG', gpa: 0xfebc0000, dir: 'w' }, { reason: 'IO_INSTRUCTION', port: 0x10, gpa: 0xfebc0008, flags: F_PORT, dir: 'r' }]), [range('mmio=0xfebc0000,flush')]).ledger;
    expect([mixed.removed, mixed.notes]).toEqual([1, []]);
    // A device window of 128 KiB (an e1000 BAR): a read 0x1000 past the write is the same device; the default 256 is not.
    const far = chain([{ reason: 'EPT_MISCONFIG', gpa: 0xfebc00d0, dir: 'w' }, { reason: 'EPT_MISCONFIG', gpa: 0xfebc1008, dir: 'r' }]);
    expect(run(far, [{ kind: 'mmio', lo: 0xfebc00d0n, hi: 0xfebc00d0n, rw: 'w', flush: true, deviceSpan: 0x20000n }]).ledger.removed).toBe(2);
    expect(run(far, [{ kind: 'mmio', lo: 0xfebc00d0n, hi: 0xfebc00d0n, rw: 'w', flush: true }]).ledger.removed).toBe(1);
  });

  it('a masking write that defers work: the guest time after it (and its flush) less a transition, at the high end only', () => {
    const ims: IoRange = { kind: 'mmio', lo: 0xfebc00d8n, hi: 0xfebc00d8n, rw: 'w', flush: true, deviceSpan: 0x20000n, deferral: 'always' };
    // Write, its flush read 4,000 ns later, then 30,000 ns of guest time before the next exit.
    const list = chain([{ reason: 'EPT_MISCONFIG', gpa: 0xfebc00d8, dir: 'w', gap: 4000 }, { reason: 'EPT_MISCONFIG', gpa: 0xfebc0008, dir: 'r', gap: 30_000 }, { reason: 'CPUID' }]);
    const { ledger } = run(list, [ims]);
    expect(ledger.removed).toBe(2);
    expect(sum(ledger.guestMaybeSavedNs)).toBe(30_000 - T);
    expect(sum(ledger.guestSavedNs)).toBe(0);
    expect(ledger.assumptions[0]).toBe('upper bound only: the guest time right after each of 1 masking writes (the deferred poll\'s scheduling and work) may go too; part of it is packet work that stays');
    // Less guest time than a transition: nothing (never negative). The last exit of the trace has no gap after it.
    expect(sum(run(chain([{ reason: 'EPT_MISCONFIG', gpa: 0xfebc00d8, dir: 'w', gap: 500 }, { reason: 'CPUID' }]), [ims]).ledger.guestMaybeSavedNs)).toBe(0);
    const last = run(chain([{ reason: 'CPUID' }, { reason: 'EPT_MISCONFIG', gpa: 0xfebc00d8, dir: 'w' }]), [ims]).ledger;
    expect([last.removed, sum(last.guestMaybeSavedNs), last.assumptions.length]).toEqual([1, 0, 1]);
    // No deferral: no upper-bound time.
    const plain = run(list, [{ ...ims, deferral: undefined }]).ledger;
    expect([sum(plain.guestMaybeSavedNs), plain.assumptions.length]).toEqual([0, 1]);
  });

  it('rtl8139: IntrMask writes of 0 defer, a non-zero one unmasks and takes the IntrStatus read right before it', () => {
    const mask: IoRange = { kind: 'port', lo: 0xc03cn, hi: 0xc03cn, rw: 'w', flush: true, deviceSpan: 0x100n, deferral: 'zero-value', leadRead: 0xc03en };
    const list = chain([
      { reason: 'IO_INSTRUCTION', port: 0xc03c, dir: 'w', value: 0, gap: 2000 }, { reason: 'IO_INSTRUCTION', port: 0xc037, dir: 'r', gap: 20_000 }, // mask + flush
      { reason: 'CPUID' },
      { reason: 'IO_INSTRUCTION', port: 0xc03e, dir: 'r' }, { reason: 'IO_INSTRUCTION', port: 0xc03c, dir: 'w', value: 0x5 }, // status read + unmask
      { reason: 'CPUID' },
    ]);
    const { trace, ledger } = run(list, [mask], 'rtl8139 IntrMask at port 0xc03c');
    expect(kept(trace).map((r) => r[0])).toEqual([list[2].ts, list[5].ts]);
    expect(ledger.removed).toBe(4);
    expect(ledger.notes).toEqual([
      '1 flush reads after removed writes removed with them',
      '1 interrupt-status reads right before an unmasking write removed with it (NAPI\'s poll reads the status once more before it unmasks)',
      'rtl8139 IntrMask at port 0xc03c',
    ]);
    // Only the mask write defers: the 20,000 ns after its flush, less T.
    expect(sum(ledger.guestMaybeSavedNs)).toBe(20_000 - T);
    expect(ledger.assumptions[0]).toMatch(/^upper bound only: the guest time right after each of 1 masking writes/);
  });

  it('the IntrStatus read goes only before a non-zero write (either half of the value), only at its address, only once', () => {
    const mask: IoRange = { kind: 'port', lo: 0xc03cn, hi: 0xc03cn, rw: 'w', deviceSpan: 0x100n, deferral: 'zero-value', leadRead: 0xc03en };
    const pair = (value: number, read: Row['dir'] = 'r', port = 0xc03e) => run(chain([{ reason: 'CPUID' }, { reason: 'IO_INSTRUCTION', port, dir: read }, { reason: 'IO_INSTRUCTION', port: 0xc03c, dir: 'w', value, gap: 5000 }, { reason: 'CPUID' }]), [mask]).ledger;
    expect(pair(0x1_0000_0000).removed).toBe(2);
    // The high half is not zero: not a masking write either.
    expect(sum(pair(0x1_0000_0000).guestMaybeSavedNs)).toBe(0);
    expect(pair(0).removed).toBe(1);
    expect(sum(pair(0).guestMaybeSavedNs)).toBe(5000 - T);
    expect(pair(1, 'w').removed).toBe(1);
    expect(pair(1, 'r', 0xc03f).removed).toBe(1);
    // The first exit of a trace has no read before it.
    expect(run(chain([{ reason: 'IO_INSTRUCTION', port: 0xc03c, dir: 'w', value: 1 }]), [mask]).ledger.removed).toBe(1);
    // A status read that already went as the flush of a mask write is not taken again by the unmask after it.
    const again = run(chain([{ reason: 'IO_INSTRUCTION', port: 0xc03c, dir: 'w', value: 0 }, { reason: 'IO_INSTRUCTION', port: 0xc03e, dir: 'r' }, { reason: 'IO_INSTRUCTION', port: 0xc03c, dir: 'w', value: 1 }, { reason: 'CPUID' }]), [{ ...mask, flush: true }]);
    expect([again.ledger.removed, again.ledger.notes]).toEqual([3, ['1 flush reads after removed writes removed with them']]);
    expect(kept(again.trace).map((r) => r[1])).toEqual(['CPUID']);
  });

  it('nothing in range: the trace is unchanged and the pass says what it looked for', () => {
    const { trace, ledger } = run(chain([{ reason: 'IO_INSTRUCTION', port: 0x60, dir: 'r' }]), [range('port=0x1f0')]);
    expect(kept(trace)).toHaveLength(1);
    expect([ledger.verdict, ledger.why]).toEqual(['nothing-to-change', 'no access to these registers in this trace']);
  });
});

describe('drop-io: the range syntax', () => {
  it('port= and mmio=, hex or decimal, any case, one address or a range, then rw= and flush', () => {
    expect(parseIoRange('port=0x1f0-0x1f7,rw=w,flush')).toEqual({ kind: 'port', lo: 0x1f0n, hi: 0x1f7n, rw: 'w', flush: true });
    expect(parseIoRange('MMIO=0XFEBC00D0')).toEqual({ kind: 'mmio', lo: 0xfebc00d0n, hi: 0xfebc00d0n });
    expect(parseIoRange('port=496-503,rw=r')).toEqual({ kind: 'port', lo: 496n, hi: 503n, rw: 'r' });
    expect(parseIoRange('port=0x60,flush')).toEqual({ kind: 'port', lo: 0x60n, hi: 0x60n, flush: true });
  });

  it('anything else is no range', () => {
    for (const bad of ['port=0x60,rw=x', 'port=0x60,flush,more', 'io=0x60', 'port=0x60-', ' port=0x60', 'port=0x60 ', 'port=0xzz', 'xport=0x60', 'port=0x60-0x70x', '']) expect(parseIoRange(bad), bad).toBeNull();
  });

  it('the pass spec: ranges split on ";", printed back the same; none given is none', () => {
    expect(dropIo.parse(['port=0x60;mmio=0x1000'])).toEqual({ pass: 'drop-io', ranges: ['port=0x60', 'mmio=0x1000'] });
    expect(dropIo.parse([])).toEqual({ pass: 'drop-io', ranges: [] });
    expect(dropIo.print({ pass: 'drop-io', ranges: ['port=0x60', 'mmio=0x1000'] })).toBe('drop-io:port=0x60;mmio=0x1000');
  });
});


describe('ple-window: a spin of n PAUSE exits at one RIP exits floor(n / K) times', () => {
  const A = 0xc0100000, B = 0xc0100040;
  it('episodes end at another RIP, another exit or 100 us of guest time; the kept exits are spread over the episode', () => {
    const list = chain([
      ...Array.from({ length: 5 }, () => ({ reason: 'PAUSE_INSTRUCTION', rip: A, gap: 1000 })), { reason: 'CPUID' },
      { reason: 'PAUSE_INSTRUCTION', rip: A }, { reason: 'PAUSE_INSTRUCTION', rip: B },
      { reason: 'PAUSE_INSTRUCTION', rip: A, gap: 99_999 }, { reason: 'PAUSE_INSTRUCTION', rip: A, gap: 100_000 }, { reason: 'PAUSE_INSTRUCTION', rip: A },
      { reason: 'CPUID' },
    ]);
    const t = rows(list);
    const { trace, ledger } = new PleWindowPass('ple-window', 2).apply(t, context(t));
    // Episodes: 5 (keeps the 1st and 3rd), 1, 1, 2 (keeps its 1st), 1.
    expect(kept(trace).map((r) => r[0])).toEqual([0, 2, 5, 8, 11].map((k) => list[k].ts));
    expect([ledger.removed, ledger.notes]).toEqual([7, ['5 spin episodes']]);
    expect(ledger.assumptions).toEqual(['a spin episode of n PAUSE exits at one RIP spins n windows: with a window 2x larger it exits floor(n/2) times; the spin itself (guest time) is unchanged, and a lock holder preempted on the host is yielded to later']);
  });

  it('x=3: seven exits keep two, the 1st and the 4th; the spec is parsed and printed', () => {
    const list = chain(Array.from({ length: 7 }, () => ({ reason: 'PAUSE_INSTRUCTION', rip: A, gap: 1000 })));
    const t = rows(list);
    const spec = pleWindow.schema.parse(pleWindow.parse(['x=3']));
    expect(spec).toEqual({ pass: 'ple-window', x: 3 });
    const [pass] = pleWindow.build(spec, {} as BuildEnv, pleWindow.print(spec));
    expect(pass.spec).toBe('ple-window:x=3');
    const { trace, ledger } = pass.apply(t, context(t));
    expect(kept(trace).map((r) => r[0])).toEqual([list[0].ts, list[3].ts]);
    expect(ledger.assumptions[0]).toMatch(/with a window 3x larger it exits floor\(n\/3\) times/);
    // Without x: K = 2.
    expect(pleWindow.parse([])).toEqual({ pass: 'ple-window', x: undefined });
    expect(pleWindow.print({ pass: 'ple-window' })).toBe('ple-window');
    expect(pleWindow.build({ pass: 'ple-window' }, {} as BuildEnv, 'ple-window')[0].apply(t, context(t)).ledger.removed).toBe(4);
  });

  it('no PAUSE exits: nothing to change', () => {
    const t = rows(chain([{ reason: 'CPUID' }]));
    const { ledger } = new PleWindowPass('ple-window').apply(t, context(t));
    expect([ledger.verdict, ledger.why, ledger.notes]).toEqual(['nothing-to-change', 'no PAUSE exits in this trace', ['0 spin episodes']]);
  });
});

describe('ipiv: ICR writes (IPIs)', () => {
  const MAP = 'c0100000 T native_x2apic_icr_write\nc0101000 T other_fn\nc0200000 T _etext\n';
  const ICR_FN = 0xc0100010, OTHER = 0xc0101010;
  const list = chain([
    { reason: 'MSR_WRITE', msr: 0x830, dir: 'w' }, { reason: 'MSR_READ', msr: 0x830, dir: 'r' }, { reason: 'MSR_WRITE', msr: 0x831, dir: 'w' },
    { reason: 'EPT_MISCONFIG', gpa: 0xfee00300, dir: 'w' }, { reason: 'EPT_MISCONFIG', gpa: 0xfee00310, dir: 'w' }, { reason: 'EPT_MISCONFIG', gpa: 0x1_fee00300, dir: 'w' },
    // No MSR number: a WRMSR in a function whose name says icr_write (with a map), not one elsewhere, not another exit there.
    { reason: 'MSR_WRITE', rip: ICR_FN }, { reason: 'MSR_WRITE', rip: OTHER }, { reason: 'CPUID', rip: ICR_FN },
    { reason: 'MSR_WRITE', msr: 0x830 },
  ]);

  it('ipiv removes x2APIC ICR MSR writes, xAPIC ICR register writes and, with a map, WRMSRs in an icr_write function', () => {
    const t = rows(list);
    const { trace, ledger } = new IpivPass('ipiv', false).apply(t, context(t, { map: MAP }));
    expect(kept(trace).map((r) => r[0])).toEqual([1, 2, 4, 5, 7, 8].map((k) => list[k].ts));
    expect([ledger.removed, ledger.added]).toEqual([4, 0]);
    expect(ledger.assumptions).toEqual(['IPI virtualization: ICR writes deliver the IPI without an exit (the target\'s interrupt is posted); the receiver\'s side is unchanged']);
    const t2 = rows(list);
    expect(new IpivPass('ipiv', false).apply(t2, context(t2)).ledger.removed).toBe(3);
  });

  it('ipiv:pv merges ICR writes less than a transition + 2 us apart into one VMCALL costing the first write plus the dispatch', () => {
    // vcpu 1: five VMCALLs, median 300 ns: the hypercall dispatch.
    const calls: Row[] = [100, 200, 300, 400, 500].map((d, k) => ({ ts: 1_000_000 + k * 10_000, reason: 'VMCALL', dur: d, vcpu: 1 }));
    const icr = (dur: number, gap: number) => ({ reason: 'MSR_WRITE', msr: 0x830, dir: 'w' as const, dur, gap });
    const mine = chain([icr(1500, 2999), { ...icr(1200, 3000), rip: OTHER }, icr(1000, 10_000), { reason: 'CPUID' }, { ...icr(800, 100), rip: ICR_FN }, icr(700, 100), icr(600, 100), { reason: 'CPUID' }]);
    const t = rows([...mine, ...calls]);
    const ctx = context(t);
    expect(ctx.hypercall.value).toBe(300);
    const { trace, ledger } = new IpivPass('ipiv:pv', true).apply(t, ctx);
    expect(kept(trace)).toEqual([
      [mine[0].ts, 'VMCALL', 1800], [mine[2].ts, 'MSR_WRITE', 1000], [mine[3].ts, 'CPUID', 1000], [mine[4].ts, 'VMCALL', 1100], [mine[7].ts, 'CPUID', 1000],
    ]);
    const c = trace.vcpus.get(0)!;
    expect([c.vcpu[0], c.ripLo[0], c.ripLo[3]]).toEqual([0, 0xc0100000, ICR_FN]);
    expect([ledger.removed, ledger.added, ledger.exitsBefore, ledger.exitsAfter]).toEqual([5, 2, 13, 10]);
    expect(ledger.assumptions).toEqual(['PV send-IPI: back-to-back ICR writes of one vcpu (a multicast) become one hypercall costing one write plus the dispatch; single-target IPIs keep their exit']);
    // A lone ICR write keeps its exit under :pv: nothing to change.
    const one = rows(chain([icr(1000, 10_000), { reason: 'CPUID' }]));
    expect(new IpivPass('ipiv:pv', true).apply(one, context(one)).ledger).toMatchObject({ verdict: 'nothing-to-change', why: 'no ICR writes (IPIs) in this trace' });
  });

  it('the spec: ipiv and ipiv:pv, parsed and printed', () => {
    expect(ipiv.parse(['pv'])).toEqual({ pass: 'ipiv', pv: true });
    expect(ipiv.parse([])).toEqual({ pass: 'ipiv', pv: undefined });
    expect(ipiv.parse(['pv=1'])).toEqual({ pass: 'ipiv', pv: undefined });
    expect([ipiv.print({ pass: 'ipiv', pv: true }), ipiv.print({ pass: 'ipiv' })]).toEqual(['ipiv:pv', 'ipiv']);
    const t = rows(chain([{ reason: 'MSR_WRITE', msr: 0x830, dir: 'w', gap: 100 }, { reason: 'MSR_WRITE', msr: 0x830, dir: 'w' }]));
    expect(ipiv.build({ pass: 'ipiv', pv: true }, {} as BuildEnv, 'ipiv:pv')[0].apply(t, context(t)).ledger).toMatchObject({ removed: 2, added: 1 });
    expect(ipiv.build({ pass: 'ipiv' }, {} as BuildEnv, 'ipiv')[0].apply(t, context(t)).ledger).toMatchObject({ removed: 2, added: 0 });
  });
});

describe('napi-off: the interrupt-mask registers it finds', () => {
  it('e1000 IMS/IMC: 4-byte writes at BAR offsets 0xd0/0xd8; rtl8139 IntrMask: 2-byte writes at port offset 0x3c of a port >= 0x100', () => {
    const t = rows(chain([
      { reason: 'EPT_MISCONFIG', gpa: 0xfebc00d0, size: 4, dir: 'w' }, { reason: 'EPT_MISCONFIG', gpa: 0xfebc00d8, size: 4, dir: 'w' },
      { reason: 'EPT_MISCONFIG', gpa: 0xfe8000d0, size: 4, dir: 'r' }, { reason: 'EPT_MISCONFIG', gpa: 0xfe0000d0, size: 2, dir: 'w' },
      { reason: 'EPT_MISCONFIG', gpa: 0xfe0200d4, size: 4, dir: 'w' }, { reason: 'EPT_MISCONFIG', gpa: 0xfe4010d0, size: 4, dir: 'w' },
      { reason: 'EPT_MISCONFIG', gpa: 0xfebc00d0, size: 4, dir: 'w' },
      { reason: 'IO_INSTRUCTION', port: 0xc03c, size: 2, dir: 'w' }, { reason: 'IO_INSTRUCTION', port: 0x3c, size: 2, dir: 'w' },
      { reason: 'IO_INSTRUCTION', port: 0xc13c, size: 4, dir: 'w' }, { reason: 'IO_INSTRUCTION', port: 0xc03d, size: 2, dir: 'w' },
      { reason: 'IO_INSTRUCTION', port: 0xc23c, size: 2, dir: 'r' }, { reason: 'IO_INSTRUCTION', port: 0x13c, size: 2, dir: 'w' },
      { reason: 'CPUID', dir: 'w', size: 4 },
    ]));
    const { ranges, found } = findMaskChurn(t);
    expect(found).toEqual(['e1000 IMS at 0xfebc00d0', 'e1000 IMC at 0xfebc00d8', 'rtl8139 IntrMask at port 0xc03c', 'rtl8139 IntrMask at port 0x13c']);
    expect(ranges).toEqual([
      { kind: 'mmio', lo: 0xfebc00d0n, hi: 0xfebc00d0n, rw: 'w', flush: true, deviceSpan: 0x20000n },
      { kind: 'mmio', lo: 0xfebc00d8n, hi: 0xfebc00d8n, rw: 'w', flush: true, deviceSpan: 0x20000n, deferral: 'always' },
      { kind: 'port', lo: 0xc03cn, hi: 0xc03cn, rw: 'w', flush: true, deviceSpan: 0x100n, deferral: 'zero-value', leadRead: 0xc03en },
      { kind: 'port', lo: 0x13cn, hi: 0x13cn, rw: 'w', flush: true, deviceSpan: 0x100n, deferral: 'zero-value', leadRead: 0x13en },
    ]);
  });

  it('the pass removes them under its own name and says what it found; without any it does not apply', () => {
    const t = rows(chain([{ reason: 'EPT_MISCONFIG', gpa: 0xfebc00d0, size: 4, dir: 'w' }, { reason: 'CPUID' }]));
    const [pass] = napiOff.build({ pass: 'napi-off' }, { trace: t } as BuildEnv, 'napi-off');
    expect([pass.name, pass.spec]).toEqual(['napi-off', 'napi-off']);
    const { ledger } = pass.apply(t, context(t));
    expect(ledger.removed).toBe(1);
    expect(ledger.notes).toEqual(['interrupt-mask churn found: e1000 IMS at 0xfebc00d0. NAPI\'s softirq scheduling is guest CPU, not exits: only the high end counts the guest time between masking and the poll']);
    const none = rows(chain([{ reason: 'CPUID' }]));
    const [v] = napiOff.build({ pass: 'napi-off' }, { trace: none } as BuildEnv, 'napi-off');
    expect(v.apply(none, context(none)).ledger).toMatchObject({ verdict: 'not-applicable', why: 'no interrupt-mask churn (e1000 IMS/IMC, rtl8139 IntrMask) in this trace' });
    expect([napiOff.parse([]), napiOff.print({ pass: 'napi-off' })]).toEqual([{ pass: 'napi-off' }, 'napi-off']);
  });
});

describe('drop and drop-caller on traces built in the test', () => {
  const MAP = 'c0100000 T foo\nc0101000 T bar\nc0102000 T baz\nc0200000 T _etext\n';
  const FOO = 0xc0100010, BAR = 0xc0101010, BAZ = 0xc0102010;

  it('drop removes the exits in the function, and the guest time between two consecutive ones less a transition', () => {
    const list = chain([{ reason: 'CPUID', rip: FOO, gap: 5000 }, { reason: 'CPUID', rip: FOO, gap: 7000 }, { reason: 'CPUID', rip: BAR, gap: 3000 },
      { reason: 'CPUID', rip: FOO + 8, gap: 500 }, { reason: 'CPUID', rip: FOO, gap: 2000 }, { reason: 'CPUID', rip: FOO }]);
    const t = rows(list);
    const { trace, ledger } = new DropPass('drop:foo', ['foo'], false).apply(t, context(t, { map: MAP }));
    expect(kept(trace).map((r) => r[0])).toEqual([list[2].ts]);
    // Gaps between removed neighbours: 5,000 - T, (500 - T: none), 2,000 - T.
    expect([ledger.removed, sum(ledger.guestSavedNs)]).toEqual([5, 4000 + 1000]);
    expect(ledger.assumptions).toEqual(['the exits in foo disappear with the code; guest time between two of them goes too']);
    const none = new DropPass('drop:baz', ['baz'], false).apply(t, context(t, { map: MAP })).ledger;
    expect([none.verdict, none.why]).toEqual(['nothing-to-change', 'no exit in baz']);
  });

  it('drop-caller removes the exits whose recorded caller is in the function', () => {
    const list = chain([{ reason: 'CPUID', rip: BAR, caller: FOO, gap: 5000 }, { reason: 'CPUID', rip: BAZ, caller: FOO, gap: 7000 },
      { reason: 'CPUID', rip: FOO, caller: BAR }, { reason: 'CPUID', rip: BAR, caller: FOO, flags: 0 }]);
    const t = rows(list);
    const { trace, ledger } = new DropPass('drop-caller:foo', ['foo'], true).apply(t, context(t, { map: MAP }));
    expect(kept(trace).map((r) => r[0])).toEqual([list[2].ts, list[3].ts]);
    expect([ledger.verdict, ledger.removed, sum(ledger.guestSavedNs)]).toEqual(['applied', 2, 4000]);
    expect(ledger.assumptions).toEqual(['the exits called from foo disappear with the code; guest time between two of them goes too']);
    const none = new DropPass('drop-caller:baz', ['baz'], true).apply(t, context(t, { map: MAP })).ledger;
    expect([none.verdict, none.why]).toEqual(['nothing-to-change', 'no exit called from baz']);
  });

  it('a function the map lacks, or no map: an error when named, not applicable inside a preset', () => {
    const t = rows(chain([{ reason: 'CPUID', rip: FOO }]));
    expect(() => new DropPass('drop:nope,foo,nada', ['nope', 'foo', 'nada'], false).apply(t, context(t, { map: MAP }))).toThrow(/^--pass drop:nope,foo,nada: no function nope, nada in the map \(test\.map\): check the spelling$/);
    expect(() => new DropPass('drop:foo,bar', ['foo', 'bar'], false).apply(t, context(t))).toThrow(/^--pass drop:foo,bar: needs the guest kernel map \(--map\) to know where foo, bar is$/);
    const r = new DropPass('drop:nope', ['nope'], false, false).apply(t, context(t, { map: MAP }));
    expect(r.trace).toBe(t);
    expect([r.ledger.verdict, r.ledger.why, r.ledger.removed]).toEqual(['not-applicable', 'no function nope in the map (test.map)', 0]);
    const nomap = new DropPass('drop-caller:foo', ['foo'], true, false).apply(t, context(t)).ledger;
    expect([nomap.verdict, nomap.why]).toEqual(['not-applicable', 'needs the guest kernel map (--map) to know where foo is']);
  });

  it('the specs: symbols split on ",", printed back; built as named (direct) or inside a preset', () => {
    expect(drop.parse(['a,b'])).toEqual({ pass: 'drop', symbols: ['a', 'b'] });
    expect(drop.parse([])).toEqual({ pass: 'drop', symbols: [] });
    expect(dropCaller.parse(['a,b'])).toEqual({ pass: 'drop-caller', symbols: ['a', 'b'] });
    expect(dropCaller.parse([])).toEqual({ pass: 'drop-caller', symbols: [] });
    expect([drop.print({ pass: 'drop', symbols: ['a', 'b'] }), dropCaller.print({ pass: 'drop-caller', symbols: ['a', 'b'] })]).toEqual(['drop:a,b', 'drop-caller:a,b']);
    const t = rows(chain([{ reason: 'CPUID', rip: FOO }]));
    const ctx = context(t, { map: MAP });
    const [d] = drop.build({ pass: 'drop', symbols: ['nope'] }, { direct: false } as BuildEnv, 'drop:nope');
    expect([d.name, d.apply(t, ctx).ledger.verdict]).toEqual(['drop', 'not-applicable']);
    const [dc] = dropCaller.build({ pass: 'drop-caller', symbols: ['nope'] }, { direct: true } as BuildEnv, 'drop-caller:nope');
    expect(dc.name).toBe('drop-caller');
    expect(() => dc.apply(t, ctx)).toThrow(/no function nope/);
  });
});

describe('coalesce-io on traces built in the test', () => {
  const MAP = 'c0100000 T drv_a\nc0101000 T drv_b\nc0102000 T drv_c\nc0200000 T _etext\n';
  const A1 = 0xc0100010, A2 = 0xc0100020, A3 = 0xc0100030, B1 = 0xc0101010, C1 = 0xc0102010, C2 = 0xc0102020;
  // vcpu 1: five VMCALLs, median 300 ns: the hypercall dispatch.
  const calls: Row[] = [100, 200, 300, 400, 500].map((d, k) => ({ ts: 1_000_000 + k * 10_000, reason: 'VMCALL', dur: d, vcpu: 1 }));
  const io = (port: number, dir: 'r' | 'w', rip: number, gap = 100, more: Partial<Row> = {}) => ({ reason: 'IO_INSTRUCTION', port, dir, rip, gap, ...more });
  const run = (list: Row[], opts: ConstructorParameters<typeof CoalesceIoPass>[1] = {}) => { const t = rows([...list, ...calls]); return new CoalesceIoPass('coalesce-io', opts).apply(t, context(t, { map: MAP })); };

  it('a run of device-model I/O of one function less than T + 2 us apart becomes one VMCALL: dispatch + every exit\'s duration; a read ends it', () => {
    const list = chain([
      io(0x1f0, 'w', A1, 2999, { dur: 1000 }), io(0x1f1, 'w', A2, 2999, { dur: 2000 }), io(0x1f7, 'r', A3, 100, { dur: 3000 }), // merged, ended by the read
      io(0x1f0, 'w', A1, 3000), io(0x1f0, 'w', A1), // 3,000 ns apart: not merged
      io(0x1f0, 'w', B1), // another function
      io(0x40, 'w', B1), // the PIT, emulated in the kernel: not a device-model access
      io(0x3f8, 'w', B1, 100, { dur: 1000 }), io(0x3f8, 'w', B1, 100, { dur: 1000 }), // merged
      { reason: 'EPT_MISCONFIG', gpa: 0xfe000000, dir: 'w', rip: B1 }, { reason: 'CPUID' },
    ]);
    const { trace, ledger } = run(list);
    expect(kept(trace)).toEqual([
      [list[0].ts, 'VMCALL', 300 + 6000], [list[3].ts, 'IO_INSTRUCTION', 1000], [list[4].ts, 'IO_INSTRUCTION', 1000], [list[5].ts, 'IO_INSTRUCTION', 1000],
      [list[6].ts, 'IO_INSTRUCTION', 1000], [list[7].ts, 'VMCALL', 300 + 2000], [list[9].ts, 'EPT_MISCONFIG', 1000], [list[10].ts, 'CPUID', 1000],
    ]);
    expect([ledger.removed, ledger.added]).toEqual([5, 2]);
    expect(ledger.notes).toEqual(['2 batches merged (1 ended by a read)']);
    expect(ledger.perAddress).toEqual([
      { address: '0xc0100010', key: 'drv_a+0x10', before: 3, after: 2 }, { address: '0xc0101010', key: 'drv_b+0x10', before: 3, after: 1 },
      { address: '0xc0100020', key: 'drv_a+0x20', before: 1, after: 0 }, { address: '0xc0100030', key: 'drv_a+0x30', before: 1, after: 0 },
    ]);
    expect(ledger.assumptions).toEqual([
      'rule: a batch carries OUT values and may end with one IN (its value returned by the hypercall); a read the code needs before its next access cannot be queued, and a run of reads of one port at one RIP is a polling loop that no batching removes (coalesce-io:reads is the optimistic variant)',
      'batches: successive device-model port I/O exits on one vcpu from the same trap function, at most 3000 ns of guest time apart, 2 or more; in-kernel PIC/PIT ports excluded',
      'one VMCALL per batch lasting 300 ns of dispatch plus every merged exit\'s traced duration (each instruction is still emulated, device model included); the saving is 1000 ns of hardware exit+entry per merged exit but one, less the dispatch',
      'the guest code that fills the queue of merged instructions is assumed free',
    ]);
  });

  it('the VMCALL keeps the first exit\'s caller; an unknown duration adds nothing', () => {
    const list = chain([io(0x1f0, 'w', A1, 100, { caller: C1, dur: NaN }), io(0x1f1, 'w', A2, 100, { caller: C1, dur: 700 }), { reason: 'CPUID', caller: C1 }]);
    const { trace } = run(list);
    const c = trace.vcpus.get(0)!;
    expect(kept(trace)[0]).toEqual([list[0].ts, 'VMCALL', 1000]);
    expect([c.flags[0], c.callerLo[0], c.ripLo[0]]).toEqual([32, C1, A1]);
    // Without a caller the VMCALL carries none.
    const bare = run(chain([io(0x1f0, 'w', A1), io(0x1f1, 'w', A2)])).trace.vcpus.get(0)!;
    expect([bare.length, bare.flags[0], bare.callerLo[0]]).toEqual([1, 0, 0]);
  });

  it('reads of one port at one RIP in a row are a polling loop: left alone, and counted', () => {
    const polled = run(chain([io(0x1f0, 'w', A1), io(0x1f7, 'r', A3), io(0x1f7, 'r', A3), io(0x1f7, 'r', A3), io(0x1f0, 'w', A1), io(0x1f1, 'w', A2)]));
    expect(kept(polled.trace).map((r) => r[1])).toEqual(['IO_INSTRUCTION', 'IO_INSTRUCTION', 'IO_INSTRUCTION', 'IO_INSTRUCTION', 'VMCALL']);
    expect(polled.ledger.notes).toEqual(['1 batches merged; 3 polling reads left alone']);
    // :reads lets other reads join, not a polling loop's.
    const opt = run(chain([io(0x1f0, 'w', A1), io(0x1f7, 'r', A3), io(0x1f7, 'r', A3), io(0x1f0, 'w', A1), io(0x1f6, 'r', A2), io(0x1f1, 'w', A2)]), { reads: true });
    expect(kept(opt.trace).map((r) => r[1])).toEqual(['IO_INSTRUCTION', 'IO_INSTRUCTION', 'IO_INSTRUCTION', 'VMCALL']);
    expect(opt.ledger.notes).toEqual(['1 batches merged; 2 polling reads left alone']);
    expect(opt.ledger.assumptions[0]).toBe('rule (optimistic, :reads): OUTs and INs of one fragment batch together, their read values assumed unused until the batch ends; a run of reads of one port at one RIP is a polling loop and stays');
    // Without :reads the same run: write + read, (read polling? no: 0x1f7 twice at A3 is), ...
    const strict = run(chain([io(0x1f0, 'w', A1), io(0x1f6, 'r', A2), io(0x1f0, 'w', A1), io(0x1f1, 'w', A2)]));
    expect(strict.ledger.notes).toEqual(['2 batches merged (1 ended by a read)']);
  });

  it('a polling loop is reads that agree on RIP (both halves), port, address and caller; otherwise the write before merges with the first read', () => {
    // scope=caller, every exit called from drv_c: the caller decides the scope, so the reads differ only where said.
    const R = (more: Partial<Row>) => io(0x1f7, 'r', A3, 100, { caller: C1, ...more });
    const merged = (second: Row | Omit<Row, 'ts'>) => run(chain([io(0x1f0, 'w', A1, 100, { caller: C1 }), R({}), second as Omit<Row, 'ts'>]), { scope: 'caller' }).ledger.notes[0];
    expect(merged(R({}))).toBe('0 batches merged; 2 polling reads left alone');
    expect(merged(R({ rip: A3 + 4 }))).toBe('1 batches merged (1 ended by a read)');
    expect(merged(R({ rip: A3 + 2 ** 32 }))).toBe('1 batches merged (1 ended by a read)');
    expect(merged(R({ port: 0x1f6 }))).toBe('1 batches merged (1 ended by a read)');
    expect(merged(R({ caller: C2 }))).toBe('1 batches merged (1 ended by a read)');
    expect(merged(R({ gpa: 0x10, flags: F_PORT | 0x20 | 8 }))).toBe('1 batches merged (1 ended by a read)');
    // Both with an address: the same one is a poll, another is not.
    const both = (g1: number, g2: number) => run(chain([io(0x1f0, 'w', A1, 100, { caller: C1 }), R({ gpa: g1, flags: F_PORT | 0x20 | 8 }), R({ gpa: g2, flags: F_PORT | 0x20 | 8 })]), { scope: 'caller' }).ledger.notes[0];
    expect(both(0x10, 0x10)).toBe('0 batches merged; 2 polling reads left alone');
    expect(both(0x10, 0x20)).toBe('1 batches merged (1 ended by a read)');
  });

  it('options: window, min, scope, mmio writes and in=FUNCTIONS', () => {
    const list = chain([io(0x1f0, 'w', A1, 4000), io(0x1f1, 'w', A2, 100), io(0x1f2, 'w', A3, 100), io(0x1f0, 'w', B1, 100), io(0x1f0, 'w', B1)]);
    const n = (opts: ConstructorParameters<typeof CoalesceIoPass>[1]) => { const l = run(list, opts).ledger; return [l.removed, l.added]; };
    // Default window 3,000: A1 | A2 A3 | B1 B1.
    expect(n({})).toEqual([4, 2]);
    expect(n({ windowNs: 4001 })).toEqual([5, 2]);
    expect(n({ windowNs: 4000 })).toEqual([4, 2]);
    expect(n({ min: 3 })).toEqual([0, 0]);
    expect(n({ min: 3, windowNs: 5000 })).toEqual([3, 1]);
    expect(n({ scope: 'address' })).toEqual([2, 1]);
    expect(n({ functions: ['drv_b'] })).toEqual([2, 1]);
    expect(n({ functions: [] })).toEqual([4, 2]);
    expect(run(list, { functions: ['drv_b', 'drv_c'] }).ledger.assumptions[1]).toBe('batches: successive device-model port I/O exits on one vcpu from the same trap function (only in drv_b, drv_c), at most 3000 ns of guest time apart, 2 or more; in-kernel PIC/PIT ports excluded');
    expect(run(list, { scope: 'address', mmio: true, windowNs: 1234.4 }).ledger.assumptions[1]).toBe('batches: successive device-model port I/O and MMIO-write exits on one vcpu from the same trap address, at most 1234 ns of guest time apart, 2 or more; in-kernel PIC/PIT ports excluded');
    // mmio: MMIO writes join (reads of MMIO do not count as I/O at all).
    const mm = chain([{ reason: 'EPT_MISCONFIG', gpa: 0xfe000000, dir: 'w', rip: A1, gap: 100 }, { reason: 'EPT_MISCONFIG', gpa: 0xfe000004, dir: 'w', rip: A2, gap: 100 }, { reason: 'EPT_MISCONFIG', gpa: 0xfe000008, dir: 'r', rip: A3, gap: 100 }, { reason: 'EPT_MISCONFIG', gpa: 0xfe000008, dir: 'w', rip: A3 }]);
    expect(run(mm, { mmio: true }).ledger.removed).toBe(2);
    expect(run(mm).ledger.verdict).toBe('nothing-to-change');
  });

  it('scope: by calling function when the trace carries callers; in= then names the caller', () => {
    // Traps in drv_a and drv_b, all called from drv_c: one batch by caller, none by trap function.
    const list = chain([io(0x1f0, 'w', A1, 100, { caller: C1 }), io(0x1f1, 'w', B1, 100, { caller: C2 }), ...Array.from({ length: 5 }, () => ({ reason: 'CPUID', caller: C1 }))]);
    // (7 of 12 exits carry a caller: more than half, the trace has callers.)
    expect(run(list).ledger.removed).toBe(2);
    expect(run(list).ledger.assumptions[1]).toMatch(/from the same calling function, at most/);
    expect(run(list, { scope: 'function' }).ledger.removed).toBe(0);
    expect(run(list, { functions: ['drv_c'] }).ledger.removed).toBe(2);
    expect(run(list, { functions: ['drv_a'] }).ledger.removed).toBe(0);
    expect(run(list, { functions: ['drv_a'], scope: 'function' }).ledger.removed).toBe(0);
    // A row without the caller flag is keyed apart from one with it.
    const half = chain([io(0x1f0, 'w', A1, 100, { caller: C1 }), io(0x1f1, 'w', A1, 100, { caller: C1, flags: F_PORT }), { reason: 'CPUID', caller: C1 }]);
    expect(run(half, { scope: 'caller' }).ledger.removed).toBe(0);
  });

  it('the spec: every option parsed and printed back in one order', () => {
    const spec = coalesceIo.parse(['reads', 'window=5000', 'scope=address', 'mmio', 'min=3', 'in=a,b']);
    expect(spec).toEqual({ pass: 'coalesce-io', windowNs: 5000, scope: 'address', mmio: true, min: 3, in: ['a', 'b'], reads: true });
    expect(coalesceIo.print(coalesceIo.schema.parse(spec))).toBe('coalesce-io:reads:window=5000:scope=address:mmio:min=3:in=a,b');
    expect(coalesceIo.parse([])).toEqual({ pass: 'coalesce-io', windowNs: undefined, scope: undefined, mmio: undefined, min: undefined, in: undefined, reads: undefined });
    expect(coalesceIo.parse(['mmio=1', 'reads=1'])).toMatchObject({ mmio: undefined, reads: undefined });
    expect(coalesceIo.print({ pass: 'coalesce-io' })).toBe('coalesce-io');
    const list = chain([io(0x1f0, 'w', A1, 4000), io(0x1f1, 'w', A2, 4000), io(0x1f2, 'r', A3, 4000), io(0x1f1, 'w', A2)]);
    const t = rows([...list, ...calls]);
    const [p] = coalesceIo.build({ pass: 'coalesce-io', windowNs: 5000, scope: 'address', min: 2, in: ['drv_a'], reads: true }, {} as BuildEnv, 'x');
    expect(p.apply(t, context(t, { map: MAP })).ledger.removed).toBe(0);
    const [q] = coalesceIo.build({ pass: 'coalesce-io', windowNs: 5000, min: 4, in: ['drv_a'], reads: true, mmio: true }, {} as BuildEnv, 'x');
    expect(q.apply(t, context(t, { map: MAP })).ledger).toMatchObject({ removed: 4, added: 1 });
  });
});

describe('haltpoll: the governor replayed over a vcpu\'s halts', () => {
  const cpuid = (gap = 10_000) => ({ reason: 'CPUID', dur: 800, gap });
  const halt = (dur: number, gap = 10_000) => ({ reason: 'HLT', dur, gap });
  // Limit 0 -> (30 us halt) 50 us -> polls 40 us -> 120 us: runs out (trimmed 50 us, 70 us halt) -> 100 us -> polls 90 us
  // -> 500 us: runs out (trimmed 100 us, 400 us halt) -> halves to 50 us -> 60 us: runs out (trimmed 50, 10 us halt, no change) -> polls 50 us.
  const governed = (first: Omit<Row, 'ts'> & { gap?: number }) => chain([
    first, halt(30_000), cpuid(), halt(40_000), cpuid(), halt(120_000), cpuid(), halt(90_000), cpuid(), halt(500_000), cpuid(), halt(60_000), cpuid(), halt(50_000), cpuid(),
  ]);

  it('polled halts lose their exit (an interrupt arrival takes its place); halts the poll does not cover are shortened by it', () => {
    // An EOI write (x2APIC MSR 0x80b): interrupts are not posted. No interrupt arrivals: priced as the in-kernel exits (800 ns).
    const list = governed({ reason: 'MSR_WRITE', msr: 0x80b, dir: 'w', dur: 800 });
    const t = rows(list);
    const { trace, ledger } = new HaltpollPass('haltpoll').apply(t, context(t));
    const at = (k: number) => list[k].ts;
    expect(kept(trace)).toEqual([
      [at(0), 'MSR_WRITE', 800], [at(1), 'HLT', 30_000], [at(2), 'CPUID', 800], [at(3) + 40_000, 'EXTERNAL_INTERRUPT', 800], [at(4), 'CPUID', 800],
      [at(5) + 50_000, 'HLT', 70_000], [at(6), 'CPUID', 800], [at(7) + 90_000, 'EXTERNAL_INTERRUPT', 800], [at(8), 'CPUID', 800],
      [at(9) + 100_000, 'HLT', 400_000], [at(10), 'CPUID', 800], [at(11) + 50_000, 'HLT', 10_000], [at(12), 'CPUID', 800],
      [at(13) + 50_000, 'EXTERNAL_INTERRUPT', 800], [at(14), 'CPUID', 800],
    ]);
    expect([ledger.removed, ledger.added, ledger.changed]).toEqual([3, 3, 3]);
    expect(ledger.notes).toEqual(['3 of 7 halts polled through (0 tick stop/restart writes with them), 3 halts shortened by a poll that ran out; 0 exits of ticks that land in polls (CONFIG_HZ=1000 at most: the high end takes none, 3.0 exits a tick, assumed)']);
    expect(ledger.assumptions).toEqual([
      'the haltpoll governor replayed on each vcpu\'s halts: poll after a halt or a woken poll, limit from 0 growing x2 (from 50 us) to 200 us after halts it could have covered, halving after longer ones',
      'a polled halt loses its HLT exit and the NO_HZ tick stop/restart writes around it; the interrupt that ends the poll arrives by an external-interrupt exit (800 ns: no interrupt arrivals in the trace: the median of its 8 other in-kernel exits); on a host with posted interrupts it would not',
      'the tick runs while the vcpu polls: the trace shows no steady tick: at most CONFIG_HZ=1000 (the rewritten trace), none at the high end',
      'the polling burns host CPU, not guest throughput',
    ]);
    expect(ledger.moreSavedHigh).toBeUndefined();
  });

  it('posted interrupts (EOI-induced exits, or halts woken with no EOI write and no interrupt window): no arrival exit', () => {
    for (const [first, posted] of [[{ reason: 'CPUID', dur: 800 }, true], [{ reason: 'EOI_INDUCED', dur: 800 }, true], [{ reason: 'INTERRUPT_WINDOW', dur: 800 }, false], [{ reason: 'EPT_MISCONFIG', gpa: 0xfee000b0, dir: 'w', dur: 800 }, false]] as const) {
      const t = rows(governed(first));
      const l = new HaltpollPass('haltpoll').apply(t, context(t)).ledger;
      expect([l.removed, l.added], first.reason).toEqual([3, posted ? 0 : 3]);
      expect(l.assumptions[1], first.reason).toBe(posted
        ? 'a polled halt loses its HLT exit and the NO_HZ tick stop/restart writes around it; the interrupt that ends the poll is posted (the trace shows APICv: EOI-induced exits, or interrupts handled without EOI or window exits): no exit'
        : 'a polled halt loses its HLT exit and the NO_HZ tick stop/restart writes around it; the interrupt that ends the poll arrives by an external-interrupt exit (800 ns: no interrupt arrivals in the trace: the median of its 8 other in-kernel exits); on a host with posted interrupts it would not');
    }
  });

  it('the arrival is priced as the trace\'s external interrupts (5 or more), else its preemption-timer exits, else its in-kernel exits', () => {
    const price = (extra: Row[]) => { const t = rows([...governed({ reason: 'MSR_WRITE', msr: 0x80b, dir: 'w', dur: 800 }), ...extra]); return new HaltpollPass('haltpoll').apply(t, context(t)).ledger.assumptions[1].match(/\((\d+) ns: (.*)\); on a host/)!.slice(1); };
    const on1 = (reason: string, durs: number[]) => durs.map((d, k) => ({ ts: 1_000_000 + k * 37_000, vcpu: 1, reason, dur: d }));
    expect(price(on1('EXTERNAL_INTERRUPT', [500, 100, 300, 200, 400]))).toEqual(['300', 'median of the trace\'s 5 external-interrupt exits']);
    expect(price([...on1('EXTERNAL_INTERRUPT', [500, 100, 300, 200]), ...on1('PREEMPTION_TIMER', [900, 700, 600, 650, 999])])).toEqual(['700', 'median of the trace\'s 5 preemption-timer exits (no external-interrupt exits)']);
    // Four preemption-timer exits are too few, and are not in-kernel exits either: the 8 others (800 ns).
    expect(price(on1('PREEMPTION_TIMER', [900, 700, 600, 650]))).toEqual(['800', 'no interrupt arrivals in the trace: the median of its 8 other in-kernel exits']);
  });

  it('ns=N caps the limit (and its first growth) at N', () => {
    const t = rows(chain([{ reason: 'MSR_WRITE', msr: 0x80b, dir: 'w', dur: 800 }, halt(30_000), cpuid(), halt(40_000), cpuid(), halt(30_000), cpuid()]));
    const spec = haltpoll.schema.parse(haltpoll.parse(['ns=35000']));
    expect([spec, haltpoll.print(spec), haltpoll.print({ pass: 'haltpoll' }), haltpoll.parse([])]).toEqual([{ pass: 'haltpoll', ns: 35_000 }, 'haltpoll:ns=35000', 'haltpoll', { pass: 'haltpoll', ns: undefined }]);
    const [p] = haltpoll.build(spec, {} as BuildEnv, 'haltpoll:ns=35000');
    const l = p.apply(t, context(t)).ledger;
    // Limit 35 us after the first halt: the 40 us one runs out (5 us left: no change), the next 30 us is polled.
    expect([l.removed, l.changed]).toEqual([1, 1]);
    expect(l.assumptions[0]).toBe('the haltpoll governor replayed on each vcpu\'s halts: poll after a halt or a woken poll, limit from 0 growing x2 (from 35 us) to 35 us after halts it could have covered, halving after longer ones');
    const none = rows(chain([halt(300_000), cpuid()]));
    expect(new HaltpollPass('haltpoll').apply(none, context(none)).ledger).toMatchObject({ verdict: 'nothing-to-change', why: 'no halt the governor would poll through (none shorter than 200 us after a short one)' });
    // A halt of unknown length is not one the governor sees.
    const nan = rows(chain([halt(30_000), cpuid(), halt(NaN), cpuid(), halt(40_000), cpuid()]));
    expect(new HaltpollPass('haltpoll').apply(nan, context(nan)).ledger.notes[0]).toMatch(/^1 of 2 halts polled through/);
  });

  it('NO_HZ: the tick stop right before a polled halt and the restart after it go; the tick the polling vcpu keeps adds exits', () => {
    const x = (gap: number) => ({ reason: 'CPUID', dur: 500, gap });
    const dl = (gap: number) => ({ reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w' as const, dur: 500, gap });
    // Limit 0 -> 50 us (150 us halt) -> 100 us (150: runs out) -> 200 us (250: runs out). Then four polled halts of 200 us, each with a
    // tick stop 1 us before it and a restart 48.5 us after its wake-up: the tick was off 250 us each time (stop to restart), 1 ms in all: one tick of 3 exits.
    const polledHalt = (stopGap = 1000) => [dl(stopGap), { reason: 'HLT', dur: 200_000, gap: 2000 }, x(46_000), dl(10_000), x(10_000)];
    const list = chain([x(10_000), { reason: 'HLT', dur: 150_000 }, x(10_000), { reason: 'HLT', dur: 150_000 }, x(10_000), { reason: 'HLT', dur: 250_000 }, x(10_000),
      ...polledHalt(), ...polledHalt(), ...polledHalt(), ...polledHalt(), ...polledHalt(6000)]);
    const t = rows(list);
    const { trace, ledger } = new HaltpollPass('haltpoll').apply(t, context(t));
    // The fifth: its stop write is 6 us before the halt (not T + 5 us): it stays, and so does the restart.
    expect(ledger.notes).toEqual(['5 of 8 halts polled through (8 tick stop/restart writes with them), 2 halts shortened by a poll that ran out; 3 exits of ticks that land in polls (CONFIG_HZ=1000 at most: the high end takes none, 3.0 exits a tick, assumed)']);
    expect([ledger.removed, ledger.added, ledger.changed]).toEqual([13, 3, 2]);
    // Each tick exit costs a third of 3 arrivals (in-kernel exits, 500 ns); at the high end none of them happen.
    const ticks = kept(trace).filter((r) => r[1] === 'PREEMPTION_TIMER');
    const fourth = list[7 + 3 * 5 + 1];
    expect(ticks).toEqual([0, 1, 2].map(() => [fourth.ts + 200_000, 'PREEMPTION_TIMER', 500]));
    expect(ledger.moreSavedHigh).toEqual({ exits: 3, timeNs: 1500 });
  });
});

describe('virtio: an emulated NIC\'s or disk\'s register exits become virtio notifications and ISR reads', () => {
  const MAP = 'c0100000 T rtl8139_poll\nc0101000 T e1000_xmit_frame\nc0102000 T ahci_qc_issue\nc0103000 T other_fn\nc0200000 T _etext\n';
  const RTL = 0xc0100010, E1K = 0xc0101010, AHCI_FN = 0xc0102010, OTH = 0xc0103010;
  const apply = (list: Row[], dev?: 'nic' | 'disk' | 'all') => { const t = rows(list); return new VirtioPass('virtio', dev).apply(t, context(t, { map: MAP })); };
  const pio = (port: number, dir: 'r' | 'w', dur: number, more: Partial<Row> & { gap?: number } = {}) => ({ reason: 'IO_INSTRUCTION', port, dir, dur, rip: RTL, ...more });

  it('a price the trace has no exit for is named unpriced, not NaN ns (one TxStatus write: no NIC read, no refill)', () => {
    const { ledger } = apply(chain([pio(0xc010, 'w', 6000), { reason: 'CPUID' }]));
    expect(ledger.notes).toEqual(['NIC: 0 interrupts become ISR reads (unpriced: no timed exit of it, the cheapest NIC register read); 1 transmissions and 0 RX refills keep a notification each (6000 ns / unpriced: no timed exit of it, the emulated kicks) at the low end and none at the high end (event suppression)']);
  });

  it('rtl8139: IntrStatus acks become ISR reads (the cheapest NIC read), TxStatus and RxBufPtr writes a notification each (the median kick)', () => {
    const list = chain([
      pio(0xc03e, 'w', 4000), pio(0xc010, 'w', 6000), pio(0xc01c, 'w', 8000), pio(0xc020, 'w', 5000), pio(0xc038, 'w', 7000),
      pio(0xc037, 'r', 3000), pio(0xc03e, 'r', 2500), { reason: 'CPUID', rip: RTL },
      // The NAPI mask write (IntrMask = 0) and its flush read: the guest time after them may go too.
      pio(0xc03c, 'w', 1000, { value: 0 }), pio(0xc037, 'r', 2000, { gap: 30_000 }),
      pio(0x3f8, 'w', 9000, { rip: OTH }), { reason: 'CPUID' },
    ]);
    const { trace, ledger } = apply(list);
    const at = (k: number) => list[k].ts;
    expect(kept(trace)).toEqual([
      [at(0), 'IO_INSTRUCTION', 2000], [at(1), 'IO_INSTRUCTION', 8000], [at(2), 'IO_INSTRUCTION', 8000], [at(4), 'IO_INSTRUCTION', 7000],
      [at(7), 'CPUID', 1000], [at(10), 'IO_INSTRUCTION', 9000], [at(11), 'CPUID', 1000],
    ]);
    const c = trace.vcpus.get(0)!;
    expect([0, 1, 3].map((r) => [c.flags[r], c.port[r], c.size[r], c.dir[r], c.ripLo[r]])).toEqual([[F_PORT, 0, 2, 1, RTL], [F_PORT, 0, 2, 2, RTL], [F_PORT, 0, 2, 2, RTL]]);
    expect([ledger.removed, ledger.added]).toEqual([9, 4]);
    expect(ledger.moreSavedHigh).toEqual({ exits: 4, timeNs: 2000 + 8000 + 8000 + 7000 });
    expect(sum(ledger.guestMaybeSavedNs)).toBe(30_000 - T);
    expect(ledger.notes).toEqual(['NIC: 1 interrupts become ISR reads (2000 ns, the cheapest NIC register read); 2 transmissions and 1 RX refills keep a notification each (8000 / 7000 ns, the emulated kicks) at the low end and none at the high end (event suppression)']);
    expect(ledger.assumptions).toHaveLength(4);
    expect(ledger.assumptions[0]).toMatch(/^operations are read off the device registers: interrupts \(rtl8139 IntrStatus ack, e1000 ICR read\)/);
  });

  it('e1000: ICR reads, TDT and RDT writes anywhere in a 128 KiB BAR; an IMC write defers; a NIC call from another function counts by its caller', () => {
    const mm = (off: number, dir: 'r' | 'w', dur: number, more: Partial<Row> & { gap?: number } = {}) => ({ reason: 'EPT_MISCONFIG', gpa: 0xfebe0000 + off, dir, dur, rip: E1K, ...more });
    const list = chain([
      mm(0xc0, 'r', 3000), mm(0xc0, 'w', 5000), mm(0x3818, 'w', 6000), mm(0x2818, 'w', 4000), mm(0x20000 + 0x3818, 'w', 10_000, { rip: OTH, caller: E1K + 4 }),
      mm(0xd8, 'w', 1000, { gap: 7000 }), { reason: 'CPUID', gap: 20_000 }, mm(0xd8, 'w', 1000), mm(0x08, 'r', 2000, { gap: 40_000 }), { reason: 'CPUID' },
    ]);
    const { trace, ledger } = apply(list, 'nic');
    const at = (k: number) => list[k].ts;
    // ISR read: the cheapest NIC read (2,000, STATUS). Kicks: TDT median of 6,000 and 10,000 (the upper one), RDT 4,000.
    expect(kept(trace)).toEqual([[at(0), 'IO_INSTRUCTION', 2000], [at(2), 'IO_INSTRUCTION', 10_000], [at(3), 'IO_INSTRUCTION', 4000], [at(4), 'IO_INSTRUCTION', 10_000], [at(6), 'CPUID', 1000], [at(9), 'CPUID', 1000]]);
    const c = trace.vcpus.get(0)!;
    expect([c.flags[3], c.callerLo[3], c.ripLo[3]]).toEqual([F_PORT | 32, E1K + 4, OTH]);
    // IMC with no NIC read after it: the 7,000 after itself; with its flush read: the 40,000 after the read.
    expect(sum(ledger.guestMaybeSavedNs)).toBe(7000 - T + 40_000 - T);
    expect(ledger.notes[0]).toMatch(/^NIC: 1 interrupts become ISR reads \(2000 ns, the cheapest NIC register read\); 2 transmissions and 1 RX refills keep a notification each \(10000 \/ 4000 ns/);
    // dev=disk leaves a NIC alone.
    expect(apply(list, 'disk').ledger).toMatchObject({ verdict: 'nothing-to-change', why: 'no emulated disk register exits in this trace' });
  });

  it('IDE: command writes become one notification each, the first read 20 us or more after it a completion\'s ISR read', () => {
    const list = chain([
      pio(0x1f2, 'w', 3000, { rip: OTH }), pio(0x1f7, 'w', 9000, { rip: OTH, gap: 11_000 }), pio(0x1f7, 'r', 2000, { rip: OTH, gap: 50_000 }), { reason: 'CPUID' },
      pio(0x1f7, 'r', 2500, { rip: OTH }), pio(0x1f0, 'r', 1500, { rip: OTH }), pio(0x177, 'w', 11_000, { rip: OTH, gap: 100 }), pio(0x3f6, 'w', 1000, { rip: OTH, gap: 100 }),
      pio(0x1f7, 'r', 5000, { rip: OTH }),
    ]);
    const { trace, ledger } = apply(list);
    const at = (k: number) => list[k].ts;
    // The read exactly 20 us after the command is not its completion; the one after the CPUID (73 us on) is; 12.2 us after the
    // second command is too soon. Kicks: the upper median 11,000; ISR read 1,500.
    expect(kept(trace)).toEqual([[at(1), 'IO_INSTRUCTION', 11_000], [at(3), 'CPUID', 1000], [at(4), 'IO_INSTRUCTION', 1500], [at(6), 'IO_INSTRUCTION', 11_000]]);
    expect([ledger.removed, ledger.added]).toEqual([8, 3]);
    // High end: the ISR read goes, and each notification costs only the dispatch (0 here: no VMCALL, no trivial exits).
    expect(ledger.moreSavedHigh).toEqual({ exits: 1, timeNs: 1500 + 2 * 11_000 });
    expect(ledger.notes).toEqual(['disk: 2 requests become one notification each (11000 ns, the command write), 1 completions one ISR read each (1500 ns)']);
    expect(apply(list, 'nic').ledger).toMatchObject({ verdict: 'nothing-to-change', why: 'no emulated nic register exits in this trace' });
    expect(apply(chain([{ reason: 'CPUID' }])).ledger.why).toBe('no emulated NIC or disk register exits in this trace');
  });

  it('AHCI: a write to a port\'s command-issue register (0x100 + 0x80 n + 0x38) in an ahci_ function is a request', () => {
    const ab = (off: number, dur: number) => ({ reason: 'EPT_MISCONFIG', gpa: 0xfebf1000 + off, dir: 'w' as const, dur, rip: AHCI_FN });
    const { trace, ledger } = apply(chain([ab(0x138, 4000), ab(0x1b8, 6000), ab(0x13c, 1000), ab(0x38, 1000), { reason: 'CPUID' }]));
    expect(kept(trace).map((r) => r[2])).toEqual([6000, 6000, 1000]);
    expect([ledger.removed, ledger.added]).toEqual([4, 2]);
  });

  it('the spec: virtio[:dev=nic|disk|all]', () => {
    expect([virtio.parse(['dev=nic']), virtio.parse([])]).toEqual([{ pass: 'virtio', dev: 'nic' }, { pass: 'virtio', dev: undefined }]);
    expect([virtio.print({ pass: 'virtio', dev: 'disk' }), virtio.print({ pass: 'virtio' })]).toEqual(['virtio:dev=disk', 'virtio']);
    const t = rows(chain([pio(0x1f7, 'w', 9000, { rip: OTH }), pio(0xc010, 'w', 6000)]));
    expect(virtio.build({ pass: 'virtio', dev: 'disk' }, {} as BuildEnv, 'virtio:dev=disk')[0].apply(t, context(t, { map: MAP })).ledger.notes).toEqual(['disk: 1 requests become one notification each (9000 ns, the command write), 0 completions one ISR read each (unpriced: no timed exit of it)']);
  });
});

describe('pv-eoi and apicv on traces built in the test', () => {
  const MAP = 'c0100000 T ack_apic_edge\nc0101000 T ack_ioapic_quirk_irq\nc0102000 T native_apic_msr_eoi_write\nc0103000 T other_fn\nc0200000 T _etext\n';
  const EDGE = 0xc0100010, LEVEL = 0xc0101010, MSREOI = 0xc0102010, OTHER = 0xc0103010;
  const eois = () => chain([
    { reason: 'APIC_ACCESS', gpa: 0xfee000b0, dir: 'w', rip: EDGE, dur: 3000 }, // edge EOI (xAPIC)
    { reason: 'APIC_ACCESS', gpa: 0xfee000b0, dir: 'w', rip: LEVEL, dur: 3000 }, // level EOI (xAPIC)
    { reason: 'MSR_WRITE', msr: 0x80b, dir: 'w', rip: OTHER, caller: LEVEL, dur: 1500 }, // level EOI (x2APIC), by its caller
    { reason: 'MSR_WRITE', msr: 0x80b, dir: 'w', rip: OTHER }, // edge EOI (x2APIC)
    { reason: 'MSR_WRITE', rip: MSREOI }, // no MSR number, in an ..._eoi_ function: an EOI
    { reason: 'MSR_WRITE', rip: EDGE }, // no MSR number, in an ack function without eoi in its name: not one
    { reason: 'APIC_ACCESS', rip: EDGE }, // no address, in an ack function: an EOI
    { reason: 'APIC_ACCESS', gpa: 0xfee000c0, dir: 'w', rip: EDGE }, { reason: 'MSR_WRITE', msr: 0x80c, dir: 'w', rip: EDGE }, { reason: 'CPUID', rip: EDGE },
    { reason: 'EPT_MISCONFIG', gpa: 0xfee000b0, dir: 'w', rip: OTHER }, // an EOI by address
  ]);

  it('pv-eoi removes edge-triggered EOIs (by register, MSR or acking function) and keeps level-triggered ones', () => {
    const list = eois();
    const t = rows(list);
    const { trace, ledger } = new ApicPass('pv-eoi', 'pv-eoi').apply(t, context(t, { map: MAP }));
    expect(kept(trace).map((r) => r[0])).toEqual([1, 2, 5, 7, 8, 9].map((k) => list[k].ts));
    expect([ledger.removed, ledger.changed, ledger.notes]).toEqual([5, 0, []]);
    expect(ledger.assumptions).toEqual(['edge-triggered EOIs need no exit (the guest EOIs through shared memory); level-triggered ones still exit']);
    const none = rows(chain([{ reason: 'CPUID' }]));
    expect(new ApicPass('pv-eoi', 'pv-eoi').apply(none, context(none)).ledger.why).toBe('no EOI exits in this trace');
    expect(new ApicPass('apicv', 'apicv').apply(none, context(none)).ledger.why).toBe('no EOI or interrupt-window exits in this trace');
  });

  it('apicv turns level-triggered EOIs into EOI-induced exits: an x2APIC one costs the same, an xAPIC one half; no access columns', () => {
    const list = eois();
    const t = rows(list);
    const { trace, ledger } = new ApicPass('apicv', 'apicv').apply(t, context(t, { map: MAP }));
    expect(kept(trace)).toEqual([
      [list[1].ts, 'EOI_INDUCED', 1500], [list[2].ts, 'EOI_INDUCED', 1500], [list[5].ts, 'MSR_WRITE', 1000], [list[7].ts, 'APIC_ACCESS', 1000], [list[8].ts, 'MSR_WRITE', 1000], [list[9].ts, 'CPUID', 1000],
    ]);
    const c = trace.vcpus.get(0)!;
    expect([c.flags[0], c.gpaLo[0], c.dir[0], c.flags[1], c.msr[1], c.callerLo[1], c.dir[1]]).toEqual([0, 0, 0, 32, 0, LEVEL, 0]);
    expect([ledger.removed, ledger.changed]).toEqual([5, 2]);
    expect(ledger.notes).toEqual(['0 interrupt-window exits and 0 device-interrupt arrivals removed (posted interrupts); 2 level-triggered EOIs become EOI-induced exits']);
    expect(ledger.assumptions).toHaveLength(3);
    expect(ledger.assumptions[2]).toBe('interrupt-window exits disappear with posted interrupts');
  });

  it('apicv: interrupt windows go, and a device interrupt\'s arrival that its handler follows within 100 us', () => {
    const ext = (gap = 1000) => ({ reason: 'EXTERNAL_INTERRUPT', dur: 1000, gap, rip: OTHER });
    const list = chain([
      ext(), { reason: 'IO_INSTRUCTION', port: 0xc000, dir: 'w' }, // A: device port I/O follows: posted
      ext(), { reason: 'HLT' }, { reason: 'IO_INSTRUCTION', port: 0xc000, dir: 'w' }, // B: the vcpu halts first: stays
      ext(99_000), { reason: 'IO_INSTRUCTION', port: 0xc000, dir: 'w' }, // C: 100 us after the arrival: stays
      ext(), { reason: 'IO_INSTRUCTION', port: 0x20, dir: 'w' }, { reason: 'EPT_MISCONFIG', gpa: 0xfec00010, dir: 'w' }, { reason: 'HLT' }, // D: PIC and IOAPIC are not the device: stays
      ext(), { reason: 'MSR_WRITE', msr: 0x80b, dir: 'w', rip: OTHER }, // E: its EOI follows: posted (and the edge EOI goes)
      ext(), ext(), { reason: 'IO_INSTRUCTION', port: 0xc000, dir: 'w' }, // F: another arrival first: the first stays, the second is posted
      { reason: 'INTERRUPT_WINDOW' }, // G
      ext(), { reason: 'EPT_MISCONFIG', gpa: 0xfebc0000, dir: 'w' }, // H: device MMIO follows: posted
      ext(), { reason: 'CPUID', rip: OTHER },
    ]);
    const t = rows(list);
    const { trace, ledger } = new ApicPass('apicv', 'apicv').apply(t, context(t, { map: MAP }));
    expect(ledger.notes).toEqual(['1 interrupt-window exits and 4 device-interrupt arrivals removed (posted interrupts); 0 level-triggered EOIs become EOI-induced exits']);
    expect(ledger.removed).toBe(6);
    const gone = [0, 11, 12, 14, 16, 17].map((k) => list[k].ts);
    expect(kept(trace).map((r) => r[0])).toEqual(list.map((r) => r.ts).filter((ts) => !gone.includes(ts)));
  });

  it('the specs', () => {
    expect([apicv.parse([]), apicv.print({ pass: 'apicv' }), pvEoi.parse([]), pvEoi.print({ pass: 'pv-eoi' })]).toEqual([{ pass: 'apicv' }, 'apicv', { pass: 'pv-eoi' }, 'pv-eoi']);
    const [a] = apicv.build({ pass: 'apicv' }, {} as BuildEnv, 'apicv');
    const [p] = pvEoi.build({ pass: 'pv-eoi' }, {} as BuildEnv, 'pv-eoi');
    expect([a.name, a.spec, p.name, p.spec]).toEqual(['apicv', 'apicv', 'pv-eoi', 'pv-eoi']);
  });
});

describe('drop-io: the pass itself', () => {
  it('is called drop-io unless named (napi-off); an IntrStatus read that is the trace\'s first exit still goes with the unmask after it', () => {
    const mask: IoRange = { kind: 'port', lo: 0xc03cn, hi: 0xc03cn, rw: 'w', deviceSpan: 0x100n, deferral: 'zero-value', leadRead: 0xc03en };
    const t = rows(chain([{ reason: 'IO_INSTRUCTION', port: 0xc03e, dir: 'r' }, { reason: 'IO_INSTRUCTION', port: 0xc03c, dir: 'w', value: 1 }, { reason: 'CPUID' }]));
    const p = new DropIoPass('drop-io:x', [mask]);
    expect([p.name, new DropIoPass('napi-off', [mask], '', 'napi-off').name]).toEqual(['drop-io', 'napi-off']);
    const { trace, ledger } = p.apply(t, context(t));
    expect([ledger.pass, ledger.removed, kept(trace).map((r) => r[1])]).toEqual(['drop-io:x', 2, ['CPUID']]);
  });
});

describe('drop-io: edges of a trace and of the spec', () => {
  it('a chunk reused from a released trace may hold old rows past its end: they are not exits', () => {
    const t = rows(chain([{ reason: 'CPUID' }, { reason: 'CPUID' }, { reason: 'IO_INSTRUCTION', port: 0x1f0, dir: 'w' }]));
    const all = t.derive((_v, src, out) => out.copyRows(src, 0, src.length));
    all.release();
    // The next derive of the family writes two rows into the chunk that held three: its third row is the old port write.
    const two = t.derive((_v, src, out) => out.copyRows(src, 0, 2));
    expect(two.vcpus.get(0)!.port[2]).toBe(0x1f0);
    const { trace, ledger } = new DropIoPass('drop-io:port=0x1f0', [parseIoRange('port=0x1f0')!]).apply(two, context(two));
    expect([ledger.removed, trace.length]).toEqual([0, 2]);
  });

  it('a write that is a reused chunk\'s last row has no flush read after it, whatever old row follows', () => {
    const t = rows(chain([{ reason: 'CPUID' }, { reason: 'IO_INSTRUCTION', port: 0x1f0, dir: 'w' }, { reason: 'IO_INSTRUCTION', port: 0x1f1, dir: 'r' }]));
    t.derive((_v, src, out) => out.copyRows(src, 0, src.length)).release();
    const two = t.derive((_v, src, out) => out.copyRows(src, 0, 2));
    const { trace, ledger } = new DropIoPass('drop-io', [parseIoRange('port=0x1f0,rw=w,flush')!]).apply(two, context(two));
    expect([ledger.removed, ledger.notes, kept(trace).map((r) => r[1])]).toEqual([1, [], ['CPUID']]);
  });

  it('the text after drop-io: is the ranges even where the spec parser split it on ":"', () => {
    expect(dropIo.parse(['port=0x60', 'x;mmio=0x1'])).toEqual({ pass: 'drop-io', ranges: ['port=0x60:x', 'mmio=0x1'] });
  });
});

describe('drop-io: reads in a range without rw=', () => {
  it('a removed read is neither a masking write nor a write to flush: the status read before it and the read after it stay', () => {
    const lead: IoRange = { kind: 'port', lo: 0xc03cn, hi: 0xc03cn, flush: true, deviceSpan: 0x100n, leadRead: 0xc03en };
    const t = rows(chain([{ reason: 'CPUID' }, { reason: 'IO_INSTRUCTION', port: 0xc03e, dir: 'r' }, { reason: 'IO_INSTRUCTION', port: 0xc03c, dir: 'r', value: 1 }, { reason: 'IO_INSTRUCTION', port: 0xc037, dir: 'r' }]));
    const p = new DropIoPass('drop-io', [lead]);
    const { ledger } = p.apply(t, context(t));
    expect([ledger.removed, ledger.notes]).toEqual([1, []]);
  });

  it('"drop-io::" is a malformed range, not a missing one', () => {
    expect(() => parsePassSpec('drop-io::')).toThrow(/expected port=0xNNN\[-0xMMM\]\[,rw=r\|w\]\[,flush\] or mmio=0xADDR\[-0xEND\]/);
  });
});

describe('names, maps and reused chunks', () => {
  it('each pass goes by its own name', () => {
    expect([new PleWindowPass('x').name, new IpivPass('x', false).name, new IpivPass('x', true).name]).toEqual(['ple-window', 'ipiv', 'ipiv']);
  });

  it('napi-off looks for mask writes among the trace\'s rows only, not old rows past a reused chunk\'s end', () => {
    const t = rows(chain([{ reason: 'CPUID' }, { reason: 'CPUID' }, { reason: 'EPT_MISCONFIG', gpa: 0xfebc00d0, size: 4, dir: 'w' }]));
    t.derive((_v, src, out) => out.copyRows(src, 0, src.length)).release();
    const two = t.derive((_v, src, out) => out.copyRows(src, 0, 2));
    expect(two.vcpus.get(0)!.gpaLo[2]).toBe(0xfebc00d0);
    expect(findMaskChurn(two)).toEqual({ ranges: [], found: [] });
  });

  it('a function missing from several maps names every map', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'exitscope-maps-'));
    writeFileSync(join(dir, 'a.map'), 'c0100000 T foo\nc0200000 T _etext\n');
    writeFileSync(join(dir, 'b.map'), 'c0300000 T bar\nc0400000 T _etext2\n');
    const t = rows(chain([{ reason: 'CPUID', rip: 0xc0100010 }]));
    const ctx = new ReplayContext(t, await loadSymbolizer([join(dir, 'a.map'), join(dir, 'b.map')]), { transitionNs: 1000 });
    const l = new DropPass('drop:nope', ['nope'], false, false).apply(t, ctx).ledger;
    expect(l.why).toBe(`no function nope in the map (${join(dir, 'a.map')}, ${join(dir, 'b.map')})`);
  });
});

describe('drop and napi-off: wording with several functions, and names', () => {
  const MAP = 'c0100000 T foo\nc0101000 T bar\nc0102000 T baz\nc0200000 T _etext\n';
  it('the assumption and the nothing-to-change reason list every function; a ":" in the text stays in the symbol', () => {
    // Both exits called from foo.
    const t = rows(chain([{ reason: 'CPUID', rip: 0xc0100010, caller: 0xc0100020 }, { reason: 'CPUID', rip: 0xc0101010, caller: 0xc0100020 }]));
    const l = new DropPass('drop:foo,bar', ['foo', 'bar'], false).apply(t, context(t, { map: MAP })).ledger;
    expect([l.removed, l.assumptions]).toEqual([2, ['the exits in foo, bar disappear with the code; guest time between two of them goes too']]);
    expect(new DropPass('drop-caller:baz,bar', ['baz', 'bar'], true).apply(t, context(t, { map: MAP })).ledger.why).toBe('no exit called from baz, bar');
    expect([drop.parse(['foo', 'bar,baz']), dropCaller.parse(['foo', 'bar'])]).toEqual([{ pass: 'drop', symbols: ['foo:bar', 'baz'] }, { pass: 'drop-caller', symbols: ['foo:bar'] }]);
  });

  it('napi-off without churn is still napi-off', () => {
    const none = rows(chain([{ reason: 'CPUID' }]));
    const [v] = napiOff.build({ pass: 'napi-off' }, { trace: none } as BuildEnv, 'napi-off');
    expect([v.name, v.spec]).toEqual(['napi-off', 'napi-off']);
  });
});

describe('coalesce-io: the per-address table', () => {
  it('counts every trap address, past the first 1,024; the pass is called coalesce-io', () => {
    // 1,100 addresses (no map: each its own group), each with two writes 100 ns apart: one batch each.
    const items = Array.from({ length: 1100 }, (_, k) => [
      { reason: 'IO_INSTRUCTION', port: 0x1f0, dir: 'w' as const, rip: 0xc0100000 + 16 * k, gap: 100 },
      { reason: 'IO_INSTRUCTION', port: 0x1f1, dir: 'w' as const, rip: 0xc0100000 + 16 * k, gap: 10_000 },
    ]).flat();
    const t = rows(chain(items));
    const p = new CoalesceIoPass('coalesce-io', { scope: 'address' });
    expect(p.name).toBe('coalesce-io');
    const { ledger } = p.apply(t, context(t));
    expect([ledger.removed, ledger.added, ledger.perAddress!.length]).toEqual([2200, 1100, 1100]);
    expect(ledger.perAddress!.every((a) => a.before === 2 && a.after === 0)).toBe(true);
    expect(ledger.perAddress![1099].address).toBe(`0x${(0xc0100000 + 16 * 1099).toString(16)}`);
  });
});
