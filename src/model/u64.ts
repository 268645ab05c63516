/**
 * Exact 64-bit guest addresses. Kernel text at 0xffffffff81xxxxxx is far
 * above 2^53, so a JS number would merge neighbouring addresses. Hot code keeps
 * two uint32 halves; BigInt appears only at the edges (symbolization of distinct
 * addresses, report rendering).
 */

/** Scratch output of the parsers: [hi, lo]. */
export type U64Out = Uint32Array;

export function newU64Out(): U64Out {
  return new Uint32Array(2);
}

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/**
 * Parses `0x`-prefixed (or bare) hex in s[start, end) into out[0]=hi, out[1]=lo.
 * Returns false on a non-hex digit, no digits, or more than 64 significant bits.
 */
export function parseHexU64(s: string, out: U64Out, requirePrefix = true, start = 0, end = s.length): boolean {
  let i = start;
  if (end - i >= 2 && s.charCodeAt(i) === 48 && (s.charCodeAt(i + 1) | 0x20) === 120) i += 2;
  else if (requirePrefix) return false;
  if (i >= end) return false;
  let hi = 0;
  let lo = 0;
  let sig = 0;
  for (; i < end; i++) {
    const n = hexNibble(s.charCodeAt(i));
    if (n < 0) return false;
    if (sig === 0 && n === 0) continue;
    if (++sig > 16) return false;
    hi = ((hi << 4) | (lo >>> 28)) >>> 0;
    lo = ((lo << 4) | n) >>> 0;
  }
  out[0] = hi;
  out[1] = lo;
  return true;
}

/** Same as parseHexU64 over bytes (for the hand-written text readers). */
export function parseHexU64Bytes(b: Uint8Array, start: number, end: number, out: U64Out): boolean {
  let i = start;
  if (end - i >= 2 && b[i] === 48 && (b[i + 1] | 0x20) === 120) i += 2;
  if (i >= end) return false;
  let hi = 0;
  let lo = 0;
  let sig = 0;
  for (; i < end; i++) {
    const n = hexNibble(b[i]);
    if (n < 0) return false;
    if (sig === 0 && n === 0) continue;
    if (++sig > 16) return false;
    hi = ((hi << 4) | (lo >>> 28)) >>> 0;
    lo = ((lo << 4) | n) >>> 0;
  }
  out[0] = hi;
  out[1] = lo;
  return true;
}

const HEX8 = (n: number): string => n.toString(16).padStart(8, '0');

/** Lower-case `0x` hex without leading zeros (`0x0` for zero). */
export function formatHexU64(hi: number, lo: number): string {
  if (hi === 0) return '0x' + lo.toString(16);
  return '0x' + hi.toString(16) + HEX8(lo);
}

export function u64ToBigInt(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

export function bigIntToHi(v: bigint): number {
  return Number((v >> 32n) & 0xffffffffn);
}

export function bigIntToLo(v: bigint): number {
  return Number(v & 0xffffffffn);
}

export function formatHex(v: bigint): string {
  return v < 0n ? '-0x' + (-v).toString(16) : '0x' + v.toString(16);
}

/** Parses user text (`0x...` hex or decimal) into an exact bigint; null when malformed. */
export function parseAddress(text: string): bigint | null {
  const t = text.trim();
  if (/^0x[0-9a-f]{1,16}$/i.test(t)) return BigInt(t);
  if (/^-0x[0-9a-f]{1,16}$/i.test(t)) return -BigInt(t.slice(1));
  if (/^-?[0-9]{1,20}$/.test(t)) return BigInt(t);
  return null;
}

export const U64_MASK = (1n << 64n) - 1n;
