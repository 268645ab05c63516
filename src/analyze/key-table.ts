/**
 * Open-addressing hash table from fixed-width uint32 tuples to dense ids
 * (0, 1, 2, ... in insertion order). Used to group exits by (rip hi, rip lo,
 * reason, ...) without building a string or object per exit.
 *
 * The tuples are kept in pages of 2^16 ids: the table grows by adding a page,
 * never by copying every tuple into a larger array (with 2M distinct keys the
 * old and the new array of a 1.5x growth were 40 MB at once, where RSS peaked;
 * issue 11 bounds memory at 2M distinct RIPs). The first page starts at the
 * initial capacity and doubles up to a whole page, so small tables stay small.
 */
const PAGE_BITS = 16;
const PAGE_IDS = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_IDS - 1;

export class KeyTable {
  private readonly pages: Uint32Array[];
  private slots: Int32Array;
  private mask: number;
  size = 0;

  constructor(readonly width: number, initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity * 2) cap <<= 1;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    this.pages = [new Uint32Array(Math.min(Math.max(1, initialCapacity), PAGE_IDS) * width)];
  }

  private hash(k: ArrayLike<number>): number {
    let h = 0x811c9dc5 | 0;
    for (let w = 0; w < this.width; w++) {
      h = Math.imul(h ^ k[w], 0x01000193);
      h ^= h >>> 15;
    }
    return h >>> 0;
  }

  /** Id of the tuple `k`, inserting it when new. */
  intern(k: ArrayLike<number>): number {
    const width = this.width;
    let s = this.hash(k) & this.mask;
    for (;;) {
      const id = this.slots[s];
      if (id < 0) break;
      const page = this.pages[id >>> PAGE_BITS];
      const o = (id & PAGE_MASK) * width;
      let eq = true;
      for (let w = 0; w < width; w++) {
        if (page[o + w] !== k[w]) { eq = false; break; }
      }
      if (eq) return id;
      s = (s + 1) & this.mask;
    }
    const id = this.size++;
    const p = id >>> PAGE_BITS, o = (id & PAGE_MASK) * width;
    if (p === this.pages.length) this.pages.push(new Uint32Array(PAGE_IDS * width));
    else if (o + width > this.pages[p].length) {
      // Only the first page grows by copying, and only up to a whole page.
      const nk = new Uint32Array(Math.min(this.pages[p].length * 2, PAGE_IDS * width));
      nk.set(this.pages[p]);
      this.pages[p] = nk;
    }
    const page = this.pages[p];
    for (let w = 0; w < width; w++) page[o + w] = k[w];
    this.slots[s] = id;
    if (this.size * 2 > this.slots.length) this.rehash();
    return id;
  }

  /** intern() for a two-word table without the tuple loop (the common function x reason cell). */
  intern2(a: number, b: number): number {
    let h = Math.imul(0x811c9dc5 ^ a, 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h ^ b, 0x01000193);
    h ^= h >>> 15;
    const mask = this.mask, slots = this.slots, pages = this.pages;
    let s = (h >>> 0) & mask;
    for (;;) {
      const id = slots[s];
      if (id < 0) break;
      const page = pages[id >>> PAGE_BITS], o = (id & PAGE_MASK) << 1;
      if (page[o] === a >>> 0 && page[o + 1] === b >>> 0) return id;
      s = (s + 1) & mask;
    }
    const k = this.pair;
    k[0] = a; k[1] = b;
    return this.intern(k);
  }

  private readonly pair = new Uint32Array(2);

  key(id: number, w: number): number {
    return this.pages[id >>> PAGE_BITS][(id & PAGE_MASK) * this.width + w];
  }

  private rehash(): void {
    const cap = this.slots.length * 2;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    const tmp = new Uint32Array(this.width);
    for (let id = 0; id < this.size; id++) {
      const page = this.pages[id >>> PAGE_BITS], o = (id & PAGE_MASK) * this.width;
      for (let w = 0; w < this.width; w++) tmp[w] = page[o + w];
      let s = this.hash(tmp) & this.mask;
      while (this.slots[s] >= 0) s = (s + 1) & this.mask;
      this.slots[s] = id;
    }
  }
}
