/**
 * What every pass needs to know about the host, inferred from the trace
 * alone (never from emulator constants), each with how it was inferred:
 *
 * - transition: the hardware VM exit + entry latency. It is not inside any
 *   traced duration (kvm_exit and kvm_entry fire inside KVM), but it is inside
 *   the gap between one exit's entry and the next exit. Between two exits a
 *   few bytes of code apart the guest ran an instruction or two, so the low
 *   end of those gaps is the transition. Nearby RIPs can also be a loop that
 *   came back after long work; an interrupt's arrival followed by its
 *   handler's ack (EOI, PIC poll), or NO_HZ's tick-stop write followed by
 *   the halt, is the other direct reading. With neither,
 *   the low end of all gaps only bounds it from above (inferred: false).
 * - userspaceRoundTrip: what handing an exit to the userspace device model
 *   (QEMU) and back adds to the same access handled in the kernel. It is the
 *   difference between the low ends (5th percentiles) of userspace and
 *   in-kernel accesses of the same kind: port I/O (in-kernel PIC/PIT ports
 *   vs device-model ports), else MMIO (IOAPIC/HPET vs device BARs), else the
 *   cheapest userspace I/O minus the cheapest in-kernel exit (an upper bound:
 *   it also holds the cheapest register's device work).
 * - hypercall: dispatch cost of a VMCALL, from the trace's VMCALL exits if
 *   any; else the median of the cheapest class of exits KVM handles in the
 *   kernel without emulating anything (interrupt window, CPUID, ...): a
 *   hypercall's dispatch is a lookup of the same length.
 */
import { F_GPA, F_MSR, F_PORT, F_USERSPACE, type ExitChunk } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import { formatHex, u64ToBigInt } from '../model/u64.js';
import type { KaslrOption, ResolvedAddress, Symbolizer } from '../symbols/index.js';
import type { ReplayTrace } from './trace.js';
import { gapAfter } from './trace.js';
import { KeyTable } from '../analyze/key-table.js';

export interface Inferred {
  value: number;
  how: string;
  /** False when the trace could not support the inference and a default stands in. */
  inferred: boolean;
}

import { KERNEL_PORTS, LAPIC_EOI, MSR_TSC_DEADLINE, MSR_X2APIC_EOI } from '../symbols/devices.js';

/** Exit classes KVM handles in the kernel without emulating an instruction or an access: the dispatch floor. */
const TRIVIAL = new Set(['INTERRUPT_WINDOW', 'CPUID', 'VMCALL', 'PAUSE_INSTRUCTION', 'NMI_WINDOW', 'TPR_BELOW_THRESHOLD', 'RDTSC', 'RDTSCP', 'XSETBV', 'WBINVD', 'INVD']);

const DM_SHIFT = 32 - 14;
const DM_SIZE = 1 << 14;
const FID_UNKNOWN = -2;

/** The element of rank floor(p * (n - 1)) (as a sort would place it), by quickselect (over a typed copy of an array; a typed array is reordered in place): linear, where sorting a million gaps is not. */
function quantile(xs: number[] | Float64Array, p: number): number {
  const a = xs instanceof Float64Array ? xs : Float64Array.from(xs);
  return kth(a, Math.min(a.length - 1, Math.max(0, Math.floor(p * (a.length - 1)))));
}

/** The element of rank k (0-based) of a (reordered in place), as an ascending sort would place it; undefined for an empty array. */
export function kth(a: Float64Array, k: number): number {
  let lo = 0, hi = a.length - 1;
  while (hi > lo) {
    // Median of three as pivot, Hoare partition.
    const mid = (lo + hi) >>> 1;
    const x = a[lo], y = a[mid], z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k];
}

/** Up to this many values a sample holds every one (its quantiles are exact); past it, every 2nd, then every 4th, ... */
const SAMPLE_CAP = 1 << 20;

