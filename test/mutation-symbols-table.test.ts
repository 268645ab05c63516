/**
 * Symbol table (src/symbols/symbol-table.ts): which function an address falls in. Every case
 * is a handful of symbols laid out by hand; the expected extents follow from the rules in the
 * module's header: a sized symbol covers [start, start+size); an unsized one runs to the next
 * symbol of its module when that is at most 1 MiB away (MAX_UNBOUNDED * 16), else 64 KiB
 * (MAX_UNBOUNDED); at one address a real name beats a start marker, then a sized symbol an
 * unsized one, then the line listed first wins.
 */
import { describe, expect, it } from 'vitest';
import { columnsFromRaw } from '../src/symbols/columns.js';
import { parseNmText } from '../src/symbols/nm.js';
import { SymbolTable } from '../src/symbols/symbol-table.js';
import type { RawSymbol } from '../src/symbols/types.js';

const A = 0xffffffff81000000n;

const sym = (name: string, start: bigint, size: bigint | null = null, module = '', text = true): RawSymbol => ({ name, module, start, size, text });
const table = (syms: RawSymbol[]): SymbolTable => new SymbolTable([{ cols: columnsFromRaw(syms) }]);
/** Name of the function holding `addr`, or null. */
const at = (t: SymbolTable, addr: bigint): string | null => {
  const i = t.find(addr);
  return i < 0 ? null : t.name(i);
};

describe('several symbols at one address: which one names the function', () => {
  it('a sized symbol beats an unsized alias, whichever is listed first, and its size bounds the function', () => {
    // real_fn covers [A, A+0x20); the next function starts at A+0x100.
    for (const syms of [
      [sym('real_fn', A, 0x20n), sym('alias_fn', A), sym('next_fn', A + 0x100n)],
      [sym('alias_fn', A), sym('real_fn', A, 0x20n), sym('next_fn', A + 0x100n)],
    ]) {
      const t = table(syms);
      expect([at(t, A), at(t, A + 0x1fn), at(t, A + 0x20n), at(t, A + 0xffn), at(t, A + 0x100n)]).toEqual(['real_fn', 'real_fn', null, null, 'next_fn']);
      expect(t.size).toBe(2);
    }
  });

  it('between two sized aliases, or two unsized ones, the one listed first wins (with its own size)', () => {
    const sized = table([sym('first_sized', A, 0x20n), sym('second_sized', A, 0x40n)]);
    expect([at(sized, A), at(sized, A + 0x1fn), at(sized, A + 0x30n)]).toEqual(['first_sized', 'first_sized', null]);
    const unsized = table([sym('first_plain', A), sym('second_plain', A), sym('after', A + 0x80n)]);
    expect([at(unsized, A), at(unsized, A + 0x7fn), at(unsized, A + 0x80n)]).toEqual(['first_plain', 'first_plain', 'after']);
  });

  it('a real name beats a start marker (_text, _stext, startup_xen) listed before or after it, even a sized marker', () => {
    for (const marker of ['_text', '_stext', 'startup_xen']) {
      // A symbol at a lower address comes first, so the marker's name is not the first bytes of the map.
      const before = table([sym('low_fn', A - 0x1000n, 0x10n), sym(marker, A), sym('alpha', A), sym('beta', A + 0x40n)]);
      const after = table([sym('low_fn', A - 0x1000n, 0x10n), sym('alpha', A), sym(marker, A), sym('beta', A + 0x40n)]);
      const sizedMarker = table([sym('low_fn', A - 0x1000n, 0x10n), sym('alpha', A), sym(marker, A, 0x100n), sym('beta', A + 0x40n)]);
      for (const t of [before, after, sizedMarker]) {
        expect([marker, at(t, A), at(t, A + 0x3fn), at(t, A + 0x40n)]).toEqual([marker, 'alpha', 'alpha', 'beta']);
      }
    }
  });

  it('a start marker alone at its address is a function (the text of a map that names nothing else there)', () => {
    const t = table([sym('_stext', A), sym('beta', A + 0x40n)]);
    expect([at(t, A + 0x10n), at(t, A + 0x40n)]).toEqual(['_stext', 'beta']);
  });

  it('an end marker is never a function but bounds the one before it', () => {
    const t = table([sym('last_fn', A), sym('_etext', A + 0x30n)]);
    expect([at(t, A + 0x2fn), at(t, A + 0x30n), at(t, A + 0x40n)]).toEqual(['last_fn', null, null]);
  });
});

