/**
 * The columnar exit trace. A trace is a sequence of ExitChunks, each a struct of
 * typed-array columns filled by a reader while it streams (Arrow-style: no
 * object per exit). Readers hand chunks to consumers as they fill, so an
 * aggregation holds one chunk at a time; only an in-memory ExitTrace keeps them.
 *
 * Timestamps are nanoseconds relative to `tsBaseNs` (a bigint, the trace's first
 * timestamp): offsets stay exact in a float64 for any trace shorter than 104
 * days even when absolute stamps (TSC counts, epoch ns) exceed 2^53.
 */

/**
 * Optional columns. `vm` identifies the guest an exit belongs to within one
 * input: the QEMU process id (tgid) where the trace gives it, else a small
 * number the reader assigns (0 when the input holds one guest).
 */
export const OPTIONAL_COLUMNS = ['port', 'size', 'dir', 'value', 'gpa', 'msr', 'caller', 'vm'] as const;
export type OptionalColumn = (typeof OPTIONAL_COLUMNS)[number];

/** Bits of the `flags` column. */
export const F_PORT = 1;
export const F_SIZE = 2;
export const F_VALUE = 4;
export const F_GPA = 8;
export const F_MSR = 16;
export const F_CALLER = 32;
/** The exit has no matching entry (end of trace, lost events): duration unknown. */
export const F_UNPAIRED = 64;
/** VM entry failed after this exit (`FAILED_VMENTRY`). */
export const F_FAILED_ENTRY = 128;
/** The exit went on to userspace (kvm_userspace_exit: QEMU's device model handled it). */
export const F_USERSPACE = 256;

/** `dir` column values. */
export const DIR_NONE = 0;
export const DIR_READ = 1;
export const DIR_WRITE = 2;

export const DEFAULT_CHUNK_ROWS = 1 << 16;

export class ExitChunk {
  length = 0;
  readonly capacity: number;
  /** Absolute ns of offset 0 for every chunk of one input. */
  tsBaseNs: bigint;
  readonly ts: Float64Array;
  readonly vcpu: Int32Array;
  readonly reason: Uint16Array;
  readonly ripHi: Uint32Array;
  readonly ripLo: Uint32Array;
  /** Exit duration (exit to next entry of the same vcpu), ns; NaN when unknown. */
  readonly dur: Float64Array;
  readonly flags: Uint16Array;
  readonly port: Uint16Array;
  readonly size: Uint8Array;
  readonly dir: Uint8Array;
  readonly valHi: Uint32Array;
  readonly valLo: Uint32Array;
  readonly gpaHi: Uint32Array;
  readonly gpaLo: Uint32Array;
  readonly msr: Uint32Array;
  readonly callerHi: Uint32Array;
  readonly callerLo: Uint32Array;
  readonly vm: Int32Array;

  /**
   * A chunk of `capacity` rows. `storage` 'shared' puts the columns on SharedArrayBuffers (a parse worker's output: posted
   * to the main thread without a transfer, see `buffers`); an array of buffers wraps those (`buffers()` of a chunk with
   * this capacity, as received from another thread). Every chunk is built here, so all have one shape for the compiler.
   */
  constructor(capacity = DEFAULT_CHUNK_ROWS, tsBaseNs = 0n, storage?: 'shared' | readonly ArrayBufferLike[]) {
    this.capacity = capacity;
    this.tsBaseNs = tsBaseNs;
    let k = 0;
    const buf = (bytesPerRow: number): ArrayBufferLike => {
      if (Array.isArray(storage)) return storage[k++];
      return storage === 'shared' ? new SharedArrayBuffer(capacity * bytesPerRow) : new ArrayBuffer(capacity * bytesPerRow);
    };
    this.ts = new Float64Array(buf(8));
    this.vcpu = new Int32Array(buf(4));
    this.reason = new Uint16Array(buf(2));
    this.ripHi = new Uint32Array(buf(4));
    this.ripLo = new Uint32Array(buf(4));
    this.dur = new Float64Array(buf(8));
    this.flags = new Uint16Array(buf(2));
    this.port = new Uint16Array(buf(2));
    this.size = new Uint8Array(buf(1));
    this.dir = new Uint8Array(buf(1));
    this.valHi = new Uint32Array(buf(4));
    this.valLo = new Uint32Array(buf(4));
    this.gpaHi = new Uint32Array(buf(4));
    this.gpaLo = new Uint32Array(buf(4));
    this.msr = new Uint32Array(buf(4));
    this.callerHi = new Uint32Array(buf(4));
    this.callerLo = new Uint32Array(buf(4));
    this.vm = new Int32Array(buf(4));
  }

