/**
 * kvm tracepoint records as a columnar batch: what a parse worker sends the
 * main thread. A reader's line decoders write into an EventSink; in one
 * thread that is the ExitAssembler itself, in a worker an EventRecorder whose
 * batches the main thread replays, in file order, into the one assembler — so
 * pairing stays exactly sequential however the parsing was split.
 */
import { detailFields, EV_FAST_MMIO, EV_MMIO, EV_MSR, EV_PIO, EV_USERSPACE, type DetailKind } from './exit-assembler.js';

/** What line decoders call, one method per record. */
export interface EventSink {
  exit(ts: number, cpu: number, pid: number, vcpu: number, reason: number, ripHi: number, ripLo: number, flags: number): void;
  entry(ts: number, cpu: number, pid: number, vcpu: number): void;
  /** A detail record whose fields are in `detailFields`. */
  detail(kind: DetailKind, cpu: number, pid: number): void;
  userspace(cpu: number, pid: number): void;
  lost(cpu: number, n: number): void;
  bufferStarted(cpu: number): void;
  setTgid(pid: number, tgid: number): void;
}

const K_EXIT = 0, K_ENTRY = 1, K_LOST = 10, K_BUFFER = 11, K_TGID = 12;

export interface EventBatch {
  n: number;
  kind: Int8Array;
  ts: Float64Array;
  cpu: Int32Array;
  pid: Int32Array;
  /** vcpu; the lost count for K_LOST; the tgid for K_TGID. */
  a: Int32Array;
  reason: Int32Array;
  hi: Uint32Array;
  lo: Uint32Array;
  flags: Uint16Array;
  dir: Uint8Array;
  port: Uint16Array;
  size: Uint8Array;
  valHi: Uint32Array;
  valLo: Uint32Array;
  gpaHi: Uint32Array;
  gpaLo: Uint32Array;
  msr: Uint32Array;
}

/**
 * A batch's columns are views into one buffer, widest first (every offset stays aligned for a capacity that is a
 * multiple of 8): one buffer to post and recycle per batch, where posting seventeen cost the worker ~10% of its time.
 */
const LAYOUT = [['ts', 8], ['cpu', 4], ['pid', 4], ['a', 4], ['reason', 4], ['hi', 4], ['lo', 4], ['valHi', 4], ['valLo', 4], ['gpaHi', 4], ['gpaLo', 4], ['msr', 4], ['flags', 2], ['port', 2], ['kind', 1], ['dir', 1], ['size', 1]] as const;
const RECORD_BYTES = LAYOUT.reduce((s, [, w]) => s + w, 0);

function batchOver(buf: ArrayBufferLike, cap: number, n: number): EventBatch {
  let at = 0;
  const view = <T>(make: new (b: ArrayBufferLike, off: number, len: number) => T, w: number): T => { const v = new make(buf, at, cap); at += cap * w; return v; };
  return {
    n,
    ts: view(Float64Array, 8), cpu: view(Int32Array, 4), pid: view(Int32Array, 4), a: view(Int32Array, 4), reason: view(Int32Array, 4),
    hi: view(Uint32Array, 4), lo: view(Uint32Array, 4), valHi: view(Uint32Array, 4), valLo: view(Uint32Array, 4), gpaHi: view(Uint32Array, 4),
    gpaLo: view(Uint32Array, 4), msr: view(Uint32Array, 4), flags: view(Uint16Array, 2), port: view(Uint16Array, 2), kind: view(Int8Array, 1),
    dir: view(Uint8Array, 1), size: view(Uint8Array, 1),
  };
}

/** A batch over another thread's buffer (`batchBuffers()`). */
export function batchFromBuffers(bufs: readonly ArrayBufferLike[], n: number): EventBatch {
  return batchOver(bufs[0], bufs[0].byteLength / RECORD_BYTES, n);
}

/**
 * A batch of `cap` records (a multiple of 8); `shared` puts it on a SharedArrayBuffer, which a worker posts (and the main
 * thread posts back) without a transfer: a transfer detaches the sender's buffer, and after one detach V8 checks every
 * typed-array access of that thread (measured 1.5x slower byte loops).
 */
export function newBatch(cap: number, shared = false): EventBatch {
  const c = Math.ceil(cap / 8) * 8;
  return batchOver(shared ? new SharedArrayBuffer(c * RECORD_BYTES) : new ArrayBuffer(c * RECORD_BYTES), c, 0);
}

/**
 * Batches the consumer handed back (a worker's batches, replayed by the main
 * thread, return to it instead of becoming garbage there: a main thread that
 * allocates little collects rarely, and a 2M-exit text trace posts ~180
 * batches of 2 MB). Recorders take from here before allocating.
 */
const recycled: EventBatch[] = [];

/** A batch's buffers come back (from the thread that replayed it). */
export function recycleBatch(bufs: readonly ArrayBufferLike[]): void {
  // A whole range's batches (a 16 MiB range of text makes about ten) when the main thread parses a range itself.
  if (recycled.length < 16) recycled.push(batchFromBuffers(bufs, 0));
}

