/**
 * The line context of text traces (src/formats/ftrace.ts parseContext), tested field by field
 * (issue 16): what comes before the timestamp gives the host CPU, the thread's pid and, with
 * trace-cmd's record-tgid option, its thread group. Layouts: trace-cmd report's `comm-pid [cpu]
 * flags`, the same without flags (2.6-era ftrace), with 4-6 irq-info flag characters, the
 * latency layout (`-l`: the CPU number glued to 3-6 flag characters), `(tgid)` or `(-----)`
 * before the CPU, perf script's `comm pid [cpu]` and its bare `[cpu]`. The contexts marked
 * "from a fixture" are copied from fixtures/ftrace (see its README for where those come from);
 * the others are composed to sit on a rule's edge. Each line is the first a fresh parser sees,
 * so the context is parsed, not taken from a remembered one.
 */
import { describe, expect, it } from 'vitest';
import type { EventSink } from '../src/formats/events.js';
import { findKvm, TextLineParser } from '../src/formats/ftrace.js';
import { TimeBase } from '../src/model/time.js';

/** cpu, pid and tgid (null: none given) of one `<context>1000.000001: kvm_entry: vcpu 3` line. */
function fields(context: string): { cpu: number; pid: number; tgid: number | null; rejected: boolean } {
  let got = { cpu: NaN, pid: NaN, tgid: null as number | null, rejected: false };
  const sink: EventSink = {
    exit: () => {}, detail: () => {}, userspace: () => {}, lost: () => {}, bufferStarted: () => {},
    entry: (_ts, cpu, pid) => { got = { ...got, cpu, pid }; },
    setTgid: (_pid, tgid) => { got.tgid = tgid; },
  };
  const p = new TextLineParser(sink, new TimeBase(), { stats: { events: 0, skipped: 0 }, reject: () => { got.rejected = true; }, counters: { guestEvents: 0 } });
  const b = Buffer.from(`${context}1000.000001: kvm_entry: vcpu 3\n`, 'latin1');
  p.handleLine(b, 0, b.length - 1, 1);
  return got;
}

describe('contexts before the timestamp', () => {
  const cases: Array<[string, string, number, number, number | null]> = [
    ['trace-cmd 3.x, 5 flags (from a fixture)', '       CPU 0/KVM-7289    [001] d....  ', 1, 7289, null],
    ['4 flags (from a fixture)', '       challenge-24797 [003] .... ', 3, 24797, null],
    ['no flags, 2.6-era (from a fixture)', '             kvm-5664  [000] ', 0, 5664, null],
    ['6 flags (composed: the longest irq-info field read)', '   qemu-kvm-77    [002] dNhs1. ', 2, 77, null],
    ['three-digit CPU, comm with a space and a slash', '      CPU 10/KVM-123 [127] d.... ', 127, 123, null],
    ['tabs between the fields (composed)', '\tkvm-5664\t[004]\t', 4, 5664, null],
    ['latency layout, CPU glued to 5 flags (from a fixture)', 'CPU 0/KV-7289    3d..1.  ', 3, 7289, null],
    ['latency layout, two-digit CPU and 4 flags (composed)', 'CPU 0/KV-7289   13d..1  ', 13, 7289, null],
    ['latency layout, 3 flags (composed: the shortest read)', 'CPU 0/KV-7289    3d..  ', 3, 7289, null],
    ['latency layout, 6 flags (composed: the longest read)', 'CPU 0/KV-7289    7d.h31.  ', 7, 7289, null],
    ['record-tgid (from a fixture)', '       CPU 0/KVM-7289    (   7280) [001] d....  ', 1, 7289, 7280],
    ['record-tgid unknown (composed)', '       CPU 0/KVM-7289    (-------) [001] d....  ', 1, 7289, null],
    ['perf script, comm pid [cpu] (from a fixture)', ' qemu-system-x86 18971 [015]   ', 15, 18971, null],
    ['perf script without comm or pid (from a fixture)', '    [001]   ', 1, -1, null],
  ];
  for (const [what, ctx, cpu, pid, tgid] of cases) {
    it(`${what}: cpu ${cpu}, pid ${pid}${tgid === null ? '' : `, tgid ${tgid}`}`, () => {
      expect(fields(ctx)).toEqual({ cpu, pid, tgid, rejected: false });
    });
  }

  it('a flags token outside the read lengths is not taken for flags: no CPU behind it, no pid in it', () => {
    // 3 plain flags after [cpu] (4-6 are read) and 7 after a glued CPU (3-6 are read): composed.
    expect(fields('   qemu-kvm-77    [002] d.. ')).toEqual({ cpu: -1, pid: -1, tgid: null, rejected: false });
    expect(fields('CPU 0/KV-7289    3d..1.xy  ')).toEqual({ cpu: -1, pid: -1, tgid: null, rejected: false });
    // Seven plain flag characters: not flags either.
    expect(fields('   qemu-kvm-77    [002] dNhs1.. ')).toEqual({ cpu: -1, pid: -1, tgid: null, rejected: false });
  });

  it('a pid is trailing digits after `-` or a blank only; `[]` with no digits is no CPU', () => {
    expect(fields('   qemu_kvm77 [002] d.... ')).toEqual({ cpu: 2, pid: -1, tgid: null, rejected: false });
    expect(fields('   77 [002] d.... ')).toEqual({ cpu: 2, pid: 77, tgid: null, rejected: false });
    expect(fields('   qemu-kvm-77 [] ')).toEqual({ cpu: -1, pid: -1, tgid: null, rejected: false });
    expect(fields('   qemu-kvm-77 ')).toEqual({ cpu: -1, pid: 77, tgid: null, rejected: false });
  });

  it('a context whose first field starts the line (no blanks before it): each field still read', () => {
    expect(fields('[001] ')).toEqual({ cpu: 1, pid: -1, tgid: null, rejected: false });
    expect(fields('[001] d.... ')).toEqual({ cpu: 1, pid: -1, tgid: null, rejected: false });
    expect(fields('(7280) [001] d.... ')).toEqual({ cpu: 1, pid: -1, tgid: 7280, rejected: false });
    expect(fields('3d..1. ')).toEqual({ cpu: 3, pid: -1, tgid: null, rejected: false });
    expect(fields('77 [002] ')).toEqual({ cpu: 2, pid: 77, tgid: null, rejected: false });
    expect(fields('77 3d..1. ')).toEqual({ cpu: 3, pid: 77, tgid: null, rejected: false });
  });
});

