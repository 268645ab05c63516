/**
 * Open-addressing hash table from fixed-width uint32 tuples to dense ids
 * (0, 1, 2, ... in insertion order). Used to group exits by (rip hi, rip lo,
 * reason, ...) without building a string or object per exit.
 */
export class KeyTable {
  private keys: Uint32Array;
  private slots: Int32Array;
  private mask: number;
  size = 0;

  constructor(readonly width: number, initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity * 2) cap <<= 1;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    this.keys = new Uint32Array(initialCapacity * width);
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
      const o = id * width;
      let eq = true;
      for (let w = 0; w < width; w++) {
        if (this.keys[o + w] !== k[w]) { eq = false; break; }
      }
      if (eq) return id;
      s = (s + 1) & this.mask;
    }
    const id = this.size++;
    if ((id + 1) * width > this.keys.length) {
      // 1.5x: the old and the new array coexist while copying.
      const nk = new Uint32Array(Math.ceil(this.keys.length * 1.5 / width) * width + width);
      nk.set(this.keys);
      this.keys = nk;
    }
    for (let w = 0; w < width; w++) this.keys[id * width + w] = k[w];
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
    const mask = this.mask, slots = this.slots, keys = this.keys;
    let s = (h >>> 0) & mask;
    for (;;) {
      const id = slots[s];
      if (id < 0) break;
      if (keys[2 * id] === a >>> 0 && keys[2 * id + 1] === b >>> 0) return id;
      s = (s + 1) & mask;
    }
    const k = this.pair;
    k[0] = a; k[1] = b;
    return this.intern(k);
  }

  private readonly pair = new Uint32Array(2);

  key(id: number, w: number): number {
    return this.keys[id * this.width + w];
  }

  private rehash(): void {
    const cap = this.slots.length * 2;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    const tmp = new Uint32Array(this.width);
    for (let id = 0; id < this.size; id++) {
      for (let w = 0; w < this.width; w++) tmp[w] = this.keys[id * this.width + w];
      let s = this.hash(tmp) & this.mask;
      while (this.slots[s] >= 0) s = (s + 1) & this.mask;
      this.slots[s] = id;
    }
  }
}