/**
 * Durations or gaps kept for one quantile, in a typed array: every value up to
 * SAMPLE_CAP, then a systematic sample (every 2nd, 4th, ... in trace order), so
 * the context costs bounded memory on a trace of any length. `length` counts
 * every value pushed.
 */
class Sample {
  private a = new Float64Array(256);
  private kept = 0;
  private stride = 1;
  length = 0;

  push(x: number): void {
    const at = this.length++;
    if (at % this.stride !== 0) return;
    if (this.kept === this.a.length) {
      if (this.kept >= SAMPLE_CAP) {
        for (let k = 0; k < this.kept >>> 1; k++) this.a[k] = this.a[2 * k];
        this.kept >>>= 1;
        this.stride *= 2;
        if (at % this.stride !== 0) return;
      } else {
        const b = new Float64Array(this.a.length * 2);
        b.set(this.a);
        this.a = b;
      }
    }
    this.a[this.kept++] = x;
  }

  quantile(p: number): number {
    return quantile(this.a.subarray(0, this.kept), p);
  }
}

/**
 * A classification of functions by name, as bits (0..254), memoized per
 * address by the context: passes test every exit against sets of names, and a
 * trace has a few thousand distinct addresses. `of` gets null where no
 * function holds the address (or there is no map).
 */
export class NameClass {
  private static count = 0;
  readonly id = NameClass.count++;
  constructor(readonly of: (name: string | null) => number) {}
}

export interface ContextOptions {
  transitionNs?: number;
  windows?: number;
  kaslr?: KaslrOption;
}

export class ReplayContext {
  readonly transition: Inferred;
  readonly userspaceRoundTrip: Inferred;
  readonly hypercall: Inferred;
  readonly t0: number;
  readonly t1: number;
  readonly windows: number;
  readonly windowNs: number;
  readonly hasCallers: boolean;
  private readonly addrs = new KeyTable(2, 4096);
  private readonly resolved: Array<ResolvedAddress | null | undefined> = [];
  private fids = new Int32Array(4096).fill(FID_UNKNOWN);
  private readonly dmLo = new Int32Array(DM_SIZE);
  private readonly dmHi = new Int32Array(DM_SIZE);
  private readonly dmIdx = new Int32Array(DM_SIZE).fill(-1);
  private readonly classMemo: Uint8Array[] = [];

