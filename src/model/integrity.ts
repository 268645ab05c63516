/**
 * The invariants of an exit trace, checked in one place (after the Firefox
 * Profiler's assertProfileIntegrity) and run by the tests on every fixture,
 * on emulator output and on every pass's output. Each failure names the chunk,
 * the row and the broken rule.
 */
import { DIR_NONE, DIR_READ, DIR_WRITE, F_CALLER, F_GPA, F_MSR, F_PORT, F_UNPAIRED, F_VALUE, type ExitChunk } from './chunk.js';
import { REASONS } from './reasons.js';

export class TraceIntegrityError extends Error {}

export interface IntegrityOptions {
  /** Rows of one vcpu must not go back in time (true for reader and emulator output, replay traces). */
  vcpuTimeOrder?: boolean;
}

/** Throws TraceIntegrityError on the first broken rule; returns the number of rows checked. */
export function assertTraceIntegrity(chunks: Iterable<ExitChunk>, where = 'trace', opts: IntegrityOptions = {}): number {
  const lastTs = new Map<number, number>();
  let k = 0, rows = 0;
  const fail = (i: number, what: string): never => { throw new TraceIntegrityError(`${where}: chunk ${k} row ${i}: ${what}`); };
  for (const c of chunks) {
    if (c.length > c.capacity) fail(c.length, `length ${c.length} over capacity ${c.capacity}`);
    for (let i = 0; i < c.length; i++) {
      const ts = c.ts[i], d = c.dur[i], f = c.flags[i];
      if (!Number.isFinite(ts)) fail(i, `timestamp ${ts} is not finite`);
      if (d === d && !(d >= 0 && Number.isFinite(d))) fail(i, `duration ${d} is neither >= 0 nor unknown (NaN)`);
      if (f & F_UNPAIRED && d === d) fail(i, 'marked unpaired but has a duration');
      if (c.reason[i] >= REASONS.size) fail(i, `reason id ${c.reason[i]} is not in the reason table`);
      if (c.vcpu[i] < 0) fail(i, `vcpu ${c.vcpu[i]} is negative`);
      const dir = c.dir[i];
      if (dir !== DIR_NONE && dir !== DIR_READ && dir !== DIR_WRITE) fail(i, `dir ${dir} is not none/read/write`);
      if (!(f & F_PORT) && c.port[i] !== 0) fail(i, 'port set without the port flag');
      if (!(f & F_GPA) && (c.gpaHi[i] | c.gpaLo[i]) !== 0) fail(i, 'gpa set without the gpa flag');
      if (!(f & F_MSR) && c.msr[i] !== 0) fail(i, 'msr set without the msr flag');
      if (!(f & F_VALUE) && (c.valHi[i] | c.valLo[i]) !== 0 && !(f & F_PORT || f & F_GPA || f & F_MSR)) fail(i, 'value set on an exit with no port, gpa or msr');
      if (!(f & F_CALLER) && (c.callerHi[i] | c.callerLo[i]) !== 0) fail(i, 'caller set without the caller flag');
      if (dir !== DIR_NONE && !(f & (F_PORT | F_GPA | F_MSR))) fail(i, 'a direction on an exit with no port, gpa or msr');
      if (opts.vcpuTimeOrder) {
        const v = c.vcpu[i];
        const prev = lastTs.get(v);
        if (prev !== undefined && ts + Number(c.tsBaseNs) < prev) fail(i, `vcpu ${v} goes back in time (${ts} after ${prev})`);
        lastTs.set(v, ts + Number(c.tsBaseNs));
      }
    }
    rows += c.length;
    k++;
  }
  return rows;
}
