/**
 * perf.data's ordered queue (src/formats/perf/ordered-queue.ts) driven directly (issue 16),
 * against perf's ordered-events rules as its header states them (tools/perf/util/ordered-events.c):
 * at each FINISHED_ROUND the samples not later than the newest time seen at the previous round
 * go out in time order (arrival order for equal times); a sample older than the last one
 * delivered goes out at once; the rest at the end; past MAX_QUEUED queued samples the oldest
 * half goes out early, counted. Every delivered sample must carry its own fields and payload
 * bytes, however the queue grew and compacted. Expected orders are worked out here.
 */
import { describe, expect, it } from 'vitest';
import { MAX_QUEUED, OrderedQueue, type QueuedSample } from '../src/formats/perf/ordered-queue.js';

interface Got { ts: number; cpu: number; pid: number; tid: number; kind: number; at: number; bytes: string }

function queue() {
  const got: Got[] = [];
  const q = new OrderedQueue((s: QueuedSample) => {
    got.push({ ts: s.ts, cpu: s.cpu, pid: s.pid, tid: s.tid, kind: s.kind, at: s.at, bytes: Buffer.from(s.data.buffer, s.data.byteOffset + s.pos, s.len).toString('hex') });
    // The view is over the same bytes as data.
    if (s.len > 0) expect(s.dv.getUint8(s.pos)).toBe(s.data[s.pos]);
  });
  /** A sample whose every field and payload byte derives from `id`, handed in at offset 3 of a bigger buffer. */
  const push = (ts: number, id: number, len = 4): void => {
    const buf = new Uint8Array(len + 6);
    for (let k = 0; k < len; k++) buf[3 + k] = (id * 7 + k) & 0xff;
    q.push(ts, id % 4, 1000 + id, 2000 + id, id % 3, 64 * id, buf, 3, len);
  };
  const want = (ts: number, id: number, len = 4): Got => ({ ts, cpu: id % 4, pid: 1000 + id, tid: 2000 + id, kind: id % 3, at: 64 * id, bytes: Buffer.from(Uint8Array.from({ length: len }, (_, k) => (id * 7 + k) & 0xff)).toString('hex') });
  return { q, got, push, want };
}

describe('rounds', () => {
  it('a round delivers what is not later than the newest time at the previous round, in time order; the rest waits', () => {
    const { q, got, push, want } = queue();
    push(50, 1); push(30, 2); push(90, 3);
    q.round(); // the first round: nothing was seen before it
    expect(got).toEqual([]);
    expect(q.size).toBe(3);
    push(70, 4); push(10, 5); push(95, 6);
    q.round(); // up to 90 (newest at the previous round)
    expect(got).toEqual([want(10, 5), want(30, 2), want(50, 1), want(70, 4), want(90, 3)]);
    expect(q.size).toBe(1);
    q.finish();
    expect(got.at(-1)).toEqual(want(95, 6));
    expect(q.size).toBe(0);
    expect(q.forced).toBe(0);
  });

  it('equal times keep their arrival order; a sample older than the last delivered goes out at once', () => {
    const { q, got, push, want } = queue();
    push(20, 1); push(20, 2); push(10, 3); push(20, 4);
    q.round();
    push(25, 5);
    q.round();
    expect(got).toEqual([want(10, 3), want(20, 1), want(20, 2), want(20, 4)]);
    push(15, 6); // older than 20, the last delivered: at once, before the queued 25
    expect(got.at(-1)).toEqual(want(15, 6));
    expect(q.size).toBe(1);
    q.finish();
    expect(got.map((g) => g.ts)).toEqual([10, 20, 20, 20, 15, 25]);
  });

  it('a round with nothing queued, or nothing old enough, delivers nothing', () => {
    const { q, got, push } = queue();
    q.round();
    q.finish();
    expect(got).toEqual([]);
    push(5, 1);
    q.round();
    push(10, 2);
    q.round(); // up to 5: the first
    expect(got.map((g) => g.ts)).toEqual([5]);
    q.round(); // up to 10
    expect(got.map((g) => g.ts)).toEqual([5, 10]);
  });
});

