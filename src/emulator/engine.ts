/**
 * Runs the vcpus in time slices and merges their exits into one time-ordered
 * stream of chunks. Vcpus do not interact, so a slice is exact: after every
 * vcpu has passed the slice end, no exit earlier than it can still appear.
 * Memory is one slice of exits, whatever the length of the run.
 */
import { z } from 'zod';
import { ExitChunk, DEFAULT_CHUNK_ROWS } from '../model/chunk.js';
import { EmulatorConfigSchema } from './config.js';
import { REASONS } from '../model/reasons.js';
import type { EmulatorConfig } from './config.js';
import { Guest } from './guest.js';
import { ModernGuest } from './modern-guest.js';
import type { HostProfile } from './profile.js';
import { Rng } from '../util/rng.js';
import { VcpuSim, type ExitLedger } from './vcpu.js';
import { makeWorkload, type Phase } from './workloads.js';

/** Host uptime at the start of the run, so timestamps read like a real trace's. */
export const EMULATION_BASE_NS = 1_000_000_000_000n;
const SLICE_NS = 5_000_000;

/** Random streams of a run: one per purpose and vcpu, so removing an exit in one never shifts the draws of another (common random numbers across a baseline and an optimized run). */
export const STREAM = { jitter: 1, decide: 2, work: 3, timers: 4 } as const;
export function streamRng(seed: number, stream: number, vcpu: number): Rng {
  return new Rng((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(stream, 0x85ebca77) ^ Math.imul(vcpu + 1, 0xc2b2ae3d)) >>> 0);
}

const Phase = z.object({ name: z.string(), unit: z.string(), value: z.number(), simulatedNs: z.number(), ops: z.number() });

/** `emulate --summary FILE`: what the run did, the ground truth `validate` compares estimates with. */
export const EmulationSummarySchema = z.object({
  schema: z.literal('exitscope.emulate-summary/v1'),
  config: EmulatorConfigSchema,
  profile: z.string(),
  metric: z.object({ name: z.string(), unit: z.string(), value: z.number() }).describe('The workload\'s headline throughput'),
  phases: z.array(Phase),
  simulatedNs: z.number(),
  guestNs: z.number().describe('Time in guest mode, summed over vcpus'),
  exits: z.number().int(),
  exitNs: z.number().describe('Traced exit time (kvm_exit to kvm_entry), summed'),
  transitionNs: z.number().describe('Hardware VM exit/entry time, not in any traced duration'),
  byReason: z.record(z.string(), z.object({ count: z.number().int(), timeNs: z.number() })),
  tickHz: z.number(),
  pitReloadCount: z.number(),
});
export type EmulationSummary = z.infer<typeof EmulationSummarySchema>;

export class Emulation {
  summary: EmulationSummary | null = null;

  constructor(readonly cfg: EmulatorConfig, readonly profile: HostProfile, readonly kernel: '2.6.27-i386' | '6.1-x86_64' = '2.6.27-i386') {}

