/**
 * Exits from kvm tracepoint records: the pairing engine every event-based
 * reader feeds (ftrace / trace-cmd / perf script text, trace.dat, perf.data).
 * A reader decodes its own layout and calls one method per record; this module
 * owns what the records mean.
 *
 * Pairing: each kvm_exit waits for the next kvm_entry of the same vcpu thread
 * (the pid; else the `vcpu N` field; else the host CPU) and its duration is the
 * difference. kvm_pio / kvm_mmio / kvm_msr / kvm_fast_mmio /
 * kvm_userspace_exit records in between attach to it (KVM emits them while it
 * handles that exit: arch/x86/kvm/x86.c, trace.h). An exit followed by another
 * exit of its thread, still open at a lost-events marker of a CPU its thread
 * ran on, or open at the end is kept as unpaired (counted, untimed): pairing is
 * never guessed across a gap.
 *
 * Timestamps are offsets from `time` (the input's first timestamp), so
 * absolute clocks beyond 2^53 ns stay exact.
 */
import { ExitChunk, type ChunkPool, DEFAULT_CHUNK_ROWS, F_GPA, F_MSR, F_PORT, F_SIZE, F_UNPAIRED, F_USERSPACE, F_VALUE } from '../model/chunk.js';
import type { Counters } from '../model/counters.js';
import type { Diagnostics } from '../model/errors.js';
import { TimeBase } from '../model/time.js';
import { groupDigits } from '../model/numbers.js';

/** The kvm tracepoints exitscope reads, by kind (also the index of per-kind counts). */
export const EV_NONE = -1, EV_EXIT = 0, EV_ENTRY = 1, EV_PIO = 2, EV_MMIO = 3, EV_MSR = 4, EV_FAST_MMIO = 5, EV_USERSPACE = 6;
export const EVENT_NAMES = ['kvm_exit', 'kvm_entry', 'kvm_pio', 'kvm_mmio', 'kvm_msr', 'kvm_fast_mmio', 'kvm_userspace_exit'] as const;
export type DetailKind = typeof EV_PIO | typeof EV_MMIO | typeof EV_MSR | typeof EV_FAST_MMIO | typeof EV_USERSPACE;

/** Open exits per vcpu thread: row `slot` of an ExitChunk, and what pairing needs beside it. */
class OpenExits {
  n = 0;
  private cap = 64;
  rows = new ExitChunk(64);
  active = new Uint8Array(64);
  lastTs = new Float64Array(64).fill(-Infinity);
  threadVcpu = new Int32Array(64).fill(-1);
  /** Host CPU of the open exit, and the last CPU the thread was seen on. */
  exitCpu = new Int32Array(64);
  lastCpu = new Int32Array(64);
  /** The thread's pid (-1 when the trace names none) and its VM (-1 until assigned). */
  pid = new Int32Array(64).fill(-1);
  vm = new Int32Array(64).fill(-1);
  private readonly byKey = new Map<number, number>();

  slot(key: number): number {
    let s = this.byKey.get(key);
    if (s === undefined) {
      s = this.n++;
      if (s >= this.cap) this.grow();
      this.byKey.set(key, s);
    }
    return s;
  }

  find(key: number): number {
    return this.byKey.get(key) ?? -1;
  }

  private grow(): void {
    const cap = this.cap * 2;
    const rows = new ExitChunk(cap);
    for (let s = 0; s < this.cap; s++) rows.copyRow(this.rows, s);
    this.rows = rows;
    const g = <T extends Float64Array | Int32Array | Uint8Array>(a: T, fill: number): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.fill(fill);
      b.set(a);
      return b;
    };
    this.active = g(this.active, 0);
    this.lastTs = g(this.lastTs, -Infinity);
    this.threadVcpu = g(this.threadVcpu, -1);
    this.exitCpu = g(this.exitCpu, -1);
    this.lastCpu = g(this.lastCpu, -1);
    this.pid = g(this.pid, -1);
    this.vm = g(this.vm, -1);
    this.cap = cap;
  }
}

