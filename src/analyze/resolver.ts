/**
 * Guest addresses to row identities while streaming: a function id under the
 * settled KASLR slide, or, for addresses no map resolves, the class they fall
 * in (the roll-up rows), or with `--keep-unknown` (and always without
 * a map) the address itself. Each distinct RIP is resolved once (a typed-array
 * hash of 64-bit keys); every later exit at it costs one lookup.
 *
 * Classes (guest-side facts, not guesses about the host):
 * - [guest user]: below the kernel's start (PAGE_OFFSET 0xc0000000 on a 3G/1G
 *   i386 guest, the canonical lower half below 0x0000800000000000 on x86_64);
 * - [firmware]: real-mode and BIOS code (below 1 MiB, or the BIOS flash alias
 *   just below 4 GiB) — a guest booting or in SMM/firmware calls;
 * - [guest kernel, no symbol]: inside the kernel window but in no map —
 *   typically a module whose map was not given.
 */
import { formatHex, u64ToBigInt } from '../model/u64.js';
import type { Symbolizer } from '../symbols/index.js';
import { KeyTable } from './key-table.js';

export const CLASS_USER = -2;
export const CLASS_KERNEL_NOSYM = -3;
export const CLASS_FIRMWARE = -4;
/** Ids at or above this are addresses kept as their own rows (no map, or --keep-unknown). */
export const ADDRESS_ID_BASE = 1 << 30;

const DM_BITS = 13;
const DM_SIZE = 1 << DM_BITS;
const DM_SHIFT = 32 - DM_BITS;
const DM_EMPTY = -0x7fffffff;

export const CLASS_NAMES: Readonly<Record<number, string>> = {
  [CLASS_USER]: '[guest user]',
  [CLASS_KERNEL_NOSYM]: '[guest kernel, no symbol]',
  [CLASS_FIRMWARE]: '[firmware]',
};

export type AddressKind = 'kernel' | 'user' | 'unresolved';

export interface AddressLabel {
  /** Row text: `name [module]`, a class, or `[unknown] 0x…`. */
  text: string;
  symbol: string;
  module: string | null;
  /** Function start (runtime), or the address itself for unresolved ones; null for classes. */
  start: bigint | null;
  kind: AddressKind;
}

export class AddressResolver {
  private readonly cache = new KeyTable(2, 4096);
  private ids = new Int32Array(4096);
  private readonly key = new Uint32Array(2);
  private readonly userEnd: bigint | null;

  constructor(readonly symbols: Symbolizer | null, readonly keepUnknown: boolean) {
    this.userEnd = symbols && !symbols.empty ? symbols.userSpaceEnd() : null;
  }

  /** Distinct addresses resolved so far. */
  get distinct(): number {
    return this.cache.size;
  }

  private lastHi = -1;
  private lastLo = -1;
  private lastId = 0;

  /** Direct-mapped memo in front of the hash: a hot RIP costs a multiply and two compares. */
  private readonly dmLo = new Int32Array(DM_SIZE);
  private readonly dmHi = new Int32Array(DM_SIZE);
  private readonly dmId = new Int32Array(DM_SIZE).fill(DM_EMPTY);
  private memoChunk: object | null = null;
  private memoIds = new Int32Array(0);
  private memoLen = 0;
  /** The chunk's epoch when memoized: a chunk reused by its reader (ChunkPool) is the same object with other rows. */
  private memoEpoch = -1;

  /** The row ids of every exit of `chunk` (computed once per chunk, shared by the handlers that need them). */
  idsOf(c: { length: number; ripHi: Uint32Array; ripLo: Uint32Array; epoch?: number }): Int32Array {
    if (c === this.memoChunk && c.length === this.memoLen && (c.epoch ?? -1) === this.memoEpoch) return this.memoIds;
    if (this.memoIds.length < c.length) this.memoIds = new Int32Array(Math.max(c.length, 1024));
    const ids = this.memoIds, hi = c.ripHi, lo = c.ripLo;
    for (let i = 0; i < c.length; i++) ids[i] = this.id(hi[i], lo[i]);
    this.memoChunk = c;
    this.memoLen = c.length;
    this.memoEpoch = c.epoch ?? -1;
    return ids;
  }

