/**
 * The byte writer under the CSV and trace-cmd text writers (src/formats/byte-writer.ts), and
 * the trace-cmd writer's timestamps and odd values, which must read exactly as the string
 * formatting they replaced: decimal as String(n), hex as `0x` + toString(16), nanoseconds
 * padded to nine digits, a rounding that reaches the next second printed as it always was;
 * JSON Lines field by field as the string rendering it replaced.
 */
import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../src/formats/byte-writer.js';
import { writeTraceCmd } from '../src/formats/trace-cmd-writer.js';
import { ExitChunk, F_PORT, F_VALUE, F_SIZE, F_GPA, F_MSR, F_CALLER, DIR_WRITE, type OptionalColumn } from '../src/model/chunk.js';
import { writeJsonl } from '../src/formats/jsonl.js';
import { ALL_COLUMNS, C_DUR, C_SIZE, C_TS, C_VCPU, C_VM, canonicalFields, columnSlots } from '../src/formats/canonical.js';
import { REASONS } from '../src/model/reasons.js';

class Probe extends ByteWriter {
  out(f: (w: this) => void): string {
    this.ensure(256);
    f(this);
    return this.take().toString('utf8');
  }
}

describe('ByteWriter', () => {
  const w = new Probe();
  it('writes decimal as String() does, below and above 2^31 and up to 2^53 - 1', () => {
    for (const n of [0, 7, 10, 99, 100, 2147483647, 2147483648, 4294967296, 1_000_000_000_000, 1_999_999_999_999, 9_007_199_254_740_991, 1e15 + 7]) {
      expect(w.out((x) => x.dec(n))).toBe(String(n));
    }
  });
  it('pads small decimals to a width and never cuts a longer one', () => {
    expect(w.out((x) => x.decSmall(42, 9))).toBe('000000042');
    expect(w.out((x) => x.decSmall(0, 9))).toBe('000000000');
    expect(w.out((x) => x.decSmall(123456789, 9))).toBe('123456789');
    expect(w.out((x) => x.decSmall(1_000_000_000, 9))).toBe('1000000000');
    expect(w.out((x) => x.decSmall(5))).toBe('5');
  });
  it('writes 64-bit hex without leading zeros, the low word padded under a high one', () => {
    expect(w.out((x) => x.hex(0, 0))).toBe('0x0');
    expect(w.out((x) => x.hex(0, 0xc13c))).toBe('0xc13c');
    expect(w.out((x) => x.hex(0, 0xffffffff))).toBe('0xffffffff');
    expect(w.out((x) => x.hex(0xffffffff, 0x81000010))).toBe('0xffffffff81000010');
    expect(w.out((x) => x.hex(1, 5))).toBe('0x100000005');
    expect(w.out((x) => x.hex(0x10, 0))).toBe('0x1000000000');
    expect(w.out((x) => x.hex(0, 0x6e0, true))).toBe('6e0');
    expect(w.out((x) => x.hex(0, 0, true))).toBe('0');
    // Neighbouring kernel addresses above 2^53 stay distinct.
    expect(w.out((x) => x.hex(0xffffffff, 0x81000001))).not.toBe(w.out((x) => x.hex(0xffffffff, 0x81000000)));
  });
  it('writes bytes and UTF-8 text, grows past its first buffer keeping what it holds, and starts over at take', () => {
    const g = new Probe();
    const piece = Buffer.from('abc');
    let want = '';
    for (let k = 0; k < 400_000; k++) { g.ensure(16); g.bytes(piece); g.dec(k); g.text('é'); want += `abc${k}é`; }
    const out = g.take();
    expect(out.toString('utf8')).toBe(want);
    expect(out.length).toBeGreaterThan(1 << 20);
    expect(g.out((x) => x.byte(65))).toBe('A');
  });
});

async function text(c: ExitChunk): Promise<string> {
  let s = '';
  for await (const p of writeTraceCmd((async function* () { yield c; })())) s += typeof p === 'string' ? p : p.toString('utf8');
  return s;
}

