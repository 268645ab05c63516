/**
 * coalesce-io (paper §3.1.1, Figs. 5-6): successive port I/O instructions of
 * one guest code fragment become one hypercall that makes KVM emulate them
 * one by one from a queue. What a guest change can batch is what its queue
 * can carry: OUT values. A read's value comes back only when the hypercall
 * returns, so by default a read can only END a batch (the code may need its
 * value before the next access: rtl8139 acks what it read from IntrStatus), and
 * a run of reads of one port at one RIP is a polling loop (the ACPI PM timer,
 * status polls) that no batching removes. Only device-model ports count: the
 * PIC and PIT that KVM emulates in the kernel are not a driver's fragment.
 * `reads` is the optimistic variant: reads join batches too (their values
 * assumed unused until the batch ends, as ide_tf_read's read-back), polling
 * loops still excepted.
 *
 * A batch is a run of such exits on one vcpu, from the same guest code (scope),
 * less than `window` ns of guest time apart. The hypercall keeps each
 * instruction's emulation work (its whole traced duration: "the operation
 * after VM Exit is not modified") plus one hypercall dispatch, and pays the
 * hardware exit/entry once instead of n times.
 *
 * scope: `caller` (same calling function: the paper's merged fragments),
 * `function` (same trap function), `address` (same trap RIP). Default: caller
 * when the trace carries callers, else function.
 */
import { z } from 'zod';
import { DIR_READ, DIR_WRITE, F_CALLER, F_GPA, F_PORT, type ExitChunk } from '../../model/chunk.js';
import { REASONS } from '../../model/reasons.js';
import { formatHexU64 } from '../../model/u64.js';
import { KERNEL_PORTS } from '../../symbols/devices.js';
import { NameClass, type ReplayContext } from '../context.js';
import { definePass, kv, num } from '../pass-def.js';
import { gapAfter, type ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type AddressChange, type PassResult, type ReplayPass } from '../types.js';

export interface CoalesceOptions {
  windowNs?: number;
  scope?: 'caller' | 'function' | 'address';
  mmio?: boolean;
  min?: number;
  /** Only runs in these functions (the calling function for scope=caller, else the trap function). */
  functions?: readonly string[];
  /** Optimistic: reads join batches too (polling loops excepted). */
  reads?: boolean;
}

/**
 * The runs of a trace: successive I/O exits of one scope, close together, as [first, last] row pairs per vcpu, and the
 * I/O exits per trap address (by the context's address index) they hold. They do not depend on `in=`, `min` or `reads`,
 * so they are found once per trace, context and rule: `advise` prices an `in=` candidate per hot function on one trace,
 * and each then visits only its own runs and copies the rest in long stretches (each candidate scanned and hashed every
 * I/O exit before: three candidates were a quarter of advise's time on a 1M-exit trace).
 */
interface RunIndex { ctx: ReplayContext; runs: Map<number, Int32Array>; before: Float64Array }
const runIndexes = new WeakMap<ReplayTrace, Map<string, RunIndex>>();

function runIndex(trace: ReplayTrace, ctx: ReplayContext, scope: 'caller' | 'function' | 'address', windowNs: number, mmio: boolean): RunIndex {
  const rule = `${scope} ${windowNs} ${mmio}`;
  let byRule = runIndexes.get(trace);
  const hit = byRule?.get(rule);
  if (hit && hit.ctx === ctx) return hit;
  const isIo = (c: ExitChunk, i: number): boolean =>
    ((c.flags[i] & F_PORT) !== 0 && !KERNEL_PORTS.has(c.port[i])) || (mmio && (c.flags[i] & F_GPA) !== 0 && c.dir[i] === DIR_WRITE);
  // A number per scope: the function (or, where none resolves, the address) of the trap or its caller.
  const scopeKey = (c: ExitChunk, i: number): number => {
    if (scope === 'address') return ctx.addrIndex(c.ripHi[i], c.ripLo[i]);
    if (scope === 'caller') return c.flags[i] & F_CALLER ? ctx.groupKey(c.callerHi[i], c.callerLo[i]) : -1 - ctx.addrIndex(c.callerHi[i], c.callerLo[i]);
    return ctx.groupKey(c.ripHi[i], c.ripLo[i]);
  };
  let before = new Float64Array(1024);
  const runs = new Map<number, Int32Array>();
  for (const [v, c] of trace.vcpus) {
    let pairs = new Int32Array(256), n = 0;
    let i = 0;
    while (i < c.length) {
      if (!isIo(c, i)) { i++; continue; }
      let j = i;
      const k0 = scopeKey(c, i);
      while (j + 1 < c.length && isIo(c, j + 1) && gapAfter(c, j) < windowNs && scopeKey(c, j + 1) === k0) j++;
      if (n + 2 > pairs.length) { const g = new Int32Array(pairs.length * 2); g.set(pairs); pairs = g; }
      pairs[n++] = i; pairs[n++] = j;
      for (let k = i; k <= j; k++) {
        const a = ctx.addrIndex(c.ripHi[k], c.ripLo[k]);
        if (a >= before.length) { const g = new Float64Array(Math.max(a + 1, before.length * 2)); g.set(before); before = g; }
        before[a]++;
      }
      i = j + 1;
    }
    runs.set(v, pairs.subarray(0, n));
  }
  const idx: RunIndex = { ctx, runs, before };
  if (!byRule) runIndexes.set(trace, (byRule = new Map()));
  byRule.set(rule, idx);
  return idx;
}

