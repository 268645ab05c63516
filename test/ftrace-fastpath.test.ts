/**
 * The text parser's shortcuts must read every line as its general code does:
 * - a line that starts with a remembered context (the bytes before the
 *   timestamp of a recent event line) is checked from the timestamp on, instead
 *   of searching for `kvm_` and parsing the context again;
 * - kvm_exit / kvm_pio / kvm_mmio payloads in their usual layout are read by
 *   straight-line code, anything else by the token loops.
 * Each case here is parsed both ways and the records and rejections compared.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { TextLineParser, ftraceContextSearches } from '../src/formats/ftrace.js';
import { detailFields } from '../src/formats/exit-assembler.js';
import type { EventSink } from '../src/formats/events.js';
import { TimeBase } from '../src/model/time.js';
import { REASONS } from '../src/model/reasons.js';
import { kvmPayloadTokenLoops } from '../src/formats/kvm-payloads.js';
import { fx } from './helpers.js';

/** What the sink and the accounting saw for the last of `lines` (all parsed by one fresh parser). */
function lastLine(lines: string[]): string {
  const log: string[] = [];
  const d = detailFields;
  const sink: EventSink = {
    exit: (ts, cpu, pid, vcpu, reason, hi, lo, flags) => { log.push(`exit ${ts} ${cpu} ${pid} ${vcpu} ${REASONS.get(reason).name} ${hi} ${lo} ${flags}`); },
    entry: (ts, cpu, pid, vcpu) => { log.push(`entry ${ts} ${cpu} ${pid} ${vcpu}`); },
    detail: (k, cpu, pid) => { log.push(`detail ${k} ${cpu} ${pid} ${d.flags} ${d.dir} ${d.port} ${d.size} ${d.valHi} ${d.valLo} ${d.gpaHi} ${d.gpaLo} ${d.msr}`); return true; },
    userspace: (cpu, pid) => { log.push(`userspace ${cpu} ${pid}`); return true; },
    lost: (cpu, n) => { log.push(`lost ${cpu} ${n}`); },
    bufferStarted: (cpu) => { log.push(`buffer ${cpu}`); },
    setTgid: (pid, tgid) => { log.push(`tgid ${pid} ${tgid}`); },
  };
  const stats = { events: 0, skipped: 0 };
  const p = new TextLineParser(sink, new TimeBase(), { stats, reject: (l, r) => log.push(`reject ${l} ${r}`), counters: { guestEvents: 0 } });
  let before = 0;
  lines.forEach((l, k) => {
    const b = Buffer.from(l + '\n', 'latin1');
    before = log.length;
    p.handleLine(b, 0, b.length - 1, k + 1);
  });
  return `${log.slice(before).join(' | ')} events=${stats.events} skipped=${stats.skipped} flavour=${p.flavour}`;
}

/**
 * Two event lines with contexts of 4 and 5 bytes: afterwards the parser looks
 * for remembered contexts of those lengths only, so the lines under test (whose
 * contexts are longer) take the general path.
 */
const EVICT = ['x-9 1.000001: kvm_entry: vcpu 1', 'x-91 1.000002: kvm_entry: vcpu 2'];
/** The first event line: the time base. */
const FIRST = ' first-999 [099] d.... 1.000000: kvm_entry: vcpu 9';

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

const KEYWORDS = ['vcpu', 'reason', 'rip', 'at', 'size', 'count', 'val', 'len', 'gpa', 'pio_read', 'pio_write', 'mmio', 'read', 'write',
  'unsatisfied-read', 'UNKNOWN', '(74)', 'excp', 'FAILED_VMENTRY', 'kvm_exit:', 'kvm:', '0x', '0X1f', '0xffffffffffffffff1', '99999999999', '', '\t', ':', '.', 'zz'];

/** A variant of `s`: a token dropped, doubled, swapped, replaced or inserted, a blank doubled or dropped, a byte changed, or the line cut. */
function mutate(s: string, r: (n: number) => number): string {
  const t = s.split(' ');
  const k = r(t.length);
  switch (r(9)) {
    case 0: t.splice(k, 1); break;
    case 1: t.splice(k, 0, t[k]); break;
    case 2: if (k + 1 < t.length) [t[k], t[k + 1]] = [t[k + 1], t[k]]; break;
    case 3: t.splice(k + 1, 0, KEYWORDS[r(KEYWORDS.length)]); break;
    case 4: t[k] = KEYWORDS[r(KEYWORDS.length)]; break;
    case 5: t.splice(k, 0, ''); break;
    case 6: return s.slice(0, r(s.length + 1));
    case 7: { const p = r(s.length); return s.slice(0, p) + ' \t:.0x9k_'[r(9)] + s.slice(p + 1); }
    default: t.push(KEYWORDS[r(KEYWORDS.length)]);
  }
  return t.join(' ');
}

