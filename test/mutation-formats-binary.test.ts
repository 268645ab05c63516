/**
 * The binary readers' byte-level paths (issue 16), in this process, on pages and records built
 * here byte by byte: the ftrace ring-buffer walk (src/formats/tracing/ring-buffer.ts) after the
 * layout its header comment gives (and libtraceevent's kbuffer-parse.c), plus the trace.dat and
 * perf.data readers' rejections. Each expected time and length is computed by hand in a comment.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PerfBytes } from './perf-bytes.js';
import { CpuStream, StreamMerger, type Compression } from '../src/formats/tracing/ring-buffer.js';
import { FileSource, FormatError } from '../src/formats/tracing/source.js';
import type { PageHeader } from '../src/formats/tracing/event-format.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-mbin-'));
let n = 0;
function file(name: string, body: Uint8Array | string): string {
  const p = join(tmp, `${n++}-${name}`);
  writeFileSync(p, body);
  return p;
}

/** header_page of a 64-bit kernel: u64 timestamp @0, commit (long, 8 bytes) @8, data @16. */
const PH64: PageHeader = { timestampSize: 8, commitOffset: 8, commitSize: 8, dataOffset: 16 };
const PAGE = 128;

/** One ring-buffer page: timestamp, commit word (records' byte count | flags), the records, zero fill. */
function page(ts: bigint, records: number[][], opts: { le?: boolean; flags?: number; missed?: bigint; size?: number } = {}): Buffer {
  const le = opts.le ?? true;
  const b = Buffer.alloc(PAGE);
  const body = Buffer.from(records.flat().flatMap((w) => { const x = Buffer.alloc(4); if (le) x.writeUInt32LE(w >>> 0); else x.writeUInt32BE(w >>> 0); return [...x]; }));
  body.copy(b, 16);
  const size = opts.size ?? body.length;
  const commit = BigInt((size | (opts.flags ?? 0)) >>> 0);
  if (le) { b.writeBigUInt64LE(ts, 0); b.writeBigUInt64LE(commit, 8); } else { b.writeBigUInt64BE(ts, 0); b.writeBigUInt64BE(commit, 8); }
  if (opts.missed !== undefined) { if (le) b.writeBigUInt64LE(opts.missed, 16 + body.length); else b.writeBigUInt64BE(opts.missed, 16 + body.length); }
  return b;
}
/** A record header word: little-endian files put type_len in the low 5 bits, the delta above; big-endian the reverse. */
const hdr = (typeLen: number, delta: number, le = true): number => (le ? ((delta << 5) | typeLen) >>> 0 : ((typeLen << 27) | delta) >>> 0);

interface Rec { ts: number; len: number; first: number; missed: number }
function walk(path: string, opts: { le?: boolean; compression?: Compression; base?: bigint; cpu?: number; size?: number; offset?: number } = {}): { recs: Rec[]; bad: string[]; first: bigint | null } {
  const src = new FileSource(path);
  const cs = new CpuStream(src, { cpu: opts.cpu ?? 0, offset: opts.offset ?? 0, size: opts.size ?? src.size, instance: '' }, PH64, PAGE, opts.le ?? true, opts.compression ?? 'none', opts.base ?? 0n);
  const bad: string[] = [];
  cs.onBadPage = (where, why) => bad.push(`${where} ${why}`);
  const first = cs.peekFirstPageTs();
  if (opts.base !== undefined) cs.setBase(opts.base);
  const recs: Rec[] = [];
  while (cs.advance()) recs.push({ ts: cs.ts, len: cs.recLen, first: cs.dv.getUint32(cs.recPos, opts.le ?? true), missed: cs.missed });
  src.close();
  return { recs, bad, first };
}

describe('ring-buffer records of every type', () => {
  // Page time 1000, base 1000: times below are offsets from the page's.
  const records = [
    [hdr(2, 10), 0xa1, 0xa2], //                 data of 2 words, delta 10: t = 10
    [hdr(0, 5), 4 + 6, 0xb1, 0xb2], //            type 0: length word 10 counts itself: 6 bytes, padded to 8: t = 15
    [hdr(29, 7), 8, 0], //                        padding of 4 + 8 bytes; its delta counts (a discarded event): t = 22
    [hdr(30, 3), 1], //                           time extend: t += 1 << 27 plus 3 = 134217753
    [hdr(1, 0), 0xc1], //                         t = 134217753
    [hdr(31, 77), 2], //                          absolute: (2 << 27) + 77 = 268435533 ns, offset 268434533 from the base
    [hdr(1, 1), 0xd1], //                         t = 268434534
    [hdr(29, 0)], //                              padding with delta 0: the rest of the page is unused
    [hdr(1, 1), 0xee], //                         (not a record)
  ];

  it('little-endian, 8-byte commit: data records at their times and lengths, padding and time stamps followed', () => {
    const p = file('le.dat', page(1000n, records));
    const got = walk(p, { base: 1000n });
    expect(got.first).toBe(1000n);
    expect(got.bad).toEqual([]);
    expect(got.recs).toEqual([
      { ts: 10, len: 8, first: 0xa1, missed: 0 },
      { ts: 15, len: 6, first: 0xb1, missed: 0 },
      { ts: 134217753, len: 4, first: 0xc1, missed: 0 },
      { ts: 268434534, len: 4, first: 0xd1, missed: 0 },
    ]);
  });

  it('big-endian, 8-byte commit: the same records (commit\'s low word is its second half)', () => {
    const be = records.map((r) => r.map((w, k) => (k === 0 ? hdr(w & 31, w >>> 5, false) : w)));
    const p = file('be.dat', page(1000n, be, { le: false }));
    const got = walk(p, { base: 1000n, le: false });
    expect(got.first).toBe(1000n);
    expect(got.bad).toEqual([]);
    expect(got.recs.map((r) => [r.ts, r.len, r.first])).toEqual([[10, 8, 0xa1], [15, 6, 0xb1], [134217753, 4, 0xc1], [268434534, 4, 0xd1]]);
  });

  it('an absolute time stamp keeps the top 5 bits of the current time', () => {
    // Page time 0xf8 << 56 plus 0; the absolute record carries only the low 59 bits: (1 << 27) + 5.
    const top = 0xf8n << 56n;
    const p = file('abs.dat', page(top, [[hdr(31, 5), 1], [hdr(1, 0), 0x11]]));
    const got = walk(p, { base: top });
    expect(got.recs).toEqual([{ ts: 134217728 + 5, len: 4, first: 0x11, missed: 0 }]);
  });

  it('a padding record at the very end of the data with no room for its length word is the page\'s end, not a bad record', () => {
    const p = file('pad-end.dat', page(0n, [[hdr(1, 4), 0x21], [hdr(29, 0)]]));
    const got = walk(p);
    expect(got.bad).toEqual([]);
    expect(got.recs).toEqual([{ ts: 4, len: 4, first: 0x21, missed: 0 }]);
  });
});

describe('records at the edges of a page\'s data', () => {
  it('a type-0 record ending exactly at the data\'s end, an empty one (length word 4), the largest type_len (28)', () => {
    // 16 header bytes; a type_len-28 record is 4 + 112 bytes, so these pages are 256 bytes.
    const P = 256, ph: PageHeader = PH64;
    const pg = (words: number[]): Buffer => {
      const b = Buffer.alloc(P);
      b.writeBigUInt64LE(1000n, 0); b.writeBigUInt64LE(BigInt(words.length * 4), 8);
      words.forEach((w, k) => b.writeUInt32LE(w >>> 0, 16 + 4 * k));
      return b;
    };
    const big = [hdr(28, 1), ...Array.from({ length: 28 }, (_, k) => 0x100 + k)];
    // data: type-28 (116 bytes), type-0 with 4 data bytes (12), type-0 empty (8): 136 bytes, the last ending the data.
    const p = file('edges.dat', pg([...big, hdr(0, 2), 8, 0xaa, hdr(0, 3), 4]));
    const src = new FileSource(p);
    const cs = new CpuStream(src, { cpu: 0, offset: 0, size: P, instance: '' }, ph, P, true, 'none', 0n);
    const bad: string[] = [];
    cs.onBadPage = (w, why) => bad.push(`${w} ${why}`);
    cs.peekFirstPageTs(); cs.setBase(1000n);
    const got: Array<[number, number, number]> = [];
    while (cs.advance()) got.push([cs.ts, cs.recLen, cs.recLen ? cs.dv.getUint32(cs.recPos, true) : -1]);
    src.close();
    expect(bad).toEqual([]);
    expect(got).toEqual([[1, 112, 0x100], [3, 4, 0xaa], [6, 0, -1]]);
  });

  it('in the last 4 bytes of the data: padding with delta 0 ends the page; any other header there is a bad record', () => {
    const last = (w: number) => walk(file('last.dat', Buffer.concat([page(0n, [[hdr(1, 1), 0x11], [w]]), page(100n, [[hdr(1, 1), 0x22]])])));
    expect(last(hdr(29, 0))).toMatchObject({ bad: [], recs: [{ first: 0x11 }, { first: 0x22 }] });
    for (const w of [hdr(29, 5), hdr(30, 1), hdr(31, 1), hdr(0, 1)]) {
      expect(last(w).bad, String(w & 31)).toEqual(["@0x18 CPU 0: record header at page offset 24 runs past the page's data: rest of page skipped"]);
    }
    // A type-0 record whose length word asks for 4 bytes more than the 12 left after its header.
    const over = walk(file('over.dat', page(0n, [[hdr(1, 1), 0x11], [hdr(0, 0), 12, 0xbb]])));
    expect([over.bad, over.recs.map((r) => r.first)]).toEqual([["@0x18 CPU 0: record header at page offset 24 runs past the page's data: rest of page skipped"], [0x11]]);
  });

  it('padding with delta 0 before the end still ends the page; with a delta, it is a discarded event of its length, then records go on', () => {
    const got = (pad: number[]) => walk(file('pad.dat', page(0n, [[hdr(1, 1), 0x11], pad, [hdr(1, 1), 0x33]]))).recs.map((r) => [r.ts, r.first]);
    expect(got([hdr(29, 0), 8, 0])).toEqual([[1, 0x11]]);
    // a discarded event of 4 + 8 bytes (its length word counts itself and the word after) whose delta (7) counts
    expect(got([hdr(29, 7), 8, 0])).toEqual([[1, 0x11], [9, 0x33]]);
  });
});

describe('corrupt pages: the rest of the page is skipped and said where', () => {
  it('records that run past the data, a type-0 length below 4, a page claiming more than it holds', () => {
    const p = file('bad.dat', Buffer.concat([
      // Page 0 @0x0, data @0x10: a 3-word record (12 bytes) with 8 bytes of data left.
      page(0n, [[hdr(1, 1), 0x31], [hdr(3, 0), 1]]),
      // Page 1 @0x80: a type-0 record whose length word is 3 (less than itself) at page offset 0x14.
      page(100n, [[hdr(1, 1), 0x41], [hdr(0, 0), 3, 0]]),
      // Page 2 @0x100: a type-0 record of 4 + 40 bytes in a 12-byte rest.
      page(200n, [[hdr(0, 0), 44, 0]]),
      // Page 3 @0x180: commit says 200 bytes of records; a 128-byte page has 112 after its header.
      page(300n, [[hdr(1, 0), 0x51]], { size: 200 }),
      // Page 4 @0x200: a type-0 record cut after its header word (4 bytes left).
      page(400n, [[hdr(1, 2), 0x61], [hdr(0, 0)]]),
      // Page 5 @0x280: fine.
      page(500n, [[hdr(1, 3), 0x71]]),
    ]));
    const got = walk(p);
    expect(got.bad).toEqual([
      "@0x18 CPU 0: record header at page offset 24 runs past the page's data: rest of page skipped",
      "@0x98 CPU 0: record header at page offset 24 runs past the page's data: rest of page skipped",
      "@0x110 CPU 0: record header at page offset 16 runs past the page's data: rest of page skipped",
      '@0x180 CPU 0: page claims 200 bytes of records, more than a 128-byte page holds: page skipped',
      "@0x218 CPU 0: record header at page offset 24 runs past the page's data: rest of page skipped",
    ]);
    expect(got.recs.map((r) => [r.ts, r.first])).toEqual([[1, 0x31], [101, 0x41], [402, 0x61], [503, 0x71]]);
  });

  it('a page claiming one byte more than its 112 data bytes is skipped; exactly 112 is read', () => {
    // 14 one-word records fill the 112 bytes after the 16-byte header.
    const full = Array.from({ length: 14 }, (_, k) => [hdr(1, 1), 0x90 + k]);
    const got = walk(file('edge.dat', Buffer.concat([page(0n, full, { size: 113 }), page(100n, full)])));
    expect(got.bad).toEqual(['@0x0 CPU 0: page claims 113 bytes of records, more than a 128-byte page holds: page skipped']);
    expect(got.recs.map((r) => r.first)).toEqual(full.map((r) => r[1]));
  });
});