/** Where a detail record's fields go: set by the reader before calling `detail()`. */
export const detailFields = { flags: 0, dir: 0, port: 0, size: 0, valHi: 0, valLo: 0, gpaHi: 0, gpaLo: 0, msr: 0 };

export function clearDetail(): typeof detailFields {
  const d = detailFields;
  d.flags = 0; d.dir = 0; d.port = 0; d.size = 0; d.valHi = 0; d.valLo = 0; d.gpaHi = 0; d.gpaLo = 0; d.msr = 0;
  return d;
}

export class ExitAssembler {
  readonly time = new TimeBase();
  /** Completed chunks; readers hand them on between input batches (`drain`). */
  private readonly ready: ExitChunk[] = [];
  private chunk: ExitChunk;
  private readonly open = new OpenExits();
  /** Host CPU -> slot of the exit last opened there (detail records without pid or vcpu). */
  private readonly cpuSlot = new Map<number, number>();
  private syntheticVcpus = 0;
  /** Records seen per kind (EV_*). */
  readonly seen = new Float64Array(EVENT_NAMES.length);

  /** Thread group (QEMU process) per pid, where the trace gives it. */
  private readonly tgidOf = new Map<number, number>();
  /** VMs told apart without a tgid: their vcpu numbers and thread pids. */
  private readonly guessed: Array<{ vcpus: Set<number>; lo: number; hi: number }> = [];

  /**
   * `vms` (optional) receives a label per VM id the rows carry, e.g.
   * `qemu pid 7280` or `guest 2 (threads 9100-9101)`.
   */
  constructor(private readonly counters: Counters, private readonly diag: Diagnostics, private readonly chunkRows = DEFAULT_CHUNK_ROWS, private readonly vms?: Map<number, string>, private readonly pool?: ChunkPool) {
    this.chunk = this.fresh();
  }

  /** An empty output chunk (a released one when the consumer hands them back). */
  private fresh(): ExitChunk {
    return this.pool ? this.pool.take(this.chunkRows) : new ExitChunk(this.chunkRows);
  }

  /** The thread group (QEMU process id) of a thread: VMs are then told apart exactly. */
  setTgid(pid: number, tgid: number): void {
    if (pid >= 0 && tgid > 0) this.tgidOf.set(pid, tgid);
  }

  /**
   * The VM of thread slot s. With a tgid, the QEMU process. Without one
   * (`CPU n/KVM` threads only), a thread joins the VM that does not have its
   * vcpu number yet, the nearest by pid (QEMU creates a guest's vcpu threads
   * one after another); when every VM has that vcpu number, it starts a new
   * one. One guest is never split; two guests with the same vcpu numbers are
   * told apart when their threads show both.
   */
  private vmOf(s: number, vcpu: number): number {
    const O = this.open;
    if (O.vm[s] >= 0) return O.vm[s];
    const pid = O.pid[s];
    const tgid = pid >= 0 ? this.tgidOf.get(pid) : undefined;
    let vm: number;
    if (tgid !== undefined) {
      vm = tgid;
      this.vms?.set(vm, `qemu pid ${tgid}`);
    } else if (vcpu < 0 || pid < 0) {
      return 0;
    } else {
      let best = -1, dist = Infinity;
      this.guessed.forEach((g, k) => {
        if (g.vcpus.has(vcpu)) return;
        const d = pid < g.lo ? g.lo - pid : pid > g.hi ? pid - g.hi : 0;
        if (d < dist) { dist = d; best = k; }
      });
      if (best < 0) { this.guessed.push({ vcpus: new Set(), lo: pid, hi: pid }); best = this.guessed.length - 1; }
      const g = this.guessed[best];
      g.vcpus.add(vcpu); g.lo = Math.min(g.lo, pid); g.hi = Math.max(g.hi, pid);
      vm = best;
      if (this.guessed.length > 1) for (let k = 0; k < this.guessed.length; k++) this.vms?.set(k, `guest ${k} (threads ${this.guessed[k].lo}-${this.guessed[k].hi})`);
    }
    O.vm[s] = vm;
    return vm;
  }

