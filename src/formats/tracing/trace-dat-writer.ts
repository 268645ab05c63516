/**
 * Writes exits as a trace-cmd trace.dat, version 6, uncompressed, the layout
 * trace-dat-file.ts reads and trace-cmd report accepts: the tracing-data
 * block (a 64-bit little-endian kernel, 4 KiB pages, the kvm formats of
 * kvm-formats.ts, no kallsyms, saved cmdlines `4242+n CPU n/KVM`), the CPU
 * count, an empty options list, "flyrecord" and per-CPU (offset, size), then
 * page-aligned ring-buffer pages per CPU.
 *
 * Records per exit row (the conventions of trace-cmd-writer.ts, the text
 * writer of the same events): kvm_exit at ts (isa VMX = 1 unless the reason
 * is an SVM one = 2; bit 31 of exit_reason for a failed VM entry), then the
 * detail record at the same time (kvm_pio for a port, else kvm_mmio for a
 * gpa, else kvm_msr for an msr) and kvm_userspace_exit when the exit went to
 * the VMM, and kvm_entry at ts + duration (none when the duration is
 * unknown). Each vcpu is a thread: pid 4242 + vcpu on host CPU vcpu % 8
 * (when the exits carry several VMs in their `vm` column, the k-th VM's
 * threads are 4242 + 1000k + vcpu, so each VM keeps its own threads).
 * Records are written in time order across vcpus (an entry waits until no
 * earlier exit is left), so every CPU's pages are in time order; times are
 * whole nanoseconds.
 *
 * Memory stays bounded whatever the input size: each CPU's pages go to its
 * own temporary file as they fill, and the header (which needs the CPU count
 * and the vcpus seen) is written at the end, followed by the temporary files
 * copied block by block.
 *
 * Compression: version 7 with zstd is not written. fzstd, the zstd library
 * exitscope uses (pure JS), only decompresses; Node 20 has no zstd encoder.
 * Version 7 with zlib (node:zlib can compress) would be possible, but Debian's
 * trace-cmd reads only zstd and none, so it could not be checked by the tool.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIR_WRITE, F_FAILED_ENTRY, F_GPA, F_MSR, F_PORT, F_USERSPACE, type ExitChunk } from '../../model/chunk.js';
import { REASONS } from '../../model/reasons.js';
import type { WriteOptions } from '../types.js';
import { parseEventFormat, type EventFormat } from './event-format.js';
import { HEADER_EVENT, HEADER_PAGE_64, KVM_FORMATS } from './kvm-formats.js';
import { TRACING_MAGIC } from './tracing-data.js';

const PAGE = 4096;
const DATA_OFF = 16;
const PAGE_DATA = PAGE - DATA_OFF;
const TWO27 = 134217728;
const PID_BASE = 4242;
const MAX_CPUS = 8;
/** Bytes of full pages a CPU keeps before appending them to its temporary file. */
const STAGE = 64 * PAGE;

/** A record layout: its format and a scratch buffer of its size; fields are set through slots looked up once. */
class RecordLayout {
  readonly buf: Buffer;
  readonly size: number;
  private readonly offsets: number[] = [];
  private readonly sizes: number[] = [];
  private readonly commonType: number;
  private readonly commonPid: number;

  constructor(readonly fmt: EventFormat) {
    let end = 0, align = 4;
    for (const f of fmt.fields) { end = Math.max(end, f.offset + f.size); if (f.size === 8) align = 8; }
    this.size = Math.ceil(end / align) * align;
    this.buf = Buffer.alloc(this.size);
    this.commonType = this.slot('common_type');
    this.commonPid = this.slot('common_pid');
  }

  /** A field's slot for `u` (-1: the format has no such field, and `u` leaves the record as it is). */
  slot(name: string): number {
    const f = this.fmt.field(name);
    if (!f) return -1;
    this.offsets.push(f.offset);
    this.sizes.push(f.size);
    return this.offsets.length - 1;
  }

  /** Clears the record and sets the common fields. */
  start(pid: number): this {
    this.buf.fill(0);
    this.u(this.fmt.id, this.commonType);
    this.u(pid, this.commonPid);
    return this;
  }

