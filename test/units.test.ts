/** Terminal units (src/report/units.ts): groupDigits (and fmtInt, the terminal's name for it) groups digits exactly as en-US toLocaleString does, without loading ICU. */
import { describe, expect, it } from 'vitest';
import { groupDigits } from '../src/model/numbers.js';
import { fmtInt } from '../src/report/units.js';

describe('groupDigits and fmtInt', () => {
  it('matches toLocaleString("en-US") of the rounded number: edges and 20,000 random magnitudes', () => {
    const edges = [0, -0, 0.4, -0.4, -0.5, 0.5, 1, -1, 12, 123, 999, 1000, -1000, 1234, 12345, 123456, 999999.5, 1e6, -1234567, 1e15, 2 ** 53, 2 ** 53 + 2, 1e20, 1e21, -1e21, 1e300, NaN, Infinity, -Infinity];
    let seed = 7;
    const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    const random = Array.from({ length: 20_000 }, () => (rnd() - 0.5) * 10 ** Math.floor(rnd() * 19));
    for (const n of [...edges, ...random]) {
      expect(groupDigits(n), String(n)).toBe(Math.round(n).toLocaleString('en-US'));
      expect(fmtInt(n)).toBe(groupDigits(n));
    }
  });
});
