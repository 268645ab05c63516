/**
 * The record batches a parse worker sends the pairing thread (src/formats/events.ts), tested
 * directly (issue 16): whatever a line decoder calls on an EventRecorder comes out of
 * replayBatch as the same calls, in the same order, with every field intact, however the
 * calls are cut into batches; batches are sized in multiples of 8 records, recycled buffers
 * are reused only at their own size, and at most four wait to be reused.
 */
import { describe, expect, it } from 'vitest';
import { batchBuffers, batchFromBuffers, EventRecorder, newBatch, recycleBatch, replayBatch, type EventBatch, type EventSink } from '../src/formats/events.js';
import { detailFields, EV_FAST_MMIO, EV_MMIO, EV_MSR, EV_PIO, type DetailKind } from '../src/formats/exit-assembler.js';

/** A sink that writes every call down, with the detail fields a detail call carries. */
class Log implements EventSink {
  readonly calls: string[] = [];
  exit(...a: number[]): void { this.calls.push(`exit ${a.join(' ')}`); }
  entry(...a: number[]): void { this.calls.push(`entry ${a.join(' ')}`); }
  detail(kind: DetailKind, cpu: number, pid: number): void {
    const d = detailFields;
    this.calls.push(`detail ${kind} ${cpu} ${pid} ${d.flags} ${d.dir} ${d.port} ${d.size} ${d.valHi} ${d.valLo} ${d.gpaHi} ${d.gpaLo} ${d.msr}`);
  }
  userspace(cpu: number, pid: number): void { this.calls.push(`userspace ${cpu} ${pid}`); }
  lost(cpu: number, n: number): void { this.calls.push(`lost ${cpu} ${n}`); }
  bufferStarted(cpu: number): void { this.calls.push(`buffer ${cpu}`); }
  setTgid(pid: number, tgid: number): void { this.calls.push(`tgid ${pid} ${tgid}`); }
}

/** The same calls, on any sink: every kind of record, every field a value no other field has. */
function script(sink: EventSink, rounds: number): void {
  for (let r = 0; r < rounds; r++) {
    const k = r * 100;
    sink.exit(1e9 + k + 0.5, 1 + r, 7000 + r, 2 + r, 30 + (r % 7), 0xffffffff, 0x81000000 + k, 0x8000 | r);
    for (const [j, kind] of [EV_PIO, EV_MMIO, EV_MSR, EV_FAST_MMIO].entries()) {
      const d = detailFields;
      d.flags = 0x100 + j; d.dir = 1 + (j & 1); d.port = 0x1f0 + k + j; d.size = 1 << j;
      d.valHi = 0xdead0000 + j; d.valLo = 0xbeef0000 + k + j; d.gpaHi = 0xfe + j; d.gpaLo = 0xbfe00000 + k + j; d.msr = 0x838 + j;
      sink.detail(kind as DetailKind, 1 + r, 7000 + r);
    }
    sink.userspace(1 + r, 7000 + r);
    sink.entry(1e9 + k + 3.25, 1 + r, 7000 + r, 2 + r);
    if (r % 3 === 0) sink.lost(r, 1000 + r);
    if (r % 4 === 1) sink.bufferStarted(r);
    if (r % 5 === 2) sink.setTgid(7000 + r, 6900 + r);
  }
}

function roundTrip(cap: number, rounds: number, shared = false): { calls: string[]; batches: EventBatch[] } {
  const batches: EventBatch[] = [];
  const out = new Log();
  const rec = new EventRecorder(cap, (b) => {
    batches.push(b);
    // Through its buffer, as the pairing thread sees a posted batch.
    replayBatch(batchFromBuffers(batchBuffers(b), b.n), out, (id) => id);
  }, shared);
  script(rec, rounds);
  rec.flush();
  return { calls: out.calls, batches };
}