  /** Sets an unsigned field (up to 32 bits; 8-byte fields take hi too). */
  u(v: number, slot: number, hi = 0): this {
    if (slot < 0) return this;
    const o = this.offsets[slot];
    switch (this.sizes[slot]) {
      case 1: this.buf.writeUInt8(v & 0xff, o); break;
      case 2: this.buf.writeUInt16LE(v & 0xffff, o); break;
      case 4: this.buf.writeUInt32LE(v >>> 0, o); break;
      case 8: this.buf.writeUInt32LE(v >>> 0, o); this.buf.writeUInt32LE(hi >>> 0, o + 4); break;
      default: break;
    }
    return this;
  }
}

/** One host CPU's ring buffer: fills pages, stages them, appends them to a temporary file. */
class CpuPages {
  private readonly stage = Buffer.alloc(STAGE);
  private staged = 0;
  private page = 0;
  private used = 0;
  private open = false;
  /** Time offset of the last record written (records never go back in time on a CPU). */
  private last = 0;
  size = 0;
  private fd = -1;

  constructor(readonly cpu: number, private readonly path: string, private readonly base: bigint) {}

  /** Appends a record of `rec` bytes at time offset `ts` (whole ns from the base). */
  add(ts: number, rec: Buffer): void {
    if (ts < this.last) ts = this.last;
    const words = rec.length >> 2;
    const need = 4 + rec.length;
    let delta = this.open ? ts - this.last : 0;
    const extend = delta >= TWO27 ? 8 : 0;
    if (!this.open || this.used + extend + need > PAGE_DATA) {
      this.newPage(ts);
      delta = 0;
    }
    const s = this.stage;
    let p = this.page + DATA_OFF + this.used;
    if (delta >= TWO27) {
      // time extend: type_len 30, low 27 bits in the header, the rest in the next word
      s.writeUInt32LE((((delta % TWO27) << 5) | 30) >>> 0, p);
      s.writeUInt32LE(Math.floor(delta / TWO27) >>> 0, p + 4);
      p += 8;
      this.used += 8;
      delta = 0;
    }
    s.writeUInt32LE(((delta << 5) | words) >>> 0, p);
    rec.copy(s, p + 4);
    this.used += need;
    this.last = ts;
  }

  private newPage(ts: number): void {
    if (this.open) this.closePage();
    if (this.staged + PAGE > STAGE) this.spill();
    this.page = this.staged;
    this.stage.fill(0, this.page, this.page + PAGE);
    this.stage.writeBigUInt64LE(this.base + BigInt(ts), this.page);
    this.used = 0;
    this.open = true;
    this.last = ts;
  }

  private closePage(): void {
    this.stage.writeBigUInt64LE(BigInt(this.used), this.page + 8);
    this.staged = this.page + PAGE;
    this.open = false;
  }

  private spill(): void {
    if (this.staged === 0) return;
    if (this.fd < 0) this.fd = openSync(this.path, 'w+');
    let off = 0;
    while (off < this.staged) off += writeSync(this.fd, this.stage, off, this.staged - off);
    this.size += this.staged;
    this.staged = 0;
  }

  /** Closes the last page and writes everything out. */
  finish(): void {
    if (this.open) this.closePage();
    this.spill();
  }

  /** The temporary file's bytes, block by block. */
  *contents(): Generator<Buffer> {
    if (this.fd < 0) return;
    const buf = Buffer.allocUnsafe(1 << 20);
    let pos = 0;
    while (pos < this.size) {
      const n = readSync(this.fd, buf, 0, Math.min(buf.length, this.size - pos), pos);
      if (n <= 0) throw new Error(`temporary file of CPU ${this.cpu} ended early`);
      pos += n;
      // (A copy by copy(): Buffer.from(subarray) copies element by element.)
      const out = Buffer.allocUnsafe(n);
      buf.copy(out, 0, 0, n);
      yield out;
    }
  }

  close(): void {
    if (this.fd >= 0) { closeSync(this.fd); this.fd = -1; }
  }
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
}

function u64(v: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v), 0);
  return b;
}

