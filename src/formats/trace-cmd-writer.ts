/**
 * Renders exits as `trace-cmd report -t` text (nanosecond timestamps) in the
 * 6.x kvm tracepoint formats of fixtures/tracefs: kvm_exit, the detail event
 * (kvm_pio / kvm_mmio / kvm_msr), kvm_userspace_exit for device-model exits,
 * and kvm_entry at exit + duration. Lines are in time order across vcpus: an
 * entry waits until no earlier exit is left to print. Input chunks must be in
 * exit-time order (the emulator's are). What a real trace cannot carry (the
 * caller column) is dropped; an exit with unknown duration gets no entry.
 */
import { DIR_WRITE, F_GPA, F_MSR, F_PORT, F_USERSPACE, F_VALUE, type ExitChunk } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import { ByteWriter } from './byte-writer.js';

const Z16 = '0x0000000000000000';
const piece = (s: string): Buffer => Buffer.from(s, 'latin1');
const P_EXIT = piece(': kvm_exit: vcpu '), P_REASON = piece(' reason '), P_RIP = piece(' rip ');
const P_EXIT_END = piece(` info1 ${Z16} info2 ${Z16} intr_info 0x00000000 error_code 0x00000000 requests ${Z16}\n`);
const P_PIO_W = piece(': kvm_pio: pio_write at 0x'), P_PIO_R = piece(': kvm_pio: pio_read at 0x'), P_SIZE = piece(' size '), P_PIO_END = piece(' count 1 val ');
const P_MMIO_W = piece(': kvm_mmio: mmio write len '), P_MMIO_R = piece(': kvm_mmio: mmio read len '), P_GPA = piece(' gpa '), P_VAL = piece(' val ');
const P_MSR_W = piece(': kvm_msr: msr_write '), P_MSR_R = piece(': kvm_msr: msr_read '), P_EQ = piece(' = ');
const P_USER_IO = piece(': kvm_userspace_exit: reason KVM_EXIT_IO (2)\n'), P_USER_MMIO = piece(': kvm_userspace_exit: reason KVM_EXIT_MMIO (6)\n');
const P_USER_HC = piece(': kvm_userspace_exit: reason KVM_EXIT_HYPERCALL (3)\n');
const P_ENTRY = piece(': kvm_entry: vcpu '), P_ENTRY_RIP = piece(', rip '), P_ENTRY_END = piece(' intr_info 0x00000000 error_code 0x00000000\n');
/** Room for any line but a reason name's bytes. */
const LINE = 512;

/** `trace-cmd report -t` lines as bytes. */
class TraceCmdEncoder extends ByteWriter {
  private readonly pres: Buffer[] = [];
  private readonly names: Buffer[] = [];

  constructor(private readonly pidBase: number, private readonly cpus: number) {
    super();
  }

  /** The comm, CPU and latency columns of a vcpu's lines, and the space before the timestamp. */
  pre(vcpu: number): void {
    let b = this.pres[vcpu];
    if (!b) {
      const comm = `CPU ${vcpu}/KVM-${this.pidBase + vcpu}`;
      b = Buffer.from(`${comm.padStart(20)} [${String((vcpu * 2 + 1) % this.cpus).padStart(3, '0')}] d.... `, 'utf8');
      if (vcpu >= 0) this.pres[vcpu] = b;
    }
    this.bytes(b);
  }

  /** Seconds and nanoseconds of the exit-time offset `off` from the base. */
  stamp(baseNum: number, off: number): void {
    const abs = baseNum + off;
    const sec = Math.floor(abs / 1e9);
    const frac = Math.round(abs - sec * 1e9);
    if (!(sec >= 0 && sec <= Number.MAX_SAFE_INTEGER && frac >= 0 && frac < 2147483648)) { this.text(`${sec}.${String(frac).padStart(9, '0')}`); return; }
    this.dec(sec);
    this.byte(46);
    this.decSmall(frac, 9);
  }