/** Event lines of the fixtures and of a trace-cmd report like bench's. */
function sampleLines(): string[] {
  const out: string[] = [];
  for (const f of ['trace-cmd-6x.txt', 'latency-4vcpu.txt', 'perf-script.txt', 'two-vms-tgid.txt', 'svm-5x-ns.txt', 'traceevent-vmx.txt', 'ftrace-2.6-old.txt']) {
    for (const l of readFileSync(fx('ftrace', f), 'latin1').split('\n')) if (/kvm_/.test(l)) out.push(l.replace(/\r$/, ''));
  }
  const ctx = '      CPU 0/KVM-4242 [001] d.... ';
  out.push(
    ctx + '1000.000006739: kvm_exit: vcpu 0 reason IO_INSTRUCTION rip 0xc040a196 info1 0x0000000000000000 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000 requests 0x0000000000000000',
    ctx + '1000.000006739: kvm_pio: pio_write at 0x40 size 1 count 1 val 0xa9 ',
    ctx + '1000.000006739: kvm_pio: pio_read at 0xc13e size 2 count 1 val 0x5 ',
    ctx + '1000.000011992: kvm_entry: vcpu 0, rip 0xc040a196 intr_info 0x00000000 error_code 0x00000000',
    ctx + '1000.000188658: kvm_mmio: mmio write len 4 gpa 0xfee000b0 val 0x0',
    ctx + '1000.000188658: kvm_mmio: mmio unsatisfied-read len 8 gpa 0xfebf1000 val 0xffffffffffffffff',
    ctx + '1000.000188658: kvm_exit: vcpu 1 reason EPT_VIOLATION rip 0xffffffff81000000 info1 0x0000000000000181',
    ctx + '1000.000188658: kvm_exit: reason io_instruction rip 0xc01e4473',
    '  [001]   770.850307:                       kvm:kvm_exit: vcpu 0 reason HLT rip 0x1',
    // composed: multi-digit decimals with 0s and 9s, hex with every digit, upper case, 9 digits and none, 0x0
    ctx + '1000.000200000: kvm_pio: pio_write at 0x3f8 size 10 count 19 val 0x9 ',
    ctx + '1000.000200001: kvm_pio: pio_read at 0x0 size 1 count 1 val 0x0 ',
    ctx + '1000.000200002: kvm_pio: pio_read at 0xABCD size 4 count 1 val 0x1234567 ',
    ctx + '1000.000200003: kvm_mmio: mmio write len 16 gpa 0xfebf10a0 val 0x90',
    ctx + '1000.000200004: kvm_mmio: mmio read len 8 gpa 0x1fee000b0 val 0x123456789',
    ctx + '1000.000200005: kvm_mmio: mmio write len 4 gpa 0xFEE000B0 val 0xAbCdEf09',
    ctx + '1000.000200006: kvm_mmio: mmio write len 4 gpa 0x val 0x1',
    ctx + '1000.000200007: kvm_exit: vcpu 10 reason EPT_MISCONFIG rip 0x9ABCDEF0 info1 0x0 info2 0x0',
    // composed: keywords glued to what follows them, a vcpu that is no number, a rip that is no hex
    ctx + '1000.000200008: kvm_exit: vcpux 0 reason HLT rip 0x1',
    ctx + '1000.000200009: kvm_exit: vcpu x reason HLT rip 0x1',
    ctx + '1000.000200010: kvm_exit: vcpu 3 reasonx HLT rip 0x1',
    ctx + '1000.000200011: kvm_exit: vcpu 3 reason HLT ripx 0x1',
    ctx + '1000.000200012: kvm_exit: vcpu 3 reason HLT rip zz',
    ctx + '1000.000200013: kvm_exit: vcpu 39 reason HLT rip 0x2',
    // composed: kvm_mmio directions that are no direction, and payloads that stop or go wrong part way
    ctx + '1000.000200014: kvm_mmio: mmio wrote len 4 gpa 0x10 val 0x1',
    ctx + '1000.000200022: kvm_mmio: mmio writs len 4 gpa 0x10 val 0x1',
    ctx + '1000.000200023: kvm_mmio: mmio reads len 4 gpa 0x10 val 0x1',
    ctx + '1000.000200015: kvm_mmio: mmio reed len 4 gpa 0x10 val 0x1',
    ctx + '1000.000200016: kvm_mmio: mmio rea len 4 gpa 0x10 val 0x1',
    ctx + '1000.000200017: kvm_mmio: mmio read',
    ctx + '1000.000200018: kvm_mmio: mmio read len x gpa 0x10 val 0x1',
    ctx + '1000.000200019: kvm_mmio: mmio read len 4 gpb 0x10 val 0x1',
    ctx + '1000.000200020: kvm_mmio: mmio read len 4 gpa 0x10 val 0x1 extra',
    ctx + '1000.000200021: kvm_mmio: mmio read len 4 gpa 0x10 val zz',
  );
  return out;
}

