/**
 * One vcpu's timeline. Guest work advances time; a timer tick or device
 * interrupt that falls inside guest work becomes an EXTERNAL_INTERRUPT exit at
 * the RIP the guest was at, followed by its handler's exits; a halted vcpu
 * leaves guest mode in one HLT exit that lasts until its next interrupt.
 * Every exit is written as a row to this vcpu's buffer (no object per exit).
 */
import { ExitChunk, F_CALLER, F_GPA, F_MSR, F_PORT, F_SIZE, F_USERSPACE, F_VALUE } from '../model/chunk.js';
import type { Rng } from '../util/rng.js';
import type { Site } from './sites.js';

/**
 * How a guest goes idle on a vcpu that works (the modern guest; null: HLT at
 * once with the tick running through it, as the 2.6.27 guest's periodic tick).
 */
export interface IdlePolicy {
  /**
   * NO_HZ_IDLE: the idle loop stops the tick when no timer is due within a
   * tick (tick_nohz_idle_stop_tick) and restarts it on its grid when the vcpu
   * leaves idle (tick_nohz_idle_exit): each a clock-event write, made by this.
   */
  nohz: ((v: VcpuSim) => void) | null;
  /** The next timer event of a vcpu that stopped its tick to wait for a device, ns from now. */
  nextTimerNs: () => number;
  /**
   * cpuidle-haltpoll with the haltpoll governor (drivers/cpuidle/governors/haltpoll.c):
   * after a halt, or a poll that was woken, the vcpu polls for up to its
   * poll limit with the tick running; a poll that runs out halts (tick
   * stopped). The limit starts at 0, grows (x grow, at least growStartNs, at
   * most maxNs = guest_halt_poll_ns) after a halt shorter than maxNs but
   * longer than the limit, and shrinks (/ shrink) after a longer halt.
   */
  haltPoll: { maxNs: number; growStartNs: number; grow: number; shrink: number; rip: number; ripHi: number } | null;
}

export interface ExitLedger {
  count: Float64Array;
  time: Float64Array;
}

export class VcpuSim {
  /** ns since the start of the emulation. */
  t = 0;
  /** Time spent running guest code (not in exits). */
  guestNs = 0;
  exits = 0;
  exitNs = 0;
  /** Hardware VM exit/entry time, invisible in traced durations. */
  transitionNs = 0;
  private readonly halfTransition: number;
  /** RIP the guest is executing while it works (where an asynchronous exit lands). */
  curRip = 0x08048000;
  /** High word of curRip (a 64-bit kernel's addresses). */
  curRipHi = 0;
  nextTick = Infinity;
  tickPeriod = Infinity;
  onTick: (v: VcpuSim) => void = () => undefined;
  irqAt = Infinity;
  private irqHandler: ((v: VcpuSim) => void) | null = null;
  /** Rows not yet merged into the output. */
  buf: ExitChunk;
  read = 0;
  ops = 0;
  done = false;
  private inHandler = false;
  /**
   * Device work queued for the device model (coalesced MMIO), returned and
   * cleared when an exit reaches userspace: QEMU drains KVM's coalesced ring
   * every time KVM_RUN returns to it, inside that exit's traced time.
   */
  drain: (() => number) | null = null;
  /** The exit a timer interrupt arrives by while the guest runs (a TSC-deadline guest: the VMX preemption timer), if not EXTERNAL_INTERRUPT. */
  timerArrival: Site | null = null;
  /** Tickless idle (NO_HZ_IDLE): an idle vcpu's next timer event, ns from now, instead of the next tick. */
  idleTimerNs: (() => number) | null = null;
  /**
   * The guest's own random choices on this vcpu (whether a notification is
   * suppressed, whether an interrupt window opens, ...): a stream of its own,
   * so exits an optimization removes (whose jitter draws come from `rng`)
   * never shift them. A baseline and an optimized run of the same work make
   * the same choices.
   */
  readonly decide: Rng;
  /** The workload's random draws on this vcpu (operation lengths, page faults, user RIPs, disk service times): the work itself, the same in both runs. */
  readonly workRng: Rng;
  /** When the guest's own timers fall due on this vcpu (tickless idle), its own stream too. */
  readonly timerRng: Rng;
  /**
   * Posted interrupts (APICv): a device interrupt that finds the vcpu in guest
   * mode is delivered by the posted-interrupt notification without a VM exit.
   * Without them KVM kicks the vcpu out (an external-interrupt exit) to inject
   * it. A timer interrupt still arrives by its own exit (the host timer, or
   * the preemption timer of a TSC-deadline guest).
   */
  postedIrqs = false;
  /** How the guest idles on this vcpu (NO_HZ_IDLE, haltpoll); null: HLT with the tick running. */
  idlePolicy: IdlePolicy | null = null;
  private tickStopped = false;
  private tickGrid = 0;
  private pollLimit = 0;
  private lastPoll = false;
  private pollTimedOut = false;
  /** Idle periods the guest polled through (haltpoll), for tests. */
  polls = 0;