describe('the order of the map lines does not matter', () => {
  it('symbols listed from high to low addresses resolve as if sorted', () => {
    const t = table([sym('fn_c', A + 0x300n), sym('fn_b', A + 0x200n), sym('fn_a', A + 0x100n)]);
    expect([at(t, A + 0x100n), at(t, A + 0x1ffn), at(t, A + 0x200n), at(t, A + 0x2ffn), at(t, A + 0x300n), at(t, A + 0xffn)]).toEqual(['fn_a', 'fn_a', 'fn_b', 'fn_b', 'fn_c', null]);
  });

  it('descending addresses that differ only above bit 32 resolve as if sorted', () => {
    const G = 0x100000000n;
    const t = table([sym('in_third', 3n * G + 0x10n, 0x10n), sym('in_second', 2n * G + 0x10n, 0x10n), sym('in_first', G + 0x10n, 0x10n)]);
    expect([at(t, G + 0x10n), at(t, 2n * G + 0x10n), at(t, 3n * G + 0x1fn), at(t, 3n * G + 0x20n)]).toEqual(['in_first', 'in_second', 'in_third', null]);
  });

  it('unsorted aliases: the one listed first still wins', () => {
    const t = table([sym('later', A + 0x100n), sym('alias_one', A), sym('alias_two', A)]);
    expect([at(t, A), at(t, A + 0xffn), at(t, A + 0x100n)]).toEqual(['alias_one', 'alias_one', 'later']);
  });
});

describe('extents of unsized functions', () => {
  it('the next symbol within 1 MiB ends the function, a data symbol too; the last one gets 64 KiB', () => {
    const t = table([sym('near_fn', A), sym('some_data', A + 0x80000n, null, '', false), sym('last_fn', A + 0x200000n)]);
    expect([at(t, A + 0x7ffffn), at(t, A + 0x80000n), at(t, A + 0x200000n + 0xffffn), at(t, A + 0x210000n)]).toEqual(['near_fn', null, 'last_fn', null]);
  });

  it('a next symbol more than 1 MiB away leaves the function at 64 KiB', () => {
    const t = table([sym('lonely_fn', A), sym('far_fn', A + 0x200000n)]);
    expect([at(t, A + 0xffffn), at(t, A + 0x10000n), at(t, A + 0x1fffffn), at(t, A + 0x200000n)]).toEqual(['lonely_fn', null, null, 'far_fn']);
  });

  it('a next symbol 4 GiB away (same low 32 bits) is far, not near', () => {
    const t = table([sym('low_fn', 0x1000n), sym('high_fn', 0x100001000n)]);
    expect([at(t, 0x10fffn), at(t, 0x11000n), at(t, 0x20000n), at(t, 0x100001000n)]).toEqual(['low_fn', null, null, 'high_fn']);
  });

  it('an extent that crosses a 4 GiB boundary ends 64 KiB (or its size) after its start', () => {
    const unsized = table([sym('straddle', 0xffff8000n)]);
    expect([at(unsized, 0xffffffffn), at(unsized, 0x100000000n), at(unsized, 0x100007fffn), at(unsized, 0x100008000n)]).toEqual(['straddle', 'straddle', 'straddle', null]);
    const sized = table([sym('straddle_sized', 0xfffffff0n, 0x20n)]);
    expect([at(sized, 0x10000000fn), at(sized, 0x100000010n)]).toEqual(['straddle_sized', null]);
  });

  it('a symbol at address 0 is not a function (and does not resolve low addresses); one at 4 GiB is', () => {
    const t = table([sym('at_zero', 0n), sym('at_4k', 0x1000n, 0x10n)]);
    expect([at(t, 0n), at(t, 0x10n), at(t, 0x1000n)]).toEqual([null, null, 'at_4k']);
    expect(t.size).toBe(1);
    const g = table([sym('at_4g', 0x100000000n), sym('next', 0x100000100n)]);
    expect([at(g, 0x100000000n), at(g, 0x1000000ffn), at(g, 0xffffffffn)]).toEqual(['at_4g', 'at_4g', null]);
  });

  it('a zero size in `nm -S` output is no size: the function runs to the next symbol', () => {
    const t = new SymbolTable([{ cols: columnsFromRaw(parseNmText('ffffffff81000000 0000000000000000 T zero_sized\nffffffff81000040 0000000000000010 T next_fn\n', 'nm')) }]);
    expect([at(t, A), at(t, A + 0x3fn), at(t, A + 0x40n), at(t, A + 0x50n)]).toEqual(['zero_sized', 'zero_sized', 'next_fn', null]);
  });
});