  // The trace is read here, not kept: estimate lets go of each trace a pass is done with.
  constructor(trace: ReplayTrace, readonly symbols: Symbolizer | null, opts: ContextOptions = {}) {
    let t0 = Infinity, t1 = -Infinity, callers = 0, n = 0;
    const gaps = new Sample();
    // Every gap between consecutive exits of a vcpu holds one exit + entry: a low quantile of all of them (decimated past 2^18) bounds T from above.
    let allGaps = new Float64Array(1 << 18), allN = 0, stride = 1, seen = 0;
    // An interrupt's arrival (or a halt's wake-up) followed by its handler's first exit, the ack (an EOI write, the PIC poll): a handler
    // acks first (ack_APIC_irq at the top of the sysvec handlers, timer_interrupt's PIC poll), so the gap is T and a few instructions.
    const ackGaps = new Sample();
    // Per reason id, what the loop asks of it (tables: the loop visits every exit).
    const R_ARRIVAL = 1, R_HALT = 2, R_APIC = 4, R_HLT_OR_EXT = 8;
    const rbits = new Uint8Array(REASONS.size + 1);
    for (const name of ['EXTERNAL_INTERRUPT', 'PREEMPTION_TIMER', 'HLT']) for (const r of REASONS.matching(name)) rbits[r] |= R_ARRIVAL;
    // So is NO_HZ's tick stop right before a halt: the idle loop writes the clock event, then halts a few dozen instructions later.
    for (const r of REASONS.matching('HLT')) rbits[r] |= R_HALT;
    const userspaceIo = new Sample();
    const userPio = new Sample(), kernPio = new Sample(), userMmio = new Sample(), kernMmio = new Sample();
    const kernelAny = new Sample();
    // Trivially handled classes by canonical name, in the order the trace first shows them.
    const trivial = new Map<string, Sample>();
    const trivialOf: Array<Sample | null | undefined> = [];
    const vmcalls = new Sample();
    const vmcall = REASONS.lookup('VMCALL');
    const canonMemo: string[] = [];
    const canonOf = (id: number): string => (canonMemo[id] ??= REASONS.get(id).canonical);
    for (let r = 0; r < REASONS.size; r++) {
      const canon = canonOf(r);
      if (canon === 'APIC_ACCESS' || canon === 'APIC_WRITE' || canon === 'EOI_INDUCED') rbits[r] |= R_APIC;
      if (canon === 'HLT' || canon === 'EXTERNAL_INTERRUPT') rbits[r] |= R_HLT_OR_EXT;
    }
    let anyUserFlag = false;
    for (const c of trace.vcpus.values()) for (let i = 0; i < c.length; i++) if (c.flags[i] & F_USERSPACE) { anyUserFlag = true; break; }
    for (const c of trace.vcpus.values()) {
      for (let i = 0; i < c.length; i++) {
        n++;
        const d = c.dur[i];
        if (c.ts[i] < t0) t0 = c.ts[i];
        const end = c.ts[i] + (d === d ? d : 0);
        if (end > t1) t1 = end;
        if (c.callerLo[i] || c.callerHi[i]) callers++;
        if (d !== d) continue;
        const reason = c.reason[i];
        const bits = reason < rbits.length ? rbits[reason] : 0;
        if (i + 1 < c.length) {
          const g = gapAfter(c, i);
          if (c.dur[i + 1] === c.dur[i + 1] && seen++ % stride === 0) {
            if (g > 0) allGaps[allN++] = g;
            if (allN >= 1 << 18) {
              for (let k = 0; k < allN >>> 1; k++) allGaps[k] = allGaps[2 * k];
              allN >>>= 1;
              stride *= 2;
            }
          }
          if ((bits & R_ARRIVAL && isAck(c, i + 1)) || (isClockEventWrite(c, i) && rbits[c.reason[i + 1]] & R_HALT)) {
            if (g > 0) ackGaps.push(g);
          }
          if (c.ripHi[i] === c.ripHi[i + 1] && Math.abs(c.ripLo[i + 1] - c.ripLo[i]) <= 64 && c.dur[i + 1] === c.dur[i + 1]) {
            if (g > 0) gaps.push(g);
          }
        }
        if (reason === vmcall) vmcalls.push(d);
        let tv = trivialOf[reason];
        if (tv === undefined) {
          const canon = canonOf(reason);
          tv = null;
          if (TRIVIAL.has(canon)) {
            tv = trivial.get(canon);
            if (!tv) trivial.set(canon, (tv = new Sample()));
          }
          trivialOf[reason] = tv;
        }
        if (tv !== null) tv.push(d);
        const user = isUserspaceIo(c, i, anyUserFlag);
        if (user) userspaceIo.push(d);
        if (c.flags[i] & F_PORT) (user ? userPio : kernPio).push(d);
        else if (c.flags[i] & F_GPA && !(bits & R_APIC)) (user ? userMmio : kernMmio).push(d);
        if (!user && !(bits & R_HLT_OR_EXT)) kernelAny.push(d);
      }
    }
    allGaps = allGaps.subarray(0, allN);
    this.t0 = t0 === Infinity ? 0 : t0;
    this.t1 = t1 === -Infinity ? 0 : t1;
    this.hasCallers = callers > n / 2;
    if (opts.transitionNs !== undefined) this.transition = { value: opts.transitionNs, how: 'given with --transition-ns', inferred: true };
    else {
      // Nearby RIPs can also be a loop that came back after long work (a busy user loop); an arrival followed by its ack is the other
      // direct reading. With neither, the low end of all gaps only bounds T from above (a handler's work may sit in every gap).
      const near = gaps.length >= 20 ? gaps.quantile(0.05) : Infinity;
      const ack = ackGaps.length >= 20 ? ackGaps.quantile(0.05) : Infinity;
      const any = allGaps.length >= 100 ? quantile(allGaps, 0.01) : Infinity;
      const loop = gaps.length >= 20 && near > Math.min(ack, any) ? `; the 5th percentile of ${gaps.length} pairs at nearby RIPs (${Math.round(near)} ns) is a loop that came back, not one instruction` : '';
      if (near <= ack && near <= any && near < Infinity) this.transition = { value: near, how: `5th percentile of the guest gap between ${gaps.length} pairs of consecutive exits at most 64 bytes of code apart (one or two instructions between them: the gap is the hardware exit + entry)`, inferred: true };
      else if (ack < Infinity) this.transition = { value: Math.min(ack, any), how: `5th percentile of the guest gap between ${ackGaps.length} interrupt arrivals (or halt wake-ups) and their handler's ack (an EOI write or the PIC poll, the first thing a handler does), or a tick stop and the halt right after it${loop}`, inferred: true };
      else if (any < Infinity) this.transition = { value: any, how: `upper bound: 1st percentile of the guest gap between ${allGaps.length}${stride > 1 ? ' (sampled)' : ''} consecutive exits of a vcpu; the trace has no back-to-back exits (an arrival and its ack, two exits a few instructions apart) to read the exit + entry alone from, so every gap may hold handler work too${loop} (give --transition-ns)`, inferred: false };
      else this.transition = { value: 1000, how: `assumed 1000 ns: only ${gaps.length} pairs of nearby consecutive exits to infer it from (give --transition-ns)`, inferred: false };
    }
    const src = anyUserFlag ? 'exits that went to userspace (kvm_userspace_exit)' : 'device-model accesses';
    if (userPio.length >= 20 && kernPio.length >= 20) {
      this.userspaceRoundTrip = { value: Math.max(0, userPio.quantile(0.05) - kernPio.quantile(0.05)), how: `5th percentile of ${userPio.length} port I/O ${src} minus that of ${kernPio.length} port accesses KVM emulates in the kernel (PIC, PIT)`, inferred: true };
    } else if (userMmio.length >= 20 && kernMmio.length >= 20) {
      this.userspaceRoundTrip = { value: Math.max(0, userMmio.quantile(0.05) - kernMmio.quantile(0.05)), how: `5th percentile of ${userMmio.length} MMIO ${src} minus that of ${kernMmio.length} MMIO accesses handled in the kernel (IOAPIC, HPET, ioeventfd)`, inferred: true };
    } else if (userspaceIo.length >= 20 && kernelAny.length >= 20) {
      this.userspaceRoundTrip = { value: Math.max(0, userspaceIo.quantile(0.05) - kernelAny.quantile(0.05)), how: `upper bound: 5th percentile of ${userspaceIo.length} ${src} minus that of ${kernelAny.length} exits handled in the kernel (no in-kernel access of the same kind to compare with, so it also holds the cheapest register's device work and decoding)`, inferred: false };
    } else this.userspaceRoundTrip = { value: 0, how: 'no userspace I/O exits to infer it from', inferred: false };
    let floor: { canon: string; median: number; n: number } | null = null;
    for (const [canon, xs] of trivial) {
      if (canon === 'VMCALL' || xs.length < 20) continue;
      const m = xs.quantile(0.5);
      if (!floor || m < floor.median) floor = { canon, median: m, n: xs.length };
    }
    if (vmcalls.length >= 5) this.hypercall = { value: vmcalls.quantile(0.5), how: `median of ${vmcalls.length} VMCALL exits in the trace`, inferred: true };
    else if (floor) this.hypercall = { value: floor.median, how: `no VMCALL exits in the trace: taken as the median of ${floor.n} ${floor.canon} exits, the cheapest class KVM dispatches in the kernel without emulating anything (a hypercall's dispatch is a lookup of the same length)`, inferred: true };
    else this.hypercall = { value: 0, how: 'assumed 0: no VMCALL exits and no trivially handled exits in the trace to measure a hypercall\'s dispatch (savings of merging are biased high by that cost)', inferred: false };
    const span = Math.max(1, this.t1 - this.t0);
    this.windows = Math.max(1, Math.min(opts.windows ?? 40, Math.floor(span / 1e6)));
    this.windowNs = span / this.windows;
    if (symbols && !symbols.empty) {
      // Distinct RIPs with their exit counts (and the reason first seen there) for the slide.
      const seen = new KeyTable(2, 4096);
      let counts = new Float64Array(4096);
      const reasonAt: number[] = [];
      for (const c of trace.vcpus.values()) {
        for (let i = 0; i < c.length; i++) {
          const n0 = seen.size;
          const k = seen.intern2(c.ripHi[i], c.ripLo[i]);
          if (k === n0) {
            reasonAt.push(c.reason[i]);
            if (k >= counts.length) { const b = new Float64Array(counts.length * 2); b.set(counts); counts = b; }
          }
          counts[k]++;
        }
      }
      const rips = reasonAt.map((r, k) => ({ addr: u64ToBigInt(seen.key(k, 0), seen.key(k, 1)), count: counts[k], reason: canonOf(r) }));
      symbols.decideSlide(rips, opts.kaslr ?? 'auto');
    }
  }

