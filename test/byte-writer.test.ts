/**
 * The byte writer under the CSV and trace-cmd text writers (src/formats/byte-writer.ts), and
 * the trace-cmd writer's timestamps and odd values, which must read exactly as the string
 * formatting they replaced: decimal as String(n), hex as `0x` + toString(16), nanoseconds
 * padded to nine digits, a rounding that reaches the next second printed as it always was.
 */
import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../src/formats/byte-writer.js';
import { writeTraceCmd } from '../src/formats/trace-cmd-writer.js';
import { ExitChunk, F_PORT, F_VALUE, F_SIZE, DIR_WRITE } from '../src/model/chunk.js';
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
