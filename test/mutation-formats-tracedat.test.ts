/**
 * The trace.dat reader's own rules (src/formats/trace-dat.ts), on files written here (issue 16):
 * exits read through a TSC2NSEC option (times and durations converted record by record),
 * nanosecond times past 2^53 kept exact across CPUs, the format name in the stats, a record
 * too short for its common fields or for its kvm format, a record of a type without a format,
 * event formats that fail to parse, and the generic record dump for a type without a format.
 *
 * The files come from the trace.dat writer (version 6, layout in trace-cmd.dat.v6.5.txt) and are
 * then edited at places found from that layout here, not with the reader: the CPU table after
 * "flyrecord\0", a page = u64 time stamp, u64 commit (bytes of records), then records of a u32
 * header (type_len in the low 5 bits, time delta in the high 27, little-endian) and type_len x 4
 * bytes of data (kernel ring_buffer.c). The event ids are read from the file's format texts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openTrace } from '../src/formats/index.js';
import { traceDatFormat, traceDatRecords } from '../src/formats/trace-dat.js';
import { FileSource } from '../src/formats/tracing/source.js';
import { readTraceDatLayout } from '../src/formats/tracing/trace-dat-file.js';
import { ExitChunk, F_PORT, F_UNPAIRED } from '../src/model/chunk.js';
import { REASONS } from '../src/model/reasons.js';
import { fx } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-dat-mut-'));
let seq = 0;
const file = (b: Buffer): string => { const p = join(tmp, `t${seq++}.dat`); writeFileSync(p, b); return p; };

interface Exit { ts: number; vcpu: number; reason: number; dur: number }

async function written(exits: Exit[], baseNs: bigint): Promise<Buffer> {
  const c = new ExitChunk(Math.max(64, exits.length), baseNs);
  for (const e of exits) c.pushRow(e.ts, e.vcpu, REASONS.byNativeCode('vmx', e.reason), 0xffffffff, 0x81000000 + e.ts % 4096, e.dur, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const parts: Buffer[] = [];
  for await (const b of traceDatFormat.write!((async function* () { yield c; })(), { columns: new Set() })) parts.push(typeof b === 'string' ? Buffer.from(b) : b);
  return Buffer.concat(parts);
}

/** The CPU table after "flyrecord\0" (after the options, which end with id 0). */
function cpuTable(b: Buffer): { tableAt: number; cpus: Array<{ offset: number; size: number }> } {
  const optionsAt = b.indexOf(Buffer.from('options  \0'));
  const n = b.readUInt32LE(optionsAt - 4);
  let p = optionsAt + 10;
  for (;;) { const id = b.readUInt16LE(p); p += 2; if (id === 0) break; p += 4 + b.readUInt32LE(p); }
  expect(b.toString('latin1', p, p + 10)).toBe('flyrecord\0');
  const tableAt = p + 10;
  const cpus = [];
  for (let i = 0; i < n; i++) cpus.push({ offset: Number(b.readBigUInt64LE(tableAt + 16 * i)), size: Number(b.readBigUInt64LE(tableAt + 16 * i + 8)) });
  return { tableAt, cpus };
}

/** Rebuilds a v6 file with these options before "flyrecord", the CPU data moved. */
function withOption(b: Buffer, id: number, data: Buffer): Buffer {
  const optionsAt = b.indexOf(Buffer.from('options  \0'));
  const { tableAt, cpus } = cpuTable(b);
  const hd = Buffer.alloc(6); hd.writeUInt16LE(id, 0); hd.writeUInt32LE(data.length, 2);
  const head0 = Buffer.concat([b.subarray(0, optionsAt + 10), hd, data, b.subarray(optionsAt + 10, tableAt)]);
  const len = head0.length + 16 * cpus.length;
  let off = Math.ceil(len / 4096) * 4096;
  const table = Buffer.alloc(16 * cpus.length);
  const datas = cpus.map((c, i) => {
    table.writeBigUInt64LE(BigInt(c.size ? off : 0), 16 * i); table.writeBigUInt64LE(BigInt(c.size), 16 * i + 8);
    off += c.size;
    return b.subarray(c.offset, c.offset + c.size);
  });
  const head = Buffer.concat([head0, table]);
  return Buffer.concat([head, Buffer.alloc(Math.ceil(head.length / 4096) * 4096 - head.length), ...datas]);
}

/** The ID line of an event's format text in the file. */
function eventId(b: Buffer, name: string): number {
  const m = new RegExp(`name: ${name}\\nID: (\\d+)\\n`).exec(b.toString('latin1'));
  if (!m) throw new Error(`no format for ${name}`);
  return Number(m[1]);
}

/** Replaces the records of CPU `cpu`'s first page with `recs` (each type_len x 4 bytes of data), keeping its time stamp. */
function setFirstPage(b: Buffer, cpu: number, recs: Buffer[]): Buffer {
  const out = Buffer.from(b);
  const { cpus } = cpuTable(out);
  const at = cpus[cpu].offset;
  out.fill(0, at + 8, at + 4096);
  let p = at + 16;
  for (const r of recs) {
    expect(r.length % 4).toBe(0);
    out.writeUInt32LE(((10 << 5) | (r.length / 4)) >>> 0, p); // 10 ns after the page's time
    r.copy(out, p + 4);
    p += 4 + r.length;
  }
  out.writeBigUInt64LE(BigInt(p - at - 16), at + 8);
  return out;
}

async function read(path: string) {
  const s = await openTrace(path);
  const rows: Array<{ ts: bigint; vcpu: number; dur: number; unpaired: boolean }> = [];
  let err: unknown = null;
  try {
    for await (const c of s.chunks) for (let i = 0; i < c.length; i++) rows.push({ ts: c.tsBaseNs + BigInt(c.ts[i]), vcpu: c.vcpu[i], dur: c.dur[i], unpaired: (c.flags[i] & F_UNPAIRED) !== 0 });
  } catch (e) { err = e; }
  rows.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.vcpu - b.vcpu));
  return { s, rows, err, st: s.stats };
}

