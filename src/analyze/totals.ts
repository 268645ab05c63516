/**
 * Totals line: exits, exit time, trace span, vcpus. Span is per input (last
 * exit end minus first exit start) summed over inputs, since separate
 * recordings share no clock.
 */
import type { ExitChunk } from '../model/chunk.js';
import type { ExitHandler } from './handler.js';

export interface Totals {
  exits: number;
  /** Sum of known exit durations. */
  timeNs: number;
  /** Exits with a known duration. */
  timed: number;
  spanNs: number;
  vcpus: number;
  vcpuList: number[];
}

export class TotalsHandler implements ExitHandler<Totals> {
  readonly name = 'totals';
  private exits = 0;
  private time = 0;
  private timed = 0;
  private first: number[] = [];
  private last: number[] = [];
  private vcpuBits = new Uint8Array(4096);
  private vcpuOther = new Set<number>();

  reset(): void {
    this.exits = 0; this.time = 0; this.timed = 0;
    this.first = []; this.last = [];
    this.vcpuBits.fill(0); this.vcpuOther.clear();
  }

  handleChunk(c: ExitChunk, sel: Uint32Array, n: number, input: number): void {
    let first = this.first[input] ?? Infinity;
    let last = this.last[input] ?? -Infinity;
    let time = 0, timed = 0;
    for (let k = 0; k < n; k++) {
      const i = sel[k];
      const ts = c.ts[i];
      const d = c.dur[i];
      if (ts < first) first = ts;
      const end = d === d ? ts + d : ts;
      if (end > last) last = end;
      if (d === d) { time += d; timed++; }
      const v = c.vcpu[i];
      if (v < 4096) this.vcpuBits[v] = 1;
      else this.vcpuOther.add(v);
    }
    this.exits += n;
    this.time += time;
    this.timed += timed;
    this.first[input] = first;
    this.last[input] = last;
  }

  finalize(): void {}

  data(): Totals {
    let span = 0;
    for (let k = 0; k < this.first.length; k++) {
      if (this.first[k] !== undefined && Number.isFinite(this.first[k])) span += this.last[k] - this.first[k];
    }
    const vcpuList: number[] = [];
    this.vcpuBits.forEach((b, v) => { if (b) vcpuList.push(v); });
    vcpuList.push(...[...this.vcpuOther].sort((a, b) => a - b));
    return { exits: this.exits, timeNs: this.time, timed: this.timed, spanNs: span, vcpus: vcpuList.length, vcpuList };
  }
}