describe('lost events flagged on a page', () => {
  const MISSED = 0x80000000, STORED = 0x40000000;
  it('a stored count is the number lost; a stored 0 or no count is "some" (-1); counts of pages in a row add up', () => {
    const p = file('missed.dat', Buffer.concat([
      page(0n, [[hdr(1, 1), 1]]),
      page(10n, [[hdr(1, 1), 2]], { flags: MISSED | STORED, missed: 5n }), //  5 lost before this page
      page(20n, [], { flags: MISSED | STORED, missed: 2n }), //                2 more, no record on the page
      page(30n, [[hdr(1, 1), 3]], { flags: MISSED | STORED, missed: 4n }), //  and 4: 6 before record 3
      page(40n, [[hdr(1, 1), 4]], { flags: MISSED | STORED, missed: 0n }), //  flagged, count 0: unknown
      page(50n, [[hdr(1, 1), 5]], { flags: MISSED }), //                       flagged, no count: unknown
      page(60n, [[hdr(1, 1), 6]]),
    ]));
    expect(walk(p).recs.map((r) => [r.first, r.ts, r.missed])).toEqual([[1, 1, 0], [2, 11, 5], [3, 31, 6], [4, 41, -1], [5, 51, -1], [6, 61, 0]]);
  });
});

describe('compressed per-CPU data (trace.dat v7)', () => {
  /** u32 chunk count, then per chunk u32 compressed size, u32 uncompressed size, the data. */
  function chunked(chunks: Array<{ data: Buffer; csize?: number; usize?: number }>): Buffer {
    const parts: Buffer[] = [Buffer.from(Uint32Array.of(chunks.length).buffer)];
    for (const c of chunks) parts.push(Buffer.from(Uint32Array.of(c.csize ?? c.data.length, c.usize ?? 0).buffer), c.data);
    return Buffer.concat(parts);
  }

  it('zlib chunks are inflated page by page; a bad page inside one is placed by chunk and offset', () => {
    const pages = Buffer.concat([page(0n, [[hdr(1, 1), 0x81]]), page(50n, [[hdr(1, 1), 0x82], [hdr(3, 0), 0]])]);
    const z = deflateSync(pages);
    const p = file('zlib.dat', chunked([{ data: z, usize: pages.length }, { data: deflateSync(page(90n, [[hdr(1, 2), 0x83]])), usize: PAGE }]));
    const got = walk(p, { compression: 'zlib' });
    // Chunk 1's header is at 0x4; the bad record is at 0x80 + 0x18 of its inflated pages.
    expect(got.bad).toEqual(["@0x4+0x98 (in CPU 0's compressed chunk) CPU 0: record header at page offset 24 runs past the page's data: rest of page skipped"]);
    expect(got.recs.map((r) => [r.first, r.ts])).toEqual([[0x81, 1], [0x82, 51], [0x83, 92]]);
  });

  it('a chunk that inflates to another size, sizes that are not whole pages, a file that ends inside a chunk', () => {
    const one = page(0n, [[hdr(1, 1), 1]]);
    const short = file('short.dat', chunked([{ data: deflateSync(one), usize: 2 * PAGE }]));
    expect(() => walk(short, { compression: 'zlib', cpu: 2 })).toThrow(`CPU 2: cannot decompress the zlib chunk at 0x4 (zlib data gave ${PAGE} bytes, expected ${2 * PAGE})`);
    const odd = file('odd.dat', chunked([{ data: deflateSync(one), usize: 100 }]));
    expect(() => walk(odd, { compression: 'zlib' })).toThrow(`CPU 0: compressed chunk at 0x4 has sizes ${deflateSync(one).length} -> 100 (not whole pages)`);
    const full = chunked([{ data: deflateSync(one), usize: PAGE }]);
    // Cut 3 bytes into the compressed data: it starts at 4 + 8 = 0xc.
    const cut = file('cut.dat', full.subarray(0, 15));
    let err: unknown;
    try { walk(cut, { compression: 'zlib', cpu: 1 }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).message).toBe("truncated: the file ends inside CPU 1's zlib chunk at 0xc");
    expect((err as FormatError).offset).toBe(15);
    // Cut inside the chunk count, inside a chunk's header.
    expect(() => walk(file('cut-count.dat', full.subarray(0, 3)), { compression: 'zlib' })).toThrow("truncated: the file ends inside CPU 0's compressed data (chunk count) at 0x0");
    expect(() => walk(file('cut-head.dat', full.subarray(0, 10)), { compression: 'zlib' })).toThrow("truncated: the file ends inside CPU 0's compressed chunk header at 0x4");
    // Sizes over 1 GiB (whole pages) are refused before anything is allocated for them.
    for (const [csize, usize] of [[100, 2 ** 31], [2 ** 31, PAGE], [2 ** 30 + PAGE, PAGE]]) {
      expect(() => walk(file('huge.dat', chunked([{ data: deflateSync(one), csize, usize }])), { compression: 'zlib' })).toThrow(`CPU 0: compressed chunk at 0x4 has sizes ${csize} -> ${usize} (over 1 GiB: corrupt)`);
    }
  });
});

describe('merging CPUs by time', () => {
  it('takes records in time order across CPUs, the lower CPU first on a tie', () => {
    const a = file('cpu0.dat', page(0n, [[hdr(1, 10), 0], [hdr(1, 20), 0], [hdr(1, 5), 0]])); //  t 10, 30, 35
    const b = file('cpu1.dat', page(0n, [[hdr(1, 5), 1], [hdr(1, 25), 1], [hdr(1, 40), 1]])); //  t 5, 30, 70
    const c = file('cpu2.dat', page(0n, [[hdr(1, 1), 2]])); //                                   t 1
    const streams = [a, b, c].map((p, cpu) => {
      const src = new FileSource(p);
      const s = new CpuStream(src, { cpu, offset: 0, size: src.size, instance: '' }, PH64, PAGE, true, 'none', 0n);
      s.peekFirstPageTs();
      s.setBase(0n);
      return s;
    });
    const m = new StreamMerger(streams);
    m.start();
    const order: string[] = [];
    for (let s = m.peek(); s; s = m.peek()) { order.push(`${s.ref.cpu}@${s.ts}`); m.consume(); }
    expect(order).toEqual(['2@1', '1@5', '0@10', '0@30', '1@30', '0@35', '1@70']);
  });

  it('seven CPUs, many ties and interleavings: the order of a stable sort by time, CPU number breaking ties', () => {
    // CPU k's records: deltas from a small generator, so times interleave and repeat across CPUs.
    const deltas = (k: number): number[] => Array.from({ length: 9 }, (_, i) => ((k * 7 + i * 5) % 4) * 10);
    const expected: Array<[number, number]> = [];
    const streams = Array.from({ length: 7 }, (_, cpu) => {
      let t = 0;
      for (const d of deltas(cpu)) { t += d; expected.push([t, cpu]); }
      const src = new FileSource(file(`m${cpu}.dat`, page(0n, deltas(cpu).map((d) => [hdr(1, d), cpu]))));
      const s = new CpuStream(src, { cpu, offset: 0, size: src.size, instance: '' }, PH64, PAGE, true, 'none', 0n);
      s.peekFirstPageTs();
      s.setBase(0n);
      return s;
    });
    expected.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    const m = new StreamMerger(streams);
    m.start();
    const order: Array<[number, number]> = [];
    for (let s = m.peek(); s; s = m.peek()) { order.push([s.ts, s.ref.cpu]); m.consume(); }
    expect(order).toEqual(expected);
  });
});

// ---------------------------------------------------------------------------
// kvm tracepoint payloads decoded through formats a file embeds (kvm-decoder.ts), with formats
// written here in tracefs' syntax (fixtures/tracefs/*.format): field widths of 1, 2, 4 and 8
// bytes, fields an old kernel lacks, both byte orders.

import { ExitAssembler, EV_ENTRY, EV_EXIT, EV_FAST_MMIO, EV_MMIO, EV_MSR, EV_PIO } from '../src/formats/exit-assembler.js';
import { KIND_OTHER, KIND_UNKNOWN, KvmRecordDecoder } from '../src/formats/tracing/kvm-decoder.js';
import { parseEventFormat } from '../src/formats/tracing/event-format.js';
import { EventTable } from '../src/formats/tracing/tracing-data.js';
import { DIR_READ, DIR_WRITE, F_GPA, F_MSR, F_PORT, F_SIZE, F_VALUE, type ExitChunk as Chunk } from '../src/model/chunk.js';
import { newCounters } from '../src/model/counters.js';
import { Diagnostics } from '../src/model/errors.js';
import { REASONS } from '../src/model/reasons.js';

const COMMON: Array<[string, number, number]> = [['unsigned short common_type', 0, 2], ['unsigned char common_flags', 2, 1], ['unsigned char common_preempt_count', 3, 1], ['int common_pid', 4, 4]];
function format(name: string, id: number, fields: Array<[string, number, number]>): string {
  const line = ([decl, off, size]: [string, number, number]) => `\tfield:${decl};\toffset:${off};\tsize:${size};\tsigned:0;\n`;
  return `name: ${name}\nID: ${id}\nformat:\n${COMMON.map(line).join('')}\n${fields.map(line).join('')}\nprint fmt: "x"\n`;
}
function table(formats: string[]): EventTable {
  const t = new EventTable();
  for (const f of formats) t.add(parseEventFormat(f, 'kvm'));
  return t;
}

/** A record buffer: common_type, pid, then fields written by `fill` in the given byte order. */
function rec(len: number, type: number, pid: number, le: boolean, fill: (dv: DataView) => void): DataView {
  const dv = new DataView(new ArrayBuffer(len));
  dv.setUint16(0, type, le);
  dv.setInt32(4, pid, le);
  fill(dv);
  return dv;
}

function harness(t: EventTable, le: boolean) {
  const diag = new Diagnostics('t.dat', 'trace-dat', false);
  const asm = new ExitAssembler(newCounters(), diag, 16);
  const dec = new KvmRecordDecoder(t, asm, le);
  const decode = (kind: number, dv: DataView, ts: number, cpu = 0, pid = 100): string | null => dec.decode(kind, dv, 0, dv.byteLength, () => ts, cpu, pid);
  const rows = (): Chunk => { const cs = [...asm.finish()]; expect(cs).toHaveLength(1); return cs[0]; };
  return { diag, dec, decode, rows };
}