describe('trace-cmd text timestamps and odd values', () => {
  const hlt = REASONS.lookup('HLT');
  it('pads nanoseconds to nine digits; a fraction rounding up to the next second prints as ten digits, as before', async () => {
    const c = new ExitChunk(4, 1_000_000_000n);
    c.push(5, 0, hlt, 0, 0x1000, 1);
    // An entry at 1.999999999.6 s: its nanoseconds round to 10^9.
    c.push(999_999_999, 1, hlt, 0, 0x2000, 0.6);
    const s = await text(c);
    expect(s).toContain(' 1.000000005: kvm_exit: vcpu 0 reason HLT rip 0x1000 ');
    expect(s).toContain(' 1.000000006: kvm_entry: vcpu 0, rip 0x1000 ');
    expect(s).toContain(' 1.999999999: kvm_exit: vcpu 1 reason HLT rip 0x2000 ');
    expect(s).toContain(' 1.1000000000: kvm_entry: vcpu 1, rip 0x2000 ');
  });
  it('a port write: value and size, and the trailing space of the kernel format', async () => {
    const c = new ExitChunk(2, 5_000_000_000_000n);
    const i = c.push(0, 3, REASONS.lookup('IO_INSTRUCTION'), 0xffffffff, 0x8100abcd, NaN);
    c.flags[i] = F_PORT | F_VALUE | F_SIZE; c.port[i] = 0xc13c; c.size[i] = 2; c.dir[i] = DIR_WRITE; c.valLo[i] = 0x1f;
    const s = await text(c);
    expect(s).toBe(
      'version = 6\ncpus=8\n' +
      '      CPU 3/KVM-4245 [007] d.... 5000.000000000: kvm_exit: vcpu 3 reason IO_INSTRUCTION rip 0xffffffff8100abcd info1 0x0000000000000000 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000 requests 0x0000000000000000\n' +
      '      CPU 3/KVM-4245 [007] d.... 5000.000000000: kvm_pio: pio_write at 0xc13c size 2 count 1 val 0x1f \n',
    );
  });
});

