/**
 * The byte-scanning helpers of the text readers (src/formats/bytes.ts), called directly
 * (issue 16: survivors of the formats run). Each case states the bytes and the answer a
 * reader needs; a helper that looks past `end` or a cache that answers for the wrong token
 * would give another reason or another field to the line.
 */
import { describe, expect, it } from 'vitest';
import { bytesEqual, bytesView, cur, lit, parseUint, ReasonCache, skipSpaces, startsWithAt, tokenEnd } from '../src/formats/bytes.js';
import { REASONS } from '../src/model/reasons.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('scanning stops at end, never at the buffer\'s end', () => {
  it('startsWithAt: a literal that only matches with the bytes past end does not match', () => {
    const b = B('kvm_exit');
    expect(startsWithAt(b, 0, 8, lit('kvm_exit'))).toBe(true);
    // end 7 cuts the last byte: 'kvm_exi' does not start with 'kvm_exit', though b holds it.
    expect(startsWithAt(b, 0, 7, lit('kvm_exit'))).toBe(false);
    // From p = 4: 'exit' fits exactly in [4, 8).
    expect(startsWithAt(b, 4, 8, lit('exit'))).toBe(true);
    expect(startsWithAt(b, 4, 8, lit('exitx'))).toBe(false);
    expect(startsWithAt(b, 0, 8, lit('kvm_exiT'))).toBe(false);
  });

  it('bytesEqual: same length and bytes only', () => {
    const b = B('HLT HLTX');
    expect(bytesEqual(b, 0, 3, lit('HLT'))).toBe(true);
    expect(bytesEqual(b, 4, 8, lit('HLT'))).toBe(false); // 'HLTX' is longer
    expect(bytesEqual(b, 0, 2, lit('HLT'))).toBe(false); // 'HL' is shorter
  });

  it('skipSpaces and tokenEnd treat blanks and tabs alike and stop at end', () => {
    const b = B(' \t x\ty z'); // 8 bytes
    expect(skipSpaces(b, 0, 8)).toBe(3); // ' ', '\t', ' ' then 'x'
    expect(skipSpaces(b, 0, 2)).toBe(2); // end first
    expect(skipSpaces(b, 3, 8)).toBe(3); // already on a token
    expect(tokenEnd(b, 3, 8)).toBe(4); // 'x' then '\t'
    expect(tokenEnd(b, 5, 8)).toBe(6); // 'y' then ' '
    expect(tokenEnd(b, 7, 8)).toBe(8); // 'z' then the buffer ends
    expect(tokenEnd(B('abcdef'), 0, 3)).toBe(3); // stops at end inside a token
    const blanks = B('    ');
    expect(skipSpaces(blanks, 0, 4)).toBe(4);
  });

  it('parseUint: digits up to end or the first non-digit, the position after them in cur.pos; -1 when none', () => {
    const b = B('12345x');
    expect(parseUint(b, 0, 6)).toBe(12345);
    expect(cur.pos).toBe(5);
    expect(parseUint(b, 0, 3)).toBe(123); // end cuts the number
    expect(cur.pos).toBe(3);
    expect(parseUint(b, 5, 6)).toBe(-1); // 'x'
    expect(cur.pos).toBe(5);
    // '/' (47) and ':' (58) are the bytes around the digits.
    expect(parseUint(B('/1'), 0, 2)).toBe(-1);
    expect(parseUint(B('9:'), 0, 2)).toBe(9);
    expect(parseUint(B('0'), 0, 1)).toBe(0);
  });

  it('bytesView reads the buffer it is given, at the buffer\'s own offsets', () => {
    const whole = B('....ABCDabcd');
    const sub = whole.subarray(4);
    expect(bytesView(sub).getUint32(0)).toBe(0x41424344); // 'ABCD'
    expect(bytesView(whole).getUint32(8)).toBe(0x61626364); // 'abcd', a new buffer: a new view
    expect(bytesView(sub).getUint32(4)).toBe(0x61626364);
  });
});