describe('kvm records through embedded formats', () => {
  const EXIT = format('kvm_exit', 10, [['unsigned int exit_reason', 8, 4], ['unsigned long guest_rip', 16, 8], ['unsigned int isa', 24, 4], ['unsigned int vcpu_id', 28, 4]]);
  const ENTRY = format('kvm_entry', 11, [['unsigned int vcpu_id', 8, 4]]);
  const PIO = format('kvm_pio', 12, [['unsigned char rw', 8, 1], ['unsigned int port', 12, 4], ['unsigned short size', 16, 2], ['u64 val', 24, 8]]);
  const FAST = format('kvm_fast_mmio', 15, [['u64 gpa', 8, 8]]);

  it('little-endian: 1-, 2-, 4- and 8-byte fields land in the exit they detail', () => {
    const h = harness(table([EXIT, ENTRY, PIO, FAST]), true);
    const le = true;
    // IO_INSTRUCTION (VMX 30) at rip 0xffffffff81000010 on vcpu 2; an 1-byte OUT of 0x41 (val's high word 1) to 0x3f8.
    expect(h.decode(EV_EXIT, rec(32, 10, 100, le, (d) => { d.setUint32(8, 30, le); d.setUint32(16, 0x81000010, le); d.setUint32(20, 0xffffffff, le); d.setUint32(24, 1, le); d.setUint32(28, 2, le); }), 0)).toBeNull();
    expect(h.decode(EV_PIO, rec(32, 12, 100, le, (d) => { d.setUint8(8, 1); d.setUint32(12, 0x3f8, le); d.setUint16(16, 1, le); d.setUint32(24, 0x41, le); d.setUint32(28, 1, le); }), 0)).toBeNull();
    expect(h.decode(EV_ENTRY, rec(12, 11, 100, le, (d) => d.setUint32(8, 2, le)), 500)).toBeNull();
    // EPT_MISCONFIG (VMX 49), then an ioeventfd doorbell at gpa 0x1fe003000: a write.
    expect(h.decode(EV_EXIT, rec(32, 10, 100, le, (d) => { d.setUint32(8, 49, le); d.setUint32(16, 0x10, le); d.setUint32(24, 1, le); d.setUint32(28, 2, le); }), 1000)).toBeNull();
    expect(h.decode(EV_FAST_MMIO, rec(16, 15, 100, le, (d) => { d.setUint32(8, 0xfe003000, le); d.setUint32(12, 1, le); }), 0)).toBeNull();
    expect(h.decode(EV_ENTRY, rec(12, 11, 100, le, (d) => d.setUint32(8, 2, le)), 1700)).toBeNull();
    // Rejections: a 4-byte port past 0xffff; a record shorter than its format's last field (val ends at 32).
    expect(h.decode(EV_PIO, rec(32, 12, 100, le, (d) => d.setUint32(12, 0x10000, le)), 0)).toBe('kvm_pio: port 65536 is out of range');
    expect(h.decode(EV_PIO, rec(20, 12, 100, le, () => undefined), 0)).toBe('kvm_pio record of 20 bytes is shorter than its format (32 bytes)');
    const c = h.rows();
    expect(c.length).toBe(2);
    expect([REASONS.get(c.reason[0]).name, c.vcpu[0], c.ripHi[0], c.ripLo[0], c.dur[0]]).toEqual(['IO_INSTRUCTION', 2, 0xffffffff, 0x81000010, 500]);
    expect([c.port[0], c.size[0], c.dir[0], c.valHi[0], c.valLo[0]]).toEqual([0x3f8, 1, DIR_WRITE, 1, 0x41]);
    expect(c.flags[0] & (F_PORT | F_SIZE | F_VALUE)).toBe(F_PORT | F_SIZE | F_VALUE);
    expect([REASONS.get(c.reason[1]).name, c.dur[1], c.gpaHi[1], c.gpaLo[1], c.dir[1]]).toEqual(['EPT_MISCONFIG', 700, 1, 0xfe003000, DIR_WRITE]);
    expect(c.flags[1] & F_GPA).toBe(F_GPA);
  });

  it('big-endian: 8-byte fields are high word first', () => {
    const h = harness(table([EXIT, ENTRY, FAST]), false);
    const le = false;
    expect(h.decode(EV_EXIT, rec(32, 10, 7, le, (d) => { d.setUint32(8, 49, le); d.setBigUint64(16, 0x123456789abcdef0n, le); d.setUint32(24, 1, le); d.setUint32(28, 3, le); }), 10)).toBeNull();
    expect(h.decode(EV_FAST_MMIO, rec(16, 15, 7, le, (d) => d.setBigUint64(8, 0x2_fee0_0000n, le)), 0)).toBeNull();
    expect(h.decode(EV_ENTRY, rec(12, 11, 7, le, (d) => d.setUint32(8, 3, le)), 30)).toBeNull();
    const c = h.rows();
    expect([c.vcpu[0], c.ripHi[0], c.ripLo[0], c.dur[0], c.gpaHi[0], c.gpaLo[0]]).toEqual([3, 0x12345678, 0x9abcdef0, 20, 2, 0xfee00000]);
  });

  it('formats without the fields a record needs: each says which', () => {
    const noReason = format('kvm_exit', 10, [['unsigned long guest_rip', 8, 8]]);
    const mmio = format('kvm_mmio', 13, [['u32 type', 8, 4], ['u32 len', 12, 4]]);
    const msr = format('kvm_msr', 14, [['unsigned int write', 8, 4]]);
    const fast = format('kvm_fast_mmio', 15, [['u64 addr', 8, 8]]);
    const h = harness(table([noReason, mmio, msr, fast]), true);
    expect(h.decode(EV_EXIT, rec(16, 10, 1, true, () => undefined), 0)).toBe('kvm_exit format has no exit_reason field');
    expect(h.decode(EV_MMIO, rec(16, 13, 1, true, () => undefined), 0)).toBe('kvm_mmio format has no gpa field');
    expect(h.decode(EV_MSR, rec(12, 14, 1, true, () => undefined), 0)).toBe('kvm_msr format has no ecx field');
    expect(h.decode(EV_FAST_MMIO, rec(16, 15, 1, true, () => undefined), 0)).toBe('kvm_fast_mmio format has no gpa field');
  });

  it('an old kernel\'s kvm_exit (no isa, no vcpu_id) is VMX, and its vcpu is numbered 1000+ with a note', () => {
    const oldExit = format('kvm_exit', 10, [['unsigned int exit_reason', 8, 4], ['unsigned long guest_rip', 16, 8]]);
    const oldEntry = format('kvm_entry', 11, [['unsigned int vcpu_id_not', 8, 4]]);
    const h = harness(table([oldExit, oldEntry]), true);
    expect(h.decode(EV_EXIT, rec(24, 10, 55, true, (d) => { d.setUint32(8, 12, true); d.setUint32(16, 0x20, true); }), 0)).toBeNull();
    expect(h.decode(EV_ENTRY, rec(12, 11, 55, true, () => undefined), 40)).toBeNull();
    const c = h.rows();
    // VMX 12 is HLT; the first thread's slot is 0: vcpu 1000.
    expect([REASONS.get(c.reason[0]).name, c.vcpu[0], c.dur[0]]).toEqual(['HLT', 1000, 40]);
    expect(h.diag.stats.notes).toEqual(['some exits came from threads whose vcpu number the trace never names: numbered 1000+']);
  });

  it('1- and 2-byte fields read only their own bytes: the bytes after them are not part of the value', () => {
    const PIO1 = format('kvm_pio', 12, [['unsigned char rw', 8, 1], ['unsigned short port', 10, 2], ['unsigned short size', 12, 2], ['u32 val', 16, 4]]);
    const MMIO = format('kvm_mmio', 13, [['u8 type', 8, 1], ['u16 len', 10, 2], ['u64 gpa', 16, 8]]);
    const MSR = format('kvm_msr', 14, [['u8 write', 8, 1], ['u32 ecx', 12, 4]]);
    const h = harness(table([EXIT, ENTRY, PIO1, MMIO, MSR]), true);
    const le = true;
    const exit = (ts: number, reason: number) => expect(h.decode(EV_EXIT, rec(32, 10, 100, le, (d) => { d.setUint32(8, reason, le); d.setUint32(24, 1, le); d.setUint32(28, 0, le); }), ts)).toBeNull();
    const entry = (ts: number) => expect(h.decode(EV_ENTRY, rec(12, 11, 100, le, (d) => d.setUint32(8, 0, le)), ts)).toBeNull();
    // A read (rw 0) of 2 bytes at port 0x60; every byte after each field is 0xff.
    exit(0, 30);
    expect(h.decode(EV_PIO, rec(20, 12, 100, le, (d) => { d.setUint8(8, 0); d.setUint8(9, 0xff); d.setUint16(10, 0x60, le); d.setUint16(12, 2, le); d.setUint16(14, 0xffff, le); d.setUint32(16, 0x1234, le); }), 0)).toBeNull();
    entry(10);
    // An MMIO write (type 2) of 4 bytes; then an MMIO of type 0 (unsatisfied read): a read; type 3: no direction.
    for (const [i, type] of [[1, 2], [2, 0], [3, 3]]) {
      exit(100 * i, 49);
      expect(h.decode(EV_MMIO, rec(24, 13, 100, le, (d) => { d.setUint8(8, type); d.setUint8(9, 0xff); d.setUint16(10, 4, le); d.setUint16(12, 0xffff, le); d.setUint32(16, 0xfee00000, le); }), 0)).toBeNull();
      entry(100 * i + 10);
    }
    // An MSR read (write 0, the byte after it 0xff).
    exit(500, 31);
    expect(h.decode(EV_MSR, rec(16, 14, 100, le, (d) => { d.setUint8(8, 0); d.setUint8(9, 0xff); d.setUint32(12, 0x1b, le); }), 0)).toBeNull();
    entry(510);
    const c = h.rows();
    expect(c.length).toBe(5);
    expect([c.dir[0], c.port[0], c.size[0], c.valLo[0]]).toEqual([DIR_READ, 0x60, 2, 0x1234]);
    expect([c.dir[1], c.size[1], c.gpaLo[1]]).toEqual([DIR_WRITE, 4, 0xfee00000]);
    expect([c.dir[2], c.dir[3]]).toEqual([DIR_READ, 0]);
    expect([c.dir[4], c.msr[4]]).toEqual([DIR_READ, 0x1b]);
  });

  it('old kernels\' detail formats with only the address: no size, value or direction is made up', () => {
    const PIO0 = format('kvm_pio', 12, [['unsigned int port', 8, 4]]);
    const MMIO0 = format('kvm_mmio', 13, [['u64 gpa', 8, 8]]);
    const MSR0 = format('kvm_msr', 14, [['u32 ecx', 8, 4]]);
    const h = harness(table([EXIT, ENTRY, PIO0, MMIO0, MSR0]), true);
    const le = true;
    const exit = (ts: number, reason: number) => expect(h.decode(EV_EXIT, rec(32, 10, 100, le, (d) => { d.setUint32(8, reason, le); d.setUint32(24, 1, le); }), ts)).toBeNull();
    const entry = (ts: number) => expect(h.decode(EV_ENTRY, rec(12, 11, 100, le, (d) => d.setUint32(8, 0, le)), ts)).toBeNull();
    // Every byte after the fields is 0xff: nothing may be read from there.
    const filled = (len: number, set: (d: DataView) => void) => rec(len, 0, 100, le, (d) => { for (let i = 8; i < len; i++) d.setUint8(i, 0xff); set(d); });
    exit(0, 30);
    expect(h.decode(EV_PIO, filled(24, (d) => { d.setUint16(0, 12, le); d.setInt32(4, 100, le); d.setUint32(8, 0x70, le); }), 0)).toBeNull();
    entry(10);
    exit(100, 49);
    expect(h.decode(EV_MMIO, filled(24, (d) => { d.setUint16(0, 13, le); d.setInt32(4, 100, le); d.setBigUint64(8, 0xfebf0000n, le); }), 0)).toBeNull();
    entry(110);
    exit(200, 32);
    expect(h.decode(EV_MSR, filled(24, (d) => { d.setUint16(0, 14, le); d.setInt32(4, 100, le); d.setUint32(8, 0x6e0, le); }), 0)).toBeNull();
    entry(210);
    const c = h.rows();
    const DETAIL = F_PORT | F_SIZE | F_VALUE | F_GPA | F_MSR;
    expect([c.flags[0] & DETAIL, c.port[0], c.dir[0]]).toEqual([F_PORT, 0x70, 0]);
    expect([c.flags[1] & DETAIL, c.gpaHi[1], c.gpaLo[1], c.dir[1]]).toEqual([F_GPA, 0, 0xfebf0000, 0]);
    // kvm_msr without its write field: the kernel prints msr_read for write 0, so a read.
    expect([c.flags[2] & DETAIL, c.msr[2], c.dir[2]]).toEqual([F_MSR, 0x6e0, DIR_READ]);
  });

  it('event ids: every format known (id 0 too) is "other" unless it is a kvm event; a kvm event of the kvm system wins over a same-named one', () => {
    const t = new EventTable();
    t.add(parseEventFormat(format('kvm_exit', 300, [['unsigned int exit_reason', 8, 4]]), 'other'));
    t.add(parseEventFormat(format('sched_switch', 0, [['int prev_pid', 8, 4]]), 'sched'));
    t.add(parseEventFormat(format('kvm_exit', 10, [['unsigned int exit_reason', 8, 4]]), 'kvm'));
    const h = harness(t, true);
    expect([h.dec.kindById[10], h.dec.kindById[300], h.dec.kindById[0], h.dec.kindById[1], h.dec.kindById[65535]]).toEqual([EV_EXIT, KIND_OTHER, KIND_OTHER, KIND_UNKNOWN, KIND_UNKNOWN]);
  });

  it('a field at offset 0 is a field (formats without common fields): every kvm field of every event, each first in turn', () => {
    // tracefs always puts common_* at 0-7, but an embedded format is data: offset 0 is as valid as any.
    const FIELDS: Record<string, Array<[string, number]>> = {
      kvm_exit: [['unsigned int exit_reason', 4], ['unsigned long guest_rip', 8], ['unsigned int isa', 4], ['unsigned int vcpu_id', 4]],
      kvm_pio: [['unsigned int rw', 4], ['unsigned int port', 4], ['unsigned int size', 4], ['u64 val', 8]],
      kvm_mmio: [['u32 type', 4], ['u32 len', 4], ['u64 gpa', 8], ['u64 val', 8]],
      kvm_msr: [['unsigned int write', 4], ['u32 ecx', 4], ['u64 data', 8]],
      kvm_fast_mmio: [['u64 gpa', 8]],
      kvm_entry: [['unsigned int vcpu_id', 4]],
    };
    const VALUES: Record<string, bigint> = { exit_reason: 30n, guest_rip: 0xffffffff81000010n, isa: 1n, vcpu_id: 2n, rw: 1n, port: 0x3f8n, size: 1n, val: 0x41n, type: 2n, len: 4n, gpa: 0x1fee000b0n, write: 1n, ecx: 0x6e0n, data: 0x1234n };
    const IDS: Record<string, number> = { kvm_exit: 10, kvm_entry: 11, kvm_pio: 12, kvm_mmio: 13, kvm_msr: 14, kvm_fast_mmio: 15 };
    const le = true;
    for (let first = 0; first < 4; first++) {
      // The event's fields at 0, 8, 16, 24, starting from field `first` (of those it has) and wrapping.
      const places = (name: string): Array<[string, number, number]> => {
        const fs = FIELDS[name];
        return fs.map((_, k) => { const [decl, size] = fs[(k + first) % fs.length]; return [decl, 8 * k, size]; });
      };
      const bare = (name: string) => `name: ${name}\nID: ${IDS[name]}\nformat:\n${places(name).map(([d, o, z]) => `\tfield:${d};\toffset:${o};\tsize:${z};\tsigned:0;\n`).join('')}\nprint fmt: "x"\n`;
      const h = harness(table(Object.keys(FIELDS).map(bare)), le);
      const record = (name: string, over: Record<string, bigint> = {}) => rec(32, 0, 0, le, (d) => {
        for (const [decl, off, size] of places(name)) {
          const field = decl.split(' ').pop()!;
          const v = over[field] ?? VALUES[field];
          if (size === 8) d.setBigUint64(off, v, le); else d.setUint32(off, Number(v), le);
        }
      });
      const pair = (t: number, reason: bigint, kind: number, detail: string, over: Record<string, bigint> = {}) => {
        expect(h.decode(EV_EXIT, record('kvm_exit', { exit_reason: reason }), t)).toBeNull();
        expect(h.decode(kind, record(detail, over), t)).toBeNull();
        expect(h.decode(EV_ENTRY, record('kvm_entry'), t + 50)).toBeNull();
      };
      pair(0, 30n, EV_PIO, 'kvm_pio');
      pair(100, 48n, EV_MMIO, 'kvm_mmio');
      pair(200, 32n, EV_MSR, 'kvm_msr');
      pair(300, 49n, EV_FAST_MMIO, 'kvm_fast_mmio');
      // A port of 0xffff is the last one there is, not out of range.
      pair(400, 30n, EV_PIO, 'kvm_pio', { port: 0xffffn });
      // isa 2: an SVM code (0x7b IOIO), not VMX 123; an entry naming another vcpu does not rename an exit that named its own.
      expect(h.decode(EV_EXIT, record('kvm_exit', { exit_reason: 0x7bn, isa: 2n }), 500)).toBeNull();
      expect(h.decode(EV_ENTRY, record('kvm_entry', { vcpu_id: 7n }), 550)).toBeNull();
      const c = h.rows();
      const at = (k: number) => [REASONS.get(c.reason[k]).name, c.vcpu[k], c.ripHi[k], c.ripLo[k], c.dur[k]];
      expect([first, at(0), at(1), at(2), at(3)]).toEqual([first, ['IO_INSTRUCTION', 2, 0xffffffff, 0x81000010, 50], ['EPT_VIOLATION', 2, 0xffffffff, 0x81000010, 50], ['MSR_WRITE', 2, 0xffffffff, 0x81000010, 50], ['EPT_MISCONFIG', 2, 0xffffffff, 0x81000010, 50]]);
      expect([c.dir[0], c.port[0], c.size[0], c.valHi[0], c.valLo[0], c.flags[0] & (F_PORT | F_SIZE | F_VALUE)]).toEqual([DIR_WRITE, 0x3f8, 1, 0, 0x41, F_PORT | F_SIZE | F_VALUE]);
      expect([c.dir[1], c.size[1], c.gpaHi[1], c.gpaLo[1], c.valLo[1], c.flags[1] & (F_SIZE | F_GPA | F_VALUE)]).toEqual([DIR_WRITE, 4, 1, 0xfee000b0, 0x41, F_SIZE | F_GPA | F_VALUE]);
      expect([c.dir[2], c.msr[2], c.valLo[2], c.flags[2] & (F_MSR | F_VALUE)]).toEqual([DIR_WRITE, 0x6e0, 0x1234, F_MSR | F_VALUE]);
      expect([c.dir[3], c.gpaHi[3], c.gpaLo[3], c.flags[3] & F_GPA]).toEqual([DIR_WRITE, 1, 0xfee000b0, F_GPA]);
      expect([c.port[4], h.diag.stats.rejected]).toEqual([0xffff, 0]);
      // SVM 0x7b is IOIO ("io" in the kernel's svm table); read as VMX it would be an unknown code 123.
      expect([REASONS.get(c.reason[5]).name, c.vcpu[5], c.dur[5]]).toEqual(['io', 2, 50]);
    }
  });

  it('an exit without vcpu_id takes its vcpu from the entry that closes it; array fields are not scalars', () => {
    const noVcpu = format('kvm_exit', 10, [['unsigned int exit_reason', 8, 4], ['unsigned long guest_rip', 16, 8]]);
    const h = harness(table([noVcpu, ENTRY]), true);
    expect(h.decode(EV_EXIT, rec(24, 10, 55, true, (d) => { d.setUint32(8, 12, true); d.setUint32(16, 0x20, true); }), 0)).toBeNull();
    expect(h.decode(EV_ENTRY, rec(12, 11, 55, true, (d) => d.setUint32(8, 5, true)), 40)).toBeNull();
    const c = h.rows();
    expect([REASONS.get(c.reason[0]).name, c.vcpu[0], c.dur[0]]).toEqual(['HLT', 5, 40]);
    // The same with the entry's vcpu_id at offset 0 (a format without common fields).
    const bareEntry = 'name: kvm_entry\nID: 11\nformat:\n\tfield:unsigned int vcpu_id;\toffset:0;\tsize:4;\tsigned:0;\n\nprint fmt: "x"\n';
    const b = harness(table([noVcpu, bareEntry]), true);
    expect(b.decode(EV_EXIT, rec(24, 10, 55, true, (d) => { d.setUint32(8, 12, true); d.setUint32(16, 0x20, true); }), 0)).toBeNull();
    expect(b.decode(EV_ENTRY, new DataView(new Uint32Array([6]).buffer), 40)).toBeNull();
    expect(b.rows().vcpu[0]).toBe(6);
    // guest_rip declared as a byte array (of 8, or of 0): no rip is read from it.
    for (const decl of ['unsigned char guest_rip[8]', 'unsigned char guest_rip[0]']) {
      const arr = format('kvm_exit', 10, [['unsigned int exit_reason', 8, 4], [decl, 16, 8], ['unsigned int vcpu_id', 24, 4]]);
      const g = harness(table([arr, ENTRY]), true);
      expect(g.decode(EV_EXIT, rec(32, 10, 55, true, (d) => { d.setUint32(8, 12, true); d.setUint32(16, 0x20, true); d.setUint32(24, 1, true); }), 0)).toBeNull();
      expect(g.decode(EV_ENTRY, rec(12, 11, 55, true, (d) => d.setUint32(8, 1, true)), 40)).toBeNull();
      const r = g.rows();
      expect([decl, r.ripHi[0], r.ripLo[0], r.vcpu[0]]).toEqual([decl, 0, 0, 1]);
    }
  });

  it('ids of other events are neither a kvm kind nor unknown; a kind the decoder has no case for decodes to nothing, without error', () => {
    const t = new EventTable();
    t.add(parseEventFormat(format('sched_switch', 300, [['int prev_pid', 8, 4]]), 'sched'));
    t.add(parseEventFormat(format('kvm_exit', 10, [['unsigned int exit_reason', 8, 4]]), 'kvm'));
    const h = harness(t, true);
    const kinds = [EV_EXIT, EV_ENTRY, EV_PIO, EV_MMIO, EV_MSR, EV_FAST_MMIO, KIND_UNKNOWN];
    expect(kinds.includes(h.dec.kindById[300])).toBe(false);
    expect(h.dec.kindById[300]).toBe(KIND_OTHER);
    expect(h.decode(99, rec(16, 300, 1, true, () => undefined), 0)).toBeNull();
  });

  it('a table without common_type/common_pid formats assumes the kernel\'s fixed places', () => {
    const t = new EventTable();
    expect(t.commonType()).toEqual({ offset: 0, size: 2 });
    expect(t.commonPid()).toEqual({ offset: 4, size: 4 });
  });
});

