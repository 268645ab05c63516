/**
 * Guest addresses to row identities (src/analyze/resolver.ts), called
 * directly with a two-function kallsyms (issue 16: the survivors listed in
 * docs/mutation-analyze-survivors.md). Which class an address falls in is
 * worked out in the comments from the header of resolver.ts and
 * Symbolizer.userSpaceEnd (a 64-bit map: user space ends at 0x0000800000000000).
 */
import { describe, expect, it } from 'vitest';
import { ADDRESS_ID_BASE, AddressResolver, CLASS_FIRMWARE, CLASS_KERNEL_NOSYM, CLASS_USER } from '../src/analyze/resolver.js';
import { ExitChunk } from '../src/model/chunk.js';
import { symbolizerFromKallsyms } from '../src/symbols/index.js';

/** alpha [0xffffffff81000000, +0x100), beta [+0x100, +0x200); _etext ends the text. */
const KALLSYMS = 'ffffffff81000000 T _text\nffffffff81000000 T alpha\nffffffff81000100 T beta\nffffffff81000200 T _etext\n';
const map = () => symbolizerFromKallsyms(KALLSYMS, 'test kallsyms');

const hi = (a: bigint): number => Number(a >> 32n);
const lo = (a: bigint): number => Number(a & 0xffffffffn);
const idOf = (r: AddressResolver, a: bigint): number => r.id(hi(a), lo(a));
const textOf = (r: AddressResolver, a: bigint): string => r.label(idOf(r, a)).text;

const ALPHA = 0xffffffff81000010n;
const USER = 0x400000n;
const FIRMWARE = 0x1000n;

describe('addresses no map resolves roll up into classes', () => {
  it('firmware: below 1 MiB and the BIOS alias [0xfffc0000, 4 GiB); user: the rest below 0x0000800000000000; kernel above', () => {
    const r = new AddressResolver(map(), false);
    const cases: Array<[bigint, string]> = [
      [0x0n, '[firmware]'],
      [0xfffffn, '[firmware]'], // 1 MiB - 1
      [0x100000n, '[guest user]'], // 1 MiB: no longer real mode
      [0xfffbffffn, '[guest user]'], // just below the BIOS alias
      [0xfffc0000n, '[firmware]'], // its first byte
      [0xffffffffn, '[firmware]'], // its last byte
      [0x100000000n, '[guest user]'], // 4 GiB: above the alias
      [0x7fffffffffffn, '[guest user]'], // the last user byte
      [0x800000000000n, '[guest kernel, no symbol]'], // user space's end is not user space
      [0xffffffffc0a20000n, '[guest kernel, no symbol]'], // a module no map names
      [ALPHA, 'alpha'],
    ];
    expect(cases.map(([a]) => [a, textOf(r, a)])).toEqual(cases);
  });

  it('classes label as rows: user space is "user", firmware and kernel without a symbol "unresolved"', () => {
    const r = new AddressResolver(map(), false);
    expect(r.label(CLASS_USER)).toEqual({ text: '[guest user]', symbol: '[guest user]', module: null, start: null, kind: 'user' });
    expect(r.label(CLASS_FIRMWARE)).toEqual({ text: '[firmware]', symbol: '[firmware]', module: null, start: null, kind: 'unresolved' });
    expect(r.label(CLASS_KERNEL_NOSYM).kind).toBe('unresolved');
  });

  it('kind of an id: functions are kernel, the user class user, the other classes unresolved', () => {
    const r = new AddressResolver(map(), false);
    const alpha = idOf(r, ALPHA);
    expect(alpha).toBeGreaterThanOrEqual(0);
    // Function ids start at 0 and go up to just below the address ids.
    expect([r.kindOfId(0), r.kindOfId(alpha), r.kindOfId(ADDRESS_ID_BASE - 1)]).toEqual(['kernel', 'kernel', 'kernel']);
    expect([r.kindOfId(CLASS_USER), r.kindOfId(CLASS_KERNEL_NOSYM), r.kindOfId(CLASS_FIRMWARE)]).toEqual(['user', 'unresolved', 'unresolved']);
  });
});

