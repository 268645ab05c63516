/**
 * Symbols as columns (no object or string per symbol): a 200,000-symbol
 * System.map parses in tens of milliseconds, and names are decoded only for
 * the functions a trace actually lands in.
 */
import type { RawSymbol } from './types.js';

export interface SymbolColumns {
  n: number;
  /** Address halves. */
  hi: Uint32Array;
  lo: Uint32Array;
  /** Size from an ELF symtab or `nm -S`; -1 when the map does not say. */
  size: Float64Array;
  /** 1 for executable (text) symbols: only these resolve guest RIPs. */
  text: Uint8Array;
  /** Name bytes: names.subarray(nameStart[i], nameEnd[i]). */
  names: Buffer;
  nameStart: Int32Array;
  nameEnd: Int32Array;
  /** Index into `modules`; 0 is the core kernel (''). */
  module: Int32Array;
  modules: string[];
}

export function nameOf(c: SymbolColumns, i: number): string {
  return c.names.toString('latin1', c.nameStart[i], c.nameEnd[i]);
}

export function columnsFromRaw(raw: readonly RawSymbol[]): SymbolColumns {
  const n = raw.length;
  const parts: Buffer[] = [];
  let off = 0;
  const modIndex = new Map<string, number>([['', 0]]);
  const c: SymbolColumns = {
    n, hi: new Uint32Array(n), lo: new Uint32Array(n), size: new Float64Array(n), text: new Uint8Array(n),
    names: Buffer.alloc(0), nameStart: new Int32Array(n), nameEnd: new Int32Array(n), module: new Int32Array(n), modules: [''],
  };
  raw.forEach((s, i) => {
    c.hi[i] = Number((s.start >> 32n) & 0xffffffffn);
    c.lo[i] = Number(s.start & 0xffffffffn);
    c.size[i] = s.size === null ? -1 : Number(s.size);
    c.text[i] = s.text ? 1 : 0;
    const b = Buffer.from(s.name, 'latin1');
    parts.push(b);
    c.nameStart[i] = off;
    off += b.length;
    c.nameEnd[i] = off;
    let m = modIndex.get(s.module);
    if (m === undefined) { m = c.modules.length; c.modules.push(s.module); modIndex.set(s.module, m); }
    c.module[i] = m;
  });
  c.names = Buffer.concat(parts);
  return c;
}

export function rawFromColumns(c: SymbolColumns): RawSymbol[] {
  const out: RawSymbol[] = [];
  for (let i = 0; i < c.n; i++) {
    out.push({ name: nameOf(c, i), module: c.modules[c.module[i]], start: (BigInt(c.hi[i]) << 32n) | BigInt(c.lo[i]), size: c.size[i] < 0 ? null : BigInt(c.size[i]), text: c.text[i] === 1 });
  }
  return out;
}

/** Moves every address by `delta` (exact 64-bit arithmetic on the halves). */
export function shiftColumns(c: SymbolColumns, delta: bigint): void {
  const m = (1n << 64n) - 1n;
  for (let i = 0; i < c.n; i++) {
    const a = (((BigInt(c.hi[i]) << 32n) | BigInt(c.lo[i])) + delta) & m;
    c.hi[i] = Number(a >> 32n);
    c.lo[i] = Number(a & 0xffffffffn);
  }
}

/** Address of symbol i. */
export function addrOf(c: SymbolColumns, i: number): bigint {
  return (BigInt(c.hi[i]) << 32n) | BigInt(c.lo[i]);
}