// ---------------------------------------------------------------------------
// The same kvm events as trace-cmd report text (kvm-payloads.ts): the payload rejections and
// the shapes the quick paths hand to the full parser.

import { F_FAILED_ENTRY } from '../src/model/chunk.js';
import { openTrace } from '../src/formats/index.js';

describe('kvm payloads in report text', () => {
  /** A trace-cmd report line of thread CPU 0/KVM-7301 on host CPU 1, `us` microseconds after 3000 s. */
  const line = (us: number, event: string, payload: string): string => `       CPU 0/KVM-7301  [001] d....  3000.${String(us).padStart(6, '0')}: ${event}: ${' '.repeat(Math.max(1, 21 - event.length))}${payload}`;

  async function readText(lines: string[]) {
    const p = file('report.txt', ['# composed for a test', 'cpus=2', ...lines].join('\n') + '\n');
    const s = await openTrace(p);
    const chunks: Chunk[] = [];
    for await (const c of s.chunks) chunks.push(c);
    return { p, s, rows: chunks.flatMap((c) => Array.from({ length: c.length }, (_, i) => ({ reason: REASONS.get(c.reason[i]).name, dur: c.dur[i], flags: c.flags[i], dir: c.dir[i], gpaLo: c.gpaLo[i], msr: c.msr[i] }))) };
  }

  it('rejections: a bad UNKNOWN code, a bad fast-mmio gpa, a bad MSR index, each with its line', async () => {
    const { p, s, rows } = await readText([
      line(100, 'kvm_exit', 'vcpu 0 reason UNKNOWN (12 rip 0x10'), //                        no closing parenthesis
      line(200, 'kvm_exit', 'vcpu 0 reason EPT_MISCONFIG rip 0x20 info1 0x0'),
      line(201, 'kvm_fast_mmio', 'fast mmio at gpa 0xzz'),
      line(203, 'kvm_entry', 'vcpu 0, rip 0x24'),
      line(300, 'kvm_exit', 'vcpu 0 reason MSR_WRITE rip 0x30 info1 0x0'),
      line(301, 'kvm_msr', 'msr_write zz = 0x1'),
      line(304, 'kvm_entry', 'vcpu 0, rip 0x34'),
    ]);
    expect(s.stats.rejections).toEqual([
      `${p}:3: kvm_exit: bad UNKNOWN (code)`,
      `${p}:5: kvm_fast_mmio: bad gpa`,
      `${p}:8: kvm_msr: bad msr index`,
    ]);
    expect(rows.map((r) => [r.reason, r.dur])).toEqual([['EPT_MISCONFIG', 3000], ['MSR_WRITE', 4000]]);
  });

  it('libtraceevent\'s `UNKNOWN (code)` with bit 31 set is a failed VM entry of the basic reason (VMX)', async () => {
    // 0x80000021 = 2147483681: bit 31 and basic reason 33 (INVALID_STATE, "VM-entry failure due to invalid guest state").
    const { rows } = await readText([
      line(100, 'kvm_exit', 'vcpu 0 reason UNKNOWN (2147483681) rip 0x10 info1 0x0'),
      line(102, 'kvm_entry', 'vcpu 0, rip 0x10'),
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0].reason).toBe(REASONS.get(REASONS.byNativeCode('vmx', 33)).name);
    expect(rows[0].flags & F_FAILED_ENTRY).toBe(F_FAILED_ENTRY);
  });

  it('`mmio write` with nothing after the direction still gives the exit its direction', async () => {
    const { rows, s } = await readText([
      line(100, 'kvm_exit', 'vcpu 0 reason EPT_MISCONFIG rip 0x10 info1 0x0'),
      line(101, 'kvm_mmio', 'mmio write'),
      line(103, 'kvm_entry', 'vcpu 0, rip 0x14'),
    ]);
    expect(s.stats.rejected).toBe(0);
    expect(rows.map((r) => [r.reason, r.dur, r.dir])).toEqual([['EPT_MISCONFIG', 3000, DIR_WRITE]]);
  });

  it('`reason` followed only by blanks is an empty reason, rejected', async () => {
    const { p, s, rows } = await readText([
      line(100, 'kvm_exit', 'vcpu 0 reason    '),
      line(101, 'kvm_entry', 'vcpu 0, rip 0x14'),
    ]);
    expect(s.stats.rejections).toEqual([`${p}:3: kvm_exit: empty reason`]);
    expect(rows).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// perf.data (perf-data.ts, perf/perf-file.ts, perf/ordered-queue.ts) on pipe-mode files composed
// here byte by byte after perf.data-file-format.txt and perf_event.h, in either byte order, with
// the kernel's kvm_exit/kvm_entry formats (fixtures/tracefs). Times are T0 + the offsets written.

import { readFileSync } from 'node:fs';
import { perfDataRecords, readPerfData } from '../src/formats/perf-data.js';
import { ChunkPool } from '../src/model/chunk.js';
import { fx } from './helpers.js';

const SMP = { IP: 1, TID: 2, TIME: 4, ADDR: 8, READ: 16, CALLCHAIN: 32, ID: 64, CPU: 128, PERIOD: 256, STREAM_ID: 512, RAW: 1024, IDENTIFIER: 0x10000 };
/** read_format TOTAL_TIME_ENABLED | ID | GROUP | LOST. */
const RF_GROUP = 1 | 4 | 8 | 16;
const T0 = 5_000_000_000n;

class Perf extends PerfBytes {
  /** PERF_RECORD_HEADER_ATTR: a 128-byte tracepoint attr (sample_id_all when asked) and its ids. */
  attr(config: number, st: number, ids: number[], idAll = true): Buffer {
    const a = Buffer.concat([this.u32(2), this.u32(128), this.u64(config), this.u64(1), this.u64(st), this.u64(RF_GROUP), this.u64(idAll ? 1n << 18n : 0n), Buffer.alloc(128 - 48)]);
    return this.record(64, Buffer.concat([a, ...ids.map((i) => this.u64(i))]));
  }
  /** HEADER_TRACING_DATA: the tracing-data block (endianness byte, kvm_exit and kvm_entry formats), padded to 8. */
  tracing(): Buffer {
    const hp = Buffer.from('\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n');
    const he = Buffer.from('# compressed entry header\n');
    const parts = [Buffer.from([0x17, 0x08, 0x44]), Buffer.from('tracing0.6\0'), Buffer.from([this.le ? 0 : 1, 8]), this.u32(4096),
      Buffer.from('header_page\0'), this.u64(hp.length), hp, Buffer.from('header_event\0'), this.u64(he.length), he,
      this.u32(0), this.u32(1), Buffer.from('kvm\0'), this.u32(2)];
    for (const n of ['kvm_exit', 'kvm_entry']) { const f = readFileSync(fx('tracefs', `${n}.format`)); parts.push(this.u64(f.length), f); }
    parts.push(this.u32(0), this.u32(0), this.u64(0));
    const td = Buffer.concat(parts);
    const pad = Buffer.alloc((8 - (td.length % 8)) % 8);
    return Buffer.concat([this.record(66, this.u32(td.length + pad.length)), td, pad]);
  }
  /** kvm_exit (type 103): exit_reason @8, guest_rip @16, isa @24 (1: VMX), vcpu_id @56. */
  exitRaw(pid: number, vcpu: number, code: number, rip: bigint): Buffer {
    const b = Buffer.alloc(72);
    b.set(this.u16(103), 0); b.set(this.u32(pid), 4); b.set(this.u32(code), 8); b.set(this.u64(rip), 16); b.set(this.u32(1), 24); b.set(this.u32(vcpu), 56);
    return b;
  }
  /** kvm_entry (type 115): vcpu_id @8. */
  entryRaw(pid: number, vcpu: number): Buffer {
    const b = Buffer.alloc(36);
    b.set(this.u16(115), 0); b.set(this.u32(pid), 4); b.set(this.u32(vcpu), 8);
    return b;
  }
  /** A PERF_RECORD_SAMPLE with the fields of `st` in perf_event.h's order. */
  sample(st: number, s: { id: number; pid?: number; tid: number; time?: bigint; cpu: number; raw?: Buffer }): Buffer {
    const p: Buffer[] = [];
    if (st & SMP.IDENTIFIER) p.push(this.u64(s.id));
    if (st & SMP.IP) p.push(this.u64(0xffffffff81000000n));
    if (st & SMP.TID) p.push(this.u32(s.pid ?? 900), this.u32(s.tid));
    if (st & SMP.TIME) p.push(this.u64(s.time ?? 0n));
    if (st & SMP.ADDR) p.push(this.u64(0xdead));
    if (st & SMP.ID) p.push(this.u64(s.id));
    if (st & SMP.STREAM_ID) p.push(this.u64(s.id + 1000));
    if (st & SMP.CPU) p.push(this.u32(s.cpu), this.u32(0));
    if (st & SMP.PERIOD) p.push(this.u64(1));
    // read_format GROUP: nr, time_enabled, then {value, id, lost} per member.
    if (st & SMP.READ) p.push(this.u64(2), this.u64(777), this.u64(1), this.u64(s.id), this.u64(0), this.u64(2), this.u64(s.id + 1), this.u64(0));
    if (st & SMP.CALLCHAIN) p.push(this.u64(3), this.u64(1), this.u64(2), this.u64(3));
    if (st & SMP.RAW && s.raw) {
      const pad = (8 - ((4 + s.raw.length) % 8)) % 8;
      p.push(this.u32(s.raw.length + pad), s.raw, Buffer.alloc(pad));
    }
    return this.record(9, Buffer.concat(p));
  }
  /** The sample_id_all trailer of a non-sample record: TID, TIME, ID, STREAM_ID, CPU, IDENTIFIER as `st` has them. */
  trailer(st: number, s: { id: number; tid: number; time: bigint; cpu: number }): Buffer {
    const p: Buffer[] = [];
    if (st & SMP.TID) p.push(this.u32(900), this.u32(s.tid));
    if (st & SMP.TIME) p.push(this.u64(s.time));
    if (st & SMP.ID) p.push(this.u64(s.id));
    if (st & SMP.STREAM_ID) p.push(this.u64(s.id + 1000));
    if (st & SMP.CPU) p.push(this.u32(s.cpu), this.u32(0));
    if (st & SMP.IDENTIFIER) p.push(this.u64(s.id));
    return Buffer.concat(p);
  }
  round(): Buffer { return this.record(68, Buffer.alloc(0)); }
}

interface PerfRow { t: bigint; vcpu: number; reason: string; dur: number }
async function readPerf(bytes: Buffer) {
  const p = file('composed.data', bytes);
  const s = await openTrace(p);
  const rows: PerfRow[] = [];
  let err: unknown = null;
  try {
    for await (const c of s.chunks) for (let i = 0; i < c.length; i++) rows.push({ t: c.tsBaseNs + BigInt(c.ts[i]), vcpu: c.vcpu[i], reason: REASONS.get(c.reason[i]).name, dur: c.dur[i] });
  } catch (e) { err = e; }
  rows.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.vcpu - b.vcpu));
  return { p, s, rows, err };
}

describe('perf.data: every sample field, both byte orders', () => {
  const ALL = SMP.IDENTIFIER | SMP.IP | SMP.TID | SMP.TIME | SMP.ADDR | SMP.ID | SMP.STREAM_ID | SMP.CPU | SMP.PERIOD | SMP.READ | SMP.CALLCHAIN | SMP.RAW;
  for (const le of [true, false]) {
    it(`${le ? 'little' : 'big'}-endian: a lost-events record on CPU 1 (its sample_id trailer) closes that CPU's open exit only`, async () => {
      const P = new Perf(le);
      const bytes = Buffer.concat([
        P.head(), P.attr(103, ALL, [11, 12]), P.attr(115, ALL, [21, 22]), P.tracing(),
        P.sample(ALL, { id: 11, tid: 901, time: T0 + 100n, cpu: 0, raw: P.exitRaw(901, 0, 12, 0xffffffff81000200n) }), //  HLT
        P.sample(ALL, { id: 12, tid: 902, time: T0 + 300n, cpu: 1, raw: P.exitRaw(902, 1, 30, 0xffffffff81000100n) }), // IO_INSTRUCTION
        P.round(),
        // PERF_RECORD_LOST: id, lost count 5, then the trailer: CPU 1 at T0 + 400.
        P.record(2, Buffer.concat([P.u64(12), P.u64(5), P.trailer(ALL, { id: 12, tid: 902, time: T0 + 400n, cpu: 1 })])),
        P.sample(ALL, { id: 22, tid: 902, time: T0 + 700n, cpu: 1, raw: P.entryRaw(902, 1) }),
        P.sample(ALL, { id: 21, tid: 901, time: T0 + 1100n, cpu: 0, raw: P.entryRaw(901, 0) }),
        P.round(),
      ]);
      const r = await readPerf(bytes);
      expect(r.err).toBeNull();
      expect(r.s.stats).toMatchObject({ lines: 4, events: 4, skipped: 0, rejected: 0 });
      // vcpu 0's HLT pairs (1100 - 100); vcpu 1's exit was open across the loss: unpaired, and so is its entry.
      expect(r.rows.map((x) => [x.t - T0, x.vcpu, x.reason, x.dur])).toEqual([[100n, 0, 'HLT', 1000], [300n, 1, 'IO_INSTRUCTION', NaN]]);
      expect(r.s.counters).toMatchObject({ lostEvents: 5, lostMarkers: 1, unpairedExits: 1, unpairedEntries: 1 });
    });
  }
});

describe('perf.data: times and order', () => {
  const ST = SMP.IDENTIFIER | SMP.TID | SMP.TIME | SMP.CPU | SMP.RAW;

  it('times past 2^53 ns (104 days of uptime) stay exact, the first in the file later than the second', async () => {
    const P = new Perf(true);
    const TWO53 = 2n ** 53n;
    const bytes = Buffer.concat([
      P.head(), P.attr(103, ST, [11]), P.attr(115, ST, [21]), P.tracing(),
      P.sample(ST, { id: 11, tid: 901, time: TWO53 + 500n, cpu: 0, raw: P.exitRaw(901, 0, 12, 0x10n) }),
      P.sample(ST, { id: 11, tid: 902, time: TWO53 - 300n, cpu: 1, raw: P.exitRaw(902, 1, 12, 0x20n) }),
      P.sample(ST, { id: 21, tid: 902, time: TWO53 + 700n, cpu: 1, raw: P.entryRaw(902, 1) }),
      P.sample(ST, { id: 21, tid: 901, time: TWO53 + 1501n, cpu: 0, raw: P.entryRaw(901, 0) }),
    ]);
    const r = await readPerf(bytes);
    expect(r.err).toBeNull();
    // 2^53 = 9007199254740992.
    expect(r.rows.map((x) => [x.t, x.vcpu, x.dur])).toEqual([[9007199254740692n, 1, 1000], [9007199254741492n, 0, 1001]]);
  });

  it('without TIME every sample is at one time: file order, and a lost record without sample_id_all resets every CPU', async () => {
    const P = new Perf(true);
    const st = SMP.IDENTIFIER | SMP.TID | SMP.CPU | SMP.RAW;
    const bytes = Buffer.concat([
      P.head(), P.attr(103, st, [11], false), P.attr(115, st, [21], false), P.tracing(),
      P.sample(st, { id: 11, tid: 901, cpu: 0, raw: P.exitRaw(901, 0, 12, 0x10n) }),
      P.sample(st, { id: 11, tid: 902, cpu: 1, raw: P.exitRaw(902, 1, 30, 0x20n) }),
      P.round(),
      P.record(2, Buffer.concat([P.u64(11), P.u64(3)])), // no trailer: no CPU named
      P.sample(st, { id: 21, tid: 901, cpu: 0, raw: P.entryRaw(901, 0) }),
      P.sample(st, { id: 21, tid: 902, cpu: 1, raw: P.entryRaw(902, 1) }),
      P.sample(st, { id: 11, tid: 903, cpu: 2, raw: P.exitRaw(903, 2, 10, 0x30n) }), // CPUID, after the loss
      P.sample(st, { id: 21, tid: 903, cpu: 2, raw: P.entryRaw(903, 2) }),
      P.round(),
    ]);
    const r = await readPerf(bytes);
    expect(r.err).toBeNull();
    expect(r.rows.map((x) => [x.vcpu, x.reason, x.dur])).toEqual([[0, 'HLT', NaN], [1, 'IO_INSTRUCTION', NaN], [2, 'CPUID', 0]]);
    expect(r.s.counters).toMatchObject({ lostEvents: 3, lostMarkers: 1, unpairedExits: 2, unpairedEntries: 2 });
  });

  it('a sample older than what a round already delivered is delivered at once (time went backwards), not dropped', async () => {
    const P = new Perf(true);
    const bytes = Buffer.concat([
      P.head(), P.attr(103, ST, [11]), P.attr(115, ST, [21]), P.tracing(),
      P.sample(ST, { id: 11, tid: 901, time: T0 + 100n, cpu: 0, raw: P.exitRaw(901, 0, 12, 0x10n) }),
      P.sample(ST, { id: 11, tid: 902, time: T0 + 200n, cpu: 1, raw: P.exitRaw(902, 1, 12, 0x20n) }),
      P.round(),
      P.sample(ST, { id: 21, tid: 901, time: T0 + 1000n, cpu: 0, raw: P.entryRaw(901, 0) }),
      P.round(), // delivers up to T0 + 200: both exits
      P.sample(ST, { id: 21, tid: 902, time: T0 + 150n, cpu: 1, raw: P.entryRaw(902, 1) }), // before its own exit
      P.round(),
    ]);
    const r = await readPerf(bytes);
    expect(r.err).toBeNull();
    expect(r.s.stats).toMatchObject({ lines: 4, events: 4 });
    expect(r.s.counters).toMatchObject({ timeWentBackwards: 1, unpairedExits: 1 });
    expect(r.rows.map((x) => [x.t - T0, x.dur])).toEqual([[100n, 900], [200n, NaN]]);
  });

  it('1,100 samples in one round (more than the queue\'s first 1,024 slots and 64 KiB of payloads) are all delivered in order', async () => {
    const P = new Perf(true);
    const recs: Buffer[] = [P.head(), P.attr(103, ST, [11]), P.attr(115, ST, [21]), P.tracing()];
    // 550 exit/entry pairs on one thread, written newest first: the queue must sort them. Pair k: exit at 10k, entry at 10k + 3.
    for (let k = 549; k >= 0; k--) {
      recs.push(P.sample(ST, { id: 21, tid: 901, time: T0 + BigInt(10 * k + 3), cpu: 0, raw: P.entryRaw(901, 0) }));
      recs.push(P.sample(ST, { id: 11, tid: 901, time: T0 + BigInt(10 * k), cpu: 0, raw: P.exitRaw(901, 0, 12, BigInt(0x1000 + k)) }));
    }
    const r = await readPerf(Buffer.concat(recs));
    expect(r.err).toBeNull();
    expect(r.s.stats).toMatchObject({ lines: 1100, events: 1100 });
    expect(r.rows).toHaveLength(550);
    expect(r.rows.every((x, k) => x.t === T0 + BigInt(10 * k) && x.dur === 3)).toBe(true);
  });
});

describe('perf.data: what is skipped, rejected, refused', () => {
  const ST = SMP.IDENTIFIER | SMP.TID | SMP.TIME | SMP.CPU | SMP.RAW;

  it('samples without RAW are skipped; no tracing data is said', async () => {
    const P = new Perf(true);
    const st = SMP.TID | SMP.TIME | SMP.CPU;
    const r = await readPerf(Buffer.concat([P.head(), P.attr(1, st, [5]), P.sample(st, { id: 5, tid: 1, time: T0, cpu: 0 }), P.sample(st, { id: 5, tid: 1, time: T0 + 1n, cpu: 0 })]));
    expect(r.err).toBeNull();
    expect(r.s.stats).toMatchObject({ lines: 2, skipped: 2, events: 0 });
    expect(r.s.stats.notes).toContain('this perf.data has no tracing data (HEADER_TRACING_DATA): no tracepoint samples (record with perf record -e "kvm:*" or perf kvm stat record)');
  });

  it('a HEADER_ATTR whose attr is shorter than its 48 fixed bytes, or longer than its record, is rejected at the attr', async () => {
    const P = new Perf(true);
    // 40 bytes: type 2, size 40, then 32 zero bytes; the reader once filled the missing fields from the bytes after the record.
    const short = P.record(64, Buffer.concat([P.u32(2), P.u32(40), Buffer.alloc(32)]));
    const r = await readPerf(Buffer.concat([P.head(), short, P.tracing()]));
    // The attr starts after the 16-byte pipe header and the record's 8-byte header: 0x18.
    expect(String(r.err)).toBe(`ExitscopeError: ${r.p}:@0x18: perf_event_attr claims 40 bytes: shorter than the 48 bytes of its fixed fields`);
    // 128 claimed, 48 present.
    const long = P.record(64, Buffer.concat([P.u32(2), P.u32(128), Buffer.alloc(40)]));
    const r2 = await readPerf(Buffer.concat([P.head(), long, P.tracing()]));
    expect(String(r2.err)).toBe(`ExitscopeError: ${r2.p}:@0x18: perf_event_attr claims 128 bytes: more than its HEADER_ATTR record holds`);
  });

  it('a tracepoint sample before the tracing data: one error at its offset', async () => {
    const P = new Perf(true);
    const head = Buffer.concat([P.head(), P.attr(103, ST, [11])]);
    const r = await readPerf(Buffer.concat([head, P.sample(ST, { id: 11, tid: 1, time: T0, cpu: 0, raw: P.exitRaw(1, 0, 12, 0n) }), P.tracing()]));
    expect(String(r.err)).toBe(`ExitscopeError: ${r.p}:@0x${head.length.toString(16)}: tracepoint sample before (or without) the tracing data that describes its format (HEADER_TRACING_DATA)`);
    expect(r.s.stats).toMatchObject({ lines: 0, skipped: 0 });
  });

  it('RAW data too short for common_type is rejected at its record', async () => {
    const P = new Perf(true);
    const head = Buffer.concat([P.head(), P.attr(103, ST, [11]), P.tracing()]);
    const rec = P.record(9, Buffer.concat([P.u64(11), P.u32(900), P.u32(1), P.u64(T0), P.u32(0), P.u32(0), P.u32(1), Buffer.from([0x67, 0, 0, 0])]));
    const r = await readPerf(Buffer.concat([head, rec]));
    expect(r.err).toBeNull();
    expect(r.s.stats.rejections).toEqual([`${r.p}:@0x${head.length.toString(16)}: RAW data of 1 bytes is too short for common_type`]);
  });

  it('PERF_RECORD_LOST_SAMPLES counts as lost events too', async () => {
    const P = new Perf(true);
    const r = await readPerf(Buffer.concat([P.head(), P.attr(103, ST, [11]), P.attr(115, ST, [21]), P.tracing(),
      P.record(13, Buffer.concat([P.u64(7), P.trailer(ST, { id: 11, tid: 1, time: T0, cpu: 0 })]))]));
    expect(r.err).toBeNull();
    expect(r.s.counters).toMatchObject({ lostEvents: 7, lostMarkers: 1 });
  });

  it('samples from nine and from 64 processes: the note lists eight pids then "...", and 64 as "64+"', async () => {
    for (const [n, want] of [[9, 'kvm samples came from 9 processes (VMs: pid 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, ...); the vm column (the QEMU pid) tells their exits apart'],
      [65, 'kvm samples came from 64+ processes (VMs: pid 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, ...); the vm column (the QEMU pid) tells their exits apart']] as const) {
      const P = new Perf(true);
      const recs = [P.head(), P.attr(115, ST, [21]), P.tracing()];
      for (let k = 0; k < n; k++) recs.push(P.sample(ST, { id: 21, pid: 1000 + k, tid: 5000 + k, time: T0 + BigInt(k), cpu: 0, raw: P.entryRaw(1000 + k, 0) }));
      const r = await readPerf(Buffer.concat(recs));
      expect(r.s.stats.notes).toContain(want);
    }
  });

  it('a compression feature of another type, gzip, an unopenable path', async () => {
    const P = new Perf(true);
    const head = P.head();
    // HEADER_FEATURE: bit 27 (COMPRESSED), then version 0, type 2: the type is at record + 16 + 4.
    const r = await readPerf(Buffer.concat([head, P.record(80, Buffer.concat([P.u64(27), P.u32(0), P.u32(2), P.u32(3), P.u32(0)]))]));
    expect(String(r.err)).toBe(`ExitscopeError: ${r.p}:@0x${(head.length + 20).toString(16)}: perf.data compressed with type 2; exitscope reads zstd (type 1) only`);
    const state = () => ({ diag: new Diagnostics('x', 'perf-data', false), columns: new Set<never>(), counters: newCounters(), vms: new Map(), pool: new ChunkPool() });
    const none = (async function* () { /* nothing */ })();
    await expect(readPerfData({ path: 'a.data.gz', head: Buffer.alloc(0), chunks: none, gzip: true, close: async () => undefined }, state(), { strict: false }).next()).rejects.toThrow('a.data.gz: a gzip-compressed perf.data: decompress it first (gunzip)');
    const missing = join(tmp, 'no.data');
    await expect(readPerfData({ path: missing, head: Buffer.alloc(0), chunks: none, gzip: false, close: async () => undefined }, state(), { strict: false }).next()).rejects.toThrow(`${missing}: cannot open (ENOENT)`);
  });

  it('perfDataRecords stops at a sample whose id matches no attribute, naming it', async () => {
    const P = new Perf(true);
    const head = Buffer.concat([P.head(), P.attr(103, ST, [11]), P.attr(115, ST, [21]), P.tracing()]);
    const p = file('noattr.data', Buffer.concat([head, P.sample(ST, { id: 99, tid: 1, time: T0, cpu: 0, raw: P.entryRaw(1, 0) })]));
    const got: unknown[] = [];
    await expect((async () => { for await (const x of perfDataRecords(p)) got.push(x); })()).rejects.toThrow(`${p}:@0x0: @0x${head.length.toString(16)}: sample whose id matches no event attribute`);
  });
});

// ---------------------------------------------------------------------------
// trace.dat structure (tracing/trace-dat-file.ts, trace-dat.ts): the real files of
// fixtures/trace-dat (441 records on 2 CPUs) with options added or bytes changed, located by the
// layout of trace-cmd.dat.v6/v7.5.txt (tags, option ids), not with the reader.

import { gzipSync } from 'node:zlib';
import { readTraceDat, traceDatRecords } from '../src/formats/trace-dat.js';

const V6 = readFileSync(fx('trace-dat', 'kvm-pio-v6.dat'));
const V7 = readFileSync(fx('trace-dat', 'kvm-pio-v7-none.dat'));
const le32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const le64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
const opt = (id: number, data: Buffer) => Buffer.concat([Buffer.from([id & 255, id >> 8]), le32(data.length), data]);

/** The v6 fixture with `extra` options after its own; CPU data offsets moved by the bytes inserted. `tail` is appended. */
function v6With(extra: (shiftedTable: Buffer, fileSizeBeforeTail: number) => Buffer[], tail: (shiftedTable: Buffer) => Buffer = () => Buffer.alloc(0)): Buffer {
  const optionsAt = V6.indexOf(Buffer.from('options  \0'));
  const cpus = V6.readUInt32LE(optionsAt - 4);
  let p = optionsAt + 10;
  for (;;) { const id = V6.readUInt16LE(p); if (id === 0) break; p += 6 + V6.readUInt32LE(p + 2); }
  const doneAt = p;
  const tableAt = doneAt + 2 + 10;
  expect(V6.toString('latin1', doneAt + 2, tableAt)).toBe('flyrecord\0');
  const tableLen = 16 * cpus;
  // Two passes: the inserted options' size fixes the shift, and the options may name offsets that depend on it.
  const size0 = Buffer.concat(extra(Buffer.alloc(tableLen), 0)).length;
  const table = Buffer.from(V6.subarray(tableAt, tableAt + tableLen));
  for (let i = 0; i < cpus; i++) if (table.readBigUInt64LE(16 * i + 8) > 0n) table.writeBigUInt64LE(table.readBigUInt64LE(16 * i) + BigInt(size0), 16 * i);
  const inserted = Buffer.concat(extra(table, V6.length + size0));
  expect(inserted.length).toBe(size0);
  return Buffer.concat([V6.subarray(0, doneAt), inserted, V6.subarray(doneAt, tableAt), table, V6.subarray(tableAt + tableLen), tail(table)]);
}

async function readDat(bytes: Buffer, opts: OpenTraceOptionsLike = {}) {
  const p = file('t.dat', bytes);
  const s = await openTrace(p, opts);
  let err: unknown = null;
  try { for await (const _ of s.chunks) void _; } catch (e) { err = e; }
  return { p, s, err };
}
type OpenTraceOptionsLike = { format?: string; strict?: boolean };

describe('trace.dat v6 options', () => {
  it('DATE and BUFFER_TEXT options are noted, the records read as without them', async () => {
    const plain = await readDat(V6);
    const r = await readDat(v6With(() => [opt(1, Buffer.from('0x5f5e100\0')), opt(22, Buffer.from('latency\0'))]));
    expect(r.err).toBeNull();
    expect(r.s.stats.notes).toContain('the file has a DATE option (trace-cmd record --date); timestamps are left as recorded, as trace-cmd report does without --date');
    expect(r.s.stats.notes).toContain('the file holds a latency-format (text) buffer, which is not read');
    expect({ ...r.s.stats, path: '', notes: [] }).toEqual({ ...plain.s.stats, path: '', notes: [] });
  });

  it('a buffer instance (trace-cmd record -B) whose data is a copy of the top buffer\'s: every record read twice', async () => {
    const plain = await readDat(V6);
    // BUFFER option: u64 offset of the instance's "flyrecord\0" + CPU table (appended at the end), its name.
    const bytes = v6With((_t, end) => [opt(3, Buffer.concat([le64(end), Buffer.from('vm1\0')]))], (t) => Buffer.concat([Buffer.from('flyrecord\0'), t]));
    const r = await readDat(bytes);
    expect(r.err).toBeNull();
    const s0 = plain.s.stats, s1 = r.s.stats;
    expect(s0.lines).toBeGreaterThan(400);
    expect([s1.lines, s1.events, s1.skipped, s1.rejected]).toEqual([2 * s0.lines, 2 * s0.events, 2 * s0.skipped, 2 * s0.rejected]);
  });

  it('a buffer instance with one CPU of empty data reads the other', async () => {
    const plain = await readDat(V6);
    const bytes = v6With((_t, end) => [opt(3, Buffer.concat([le64(end), Buffer.from('vm1\0')]))], (t) => {
      const u = Buffer.from(t);
      u.writeBigUInt64LE(0n, 8); // CPU 0: size 0
      return Buffer.concat([Buffer.from('flyrecord\0'), u]);
    });
    const r = await readDat(bytes);
    expect(r.err).toBeNull();
    expect(r.s.stats.lines).toBeGreaterThan(plain.s.stats.lines);
    expect(r.s.stats.lines).toBeLessThan(2 * plain.s.stats.lines);
  });

  it('a buffer instance whose offset holds no "flyrecord" is left out with a note; the top buffer is read', async () => {
    const plain = await readDat(V6);
    const r = await readDat(v6With(() => [opt(3, Buffer.concat([le64(0), Buffer.from('vm1\0')]))]));
    expect(r.err).toBeNull();
    // The file's first 10 bytes: 17 08 44 "tracing", the two control bytes shown as dots.
    expect(r.s.stats.notes).toContain('buffer instance \'vm1\' left out: expected "flyrecord" of buffer instance \'vm1\' at 0x0, found "..Dtracing"');
    expect(r.s.stats.lines).toBe(plain.s.stats.lines);
  });

  it('a CPU count past 65536 is refused at its offset', async () => {
    const b = Buffer.from(V6);
    const at = b.indexOf(Buffer.from('options  \0')) - 4;
    b.writeUInt32LE(70000, at);
    const r = await readDat(b);
    expect(String(r.err)).toBe(`ExitscopeError: ${r.p}:@0x${at.toString(16)}: CPU count 70000 is out of range`);
  });
});

describe('trace.dat v7 sections', () => {
  // After the header: "none\0", an empty version string, then the u64 offset of the first options section.
  const optAt = Number(V7.readBigUInt64LE(V7.indexOf(Buffer.from('none\0')) + 6));
  /** The options of the section at `at` (16-byte section header first): [id, offset of the option's id] in order, DONE last. */
  function options(b: Buffer, at = optAt): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let p = at + 16;
    for (;;) { const id = b.readUInt16LE(p); out.push([id, p]); if (id === 0) break; p += 6 + b.readUInt32LE(p + 2); }
    return out;
  }
  /** Every options section's options, following each DONE option's u64 to the next section. */
  function allOptions(b: Buffer): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let at = optAt; at !== 0;) {
      const o = options(b, at);
      out.push(...o);
      const doneAt = o[o.length - 1][1];
      at = b.readUInt32LE(doneAt + 2) >= 8 ? Number(b.readBigUInt64LE(doneAt + 6)) : 0;
    }
    return out;
  }

  it('the fixture\'s layout as documented: options sections (id 0) chained by DONE, one holding HEADER_INFO (16)', () => {
    expect(V7.readUInt16LE(optAt)).toBe(0);
    expect(allOptions(V7).map(([id]) => id)).toContain(16);
  });

  it('a section flagged compressed in a file that names no compression', async () => {
    const b = Buffer.from(V7);
    b.writeUInt16LE(1, optAt + 2);
    const r = await readDat(b);
    expect(String(r.err)).toBe(`ExitscopeError: ${r.p}:@0x${optAt.toString(16)}: the options section at 0x${optAt.toString(16)} is flagged compressed but the file names no compression`);
  });

  it('a section longer than the file', async () => {
    const b = Buffer.from(V7);
    b.writeBigUInt64LE(BigInt(b.length), optAt + 8);
    const r = await readDat(b);
    expect(String(r.err)).toBe(`ExitscopeError: ${r.p}:@0x${b.length.toString(16)}: truncated: the file ends inside the options section at 0x${optAt.toString(16)} (it needs ${b.length} bytes)`);
  });

  it('options sections that point back to themselves', async () => {
    const b = Buffer.from(V7);
    const [, doneAt] = options(b).at(-1)!;
    expect(b.readUInt32LE(doneAt + 2)).toBe(8);
    b.writeBigUInt64LE(BigInt(optAt), doneAt + 6);
    const r = await readDat(b);
    expect(String(r.err)).toBe(`ExitscopeError: ${r.p}:@0x${optAt.toString(16)}: options sections loop back to 0x${optAt.toString(16)}`);
  });

  it('no HEADER_INFO section', async () => {
    const b = Buffer.from(V7);
    const [, hiAt] = allOptions(b).find(([id]) => id === 16)!;
    b.writeUInt16LE(99, hiAt); // an option id no version defines: ignored
    const r = await readDat(b);
    expect(String(r.err)).toBe(`ExitscopeError: ${r.p}:@0x0: version 7 file without a HEADER_INFO section (no page header format)`);
  });
});