export class CoalesceIoPass implements ReplayPass {
  readonly name = 'coalesce-io';
  constructor(readonly spec: string, private readonly opts: CoalesceOptions = {}) {}

  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const scope = this.opts.scope ?? (ctx.hasCallers ? 'caller' : 'function');
    const windowNs = this.opts.windowNs ?? ctx.transition.value + 2000;
    const min = this.opts.min ?? 2;
    const reads = this.opts.reads === true;
    const vmcall = REASONS.lookup('VMCALL');
    const H = ctx.hypercall.value;
    // Exits per trap address (by the context's address index) before and after: the runs' I/O exits, less those merged.
    const idx = runIndex(trace, ctx, scope, windowNs, this.opts.mmio === true);
    const before = idx.before, after = Float64Array.from(before);
    const only = this.opts.functions && this.opts.functions.length ? new Set(this.opts.functions) : null;
    // Whether a function is one of `only`, memoized per address by the context.
    const listed = only ? new NameClass((f) => (only.has(f ?? '') ? 1 : 0)) : null;
    const inScope = (c: ExitChunk, i: number): boolean => {
      if (!listed) return true;
      return (scope === 'caller' && c.flags[i] & F_CALLER ? ctx.classOf(c.callerHi[i], c.callerLo[i], listed) : ctx.classOf(c.ripHi[i], c.ripLo[i], listed)) === 1;
    };
    const sameRead = (c: ExitChunk, a: number, b: number): boolean =>
      c.dir[a] === DIR_READ && c.dir[b] === DIR_READ && c.ripLo[a] === c.ripLo[b] && c.ripHi[a] === c.ripHi[b] && c.port[a] === c.port[b] && (c.flags[a] & F_GPA) === (c.flags[b] & F_GPA) && c.gpaLo[a] === c.gpaLo[b] && c.callerLo[a] === c.callerLo[b];
    let batches = 0, polls = 0, readEnds = 0;
    const out = trace.derive((v, c, o) => {
      const emit = (i: number, j: number): void => {
        // One batch [i, j]: merged when long enough, else copied.
        const n = j - i + 1;
        if (n >= min) {
          let work = 0;
          for (let k = i; k <= j; k++) { const d = c.dur[k]; work += d === d ? d : 0; }
          const r = o.push(c.ts[i], c.vcpu[i], vmcall, c.ripHi[i], c.ripLo[i], H + work);
          o.flags[r] = c.flags[i] & F_CALLER;
          o.callerHi[r] = c.callerHi[i];
          o.callerLo[r] = c.callerLo[i];
          for (let k = i; k <= j; k++) after[ctx.addrIndex(c.ripHi[k], c.ripLo[k])]--;
          ledger.removed += n;
          ledger.added += 1;
          batches++;
          if (c.dir[j] === DIR_READ) readEnds++;
        } else o.copyRows(c, i, j + 1);
      };
      // Rows outside the candidate's runs are copied in stretches: [copied, next run in scope).
      let copied = 0;
      const runs = idx.runs.get(v)!;
      for (let r = 0; r < runs.length; r += 2) {
        const i = runs[r], j = runs[r + 1];
        if (!inScope(c, i)) continue;
        if (copied < i) o.copyRows(c, copied, i);
        copied = j + 1;
        // Split the run into batches by the rule.
        let s = i;
        for (let k = i; k <= j; k++) {
          const polling = (k > i && sameRead(c, k - 1, k)) || (k < j && sameRead(c, k, k + 1));
          if (polling) {
            if (s < k) emit(s, k - 1);
            emit(k, k);
            polls++;
            s = k + 1;
            continue;
          }
          if (c.dir[k] === DIR_READ && !reads) { emit(s, k); s = k + 1; }
        }
        if (s <= j) emit(s, j);
      }
      if (copied < c.length) o.copyRows(c, copied, c.length);
    });
    const perAddress: AddressChange[] = [];
    for (let a = 0; a < before.length; a++) {
      if (!(after[a] < before[a])) continue;
      const [hi, lo] = ctx.addrOf(a);
      perAddress.push({ address: formatHexU64(hi, lo), key: ctx.label(hi, lo), before: before[a], after: after[a] });
    }
    perAddress.sort((a, b) => b.before - a.before || (a.address < b.address ? -1 : 1));
    ledger.perAddress = perAddress;
    ledger.assumptions.push(
      reads
        ? 'rule (optimistic, :reads): OUTs and INs of one fragment batch together, their read values assumed unused until the batch ends; a run of reads of one port at one RIP is a polling loop and stays'
        : 'rule: a batch carries OUT values and may end with one IN (its value returned by the hypercall); a read the code needs before its next access cannot be queued, and a run of reads of one port at one RIP is a polling loop that no batching removes (coalesce-io:reads is the optimistic variant)',
      `batches: successive ${this.opts.mmio ? 'device-model port I/O and MMIO-write' : 'device-model port I/O'} exits on one vcpu from the same ${scope === 'caller' ? 'calling function' : scope === 'function' ? 'trap function' : 'trap address'}${only ? ` (only in ${[...only].join(', ')})` : ''}, at most ${Math.round(windowNs)} ns of guest time apart, ${min} or more; in-kernel PIC/PIT ports excluded`,
      `one VMCALL per batch lasting ${Math.round(H)} ns of dispatch plus every merged exit's traced duration (each instruction is still emulated, device model included); the saving is ${Math.round(ctx.transition.value)} ns of hardware exit+entry per merged exit but one, less the dispatch`,
      'the guest code that fills the queue of merged instructions is assumed free',
    );
    ledger.notes.push(`${batches} batches merged${readEnds ? ` (${readEnds} ended by a read)` : ''}${polls ? `; ${polls} polling reads left alone` : ''}`);
    return { trace: out, ledger: closeLedger(ledger, out) };
  }
}