  async *chunks(chunkRows = DEFAULT_CHUNK_ROWS): AsyncGenerator<ExitChunk> {
    const { cfg, profile: p } = this;
    const ledger: ExitLedger = { count: new Float64Array(1024), time: new Float64Array(1024) };
    const guest = this.kernel === '6.1-x86_64' ? new ModernGuest(cfg, p) : new Guest(cfg, p);
    const work = makeWorkload(cfg, p, guest);
    const vcpus: VcpuSim[] = [];
    for (let id = 0; id < cfg.vcpus; id++) {
      const v = new VcpuSim(id, streamRng(cfg.seed, STREAM.jitter, id), p.jitter, ledger, guest.s.extIrq, guest.s.hlt, EMULATION_BASE_NS, p.transitionNs, { decide: streamRng(cfg.seed, STREAM.decide, id), work: streamRng(cfg.seed, STREAM.work, id), timers: streamRng(cfg.seed, STREAM.timers, id) });
      v.tickPeriod = guest.tickNs;
      v.postedIrqs = guest.apicv;
      // Ticks of different vcpus are not aligned.
      v.nextTick = guest.tickNs * ((id * 0.37) % 1 + 0.5);
      v.onTick = (vv) => guest.tick(vv);
      v.drain = guest.drainCoalesced;
      guest.setupVcpu(v, work.busy(id));
      vcpus.push(v);
    }
    guest.programPit(vcpus[0]);
    let out = new ExitChunk(chunkRows, EMULATION_BASE_NS);
    const busy = vcpus.filter((v) => work.busy(v.id));
    const idle = vcpus.filter((v) => !work.busy(v.id));
    let finished = false;
    let stopAt = Infinity;
    let sliceEnd = 0;
    while (!finished) {
      sliceEnd += SLICE_NS;
      for (const v of busy) {
        while (v.t < sliceEnd && !v.done) if (!work.step(v)) v.done = true;
      }
      const busyDone = busy.every((v) => v.done);
      if (busyDone && stopAt === Infinity) stopAt = Math.max(...busy.map((v) => v.t));
      const idleLimit = Math.min(sliceEnd, stopAt);
      // Idle vcpus: one HLT per wake-up, ending at the next interrupt (not at the slice).
      for (const v of idle) {
        while (v.t < idleLimit) {
          // A tickless guest stops the tick on an idle vcpu: it sleeps until its next timer is due.
          if (v.idleTimerNs && v.nextTick - v.t <= v.tickPeriod) v.nextTick = v.t + v.idleTimerNs();
          v.idle(Math.min(v.nextTick, v.irqAt), Infinity);
        }
      }
      finished = busyDone && idle.every((v) => v.t >= stopAt);
      const horizon = finished ? Infinity : sliceEnd;
      // Merge rows with ts < horizon from every vcpu, in time order (ties: the lower vcpu first). The vcpu with the earliest
      // row gives a run of rows at once: every one before the next row of any other vcpu (a busy vcpu's run between an idle
      // one's halts is thousands of rows, copied a column at a time).
      for (;;) {
        let best = -1;
        let bestTs = horizon;
        for (let k = 0; k < vcpus.length; k++) {
          const v = vcpus[k];
          if (v.read < v.buf.length && v.buf.ts[v.read] < bestTs) { best = k; bestTs = v.buf.ts[v.read]; }
        }
        if (best < 0) break;
        const v = vcpus[best];
        // Rows of `v` strictly before `limit` come before every other vcpu's next row (an equal one is left to the next
        // round, which breaks the tie by vcpu order).
        let limit = horizon;
        for (let k = 0; k < vcpus.length; k++) {
          const o = vcpus[k];
          if (k !== best && o.read < o.buf.length && o.buf.ts[o.read] < limit) limit = o.buf.ts[o.read];
        }
        const ts = v.buf.ts, end = Math.min(v.buf.length, v.read + (out.capacity - out.length));
        let j = v.read + 1;
        while (j < end && ts[j] < limit) j++;
        out.copyRows(v.buf, v.read, j);
        v.read = j;
        if (out.full) { yield out; out = new ExitChunk(chunkRows, EMULATION_BASE_NS); }
      }
      for (const v of vcpus) if (v.read === v.buf.length) { v.buf.length = 0; v.read = 0; }
    }
    if (out.length) yield out;
    // The run ends when its work does: an idle vcpu's last halt may reach past that (a tickless one sleeps up to 60 ms), and must not
    // stretch the run the benchmark measures.
    const simulatedNs = stopAt < Infinity ? stopAt : Math.max(...vcpus.map((v) => v.t));
    work.finish(simulatedNs);
    const byReason: EmulationSummary['byReason'] = {};
    let exits = 0, exitNs = 0;
    for (let id = 0; id < ledger.count.length; id++) {
      if (!ledger.count[id]) continue;
      byReason[REASONS.get(id).name] = { count: ledger.count[id], timeNs: ledger.time[id] };
      exits += ledger.count[id];
      exitNs += ledger.time[id];
    }
    this.summary = {
      schema: 'exitscope.emulate-summary/v1',
      config: cfg,
      profile: p.name,
      metric: { name: work.metricName, unit: work.unit, value: work.metric() },
      phases: work.phases(),
      simulatedNs,
      guestNs: vcpus.reduce((s, v) => s + v.guestNs, 0),
      exits,
      exitNs,
      transitionNs: vcpus.reduce((s, v) => s + v.transitionNs, 0),
      byReason,
      tickHz: 1e9 / guest.tickNs,
      pitReloadCount: guest.pitCount,
    };
  }
}
