/**
 * perf.data sample layouts (src/formats/perf/perf-file.ts parseSample, parseSampleIdTrailer,
 * parseAttr), tested directly (issue 16). Samples are composed here in the order
 * include/uapi/linux/perf_event.h gives for PERF_RECORD_SAMPLE (identifier, ip, pid/tid, time,
 * addr, id, stream_id, cpu/res, period, read, callchain, raw) and for the sample_id trailer of
 * other records (pid/tid, time, id, stream_id, cpu/res, identifier), in both byte orders, for
 * every subset of those bits this test draws, with the read_format variants (group or not,
 * times, ids, lost counts). The parser must find pid, tid, time, cpu and the raw data wherever
 * the bits put them, and say "too short" where the sample ends early.
 */
import { describe, expect, it } from 'vitest';
import { parseAttr, parseSample, parseSampleIdTrailer, S, sample } from '../src/formats/perf/perf-file.js';

const RF = { TOTAL_TIME_ENABLED: 1, TOTAL_TIME_RUNNING: 2, ID: 4, GROUP: 8, LOST: 16 };

class W {
  parts: Buffer[] = [];
  constructor(readonly le: boolean) {}
  u32(v: number): this { const b = Buffer.alloc(4); if (this.le) b.writeUInt32LE(v >>> 0); else b.writeUInt32BE(v >>> 0); this.parts.push(b); return this; }
  i32pair(a: number, b: number): this { const x = Buffer.alloc(8); if (this.le) { x.writeInt32LE(a, 0); x.writeInt32LE(b, 4); } else { x.writeInt32BE(a, 0); x.writeInt32BE(b, 4); } this.parts.push(x); return this; }
  u64(v: bigint | number): this { const b = Buffer.alloc(8); if (this.le) b.writeBigUInt64LE(BigInt(v)); else b.writeBigUInt64BE(BigInt(v)); this.parts.push(b); return this; }
  bytes(b: Buffer): this { this.parts.push(b); return this; }
  done(): Buffer { return Buffer.concat(this.parts); }
}

/** Bits of sample_type this test composes, in layout order. */
const ORDER = [S.IDENTIFIER, S.IP, S.TID, S.TIME, S.ADDR, S.ID, S.STREAM_ID, S.CPU, S.PERIOD, S.READ, S.CALLCHAIN, S.RAW];

interface Want { pid: number; tid: number; time: bigint; cpu: number; raw: Buffer }

function compose(le: boolean, st: number, rf: number, v: Want, groupN = 2, chain = 3): Buffer {
  const w = new W(le);
  for (const bit of ORDER) {
    if (!(st & bit)) continue;
    switch (bit) {
      case S.TID: w.i32pair(v.pid, v.tid); break;
      case S.TIME: w.u64(v.time); break;
      case S.CPU: w.u32(v.cpu).u32(0); break;
      case S.READ: {
        const per = (x: number) => { w.u64(1000 + x); if (rf & RF.ID) w.u64(77 + x); if (rf & RF.LOST) w.u64(5); };
        if (rf & RF.GROUP) {
          w.u64(groupN);
          if (rf & RF.TOTAL_TIME_ENABLED) w.u64(11);
          if (rf & RF.TOTAL_TIME_RUNNING) w.u64(12);
          for (let k = 0; k < groupN; k++) per(k);
        } else {
          w.u64(999);
          if (rf & RF.TOTAL_TIME_ENABLED) w.u64(11);
          if (rf & RF.TOTAL_TIME_RUNNING) w.u64(12);
          if (rf & RF.ID) w.u64(77);
          if (rf & RF.LOST) w.u64(5);
        }
        break;
      }
      case S.CALLCHAIN: w.u64(chain); for (let k = 0; k < chain; k++) w.u64(0xffffffff81000000n + BigInt(k)); break;
      case S.RAW: w.u32(v.raw.length).bytes(v.raw); break;
      default: w.u64(0xdeadbeefn + BigInt(bit)); // identifier, ip, addr, id, stream_id, period
    }
  }
  return w.done();
}

function parse(buf: Buffer, st: number, rf: number, le: boolean, cut = buf.length): string | null {
  // At offset 8 of a bigger buffer, as after a record header.
  const host = Buffer.concat([Buffer.alloc(8, 0xee), buf, Buffer.alloc(16, 0xee)]);
  return parseSample(new DataView(host.buffer, host.byteOffset, host.byteLength), 8, 8 + cut, st, rf, le);
}

