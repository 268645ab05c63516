/**
 * Workloads: what the guest does between exits, and the metric a benchmark
 * would report for it.
 * - disk: bonnie++ sequential block write then read, over a block-size sweep
 *   (Figs. 1-2): write() copies into the page cache; full requests go to the
 *   disk while the guest keeps writing (CPU and device overlap); reads come
 *   from the cache or from synchronous readahead.
 * - net: netperf. *_STREAM: the remote host streams to the guest at wire rate
 *   and the guest takes an interrupt per batch of packets (TCP acks every
 *   second packet); *_RR: one request out, one reply in, per transaction.
 * - jbb: SPECjbb-like CPU-bound transactions on every vcpu, with the guest
 *   page faults and context switches that exit under shadow paging.
 */
import type { EmulatorConfig } from './config.js';
import type { Guest } from './guest.js';
import type { HostProfile } from './profile.js';
import type { VcpuSim } from './vcpu.js';

export interface Phase {
  name: string;
  unit: string;
  value: number;
  simulatedNs: number;
  ops: number;
}

export interface Workload {
  readonly metricName: string;
  readonly unit: string;
  /** Vcpus that run the workload; the others idle. */
  readonly busy: (vcpu: number) => boolean;
  /** One operation on vcpu v; returns false when the workload is finished. */
  step(v: VcpuSim): boolean;
  phases(): Phase[];
  /** The headline metric (mean over phases for disk). */
  metric(): number;
  /** Called once with the simulated time when the run ends. */
  finish(simulatedNs: number): void;
}

export function makeWorkload(cfg: EmulatorConfig, p: HostProfile, g: Guest): Workload {
  switch (cfg.workload) {
    case 'disk': return new DiskWorkload(cfg, p, g);
    case 'net': return new NetWorkload(cfg, p, g);
    case 'jbb': return new JbbWorkload(cfg, p, g);
  }
}

const MB = 1e6;

class DiskWorkload implements Workload {
  readonly metricName = 'throughput';
  readonly unit = 'MB/s';
  readonly busy = (vcpu: number): boolean => vcpu === 0;
  private readonly plan: Array<{ kb: number; op: 'write' | 'read' }> = [];
  private phase = 0;
  private phaseStart = 0;
  private phaseEnd: number;
  private phaseOps = 0;
  private bytes = 0;
  private dirtyKB = 0;
  private availKB = 0;
  private inflight = false;
  private hitCredit = 0;
  private readonly results: Phase[] = [];
  private readonly perPhaseNs: number;
  private readonly perPhaseOps: number;

  constructor(private readonly cfg: EmulatorConfig, private readonly p: HostProfile, private readonly g: Guest) {
    for (const kb of cfg.blockKB) {
      if (cfg.diskTest !== 'read') this.plan.push({ kb, op: 'write' });
      if (cfg.diskTest !== 'write') this.plan.push({ kb, op: 'read' });
    }
    this.perPhaseNs = (cfg.duration * 1e9) / this.plan.length;
    this.perPhaseOps = cfg.ops ? Math.max(1, Math.floor(cfg.ops / this.plan.length)) : Infinity;
    this.phaseEnd = this.perPhaseNs;
  }

  /** A request's service time: positioning (it varies: a real disk is not periodic) plus transfer. */
  private serviceNs(v: VcpuSim, kb: number): number {
    return v.workRng.around(this.p.disk.serviceNs, this.p.disk.serviceJitter) + ((kb * 1024) / (this.p.disk.bandwidthMBs * MB)) * 1e9;
  }

  private request(v: VcpuSim, write: boolean): void {
    if (this.inflight) v.waitIrq();
    const gp = this.p.guest;
    if (this.cfg.iosched === 'cfq') {
      v.work(gp.cfqPerRequestNs, 0xc0452010);
      // CFQ's idle window: the guest waits for more I/O from the same process before dispatching.
      v.idle(v.t + gp.cfqIdleNs);
    }
    v.work(gp.requestCpuNs, 0xc0450020);
    this.g.submitDisk(v);
    this.inflight = true;
    const kb = this.p.disk.requestKB;
    v.setIrq(v.t + this.serviceNs(v, kb), (vv) => {
      this.g.completeDisk(vv);
      this.inflight = false;
    });
    if (!write) v.waitIrq();
  }

  step(v: VcpuSim): boolean {
    if (this.phase >= this.plan.length) return false;
    const { kb, op } = this.plan[this.phase];
    const gp = this.p.guest;
    v.work(gp.syscallNs + kb * gp.blockCpuNsPerKB, op === 'write' ? 0xc04e0310 : 0xc04e0210);
    if (op === 'write') {
      this.dirtyKB += kb;
      while (this.dirtyKB >= this.p.disk.requestKB) {
        this.dirtyKB -= this.p.disk.requestKB;
        this.request(v, true);
      }
    } else {
      while (this.availKB < kb) {
        // A fixed share of readahead windows is already in the page cache (spread evenly, not drawn).
        this.hitCredit += this.p.disk.readCacheHit;
        if (this.hitCredit >= 1) this.hitCredit -= 1;
        else this.request(v, false);
        this.availKB += this.p.disk.requestKB;
      }
      this.availKB -= kb;
    }
    this.bytes += kb * 1024;
    this.phaseOps++;
    v.ops++;
    if (v.t - this.phaseStart >= this.phaseEnd - this.phaseStart || this.phaseOps >= this.perPhaseOps) {
      if (op === 'write' && this.inflight) v.waitIrq();
      const ns = v.t - this.phaseStart;
      this.results.push({ name: `${op} ${kb}K`, unit: this.unit, value: this.bytes / MB / (ns / 1e9), simulatedNs: ns, ops: this.phaseOps });
      this.phase++;
      this.phaseStart = v.t;
      this.phaseEnd = v.t + this.perPhaseNs;
      this.bytes = 0;
      this.phaseOps = 0;
      this.dirtyKB = 0;
      this.availKB = 0;
    }
    return this.phase < this.plan.length;
  }