describe('ReasonCache: a remembered token answers only for the same token', () => {
  const line = (s: string) => { const b = B(s); return { b, v: bytesView(b), e: b.length }; };

  it('lookup interns a name once and gives the same id for its bytes anywhere', () => {
    const rc = new ReasonCache();
    const a = line('IO_INSTRUCTION HLT IO_INSTRUCTION');
    const io = rc.lookup(a.b, 0, 14);
    expect(REASONS.get(io).name).toBe('IO_INSTRUCTION');
    expect(rc.lookup(a.b, 19, 33)).toBe(io);
    const hlt = rc.lookup(a.b, 15, 18);
    expect(REASONS.get(hlt).name).toBe('HLT');
    expect(hlt).not.toBe(io);
    // An empty token is no reason of the table: it is interned as an unknown one, not taken for a known name.
    expect([io, hlt]).not.toContain(rc.lookup(a.b, 0, 0));
  });

  it('names of the same length, first, middle and last bytes stay apart (the direct-mapped slot only guesses)', () => {
    const rc = new ReasonCache();
    // 'AXB_C' and 'AYB_C' share length 5 and bytes 0, 2 and 4: the slot's hash is the same, the bytes are not.
    const x = line('AXB_C AYB_C');
    const ax = rc.lookup(x.b, 0, 5), ay = rc.lookup(x.b, 6, 11);
    expect(ax).not.toBe(ay);
    expect([REASONS.get(ax).name, REASONS.get(ay).name]).toEqual(['AXB_C', 'AYB_C']);
    expect([rc.lookup(x.b, 0, 5), rc.lookup(x.b, 6, 11)]).toEqual([ax, ay]);
  });

  it('known: the token remembered from the same 8 bytes, with cur.pos at its end', () => {
    const rc = new ReasonCache();
    const a = line('IO_INSTRUCTION rip 0x10');
    const id = rc.rememberToken(a.b, a.v, 0, 14, a.e);
    expect(REASONS.get(id).name).toBe('IO_INSTRUCTION');
    const b = line('IO_INSTRUCTION rip 0x20');
    cur.pos = -1;
    expect(rc.known(b.b, b.v, 0, b.e)).toBe(id);
    expect(cur.pos).toBe(14);
    // Tab after it: a blank too.
    const t = line('IO_INSTRUCTION\trip');
    expect(rc.known(t.b, t.v, 0, t.e)).toBe(id);
  });

  it('known: a token sharing the first 8 bytes but not the rest, or running on past them, is not known', () => {
    const rc = new ReasonCache();
    const a = line('IO_INSTRUCTION rip');
    rc.rememberToken(a.b, a.v, 0, 14, a.e);
    for (const other of ['IO_INSTRUCTIOM rip', 'IO_INSTRUCTIONS rip', 'IO_INSTRUCTION_X rip', 'IO_INSTRUCTIO']) {
      const o = line(other);
      expect([other, rc.known(o.b, o.v, 0, o.e)]).toEqual([other, -1]);
    }
    // The line ends right after the token: known (t === e).
    const endOfLine = line('IO_INSTRUCTION');
    expect(rc.known(endOfLine.b, endOfLine.v, 0, endOfLine.e)).toBeGreaterThanOrEqual(0);
    // ... but not when the line ends inside it.
    expect(rc.known(endOfLine.b, endOfLine.v, 0, 12)).toBe(-1);
  });

  it('known: a token of exactly 8 bytes is checked for the blank after it (the window holds no byte past it)', () => {
    const rc = new ReasonCache();
    const a = line('EXITCODE rip');
    const id = rc.rememberToken(a.b, a.v, 0, 8, a.e);
    const same = line('EXITCODE\trip');
    expect(rc.known(same.b, same.v, 0, same.e)).toBe(id);
    const longer = line('EXITCODEX rip');
    expect(rc.known(longer.b, longer.v, 0, longer.e)).toBe(-1);
  });

  it('known: short tokens are told apart by the blank the 8-byte window holds', () => {
    const rc = new ReasonCache();
    const hlt = line('HLT rip 0x1');
    const id = rc.rememberToken(hlt.b, hlt.v, 0, 3, hlt.e);
    const again = line('HLT rip 0x2');
    expect(rc.known(again.b, again.v, 0, again.e)).toBe(id);
    expect(cur.pos).toBe(3);
    // 'HLTX ...' differs inside the window: not known.
    const hltx = line('HLTX rip 0x');
    expect(rc.known(hltx.b, hltx.v, 0, hltx.e)).toBe(-1);
    // Fewer than 8 bytes left on the line: no window, not known (the caller looks the token up instead).
    const short = line('HLT rip');
    expect(rc.known(short.b, short.v, 0, short.e)).toBe(-1);
    // A token at an offset: the window starts at s.
    const at = line('xx HLT rip 0x3');
    expect(rc.known(at.b, at.v, 3, at.e)).toBe(id);
    expect(cur.pos).toBe(6);
  });

  it('a fresh cache knows nothing, and a token never remembered stays unknown', () => {
    const rc = new ReasonCache();
    const a = line('IO_INSTRUCTION rip 0x10');
    expect(rc.known(a.b, a.v, 0, a.e)).toBe(-1);
    rc.rememberToken(a.b, a.v, 0, 14, a.e);
    const b = line('EPT_VIOLATION rip 0x10');
    expect(rc.known(b.b, b.v, 0, b.e)).toBe(-1);
    // rememberToken does not remember a token with fewer than 8 bytes of line from its start.
    const c = line('CPUID x');
    rc.rememberToken(c.b, c.v, 0, 5, c.e);
    const c2 = line('CPUID x 0x1');
    expect(rc.known(c2.b, c2.v, 0, c2.e)).toBe(-1);
  });

  it('a token longer than the window\'s store (48 bytes) is looked up each time, never answered from the window', () => {
    const rc = new ReasonCache();
    const name = 'R'.repeat(49);
    const a = line(`${name} rip`);
    const id = rc.rememberToken(a.b, a.v, 0, 49, a.e);
    expect(REASONS.get(id).name).toBe(name);
    expect(rc.known(a.b, a.v, 0, a.e)).toBe(-1);
    // 48 bytes is remembered.
    const n48 = 'Q'.repeat(48);
    const b = line(`${n48} rip`);
    const id48 = rc.rememberToken(b.b, b.v, 0, 48, b.e);
    expect(rc.known(b.b, b.v, 0, b.e)).toBe(id48);
    expect(cur.pos).toBe(48);
  });
});
