/**
 * Byte-level scanning helpers for the text readers: no string or regex per
 * line. Functions that return a number and a position leave the position in
 * `cur.pos`.
 */
export const cur = { pos: 0 };

export function lit(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'latin1'));
}

export function startsWithAt(b: Uint8Array, p: number, end: number, l: Uint8Array): boolean {
  if (p + l.length > end) return false;
  for (let k = 0; k < l.length; k++) if (b[p + k] !== l[k]) return false;
  return true;
}

export function skipSpaces(b: Uint8Array, p: number, end: number): number {
  while (p < end && (b[p] === 32 || b[p] === 9)) p++;
  return p;
}

export function tokenEnd(b: Uint8Array, p: number, end: number): number {
  while (p < end && b[p] !== 32 && b[p] !== 9) p++;
  return p;
}

/** Unsigned decimal at p; -1 if none. Position after it in cur.pos. */
export function parseUint(b: Uint8Array, p: number, end: number): number {
  let v = 0;
  const s = p;
  while (p < end) {
    const c = b[p];
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
    p++;
  }
  cur.pos = p;
  return p === s ? -1 : v;
}

/** Finds `needle` in b[p, end); -1 when absent. */
export function indexOf(b: Buffer, needle: Uint8Array, p: number, end: number): number {
  const i = b.indexOf(needle, p);
  return i < 0 || i + needle.length > end ? -1 : i;
}

/** Bytes equal to a string's latin1 bytes. */
export function bytesEqual(b: Uint8Array, p: number, end: number, l: Uint8Array): boolean {
  return end - p === l.length && startsWithAt(b, p, end, l);
}
