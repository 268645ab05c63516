import { AMBIGUOUS_OLD_NAMES, REASONS, type Isa } from '../model/reasons.js';

/**
 * Byte-level scanning helpers for the text readers: no string or regex per
 * line. Functions that return a number and a position leave the position in
 * `cur.pos`.
 */
export const cur = { pos: 0, val: 0 };

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

/** Hex digit values by byte, -1 for the rest. */
export const HEX_DIGIT = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let c = 0; c < 10; c++) t[48 + c] = c;
  for (let c = 0; c < 6; c++) { t[65 + c] = 10 + c; t[97 + c] = 10 + c; }
  return t;
})();

let viewed: Uint8Array | null = null;
let viewOfViewed: DataView = new DataView(new ArrayBuffer(0));

/**
 * A DataView of b's bytes (same offsets as b), for reading 2 or 4 bytes at
 * once: the last one is kept, so a parser asks once per line for free.
 */
export function bytesView(b: Uint8Array): DataView {
  if (b !== viewed) { viewed = b; viewOfViewed = new DataView(b.buffer, b.byteOffset, b.byteLength); }
  return viewOfViewed;
}

/** Bytes equal to a string's latin1 bytes. */
export function bytesEqual(b: Uint8Array, p: number, end: number, l: Uint8Array): boolean {
  return end - p === l.length && startsWithAt(b, p, end, l);
}

const WIN_BITS = 6, WIN_SLOTS = 1 << WIN_BITS, WIN_MAX = 48;

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

  /**
   * Tokens remembered by the 8 bytes they start (and, when shorter, end) in:
   * the window's two words, the token's length, its id and bytes. A text
   * trace repeats `IO_INSTRUCTION rip` line after line.
   */
  private readonly winA = new Int32Array(WIN_SLOTS);
  private readonly winB = new Int32Array(WIN_SLOTS);
  private readonly winLen = new Int32Array(WIN_SLOTS).fill(-1);
  private readonly winId = new Int32Array(WIN_SLOTS);
  private readonly winBytes = new Uint8Array(WIN_SLOTS * WIN_MAX);

  private static winSlot(a: number, c: number): number {
    return Math.imul(a ^ Math.imul(c, 0x01000193), 0x9e3779b1) >>> (32 - WIN_BITS);
  }

  /**
   * The id lookup(b, s, tokenEnd(b, s, e)) returns, when the token at s was
   * remembered by rememberToken from the same 8 bytes; else -1. Sets cur.pos
   * to the token's end. Changes nothing (the names it knows were interned).
   * v: bytesView(b).
   */
  known(b: Uint8Array, v: DataView, s: number, e: number): number {
    if (s + 8 > e) return -1;
    const a = v.getInt32(s), c = v.getInt32(s + 4);
    const h = ReasonCache.winSlot(a, c);
    const len = this.winLen[h];
    if (len < 0 || this.winA[h] !== a || this.winB[h] !== c) return -1;
    // Under 8 bytes, the window holds the token and the blank after it.
    if (len >= 8) {
      const t = s + len;
      if (t > e || (t < e && b[t] !== 32 && b[t] !== 9)) return -1;
      for (let p = s + 8, q = h * WIN_MAX + 8; p < t; p++, q++) if (b[p] !== this.winBytes[q]) return -1;
    }
    cur.pos = s + len;
    return this.winId[h];
  }

  /** lookup(b, s, t) for the token b[s, t) of a line ending at e, remembered for known(). */
  rememberToken(b: Uint8Array, v: DataView, s: number, t: number, e: number): number {
    const id = this.lookup(b as Buffer, s, t);
    const len = t - s;
    if (s + 8 <= e && len > 0 && len <= WIN_MAX) {
      const a = v.getInt32(s), c = v.getInt32(s + 4);
      const h = ReasonCache.winSlot(a, c);
      this.winA[h] = a; this.winB[h] = c; this.winLen[h] = len; this.winId[h] = id;
      for (let p = s, q = h * WIN_MAX; p < t; p++, q++) this.winBytes[q] = b[p];
    }
    return id;
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

