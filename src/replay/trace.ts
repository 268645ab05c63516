/**
 * The trace a replay works on: every vcpu's exits as one columnar chunk in
 * time order (a vcpu's exits are sequential, so this is the order a pass
 * reasons in: "the next exit on this vcpu"). Memory is proportional to the
 * trace; aggregations elsewhere stay streaming.
 */
import { ExitChunk, type OptionalColumn } from '../model/chunk.js';
import type { ExitTrace } from '../model/chunk.js';

/**
 * Chunks of traces a caller is done with (ReplayTrace.release), for the next
 * derive of the same family: estimate drops each pass's input once the next
 * trace is built, advise each candidate's trace once it is compared, and
 * allocating (zeroing) and collecting a trace's columns per pass cost as much
 * as the pass. Every row a pass writes sets every column (copyRow, copyRows,
 * push), so a recycled chunk needs no clearing.
 */
class Recycler {
  private readonly free: ExitChunk[] = [];

  take(rows: number, tsBaseNs: bigint): ExitChunk {
    let best = -1;
    for (let k = 0; k < this.free.length; k++) {
      const cap = this.free[k].capacity;
      if (cap >= rows && (best < 0 || cap < this.free[best].capacity)) best = k;
    }
    if (best < 0) return new ExitChunk(rows, tsBaseNs);
    const c = this.free[best];
    this.free[best] = this.free[this.free.length - 1];
    this.free.pop();
    c.length = 0;
    c.epoch++;
    c.tsBaseNs = tsBaseNs;
    return c;
  }

  put(c: ExitChunk): void {
    // A family holds a few traces of one trace's size: more free chunks than that would only pin memory.
    if (this.free.length < 64) this.free.push(c);
  }
}

export class ReplayTrace {
  private released = false;

  constructor(readonly tsBaseNs: bigint, readonly vcpus: Map<number, ExitChunk>, readonly columns: ReadonlySet<OptionalColumn>, private readonly recycler = new Recycler()) {}

  static from(trace: ExitTrace): ReplayTrace {
    const counts = new Map<number, number>();
    for (const c of trace.chunks) for (let i = 0; i < c.length; i++) counts.set(c.vcpu[i], (counts.get(c.vcpu[i]) ?? 0) + 1);
    const vcpus = new Map<number, ExitChunk>();
    for (const [v, n] of [...counts.entries()].sort((a, b) => a[0] - b[0])) vcpus.set(v, new ExitChunk(Math.max(n, 1), trace.tsBaseNs));
    // Runs of one vcpu's exits go over a column at a time.
    for (const c of trace.chunks) {
      let i = 0;
      while (i < c.length) {
        const v = c.vcpu[i];
        let j = i + 1;
        while (j < c.length && c.vcpu[j] === v) j++;
        if (j - i > 8) vcpus.get(v)!.copyRows(c, i, j);
        else { const out = vcpus.get(v)!; for (let k = i; k < j; k++) out.copyRow(c, k); }
        i = j;
      }
    }
    for (const [v, c] of vcpus) vcpus.set(v, sortByTime(c));
    return new ReplayTrace(trace.tsBaseNs, vcpus, trace.columns);
  }

  get length(): number {
    let n = 0;
    for (const c of this.vcpus.values()) n += c.length;
    return n;
  }

  /** A new trace with the same base and columns, built vcpu by vcpu. */
  derive(build: (vcpu: number, src: ExitChunk, out: ExitChunk) => void, extraRows = (n: number) => n): ReplayTrace {
    if (this.released) throw new Error('ReplayTrace used after release');
    const vcpus = new Map<number, ExitChunk>();
    for (const [v, src] of this.vcpus) {
      const out = this.recycler.take(Math.max(1, extraRows(src.length)), this.tsBaseNs);
      build(v, src, out);
      vcpus.set(v, out);
    }
    return new ReplayTrace(this.tsBaseNs, vcpus, this.columns, this.recycler);
  }

  /**
   * The caller is done with this trace: its chunks go to the next derive of
   * the family. The trace is empty afterwards, and deriving from it throws.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const c of this.vcpus.values()) this.recycler.put(c);
    this.vcpus.clear();
  }

  /** All exits in time order, as chunks (for `replay -o`). */
  *chunks(rows = 1 << 16): Generator<ExitChunk> {
    const list = [...this.vcpus.values()];
    const pos = list.map(() => 0);
    let out = new ExitChunk(rows, this.tsBaseNs);
    for (;;) {
      let best = -1;
      for (let k = 0; k < list.length; k++) if (pos[k] < list[k].length && (best < 0 || list[k].ts[pos[k]] < list[best].ts[pos[best]])) best = k;
      if (best < 0) break;
      out.copyRow(list[best], pos[best]++);
      if (out.full) { yield out; out = new ExitChunk(rows, this.tsBaseNs); }
    }
    if (out.length) yield out;
  }
}

function sortByTime(c: ExitChunk): ExitChunk {
  let sorted = true;
  for (let i = 1; i < c.length; i++) if (c.ts[i] < c.ts[i - 1]) { sorted = false; break; }
  if (sorted) return c;
  const idx = Array.from({ length: c.length }, (_, i) => i).sort((a, b) => c.ts[a] - c.ts[b] || a - b);
  const out = new ExitChunk(c.capacity, c.tsBaseNs);
  for (const i of idx) out.copyRow(c, i);
  return out;
}

/** Guest time (plus hardware transition) between row i's entry and row i+1's exit. */
export function gapAfter(c: ExitChunk, i: number): number {
  if (i + 1 >= c.length) return NaN;
  const d = c.dur[i];
  return c.ts[i + 1] - (c.ts[i] + (d === d ? d : 0));
}