/** The tracing-data block, CPU count, options and flyrecord CPU table (offsets filled by the caller). */
function header(formats: string[], threads: Array<[number, number]>, cpuSizes: number[]): Buffer {
  const parts: Buffer[] = [];
  parts.push(TRACING_MAGIC, Buffer.from('6\0', 'latin1'), Buffer.from([0, 8]), u32(PAGE));
  const hp = Buffer.from(HEADER_PAGE_64, 'latin1');
  parts.push(Buffer.from('header_page\0', 'latin1'), u64(hp.length), hp);
  const he = Buffer.from(HEADER_EVENT, 'latin1');
  parts.push(Buffer.from('header_event\0', 'latin1'), u64(he.length), he);
  parts.push(u32(0)); // no ftrace formats
  parts.push(u32(1), Buffer.from('kvm\0', 'latin1'), u32(formats.length));
  for (const f of formats) {
    const b = Buffer.from(f, 'latin1');
    parts.push(u64(b.length), b);
  }
  parts.push(u32(0)); // kallsyms
  parts.push(u32(0)); // printk formats
  const cmd = Buffer.from(threads.map(([t, v]) => `${PID_BASE + t} CPU ${v}/KVM\n`).join(''), 'latin1');
  parts.push(u64(cmd.length), cmd);
  parts.push(u32(cpuSizes.length));
  parts.push(Buffer.from('options  \0', 'latin1'), Buffer.from([0, 0]));
  parts.push(Buffer.from('flyrecord\0', 'latin1'));
  const table = Buffer.alloc(16 * cpuSizes.length);
  parts.push(table);
  const head = Buffer.concat(parts);
  // CPU data starts page-aligned after the header.
  let off = Math.ceil(head.length / PAGE) * PAGE;
  const tableAt = head.length - table.length;
  cpuSizes.forEach((size, i) => {
    head.writeBigUInt64LE(BigInt(size ? off : 0), tableAt + 16 * i);
    head.writeBigUInt64LE(BigInt(size), tableAt + 16 * i + 8);
    off += size;
  });
  return Buffer.concat([head, Buffer.alloc(Math.ceil(head.length / PAGE) * PAGE - head.length)]);
}