  window(ts: number): number {
    return Math.min(this.windows - 1, Math.max(0, Math.floor((ts - this.t0) / this.windowNs)));
  }

  /**
   * A dense index per distinct address (a typed-array hash, with a
   * direct-mapped memo in front: passes look up every exit, often several
   * times). Everything known about an address hangs off its index.
   */
  addrIndex(hi: number, lo: number): number {
    const d = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) >>> DM_SHIFT;
    const x = this.dmIdx[d];
    if (x >= 0 && this.dmLo[d] === (lo | 0) && this.dmHi[d] === (hi | 0)) return x;
    const n = this.addrs.size;
    const k = this.addrs.intern2(hi, lo);
    if (k === n) {
      this.resolved.push(undefined);
      if (k >= this.fids.length) { const f = new Int32Array(this.fids.length * 2).fill(FID_UNKNOWN); f.set(this.fids); this.fids = f; }
    }
    this.dmLo[d] = lo; this.dmHi[d] = hi; this.dmIdx[d] = k;
    return k;
  }

  /** The address of an index. */
  addrOf(k: number): [hi: number, lo: number] {
    return [this.addrs.key(k, 0), this.addrs.key(k, 1)];
  }

  /** The function holding an address (cached), or null. */
  fn(hi: number, lo: number): ResolvedAddress | null {
    if (!this.symbols) return null;
    const k = this.addrIndex(hi, lo);
    let r = this.resolved[k];
    if (r === undefined) r = this.resolved[k] = this.symbols.resolve(u64ToBigInt(hi, lo));
    return r;
  }

  /** The symbol-table id of the function holding an address, -1 when none (stable for the run: the slide is decided). */
  fnId(hi: number, lo: number): number {
    if (!this.symbols) return -1;
    const k = this.addrIndex(hi, lo);
    let f = this.fids[k];
    if (f === FID_UNKNOWN) f = this.fids[k] = this.symbols.functionId(u64ToBigInt(hi, lo));
    return f;
  }

  /** The bits `cls` gives the name of the function holding an address (memoized per address). */
  classOf(hi: number, lo: number, cls: NameClass): number {
    const k = this.addrIndex(hi, lo);
    let m = this.classMemo[cls.id];
    if (m === undefined || k >= m.length) {
      const b = new Uint8Array(Math.max(4096, this.fids.length, k + 1));
      if (m) b.set(m);
      this.classMemo[cls.id] = m = b;
    }
    let v = m[k];
    if (v === 0) m[k] = v = 1 + (cls.of(this.fnName(hi, lo)) & 0xff);
    return v - 1;
  }

  private nameIds = new Int32Array(4096).fill(FID_UNKNOWN);
  private readonly nameIdOf = new Map<string, number>();
  private readonly names: string[] = [];

  /**
   * A number per function name (memoized per address; -1 where no function holds the address): groups by name without
   * comparing strings per exit. Same-named functions (static ones in different files) share it, as their names would.
   */
  nameId(hi: number, lo: number): number {
    const k = this.addrIndex(hi, lo);
    if (k >= this.nameIds.length) { const f = new Int32Array(Math.max(k + 1, this.nameIds.length * 2)).fill(FID_UNKNOWN); f.set(this.nameIds); this.nameIds = f; }
    let id = this.nameIds[k];
    if (id === FID_UNKNOWN) {
      const name = this.fnName(hi, lo);
      if (name === null) id = -1;
      else {
        let known = this.nameIdOf.get(name);
        if (known === undefined) { known = this.names.length; this.nameIdOf.set(name, known); this.names.push(name); }
        id = known;
      }
      this.nameIds[k] = id;
    }
    return id;
  }

  /** The name of a nameId. */
  nameById(id: number): string {
    return this.names[id];
  }

  /** Name of a function id from fnId. */
  fnNameById(id: number): string {
    return this.symbols!.functionById(id).name;
  }

  /** A number per function holding the address, or per address where none does (group keys without strings). */
  groupKey(hi: number, lo: number): number {
    const f = this.fnId(hi, lo);
    return f >= 0 ? f : -1 - this.addrIndex(hi, lo);
  }

  fnName(hi: number, lo: number): string | null {
    return this.fn(hi, lo)?.name ?? null;
  }

  label(hi: number, lo: number): string {
    const r = this.fn(hi, lo);
    const a = u64ToBigInt(hi, lo);
    return r ? `${r.name}+0x${r.offset.toString(16)}` : formatHex(a);
  }

  describe(): string[] {
    return [
      `hardware exit+entry: ${Math.round(this.transition.value)} ns (${this.transition.how})`,
      `userspace round trip of a device-model exit: ${Math.round(this.userspaceRoundTrip.value)} ns (${this.userspaceRoundTrip.how})`,
      `hypercall dispatch: ${Math.round(this.hypercall.value)} ns (${this.hypercall.how})`,
    ];
  }
}