describe('trace.dat reading errors', () => {
  it('gzip-compressed: decompress first; a path that cannot be opened', async () => {
    const gz = file('t.dat.gz', gzipSync(V6));
    const s = await openTrace(gz);
    await expect((async () => { for await (const _ of s.chunks) void _; })()).rejects.toThrow(`${gz}: a gzip-compressed trace.dat: decompress it first (gunzip), exitscope reads trace.dat files in place`);
    const missing = join(tmp, 'none.dat');
    const state = { diag: new Diagnostics(missing, 'trace-dat', false), columns: new Set<never>(), counters: newCounters(), vms: new Map(), pool: new ChunkPool() };
    await expect(readTraceDat({ path: missing, head: Buffer.alloc(0), chunks: (async function* () { /* none */ })(), gzip: false, close: async () => undefined }, state, { strict: false }).next()).rejects.toThrow(`${missing}: cannot open (ENOENT)`);
  });

  it('a corrupt page is one rejection at its offset, counted as a line', async () => {
    const b = Buffer.from(V6);
    // CPU 0's data starts at 155648 (its table entry): the first page's commit word (@8) claims 0xffff bytes.
    const optionsAt = b.indexOf(Buffer.from('options  \0'));
    let p = optionsAt + 10;
    for (;;) { const id = b.readUInt16LE(p); p += 2; if (id === 0) break; p += 4 + b.readUInt32LE(p); }
    const cpu0 = Number(b.readBigUInt64LE(p + 10));
    b.writeUInt32LE(0xffff, cpu0 + 8);
    const r = await readDat(b);
    expect(r.err).toBeNull();
    const st = r.s.stats;
    expect(st.rejections).toEqual([`${r.p}:@0x${cpu0.toString(16)}: CPU 0: page claims 65535 bytes of records, more than a 4096-byte page holds: page skipped`]);
    expect(st.lines).toBe(st.events + st.skipped + st.rejected);
  });

  it('traceDatRecords names the file and offset of a cut', async () => {
    const p = file('cut.dat', V6.subarray(0, 100));
    await expect((async () => { for await (const _ of traceDatRecords(p)) void _; })()).rejects.toThrow(new RegExp(`^${p.replace(/[.]/g, '\\.')}:@0x[0-9a-f]+: truncated`));
  });
});

