import { AMBIGUOUS_OLD_NAMES, REASONS, type Isa } from '../model/reasons.js';

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

/** Reason text bytes -> interned id, for the few distinct reasons of a file. */
export class ReasonCache {
  private keys: Uint8Array[] = [];
  private ids: number[] = [];
  isa: Isa = 'other';

  /** learnIsa: let the first unambiguous name settle the spellings both vendors share (text traces); off for canonical files, whose lower-case names are always SVM. */
  constructor(private readonly learnIsa = true) {}

  /** Direct-mapped on (length, first, middle and last byte): a known name costs one table read and one compare. */
  private readonly slot = new Int16Array(256).fill(-1);

  private static hash(b: Uint8Array, s: number, e: number): number {
    const n = e - s;
    return n === 0 ? 0 : (n * 31 + b[s] * 7 + b[s + (n >> 1)] * 3 + b[e - 1]) & 255;
  }

  lookup(b: Buffer, s: number, e: number): number {
    const h = ReasonCache.hash(b, s, e);
    const k0 = this.slot[h];
    if (k0 >= 0 && bytesEqual(b, s, e, this.keys[k0])) return this.ids[k0];
    for (let k = 0; k < this.keys.length; k++) if (bytesEqual(b, s, e, this.keys[k])) { this.slot[h] = k; return this.ids[k]; }
    const text = b.toString('latin1', s, e);
    let id = REASONS.lookup(text, this.isa);
    if (id < 0) id = REASONS.intern('other', text);
    const r = REASONS.get(id);
    if (this.learnIsa && this.isa === 'other' && r.isa !== 'other' && !AMBIGUOUS_OLD_NAMES.has(text)) this.isa = r.isa;
    this.keys.push(Uint8Array.from(b.subarray(s, e)));
    this.ids.push(id);
    if (this.keys.length <= 0x7fff) this.slot[h] = this.keys.length - 1;
    return id;
  }
}