  constructor(
    readonly id: number,
    private readonly rng: Rng,
    private readonly jitter: number,
    private readonly ledger: ExitLedger,
    private readonly extIrq: Site,
    private readonly hlt: Site,
    tsBaseNs: bigint,
    transitionNs: number,
    streams: { decide: Rng; work: Rng; timers: Rng },
  ) {
    this.decide = streams.decide;
    this.workRng = streams.work;
    this.timerRng = streams.timers;
    this.halfTransition = transitionNs / 2;
    this.buf = new ExitChunk(1 << 14, tsBaseNs);
  }

  private row(site: Site, dur: number, value: number, rip = site.rip, ripHi = site.hi ?? 0): void {
    if (this.buf.full) this.compact();
    const c = this.buf;
    // Hardware exit latency before the kvm_exit tracepoint, entry latency after kvm_entry.
    this.t += this.halfTransition;
    this.transitionNs += 2 * this.halfTransition;
    // Trace timestamps are whole ns; the model's clock may carry fractions (the PIT period is 999847.7 ns).
    const i = c.push(Math.round(this.t), this.id, site.reason, ripHi >>> 0, rip >>> 0, dur);
    // A site with no caller (user space, an interrupt arriving in the guest) records none rather than a caller at address 0.
    let f = (site.userspace ? F_USERSPACE : 0) | (site.caller ? F_CALLER : 0);
    c.callerHi[i] = site.caller ? (site.hi ?? 0) >>> 0 : 0;
    c.callerLo[i] = site.caller >>> 0;
    if (site.port >= 0) { f |= F_PORT | F_SIZE | F_VALUE; c.port[i] = site.port; c.size[i] = site.size; c.dir[i] = site.dir; c.valHi[i] = 0; c.valLo[i] = value >>> 0; }
    else if (site.msr !== undefined && site.msr >= 0) { f |= F_MSR | F_VALUE; c.msr[i] = site.msr; c.dir[i] = site.dir; c.valHi[i] = 0; c.valLo[i] = value >>> 0; }
    else if (site.gpa >= 0) { f |= F_GPA | F_SIZE | F_VALUE; c.gpaHi[i] = 0; c.gpaLo[i] = site.gpa >>> 0; c.size[i] = site.size; c.dir[i] = site.dir; c.valHi[i] = 0; c.valLo[i] = value >>> 0; }
    c.flags[i] = f;
    this.exits++;
    this.exitNs += dur;
    this.ledger.count[site.reason]++;
    this.ledger.time[site.reason] += dur;
    this.t += dur + this.halfTransition;
  }

