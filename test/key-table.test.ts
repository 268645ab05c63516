// KeyTable keeps its tuples in pages of 2^16 ids (issue 11: no copy of every tuple when it grows).
// Ids must stay dense and first-seen ordered across page boundaries, and every tuple readable.
import { describe, expect, it } from 'vitest';
import { KeyTable } from '../src/analyze/key-table.js';

describe('KeyTable across pages', () => {
  for (const width of [1, 2, 3]) {
    it(`width ${width}: 200,000 tuples from a table sized for 4 keep dense ids and their words`, () => {
      const t = new KeyTable(width, 4);
      const n = 200_000; // three pages and part of a fourth
      const tuple = (i: number): number[] => Array.from({ length: width }, (_, w) => (i * 2654435761 + w * 0x9e3779b9) >>> 0);
      let wrong = 0;
      for (let i = 0; i < n; i++) if (t.intern(tuple(i)) !== i) wrong++;
      expect(wrong).toBe(0);
      expect(t.size).toBe(n);
      // Interned again: the same ids (the first page grew by copying, the others were added).
      for (const i of [0, 1, 3, 4, 5, 65_535, 65_536, 65_537, 131_071, 131_072, n - 1]) {
        expect(t.intern(tuple(i))).toBe(i);
        for (let w = 0; w < width; w++) expect(t.key(i, w)).toBe(tuple(i)[w]);
      }
      if (width === 2) for (const i of [2, 65_536, n - 1]) expect(t.intern2(tuple(i)[0], tuple(i)[1])).toBe(i);
      expect(t.size).toBe(n);
    });
  }

  it('neighbouring 64-bit addresses (hi:lo halves) stay distinct', () => {
    const t = new KeyTable(2, 16);
    const hi = 0xffffffff;
    for (let k = 0; k < 70_000; k++) expect(t.intern2(hi, (0x81000000 + k) >>> 0)).toBe(k);
    expect(t.intern2(hi, 0x81000000 + 69_999)).toBe(69_999);
    expect(t.intern2(hi - 1, 0x81000000)).toBe(70_000);
  });
});
