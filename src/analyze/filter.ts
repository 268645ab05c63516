/**
 * Which exits an analysis looks at: `--reason` (names, aliases, codes; `!NAME`
 * or `--exclude-reason` to leave out), `--vcpu`. Reason ids are interned as
 * readers meet them, so the reason test is a memo per id, decided on first
 * sight. A census of the unfiltered exits lets a filter that matches nothing
 * say what the trace does hold.
 */
import type { ExitChunk } from '../model/chunk.js';
import { ExitscopeError } from '../model/errors.js';
import { REASONS } from '../model/reasons.js';

export class ReasonFilter {
  private memo = new Int8Array(64);
  readonly include: string[];
  readonly exclude: string[];

  constructor(words: readonly string[], excludeWords: readonly string[] = []) {
    this.include = [];
    this.exclude = [...excludeWords];
    for (const w of words) (w.startsWith('!') ? this.exclude : this.include).push(w.startsWith('!') ? w.slice(1) : w);
    for (const w of [...this.include, ...this.exclude]) {
      if (!REASONS.isReasonWord(w)) throw new ExitscopeError(`--reason: '${w}' names no exit reason (VMX like IO_INSTRUCTION, HLT, MSR_WRITE; SVM like io, npf, msr; libtraceevent like PENDING_INTERRUPT, EXIT_IOIO; or a numeric code)`);
    }
  }

  get active(): boolean {
    return this.include.length > 0 || this.exclude.length > 0;
  }

  accepts(id: number): boolean {
    if (id >= this.memo.length) {
      const m = new Int8Array(Math.max(id + 1, this.memo.length * 2));
      m.set(this.memo);
      this.memo = m;
    }
    let v = this.memo[id];
    if (v === 0) {
      const inc = this.include.length === 0 || this.include.some((w) => REASONS.matches(id, w));
      const exc = this.exclude.some((w) => REASONS.matches(id, w));
      v = inc && !exc ? 1 : -1;
      this.memo[id] = v;
    }
    return v === 1;
  }
}

export interface ExitFilter {
  reasons: ReasonFilter | null;
  /** Vcpus to keep, or null for all. */
  vcpus: ReadonlySet<number> | null;
}

export const NO_FILTER: ExitFilter = { reasons: null, vcpus: null };

/** Exits per reason id and per vcpu before filtering (dense counters: ids and vcpu numbers are small). */
export class Census {
  private byReason: Float64Array<ArrayBuffer> = new Float64Array(64);
  private byVcpu: Float64Array<ArrayBuffer> = new Float64Array(64);
  /** Vcpu numbers too large for the dense array (a corrupt or synthetic trace). */
  private readonly farVcpus = new Map<number, number>();

  count(c: ExitChunk): void {
    let byReason = this.byReason, byVcpu = this.byVcpu;
    for (let i = 0; i < c.length; i++) {
      const r = c.reason[i], v = c.vcpu[i];
      if (r >= byReason.length) byReason = this.byReason = grow(byReason, r);
      byReason[r]++;
      if (v < byVcpu.length) byVcpu[v]++;
      else if (v < 65536) { byVcpu = this.byVcpu = grow(byVcpu, v); byVcpu[v]++; }
      else this.farVcpus.set(v, (this.farVcpus.get(v) ?? 0) + 1);
    }
  }

  get reasons(): Map<number, number> {
    const m = new Map<number, number>();
    this.byReason.forEach((n, id) => { if (n) m.set(id, n); });
    return m;
  }

  get vcpus(): Map<number, number> {
    const m = new Map<number, number>();
    this.byVcpu.forEach((n, v) => { if (n) m.set(v, n); });
    for (const [v, n] of this.farVcpus) m.set(v, n);
    return m;
  }

  /** Throws when a filter word matched no exit of the trace, naming what the trace holds. */
  check(filter: ExitFilter): void {
    const present = [...this.reasons.keys()];
    const vcpus = this.vcpus;
    const names = present.map((id) => REASONS.get(id).name);
    if (filter.reasons) {
      for (const w of filter.reasons.include) {
        if (!present.some((id) => REASONS.matches(id, w))) throw new ExitscopeError(`--reason ${w}: no such exit in this trace (reasons present: ${names.join(', ') || 'none'})`);
      }
    }
    if (filter.vcpus) {
      const have = [...vcpus.keys()].sort((a, b) => a - b);
      for (const v of filter.vcpus) if (!vcpus.has(v)) throw new ExitscopeError(`--vcpu ${v}: no exits of vcpu ${v} in this trace (vcpus present: ${have.join(', ') || 'none'})`);
    }
  }
}

export function selectRows(chunk: ExitChunk, filter: ExitFilter, sel: Uint32Array): number {
  let n = 0;
  const { reasons, vcpus } = filter;
  if (reasons === null && vcpus === null) {
    for (let i = 0; i < chunk.length; i++) sel[i] = i;
    return chunk.length;
  }
  for (let i = 0; i < chunk.length; i++) {
    if (reasons !== null && !reasons.accepts(chunk.reason[i])) continue;
    if (vcpus !== null && !vcpus.has(chunk.vcpu[i])) continue;
    sel[n++] = i;
  }
  return n;
}

function grow(a: Float64Array, need: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(Math.max(need + 1, a.length * 2));
  b.set(a);
  return b;
}