export const coalesceIo = definePass({
  name: 'coalesce-io',
  grammar: 'coalesce-io[:reads][:window=NS][:scope=caller|function|address][:mmio][:min=N][:in=FN,FN]',
  summary: "merge runs of successive I/O instructions into one hypercall (the paper's §3.1.1)",
  schema: z.strictObject({
    pass: z.literal('coalesce-io'),
    windowNs: z.number().positive().optional(),
    scope: z.enum(['caller', 'function', 'address']).optional(),
    mmio: z.boolean().optional(),
    min: z.number().int().min(2).optional(),
    in: z.array(z.string().min(1)).optional(),
    reads: z.boolean().optional().describe('optimistic: reads join batches too (polling loops excepted)'),
  }),
  parse(args) {
    const o = kv(args);
    return { pass: 'coalesce-io', windowNs: num(o.window), scope: o.scope, mmio: o.mmio === true ? true : undefined, min: num(o.min), in: typeof o.in === 'string' ? o.in.split(',') : undefined, reads: o.reads === true ? true : undefined };
  },
  print: (s) => ['coalesce-io', s.reads && 'reads', s.windowNs && `window=${s.windowNs}`, s.scope && `scope=${s.scope}`, s.mmio && 'mmio', s.min && `min=${s.min}`, s.in && `in=${s.in.join(',')}`].filter(Boolean).join(':'),
  estimable: true,
  build: (s, _env, text) => [new CoalesceIoPass(text, { windowNs: s.windowNs, scope: s.scope, mmio: s.mmio, min: s.min, functions: s.in, reads: s.reads })],
});
