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
      const nk = new Uint32Array(this.keys.length * 2);
      nk.set(this.keys);
      this.keys = nk;
    }
    for (let w = 0; w < width; w++) this.keys[id * width + w] = k[w];
    this.slots[s] = id;
    if (this.size * 2 > this.slots.length) this.rehash();
    return id;
  }

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