// ---------------------------------------------------------------------------
// The byte cursor and the tracing-data metadata both binary readers share (tracing/source.ts,
// tracing/tracing-data.ts, tracing/event-format.ts), on bytes written here.

import { BufferSource, Cursor } from '../src/formats/tracing/source.js';
import { readEventFormats, readTracingHeader } from '../src/formats/tracing/tracing-data.js';
import { decodeFields, parsePageHeader } from '../src/formats/tracing/event-format.js';

function formatError(f: () => unknown): { offset: number; message: string } {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(FormatError); return { offset: (e as FormatError).offset, message: (e as Error).message }; }
  throw new Error('no error');
}

describe('byte cursor', () => {
  it('a buffer placed at a file offset: its size counts the offset; reads and skips are by file offset', () => {
    const src = new BufferSource(Buffer.from([1, 2, 3, 4, 5, 6]), 100);
    expect(src.size).toBe(106);
    const c = new Cursor(src, 100);
    c.skip(2);
    expect([c.u8(), c.pos]).toEqual([3, 103]);
    expect(formatError(() => c.bytes(0x80000000, 'a blob'))).toEqual({ offset: 103, message: 'a blob: size 2147483648 is out of range' });
  });

  it('strings: across several reads, longer than allowed, cut by the end', () => {
    // 5 bytes before the string; a 2,000-byte string then NUL.
    const s = 'x'.repeat(2000);
    const buf = Buffer.concat([Buffer.from('hello'), Buffer.from(s + '\0'), Buffer.from('tail')]);
    const c = new Cursor(new BufferSource(buf), 5);
    expect(c.cstr('a name')).toBe(s);
    expect(c.pos).toBe(2006);
    expect(formatError(() => new Cursor(new BufferSource(buf), 5).cstr('a name', 1000))).toEqual({ offset: 5, message: 'a name: string at 0x5 is longer than 1000 bytes' });
    expect(formatError(() => new Cursor(new BufferSource(buf), 2006).cstr('a name'))).toEqual({ offset: 2006, message: 'truncated: the file ends inside a name (a string at 0x7d6)' });
  });
});