export async function* writeTraceDat(chunks: AsyncIterable<ExitChunk>, _opts: WriteOptions): AsyncGenerator<Buffer> {
  const fmt = (n: string): RecordLayout => new RecordLayout(parseEventFormat(KVM_FORMATS[n], 'kvm'));
  const EXIT = fmt('kvm_exit'), ENTRY = fmt('kvm_entry'), PIO = fmt('kvm_pio'), MMIO = fmt('kvm_mmio'), MSR = fmt('kvm_msr'), USER = fmt('kvm_userspace_exit');
  // Field slots, looked up once (by name per record was a fifth of a write).
  const X = { reason: EXIT.slot('exit_reason'), rip: EXIT.slot('guest_rip'), isa: EXIT.slot('isa'), vcpu: EXIT.slot('vcpu_id') };
  const N = { vcpu: ENTRY.slot('vcpu_id'), rip: ENTRY.slot('rip') };
  const P = { rw: PIO.slot('rw'), port: PIO.slot('port'), size: PIO.slot('size'), count: PIO.slot('count'), val: PIO.slot('val') };
  const M = { type: MMIO.slot('type'), len: MMIO.slot('len'), gpa: MMIO.slot('gpa'), val: MMIO.slot('val') };
  const R = { write: MSR.slot('write'), ecx: MSR.slot('ecx'), data: MSR.slot('data') };
  const U = { reason: USER.slot('reason') };
  const dir = mkdtempSync(join(tmpdir(), 'exitscope-dat-'));
  const cpus: CpuPages[] = [];
  let base: bigint | null = null;
  /**
   * Threads: one per (VM, vcpu). The first VM's vcpu n is thread n (pid
   * 4242 + n); the k-th VM of the input's `vm` column gets threads k*1000 + n.
   */
  const vmIndex = new Map<number, number>();
  const threadOf = (vm: number, vcpu: number): number => {
    let k = vmIndex.get(vm);
    if (k === undefined) { k = vmIndex.size; vmIndex.set(vm, k); }
    return k * 1000 + vcpu;
  };
  const vcpuOfThread = new Map<number, number>();
  /** Pending entries per thread: time offset and rip halves. */
  const pendAt = new Map<number, number>();
  const pendRip = new Map<number, [number, number]>();
  const cpuOf = (thread: number): CpuPages => {
    const c = ((thread % MAX_CPUS) + MAX_CPUS) % MAX_CPUS;
    while (cpus.length <= c) cpus.push(new CpuPages(cpus.length, join(dir, `cpu${cpus.length}`), base!));
    return cpus[c];
  };
  const pid = (thread: number): number => PID_BASE + thread;
  const flushEntries = (upTo: number): void => {
    for (;;) {
      let best = -1, bestAt = Infinity;
      for (const [v, at] of pendAt) if (at <= upTo && (at < bestAt || (at === bestAt && v < best))) { best = v; bestAt = at; }
      if (best < 0) return;
      const rip = pendRip.get(best)!;
      const r = ENTRY.start(pid(best)).u(vcpuOfThread.get(best)!, N.vcpu).u(rip[1], N.rip, rip[0]);
      cpuOf(best).add(bestAt, r.buf);
      pendAt.delete(best);
    }
  };
  try {
    for await (const c of chunks) {
      if (base === null) base = c.tsBaseNs;
      const shift = c.tsBaseNs === base ? 0 : Number(c.tsBaseNs - base);
      for (let i = 0; i < c.length; i++) {
        const ts = Math.round(c.ts[i] + shift);
        flushEntries(ts);
        const v = c.vcpu[i];
        const t = threadOf(c.vm[i], v);
        vcpuOfThread.set(t, v);
        const p = pid(t);
        const cpu = cpuOf(t);
        // an entry of this thread still pending (inconsistent input): write it first
        if (pendAt.has(t)) flushEntries(pendAt.get(t)!);
        const reason = REASONS.get(c.reason[i]);
        const svm = reason.isa === 'svm';
        let code = reason.code;
        if (code < 0) code = REASONS.get(REASONS.lookup(reason.canonical, 'vmx')).code;
        if (code < 0) code = 0xffff; // a reason no hardware table knows: an out-of-table VMX code
        const f = c.flags[i];
        const exitReason = svm ? code : (code & 0xffff) | (f & F_FAILED_ENTRY ? 0x80000000 : 0);
        cpu.add(ts, EXIT.start(p).u(exitReason, X.reason).u(c.ripLo[i], X.rip, c.ripHi[i]).u(svm ? 2 : 1, X.isa).u(v, X.vcpu).buf);
        const write = c.dir[i] === DIR_WRITE ? 1 : 0;
        if (f & F_PORT) {
          cpu.add(ts, PIO.start(p).u(write, P.rw).u(c.port[i], P.port).u(c.size[i] || 1, P.size).u(1, P.count).u(c.valLo[i], P.val).buf);
        } else if (f & F_GPA) {
          cpu.add(ts, MMIO.start(p).u(write ? 2 : 1, M.type).u(c.size[i] || 4, M.len).u(c.gpaLo[i], M.gpa, c.gpaHi[i]).u(c.valLo[i], M.val, c.valHi[i]).buf);
        } else if (f & F_MSR) {
          cpu.add(ts, MSR.start(p).u(write, R.write).u(c.msr[i], R.ecx).u(c.valLo[i], R.data, c.valHi[i]).buf);
        }
        if (f & F_USERSPACE) cpu.add(ts, USER.start(p).u(f & F_PORT ? 2 : f & F_GPA ? 6 : 3, U.reason).buf);
        const d = c.dur[i];
        if (d === d) {
          pendAt.set(t, Math.round(c.ts[i] + shift + d));
          pendRip.set(t, [c.ripHi[i], c.ripLo[i]]);
        }
      }
    }
    if (base === null) base = 0n;
    flushEntries(Infinity);
    for (const c of cpus) c.finish();
    // Keep empty CPUs below the highest used one (trace-cmd numbers CPUs by position).
    const threads = [...vcpuOfThread].sort((a, b) => a[0] - b[0]);
    const formats = [EXIT, ENTRY, PIO, MMIO, MSR, USER].map((r) => KVM_FORMATS[r.fmt.name]);
    yield header(formats, threads, cpus.length ? cpus.map((c) => c.size) : [0]);
    for (const c of cpus) yield* c.contents();
  } finally {
    for (const c of cpus) c.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