describe('sized functions: nesting and padding', () => {
  it('a label nested in a sized function: inside the label it names the RIP, past its end the function does', () => {
    const t = table([sym('outer_fn', A, 0x100n), sym('inner_label', A + 0x10n, 0x10n), sym('after_fn', A + 0x200n, 0x10n)]);
    expect([at(t, A + 0x8n), at(t, A + 0x18n), at(t, A + 0x20n), at(t, A + 0xffn), at(t, A + 0x100n), at(t, A + 0x200n)]).toEqual(['outer_fn', 'inner_label', 'outer_fn', 'outer_fn', null, 'after_fn']);
  });

  it('padding between two sized functions belongs to neither', () => {
    const t = table([sym('f_one', A, 0x10n), sym('f_two', A + 0x20n, 0x10n)]);
    expect([at(t, A + 0xfn), at(t, A + 0x10n), at(t, A + 0x1fn), at(t, A + 0x20n), at(t, A + 0x30n)]).toEqual(['f_one', null, null, 'f_two', null]);
  });

  it('an address below every function resolves to nothing', () => {
    const sized = table([sym('f_one', A, 0x10n), sym('f_two', A + 0x20n, 0x10n)]);
    const unsized = table([sym('g_one', A), sym('g_two', A + 0x20n)]);
    expect([at(sized, A - 1n), at(sized, 0n), at(unsized, A - 1n)]).toEqual([null, null, null]);
  });

  // Was a bug (fixed in symbol-table.ts): the walk back from an address stopped at the first unsized
  // symbol that did not hold it, so an unsized label inside a sized function, followed by a sized
  // one, hid the rest of the outer function. outer_fn states [A, A+0x100); A+0x40 is inside it.
  it('past an unsized label and a sized symbol nested in a sized function, the function still holds the RIP', () => {
    const t = table([sym('outer_fn', A, 0x100n), sym('inner_label', A + 0x10n), sym('inner_sized', A + 0x20n, 0x10n)]);
    expect([at(t, A + 0x18n), at(t, A + 0x28n), at(t, A + 0x40n)]).toEqual(['inner_label', 'inner_sized', 'outer_fn']);
  });

  it('get() gives a function with its module, start, end and whether a size was stated', () => {
    const t = table([sym('sized_fn', A, 0x10n, 'mod_a'), sym('plain_fn', A + 0x40n, null, 'mod_a'), sym('data', A + 0x60n, null, 'mod_a', false)]);
    expect(t.get(t.find(A + 4n))).toEqual({ name: 'sized_fn', module: 'mod_a', start: A, end: A + 0x10n, sized: true });
    expect(t.get(t.find(A + 0x44n))).toEqual({ name: 'plain_fn', module: 'mod_a', start: A + 0x40n, end: A + 0x60n, sized: false });
  });
});