describe('timestamps', () => {
  /** Whether `<context><ts>: kvm_entry: vcpu 3` gives an entry, and its time offset from a first line at 1000.000000. */
  function entryAt(ts: string, first = '1000.000000'): { events: number; skipped: number; rejected: number; at: number | null } {
    let at: number | null = null;
    const sink: EventSink = { exit: () => {}, detail: () => {}, userspace: () => {}, lost: () => {}, bufferStarted: () => {}, setTgid: () => {}, entry: (t) => { at = t; } };
    const stats = { events: 0, skipped: 0 };
    let rejected = 0;
    const time = new TimeBase();
    const p = new TextLineParser(sink, time, { stats, reject: () => { rejected++; }, counters: { guestEvents: 0 } });
    for (const [k, l] of [`  kvm-1 [000] ${first}: kvm_entry: vcpu 0`, `  kvm-1 [000] ${ts}: kvm_entry: vcpu 3`].entries()) {
      const b = Buffer.from(`${l}\n`, 'latin1');
      at = null;
      p.handleLine(b, 0, b.length - 1, k + 1);
    }
    return { events: stats.events, skipped: stats.skipped, rejected, at };
  }

  it('sec.frac with 1 to 9 fraction digits is read exactly (ns), also past 9,000,000 s', () => {
    expect(entryAt('1000.5').at).toBe(500_000_000);
    expect(entryAt('1000.000000001').at).toBe(1);
    expect(entryAt('1001.25').at).toBe(1_250_000_000);
    // Past 9,000,000 s (uptime-style clocks of long-running hosts, x86-tsc counters): still to the ns.
    expect(entryAt('9000000.000000003', '9000000.000000001').at).toBe(2);
    expect(entryAt('123456789.000000007', '123456789.000000001').at).toBe(6);
  });

  it('a timestamp with two dots, no dot, no fraction digits, only a dot, or 10 fraction digits is no event', () => {
    for (const ts of ['1000.2.3', '1000', '1000.', '.', '1000.0000000001']) {
      const r = entryAt(ts);
      expect(r.at, ts).toBeNull();
      // The line is accounted for: the first line is the one event; this one skipped or rejected.
      expect(r.skipped + r.rejected, ts).toBe(1);
    }
  });
});