  phases(): Phase[] {
    return this.results;
  }

  finish(): void {}

  metric(): number {
    return this.results.length ? this.results.reduce((s, r) => s + r.value, 0) / this.results.length : 0;
  }
}

class NetWorkload implements Workload {
  readonly metricName: string;
  readonly unit: string;
  readonly busy = (vcpu: number): boolean => vcpu === 0;
  private readonly rr: boolean;
  private readonly tcp: boolean;
  private wireReady = 0;
  private packets = 0;
  private transactions = 0;
  private txUnacked = 0;
  private readonly end: number;
  private readonly maxOps: number;
  private readonly wirePacketNs: number;

  constructor(private readonly cfg: EmulatorConfig, private readonly p: HostProfile, private readonly g: Guest) {
    this.rr = cfg.netTest.endsWith('_RR');
    this.tcp = cfg.netTest.startsWith('TCP');
    this.metricName = this.rr ? 'transaction rate' : 'throughput';
    this.unit = this.rr ? 'trans/s' : 'Mb/s';
    this.end = cfg.duration * 1e9;
    this.maxOps = cfg.ops ?? Infinity;
    this.wirePacketNs = ((p.net.mtuBytes + 38) * 8 * 1e3) / p.net.wireMbps;
  }

  step(v: VcpuSim): boolean {
    const gp = this.p.guest;
    if (this.rr) {
      v.work(gp.netTxCpuNs * (this.tcp ? 1.3 : 1), 0x0804a000 + ((v.workRng.next() * 0x4000) & ~3));
      this.g.transmit(v);
      v.setIrq(v.t + this.p.net.rttNs, (vv) => this.g.nicInterrupt(vv, 1, 1));
      v.waitIrq();
      v.work(gp.syscallNs, 0x0804a100);
      this.transactions++;
    } else {
      // A batch of packets arrives at wire rate, or at once if the guest is the bottleneck.
      // (Batches are fixed: packets arriving while a NAPI poll is pending do not join it.
      // Letting them join made NAPI nearly free on streams, against Fig. 9, and broke Table 2.)
      const k = this.p.net.rxCoalesce;
      this.wireReady = Math.max(this.wireReady + k * this.wirePacketNs, v.t);
      const acks = this.tcp ? Math.floor((this.txUnacked + k) / 2) : 0;
      this.txUnacked = this.tcp ? (this.txUnacked + k) % 2 : 0;
      v.setIrq(this.wireReady, (vv) => {
        this.g.nicInterrupt(vv, k, acks);
        for (let a = 0; a < acks; a++) { vv.rawWork(gp.netTxCpuNs * 0.4); this.g.transmit(vv); }
      });
      if (this.wireReady > v.t) v.waitIrq();
      else v.work(1);
      // netserver copies the data out: recv() per batch.
      v.work(gp.syscallNs + (k * this.p.net.mtuBytes * gp.blockCpuNsPerKB) / 1024, 0x0804b000 + ((v.workRng.next() * 0x4000) & ~3));
      this.packets += k;
    }
    v.ops++;
    return v.t < this.end && v.ops < this.maxOps;
  }

  phases(): Phase[] {
    return [{ name: this.cfg.netTest, unit: this.unit, value: this.metric(), simulatedNs: this.elapsed, ops: this.rr ? this.transactions : this.packets }];
  }

  elapsed = 0;

  finish(ns: number): void {
    this.elapsed = ns;
  }

  metric(): number {
    const s = this.elapsed / 1e9;
    if (s <= 0) return 0;
    return this.rr ? this.transactions / s : (this.packets * this.p.net.mtuBytes * 8) / 1e6 / s;
  }
}

class JbbWorkload implements Workload {
  readonly metricName = 'throughput';
  readonly unit = 'bops';
  readonly busy = (): boolean => true;
  private readonly end: number;
  /**
   * Transactions per vcpu: every warehouse thread does its own share of the
   * work (a shared counter let the vcpu stepped first in a time slice take the
   * last transactions, so the run's end moved by up to a slice between two
   * runs of the same work).
   */
  private readonly opsPerVcpu: number;
  private txns = 0;
  elapsed = 0;

  constructor(cfg: EmulatorConfig, private readonly p: HostProfile, private readonly g: Guest) {
    this.end = cfg.duration * 1e9;
    this.opsPerVcpu = cfg.ops ? Math.max(1, Math.ceil(cfg.ops / cfg.vcpus)) : Infinity;
  }

  step(v: VcpuSim): boolean {
    const gp = this.p.guest;
    const op = v.workRng.around(gp.jbbOpNs, 0.3);
    v.work(op, 0x08048000 + ((v.workRng.next() * 0x200000) & ~3));
    const ms = op / 1e6;
    if (v.workRng.chance(gp.pageFaultRate * ms)) {
      v.curRip = 0x08048000 + ((v.workRng.next() * 0x400000) & ~3);
      v.exitAt(this.g.s.userPf, v.curRip);
    }
    if (v.workRng.chance(gp.ctxSwitchRate * ms)) this.g.contextSwitch(v);
    this.txns++;
    v.ops++;
    return v.t < this.end && v.ops < this.opsPerVcpu;
  }

  finish(ns: number): void {
    this.elapsed = ns;
  }

  phases(): Phase[] {
    return [{ name: 'SPECjbb-like', unit: this.unit, value: this.metric(), simulatedNs: this.elapsed, ops: this.txns }];
  }

  metric(): number {
    return this.elapsed > 0 ? this.txns / (this.elapsed / 1e9) : 0;
  }
}