describe('EventRecorder -> replayBatch', () => {
  it('every call comes back the same, in order, whatever the batch size (each full batch handed on, the last flushed)', () => {
    const want = new Log();
    script(want, 12);
    expect(want.calls.length).toBe(12 * 7 + 4 + 3 + 2);
    for (const cap of [8, 16, 24, 200]) {
      const { calls, batches } = roundTrip(cap, 12);
      expect(calls, `cap ${cap}`).toEqual(want.calls);
      // Full batches hold `cap` records exactly; only the last may hold fewer.
      expect(batches.slice(0, -1).every((b) => b.n === cap), `cap ${cap}`).toBe(true);
      expect(batches.length).toBe(Math.ceil(want.calls.length / cap));
    }
  });

  it('a flush with nothing recorded hands on nothing', () => {
    let handed = 0;
    const rec = new EventRecorder(8, () => { handed++; });
    rec.flush();
    rec.flush();
    expect(handed).toBe(0);
    rec.entry(1, 0, 1, 0);
    rec.flush();
    rec.flush();
    expect(handed).toBe(1);
  });

  it('the time shift and the reason map are applied to exits (and the shift to entries)', () => {
    const rec = new EventRecorder(8, (b) => replayBatch(b, out, (id) => id + 100, 50));
    const out = new Log();
    rec.exit(10, 1, 2, 3, 4, 5, 6, 7);
    rec.entry(20, 1, 2, 3);
    rec.flush();
    expect(out.calls).toEqual(['exit 60 1 2 3 104 5 6 7', 'entry 70 1 2 3']);
  });

  it('shared batches are on a SharedArrayBuffer and round-trip the same', () => {
    const want = new Log();
    script(want, 5);
    const { calls, batches } = roundTrip(16, 5, true);
    expect(calls).toEqual(want.calls);
    expect(batches.every((b) => b.ts.buffer instanceof SharedArrayBuffer)).toBe(true);
    expect(roundTrip(16, 1).batches[0].ts.buffer instanceof SharedArrayBuffer).toBe(false);
  });
});

describe('batch layout and recycling', () => {
  it('capacity is rounded up to a multiple of 8; every column is its own memory, one buffer in all', () => {
    for (const [cap, c] of [[1, 8], [5, 8], [8, 8], [9, 16], [17, 24]]) {
      const b = newBatch(cap);
      expect(b.kind.length).toBe(c);
      expect(b.ts.length).toBe(c);
      expect(b.size.length).toBe(c);
      expect(b.n).toBe(0);
      // One buffer: 8 + 11 x 4 + 2 x 2 + 3 x 1 = 59 bytes a record.
      expect(b.ts.buffer.byteLength).toBe(c * 59);
      expect(batchBuffers(b)).toEqual([b.ts.buffer]);
      const cols = [b.ts, b.cpu, b.pid, b.a, b.reason, b.hi, b.lo, b.valHi, b.valLo, b.gpaHi, b.gpaLo, b.msr, b.flags, b.port, b.kind, b.dir, b.size];
      expect(cols.every((x) => x.buffer === b.ts.buffer)).toBe(true);
      // No two columns overlap: each spans [byteOffset, byteOffset + byteLength) and they tile the buffer.
      const spans = cols.map((x) => [x.byteOffset, x.byteOffset + x.byteLength]).sort((p, q) => p[0] - q[0]);
      expect(spans[0][0]).toBe(0);
      for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBe(spans[i - 1][1]);
      expect(spans[spans.length - 1][1]).toBe(c * 59);
      const again = batchFromBuffers([b.ts.buffer], 3);
      expect(again.n).toBe(3);
      expect(again.kind.length).toBe(c);
      expect(again.msr.byteOffset).toBe(b.msr.byteOffset);
    }
  });

  it('a recycled buffer is taken by the next recorder of its size (cleared to 0 records), not by one of another size', () => {
    new EventRecorder(8000, () => {});
    const mine = newBatch(16);
    const other = newBatch(40);
    recycleBatch(batchBuffers(mine));
    recycleBatch(batchBuffers(other));
    // Size 16 wants the first one: the 40-record one on top is passed over (and dropped).
    let got: EventBatch | null = null;
    const rec = new EventRecorder(16, (b) => { got = b; });
    rec.entry(1, 0, 1, 0);
    rec.flush();
    expect(got!.ts.buffer).toBe(mine.ts.buffer);
    expect(got!.n).toBe(1);
    let next: EventBatch | null = null;
    const rec2 = new EventRecorder(40, (b) => { next = b; });
    rec2.entry(1, 0, 1, 0);
    rec2.flush();
    expect(next!.ts.buffer).not.toBe(other.ts.buffer);
  });

  it('at most sixteen recycled buffers wait (a whole range of batches); a seventeenth is dropped', () => {
    // Empty the pool first (what earlier tests left): a recorder of a size nothing has takes and drops every one.
    new EventRecorder(8000, () => {});
    const all = Array.from({ length: 17 }, () => newBatch(24));
    for (const b of all) recycleBatch(batchBuffers(b));
    const taken: number[] = [];
    for (let k = 0; k < 9; k++) {
      const rec = new EventRecorder(24, (b) => taken.push(all.findIndex((f) => f.ts.buffer === b.ts.buffer)));
      rec.entry(1, 0, 1, 0);
      rec.flush();
    }
    // The first sixteen were kept (the seventeenth dropped). A recorder takes one to fill and, when it hands that on, the
    // next: the first fills the 16th (index 15) and takes the 15th; ...; the eighth fills the 2nd and takes the 1st; the
    // ninth allocates.
    expect(taken).toEqual([15, 13, 11, 9, 7, 5, 3, 1, -1]);
  });
});