const EXITS: Exit[] = [
  { ts: 0, vcpu: 0, reason: 30, dur: 1501 },
  { ts: 7, vcpu: 1, reason: 12, dur: 3 },
  { ts: 2000, vcpu: 0, reason: 10, dur: 1 },
  { ts: 2001, vcpu: 1, reason: 30, dur: 999 },
  { ts: 1_000_003, vcpu: 0, reason: 48, dur: 77 },
];

describe('trace.dat: times', () => {
  it('nanosecond times past 2^53 on two CPUs come back exact, to the nanosecond', async () => {
    const base = 1n << 60n;
    const r = await read(file(await written(EXITS, base)));
    expect(r.err).toBeNull();
    expect(r.st.format).toBe('trace.dat v6');
    expect(r.rows).toEqual(EXITS.map((e) => ({ ts: base + BigInt(e.ts), vcpu: e.vcpu, dur: e.dur, unpaired: false })));
  });

  it('a page whose first record comes 5 ns after the page\'s time stamp: that CPU\'s records 5 ns later, the rest as written', async () => {
    const base = 7_000_000_000n;
    const b = Buffer.from(await written(EXITS, base));
    const at = cpuTable(b).cpus[0].offset + 16;
    const h = b.readUInt32LE(at);
    b.writeUInt32LE((((h >>> 5) + 5) << 5 | (h & 31)) >>> 0, at);
    const r = await read(file(b));
    expect(r.err).toBeNull();
    const want = EXITS.map((e) => ({ ts: base + BigInt(e.ts) + (e.vcpu === 0 ? 5n : 0n), vcpu: e.vcpu, dur: e.dur, unpaired: false }));
    expect(r.rows).toEqual(want.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0)));
  });

  it('a TSC2NSEC option converts each record\'s time (ns = tsc x mult >> shift), so exit times and durations are converted ends', async () => {
    const base = 3_000_000_001n;
    const plain = await written(EXITS, base);
    const tsc = Buffer.alloc(16);
    tsc.writeUInt32LE(3, 0); tsc.writeUInt32LE(1, 4); tsc.writeBigUInt64LE(0n, 8);
    const r = await read(file(withOption(plain, 14, tsc)));
    expect(r.err).toBeNull();
    const conv = (raw: bigint) => (raw * 3n) >> 1n;
    expect(r.rows).toEqual(EXITS.map((e) => {
      const at = base + BigInt(e.ts);
      return { ts: conv(at), vcpu: e.vcpu, dur: Number(conv(at + BigInt(e.dur)) - conv(at)), unpaired: false };
    }));
  });
});

describe('trace.dat: records that cannot be used', () => {
  const one: Exit[] = [{ ts: 0, vcpu: 0, reason: 30, dur: 100 }];

  it('a record of 4 bytes is too short for common_pid (bytes 4-8): rejected at its offset, counted as a line', async () => {
    const b0 = await written(one, 5_000_000_000n);
    const rec = Buffer.alloc(4); rec.writeUInt16LE(eventId(b0, 'kvm_entry'), 0);
    const b = setFirstPage(b0, 0, [rec]);
    const r = await read(file(b));
    expect(r.err).toBeNull();
    const at = cpuTable(b).cpus[0].offset + 16 + 4;
    expect(r.st.rejections).toEqual([`${r.s.stats.path}:@0x${at.toString(16)}: record of 4 bytes is too short for its common fields`]);
    expect([r.st.lines, r.st.events, r.st.skipped, r.st.rejected]).toEqual([1, 0, 0, 1]);
  });

  it('a kvm_exit record shorter than its format is rejected; a record of an event the reader does not use is skipped', async () => {
    // kvm_msr renamed kvm_zzz (same length): an event with a format that the reader does not use.
    const b0 = Buffer.from((await written(one, 5_000_000_000n)).toString('latin1').replace('name: kvm_msr\n', 'name: kvm_zzz\n'), 'latin1');
    const short = Buffer.alloc(8); short.writeUInt16LE(eventId(b0, 'kvm_exit'), 0); short.writeInt32LE(4242, 4);
    const other = Buffer.alloc(8); other.writeUInt16LE(eventId(b0, 'kvm_zzz'), 0); other.writeInt32LE(4242, 4);
    const b = setFirstPage(b0, 0, [short, other]);
    const r = await read(file(b));
    expect(r.err).toBeNull();
    expect(r.st.rejections).toHaveLength(1);
    expect(r.st.rejections[0]).toMatch(/: kvm_exit record of 8 bytes is shorter than its format \(\d+ bytes\)$/);
    expect([r.st.lines, r.st.events, r.st.skipped, r.st.rejected]).toEqual([2, 0, 1, 1]);
    expect(r.rows).toEqual([]);
  });

  it('a record of an event type without a format stops the read with one error naming it; traceDatRecords names it "type N"', async () => {
    const b0 = await written(one, 5_000_000_000n);
    const rec = Buffer.alloc(8); rec.writeUInt16LE(9999, 0); rec.writeInt32LE(77, 4);
    const p = file(setFirstPage(b0, 0, [rec]));
    const r = await read(p);
    expect(String(r.err)).toMatch(new RegExp(`^ExitscopeError: ${p.replace(/\./g, '\\.')}:@0x[0-9a-f]+: record of event type 9999 on CPU 0, which has no format in this file \\(its event formats are incomplete`));
    expect(r.st.lines).toBe(0);
    const recs = [];
    for await (const x of traceDatRecords(p)) recs.push(x);
    expect(recs.map((x) => [x.system, x.name, x.pid, x.cpu, x.fields])).toEqual([['?', 'type 9999', 77, 0, {}]]);
  });

  it('event formats that do not parse: one note with their count and the first three, each as system/name: why', async () => {
    const b0 = await written(one, 5_000_000_000n);
    const t = b0.toString('latin1');
    // Damage the offsets of the first field of four kvm formats, keeping every length.
    let s = t;
    const names = ['kvm_msr', 'kvm_mmio', 'kvm_pio', 'kvm_userspace_exit'];
    for (const n of names) {
      const at = s.indexOf(`name: ${n}\n`);
      const f = s.indexOf('offset:', at);
      s = s.slice(0, f) + 'offxet:' + s.slice(f + 7);
    }
    const p = file(Buffer.from(s, 'latin1'));
    const r = await read(p);
    const note = r.st.notes.find((x: string) => x.includes('event formats did not parse'));
    expect(note).toBeDefined();
    expect(note).toMatch(/^4 event formats did not parse \(their records are counted as rejected\): kvm\/kvm_\w+: event format: field '[^']+' has no valid offset\/size; kvm\/kvm_\w+: [^;]+; kvm\/kvm_\w+: [^;]+$/);
    expect(note!.split('; ')).toHaveLength(3);
  });

  it('a cut file: traceDatRecords names the file and the offset', async () => {
    const p = file((await written(one, 5_000_000_000n)).subarray(0, 50));
    await expect((async () => { for await (const _ of traceDatRecords(p)) void _; })()).rejects.toThrow(new RegExp(`^${p.replace(/\./g, '\\.')}:@0x[0-9a-f]+: `));
  });
});