  /**
   * The column buffers, in constructor order: SharedArrayBuffers for a chunk made 'shared', which another thread reads
   * without a transfer. (Transferring detaches the sender's buffers, and one detached ArrayBuffer makes V8 check every
   * typed-array access of that thread from then on: measured 1.5x slower byte and column loops.)
   */
  buffers(): ArrayBufferLike[] {
    return [this.ts, this.vcpu, this.reason, this.ripHi, this.ripLo, this.dur, this.flags, this.port, this.size, this.dir, this.valHi, this.valLo, this.gpaHi, this.gpaLo, this.msr, this.callerHi, this.callerLo, this.vm].map((a) => a.buffer);
  }

  /** A chunk over another thread's buffers (`buffers()` of one with this capacity). */
  static fromBuffers(b: readonly ArrayBufferLike[], capacity: number, length: number, tsBaseNs: bigint): ExitChunk {
    const c = new ExitChunk(capacity, tsBaseNs, b);
    c.length = length;
    return c;
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  /**
   * Bumped each time the chunk is cleared for reuse (ChunkPool): a cache keyed
   * by a chunk compares it too, since a reused chunk is the same object with
   * other rows.
   */
  epoch = 0;

  /** Empty again, every column zero (as a new chunk's: readers skip storing absent optional fields). */
  reuse(): this {
    this.length = 0;
    this.epoch++;
    this.tsBaseNs = 0n;
    for (const a of [this.ts, this.vcpu, this.reason, this.ripHi, this.ripLo, this.dur, this.flags, this.port, this.size, this.dir, this.valHi, this.valLo, this.gpaHi, this.gpaLo, this.msr, this.callerHi, this.callerLo, this.vm]) a.fill(0);
    return this;
  }

  /**
   * Starts a row with the required fields and clears the optional ones; returns
   * its index. Callers set optional columns and OR their flag bits afterwards.
   */
  push(ts: number, vcpu: number, reason: number, ripHi: number, ripLo: number, dur: number): number {
    const i = this.length++;
    this.ts[i] = ts;
    this.vcpu[i] = vcpu;
    this.reason[i] = reason;
    this.ripHi[i] = ripHi;
    this.ripLo[i] = ripLo;
    this.dur[i] = dur;
    this.flags[i] = 0;
    this.dir[i] = DIR_NONE;
    // Rows are reused (emulator buffers, pending exits): clear what a flag would vouch for.
    this.port[i] = 0; this.size[i] = 0;
    this.valHi[i] = 0; this.valLo[i] = 0;
    this.gpaHi[i] = 0; this.gpaLo[i] = 0;
    this.msr[i] = 0;
    this.callerHi[i] = 0; this.callerLo[i] = 0;
    this.vm[i] = 0;
    return i;
  }

  /** Appends a row with every column set (the readers' one way in). */
  pushRow(ts: number, vcpu: number, reason: number, ripHi: number, ripLo: number, dur: number, flags: number, port: number, size: number, dir: number,
    valHi: number, valLo: number, gpaHi: number, gpaLo: number, msr: number, callerHi: number, callerLo: number, vm = 0): number {
    const i = this.length++;
    this.ts[i] = ts; this.vcpu[i] = vcpu; this.reason[i] = reason; this.ripHi[i] = ripHi; this.ripLo[i] = ripLo; this.dur[i] = dur;
    this.flags[i] = flags;
    this.port[i] = port; this.size[i] = size; this.dir[i] = dir;
    this.valHi[i] = valHi; this.valLo[i] = valLo;
    this.gpaHi[i] = gpaHi; this.gpaLo[i] = gpaLo;
    this.msr[i] = msr;
    this.callerHi[i] = callerHi; this.callerLo[i] = callerLo;
    this.vm[i] = vm;
    return i;
  }

  /** Copies row `j` of `src` to the end of this chunk (offsets rebased if bases differ). */
  copyRow(src: ExitChunk, j: number): number {
    const i = this.length++;
    this.ts[i] = src.tsBaseNs === this.tsBaseNs ? src.ts[j] : src.ts[j] + Number(src.tsBaseNs - this.tsBaseNs);
    this.vcpu[i] = src.vcpu[j]; this.reason[i] = src.reason[j]; this.ripHi[i] = src.ripHi[j]; this.ripLo[i] = src.ripLo[j]; this.dur[i] = src.dur[j];
    this.flags[i] = src.flags[j]; this.port[i] = src.port[j]; this.size[i] = src.size[j]; this.dir[i] = src.dir[j];
    this.valHi[i] = src.valHi[j]; this.valLo[i] = src.valLo[j]; this.gpaHi[i] = src.gpaHi[j]; this.gpaLo[i] = src.gpaLo[j];
    this.msr[i] = src.msr[j]; this.callerHi[i] = src.callerHi[j]; this.callerLo[i] = src.callerLo[j]; this.vm[i] = src.vm[j];
    return i;
  }

  /** copyRows for a few rows: a row at a time, the base compared once (passes that keep short runs between removed rows). */
  private copyShort(src: ExitChunk, from: number, to: number): void {
    let i = this.length;
    this.length += to - from;
    const ts = this.ts, sts = src.ts;
    if (src.tsBaseNs === this.tsBaseNs) for (let j = from, k = i; j < to; j++, k++) ts[k] = sts[j];
    else { const shift = Number(src.tsBaseNs - this.tsBaseNs); for (let j = from, k = i; j < to; j++, k++) ts[k] = sts[j] + shift; }
    const vcpu = this.vcpu, reason = this.reason, ripHi = this.ripHi, ripLo = this.ripLo, dur = this.dur, flags = this.flags, port = this.port, size = this.size, dir = this.dir;
    const valHi = this.valHi, valLo = this.valLo, gpaHi = this.gpaHi, gpaLo = this.gpaLo, msr = this.msr, callerHi = this.callerHi, callerLo = this.callerLo, vm = this.vm;
    for (let j = from; j < to; j++, i++) {
      vcpu[i] = src.vcpu[j]; reason[i] = src.reason[j]; ripHi[i] = src.ripHi[j]; ripLo[i] = src.ripLo[j]; dur[i] = src.dur[j];
      flags[i] = src.flags[j]; port[i] = src.port[j]; size[i] = src.size[j]; dir[i] = src.dir[j];
      valHi[i] = src.valHi[j]; valLo[i] = src.valLo[j]; gpaHi[i] = src.gpaHi[j]; gpaLo[i] = src.gpaLo[j];
      msr[i] = src.msr[j]; callerHi[i] = src.callerHi[j]; callerLo[i] = src.callerLo[j]; vm[i] = src.vm[j];
    }
  }

  /** Copies rows [from, to) of `src` to the end of this chunk, a column at a time (the bulk of a pass that keeps most rows). */
  copyRows(src: ExitChunk, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    if (n < 64) { this.copyShort(src, from, to); return; }
    const i = this.length;
    this.length += n;
    const cols = ['vcpu', 'reason', 'ripHi', 'ripLo', 'dur', 'flags', 'port', 'size', 'dir', 'valHi', 'valLo', 'gpaHi', 'gpaLo', 'msr', 'callerHi', 'callerLo', 'vm'] as const;
    for (const k of cols) (this[k] as Uint32Array).set((src[k] as Uint32Array).subarray(from, to), i);
    this.ts.set(src.ts.subarray(from, to), i);
    if (src.tsBaseNs !== this.tsBaseNs) {
      const shift = Number(src.tsBaseNs - this.tsBaseNs);
      for (let k = i; k < i + n; k++) this.ts[k] += shift;
    }
  }
}

/**
 * Chunks a consumer has finished with, handed back to the reader that made
 * them: `analyze` releases each chunk once its handlers have run, and the
 * CSV and text readers take from here instead of allocating (a 2M-exit trace
 * otherwise leaves 150 MB of chunk columns behind for the GC to find, and the
 * peak RSS follows that garbage). Consumers that keep chunks (replay,
 * convert) simply never release them.
 */
export class ChunkPool {
  private readonly free: ExitChunk[] = [];
  private taking = false;