  reason(id: number): void {
    const b = (this.names[id] ??= Buffer.from(REASONS.get(id).name, 'utf8'));
    this.ensure(b.length + LINE);
    this.bytes(b);
  }
}

export async function* writeTraceCmd(chunks: AsyncIterable<ExitChunk>, opts: { pidBase?: number; cpus?: number } = {}): AsyncGenerator<string | Buffer> {
  const pidBase = opts.pidBase ?? 4242;
  const cpus = opts.cpus ?? 8;
  /** Per vcpu, the time of its pending kvm_entry (NaN: none), and the RIP it enters at. */
  const pendAt: number[] = [];
  const pendHi: number[] = [];
  const pendLo: number[] = [];
  let header = false;
  let baseNum = 0;
  const e = new TraceCmdEncoder(pidBase, cpus);
  for await (const c of chunks) {
    if (!header) { header = true; yield `version = 6\ncpus=${cpus}\n`; }
    baseNum = Number(c.tsBaseNs);
    for (let i = 0; i < c.length; i++) {
      const ts = c.ts[i];
      flushEntries(ts);
      const v = c.vcpu[i];
      const f = c.flags[i];
      const hi = c.ripHi[i], lo = c.ripLo[i];
      e.ensure(LINE);
      e.pre(v); e.stamp(baseNum, ts); e.bytes(P_EXIT); e.int(v); e.bytes(P_REASON); e.reason(c.reason[i]); e.bytes(P_RIP); e.hex(hi, lo); e.bytes(P_EXIT_END);
      const write = c.dir[i] === DIR_WRITE;
      const detail = f & (F_PORT | F_GPA | F_MSR);
      if (detail) {
        e.ensure(LINE);
        e.pre(v); e.stamp(baseNum, ts);
        if (f & F_PORT) { e.bytes(write ? P_PIO_W : P_PIO_R); e.hex(0, c.port[i], true); e.bytes(P_SIZE); e.dec(c.size[i] || 1); e.bytes(P_PIO_END); }
        else if (f & F_GPA) { e.bytes(write ? P_MMIO_W : P_MMIO_R); e.dec(c.size[i] || 4); e.bytes(P_GPA); e.hex(c.gpaHi[i], c.gpaLo[i]); e.bytes(P_VAL); }
        else { e.bytes(write ? P_MSR_W : P_MSR_R); e.hex(0, c.msr[i], true); e.bytes(P_EQ); }
        if (f & F_VALUE) e.hex(c.valHi[i], c.valLo[i]);
        else e.hex(0, 0);
        // (kvm_pio's line ends in a space, as the kernel's format prints it.)
        if (f & F_PORT) e.byte(32);
        e.byte(10);
      }
      if (f & F_USERSPACE) { e.ensure(LINE); e.pre(v); e.stamp(baseNum, ts); e.bytes(f & F_PORT ? P_USER_IO : f & F_GPA ? P_USER_MMIO : P_USER_HC); }
      const d = c.dur[i];
      if (d === d) {
        pendAt[v] = ts + d;
        pendHi[v] = hi;
        pendLo[v] = lo;
      }
    }
    const out = e.take();
    if (out.length) yield out;
  }
  // The entries still open at the end.
  flushEntries(Infinity);
  const rest = e.take();
  if (rest.length) yield rest;

  /** Prints the pending entries due by `upTo`, earliest first. */
  function flushEntries(upTo: number): void {
    for (;;) {
      let best = -1;
      for (let v = 0; v < pendAt.length; v++) if (pendAt[v] <= upTo && (best < 0 || pendAt[v] < pendAt[best])) best = v;
      if (best < 0) return;
      e.ensure(LINE);
      e.pre(best); e.stamp(baseNum, pendAt[best]); e.bytes(P_ENTRY); e.int(best); e.bytes(P_ENTRY_RIP); e.hex(pendHi[best], pendLo[best]); e.bytes(P_ENTRY_END);
      pendAt[best] = NaN;
    }
  }
}