describe('several modules and maps in one table', () => {
  it('modules listed in any order merge into address order (within and across 4 GiB halves)', () => {
    const G = 0x100000000n;
    // Listed: y (4 GiB + 0x1000), x (8 GiB), v (4 GiB + 0x800), w (just under 4 GiB).
    const t = table([
      sym('y_fn', G + 0x1000n, 0x10n, 'y'), sym('x_fn', 2n * G, 0x10n, 'x'), sym('v_fn', G + 0x800n, 0x10n, 'v'), sym('w_fn', G - 0x1000n, 0x10n, 'w'),
    ]);
    expect([at(t, G - 0x1000n), at(t, G + 0x800n), at(t, G + 0x1008n), at(t, 2n * G + 0xfn)]).toEqual(['w_fn', 'v_fn', 'y_fn', 'x_fn']);
    expect([t.module(t.find(G + 0x800n)), t.module(t.find(2n * G))]).toEqual(['v', 'x']);
    expect(Array.from(t.starts)).toEqual([G - 0x1000n, G + 0x800n, G + 0x1000n, 2n * G]);
  });

  it('a module listed first with higher addresses than the core kernel: both resolve', () => {
    const t = table([sym('mod_fn', 0xffffffffc0100000n, 0x40n, 'mymod'), sym('core_fn', A, 0x40n), sym('core_two', A + 0x100n, 0x40n)]);
    expect([at(t, A + 8n), at(t, A + 0x108n), at(t, 0xffffffffc0100008n)]).toEqual(['core_fn', 'core_two', 'mod_fn']);
  });

  it('two maps (table parts) interleaved in address order resolve each function to its own map', () => {
    const one = columnsFromRaw([sym('one_a', A, 0x10n), sym('one_b', A + 0x200n, 0x10n)]);
    const two = columnsFromRaw([sym('two_a', A + 0x100n, 0x10n), sym('two_b', A + 0x300n, 0x10n)]);
    const t = new SymbolTable([{ cols: one }, { cols: two }]);
    expect([at(t, A), at(t, A + 0x100n), at(t, A + 0x200n), at(t, A + 0x300n)]).toEqual(['one_a', 'two_a', 'one_b', 'two_b']);
  });
});

describe('text range', () => {
  it('is null for an empty table', () => {
    expect(new SymbolTable([]).textRange()).toBeNull();
    expect(table([sym('only_data', A, null, '', false)]).textRange()).toBeNull();
  });

  it('runs from the lowest start to the furthest end, even when a nested label starts last', () => {
    const t = table([sym('outer_fn', A, 0x1000n), sym('nested', A + 0x10n, 0x10n)]);
    expect(t.textRange()).toEqual([A, A + 0x1000n]);
  });

  it('compares whole 64-bit ends: a higher upper half wins over a higher lower half, and neighbours one byte apart stay apart', () => {
    const G = 0x100000000n;
    // Ends: G - 0x10 + 0xf = 0xffffffff (low half all ones, upper 0); 2G - 0x20 + 0x21 = 2G + 1 (upper half 2, low half 1); G + 0x110.
    const t = table([sym('low_half_max', G - 0x10n, 0xfn), sym('far', 2n * G - 0x20n, 0x21n), sym('mid', G + 0x100n, 0x10n)]);
    expect(t.textRange()).toEqual([G - 0x10n, 2n * G + 1n]);
    // The furthest end one byte past the second furthest, both in the upper 4 GiB half.
    const u = table([sym('a', A, 0x101n), sym('b', A + 0x10n, 0xf0n)]); // ends A + 0x101 and A + 0x100
    expect(u.textRange()).toEqual([A, A + 0x101n]);
  });
});
