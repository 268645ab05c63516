/**
 * Replay traces built row by row in a test (no file, no reader): each row is
 * an exit with the fields a pass reads. Used by the mutation-replay-* tests,
 * whose expected values are worked out by hand from these rows.
 */
import { DIR_NONE, DIR_READ, DIR_WRITE, ExitChunk, ExitTrace, F_CALLER, F_GPA, F_MSR, F_PORT, F_SIZE, F_VALUE, type OptionalColumn } from '../src/model/chunk.js';
import { REASONS } from '../src/model/reasons.js';
import { ReplayContext } from '../src/replay/context.js';
import { ReplayTrace } from '../src/replay/trace.js';
import { symbolizerFromKallsyms, type Symbolizer } from '../src/symbols/index.js';

export interface Row {
  ts: number;
  reason: string;
  vcpu?: number;
  rip?: number;
  /** NaN: unknown (unpaired exit). */
  dur?: number;
  port?: number;
  gpa?: number;
  msr?: number;
  size?: number;
  dir?: 'r' | 'w';
  value?: number;
  caller?: number;
  /** The flags column as given, instead of one bit per optional field given. */
  flags?: number;
}

export const RIP = 0xc0100000;

/** A ReplayTrace of these rows (any order; each vcpu's rows end up sorted by time). */
export function rows(list: Row[]): ReplayTrace {
  const c = new ExitChunk(Math.max(1, list.length));
  const cols = new Set<OptionalColumn>();
  for (const r of list) {
    let flags = 0;
    const hi = (x: number) => Math.floor(x / 4294967296) >>> 0, lo = (x: number) => x >>> 0;
    if (r.port !== undefined) { flags |= F_PORT; cols.add('port'); }
    if (r.gpa !== undefined) { flags |= F_GPA; cols.add('gpa'); }
    if (r.msr !== undefined) { flags |= F_MSR; cols.add('msr'); }
    if (r.size !== undefined) { flags |= F_SIZE; cols.add('size'); }
    if (r.value !== undefined) { flags |= F_VALUE; cols.add('value'); }
    if (r.caller !== undefined) { flags |= F_CALLER; cols.add('caller'); }
    if (r.dir !== undefined) cols.add('dir');
    if (r.flags !== undefined) flags = r.flags;
    const rip = r.rip ?? RIP, gpa = r.gpa ?? 0, val = r.value ?? 0, caller = r.caller ?? 0;
    c.pushRow(r.ts, r.vcpu ?? 0, REASONS.lookup(r.reason), hi(rip), lo(rip), r.dur ?? 1000, flags, r.port ?? 0, r.size ?? 0,
      r.dir === 'r' ? DIR_READ : r.dir === 'w' ? DIR_WRITE : DIR_NONE, hi(val), lo(val), hi(gpa), lo(gpa), r.msr ?? 0, hi(caller), lo(caller));
  }
  const t = new ExitTrace(0n, cols);
  t.chunks.push(c);
  return ReplayTrace.from(t);
}

/** Rows one after another on one vcpu: each starts `gap` ns (10,000 unless said) after the previous one's end (its ts + dur, no dur when unknown). */
export function chain(items: Array<Omit<Row, 'ts'> & { gap?: number }>, start = 1_000_000): Row[] {
  let ts = start;
  return items.map(({ gap, ...r }) => { const row = { ts, ...r }; const d = r.dur ?? 1000; ts += (d === d ? d : 0) + (gap ?? 10_000); return row; });
}

/** A context with the transition given (1,000 ns unless said) and, optionally, a map from `nm` text. */
export function context(t: ReplayTrace, opts: { transitionNs?: number; map?: string } = {}): ReplayContext {
  const symbols: Symbolizer | null = opts.map ? symbolizerFromKallsyms(opts.map, 'test.map') : null;
  return new ReplayContext(t, symbols, { transitionNs: opts.transitionNs ?? 1000 });
}

/** The rows of a trace's vcpu as [ts, reason, dur]. */
export function kept(t: ReplayTrace, vcpu = 0): Array<[number, string, number]> {
  const c = t.vcpus.get(vcpu)!;
  return Array.from({ length: c.length }, (_, i) => [c.ts[i], REASONS.get(c.reason[i]).canonical, c.dur[i]] as [number, string, number]);
}

export const sum = (a: Float64Array): number => a.reduce((s, x) => s + x, 0);

/**
 * A TSC-deadline tick at t (no map needed): the arrival (1,000 ns), 2,000 ns later the deadline write (1,500), 1,500 later
 * the x2APIC EOI (800), 800 later the interrupt window (500). It ends at t + 8,100.
 */
export function tscTick(t: number, vcpu = 0): Row[] {
  return [
    { ts: t, vcpu, reason: 'EXTERNAL_INTERRUPT', dur: 1000 },
    { ts: t + 3000, vcpu, reason: 'MSR_WRITE', msr: 0x6e0, dir: 'w', dur: 1500 },
    { ts: t + 6000, vcpu, reason: 'MSR_WRITE', msr: 0x80b, dir: 'w', dur: 800 },
    { ts: t + 7600, vcpu, reason: 'INTERRUPT_WINDOW', dur: 500 },
  ];
}
/** TSC-deadline ticks at these start times. */
export const ticksAt = (starts: number[], vcpu = 0): Row[] => starts.flatMap((t) => tscTick(t, vcpu));
/** n start times `period` ns apart from 1 ms (or `from`). */
export const every = (n: number, period: number, from = 1_000_000): number[] => Array.from({ length: n }, (_, k) => from + k * period);