  /** Id of row i of chunk c (through the per-chunk memo). */
  idAt(c: { length: number; ripHi: Uint32Array; ripLo: Uint32Array; epoch?: number }, i: number): number {
    return (c === this.memoChunk && c.length === this.memoLen && (c.epoch ?? -1) === this.memoEpoch ? this.memoIds : this.idsOf(c))[i];
  }

  id(hi: number, lo: number): number {
    // Runs of one RIP are common (a polling loop, a tick's accesses): one compare instead of a hash.
    if (lo === this.lastLo && hi === this.lastHi) return this.lastId;
    this.lastHi = hi; this.lastLo = lo;
    const d = (Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) >>> DM_SHIFT);
    if (this.dmLo[d] === (lo | 0) && this.dmHi[d] === (hi | 0) && this.dmId[d] !== DM_EMPTY) return (this.lastId = this.dmId[d]);
    const id = this.slowId(hi, lo);
    this.dmLo[d] = lo; this.dmHi[d] = hi; this.dmId[d] = id;
    return (this.lastId = id);
  }

  private slowId(hi: number, lo: number): number {
    const k = this.key;
    k[0] = hi; k[1] = lo;
    const n = this.cache.size;
    const slot = this.cache.intern(k);
    if (slot < n) return this.ids[slot];
    if (slot >= this.ids.length) {
      const b = new Int32Array(this.ids.length * 2);
      b.set(this.ids);
      this.ids = b;
    }
    const id = this.resolve(hi, lo, slot);
    this.ids[slot] = id;
    return id;
  }

  /**
   * An address kept as its own row is numbered by its slot in the cache, which holds its bytes already (a second table
   * of them was 32 MB more at 2M distinct addresses: issue 11's bound). Slots are in first-seen order, as before.
   */
  private resolve(hi: number, lo: number, slot: number): number {
    const s = this.symbols;
    const addr = u64ToBigInt(hi, lo);
    if (s && !s.empty) {
      const f = s.functionId(addr);
      if (f >= 0) return f;
      if (!this.keepUnknown) {
        if (addr < 0x100000n || (addr >= 0xfffc0000n && addr < 0x100000000n)) return CLASS_FIRMWARE;
        if (this.userEnd !== null && addr < this.userEnd) return CLASS_USER;
        return CLASS_KERNEL_NOSYM;
      }
    }
    return ADDRESS_ID_BASE + slot;
  }

  label(id: number): AddressLabel {
    if (id >= ADDRESS_ID_BASE) {
      const k = id - ADDRESS_ID_BASE;
      const a = u64ToBigInt(this.cache.key(k, 0), this.cache.key(k, 1));
      return { text: `[unknown] ${formatHex(a)}`, symbol: '[unknown]', module: null, start: a, kind: this.kindOf(a) };
    }
    if (id < 0) return { text: CLASS_NAMES[id], symbol: CLASS_NAMES[id], module: null, start: null, kind: id === CLASS_USER ? 'user' : 'unresolved' };
    const f = this.symbols!.functionById(id);
    return { text: f.module ? `${f.name} [${f.module}]` : f.name, symbol: f.name, module: f.module || null, start: f.start, kind: 'kernel' };
  }

  /** Whether an id is a resolved function (kernel), a user-space class or unresolved. */
  kindOfId(id: number): AddressKind {
    if (id >= 0 && id < ADDRESS_ID_BASE) return 'kernel';
    if (id === CLASS_USER) return 'user';
    if (id >= ADDRESS_ID_BASE) return this.kindOf(u64ToBigInt(this.cache.key(id - ADDRESS_ID_BASE, 0), this.cache.key(id - ADDRESS_ID_BASE, 1)));
    return 'unresolved';
  }

  private kindOf(a: bigint): AddressKind {
    return this.userEnd !== null && a < this.userEnd && a >= 0x100000n ? 'user' : 'unresolved';
  }
}