describe('finding the event name', () => {
  it('findKvm finds the first `kvm_` starting in [from, e), as indexOf does, over lines made of its own letters', () => {
    let seed = 3;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const alphabet = ['k', 'v', 'm', '_', 'x', ' ', 'kvm', 'kv', 'vm_', 'kvm_'];
    for (let t = 0; t < 4000; t++) {
      const text = Array.from({ length: 1 + rnd(12) }, () => alphabet[rnd(alphabet.length)]).join('');
      const b = Buffer.from(text, 'latin1');
      const from = rnd(b.length + 1), e = from + rnd(b.length - from + 1);
      const at = b.indexOf('kvm_', from, 'latin1');
      expect(findKvm(b, from, e), JSON.stringify([text, from, e])).toBe(at >= 0 && at < e ? at : -1);
    }
  });

  /** How the first line of a fresh parser is taken: an entry, or skipped / rejected. */
  function taken(line: string): string {
    let got = 'none';
    const sink: EventSink = { exit: () => { got = 'exit'; }, detail: () => {}, userspace: () => {}, lost: () => {}, bufferStarted: () => {}, setTgid: () => {}, entry: (_t, cpu, pid) => { got = `entry cpu ${cpu} pid ${pid}`; } };
    const stats = { events: 0, skipped: 0 };
    let rejected = 0;
    const p = new TextLineParser(sink, new TimeBase(), { stats, reject: () => { rejected++; }, counters: { guestEvents: 0 } });
    const b = Buffer.from(`${line}\n`, 'latin1');
    p.handleLine(b, 0, b.length - 1, 1);
    expect(stats.skipped + rejected + (got === 'none' ? 0 : 1), line).toBe(1);
    return got;
  }

  it('the event is `kvm_<name>:` then a blank or the end, after the timestamp and a blank; perf script\'s `kvm:` prefix too', () => {
    expect(taken('  kvm-1 [002] 1.000001: kvm_entry: vcpu 0')).toBe('entry cpu 2 pid 1');
    expect(taken('  kvm-1 [002] 1.000001: kvm:kvm_entry: vcpu 0')).toBe('entry cpu 2 pid 1');
    expect(taken('  kvm-1 [002] 1.000001:\tkvm_entry: vcpu 0')).toBe('entry cpu 2 pid 1');
    expect(taken('  kvm-1 [002] 1.000001: kvm_entry:')).toBe('entry cpu 2 pid 1');
    // a comm that says kvm_ before the real event
    expect(taken('  kvm_entry:-1 [002] 1.000001: kvm_entry: vcpu 0')).toBe('entry cpu 2 pid 1');
    expect(taken('  xkvm_entry: 5 [002] 1.000001: kvm_entry: vcpu 0')).toBe('entry cpu 2 pid 5');
    for (const bad of [
      '  kvm-1 [002] 1.000001: kvm_entry vcpu 0', // no colon after the name
      '  kvm-1 [002] 1.000001: kvm_entry:vcpu 0', // no blank after it
      '  kvm-1 [002] 1.000001: xkvm_entry: vcpu 0', // glued to another word
      '  kvm-1 [002] 1.000001: kvm:xkvm_entry: vcpu 0',
      '  kvm-1 [002] 1.000001 kvm_entry: vcpu 0', // no colon after the timestamp
      '  kvm-1 [002] kvm_entry: vcpu 0', // no timestamp
      'kvm_entry: vcpu 0', // nothing before it
      '  kvm-1 [002] 1.000001: kvm_Entry: vcpu 0', // not a lower-case name
    ]) expect(taken(bad), bad).toBe('none');
  });
});

describe('remembered contexts keep fields that do not fit 32 bits out', () => {
  it('an 11-digit pid, a 10-digit CPU and tgid: every line of the thread reads them exactly', () => {
    const seen: string[] = [];
    const sink: EventSink = { exit: () => {}, detail: () => {}, userspace: () => {}, lost: () => {}, bufferStarted: () => {}, setTgid: (pid, tgid) => { seen.push(`tgid ${pid} ${tgid}`); }, entry: (_t, cpu, pid) => { seen.push(`entry ${cpu} ${pid}`); } };
    const p = new TextLineParser(sink, new TimeBase(), { stats: { events: 0, skipped: 0 }, reject: () => {}, counters: { guestEvents: 0 } });
    const lines = ['  comm-12345678901 [003] d.... 1.000001: kvm_entry: vcpu 0', '  comm-12345678901 [003] d.... 1.000002: kvm_entry: vcpu 0',
      '  comm-7 [4294967299] d.... 1.000003: kvm_entry: vcpu 0', '  comm-7 [4294967299] d.... 1.000004: kvm_entry: vcpu 0',
      '  comm-8 ( 4294967301) [001] d.... 1.000005: kvm_entry: vcpu 0', '  comm-8 ( 4294967301) [001] d.... 1.000006: kvm_entry: vcpu 0'];
    lines.forEach((l, k) => { const b = Buffer.from(`${l}\n`, 'latin1'); p.handleLine(b, 0, b.length - 1, k + 1); });
    expect(seen).toEqual(['entry 3 12345678901', 'entry 3 12345678901', 'entry 4294967299 7', 'entry 4294967299 7', 'tgid 8 4294967301', 'entry 1 8', 'tgid 8 4294967301', 'entry 1 8']);
  });
});