describe('trace.dat: format names', () => {
  it('version and compression in the stats', async () => {
    for (const [f, want] of [['kvm-pio-v7-zstd.dat', 'trace.dat v7 (zstd)'], ['kvm-pio-v7-none.dat', 'trace.dat v7'], ['kvm-pio-v6.dat', 'trace.dat v6']] as const) {
      const r = await read(fx('trace-dat', f));
      expect(r.err).toBeNull();
      expect(r.st.format).toBe(want);
    }
    expect(readFileSync(fx('trace-dat', 'kvm-pio-v6.dat')).subarray(0, 3)).toEqual(Buffer.from([0x17, 0x08, 0x44]));
  });
});

describe('trace.dat v6 options read into the layout', () => {
  const layout = async (opts: Array<[number, Buffer]>) => {
    let b = await written([{ ts: 0, vcpu: 0, reason: 30, dur: 100 }], 5_000_000_000n);
    for (const [id, data] of opts) b = withOption(b, id, data);
    const src = new FileSource(file(b));
    try { return readTraceDatLayout(src); } finally { src.close(); }
  };
  const z = (t: string) => Buffer.from(t + '\0', 'latin1');

  it('OFFSET (7): ASCII decimal or hex, signed, up to its NUL and trimmed; anything else adds nothing; several add up', async () => {
    expect((await layout([[7, z('12345')]])).tsOffset).toBe(12345n);
    expect((await layout([[7, Buffer.from(' -0x10 \0junk 99', 'latin1')]])).tsOffset).toBe(-16n);
    expect((await layout([[7, z('0XfF')]])).tsOffset).toBe(255n);
    expect((await layout([[7, z('-42')]])).tsOffset).toBe(-42n);
    expect((await layout([[7, z('18446744073709551615')]])).tsOffset).toBe(18446744073709551615n);
    for (const bad of ['12a', 'a12', '0x', '0xg1', '--5', '5-', '']) expect((await layout([[7, z(bad)]])).tsOffset, bad).toBe(0n);
    expect((await layout([[7, z('100')], [7, z('-30')]])).tsOffset).toBe(70n);
  });

  it('TRACECLOCK (4): the bracketed clock of trace_clock\'s text, or the text itself; the default is local', async () => {
    expect((await layout([[4, z('[x86-tsc] local global')]])).clock).toBe('x86-tsc');
    expect((await layout([[4, z('local [mono] global')]])).clock).toBe('mono');
    expect((await layout([[4, Buffer.from('  boot \n\0[x]', 'latin1')]])).clock).toBe('boot');
    expect((await layout([])).clock).toBe('local');
  });

  it('TSC2NSEC (14): mult, shift and offset from 16 bytes; a shorter payload is left out', async () => {
    const t = Buffer.alloc(16); t.writeUInt32LE(7, 0); t.writeUInt32LE(3, 4); t.writeBigUInt64LE(99n, 8);
    expect((await layout([[14, t]])).tsc2nsec).toEqual({ mult: 7, shift: 3, offset: 99n });
    expect((await layout([[14, t.subarray(0, 15)]])).tsc2nsec).toBeNull();
    expect((await layout([])).tsc2nsec).toBeNull();
  });
});