  private threadKey(pid: number, vcpu: number, cpu: number): number {
    return pid >= 0 ? pid : vcpu >= 0 ? -1 - vcpu : -1_000_000 - Math.max(cpu, 0);
  }

  private emit(s: number, dur: number): void {
    const O = this.open;
    const R = O.rows;
    let v = R.vcpu[s] >= 0 ? R.vcpu[s] : O.threadVcpu[s];
    if (v < 0) {
      v = 1000 + s;
      if (this.syntheticVcpus++ === 0) this.diag.note('some exits came from threads whose vcpu number the trace never names: numbered 1000+');
    }
    const c = this.chunk;
    const i = c.copyRow(R, s);
    c.vcpu[i] = v;
    c.vm[i] = v < 1000 ? this.vmOf(s, v) : this.vmOf(s, -1);
    c.dur[i] = dur;
    if (dur !== dur) { c.flags[i] |= F_UNPAIRED; this.counters.unpairedExits++; }
    O.active[s] = 0;
    if (c.full) {
      c.tsBaseNs = this.time.baseNs;
      this.ready.push(c);
      this.chunk = this.fresh();
    }
  }

  /** Slot for an entry or detail record: by thread, else the host CPU's open exit. */
  private slotFor(pid: number, vcpu: number, cpu: number): number {
    const O = this.open;
    let s = O.find(this.threadKey(pid, vcpu, cpu));
    if ((s < 0 || !O.active[s]) && pid < 0) {
      const c = this.cpuSlot.get(cpu);
      if (c !== undefined && O.active[c]) s = c;
    }
    return s;
  }

  exit(ts: number, cpu: number, pid: number, vcpu: number, reason: number, ripHi: number, ripLo: number, flags: number): void {
    const O = this.open;
    this.seen[EV_EXIT]++;
    const s = O.slot(this.threadKey(pid, vcpu, cpu));
    O.pid[s] = pid;
    if (ts < O.lastTs[s]) this.counters.timeWentBackwards++;
    if (O.active[s]) this.emit(s, NaN);
    O.lastTs[s] = ts;
    O.active[s] = 1;
    const R = O.rows;
    R.ts[s] = ts; R.vcpu[s] = vcpu; R.reason[s] = reason; R.ripHi[s] = ripHi; R.ripLo[s] = ripLo; R.dur[s] = NaN;
    R.flags[s] = flags; R.dir[s] = 0; R.port[s] = 0; R.size[s] = 0;
    R.valHi[s] = 0; R.valLo[s] = 0; R.gpaHi[s] = 0; R.gpaLo[s] = 0; R.msr[s] = 0; R.callerHi[s] = 0; R.callerLo[s] = 0;
    O.exitCpu[s] = cpu;
    O.lastCpu[s] = cpu;
    if (vcpu >= 0) O.threadVcpu[s] = vcpu;
    this.cpuSlot.set(cpu, s);
  }

  entry(ts: number, cpu: number, pid: number, vcpu: number): void {
    const O = this.open;
    this.seen[EV_ENTRY]++;
    let s = this.slotFor(pid, vcpu, cpu);
    if (s < 0) s = O.slot(this.threadKey(pid, vcpu, cpu));
    if (vcpu >= 0) O.threadVcpu[s] = vcpu;
    O.lastCpu[s] = cpu;
    if (!O.active[s]) {
      this.counters.unpairedEntries++;
      if (ts > O.lastTs[s]) O.lastTs[s] = ts;
      return;
    }
    const dur = ts - O.rows.ts[s];
    if (dur < 0) {
      this.counters.timeWentBackwards++;
      this.emit(s, NaN);
      O.lastTs[s] = ts;
      return;
    }
    if (O.rows.vcpu[s] < 0 && vcpu >= 0) O.rows.vcpu[s] = vcpu;
    this.emit(s, dur);
    O.lastTs[s] = ts;
  }

