/** mulberry32: a small, fast, seedable PRNG; same seed, same trace. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed ^ 0x9e3779b9) >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** mean * (1 ± spread), triangular-ish (sum of two uniforms), mean preserved. */
  around(mean: number, spread: number): number {
    return mean * (1 + spread * (this.next() + this.next() - 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}