  /** `shared`: new chunks on SharedArrayBuffers (a parse worker's, read by the main thread). */
  constructor(private readonly shared = false) {}

  /** A chunk of `rows` capacity: a released one, cleared, or a new one. */
  take(rows: number): ExitChunk {
    this.taking = true;
    const c = this.free.pop();
    return c && c.capacity === rows ? c.reuse() : new ExitChunk(rows, 0n, this.shared ? 'shared' : undefined);
  }

  /**
   * Where released chunks go first, when set: the parallel reader sends a parse worker's chunks back to it (true when
   * it took `c`).
   */
  returnTo: ((c: ExitChunk) => boolean) | null = null;

  /** The consumer is done with `c` (kept only while a reader takes from the pool: a reader that never does would leave them here). */
  release(c: ExitChunk): void {
    if (this.returnTo?.(c)) return;
    if (this.taking && this.free.length < 2) this.free.push(c);
  }

  /** A chunk handed back from another thread's consumer, to be taken again (at most `keep` are kept). */
  give(c: ExitChunk, keep = 4): void {
    if (this.free.length < keep) this.free.push(c);
  }
}

/** An in-memory trace: the chunks of one input, for passes that need random access. */
export class ExitTrace {
  readonly chunks: ExitChunk[] = [];
  constructor(public tsBaseNs: bigint, public readonly columns: ReadonlySet<OptionalColumn>) {}

  get length(): number {
    let n = 0;
    for (const c of this.chunks) n += c.length;
    return n;
  }

  static async collect(chunks: AsyncIterable<ExitChunk>, columns: ReadonlySet<OptionalColumn>): Promise<ExitTrace> {
    const t = new ExitTrace(0n, columns);
    for await (const c of chunks) {
      if (t.chunks.length === 0) t.tsBaseNs = c.tsBaseNs;
      if (c.length > 0) t.chunks.push(c);
    }
    return t;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ExitChunk> {
    for (const c of this.chunks) yield c;
  }
}