describe('text parser shortcuts read lines as the general code does', () => {
  it('a line after a remembered context (hit) and after other contexts (miss) give the same records', () => {
    const r = rng(11);
    const lines = sampleLines();
    let n = 0;
    for (const base of lines) {
      // The context: what precedes the timestamp `digits.digits:`.
      const m = /^(.*?)(\d*\.\d+:.*)$/.exec(base);
      if (!m) continue;
      const [, ctx, rest] = m;
      for (let v = 0; v < 12; v++) {
        const tail = v === 0 ? rest : mutate(rest, r);
        const line = ctx + tail;
        const hit = lastLine([FIRST, ...EVICT, base, line]);
        const miss = lastLine([FIRST, base, ...EVICT, line]);
        expect(hit, JSON.stringify(line)).toBe(miss);
        n++;
      }
    }
    expect(n).toBeGreaterThan(300);
  });

  it('kvm_exit / kvm_pio / kvm_mmio payloads: the straight-line readers give what the token loops give', () => {
    const r = rng(7);
    const payloads = sampleLines().filter((l) => /kvm_(exit|pio|mmio): /.test(l));
    let n = 0;
    for (const base of payloads) {
      for (let v = 0; v < 25; v++) {
        const line = v === 0 ? base : mutate(base, r);
        const at = line.search(/kvm_(exit|pio|mmio): /);
        if (at < 0) continue;
        const colon = line.indexOf(': ', at) + 1;
        // An unknown first token sends the payload to the token loop, which skips it.
        const general = line.slice(0, colon) + ' zz' + line.slice(colon);
        // (a line that is no event line is quoted in its rejection)
        const quoted = /'.*'/;
        expect(lastLine([FIRST, line]).replace(quoted, ''), JSON.stringify(line)).toBe(lastLine([FIRST, general]).replace(quoted, ''));
        n++;
      }
    }
    expect(n).toBeGreaterThan(300);
  });

  it('trailing tokens after a usual payload still count', () => {
    const ctx = '      CPU 0/KVM-4242 [001] d.... 1000.000006739: ';
    // kvm_pio: a later `at` moves the port; kvm_mmio: a later `gpa` moves the address.
    expect(lastLine([ctx + 'kvm_exit: vcpu 0 reason IO_INSTRUCTION rip 0x1', ctx + 'kvm_pio: pio_write at 0x40 size 1 count 1 val 0xa9 at 0x50'])).toContain(`detail 2 1 4242 ${1 | 2 | 4} 2 80 1 0 169`);
    expect(lastLine([ctx + 'kvm_pio: pio_write at 0x40 size 1 count 1 val 0xa9 at'])).toContain('reject 1 kvm_pio: bad port');
    expect(lastLine([ctx + 'kvm_mmio: mmio write len 4 gpa 0xfee000b0 val 0x0 gpa 0x10'])).toMatch(/detail 3 1 4242 \d+ 2 0 4 0 0 0 16 0/);
    expect(lastLine([ctx + 'kvm_exit: vcpu 0 reason PF excp rip 0x10 info1 0x0'])).toContain('exit 0 1 4242 0 PF excp');
  });
});