  /** Drops merged rows, keeping the unmerged tail, when the buffer fills. */
  private compact(): void {
    const old = this.buf;
    const keep = old.length - this.read;
    const cap = keep * 2 > old.capacity ? old.capacity * 2 : old.capacity;
    const n = new ExitChunk(cap, old.tsBaseNs);
    for (let j = this.read; j < old.length; j++) n.copyRow(old, j);
    this.buf = n;
    this.read = 0;
  }

  /** One synchronous exit at `site` (+ extra handling), returning its duration. */
  exit(site: Site, value = 0, extraNs = 0): number {
    const queued = site.userspace && this.drain ? this.drain() : 0;
    const d = Math.max(1, Math.round(this.rng.around(site.costNs + extraNs, this.jitter) + queued));
    this.row(site, d, value);
    return d;
  }

  /** An exit at a RIP other than the site's own (asynchronous exits land wherever the guest was). */
  exitAt(site: Site, rip: number, value = 0): number {
    const queued = site.userspace && this.drain ? this.drain() : 0;
    const d = Math.max(1, Math.round(this.rng.around(site.costNs, this.jitter) + queued));
    this.row(site, d, value, rip, this.curRipHi);
    return d;
  }

  /** The guest's random choice on this vcpu (its own stream: see `decide`). */
  chance(p: number): boolean {
    return this.decide.chance(p);
  }

  /**
   * Draws what `n` exits' jitter would have drawn, for exits an optimization
   * removes: the baseline and optimized runs then share their random numbers
   * (common random numbers), so their difference is the optimization's alone.
   */
  skip(n: number): void {
    for (let k = 0; k < 2 * n; k++) this.rng.next();
  }

  /** An exit of a given duration (HLT waits, coalesced batches). */
  exitFor(site: Site, dur: number, value = 0): void {
    this.row(site, Math.max(1, Math.round(dur)), value);
  }

  /** Guest work that no interrupt can split (inside a handler, or with interrupts masked). */
  rawWork(ns: number): void {
    this.t += ns;
    this.guestNs += ns;
  }

  setIrq(at: number, handler: (v: VcpuSim) => void): void {
    this.irqAt = at;
    this.irqHandler = handler;
  }

  private dispatch(): void {
    if (this.inHandler) return;
    this.inHandler = true;
    for (;;) {
      if (this.nextTick <= this.t && this.nextTick <= this.irqAt) {
        // With the tick stopped, the event is another timer of the idle guest; the next one is due later.
        this.nextTick = this.tickStopped ? Infinity : this.nextTick + this.tickPeriod;
        this.onTick(this);
        if (this.tickStopped) this.nextTick = this.t + this.idlePolicy!.nextTimerNs();
      } else if (this.irqAt <= this.t) {
        const h = this.irqHandler!;
        this.irqAt = Infinity;
        this.irqHandler = null;
        h(this);
      } else break;
    }
    this.inHandler = false;
  }

  /** An interrupt due now finds the vcpu in guest mode: its arrival exit (none for a posted device interrupt). */
  private arrive(): void {
    const timer = this.nextTick <= this.irqAt;
    if (!timer && this.postedIrqs) { this.skip(1); return; }
    this.exitAt(timer && this.timerArrival ? this.timerArrival : this.extIrq, this.curRip);
  }

  /** Guest work of `ns`, split by the interrupts that arrive meanwhile. */
  work(ns: number, rip = this.curRip): void {
    this.curRip = rip;
    let remaining = ns;
    while (remaining > 0) {
      const ev = Math.min(this.nextTick, this.irqAt);
      if (this.t + remaining < ev || this.inHandler) {
        this.rawWork(remaining);
        return;
      }
      const run = Math.max(0, ev - this.t);
      this.rawWork(run);
      remaining -= run;
      this.arrive();
      this.dispatch();
      this.curRip = rip;
    }
  }

