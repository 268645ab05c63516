import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openTrace } from '../src/formats/index.js';
import { perfDataRecords, type PerfDecodedRecord } from '../src/formats/perf-data.js';
import { ExitscopeError } from '../src/model/errors.js';
import { fx } from './helpers.js';

const FILES = ['perf-kvm-tp', 'perf-kvm-stat', 'perf-kvm-pipe', 'perf-kvm-tp-zstd'];
const tmp = mkdtempSync(join(tmpdir(), 'exitscope-perf-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Golden { comm: string; pid: number; tid: number; cpu: number; ts: bigint; name: string; text: string }

/** `perf script --ns -F comm,pid,tid,cpu,time,event,trace`: `comm pid/tid [cpu] sec.ns: kvm:name: payload`. */
function readGoldenNs(file: string): Golden[] {
  const out: Golden[] = [];
  for (const line of readFileSync(file, 'latin1').split('\n')) {
    const m = /^\s*(.*?)\s+(\d+)\/(\d+)\s+\[(\d+)\]\s+(\d+)\.(\d{9}):\s+(\w+):(\w+):\s?(.*)$/.exec(line);
    if (!m) continue;
    out.push({ comm: m[1], pid: Number(m[2]), tid: Number(m[3]), cpu: Number(m[4]), ts: BigInt(m[5]) * 1_000_000_000n + BigInt(m[6]), name: m[8], text: m[9].trimEnd() });
  }
  return out;
}

/** The original `perf script` text (µs, `comm tid [cpu] sec.us: kvm:name: payload`). */
function readGoldenUs(file: string): Array<{ tid: number; cpu: number; us: bigint; name: string }> {
  const out = [];
  for (const line of readFileSync(file, 'latin1').split('\n')) {
    const m = /^\s*(.*?)\s+(\d+)\s+\[(\d+)\]\s+(\d+)\.(\d{6}):\s+(\w+):(\w+):/.exec(line);
    if (m) out.push({ tid: Number(m[2]), cpu: Number(m[3]), us: BigInt(m[4]) * 1_000_000n + BigInt(m[5]), name: m[7] });
  }
  return out;
}

const h = (v: unknown): string => (typeof v === 'bigint' ? v : BigInt(v as number)).toString(16);
const USERSPACE_REASONS = ['UNKNOWN', 'EXCEPTION', 'IO', 'HYPERCALL', 'DEBUG', 'HLT', 'MMIO', 'IRQ_WINDOW_OPEN', 'SHUTDOWN', 'FAIL_ENTRY', 'INTR'];
const INSN_MODES: Record<number, string> = { 0: 'real', 3: 'vm16', 1: 'prot16', 5: 'prot32', 9: 'prot64' };

/** The kernel's print formats (perf has no libtraceevent plugins here), rendered from decoded fields. */
function render(r: PerfDecodedRecord): string | null {
  const f = r.fields as Record<string, any>;
  switch (r.name) {
    case 'kvm_pio': return `pio_${f.rw ? 'write' : 'read'} at 0x${h(f.port)} size ${f.size} count ${f.count} val 0x${h(f.val)}${f.count > 1 ? ' (...)' : ''}`;
    case 'kvm_mmio': return `mmio ${['unsatisfied-read', 'read', 'write'][f.type]} len ${f.len} gpa 0x${h(f.gpa)} val 0x${h(f.val)}`;
    case 'kvm_userspace_exit': return `reason KVM_EXIT_${USERSPACE_REASONS[f.reason]} (${f.reason})`;
    case 'kvm_fpu': return f.load ? 'load' : 'unload';
    case 'kvm_write_tsc_offset': return `vcpu=${f.vcpu_id} prev=${f.previous_tsc_offset} next=${f.next_tsc_offset}`;
    case 'kvm_track_tsc': return `vcpu_id ${f.vcpu_id} masterclock ${f.use_master_clock} offsetmatched ${f.nr_vcpus_matched_tsc} nr_online ${f.online_vcpus} hostclock 0x${h(f.host_clock)}`;
    case 'kvm_update_master_clock': return `masterclock ${f.use_master_clock} hostclock 0x${h(f.host_clock)} offsetmatched ${f.offset_matched}`;
    case 'kvm_apicv_inhibit_changed': return `${f.set ? 'set' : 'cleared'} reason=${f.reason}, inhibits=0x${h(f.inhibits)}${f.inhibits === 1n ? ' DISABLED' : ''}`;
    case 'kvm_unmap_hva_range': return `mmu notifier unmap range: 0x${h(f.start).padStart(14, '0')} -- 0x${h(f.end).padStart(14, '0')}`;
    case 'kvm_emulate_insn': return `${h(f.csbase)}:${h(f.rip)}:${(f.insn as number[]).slice(0, f.len).map((b) => b.toString(16).padStart(2, '0')).join(' ')} (${INSN_MODES[f.flags]})${f.failed ? ' failed' : ''}`;
    case 'kvm_inj_exception': return `[FAILED TO PARSE] exception=${f.exception} has_error=${f.has_error} error_code=${f.error_code} reinjected=${f.reinjected}`;
    default: return null;
  }
}

async function collect(path: string): Promise<PerfDecodedRecord[]> {
  const out: PerfDecodedRecord[] = [];
  for await (const r of perfDataRecords(path)) out.push(r);
  return out;
}

describe('perf.data reader: real files against perf script', () => {
  for (const f of FILES) {
    it(`${f}: every sample matches perf script (ns time, pid/tid, CPU, event, payload), in its order`, async () => {
      const golden = readGoldenNs(fx('perf-data', `${f}.script-ns.txt`));
      const recs = await collect(fx('perf-data', `${f}.data`));
      expect(golden.length).toBeGreaterThan(0);
      expect(recs.length).toBe(golden.length);
      recs.forEach((r, i) => {
        const g = golden[i];
        expect({ ts: r.ts, pid: r.pid, tid: r.tid, cpu: r.cpu, name: r.name }, `sample ${i}`).toEqual({ ts: g.ts, pid: g.pid, tid: g.tid, cpu: g.cpu, name: g.name });
        expect(render(r), `${r.name} at ${g.ts}`).toBe(g.text);
      });
      // and the original µs text of the same file
      const us = readGoldenUs(fx('perf-data', `${f}.script.txt`));
      expect(recs.map((r) => ({ tid: r.tid, cpu: r.cpu, us: r.ts / 1000n, name: r.name }))).toEqual(us);
    });
  }

  it('the pipe-mode and file-mode records are decoded the same way (the first guest\'s three kvm_pio payloads)', async () => {
    const pipe = (await collect(fx('perf-data', 'perf-kvm-pipe.data'))).filter((r) => r.name === 'kvm_pio');
    const stat = (await collect(fx('perf-data', 'perf-kvm-stat.data'))).filter((r) => r.name === 'kvm_pio');
    expect(pipe.slice(0, 3).map((r) => r.fields)).toEqual(stat.slice(0, 3).map((r) => r.fields));
    expect(pipe.slice(0, 3).map((r) => r.fields.val)).toEqual([0x41, 0x42, 0x0a]);
  });

  for (const f of FILES) {
    it(`openTrace sniffs ${f}.data, counts every sample and says no kvm_exit was recorded`, async () => {
      const golden = readGoldenNs(fx('perf-data', `${f}.script-ns.txt`));
      const s = await openTrace(fx('perf-data', `${f}.data`));
      expect(s.format).toBe('perf-data');
      let rows = 0;
      for await (const c of s.chunks) rows += c.length;
      expect(rows).toBe(0);
      const st = s.stats;
      expect(st.lines).toBe(golden.length);
      expect(st.events).toBe(golden.filter((g) => /^kvm_(pio|mmio|userspace_exit)$/.test(g.name)).length);
      expect(st.events + st.skipped + st.rejected).toBe(st.lines);
      expect(st.rejected).toBe(0);
      expect(st.notes.join('\n')).toMatch(/no kvm_exit events in this trace, only \d+ kvm_pio/);
    });
  }
});

describe('perf.data reader: processes', () => {
  it('keeps the sample pid (the VM process) apart from the tid: notes when several VMs are pooled', async () => {
    const recs = await collect(fx('perf-data', 'perf-kvm-tp.data'));
    expect([...new Set(recs.map((r) => r.pid))].sort()).toEqual([24347, 24351]);
    const s = await openTrace(fx('perf-data', 'perf-kvm-tp.data'));
    for await (const _ of s.chunks) { /* drain */ }
    expect(s.stats.notes.join('\n')).toMatch(/kvm samples came from 2 processes \(VMs: pid 24347, 24351\)/);
  });
});

describe('perf.data reader: bad input', () => {
  const read = async (path: string): Promise<{ err: unknown; lines: number }> => {
    const s = await openTrace(path);
    try {
      for await (const _ of s.chunks) { /* drain */ }
      return { err: null, lines: s.stats.lines };
    } catch (e) {
      return { err: e, lines: s.stats.lines };
    }
  };

  it('a truncated file: one error naming the file and offset, samples before it counted', async () => {
    const src = readFileSync(fx('perf-data', 'perf-kvm-pipe.data'));
    const cut = join(tmp, 'cut.data');
    writeFileSync(cut, src.subarray(0, src.length - 200));
    const { err, lines } = await read(cut);
    expect(err).toBeInstanceOf(ExitscopeError);
    expect((err as Error).message).toMatch(new RegExp(`^${cut.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:@0x[0-9a-f]+: truncated`));
    expect((err as Error).message.split('\n').length).toBe(1);
    expect(lines).toBeGreaterThan(0);
  });

  it('a file-mode perf.data whose data section is cut short', async () => {
    const src = readFileSync(fx('perf-data', 'perf-kvm-stat.data'));
    const cut = join(tmp, 'cut-file.data');
    writeFileSync(cut, src.subarray(0, 1500));
    const { err } = await read(cut);
    expect((err as Error).message).toMatch(/cut-file\.data:@0x[0-9a-f]+: truncated/);
  });

  it('a compression type other than zstd', async () => {
    // pipe mode: patch the HEADER_COMPRESSED feature record's type to 2
    const src = Buffer.from(readFileSync(fx('perf-data', 'perf-kvm-tp-zstd.data')));
    const le = true;
    // file mode: find the HEADER_COMPRESSED feature section (bit 27) through the header
    const dataOff = Number(src.readBigUInt64LE(40)), dataSize = Number(src.readBigUInt64LE(48));
    const bits: number[] = [];
    for (let w = 0; w < 4; w++) { const word = src.readBigUInt64LE(72 + 8 * w); for (let b = 0; b < 64; b++) if ((word >> BigInt(b)) & 1n) bits.push(w * 64 + b); }
    const k = bits.indexOf(27);
    expect(k).toBeGreaterThanOrEqual(0);
    const secOff = Number(src.readBigUInt64LE(dataOff + dataSize + 16 * k));
    expect(src.readUInt32LE(secOff + 4)).toBe(1); // zstd
    src.writeUInt32LE(2, secOff + 4);
    void le;
    const bad = join(tmp, 'lz4.data');
    writeFileSync(bad, src);
    await expect(read(bad).then((r) => { throw r.err; })).rejects.toThrow(/lz4\.data:@0x[0-9a-f]+: perf\.data compressed with type 2; exitscope reads zstd/);
  });

  it('a wrong magic (read as perf-data by name) and a newer file format version are refused with the offset', async () => {
    const src = Buffer.from(readFileSync(fx('perf-data', 'perf-kvm-stat.data')));
    const bad = join(tmp, 'magic.data');
    src.write('PERFXYZ2', 0, 'latin1');
    writeFileSync(bad, src);
    const s = await openTrace(bad, { format: 'perf-data' });
    await expect((async () => { for await (const _ of s.chunks) { /* drain */ } })()).rejects.toThrow(/magic\.data:@0x0: not a perf\.data: magic "PERFXYZ2"/);
    const newer = join(tmp, 'newer.data');
    src.write('PERFILE3', 0, 'latin1');
    writeFileSync(newer, src);
    const s2 = await openTrace(newer, { format: 'perf-data' });
    await expect((async () => { for await (const _ of s2.chunks) { /* drain */ } })()).rejects.toThrow(/newer\.data:@0x0: perf\.data format PERFILE3 is newer than exitscope reads \(PERFILE2\)/);
  });

  it('a newer ABI\'s larger attrs and unknown sample_type bits (after RAW) still read', async () => {
    const st = SAMPLE.IDENTIFIER | SAMPLE.TID | SAMPLE.TIME | SAMPLE.CPU | SAMPLE.RAW;
    const f = composePipe(st);
    // set an unknown high sample_type bit in both attrs (their sample_type is at attr offset 24, after an 8-byte record header)
    let n = 0;
    for (let p = 16; p + 8 <= f.length && n < 2; p += f.readUInt16LE(p + 6)) {
      if (f.readUInt32LE(p) === 64) { f.writeBigUInt64LE(BigInt(st) | (1n << 40n), p + 8 + 24); n++; }
    }
    expect(n).toBe(2);
    const path = join(tmp, 'newabi.data');
    writeFileSync(path, f);
    const { stream } = await readTrace(path);
    expect(stream.stats).toMatchObject({ lines: 8, events: 8, rejected: 0 });
  });

  it('a copy keeps reading (sanity of the helpers above)', async () => {
    const p = join(tmp, 'copy.data');
    copyFileSync(fx('perf-data', 'perf-kvm-stat.data'), p);
    expect((await read(p)).err).toBe(null);
  });
});

// ---------------------------------------------------------------------------
// The sample_type matrix, on pipe-mode files composed here byte by byte
// (perf.data-file-format.txt, perf_event.h) with the real kvm formats of
// fixtures/tracefs.

import { readTrace } from '../src/formats/index.js';
import { REASONS } from '../src/model/reasons.js';

const SAMPLE = { IP: 1, TID: 2, TIME: 4, ADDR: 8, READ: 16, CALLCHAIN: 32, ID: 64, CPU: 128, PERIOD: 256, STREAM_ID: 512, RAW: 1024, IDENTIFIER: 0x10000 };
const u16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
const u64 = (v: number | bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };

function tracingData(): Buffer {
  const fmt = (n: string) => readFileSync(fx('tracefs', `${n}.format`));
  const hp = Buffer.from('\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n');
  const he = Buffer.from('# compressed entry header\n');
  const parts = [Buffer.from([0x17, 0x08, 0x44]), Buffer.from('tracing0.6\0'), Buffer.from([0, 8]), u32(4096),
    Buffer.from('header_page\0'), u64(hp.length), hp, Buffer.from('header_event\0'), u64(he.length), he,
    u32(0), u32(1), Buffer.from('kvm\0'), u32(2)];
  for (const n of ['kvm_exit', 'kvm_entry']) { const f = fmt(n); parts.push(u64(f.length), f); }
  parts.push(u32(0), u32(0), u64(0));
  return Buffer.concat(parts);
}

function record(type: number, body: Buffer, misc = 0): Buffer {
  return Buffer.concat([u32(type), u16(misc), u16(8 + body.length), body]);
}

function attr(config: number, sampleType: number, readFormat: number, ids: number[]): Buffer {
  const a = Buffer.alloc(128);
  a.writeUInt32LE(2, 0); // PERF_TYPE_TRACEPOINT
  a.writeUInt32LE(128, 4);
  a.writeBigUInt64LE(BigInt(config), 8);
  a.writeBigUInt64LE(1n, 16);
  a.writeBigUInt64LE(BigInt(sampleType), 24);
  a.writeBigUInt64LE(BigInt(readFormat), 32);
  a.writeBigUInt64LE(1n << 18n, 40); // sample_id_all
  return record(64, Buffer.concat([a, ...ids.map(u64)]));
}

interface Smp { id: number; pid: number; tid: number; time: number; cpu: number; raw: Buffer }

function sampleRec(st: number, rf: number, s: Smp): Buffer {
  const p: Buffer[] = [];
  if (st & SAMPLE.IDENTIFIER) p.push(u64(s.id));
  if (st & SAMPLE.IP) p.push(u64(0xffffffff81000000n));
  if (st & SAMPLE.TID) p.push(u32(s.pid), u32(s.tid));
  if (st & SAMPLE.TIME) p.push(u64(s.time));
  if (st & SAMPLE.ADDR) p.push(u64(0xdead));
  if (st & SAMPLE.ID) p.push(u64(s.id));
  if (st & SAMPLE.STREAM_ID) p.push(u64(s.id + 1000));
  if (st & SAMPLE.CPU) p.push(u32(s.cpu), u32(0));
  if (st & SAMPLE.PERIOD) p.push(u64(1));
  if (st & SAMPLE.READ) {
    // read_format GROUP|ID|LOST|TOTAL_TIME_ENABLED: nr, time_enabled, {value, id, lost} x nr
    p.push(u64(2), u64(777), u64(1), u64(s.id), u64(0), u64(2), u64(s.id + 1), u64(0));
    void rf;
  }
  if (st & SAMPLE.CALLCHAIN) p.push(u64(3), u64(1), u64(2), u64(3));
  if (st & SAMPLE.RAW) {
    const pad = (8 - ((4 + s.raw.length) % 8)) % 8;
    p.push(u32(s.raw.length + pad), s.raw, Buffer.alloc(pad));
  }
  return record(9, Buffer.concat(p));
}

function exitRaw(pid: number, vcpu: number, code: number, rip: bigint): Buffer {
  const b = Buffer.alloc(72);
  b.writeUInt16LE(103, 0); b.writeInt32LE(pid, 4);
  b.writeUInt32LE(code, 8); b.writeBigUInt64LE(rip, 16); b.writeUInt32LE(1, 24); b.writeUInt32LE(vcpu, 56);
  return b;
}

function entryRaw(pid: number, vcpu: number): Buffer {
  const b = Buffer.alloc(36);
  b.writeUInt16LE(115, 0); b.writeInt32LE(pid, 4); b.writeUInt32LE(vcpu, 8);
  return b;
}

function composePipe(st: number, withLost = false): Buffer {
  const rf = 4 | 8 | 16 | 1;
  const td = tracingData();
  const tdPad = Buffer.alloc((8 - (td.length % 8)) % 8);
  const T = 5_000_000_000;
  // Two vcpu threads of one VM (pid 900) on CPUs 0 and 1; the second CPU's
  // samples arrive first (as perf writes one CPU's buffer after the other).
  const s = (id: number, tid: number, time: number, cpu: number, raw: Buffer): Buffer => sampleRec(st, rf, { id, pid: 900, tid, time: T + time, cpu, raw });
  const recs = [
    Buffer.concat([u64(0x32454c4946524550n), u64(16)]),
    attr(103, st, rf, [11, 12]),
    attr(115, st, rf, [21, 22]),
    record(66, u32(td.length + tdPad.length)), td, tdPad,
    s(12, 902, 300, 1, exitRaw(902, 1, 30, 0xffffffff81000100n)),
    s(22, 902, 700, 1, entryRaw(902, 1)),
    s(11, 901, 100, 0, exitRaw(901, 0, 12, 0xffffffff81000200n)),
    s(21, 901, 1100, 0, entryRaw(901, 0)),
    record(68, Buffer.alloc(0)),
  ];
  if (withLost) recs.push(record(2, Buffer.concat([u64(11), u64(5), ...(st & SAMPLE.TID ? [u32(900), u32(901)] : []), ...(st & SAMPLE.TIME ? [u64(T + 1200)] : []), ...(st & SAMPLE.ID ? [u64(11)] : []), ...(st & SAMPLE.STREAM_ID ? [u64(0)] : []), ...(st & SAMPLE.CPU ? [u32(0), u32(0)] : []), ...(st & SAMPLE.IDENTIFIER ? [u64(11)] : [])])));
  recs.push(
    s(11, 901, 1300, 0, exitRaw(901, 0, 0x80000021, 0xffffffff81000300n)),
    s(12, 902, 1250, 1, exitRaw(902, 1, 10, 0xffffffff81000400n)),
    s(22, 902, 1400, 1, entryRaw(902, 1)),
    s(21, 901, 1500, 0, entryRaw(901, 0)),
    record(68, Buffer.alloc(0)),
  );
  return Buffer.concat(recs);
}

describe('perf.data reader: the sample_type matrix (composed pipe files)', () => {
  const cases: Array<[string, number]> = [
    ['IDENTIFIER|TID|TIME|CPU|RAW', SAMPLE.IDENTIFIER | SAMPLE.TID | SAMPLE.TIME | SAMPLE.CPU | SAMPLE.RAW],
    ['IP|TID|TIME|ID|CPU|PERIOD|RAW (perf kvm stat)', SAMPLE.IP | SAMPLE.TID | SAMPLE.TIME | SAMPLE.ID | SAMPLE.CPU | SAMPLE.PERIOD | SAMPLE.RAW],
    ['TID|TIME|ADDR|ID|STREAM_ID|CPU|PERIOD|READ(group)|CALLCHAIN|RAW', SAMPLE.TID | SAMPLE.TIME | SAMPLE.ADDR | SAMPLE.ID | SAMPLE.STREAM_ID | SAMPLE.CPU | SAMPLE.PERIOD | SAMPLE.READ | SAMPLE.CALLCHAIN | SAMPLE.RAW],
    ['IDENTIFIER|IP|TID|TIME|ID|CPU|RAW', SAMPLE.IDENTIFIER | SAMPLE.IP | SAMPLE.TID | SAMPLE.TIME | SAMPLE.ID | SAMPLE.CPU | SAMPLE.RAW],
  ];
  for (const [name, st] of cases) {
    it(`${name}: samples sorted across CPUs, paired by thread, reasons and failed entries decoded`, async () => {
      const path = join(tmp, `matrix-${st.toString(16)}.data`);
      writeFileSync(path, composePipe(st));
      const { trace, stream } = await readTrace(path);
      expect(stream.format).toBe('perf-data');
      expect(stream.stats).toMatchObject({ lines: 8, events: 8, skipped: 0, rejected: 0 });
      const rows = [];
      for (const c of trace.chunks) for (let i = 0; i < c.length; i++) {
        rows.push({ t: Number(c.tsBaseNs - 5_000_000_000n) + c.ts[i], vcpu: c.vcpu[i], vm: c.vm[i], reason: REASONS.get(c.reason[i]).name, rip: c.ripLo[i].toString(16), dur: c.dur[i], failed: (c.flags[i] & 128) !== 0 });
      }
      rows.sort((a, b) => a.t - b.t);
      expect(rows).toEqual([
        { t: 100, vcpu: 0, vm: 900, reason: 'HLT', rip: '81000200', dur: 1000, failed: false },
        { t: 300, vcpu: 1, vm: 900, reason: 'IO_INSTRUCTION', rip: '81000100', dur: 400, failed: false },
        { t: 1250, vcpu: 1, vm: 900, reason: 'CPUID', rip: '81000400', dur: 150, failed: false },
        { t: 1300, vcpu: 0, vm: 900, reason: 'INVALID_STATE', rip: '81000300', dur: 200, failed: true },
      ]);
      expect(stream.counters.timeWentBackwards).toBe(0);
      expect(stream.columns.has('vm')).toBe(true);
      expect([...stream.vms]).toEqual([[900, 'qemu pid 900']]);
    });
  }

  it('a PERF_RECORD_LOST on a CPU is a lost-events marker there: the exit open on it is not paired across the gap', async () => {
    const st = SAMPLE.IDENTIFIER | SAMPLE.TID | SAMPLE.TIME | SAMPLE.CPU | SAMPLE.RAW;
    const path = join(tmp, 'lost.data');
    writeFileSync(path, composePipe(st, true));
    const { stream } = await readTrace(path);
    expect(stream.counters.lostEvents).toBe(5);
    expect(stream.counters.lostMarkers).toBe(1);
  });
});

describe('perf.data fuzz', () => {
  it('mangled and cut real files: every failure is one ExitscopeError, and every sample read is accounted for', async () => {
    let seed = 2424;
    const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
    const p = join(tmp, 'fuzz.data');
    for (const f of FILES) {
      const orig = readFileSync(fx('perf-data', `${f}.data`));
      for (let it = 0; it < 30; it++) {
        const b = Buffer.from(orig);
        const n = 1 + Math.floor(rnd() * 100);
        for (let k = 0; k < n; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
        writeFileSync(p, rnd() < 0.2 ? b.subarray(0, Math.floor(rnd() * b.length)) : b);
        const s = await openTrace(p, { format: 'perf-data' });
        try {
          for await (const _ of s.chunks) { /* drain */ }
        } catch (e) {
          expect(e, `${f} #${it}: ${(e as Error).stack}`).toBeInstanceOf(ExitscopeError);
          expect((e as Error).message.split('\n')).toHaveLength(1);
        }
        expect(s.stats.events + s.stats.skipped + s.stats.rejected).toBe(s.stats.lines);
      }
    }
  });
});
