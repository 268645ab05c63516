/**
 * Renders exits as `trace-cmd report -t` text (nanosecond timestamps) in the
 * 6.x kvm tracepoint formats of fixtures/tracefs: kvm_exit, the detail event
 * (kvm_pio / kvm_mmio / kvm_msr), kvm_userspace_exit for device-model exits,
 * and kvm_entry at exit + duration. Lines are in time order across vcpus: an
 * entry waits until no earlier exit is left to print. Input chunks must be in
 * exit-time order (the emulator's are). What a real trace cannot carry (the
 * caller column) is dropped; an exit with unknown duration gets no entry.
 *
 * layout 'perf-script' writes the same events as `perf script --ns` prints
 * them (perf's builtin-script.c, fixtures/ftrace/perf-script.txt): the vcpu
 * thread's comm right-aligned in 16 columns, its pid, `[cpu]`, the timestamp
 * and `kvm:`-prefixed event names, and no header lines.
 */
import { DIR_WRITE, F_GPA, F_MSR, F_PORT, F_USERSPACE, F_VALUE, type ExitChunk } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import { ByteWriter } from './byte-writer.js';

export type TextLayout = 'trace-cmd' | 'perf-script';

const Z16 = '0x0000000000000000';
const piece = (s: string): Buffer => Buffer.from(s, 'latin1');

/** The fixed pieces of the lines, event names with the layout's system prefix (`kvm:` in perf script's). */
function pieces(sys: string) {
  const ev = (name: string, rest: string): Buffer => piece(`: ${sys}${name}: ${rest}`);
  return {
    EXIT: ev('kvm_exit', 'vcpu '), REASON: piece(' reason '), RIP: piece(' rip '),
    EXIT_END: piece(` info1 ${Z16} info2 ${Z16} intr_info 0x00000000 error_code 0x00000000 requests ${Z16}\n`),
    PIO_W: ev('kvm_pio', 'pio_write at 0x'), PIO_R: ev('kvm_pio', 'pio_read at 0x'), SIZE: piece(' size '), PIO_END: piece(' count 1 val '),
    MMIO_W: ev('kvm_mmio', 'mmio write len '), MMIO_R: ev('kvm_mmio', 'mmio read len '), GPA: piece(' gpa '), VAL: piece(' val '),
    MSR_W: ev('kvm_msr', 'msr_write '), MSR_R: ev('kvm_msr', 'msr_read '), EQ: piece(' = '),
    USER_IO: ev('kvm_userspace_exit', 'reason KVM_EXIT_IO (2)\n'), USER_MMIO: ev('kvm_userspace_exit', 'reason KVM_EXIT_MMIO (6)\n'),
    USER_HC: ev('kvm_userspace_exit', 'reason KVM_EXIT_HYPERCALL (3)\n'),
    ENTRY: ev('kvm_entry', 'vcpu '), ENTRY_RIP: piece(', rip '), ENTRY_END: piece(' intr_info 0x00000000 error_code 0x00000000\n'),
  };
}
const TRACE_CMD = pieces(''), PERF = pieces('kvm:');
/** Room for any line but a reason name's bytes. */
const LINE = 512;

/** `trace-cmd report -t` (or `perf script --ns`) lines as bytes. */
class TraceCmdEncoder extends ByteWriter {
  private readonly pres: Buffer[] = [];
  private readonly names: Buffer[] = [];

  constructor(private readonly pidBase: number, private readonly cpus: number, private readonly perf: boolean) {
    super();
  }

  /** The comm, pid, CPU (and, for trace-cmd, latency) columns of a vcpu's lines, and the space before the timestamp. */
  pre(vcpu: number): void {
    let b = this.pres[vcpu];
    if (!b) {
      const pid = this.pidBase + vcpu, cpu = String((vcpu * 2 + 1) % this.cpus).padStart(3, '0');
      b = Buffer.from(this.perf ? `${`CPU ${vcpu}/KVM`.padStart(16)} ${String(pid).padStart(5)} [${cpu}] ` : `${`CPU ${vcpu}/KVM-${pid}`.padStart(20)} [${cpu}] d.... `, 'utf8');
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
    // perf script right-aligns the seconds in five columns (%5lu).
    if (this.perf) for (let w = sec < 10 ? 4 : sec < 100 ? 3 : sec < 1000 ? 2 : sec < 10000 ? 1 : 0; w > 0; w--) this.byte(32);
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

export async function* writeTraceCmd(chunks: AsyncIterable<ExitChunk>, opts: { pidBase?: number; cpus?: number; layout?: TextLayout } = {}): AsyncGenerator<string | Buffer> {
  const pidBase = opts.pidBase ?? 4242;
  const cpus = opts.cpus ?? 8;
  const perf = opts.layout === 'perf-script';
  const P = perf ? PERF : TRACE_CMD;
  /** Per vcpu, the time of its pending kvm_entry (NaN: none), and the RIP it enters at. */
  const pendAt: number[] = [];
  const pendHi: number[] = [];
  const pendLo: number[] = [];
  let header = false;
  let baseNum = 0;
  const e = new TraceCmdEncoder(pidBase, cpus, perf);
  for await (const c of chunks) {
    // trace-cmd report heads its output with the file version and the CPU count; perf script prints events only.
    if (!header) { header = true; if (!perf) yield `version = 6\ncpus=${cpus}\n`; }
    baseNum = Number(c.tsBaseNs);
    for (let i = 0; i < c.length; i++) {
      const ts = c.ts[i];
      flushEntries(ts);
      const v = c.vcpu[i];
      const f = c.flags[i];
      const hi = c.ripHi[i], lo = c.ripLo[i];
      e.ensure(LINE);
      e.pre(v); e.stamp(baseNum, ts); e.bytes(P.EXIT); e.int(v); e.bytes(P.REASON); e.reason(c.reason[i]); e.bytes(P.RIP); e.hex(hi, lo); e.bytes(P.EXIT_END);
      const write = c.dir[i] === DIR_WRITE;
      const detail = f & (F_PORT | F_GPA | F_MSR);
      if (detail) {
        e.ensure(LINE);
        e.pre(v); e.stamp(baseNum, ts);
        if (f & F_PORT) { e.bytes(write ? P.PIO_W : P.PIO_R); e.hex(0, c.port[i], true); e.bytes(P.SIZE); e.dec(c.size[i] || 1); e.bytes(P.PIO_END); }
        else if (f & F_GPA) { e.bytes(write ? P.MMIO_W : P.MMIO_R); e.dec(c.size[i] || 4); e.bytes(P.GPA); e.hex(c.gpaHi[i], c.gpaLo[i]); e.bytes(P.VAL); }
        else { e.bytes(write ? P.MSR_W : P.MSR_R); e.hex(0, c.msr[i], true); e.bytes(P.EQ); }
        if (f & F_VALUE) e.hex(c.valHi[i], c.valLo[i]);
        else e.hex(0, 0);
        // (kvm_pio's line ends in a space, as the kernel's format prints it.)
        if (f & F_PORT) e.byte(32);
        e.byte(10);
      }
      if (f & F_USERSPACE) { e.ensure(LINE); e.pre(v); e.stamp(baseNum, ts); e.bytes(f & F_PORT ? P.USER_IO : f & F_GPA ? P.USER_MMIO : P.USER_HC); }
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
      e.pre(best); e.stamp(baseNum, pendAt[best]); e.bytes(P.ENTRY); e.int(best); e.bytes(P.ENTRY_RIP); e.hex(pendHi[best], pendLo[best]); e.bytes(P.ENTRY_END);
      pendAt[best] = NaN;
    }
  }
}