describe('JSON Lines writer against the field texts of canonicalFields', () => {
  /** The rendering the byte writer replaced: each field's canonical text, numbers bare up to 15 characters, the rest JSON strings. */
  function reference(chunks: ExitChunk[], columns: ReadonlySet<OptionalColumn>): string {
    const slots = columnSlots(columns);
    const f: string[] = new Array(ALL_COLUMNS.length);
    let out = '';
    for (const c of chunks) for (let i = 0; i < c.length; i++) {
      canonicalFields(c, i, f);
      const parts: string[] = [];
      for (const s of slots) {
        const v = f[s];
        if (v === '' || (s === C_VM && v === '0')) continue;
        const numeric = s === C_VCPU || s === C_SIZE || s === C_VM || ((s === C_TS || s === C_DUR) && v.length <= 15);
        parts.push(`"${ALL_COLUMNS[s]}":${numeric ? v : JSON.stringify(v)}`);
      }
      out += '{' + parts.join(',') + '}\n';
    }
    return out;
  }
  async function written(chunks: ExitChunk[], columns: ReadonlySet<OptionalColumn>): Promise<string> {
    let s = '';
    for await (const p of writeJsonl((async function* () { yield* chunks; })(), columns)) s += Buffer.from(p).toString('utf8');
    return s;
  }
  it('odd values: a base past 2^53, times past 10^15 ns, half-ns (rounded) and huge durations, VMs, a quoted reason, missing columns', async () => {
    const odd = REASONS.intern('other', 'SAY "HI"\\ß');
    const io = REASONS.lookup('IO_INSTRUCTION');
    const a = new ExitChunk(8, 999_999_999_000_000n);
    a.push(0, 0, io, 0xffffffff, 0x81000010, 1234.5);
    a.push(5_000_000, 1, odd, 0, 0, NaN);
    a.push(7, 2, io, 0, 0x10, 1e16);
    let k = a.push(9, 3, io, 1, 0, 0);
    a.flags[k] = F_PORT | F_SIZE | F_VALUE; a.port[k] = 0; a.size[k] = 4; a.dir[k] = DIR_WRITE; a.valHi[k] = 0; a.valLo[k] = 0; a.vm[k] = 3;
    k = a.push(11, 0, io, 0, 1, 7);
    a.flags[k] = F_GPA | F_MSR | F_CALLER; a.gpaHi[k] = 0xfe; a.gpaLo[k] = 0xe000b0; a.msr[k] = 0x6e0; a.callerHi[k] = 0xffffffff; a.callerLo[k] = 0x81abcdef; a.dir[k] = 1; a.vm[k] = 0;
    const b = new ExitChunk(2, 9_007_199_254_740_993n);
    b.push(2, 0, io, 0, 2, 3);
    const c = new ExitChunk(2, 1_000_000_000_000n);
    c.push(0, 0, io, 0, 3, 3);
    for (const cols of [new Set<OptionalColumn>(['port', 'size', 'dir', 'value', 'gpa', 'msr', 'caller', 'vm']), new Set<OptionalColumn>(), new Set<OptionalColumn>(['vm'])]) {
      const want = reference([a, new ExitChunk(4, 0n), b, c], cols);
      expect(await written([a, new ExitChunk(4, 0n), b, c], cols)).toBe(want);
    }
    const all = await written([a, b, c], new Set<OptionalColumn>(['port', 'size', 'dir', 'value', 'gpa', 'msr', 'caller', 'vm']));
    expect(all).toContain('{"ts_ns":999999999000000,"vcpu":0,"reason":"IO_INSTRUCTION","rip":"0xffffffff81000010","duration_ns":1235}');
    expect(all).toContain('{"ts_ns":"1000000004000000","vcpu":1,');
    expect(all).toContain('"duration_ns":"10000000000000000"');
    expect(all).toContain('"ts_ns":"9007199254740995"');
    expect(all).toContain('"ts_ns":1000000000000,');
    expect(all).toContain(JSON.stringify('SAY "HI"\\ß'));
    expect(all).toContain('"port":"0x0","size":4,"dir":"w","value":"0x0","vm":3}');
    for (const line of all.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });
});

describe('canonical writers write whole ns and signed integers, as the readers take them', () => {
  it('a pass\'s half-ns durations and times are rounded, a negative vcpu keeps its sign, and CSV and JSON Lines read back', async () => {
    const { writeCsv } = await import('../src/formats/csv.js');
    const { openTrace } = await import('../src/formats/index.js');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const hlt = REASONS.lookup('HLT');
    const c = new ExitChunk(4, 1000n);
    c.push(0, 0, hlt, 0, 0x10, 1234.5);
    c.push(5.5, 1, hlt, 0, 0x10, 0.4);
    c.push(7, -1, hlt, 0, 0x10, 2.5);
    const cols = new Set<OptionalColumn>();
    let csv = '';
    for await (const p of writeCsv((async function* () { yield c; })(), cols)) csv += Buffer.from(p).toString();
    expect(csv).toBe('ts_ns,vcpu,reason,rip,duration_ns\n1000,0,HLT,0x10,1235\n1006,1,HLT,0x10,0\n1007,-1,HLT,0x10,3\n');
    let jl = '';
    for await (const p of writeJsonl((async function* () { yield c; })(), cols)) jl += Buffer.from(p).toString();
    expect(jl.split('\n')[2]).toBe('{"ts_ns":1007,"vcpu":-1,"reason":"HLT","rip":"0x10","duration_ns":3}');
    const dir = mkdtempSync(join(tmpdir(), 'exitscope-bw-'));
    // (The readers take no negative vcpu: that row is left out of the read-back.)
    for (const [name, text] of [['t.csv', csv], ['t.jsonl', jl]] as const) {
      writeFileSync(join(dir, name), text.split('\n').filter((l) => !l.includes('-1')).join('\n'));
      const s = await openTrace(join(dir, name));
      const rows: number[][] = [];
      for await (const k of s.chunks) for (let i = 0; i < k.length; i++) rows.push([Number(k.tsBaseNs) + k.ts[i], k.dur[i]]);
      expect(rows).toEqual([[1000, 1235], [1006, 0]]);
      expect(s.stats.rejected).toBe(0);
    }
  });
});