describe('the usual payload layouts take the straight-line readers', () => {
  it('kvm_exit with and without info fields, VMX and SVM names, kvm_pio both ways, kvm_mmio write / read / unsatisfied-read: no token loop', () => {
    const ctx = '      CPU 0/KVM-4242 [001] d.... ';
    const usual = [
      '1000.000006739: kvm_exit: vcpu 0 reason IO_INSTRUCTION rip 0xc040a196 info1 0x0000000000000000 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000 requests 0x0000000000000000',
      '1000.000006740: kvm_exit: vcpu 1 reason EPT_VIOLATION rip 0xffffffff81000000 info1 0x0000000000000181',
      '1000.000006741: kvm_exit: vcpu 2 reason HLT rip 0xffffffff81000010 info 0 0',
      '1000.000006742: kvm_exit: vcpu 3 reason npf rip 0xffffffff81000020 info 100000004 fee000b0',
      '1000.000006743: kvm_pio: pio_write at 0x40 size 1 count 1 val 0xa9 ',
      '1000.000006744: kvm_pio: pio_read at 0xc13e size 2 count 1 val 0x5 ',
      '1000.000006745: kvm_mmio: mmio write len 4 gpa 0xfee000b0 val 0x0',
      '1000.000006746: kvm_mmio: mmio read len 4 gpa 0xfebf1000 val 0x12',
      '1000.000006747: kvm_mmio: mmio unsatisfied-read len 8 gpa 0xfebf1000 val 0xffffffffffffffff',
      // composed: decimals with the digits 0 and 9
      '1000.000006748: kvm_pio: pio_write at 0x40 size 10 count 9 val 0xa9 ',
      '1000.000006749: kvm_mmio: mmio write len 90 gpa 0xfee000b0 val 0x0',
      '1000.000006750: kvm_exit: vcpu 39 reason HLT rip 0xffffffff81000010 info 0 0',
    ];
    for (const l of usual) {
      const before = kvmPayloadTokenLoops.count;
      const out = lastLine([FIRST, ctx + l]);
      expect([l, kvmPayloadTokenLoops.count - before]).toEqual([l, 0]);
      // And the line was read, not rejected.
      expect(out).not.toContain('reject');
    }
    // Tabs between a payload's words (hand-joined or awk-rewritten text) are blanks as spaces are: still the
    // straight-line reader, the same records, for every blank of every usual layout.
    for (const l of usual) {
      const at = l.indexOf(': ', l.indexOf('kvm_')) + 2; // the payload, after `kvm_<name>: `
      const [head, payload] = [l.slice(0, at), l.slice(at)];
      // one tab for each blank, a blank then a tab (runs of blanks, as padded columns have), a tab before the payload
      for (const tabbed of [head + payload.replace(/ /g, '\t'), head + payload.replace(/ /g, ' \t'), head + '\t' + payload]) {
        const before = kvmPayloadTokenLoops.count;
        const out = lastLine([FIRST, ctx + tabbed]);
        expect([tabbed, kvmPayloadTokenLoops.count - before]).toEqual([tabbed, 0]);
        expect(out, tabbed).toBe(lastLine([FIRST, ctx + l]));
      }
    }
    // A keyword glued to the next character is not the usual layout: the token loop decides (once per line).
    for (const l of [
      '1000.000006750: kvm_pio: pio_writeX at 0x40 size 1 count 1 val 0xa9 ',
      '1000.000006751: kvm_pio: pio_readX at 0x40 size 1 count 1 val 0xa9 ',
      '1000.000006752: kvm_pio: pio_write atX 0x40 size 1 count 1 val 0xa9 ',
      '1000.000006753: kvm_pio: pio_write at 0x40 sizeX 1 count 1 val 0xa9 ',
      '1000.000006754: kvm_pio: pio_write at 0x40 size 1 countX 1 val 0xa9 ',
      '1000.000006755: kvm_mmio: mmioX write len 4 gpa 0xfee000b0 val 0x0',
    ]) {
      const before = kvmPayloadTokenLoops.count;
      lastLine([FIRST, ctx + l]);
      expect([l, kvmPayloadTokenLoops.count - before]).toEqual([l, 1]);
    }
    // The 2.6-era exit without `vcpu N` is usual too.
    const before = kvmPayloadTokenLoops.count;
    lastLine([FIRST, ctx + '1000.000188658: kvm_exit: reason io_instruction rip 0xc01e4473']);
    expect(kvmPayloadTokenLoops.count - before).toBe(0);
    // A payload with a word the straight-line reader does not expect first goes to the token loop, once.
    lastLine([FIRST, ctx + '1000.000188659: kvm_exit: zz vcpu 0 reason HLT rip 0x1']);
    expect(kvmPayloadTokenLoops.count - before).toBe(1);
  });
});

describe('lines of a thread seen just before start from its remembered context', () => {
  it('trace-cmd, latency-flag and perf-script contexts: after a thread\'s first line, no search for the event', () => {
    const layouts = [
      ['      CPU 0/KVM-4242 [001] d.... ', '1000.000006739: kvm_exit: vcpu 0 reason HLT rip 0x10 info 0 0', '1000.000006800: kvm_entry: vcpu 0, rip 0x10'],
      ['  qemu-kvm-77    [000] d..1   ', '100.000001: kvm_exit: vcpu 0 reason IO_INSTRUCTION rip 0x20', '100.000002: kvm_entry: vcpu 0'],
      ['qemu-system-x86 12345 [003] ', '5000.000000100: kvm:kvm_exit: vcpu 1 reason HLT rip 0x30', '5000.000000200: kvm:kvm_entry: vcpu 1'],
    ];
    const searches = (lines: string[]): number => { const c = ftraceContextSearches.count; const out = lastLine(lines); expect(out).not.toContain('reject'); return ftraceContextSearches.count - c; };
    for (const [ctx, a, b] of layouts) {
      // Each parser starts with no context: one search for its first line, then none for the thread's lines; FIRST (another
      // thread's context) needs its own.
      expect([ctx, searches([ctx + a]), searches([ctx + a, ctx + b, ctx + a, ctx + b]), searches([FIRST, ctx + a, ctx + b, FIRST, ctx + a])]).toEqual([ctx, 1, 1, 2]);
    }
  });
});
