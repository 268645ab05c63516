/**
 * Totals: exits, exit time split into handling and idle (HLT/MWAIT), each
 * vcpu's traced wall time (its first exit to its last entry) and the shares
 * of it spent handling exits and idle, and — with a map — the split of exits
 * and time between guest kernel, guest user space and unresolved addresses.
 * Span is per input (separate recordings share no clock), summed.
 */
import { F_UNPAIRED, type ExitChunk } from '../model/chunk.js';
import type { ExitHandler } from './handler.js';
import { isIdleReason } from './idle.js';
import { KeyTable } from './key-table.js';
import { ADDRESS_ID_BASE, CLASS_USER, type AddressResolver } from './resolver.js';

const DIRECT_VCPUS = 1024;

export interface VcpuTotals {
  input: number;
  vm: number;
  vcpu: number;
  exits: number;
  handlingNs: number;
  idleNs: number;
  /** First exit to last entry of this vcpu. */
  wallNs: number;
}

export interface SplitPart { exits: number; timeNs: number }

export interface Totals {
  exits: number;
  /** Sum of known exit durations. */
  timeNs: number;
  handlingNs: number;
  idleNs: number;
  /** Exits with a known duration. */
  timed: number;
  spanNs: number;
  vcpus: VcpuTotals[];
  /** Where the exits trapped, when a map is given. */
  split: { kernel: SplitPart; user: SplitPart; unresolved: SplitPart } | null;
}

export class TotalsHandler implements ExitHandler<Totals> {
  readonly name = 'totals';
  private exits = 0;
  private handling = 0;
  private idle = 0;
  private timed = 0;
  private first: number[] = [];
  private last: number[] = [];
  private readonly vkey = new Uint32Array(3);
  private vtab = new KeyTable(3, 64);
  private vexits = new Float64Array(64);
  private vhand = new Float64Array(64);
  private vidle = new Float64Array(64);
  private vfirst = new Float64Array(64);
  private vlast = new Float64Array(64);
  private split = new Float64Array(6);

  constructor(private readonly resolver: AddressResolver | null = null) {}

  reset(): void {
    this.exits = 0; this.handling = 0; this.idle = 0; this.timed = 0;
    this.first = []; this.last = [];
    this.vtab = new KeyTable(3, 64);
    this.direct = [];
    this.split.fill(0);
  }

  private direct: Int32Array[] = [];

  private directSlots(input: number): Int32Array {
    return (this.direct[input] ??= new Int32Array(DIRECT_VCPUS).fill(-1));
  }

  private vcpuSlot(input: number, vm: number, vcpu: number): number {
    const k = this.vkey;
    k[0] = input; k[1] = vm >>> 0; k[2] = vcpu;
    const n = this.vtab.size;
    const id = this.vtab.intern(k);
    if (id === n) {
      if (id >= this.vexits.length) {
        const g = (a: Float64Array): Float64Array<ArrayBuffer> => { const b = new Float64Array(a.length * 2); b.set(a); return b; };
        this.vexits = g(this.vexits); this.vhand = g(this.vhand); this.vidle = g(this.vidle); this.vfirst = g(this.vfirst); this.vlast = g(this.vlast);
      }
      this.vexits[id] = 0; this.vhand[id] = 0; this.vidle[id] = 0; this.vfirst[id] = Infinity; this.vlast[id] = -Infinity;
    }
    return id;
  }

  handleChunk(c: ExitChunk, sel: Uint32Array, n: number, input: number): void {
    let first = this.first[input] ?? Infinity;
    let last = this.last[input] ?? -Infinity;
    const r = this.resolver;
    const split = this.split;
    const ids = r ? r.idsOf(c) : null;
    // Slots of vm 0's vcpus of this input by vcpu number: alternating vcpus cost an array read, not a hash.
    const direct = this.directSlots(input);
    let { vexits, vfirst, vlast, vidle, vhand } = this as TotalsHandler;
    let lastV = -1, lastVm = 0, slot = -1;
    let timed = 0, idle = 0, handling = 0;
    let lastReason = -1, lastIdle = false;
    for (let k = 0; k < n; k++) {
      const i = sel[k];
      const ts = c.ts[i];
      const d = c.flags[i] & F_UNPAIRED ? NaN : c.dur[i];
      if (ts < first) first = ts;
      const end = d === d ? ts + d : ts;
      if (end > last) last = end;
      const v = c.vcpu[i], vm = c.vm[i];
      if (v !== lastV || vm !== lastVm) {
        slot = vm === 0 && v < DIRECT_VCPUS ? direct[v] : -1;
        if (slot < 0) {
          slot = this.vcpuSlot(input, vm, v);
          if (vm === 0 && v < DIRECT_VCPUS) direct[v] = slot;
          // A new vcpu may have grown the arrays.
          ({ vexits, vfirst, vlast, vidle, vhand } = this as TotalsHandler);
        }
        lastV = v; lastVm = vm;
      }
      vexits[slot]++;
      if (ts < vfirst[slot]) vfirst[slot] = ts;
      if (end > vlast[slot]) vlast[slot] = end;
      if (d === d) {
        timed++;
        const reason = c.reason[i];
        if (reason !== lastReason) { lastReason = reason; lastIdle = isIdleReason(reason); }
        if (lastIdle) { idle += d; vidle[slot] += d; }
        else { handling += d; vhand[slot] += d; }
      }
      if (ids !== null) {
        const id = ids[i];
        const at = id >= 0 && id < ADDRESS_ID_BASE ? 0 : id === CLASS_USER ? 2 : id < 0 ? 4 : r!.kindOfId(id) === 'user' ? 2 : 4;
        split[at]++;
        if (d === d) split[at + 1] += d;
      }
    }
    this.timed += timed; this.idle += idle; this.handling += handling;
    this.exits += n;
    this.first[input] = first;
    this.last[input] = last;
  }

  finalize(): void {}

  data(): Totals {
    let span = 0;
    for (let k = 0; k < this.first.length; k++) {
      if (this.first[k] !== undefined && Number.isFinite(this.first[k])) span += this.last[k] - this.first[k];
    }
    const vcpus: VcpuTotals[] = [];
    for (let id = 0; id < this.vtab.size; id++) {
      vcpus.push({
        input: this.vtab.key(id, 0), vm: this.vtab.key(id, 1) | 0, vcpu: this.vtab.key(id, 2),
        exits: this.vexits[id], handlingNs: this.vhand[id], idleNs: this.vidle[id], wallNs: Math.max(0, this.vlast[id] - this.vfirst[id]),
      });
    }
    vcpus.sort((a, b) => a.input - b.input || a.vm - b.vm || a.vcpu - b.vcpu);
    const s = this.split;
    return {
      exits: this.exits, timeNs: this.handling + this.idle, handlingNs: this.handling, idleNs: this.idle, timed: this.timed, spanNs: span, vcpus,
      split: this.resolver && this.resolver.symbols && !this.resolver.symbols.empty
        ? { kernel: { exits: s[0], timeNs: s[1] }, user: { exits: s[2], timeNs: s[3] }, unresolved: { exits: s[4], timeNs: s[5] } }
        : null,
    };
  }
}