describe('tracing-data metadata', () => {
  const MAGIC = Buffer.from([0x17, 0x08, 0x44, ...Buffer.from('tracing')]);
  const header = (endian: number, longSize: number, page: number) => Buffer.concat([MAGIC, Buffer.from('6\0'), Buffer.from([endian, longSize]), le32(page)]);

  it('the header\'s endianness byte, long size and page size are checked at their offsets', () => {
    // magic 10 bytes, "6\0": endianness at 12, long size at 13, page size at 14.
    expect(formatError(() => readTracingHeader(new Cursor(new BufferSource(header(2, 8, 4096)))))).toEqual({ offset: 12, message: 'endianness byte is 2 (expected 0 or 1)' });
    expect(formatError(() => readTracingHeader(new Cursor(new BufferSource(header(0, 8, 100)))))).toEqual({ offset: 14, message: 'page size 100 is not a power of two between 64 B and 16 MB' });
    expect(readTracingHeader(new Cursor(new BufferSource(header(0, 8, 4096))))).toEqual({ version: '6', littleEndian: true, longSize: 8, pageSize: 4096 });
  });

  it('an event system count past 100,000 is refused', () => {
    expect(formatError(() => readEventFormats(new Cursor(new BufferSource(le32(100001))), new EventTable(), 8))).toEqual({ offset: 0, message: 'event system count 100001 is out of range' });
  });

  it('a page header with a 4-byte timestamp, or a 2-byte commit word, is refused', () => {
    const ph = (ts: number, commit: number) => `\tfield: u64 timestamp;\toffset:0;\tsize:${ts};\tsigned:0;\n\tfield: local_t commit;\toffset:8;\tsize:${commit};\tsigned:1;\n\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n`;
    expect(formatError(() => parsePageHeader(ph(4, 8), 7))).toEqual({ offset: 7, message: 'header_page: a 4-byte page timestamp is not supported (expected 8)' });
    expect(formatError(() => parsePageHeader(ph(8, 2), 7))).toEqual({ offset: 7, message: 'header_page: commit word of 2 bytes (expected 4 or 8)' });
    expect(parsePageHeader(ph(8, 4))).toEqual({ timestampSize: 8, commitOffset: 8, commitSize: 4, dataOffset: 16 });
  });

  it('generic decoding: a __data_loc string that points past the record is empty; a 3-byte scalar reads as 0', () => {
    const f = parseEventFormat(format('ev', 1, [['__data_loc char[] name', 8, 4], ['weird w', 12, 3]]), 'test');
    const data = new Uint8Array(16);
    const dv = new DataView(data.buffer);
    dv.setUint32(8, (4 << 16) | 40, true); // 4 bytes at offset 40, past the 16-byte record
    data[12] = 7;
    expect(decodeFields(f, data, true)).toEqual({ name: '', w: 0 });
    dv.setUint32(8, (2 << 16) | 14, true); // "hi" at 14
    data[14] = 0x68; data[15] = 0x69;
    expect(decodeFields(f, data, true)).toEqual({ name: 'hi', w: 0 });
  });
});

// ---------------------------------------------------------------------------
// The trace.dat writer (tracing/trace-dat-writer.ts), read back by the reader tested above.

import { writeTraceDat } from '../src/formats/tracing/trace-dat-writer.js';
import { ExitChunk as XChunk, F_USERSPACE } from '../src/model/chunk.js';

async function writeDat(chunks: XChunk[]): Promise<string> {
  const parts: Buffer[] = [];
  for await (const b of writeTraceDat((async function* () { yield* chunks; })(), { columns: new Set() } as never)) parts.push(Buffer.from(b));
  return file('w.dat', Buffer.concat(parts));
}