describe('parseSample', () => {
  it('finds pid, tid, time, cpu and raw data for 600 drawn sample_type / read_format combinations, both byte orders', () => {
    let seed = 5;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    for (let t = 0; t < 600; t++) {
      const le = t % 2 === 0;
      let st = 0;
      for (const bit of ORDER) if (rnd(2)) st |= bit;
      const rf = rnd(32);
      const v: Want = { pid: 1000 + t, tid: 2000 + t, time: 5_000_000_000n * BigInt(t + 1) + 7n, cpu: t % 97, raw: Buffer.from(Array.from({ length: 4 + (t % 9) }, (_, k) => (t + k) & 0xff)) };
      const buf = compose(le, st, rf, v, 1 + (t % 3), t % 4);
      expect(parse(buf, st, rf, le), `st ${st} rf ${rf}`).toBeNull();
      const s = { ...sample };
      expect(s.pid).toBe(st & S.TID ? v.pid : -1);
      expect(s.tid).toBe(st & S.TID ? v.tid : -1);
      expect(s.hasTime).toBe((st & S.TIME) !== 0);
      if (st & S.TIME) expect((BigInt(s.timeHi) << 32n) | BigInt(s.timeLo)).toBe(v.time);
      expect(s.cpu).toBe(st & S.CPU ? v.cpu : -1);
      if (st & S.RAW) {
        expect(s.rawLen).toBe(v.raw.length);
        expect(buf.subarray(s.rawPos - 8, s.rawPos - 8 + s.rawLen)).toEqual(v.raw);
      } else expect([s.rawPos, s.rawLen]).toEqual([-1, 0]);
    }
  });

  it('a sample cut inside a field the parser reads says so', () => {
    const v: Want = { pid: 1, tid: 2, time: 3n, cpu: 4, raw: Buffer.from('abcdefgh') };
    const st = S.TID | S.TIME | S.CPU | S.READ | S.CALLCHAIN | S.RAW;
    for (const le of [true, false]) {
      const buf = compose(le, st, 0, v, 1, 2);
      // Field ends: tid 8, time 16, cpu 24, read 32, callchain 32 + 8 + 16 = 56, raw size 60, raw data 68.
      for (const [cut, why] of [[4, 'sample too short'], [12, 'sample too short'], [20, 'sample too short'], [28, 'sample too short'], [36, 'sample too short'], [58, 'sample too short for its RAW data'], [64, 'RAW data of 8 bytes runs past the sample']] as const) {
        expect(parse(buf, st, 0, le, cut), `cut ${cut}`).toBe(why);
      }
      expect(parse(buf, st, 0, le, 68)).toBeNull();
    }
  });
});

describe('parseSampleIdTrailer', () => {
  it('reads pid, tid, time and cpu from the end of a record, for every subset of its bits, both byte orders', () => {
    const TRAILER = [S.TID, S.TIME, S.ID, S.STREAM_ID, S.CPU, S.IDENTIFIER];
    for (let mask = 0; mask < 64; mask++) {
      for (const le of [true, false]) {
        let st = 0;
        TRAILER.forEach((bit, k) => { if (mask & (1 << k)) st |= bit; });
        const w = new W(le).bytes(Buffer.alloc(24, 0xaa)); // the record's own body
        if (st & S.TID) w.i32pair(31, 32);
        if (st & S.TIME) w.u64(0x1234567890n);
        if (st & S.ID) w.u64(1);
        if (st & S.STREAM_ID) w.u64(2);
        if (st & S.CPU) w.u32(6).u32(0);
        if (st & S.IDENTIFIER) w.u64(3);
        const b = w.done();
        parseSampleIdTrailer(new DataView(b.buffer, b.byteOffset, b.byteLength), 0, b.length, st, le);
        const s = { ...sample };
        expect([s.pid, s.tid], `mask ${mask}`).toEqual(st & S.TID ? [31, 32] : [-1, -1]);
        expect(s.hasTime).toBe((st & S.TIME) !== 0);
        if (st & S.TIME) expect((BigInt(s.timeHi) << 32n) | BigInt(s.timeLo)).toBe(0x1234567890n);
        expect(s.cpu).toBe(st & S.CPU ? 6 : -1);
      }
    }
  });

  it('a record shorter than its trailer gives no fields', () => {
    const b = Buffer.alloc(8, 0x11);
    parseSampleIdTrailer(new DataView(b.buffer, b.byteOffset, b.byteLength), 0, b.length, S.TID | S.TIME, true);
    expect([sample.pid, sample.tid, sample.hasTime, sample.cpu]).toEqual([-1, -1, false, -1]);
  });
});

describe('parseAttr', () => {
  it('type, config, sample_type, read_format and the sample_id_all bit at their offsets, both byte orders', () => {
    for (const le of [true, false]) {
      for (const idAll of [true, false]) {
        const w = new W(le).u32(2).u32(128).u64(0x123456789n).u64(1).u64(0x10486n).u64(0x1f).u64((idAll ? 1n << 18n : 0n) | (1n << 17n) | (1n << 19n)).bytes(Buffer.alloc(80));
        const b = Buffer.concat([Buffer.alloc(4), w.done()]);
        expect(parseAttr(b, 4, le, 100)).toEqual({ type: 2, config: 0x123456789n, sampleType: 0x10486, readFormat: 0x1f, sampleIdAll: idAll, ids: [] });
      }
    }
    expect(() => parseAttr(Buffer.alloc(50), 4, true, 0x40)).toThrow('perf_event_attr at 0x40 is shorter than 48 bytes');
    expect(parseAttr(Buffer.alloc(52), 4, true, 0).type).toBe(0);
  });
});