describe('--keep-unknown: unresolved addresses as their own rows', () => {
  it('each address is its own id from ADDRESS_ID_BASE on, labelled [unknown] 0x..., of the kind its address implies', () => {
    const r = new AddressResolver(map(), true);
    // The first unresolved address gets ADDRESS_ID_BASE itself.
    const user = idOf(r, USER);
    expect(user).toBe(ADDRESS_ID_BASE);
    expect(r.label(user)).toEqual({ text: '[unknown] 0x400000', symbol: '[unknown]', module: null, start: USER, kind: 'user' });
    // User: [1 MiB, 0x0000800000000000). Below 1 MiB (firmware) and from the user end up: unresolved.
    const cases: Array<[bigint, string]> = [
      [USER, 'user'],
      [0x100000n, 'user'],
      [0x7fffffffffffn, 'user'],
      [0xfffffn, 'unresolved'],
      [0x800000000000n, 'unresolved'],
      [0xffffffffc0a20000n, 'unresolved'],
    ];
    expect(cases.map(([a]) => [a, r.kindOfId(idOf(r, a))])).toEqual(cases);
    expect(cases.map(([a]) => [a, r.label(idOf(r, a)).kind])).toEqual(cases);
    // A resolved function keeps its function id.
    expect(r.kindOfId(idOf(r, ALPHA))).toBe('kernel');
    expect(r.label(idOf(r, ALPHA)).text).toBe('alpha');
  });

  it('without a map every address is its own row, and none is known to be user space', () => {
    const r = new AddressResolver(null, false);
    const a = idOf(r, USER), b = idOf(r, 0xffffffff81000010n);
    expect([a, b]).toEqual([ADDRESS_ID_BASE, ADDRESS_ID_BASE + 1]);
    expect([r.label(a).text, r.label(b).text]).toEqual(['[unknown] 0x400000', '[unknown] 0xffffffff81000010']);
    expect([r.kindOfId(a), r.kindOfId(b), r.label(a).kind]).toEqual(['unresolved', 'unresolved', 'unresolved']);
  });

  it('counts the distinct addresses it resolved', () => {
    const r = new AddressResolver(map(), false);
    // USER, ALPHA, FIRMWARE, then USER again: 3 distinct.
    for (const a of [USER, ALPHA, FIRMWARE, USER]) idOf(r, a);
    expect(r.distinct).toBe(3);
  });
});

describe('ids of a chunk are computed once, and again when the chunk changes', () => {
  function fill(c: ExitChunk, addrs: readonly bigint[]): ExitChunk {
    addrs.forEach((a, i) => { c.ripHi[i] = hi(a); c.ripLo[i] = lo(a); });
    c.length = addrs.length;
    return c;
  }

  it('a chunk refilled by its reader (same object, next epoch) gets the ids of its new rows', () => {
    const r = new AddressResolver(map(), false);
    const alpha = idOf(r, ALPHA);
    const c = fill(new ExitChunk(4), [ALPHA, USER]);
    expect(Array.from(r.idsOf(c).subarray(0, 2))).toEqual([alpha, CLASS_USER]);
    fill(c.reuse(), [FIRMWARE, ALPHA]);
    expect(r.idAt(c, 0)).toBe(CLASS_FIRMWARE);
    expect(Array.from(r.idsOf(c).subarray(0, 2))).toEqual([CLASS_FIRMWARE, alpha]);
    fill(c.reuse(), [USER, FIRMWARE]);
    expect(Array.from(r.idsOf(c).subarray(0, 2))).toEqual([CLASS_USER, CLASS_FIRMWARE]);
  });

  it('a chunk that grew (a reader still filling it) gets ids for its new rows', () => {
    const r = new AddressResolver(map(), false);
    const c = fill(new ExitChunk(4), [ALPHA, USER]);
    r.idsOf(c);
    fill(c, [ALPHA, USER, FIRMWARE]);
    expect(Array.from(r.idsOf(c).subarray(0, 3))).toEqual([idOf(r, ALPHA), CLASS_USER, CLASS_FIRMWARE]);
    fill(c, [ALPHA, USER, FIRMWARE, 0x800000000000n]);
    expect(r.idAt(c, 3)).toBe(CLASS_KERNEL_NOSYM);
  });

  it('two chunks of the same length are not confused', () => {
    const r = new AddressResolver(map(), false);
    // Plain chunk-shaped objects without an epoch (an emulator's).
    const one = { length: 1, ripHi: Uint32Array.of(hi(USER)), ripLo: Uint32Array.of(lo(USER)) };
    const two = { length: 1, ripHi: Uint32Array.of(hi(FIRMWARE)), ripLo: Uint32Array.of(lo(FIRMWARE)) };
    expect(r.idAt(one, 0)).toBe(CLASS_USER);
    expect(r.idAt(two, 0)).toBe(CLASS_FIRMWARE);
    expect(r.idAt(one, 0)).toBe(CLASS_USER);
  });
});