function isClockEventWrite(c: ExitChunk, i: number): boolean {
  return (c.flags[i] & F_MSR) !== 0 && c.msr[i] === MSR_TSC_DEADLINE && c.dir[i] !== 1;
}

/** A handler's ack: an EOI write (x2APIC MSR, xAPIC EOI register) or the PIC's command port. */
function isAck(c: ExitChunk, i: number): boolean {
  if (c.flags[i] & F_MSR) return c.msr[i] === MSR_X2APIC_EOI && c.dir[i] !== 1;
  if (c.flags[i] & F_GPA) return c.gpaHi[i] === 0 && c.gpaLo[i] === LAPIC_EOI;
  if (c.flags[i] & F_PORT) return c.port[i] === 0x20 || c.port[i] === 0xa0;
  return false;
}

export function isUserspaceIo(c: ExitChunk, i: number, useFlag: boolean): boolean {
  if (useFlag) return (c.flags[i] & F_USERSPACE) !== 0 && (c.flags[i] & (F_PORT | F_GPA)) !== 0;
  if (c.flags[i] & F_PORT) return !KERNEL_PORTS.has(c.port[i]);
  if (c.flags[i] & F_GPA) {
    const hi = c.gpaHi[i], lo = c.gpaLo[i];
    // Local APIC and IOAPIC are emulated in the kernel.
    return !(hi === 0 && ((lo >= 0xfee00000 && lo < 0xfef00000) || (lo >= 0xfec00000 && lo < 0xfec01000)));
  }
  return false;
}