  /**
   * A detail record (kvm_pio, kvm_mmio, kvm_msr, kvm_fast_mmio,
   * kvm_userspace_exit) whose fields the reader put in `detailFields`.
   * Returns false when no exit of its thread is open (counted).
   */
  detail(kind: DetailKind, cpu: number, pid: number): boolean {
    const O = this.open;
    this.seen[kind]++;
    const s = this.slotFor(pid, -1, cpu);
    if (s < 0 || !O.active[s]) { this.counters.orphanDetails++; return false; }
    O.lastCpu[s] = cpu;
    const d = detailFields, R = O.rows, f = d.flags;
    R.flags[s] |= f;
    if (f & F_PORT) R.port[s] = d.port;
    if (f & F_SIZE) R.size[s] = d.size;
    if (d.dir) R.dir[s] = d.dir;
    if (f & F_VALUE) { R.valHi[s] = d.valHi; R.valLo[s] = d.valLo; }
    if (f & F_GPA) { R.gpaHi[s] = d.gpaHi; R.gpaLo[s] = d.gpaLo; }
    if (f & F_MSR) R.msr[s] = d.msr;
    return true;
  }

  /** kvm_userspace_exit: the open exit went on to the userspace device model. */
  userspace(cpu: number, pid: number): boolean {
    clearDetail().flags = F_USERSPACE;
    return this.detail(EV_USERSPACE, cpu, pid);
  }

  /** Closes, unpaired, the open exits of threads that ran on `cpu` (all CPUs when cpu < 0). */
  private resetCpu(cpu: number): void {
    const O = this.open;
    for (let s = 0; s < O.n; s++) {
      if (O.active[s] && (cpu < 0 || O.exitCpu[s] === cpu || O.lastCpu[s] === cpu)) this.emit(s, NaN);
    }
  }

  /** A lost-events marker of one CPU; `n` < 0 when the count is not given. */
  lost(cpu: number, n: number): void {
    this.counters.lostMarkers++;
    if (n > 0) this.counters.lostEvents += n;
    this.resetCpu(cpu);
  }

  /** `##### CPU N buffer started ####`: that CPU's earlier events were overwritten. */
  bufferStarted(cpu: number): void {
    this.counters.bufferStarts++;
    this.resetCpu(cpu);
  }

  /**
   * Notes for the end of input: a trace with kvm detail records but no
   * kvm_exit says so and how to record, instead of an empty table.
   */
  notes(diag: Diagnostics): void {
    const seen = this.seen;
    if (seen[EV_EXIT] > 0) return;
    const details = EVENT_NAMES.map((n, k) => [n, seen[k]] as const).filter(([, n]) => n > 0);
    if (details.length) {
      diag.note(`no kvm_exit events in this trace, only ${details.map(([name, n]) => `${groupDigits(n)} ${name}`).join(', ')}: no exit can be timed or symbolized; record with trace-cmd record -e kvm:kvm_exit -e kvm:kvm_entry -e kvm:kvm_pio -e kvm:kvm_mmio -e kvm:kvm_msr (or perf kvm stat record)`);
    } else {
      diag.note('no kvm_exit/kvm_entry events in this trace (was the kvm tracepoint enabled? record with trace-cmd record -e kvm:kvm_exit -e kvm:kvm_entry)');
    }
  }

  /** Completed chunks so far (the reader yields them); with `partial`, the one being filled too. */
  *drain(partial = false): Generator<ExitChunk> {
    while (this.ready.length) yield this.ready.shift()!;
    if (partial && this.chunk.length) {
      this.chunk.tsBaseNs = this.time.baseNs;
      yield this.chunk;
      this.chunk = this.fresh();
    }
  }

  /** End of input: open exits become unpaired; yields every remaining chunk. */
  *finish(): Generator<ExitChunk> {
    this.resetCpu(-1);
    yield* this.drain();
    this.chunk.tsBaseNs = this.time.baseNs;
    if (this.chunk.length) yield this.chunk;
    this.chunk = new ExitChunk(1);
  }
}
