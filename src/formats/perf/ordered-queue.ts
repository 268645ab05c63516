/**
 * Samples sorted by time before they are paired, with perf's ordered-events
 * semantics (tools/perf/util/ordered-events.c, session.c): samples are
 * queued; at each PERF_RECORD_FINISHED_ROUND the ones not later than the
 * newest time seen at the previous round are delivered in time order
 * (arrival order for equal times), since perf record guarantees nothing
 * crosses two rounds; a sample older than the last delivered time is
 * delivered at once (perf's "timestamp below last timeslice flush"); the rest
 * at the end. A file without rounds would queue everything, so the queue is
 * also bounded: past MAX_QUEUED samples the oldest half is delivered (a
 * bounded reorder window), and that is counted.
 *
 * Storage is columnar (typed arrays plus one byte arena for the raw payloads):
 * no object per sample.
 */

export const MAX_QUEUED = 1 << 17;

export interface QueuedSample {
  ts: number;
  cpu: number;
  pid: number;
  tid: number;
  /** Caller's tag (the event kind). */
  kind: number;
  /** File offset of the record it came from (for messages). */
  at: number;
  data: Uint8Array;
  dv: DataView;
  pos: number;
  len: number;
}

export class OrderedQueue {
  private n = 0;
  private cap = 1024;
  private ts = new Float64Array(this.cap);
  private cpu = new Int32Array(this.cap);
  private pid = new Int32Array(this.cap);
  private tid = new Int32Array(this.cap);
  private kind = new Int32Array(this.cap);
  private off = new Int32Array(this.cap);
  private len = new Int32Array(this.cap);
  private at = new Float64Array(this.cap);
  private arena = new Uint8Array(1 << 16);
  private arenaUsed = 0;
  private maxTs = -Infinity;
  private nextFlush = -Infinity;
  private lastFlushed = -Infinity;
  /** Times the bounded window had to deliver early. */
  forced = 0;
  private readonly out: QueuedSample;

  constructor(private readonly deliver: (s: QueuedSample) => void) {
    this.out = { ts: 0, cpu: 0, pid: 0, tid: 0, kind: 0, at: 0, data: this.arena, dv: new DataView(this.arena.buffer), pos: 0, len: 0 };
  }

  get size(): number {
    return this.n;
  }

  private grow(): void {
    const cap = this.cap * 2;
    const g = <T extends Float64Array | Int32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a);
      return b;
    };
    this.ts = g(this.ts); this.cpu = g(this.cpu); this.pid = g(this.pid); this.tid = g(this.tid);
    this.kind = g(this.kind); this.off = g(this.off); this.len = g(this.len); this.at = g(this.at);
    this.cap = cap;
  }

  private emitDirect(ts: number, cpu: number, pid: number, tid: number, kind: number, at: number, data: Uint8Array, pos: number, len: number): void {
    const o = this.out;
    o.ts = ts; o.cpu = cpu; o.pid = pid; o.tid = tid; o.kind = kind; o.at = at;
    o.data = data; o.dv = new DataView(data.buffer, data.byteOffset, data.byteLength); o.pos = pos; o.len = len;
    this.deliver(o);
  }

  push(ts: number, cpu: number, pid: number, tid: number, kind: number, at: number, data: Uint8Array, pos: number, len: number): void {
    if (ts < this.lastFlushed) { this.emitDirect(ts, cpu, pid, tid, kind, at, data, pos, len); return; }
    if (this.n >= this.cap) this.grow();
    if (this.arenaUsed + len > this.arena.length) {
      const a = new Uint8Array(Math.max(this.arena.length * 2, this.arenaUsed + len));
      a.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = a;
    }
    this.arena.set(data.subarray(pos, pos + len), this.arenaUsed);
    const i = this.n++;
    this.ts[i] = ts; this.cpu[i] = cpu; this.pid[i] = pid; this.tid[i] = tid; this.kind[i] = kind;
    this.off[i] = this.arenaUsed; this.len[i] = len; this.at[i] = at;
    this.arenaUsed += len;
    if (ts > this.maxTs) this.maxTs = ts;
    if (this.n >= MAX_QUEUED) {
      this.forced++;
      const order = this.order();
      this.flushOrdered(order.slice(0, order.length >> 1), order);
    }
  }

  /** PERF_RECORD_FINISHED_ROUND. */
  round(): void {
    this.flushUpTo(this.nextFlush);
    this.nextFlush = this.maxTs;
  }

  /** End of input: everything. */
  finish(): void {
    this.flushUpTo(Infinity);
  }

  private order(): number[] {
    const idx: number[] = new Array(this.n);
    for (let i = 0; i < this.n; i++) idx[i] = i;
    const ts = this.ts;
    idx.sort((a, b) => ts[a] - ts[b] || a - b);
    return idx;
  }

  private flushUpTo(limit: number): void {
    if (this.n === 0) return;
    const order = this.order();
    let k = 0;
    while (k < order.length && this.ts[order[k]] <= limit) k++;
    if (k === 0) return;
    this.flushOrdered(order.slice(0, k), order);
  }

  /** Delivers `sel` (a time-ordered prefix of `order`), keeps the rest in arrival order. */
  private flushOrdered(sel: number[], order: number[]): void {
    const o = this.out;
    o.data = this.arena;
    o.dv = new DataView(this.arena.buffer, this.arena.byteOffset, this.arena.byteLength);
    for (const i of sel) {
      o.ts = this.ts[i]; o.cpu = this.cpu[i]; o.pid = this.pid[i]; o.tid = this.tid[i]; o.kind = this.kind[i];
      o.pos = this.off[i]; o.len = this.len[i]; o.at = this.at[i];
      this.deliver(o);
      this.lastFlushed = this.ts[i];
    }
    // Compact the rest, in arrival order.
    // In place: kept samples move towards the front in arrival order (their
    // payloads were appended in that order, so a destination never passes its source).
    const keep = order.slice(sel.length).sort((a, b) => a - b);
    const arena = this.arena;
    let used = 0, j = 0;
    for (const i of keep) {
      arena.copyWithin(used, this.off[i], this.off[i] + this.len[i]);
      this.ts[j] = this.ts[i]; this.cpu[j] = this.cpu[i]; this.pid[j] = this.pid[i]; this.tid[j] = this.tid[i];
      this.kind[j] = this.kind[i]; this.off[j] = used; this.len[j] = this.len[i]; this.at[j] = this.at[i];
      used += this.len[i];
      j++;
    }
    this.arena = arena;
    this.arenaUsed = used;
    this.n = j;
  }
}