  /** Halts until time `until` (or forever when Infinity, bounded by `limit`), waking for interrupts. */
  idle(until: number, limit = until): void {
    const stop = Math.min(until, limit);
    if (this.inHandler) {
      // Waiting inside a handler (e.g. a deferred softirq): interrupts are taken after it.
      if (stop > this.t) this.exitFor(this.hlt, stop - this.t);
      return;
    }
    while (this.t < stop) {
      const ev = Math.min(this.nextTick, this.irqAt, stop);
      if (ev > this.t) this.rest(stop);
      if (this.t < ev) this.t = ev;
      this.dispatch();
      if (this.irqAt === Infinity && until !== Infinity && this.t >= until) break;
    }
    this.leaveIdle();
  }

  /** Halts until the pending device interrupt has been handled. */
  waitIrq(): void {
    while (this.irqAt !== Infinity) {
      const ev = Math.min(this.nextTick, this.irqAt);
      if (ev > this.t) this.rest(Infinity);
      if (this.t < ev) this.t = ev;
      this.dispatch();
    }
    this.leaveIdle();
  }

  /**
   * The guest idles until its next event (at most `stop`, a timer of its own):
   * it polls (haltpoll), or stops its tick (NO_HZ_IDLE) and halts. Returns at
   * the event, before its interrupt is dispatched.
   */
  private rest(stop: number): void {
    const p = this.idlePolicy;
    const wake = (): number => Math.min(this.nextTick, this.irqAt, stop);
    if (!p) { this.exitFor(this.hlt, wake() - this.t); return; }
    const hp = p.haltPoll;
    if (hp && this.pollLimit > 0 && !(this.lastPoll && this.pollTimedOut)) {
      // haltpoll_select: after a halt, or after a poll that was woken, poll again; the tick keeps running.
      const ev = wake();
      const rip = this.curRip, ripHi = this.curRipHi;
      this.curRip = hp.rip;
      this.curRipHi = hp.ripHi;
      this.lastPoll = true;
      if (ev - this.t <= this.pollLimit) {
        this.rawWork(ev - this.t);
        this.pollTimedOut = false;
        this.polls++;
        // The event finds the vcpu in guest mode: it arrives as any interrupt does while the guest runs.
        if (ev === this.nextTick || ev === this.irqAt) this.arrive();
        this.curRip = rip;
        this.curRipHi = ripHi;
        return;
      }
      this.rawWork(this.pollLimit);
      this.pollTimedOut = true;
      this.curRip = rip;
      this.curRipHi = ripHi;
    }
    // Halt. NO_HZ_IDLE stops the tick unless a timer of its own is due within a tick.
    if (p.nohz && !this.tickStopped && stop - this.t > this.tickPeriod && this.nextTick < Infinity) {
      this.tickStopped = true;
      this.tickGrid = this.nextTick;
      p.nohz(this);
      this.nextTick = this.t + p.nextTimerNs();
    }
    const start = this.t;
    const ev = wake();
    if (ev > this.t) this.exitFor(this.hlt, ev - this.t);
    this.lastPoll = false;
    if (hp) {
      // adjust_poll_limit(last residency): grow after a halt the poll could have covered, shrink after a long one.
      const block = Math.max(0, ev - start);
      if (block > this.pollLimit && block <= hp.maxNs) this.pollLimit = Math.min(hp.maxNs, Math.max(hp.growStartNs, this.pollLimit * hp.grow));
      else if (block > hp.maxNs) this.pollLimit = hp.shrink ? Math.floor(this.pollLimit / hp.shrink) : 0;
    }
  }

  /** The vcpu leaves idle: a stopped tick restarts on its grid (tick_nohz_idle_exit: hrtimer_forward, one clock-event write). */
  private leaveIdle(): void {
    if (!this.tickStopped) return;
    this.tickStopped = false;
    const g = this.tickGrid, P = this.tickPeriod;
    this.nextTick = g + Math.max(0, Math.ceil((this.t - g) / P)) * P;
    this.idlePolicy!.nohz!(this);
  }
}