describe('trace.dat writer', () => {
  it('chunks on different time bases land at their absolute times; an MMIO exit to userspace is KVM_EXIT_MMIO (6)', async () => {
    const a = new XChunk(4), b = new XChunk(4);
    a.tsBaseNs = 1_000_000_000n; b.tsBaseNs = 1_000_001_000n; // b's offset 0 is a's 1000
    const r = (n: string) => REASONS.lookup(n);
    a.pushRow(0, 0, r('HLT'), 0, 0x10, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    b.pushRow(0, 0, r('EPT_MISCONFIG'), 0, 0x20, 50, F_GPA | F_USERSPACE, 0, 4, DIR_WRITE, 0, 7, 0, 0xfe000000, 0, 0, 0, 0);
    const p = await writeDat([a, b]);
    const s = await openTrace(p);
    const rows: Array<[bigint, string, number]> = [];
    for await (const c of s.chunks) for (let i = 0; i < c.length; i++) rows.push([c.tsBaseNs + BigInt(c.ts[i]), REASONS.get(c.reason[i]).name, c.dur[i]]);
    expect(rows).toEqual([[1_000_000_000n, 'HLT', 100], [1_000_001_000n, 'EPT_MISCONFIG', 50]]);
    const user: unknown[] = [];
    for await (const rec of traceDatRecords(p)) if (rec.name === 'kvm_userspace_exit') user.push(rec.fields.reason);
    expect(user).toEqual([6]);
  });

  it('no exits at all: a file with one empty CPU that reads as an empty trace', async () => {
    const p = await writeDat([]);
    const s = await openTrace(p);
    for await (const _ of s.chunks) void _;
    expect(s.format).toBe('trace-dat');
    expect(s.stats).toMatchObject({ lines: 0, events: 0, rejected: 0 });
  });
});

describe('perf.data headers refused with their offsets', () => {
  const magic = Buffer.from('PERFILE2', 'latin1');
  const cases: Array<[string, Buffer, string]> = [
    ['a file shorter than the 16-byte pipe header', Buffer.concat([magic, Buffer.alloc(4)]), '@0xc: truncated: the file ends inside the perf header'],
    ['version 1 (PERFFILE)', Buffer.concat([Buffer.from('PERFFILE'), le64(104), Buffer.alloc(96)]), '@0x0: a version 1 perf.data (PERFFILE): too old, exitscope reads PERFILE2'],
    ['a header size past 2^53', Buffer.concat([magic, le64(2 ** 60), Buffer.alloc(96)]), '@0x8: perf header field at 0x8 is out of range'],
    ['a header size between 16 and 104', Buffer.concat([magic, le64(50), Buffer.alloc(96)]), '@0x8: perf header size 50 is neither 16 (pipe) nor at least 104'],
  ];
  for (const [name, bytes, msg] of cases) {
    it(name, async () => {
      const p = file('h.data', bytes);
      const s = await openTrace(p, { format: 'perf-data' });
      await expect((async () => { for await (const _ of s.chunks) void _; })()).rejects.toThrow(`${p}:${msg}`);
    });
  }

  it('tracing data claiming more than 1 GiB', async () => {
    const P = new Perf(true);
    const big = await readPerf(Buffer.concat([P.head(), P.record(66, P.u32(0x80000000))]));
    expect(String(big.err)).toBe(`ExitscopeError: ${big.p}:@0x10: tracing data of 2147483648 bytes is out of range`);
  });
});

describe('binary formats sniffed by their magic alone (src/formats/binary-formats.ts)', () => {
  it('a head of exactly the magic\'s length is enough; one byte short or one byte wrong is not', async () => {
    const { traceDatInfo, perfDataInfo, TRACING_MAGIC, PERF_MAGIC } = await import('../src/formats/binary-formats.js');
    // trace.dat: `\x17\x08Dtracing` (10 bytes), as trace-cmd writes it first.
    expect(traceDatInfo.sniff!(Buffer.from(TRACING_MAGIC), '')).toBe(true);
    expect(traceDatInfo.sniff!(Buffer.concat([TRACING_MAGIC, Buffer.from('6\0')]), '')).toBe(true);
    expect(traceDatInfo.sniff!(TRACING_MAGIC.subarray(0, 9), '')).toBe(false);
    const bad = Buffer.from(TRACING_MAGIC); bad[9] = 0x47; // "tracinG"
    expect(traceDatInfo.sniff!(bad, '')).toBe(false);
    // perf.data: "PERFILE2" (8 bytes) in either byte order.
    expect(perfDataInfo.sniff!(Buffer.from('PERFILE2', 'latin1'), '')).toBe(true);
    expect(perfDataInfo.sniff!(Buffer.from('2ELIFREP', 'latin1'), '')).toBe(true);
    expect(perfDataInfo.sniff!(Buffer.concat([PERF_MAGIC, Buffer.alloc(8)]), '')).toBe(true);
    expect(perfDataInfo.sniff!(Buffer.from('PERFILE', 'latin1'), '')).toBe(false);
    expect(perfDataInfo.sniff!(Buffer.from('PERFILE3', 'latin1'), '')).toBe(false);
  });

  it('a lazy format loads its reader and writer on first use and passes their output through', async () => {
    const { lazyFormat, traceDatInfo } = await import('../src/formats/binary-formats.js');
    let loads = 0;
    const real = {
      ...traceDatInfo,
      async *read() { yield 'r1' as never; yield 'r2' as never; },
      async *write() { yield Buffer.from('w1'); yield Buffer.from('w2'); },
    };
    const load = async () => { loads++; return real as never; };
    const fmt = lazyFormat(traceDatInfo, load, true);
    expect(loads).toBe(0);
    expect(fmt.name).toBe('trace-dat');
    const got: unknown[] = [];
    for await (const x of fmt.read({} as never, {} as never, {} as never)) got.push(x);
    const out: Buffer[] = [];
    for await (const x of fmt.write!((async function* () {})(), {} as never)) out.push(Buffer.from(x as Uint8Array));
    expect(got).toEqual(['r1', 'r2']);
    expect(Buffer.concat(out).toString()).toBe('w1w2');
    expect(loads).toBe(2);
    expect(lazyFormat(traceDatInfo, load, false).write).toBeUndefined();
  });
});

describe('kvm_entry and libtraceevent\'s UNKNOWN in report text, field by field', () => {
  const line = (us: number, event: string, payload: string): string => `       CPU 0/KVM-7301  [001] d....  3000.${String(us).padStart(6, '0')}: ${event}: ${payload}`;
  async function read(lines: string[]) {
    const p = file('entry.txt', ['# composed for a test', 'cpus=2', ...lines].join('\n') + '\n');
    const s = await openTrace(p);
    const rows: Array<{ reason: string; vcpu: number; failed: boolean }> = [];
    for await (const c of s.chunks) for (let i = 0; i < c.length; i++) rows.push({ reason: REASONS.get(c.reason[i]).name, vcpu: c.vcpu[i], failed: (c.flags[i] & F_FAILED_ENTRY) !== 0 });
    return { rows, rejections: s.stats.rejections.map((r) => r.slice(p.length + 1)) };
  }
  // A 2.6-era exit names no vcpu: the entry that closes it does, if it does.
  const oldExit = line(100, 'kvm_exit', 'reason HLT rip 0x10');

  it('the entry\'s `vcpu N` (after blanks or a tab, before a comma or the end) numbers an exit that has none', async () => {
    for (const [payload, vcpu] of [['vcpu 3', 3], ['vcpu\t4, rip 0x10', 4], ['  vcpu 5', 5], ['vcpu 12, rip 0x10 intr_info 0x0', 12]] as const) {
      const r = await read([oldExit, line(102, 'kvm_entry', payload)]);
      expect([payload, r.rejections, r.rows.map((x) => x.vcpu)]).toEqual([payload, [], [vcpu]]);
    }
  });

  it('an entry whose first word is not `vcpu` names none (the thread gets a number of 1000 and up); `vcpu` without a number is rejected', async () => {
    for (const payload of ['vcpux 3', 'vcp 3', 'rip 0x10', 'xvcpu 3']) {
      const r = await read([oldExit, line(102, 'kvm_entry', payload)]);
      expect([payload, r.rejections, r.rows.map((x) => x.vcpu)]).toEqual([payload, [], [1000]]);
    }
    for (const payload of ['vcpu', 'vcpu x', 'vcpu ,']) {
      const r = await read([oldExit, line(102, 'kvm_entry', payload)]);
      expect([payload, r.rejections]).toEqual([payload, ['4: kvm_entry: expected a number after "vcpu"']]);
    }
  });

  it('`UNKNOWN (code)`: bit 31 from 0x80000000 exactly; a code that is no number or lacks its parenthesis is rejected; a bare UNKNOWN is a name', async () => {
    const one = async (reason: string) => read([line(100, 'kvm_exit', `vcpu 0 reason ${reason} rip 0x10`), line(102, 'kvm_entry', 'vcpu 0')]);
    // VMX basic reasons (the SDM's table): 0 EXCEPTION_NMI, 74 BUS_LOCK; 0xffff is in no table.
    expect((await one('UNKNOWN (2147483648)')).rows).toEqual([{ reason: 'EXCEPTION_NMI', vcpu: 0, failed: true }]);
    expect((await one('UNKNOWN (2147483647)')).rows).toEqual([{ reason: 'UNKNOWN (65535)', vcpu: 0, failed: false }]);
    expect((await one('UNKNOWN (74)')).rows).toEqual([{ reason: 'BUS_LOCK', vcpu: 0, failed: false }]);
    // a parenthesis after any other name is not a code
    expect((await one('CPUID (30)')).rows).toEqual([{ reason: 'CPUID', vcpu: 0, failed: false }]);
    for (const bad of ['UNKNOWN (x)', 'UNKNOWN (74', 'UNKNOWN (', 'UNKNOWN ()']) expect([bad, (await one(bad)).rejections]).toEqual([bad, ['3: kvm_exit: bad UNKNOWN (code)']]);
    const bare = await one('UNKNOWN');
    expect([bare.rejections, bare.rows.map((r) => r.reason)]).toEqual([[], ['UNKNOWN']]);
  });
});

describe('kvm_mmio and kvm_msr in report text through the general reader', () => {
  const line = (us: number, event: string, payload: string): string => `       CPU 0/KVM-7301  [001] d....  3000.${String(us).padStart(6, '0')}: ${event}: ${payload}`;
  async function one(exitReason: string, event: string, payload: string) {
    const p = file('detail.txt', ['# composed for a test', 'cpus=2', line(100, 'kvm_exit', `vcpu 0 reason ${exitReason} rip 0x10`), line(101, event, payload), line(103, 'kvm_entry', 'vcpu 0')].join('\n') + '\n');
    const s = await openTrace(p);
    const rows: Array<[number, number, number, number, number, number]> = [];
    // flags, dir, size, the port or the gpa, msr, value
    for await (const c of s.chunks) for (let i = 0; i < c.length; i++) rows.push([c.flags[i] & (F_PORT | F_SIZE | F_GPA | F_VALUE | F_MSR), c.dir[i], c.size[i], c.flags[i] & F_PORT ? c.port[i] : c.gpaLo[i], c.msr[i], c.valLo[i]]);
    return { rows, rejections: s.stats.rejections.map((r) => r.slice(p.length + 1)) };
  }

  it('kvm_mmio: a len or gpa that is no number is rejected, naming the event; a val that is no hex is left out', async () => {
    expect((await one('EPT_MISCONFIG', 'kvm_mmio', 'mmio write len x gpa 0x10 val 0x1')).rejections).toEqual(['4: kvm_mmio: bad len']);
    expect((await one('EPT_MISCONFIG', 'kvm_mmio', 'mmio write len 4 gpa zz val 0x1')).rejections).toEqual(['4: kvm_mmio: bad gpa']);
    // (the general reader: an extra word first)
    expect((await one('EPT_MISCONFIG', 'kvm_mmio', 'x mmio read len 2 gpa 0xfee0 val zz')).rows).toEqual([[F_SIZE | F_GPA, DIR_READ, 2, 0xfee0, 0, 0]]);
  });

  it('kvm_pio: ports up to 0xffff (also 64-bit hex), on the straight-line reader and the general one; a size that is no number is rejected', async () => {
    for (const pre of ['', 'x ']) {
      expect((await one('IO_INSTRUCTION', 'kvm_pio', `${pre}pio_write at 0xffff size 1 count 1 val 0x1 `)).rows).toEqual([[F_PORT | F_SIZE | F_VALUE, DIR_WRITE, 1, 0xffff, 0, 1]]);
      expect((await one('IO_INSTRUCTION', 'kvm_pio', `${pre}pio_write at 0x10000 size 1 count 1 val 0x1 `)).rejections).toEqual(['4: kvm_pio: bad port']);
      expect((await one('IO_INSTRUCTION', 'kvm_pio', `${pre}pio_write at 0x100000070 size 1 count 1 val 0x1 `)).rejections).toEqual(['4: kvm_pio: bad port']);
    }
    expect((await one('IO_INSTRUCTION', 'kvm_pio', 'pio_read at 0x60 size x count 1 val 0x1 ')).rejections).toEqual(['4: kvm_pio: bad size']);
  });

  it('kvm_msr: the direction word, a 32-bit index, and a value only after `=`', async () => {
    expect((await one('MSR_WRITE', 'kvm_msr', 'msr_foo 1b = 0x1')).rejections).toEqual(['4: kvm_msr: expected msr_read or msr_write']);
    expect((await one('MSR_WRITE', 'kvm_msr', 'msr_write 100000000 = 0x1')).rejections).toEqual(['4: kvm_msr: bad msr index']);
    expect((await one('MSR_WRITE', 'kvm_msr', 'msr_write 6e0 = 0x55')).rows).toEqual([[F_MSR | F_VALUE, DIR_WRITE, 0, 0, 0x6e0, 0x55]]);
    expect((await one('MSR_READ', 'kvm_msr', 'msr_read 1b')).rows).toEqual([[F_MSR, DIR_READ, 0, 0, 0x1b, 0]]);
    expect((await one('MSR_READ', 'kvm_msr', 'msr_read 1b x 0x55')).rows).toEqual([[F_MSR, DIR_READ, 0, 0, 0x1b, 0]]);
    expect((await one('MSR_READ', 'kvm_msr', 'msr_read 1b = zz')).rows).toEqual([[F_MSR, DIR_READ, 0, 0, 0x1b, 0]]);
  });
});