describe('growth and compaction keep every sample\'s fields and bytes', () => {
  it('3,000 samples in reverse time (the index columns grow past 1,024) come out sorted and whole', () => {
    const { q, got, push, want } = queue();
    for (let id = 0; id < 3000; id++) push(3000 - id, id);
    expect(q.size).toBe(3000);
    q.finish();
    expect(got.length).toBe(3000);
    for (let k = 0; k < 3000; k++) expect(got[k]).toEqual(want(k + 1, 2999 - k));
  });

  it('payloads past the 64 KiB arena, and one bigger than twice it, survive growth and a partial round', () => {
    const { q, got, push, want } = queue();
    for (let id = 0; id < 100; id++) push(id % 2 ? 1000 + id : id, id, 1000);
    push(5000, 100, 200_000);
    q.round();
    push(6000, 101, 10);
    q.round(); // up to 5000: all but the last
    expect(got.length).toBe(101);
    const sorted = Array.from({ length: 100 }, (_, id) => id).sort((a, b) => (a % 2 ? 1000 + a : a) - (b % 2 ? 1000 + b : b));
    expect(got.slice(0, 100)).toEqual(sorted.map((id) => want(id % 2 ? 1000 + id : id, id, 1000)));
    expect(got[100]).toEqual(want(5000, 100, 200_000));
    // The one kept was compacted to the arena's front: its bytes are still its own.
    push(7000, 102, 3000);
    q.finish();
    expect(got.slice(101)).toEqual([want(6000, 101, 10), want(7000, 102, 3000)]);
  });

  it('samples kept by a round are compacted in arrival order with their own bytes', () => {
    const { q, got, push, want } = queue();
    push(10, 1, 50); push(100, 2, 70); push(20, 3, 30);
    q.round();
    push(200, 4, 90); push(15, 5, 20); push(300, 6, 10);
    q.round(); // up to 100: 10, 15, 20, 100; kept 200 and 300
    expect(got.map((g) => g.ts)).toEqual([10, 15, 20, 100]);
    push(250, 7, 40);
    q.finish();
    expect(got.slice(4)).toEqual([want(200, 4, 90), want(250, 7, 40), want(300, 6, 10)]);
  });
});

describe('compaction keeps arrival order', () => {
  it('kept samples whose times run against their arrival (12 of them) keep their own bytes', () => {
    const { q, got, push, want } = queue();
    push(1, 0, 30);
    // Arrivals 1..12 with falling times and growing payloads: kept by the round below, in arrival order in the arena.
    for (let id = 1; id <= 12; id++) push(1000 - id, id, 10 * id);
    q.round();
    push(2, 13, 5);
    q.round(); // up to 999: every sample
    expect(got.length).toBe(14);
    const sorted = [want(1, 0, 30), want(2, 13, 5), ...Array.from({ length: 12 }, (_, k) => want(1000 - (12 - k), 12 - k, 10 * (12 - k)))];
    expect(got).toEqual(sorted);
  });

  it('after a partial round the kept ones (times against arrival) come out whole', () => {
    const { q, got, push, want } = queue();
    push(500, 0, 4);
    q.round();
    // Kept past the next round (later than 500): arrivals with falling times; delivered: the two at or before 500.
    for (let id = 1; id <= 11; id++) push(id === 5 || id === 9 ? 100 * id - 400 : 2000 - id, id, 7 * id);
    q.round();
    expect(got.map((g) => g.ts)).toEqual([100, 500, 500]);
    q.finish();
    const kept = [11, 10, 8, 7, 6, 4, 3, 2, 1]; // by time: the latest arrival has the earliest time
    expect(got.slice(3)).toEqual(kept.map((id) => want(2000 - id, id, 7 * id)));
  });
});

describe('the bounded window', () => {
  it(`at ${MAX_QUEUED} queued samples the oldest half goes out early (counted once); order holds within what was delivered`, () => {
    // Light bookkeeping for 131k samples: times and pids only, one shared payload byte.
    const got: Array<{ ts: number; pid: number }> = [];
    const q = new OrderedQueue((s) => { got.push({ ts: s.ts, pid: s.pid }); });
    const one = new Uint8Array(1);
    const push = (ts: number, id: number, len: number): void => q.push(ts, 0, 1000 + id, 0, 0, 0, one, 0, len);
    // No rounds: times interleave so that the oldest half is every even arrival.
    for (let id = 0; id < MAX_QUEUED; id++) push(id % 2 === 0 ? id : MAX_QUEUED + id, id, 1);
    expect(q.forced).toBe(1);
    expect(got.length).toBe(MAX_QUEUED / 2);
    expect(q.size).toBe(MAX_QUEUED / 2);
    expect(got.every((g, k) => g.ts === 2 * k && g.pid === 1000 + 2 * k)).toBe(true);
    // Older than the last delivered: at once.
    push(1, 999_999, 1);
    expect(got.length).toBe(MAX_QUEUED / 2 + 1);
    q.finish();
    expect(got.length).toBe(MAX_QUEUED + 1);
    const tail = got.slice(MAX_QUEUED / 2 + 1);
    expect(tail.every((g, k) => g.ts === MAX_QUEUED + 2 * k + 1)).toBe(true);
  });
});