function takeBatch(cap: number, shared: boolean): EventBatch {
  for (;;) {
    const b = recycled.pop();
    if (!b) return newBatch(cap, shared);
    if (b.kind.length === Math.ceil(cap / 8) * 8) { b.n = 0; return b; }
  }
}

/** The buffer of a batch, to post to another thread. */
export function batchBuffers(b: EventBatch): ArrayBufferLike[] {
  return [b.ts.buffer];
}

/** Records sink calls into batches; `onFull` takes each full batch. */
export class EventRecorder implements EventSink {
  private b: EventBatch;
  /** `shared`: batches on SharedArrayBuffers (a worker's, posted to the main thread). */
  constructor(private readonly cap: number, private readonly onFull: (b: EventBatch) => void, private readonly shared = false) {
    this.b = takeBatch(cap, shared);
  }

  private row(kind: number, cpu: number, pid: number): number {
    if (this.b.n === this.cap) this.flush();
    const i = this.b.n++;
    this.b.kind[i] = kind; this.b.cpu[i] = cpu; this.b.pid[i] = pid;
    return i;
  }

  flush(): void {
    if (this.b.n === 0) return;
    const full = this.b;
    this.b = takeBatch(this.cap, this.shared);
    this.onFull(full);
  }

  exit(ts: number, cpu: number, pid: number, vcpu: number, reason: number, ripHi: number, ripLo: number, flags: number): void {
    const i = this.row(K_EXIT, cpu, pid), b = this.b;
    b.ts[i] = ts; b.a[i] = vcpu; b.reason[i] = reason; b.hi[i] = ripHi; b.lo[i] = ripLo; b.flags[i] = flags;
  }

  entry(ts: number, cpu: number, pid: number, vcpu: number): void {
    const i = this.row(K_ENTRY, cpu, pid);
    this.b.ts[i] = ts; this.b.a[i] = vcpu;
  }

  detail(kind: DetailKind, cpu: number, pid: number): void {
    // The fields are read before row(): a full batch is handed on inside it, and a consumer that replays it there at
    // once (replayBatch writes detailFields) would otherwise leave this record the last replayed one's fields.
    const d = detailFields, flags = d.flags, dir = d.dir, port = d.port, size = d.size, valHi = d.valHi, valLo = d.valLo, gpaHi = d.gpaHi, gpaLo = d.gpaLo, msr = d.msr;
    const i = this.row(kind, cpu, pid), b = this.b;
    b.flags[i] = flags; b.dir[i] = dir; b.port[i] = port; b.size[i] = size;
    b.valHi[i] = valHi; b.valLo[i] = valLo; b.gpaHi[i] = gpaHi; b.gpaLo[i] = gpaLo; b.msr[i] = msr;
  }

  userspace(cpu: number, pid: number): void {
    this.row(EV_USERSPACE, cpu, pid);
  }

  lost(cpu: number, n: number): void {
    this.b.a[this.row(K_LOST, cpu, -1)] = n;
  }

  bufferStarted(cpu: number): void {
    this.row(K_BUFFER, cpu, -1);
  }

  setTgid(pid: number, tgid: number): void {
    this.b.a[this.row(K_TGID, -1, pid)] = tgid;
  }
}

/**
 * Replays a batch into a sink; `reasonOf` maps the recorder's reason ids to
 * this thread's, `shift` moves its time offsets onto this thread's base.
 */
export function replayBatch(b: EventBatch, sink: EventSink, reasonOf: (id: number) => number, shift = 0): void {
  const d = detailFields;
  for (let i = 0; i < b.n; i++) {
    switch (b.kind[i]) {
      case K_EXIT: sink.exit(b.ts[i] + shift, b.cpu[i], b.pid[i], b.a[i], reasonOf(b.reason[i]), b.hi[i], b.lo[i], b.flags[i]); break;
      case K_ENTRY: sink.entry(b.ts[i] + shift, b.cpu[i], b.pid[i], b.a[i]); break;
      case EV_PIO: case EV_MMIO: case EV_MSR: case EV_FAST_MMIO:
        d.flags = b.flags[i]; d.dir = b.dir[i]; d.port = b.port[i]; d.size = b.size[i];
        d.valHi = b.valHi[i]; d.valLo = b.valLo[i]; d.gpaHi = b.gpaHi[i]; d.gpaLo = b.gpaLo[i]; d.msr = b.msr[i];
        sink.detail(b.kind[i] as DetailKind, b.cpu[i], b.pid[i]);
        break;
      case EV_USERSPACE: sink.userspace(b.cpu[i], b.pid[i]); break;
      case K_LOST: sink.lost(b.cpu[i], b.a[i]); break;
      case K_BUFFER: sink.bufferStarted(b.cpu[i]); break;
      case K_TGID: sink.setTgid(b.pid[i], b.a[i]); break;
    }
  }
}
