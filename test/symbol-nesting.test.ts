/**
 * Nested symbols: which function holds an address inside a sized function that
 * contains labels and smaller sized symbols. Expected values worked by hand from
 * the extents: a sized symbol holds [start, start + size); an unsized one holds
 * up to the next symbol's start (64 KiB at most when that is over 1 MiB away).
 */
import { describe, expect, it } from 'vitest';
import { columnsFromRaw } from '../src/symbols/columns.js';
import { SymbolTable } from '../src/symbols/symbol-table.js';
import type { RawSymbol } from '../src/symbols/types.js';

const A = 0xffffffff81000000n;
const sym = (name: string, start: bigint, size: bigint | null = null): RawSymbol => ({ name, module: '', start, size, text: true });
const at = (t: SymbolTable, addr: bigint): string | null => { const i = t.find(addr); return i < 0 ? null : t.name(i); };

describe('nested symbols', () => {
  it('past a label and a sized symbol inside a sized function, the rest of the function is its own', () => {
    const t = new SymbolTable([{ cols: columnsFromRaw([sym('outer_fn', A, 0x100n), sym('inner_label', A + 0x10n), sym('inner_sized', A + 0x20n, 0x10n)]) }]);
    expect([at(t, A), at(t, A + 0x18n), at(t, A + 0x28n), at(t, A + 0x30n), at(t, A + 0xffn), at(t, A + 0x100n)])
      .toEqual(['outer_fn', 'inner_label', 'inner_sized', 'outer_fn', 'outer_fn', null]);
  });

  it('a large sized function past its label\'s capped extent', () => {
    // big_fn: 2 MiB. Its label at +0x10 has no symbol after it within 1 MiB, so it holds 64 KiB: [+0x10, +0x10010).
    const t = new SymbolTable([{ cols: columnsFromRaw([sym('big_fn', A, 0x200000n), sym('big_label', A + 0x10n), sym('far_fn', A + 0x400000n, 0x10n)]) }]);
    expect([at(t, A + 0x10n), at(t, A + 0x1000fn), at(t, A + 0x10010n), at(t, A + 0x1fffffn), at(t, A + 0x200000n), at(t, A + 0x400008n)])
      .toEqual(['big_label', 'big_label', 'big_fn', 'big_fn', null, 'far_fn']);
  });

  it('an unsized symbol never holds an address past the next start', () => {
    const t = new SymbolTable([{ cols: columnsFromRaw([sym('a', A), sym('b', A + 0x40n), sym('c', A + 0x80n, 0x8n)]) }]);
    expect([at(t, A + 0x3fn), at(t, A + 0x40n), at(t, A + 0x7fn), at(t, A + 0x87n), at(t, A + 0x88n)]).toEqual(['a', 'b', 'b', 'c', null]);
  });
});
