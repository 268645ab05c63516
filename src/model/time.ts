/**
 * Absolute timestamps to exact float64 offsets. The first timestamp of an input
 * becomes its base; every later one is stored as (ts - base) ns, exact while
 * the input spans less than 2^53 ns (104 days) whatever the absolute clock
 * (uptime, TSC, epoch).
 */
export class TimeBase {
  base: bigint | null = null;
  private baseNum = 0;
  /** True while base fits a float64 exactly, so offsets can be taken in float64. */
  private small = true;

  /** Offset for an absolute ns value given as decimal digits; NaN when not a non-negative integer. */
  offsetOfDigits(s: string): number {
    const n = s.length;
    if (n === 0) return NaN;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) return NaN;
    }
    if (n <= 15) return this.offsetOfNumber(+s);
    return this.offsetOfBigInt(BigInt(s));
  }

  /** Offset for an absolute ns value that is a safe integer. */
  offsetOfNumber(v: number): number {
    if (this.base === null) this.setBase(BigInt(v));
    if (this.small) return v - this.baseNum;
    return Number(BigInt(v) - this.base!);
  }

  offsetOfBigInt(v: bigint): number {
    if (this.base === null) this.setBase(v);
    if (this.small && v <= 9007199254740991n) return Number(v) - this.baseNum;
    return Number(v - this.base!);
  }

  private setBase(v: bigint): void {
    this.base = v;
    this.small = v <= 9007199254740991n;
    this.baseNum = this.small ? Number(v) : 0;
  }

  get baseNs(): bigint {
    return this.base ?? 0n;
  }
}

/** Absolute ns as decimal text, exact. */
export function formatAbsNs(base: bigint, offset: number): string {
  if (base <= 9007199254740991n) {
    const v = Number(base) + offset;
    if (Number.isSafeInteger(v)) return String(v);
  }
  return (base + BigInt(offset)).toString();
}