describe('trace.dat writer: records, threads and saved cmdlines', () => {
  it('pids 4242 + vcpu, cmdlines "pid CPU n/KVM" in thread order, entries at one time in thread order, a 0-byte port access written as 1 byte', async () => {
    const c = new ExitChunk(16, 9_000_000_000n);
    const io = REASONS.byNativeCode('vmx', 30);
    // vcpus 8 and 0 share host CPU 0 (vcpu % 8); both exits end at t = 50.
    c.pushRow(0, 8, io, 0, 0x1000, 50, F_PORT, 0x70, 0, 1, 0, 0, 0, 0, 0, 0, 0);
    c.pushRow(10, 0, io, 0, 0x2000, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    c.pushRow(20, 3, io, 0, 0x3000, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    const parts: Buffer[] = [];
    for await (const b of traceDatFormat.write!((async function* () { yield c; })(), { columns: new Set() })) parts.push(typeof b === 'string' ? Buffer.from(b) : b);
    const bytes = Buffer.concat(parts);
    expect(bytes.includes(Buffer.from('4242 CPU 0/KVM\n4245 CPU 3/KVM\n4250 CPU 8/KVM\n', 'latin1'))).toBe(true);
    const p = file(bytes);
    const recs = [];
    for await (const r of traceDatRecords(p)) recs.push(r);
    const at = (r: { ts: bigint }) => Number(r.ts - 9_000_000_000n);
    expect(recs.map((r) => [at(r), r.cpu, r.pid, r.name])).toEqual([
      [0, 0, 4250, 'kvm_exit'], [0, 0, 4250, 'kvm_pio'],
      [10, 0, 4242, 'kvm_exit'],
      [20, 3, 4245, 'kvm_exit'], [25, 3, 4245, 'kvm_entry'],
      // Both entries at 50 on CPU 0: thread 0 before thread 8.
      [50, 0, 4242, 'kvm_entry'], [50, 0, 4250, 'kvm_entry'],
    ]);
    expect(recs[1].fields).toMatchObject({ port: 0x70, size: 1, count: 1 });
  });
});

describe('trace.dat v6: where a cut or a wrong tag is named', () => {
  const one: Exit[] = [{ ts: 0, vcpu: 1, reason: 30, dur: 100 }];
  const layoutErr = (b: Buffer): string => {
    const src = new FileSource(file(b));
    try { readTraceDatLayout(src); return 'ok'; } catch (e) { return (e as Error).message; } finally { src.close(); }
  };

  it('cut in the CPU count, the options tag, an option id, size and payload, the flyrecord tag, a CPU\'s offset and size', async () => {
    const b0 = withOption(await written(one, 5_000_000_000n), 7, Buffer.from('5\0'));
    const at = b0.indexOf(Buffer.from('options  \0'));
    const fly = b0.indexOf(Buffer.from('flyrecord\0'));
    const cut = (n: number) => layoutErr(b0.subarray(0, n)).replace(/ \(.*$/, '');
    expect(cut(at - 2)).toBe('truncated: the file ends inside the CPU count');
    expect(cut(at + 5)).toBe('truncated: the file ends inside the options/flyrecord tag');
    expect(cut(at + 11)).toBe('truncated: the file ends inside an option id');
    expect(cut(at + 14)).toBe('truncated: the file ends inside an option size');
    expect(cut(at + 17)).toBe('truncated: the file ends inside option 7');
    expect(cut(fly + 4)).toBe('truncated: the file ends inside the flyrecord tag');
    // The written file has 2 CPUs (vcpu 1 on host CPU 1; CPU 0 empty).
    expect(cut(fly + 10 + 4)).toBe("truncated: the file ends inside CPU 0's data offset");
    expect(cut(fly + 10 + 12)).toBe("truncated: the file ends inside CPU 0's data size");
    expect(cut(fly + 10 + 20)).toBe("truncated: the file ends inside CPU 1's data offset");
  });

  it('65536 CPUs is a count (the table then runs into the data); 65537 is out of range', async () => {
    const b = Buffer.from(await written(one, 5_000_000_000n));
    const at = b.indexOf(Buffer.from('options  \0')) - 4;
    b.writeUInt32LE(65536, at);
    // (here the records' bytes read as a CPU's offset are past 2^53)
    expect(layoutErr(b)).toMatch(/^(truncated: the file ends inside )?CPU \d+'s data (offset|size)/);
    expect(layoutErr(b)).not.toMatch(/CPU count/);
    b.writeUInt32LE(65537, at);
    expect(layoutErr(b)).toBe('CPU count 65537 is out of range');
  });

  it('a "latency" tag: the text starts after it; another tag is named with its unprintable bytes as dots', async () => {
    const b = Buffer.from(await written(one, 5_000_000_000n));
    const at = b.indexOf(Buffer.from('options  \0'));
    const lat = Buffer.concat([b.subarray(0, at), Buffer.from('latency  \0', 'latin1'), Buffer.from('# tracer: nop\n', 'latin1')]);
    const src = new FileSource(file(lat));
    expect(readTraceDatLayout(src).latencyTextAt).toBe(at + 10);
    src.close();
    const bad = Buffer.concat([b.subarray(0, at), Buffer.from('flyrec\x01\x02d\0', 'latin1'), b.subarray(at + 10)]);
    expect(layoutErr(bad)).toBe(`expected "flyrecord" or "latency" at 0x${at.toString(16)}, found "flyrec..d."`);
  });
});

describe('trace.dat writer: long traces on one CPU', () => {
  it('3,000 exits (more pages than it stages in memory) with gaps of 2^27 - 1, 2^27 and 2^27 + 1 ns: read back exact', async () => {
    const TWO27 = 2 ** 27;
    const exits: Exit[] = [];
    let t = 0;
    for (let i = 0; i < 3000; i++) {
      exits.push({ ts: t, vcpu: 0, reason: i % 3 === 0 ? 30 : 12, dur: 100 + (i % 7) });
      // Mostly short gaps; every 500th a gap around 2^27 ns, counted from the previous record (the entry).
      const g = i % 500 === 1 ? TWO27 - 1 : i % 500 === 2 ? TWO27 : i % 500 === 3 ? TWO27 + 1 : i % 500 === 4 ? 5 * TWO27 + 3 : 1000;
      t += 100 + (i % 7) + g;
    }
    const base = 2_000_000_000n;
    const r = await read(file(await written(exits, base)));
    expect(r.err).toBeNull();
    expect(r.st.rejected).toBe(0);
    expect(r.rows).toEqual(exits.map((e) => ({ ts: base + BigInt(e.ts), vcpu: 0, dur: e.dur, unpaired: false })));
  });
});

describe('trace.dat layouts as trace-cmd dump --options shows them', () => {
  it('v7 (kvm-pio-v7-none.dat): the BUFFER option\'s two CPUs at 155648 and 167936, 12288 bytes each, clock local; kallsyms and printk sections present', () => {
    const src = new FileSource(fx('trace-dat', 'kvm-pio-v7-none.dat'));
    const L = readTraceDatLayout(src);
    src.close();
    expect([L.version, L.compression, L.clock]).toEqual([7, 'none', 'local']);
    expect(L.cpus).toEqual([{ cpu: 0, offset: 155648, size: 12288, instance: '' }, { cpu: 1, offset: 167936, size: 12288, instance: '' }]);
    expect(typeof L.meta.kallsyms).toBe('string');
    expect(typeof L.meta.printk).toBe('string');
    expect(L.meta.printk!.length).toBeGreaterThan(0);
  });

  it('v6 written here: an empty CPU 0 is left out of the CPU list', async () => {
    const b = await written([{ ts: 0, vcpu: 1, reason: 30, dur: 100 }], 5_000_000_000n);
    const src = new FileSource(file(b));
    const L = readTraceDatLayout(src);
    src.close();
    const { cpus } = cpuTable(b);
    expect(cpus[0].size).toBe(0);
    expect(L.cpus).toEqual([{ cpu: 1, offset: cpus[1].offset, size: cpus[1].size, instance: '' }]);
    expect(L.meta.printk).toBeUndefined();
  });
});


describe('trace.dat v6 buffer instances (trace-cmd record -B NAME)', () => {
  /**
   * A v6 file written here with BUFFER options (u64 offset of the instance's block, its name) and, at the end, each
   * instance's block as trace-cmd writes it: "flyrecord\0", then per CPU (u64 offset, u64 size). `blocks[k]` is the
   * block of instance k (null: the option points past the end of the file).
   */
  function withInstances(b: Buffer, names: string[], blocks: Array<Buffer | null>): Buffer {
    let out = b;
    for (const name of names) out = withOption(out, 3, Buffer.concat([Buffer.alloc(8), Buffer.from(`${name}\0`, 'latin1')]));
    // The options' offsets: the blocks follow the file, in order.
    let at = out.length;
    let p = out.indexOf(Buffer.from('options  \0')) + 10;
    const fixed = Buffer.from(out);
    for (let k = 0; k < names.length; k++) {
      expect(fixed.readUInt16LE(p)).toBe(3);
      // withOption puts each new option first: the last name's option is the first in the list.
      const blk = blocks[names.length - 1 - k];
      fixed.writeBigUInt64LE(BigInt(blk === null ? 10 ** 9 : at), p + 6);
      if (blk) at += blk.length;
      p += 6 + fixed.readUInt32LE(p + 2);
    }
    return Buffer.concat([fixed, ...[...blocks].reverse().filter((x): x is Buffer => x !== null)]);
  }
  const block = (cpus: Array<[number, number]>, tag = 'flyrecord\0'): Buffer => {
    const t = Buffer.alloc(16 * cpus.length);
    cpus.forEach(([o, s], i) => { t.writeBigUInt64LE(BigInt(o), 16 * i); t.writeBigUInt64LE(BigInt(s), 16 * i + 8); });
    return Buffer.concat([Buffer.from(tag, 'latin1'), t]);
  };

  it('each instance\'s non-empty CPUs follow the top buffer\'s, named; a bad instance is left out with a note saying why', async () => {
    const base = await written(EXITS, 5_000_000_000n);
    // Build once to learn where the CPU data lands, then point the instances at it.
    const probe = withInstances(base, ['inst', 'gone', 'odd'], [block([[0, 0], [0, 0]]), null, block([[0, 0], [0, 0]])]);
    const { cpus } = cpuTable(probe);
    const [c0, c1] = cpus;
    const b = withInstances(base, ['inst', 'gone', 'odd'], [block([[c0.offset, 0], [c1.offset, c1.size]]), null, block([[c0.offset, c0.size], [0, 0]], 'flyrec0rd\0')]);
    expect(cpuTable(b).cpus).toEqual(cpus);
    const src = new FileSource(file(b));
    const L = readTraceDatLayout(src);
    src.close();
    expect(L.cpus).toEqual([
      { cpu: 0, offset: c0.offset, size: c0.size, instance: '' },
      { cpu: 1, offset: c1.offset, size: c1.size, instance: '' },
      // inst: CPU 0 empty (left out), CPU 1 the same pages as the top buffer's
      { cpu: 1, offset: c1.offset, size: c1.size, instance: 'inst' },
    ]);
    // (in the options' order: the last added is listed first)
    expect(L.notes).toEqual([
      `buffer instance 'odd' left out: expected "flyrecord" of buffer instance 'odd' at 0x${(b.length - 2 * (10 + 32)).toString(16)}, found "flyrec0rd."`,
      // 10^9 = 0x3b9aca00, past the end
      'buffer instance \'gone\' left out: truncated: the file ends inside "flyrecord" of buffer instance \'gone\' (needed 10 bytes at 0x3b9aca00, 0 left)',
    ]);
  });
});

describe('trace.dat v7: each part of the file named where it is cut or wrong (kvm-pio-v7-none.dat)', () => {
  // The fixture's layout, as `trace-cmd dump` and a walk of its options give it: the first options section at
  // 154340 (CPUCOUNT, then DONE pointing at 154380); the second lists the sections (HEADER_INFO 16 at 32,
  // FTRACE_EVENTS 17 at 499, EVENT_FORMATS 18 at 12437, KALLSYMS 19 at 102630, PRINTK 20 at 148989, CMDLINES 21 at
  // 153325) and points at a third at 180224, holding the BUFFER option (id 3, 63 bytes at 180240).
  const b = readFileSync(fx('trace-dat', 'kvm-pio-v7-none.dat'));
  const layoutErr = (x: Buffer): string => {
    const src = new FileSource(file(x));
    try { readTraceDatLayout(src); return 'no error'; } catch (e) { return (e as Error).message; } finally { src.close(); }
  };

  it('the header fields after the version, cut one by one', () => {
    expect(layoutErr(b.subarray(0, 18))).toBe('truncated: the file ends inside the compression name (a string at 0x12)');
    expect(layoutErr(b.subarray(0, 23))).toBe('truncated: the file ends inside the compression version (a string at 0x17)');
    expect(layoutErr(b.subarray(0, 24))).toBe('truncated: the file ends inside the first options section offset (needed 8 bytes at 0x18, 0 left)');
    expect(layoutErr(b.subarray(0, 32))).toBe('truncated: the file ends inside the options section header (needed 2 bytes at 0x25ae4, 0 left)');
  });

  it('every section whose id is not the one its option names', () => {
    const sections: Array<[number, number, string]> = [
      [154340, 0, 'options'], [154380, 0, 'options'], [180224, 0, 'options'],
      [32, 16, 'header info'], [499, 17, 'ftrace event formats'], [12437, 18, 'event formats'],
      [102630, 19, 'kallsyms'], [148989, 20, 'printk formats'], [153325, 21, 'saved cmdlines'],
    ];
    for (const [at, id, what] of sections) {
      const x = Buffer.from(b);
      expect(x.readUInt16LE(at)).toBe(id);
      x.writeUInt16LE(id + 100, at);
      expect(layoutErr(x)).toBe(`expected the ${what} section (id ${id}) at 0x${at.toString(16)}, found section id ${id + 100}`);
    }
  });

  it('the BUFFER option cut at every length: each field named', () => {
    const seen = new Set<string>();
    for (let k = 0; k < 63; k++) {
      const x = Buffer.from(b);
      expect(x.readUInt16LE(180240)).toBe(3);
      x.writeUInt32LE(k, 180242);
      const m = /^truncated: the file ends inside (BUFFER option [a-zA-Z ]+?) \(/.exec(layoutErr(x));
      expect(m, `cut to ${k} bytes`).not.toBeNull();
      seen.add(m![1]);
    }
    // (the page size is read only when the bytes left hold it and the CPU table whole)
    expect([...seen].sort()).toEqual(['BUFFER option CPU count', 'BUFFER option CPU id', 'BUFFER option CPU offset', 'BUFFER option CPU size', 'BUFFER option clock', 'BUFFER option name', 'BUFFER option offset']);
  });
});

describe('trace.dat writer: a time extend at the end of a page', () => {
  it('whatever room a page has left when a gap of 2^27 ns or more comes, the exits read back exact', async () => {
    // k exits fill the first page to a level that depends on k and on j, the number of them that came after a gap
    // of 2^27 ns or more (each adds an 8-byte time extend); the next exit comes after such a gap. Over these k and j
    // the page has every 8-byte step of room left, so each near-full level occurs.
    let runs = 0;
    for (let j = 0; j < 8; j++) for (let k = 55; k < 80; k += 1) {
      runs++;
      const exits: Exit[] = [];
      let t = 0;
      for (let i = 0; i < k; i++) { exits.push({ ts: t, vcpu: 0, reason: 30, dur: 10 }); t += i < j ? 2 ** 27 + 11 : 1000; }
      exits.push({ ts: t + 2 ** 27 + 5, vcpu: 0, reason: 12, dur: 7 });
      const base = 3_000_000_000n;
      const r = await read(file(await written(exits, base)));
      expect([j, k, r.err, r.st.rejected]).toEqual([j, k, null, 0]);
      expect(r.rows).toEqual(exits.map((e) => ({ ts: base + BigInt(e.ts), vcpu: 0, dur: e.dur, unpaired: false })));
    }
    expect(runs).toBe(200);
  });
});

describe('trace.dat writer: every detail an exit can carry, read back', () => {
  it('port I/O of 1, 2 and 4 bytes both ways, MMIO with 64-bit addresses and values, MSR reads and writes, exits that went to userspace, an exit never re-entered', async () => {
    const { DIR_READ, DIR_WRITE, F_GPA, F_MSR, F_SIZE, F_VALUE, F_USERSPACE } = await import('../src/model/chunk.js');
    const c = new ExitChunk(64, 4_000_000_000n);
    const IO = REASONS.byNativeCode('vmx', 30), EPT = REASONS.byNativeCode('vmx', 49), WRMSR = REASONS.byNativeCode('vmx', 32), RDMSR = REASONS.byNativeCode('vmx', 31);
    const PIO = F_PORT | F_SIZE | F_VALUE, MMIO = F_GPA | F_SIZE | F_VALUE, MSR = F_MSR | F_VALUE;
    // ts, vcpu, reason, ripHi, ripLo, dur, flags, port, size, dir, valHi, valLo, gpaHi, gpaLo, msr
    const rows: Array<[number, number, number, number, number, number, number, number, number, number, number, number, number, number, number]> = [
      [0, 0, IO, 0xffffffff, 0x81000010, 100, PIO, 0x70, 1, DIR_WRITE, 0, 0x8f, 0, 0, 0],
      [1000, 0, IO, 0xffffffff, 0x81000020, 100, PIO | F_USERSPACE, 0xc050, 2, DIR_READ, 0, 0xbeef, 0, 0, 0],
      [2000, 0, IO, 0xffffffff, 0x81000030, 100, PIO | F_USERSPACE, 0xcf8, 4, DIR_WRITE, 0, 0x80001234, 0, 0, 0],
      [3000, 0, EPT, 0xffffffff, 0x81000040, 100, MMIO | F_USERSPACE, 0, 8, DIR_WRITE, 0x12345678, 0x9abcdef0, 0x1, 0xfebf1000, 0],
      [4000, 0, EPT, 0xffffffff, 0x81000050, 100, MMIO, 0, 4, DIR_READ, 0, 0x42, 0, 0xfee000b0, 0],
      [5000, 0, WRMSR, 0xffffffff, 0x81000060, 100, MSR, 0, 0, DIR_WRITE, 0x1, 0x2, 0, 0, 0x6e0],
      [6000, 0, RDMSR, 0xffffffff, 0x81000070, 100, MSR, 0, 0, DIR_READ, 0, 0x10, 0, 0, 0x1b],
      [7000, 0, IO, 0xffffffff, 0x81000080, NaN, PIO, 0x71, 1, DIR_READ, 0, 0x5, 0, 0, 0],
    ];
    for (const r of rows) c.pushRow(...r, 0, 0);
    const parts: Buffer[] = [];
    for await (const b of traceDatFormat.write!((async function* () { yield c; })(), { columns: new Set() })) parts.push(typeof b === 'string' ? Buffer.from(b) : b);
    const s = await openTrace(file(Buffer.concat(parts)));
    const got: unknown[] = [];
    for await (const x of s.chunks) {
      for (let i = 0; i < x.length; i++) {
        const f = x.flags[i];
        got.push([Number(x.tsBaseNs - 4_000_000_000n) + x.ts[i], x.reason[i], x.dur[i], f & (PIO | MMIO | MSR | F_USERSPACE | F_UNPAIRED),
          f & F_PORT ? [x.port[i], x.size[i], x.dir[i], x.valLo[i]] : f & F_GPA ? [x.size[i], x.dir[i], x.valHi[i], x.valLo[i], x.gpaHi[i], x.gpaLo[i]] : [x.dir[i], x.msr[i], x.valHi[i], x.valLo[i]]]);
      }
    }
    expect(s.stats.rejected).toBe(0);
    expect(got).toEqual(rows.map(([ts, , reason, , , dur, flags, port, size, dir, valHi, valLo, gpaHi, gpaLo, msr]) => [ts, reason, dur, flags | (dur === dur ? 0 : F_UNPAIRED),
      flags & F_PORT ? [port, size, dir, valLo] : flags & F_GPA ? [size, dir, valHi, valLo, gpaHi, gpaLo] : [dir, msr, valHi, valLo]]));
  });

  it('names each thread in the saved cmdlines; an empty input is one empty CPU; no temporary files are left', async () => {
    const { readdirSync } = await import('node:fs');
    const temps = () => readdirSync(tmpdir()).filter((n) => n.startsWith('exitscope-dat-') && !n.startsWith('exitscope-dat-mut-')).length;
    const before = temps();
    const b = await written([{ ts: 0, vcpu: 0, reason: 30, dur: 10 }, { ts: 5, vcpu: 3, reason: 12, dur: 10 }], 5_000_000_000n);
    const src = new FileSource(file(b));
    const L = readTraceDatLayout(src);
    src.close();
    expect([...L.meta.cmdlines].sort((x, y) => x[0] - y[0])).toEqual([[4242, 'CPU 0/KVM'], [4245, 'CPU 3/KVM']]);
    const empty = await written([], 5_000_000_000n);
    expect(cpuTable(empty).cpus).toEqual([{ offset: 0, size: 0 }]);
    expect(temps()).toBe(before);
  });
});

describe('tracing data (trace.dat v6 and perf.data\'s HEADER_TRACING_DATA): every part named where it is cut', () => {
  it('a file written here, cut at every byte of its tracing data: each cut names the part it fell in', async () => {
    const { readTracingData } = await import('../src/formats/tracing/tracing-data.js');
    const { BufferSource, Cursor } = await import('../src/formats/tracing/source.js');
    const b = await written([{ ts: 0, vcpu: 1, reason: 30, dur: 100 }], 5_000_000_000n);
    const { tableAt } = cpuTable(b);
    // The tracing data ends before the CPU count, "options  \0", option 0 and "flyrecord\0".
    const end = tableAt - 10 - 2 - 10 - 4;
    const seen = new Map<string, number>();
    for (let n = 0; n <= end; n++) {
      try { readTracingData(new Cursor(new BufferSource(b.subarray(0, n), 0), 0, true, 'the file header')); seen.set('no error', n); } catch (e) {
        // the part, without the numbers that say where
        const m = (e as Error).message.replace(/ \((needed|a string at) .*\)$/, '').replace(/\d+/g, 'N');
        if (!seen.has(m)) seen.set(m, n);
      }
    }
    expect(seen.get('no error')).toBe(end);
    expect([...seen.keys()]).toEqual([
      'truncated: the file ends inside the trace-cmd magic N N N "tracing"',
      'truncated: the file ends inside the version string',
      'truncated: the file ends inside the endianness byte',
      'truncated: the file ends inside the long size',
      'truncated: the file ends inside the page size',
      'truncated: the file ends inside "header_page"',
      'truncated: the file ends inside the header_page size',
      'truncated: the file ends inside header_page',
      'truncated: the file ends inside "header_event"',
      'truncated: the file ends inside the header_event size',
      'truncated: the file ends inside header_event',
      'truncated: the file ends inside the ftrace format count',
      'truncated: the file ends inside the event system count',
      'truncated: the file ends inside an event system name',
      'truncated: the file ends inside the event count of system kvm',
      'truncated: the file ends inside an event format size (system kvm)',
      'truncated: the file ends inside an event format of system kvm',
      'truncated: the file ends inside the kallsyms size',
      'truncated: the file ends inside the printk formats size',
      'truncated: the file ends inside the saved_cmdlines size',
      'truncated: the file ends inside saved_cmdlines',
      'no error',
    ]);
  });

  it('saved cmdlines: "pid comm" lines; a line without a pid before its first blank is not one', async () => {
    const { parseCmdlines } = await import('../src/formats/tracing/tracing-data.js');
    const m = parseCmdlines('4242 CPU 0/KVM\n\n 12 lead\nabc def\n7 \n4243 CPU 1/KVM with  spaces\nnospace\n');
    expect([...m]).toEqual([[4242, 'CPU 0/KVM'], [7, ''], [4243, 'CPU 1/KVM with  spaces']]);
  });

  it('perf\'s tracing data before version 0.6 has no saved cmdlines; 0.6 and trace.dat\'s 6 have them', async () => {
    const { readTracingData } = await import('../src/formats/tracing/tracing-data.js');
    const { BufferSource, Cursor } = await import('../src/formats/tracing/source.js');
    const b = await written([{ ts: 0, vcpu: 1, reason: 30, dur: 100 }], 5_000_000_000n);
    // The magic (10 bytes), the version "6\0", the rest; cut after the cmdlines (the CPU count follows them).
    const { tableAt } = cpuTable(b);
    const rest = b.subarray(12, tableAt - 10 - 2 - 10 - 4); // before: "flyrecord\0", option 0, "options  \0", the CPU count
    for (const [version, cmdlines] of [['6', 1], ['0.6', 1], ['0.5', 0], ['0.55', 0]] as const) {
      const blk = Buffer.concat([b.subarray(0, 10), Buffer.from(`${version}\0`, 'latin1'), rest]);
      const meta = readTracingData(new Cursor(new BufferSource(blk, 0), 0, true, 'the file header'));
      expect([version, meta.header.version, meta.cmdlines.size]).toEqual([version, version, cmdlines]);
    }
  });
});

describe('trace.dat v7 options rewritten in a real file (kvm-pio-v7-none.dat)', () => {
  const b = readFileSync(fx('trace-dat', 'kvm-pio-v7-none.dat'));
  const layout = (x: Buffer) => { const src = new FileSource(file(x)); try { return readTraceDatLayout(src); } finally { src.close(); } };
  const layoutErr = (x: Buffer): string => { try { layout(x); return 'no error'; } catch (e) { return (e as Error).message; } };
  /** One option: u16 id, u32 size, the data. */
  const opt = (id: number, data: Buffer): Buffer => { const h = Buffer.alloc(6); h.writeUInt16LE(id, 0); h.writeUInt32LE(data.length, 2); return Buffer.concat([h, data]); };
  const u32 = (v: number) => { const x = Buffer.alloc(4); x.writeUInt32LE(v); return x; };
  const u64 = (v: number) => { const x = Buffer.alloc(8); x.writeBigUInt64LE(BigInt(v)); return x; };
  /** A BUFFER option (v7): offset, name, clock, page size, CPU count, per CPU (id, offset, size). */
  const buffer = (name: string, clock: string, cpus: Array<[number, number, number]>): Buffer =>
    opt(3, Buffer.concat([u64(154504), Buffer.from(`${name}\0${clock}\0`, 'latin1'), u32(4096), u32(cpus.length), ...cpus.map(([c, o, s]) => Buffer.concat([u32(c), u64(o), u64(s)]))]));
  /** The file with its last options section (the BUFFER option's) replaced by `opts` in a section appended at the end. */
  const withLastOptions = (opts: Buffer[]): Buffer => {
    const body = Buffer.concat([...opts, opt(0, u64(0))]);
    const head = Buffer.alloc(16); head.writeUInt16LE(0, 0); head.writeBigUInt64LE(BigInt(body.length), 8);
    const x = Buffer.from(b);
    expect(Number(x.readBigUInt64LE(154490 + 6))).toBe(180224); // the second section's DONE: the next section's offset
    x.writeBigUInt64LE(BigInt(b.length), 154490 + 6);
    return Buffer.concat([x, head, body]);
  };

  it('an instance listed before the top buffer: the top buffer\'s CPUs come first, and the clock is the top buffer\'s', () => {
    const L = layout(withLastOptions([
      buffer('inst', 'local', [[0, 155648, 12288], [1, 167936, 0]]),
      buffer('', 'global', [[0, 155648, 12288], [1, 167936, 12288]]),
    ]));
    expect(L.cpus).toEqual([
      { cpu: 0, offset: 155648, size: 12288, instance: '' }, { cpu: 1, offset: 167936, size: 12288, instance: '' },
      { cpu: 0, offset: 155648, size: 12288, instance: 'inst' },
    ]);
    expect(L.clock).toBe('global');
    // Two instances and no top buffer: their order is kept; the clock is the file's (none given: local).
    const M = layout(withLastOptions([buffer('b', 'global', [[1, 167936, 12288]]), buffer('a', 'global', [[0, 155648, 12288]])]));
    expect([M.cpus.map((c) => `${c.instance}${c.cpu}`), M.clock]).toEqual([['b1', 'a0'], 'local']);
  });

  it('options sections that loop, a file without HEADER_INFO, one without ftrace formats', () => {
    const loop = Buffer.from(b);
    // the last section's DONE (at 180309) points back at the first section
    expect(loop.readUInt16LE(180309)).toBe(0);
    loop.writeBigUInt64LE(154340n, 180309 + 6);
    expect(layoutErr(loop)).toBe('options sections loop back to 0x25ae4');
    const noInfo = Buffer.from(b);
    expect(noInfo.readUInt16LE(154396)).toBe(16);
    noInfo.writeUInt16LE(99, 154396); // an option id nobody knows: skipped
    expect(layoutErr(noInfo)).toBe('version 7 file without a HEADER_INFO section (no page header format)');
    const noFtrace = Buffer.from(b);
    expect(noFtrace.readUInt16LE(154410)).toBe(17);
    noFtrace.writeUInt16LE(99, 154410);
    const L = layout(noFtrace);
    expect(L.meta.events.byName.has('kvm:kvm_pio') || L.meta.events.byName.has('kvm_pio')).toBe(true);
    // the kallsyms section claims more bytes than the file has after it
    const long = Buffer.from(b);
    long.writeBigUInt64LE(BigInt(b.length), 102630 + 8);
    expect(layoutErr(long)).toBe(`truncated: the file ends inside the kallsyms section at 0x${(102630).toString(16)} (it needs ${b.length} bytes)`);
    // The last options section declaring 1 byte (its options are read to their DONE, not to its size), the file cut
    // inside its BUFFER option's id, size and data.
    const small = Buffer.from(b);
    small.writeBigUInt64LE(1n, 180224 + 8);
    expect([180241, 180244, 180250].map((n) => layoutErr(small.subarray(0, n)).replace(/ \(needed .*\)$/, ''))).toEqual([
      'truncated: the file ends inside an option id', 'truncated: the file ends inside an option size', 'truncated: the file ends inside option 3',
    ]);
    // exactly to the end of the file is not past it
    const exact = Buffer.from(b);
    exact.writeBigUInt64LE(BigInt(b.length - 102630 - 16), 102630 + 8);
    expect(layoutErr(exact)).not.toMatch(/kallsyms section/);
  });
});
