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
import { formatHexU64 } from '../model/u64.js';

const Z16 = '0x0000000000000000';

function stamp(baseNum: number, off: number): string {
  const abs = baseNum + off;
  const sec = Math.floor(abs / 1e9);
  const frac = Math.round(abs - sec * 1e9);
  return `${sec}.${String(frac).padStart(9, '0')}`;
}

export async function* writeTraceCmd(chunks: AsyncIterable<ExitChunk>, opts: { pidBase?: number; cpus?: number } = {}): AsyncGenerator<string> {
  const pidBase = opts.pidBase ?? 4242;
  const cpus = opts.cpus ?? 8;
  /** Per vcpu, the time of its pending kvm_entry (NaN: none). */
  const pendAt: number[] = [];
  const pendRip: string[] = [];
  let header = false;
  let baseNum = 0;
  const prefix = (vcpu: number): string => {
    const comm = `CPU ${vcpu}/KVM-${pidBase + vcpu}`;
    return `${comm.padStart(20)} [${String((vcpu * 2 + 1) % cpus).padStart(3, '0')}] d....`;
  };
  for await (const c of chunks) {
    if (!header) { header = true; yield `version = 6\ncpus=${cpus}\n`; }
    baseNum = Number(c.tsBaseNs);
    const out: string[] = [];
    const flush = (upTo: number): void => flushEntries(upTo, out);
    for (let i = 0; i < c.length; i++) {
      const ts = c.ts[i];
      flush(ts);
      const v = c.vcpu[i];
      const pre = prefix(v);
      const t = stamp(baseNum, ts);
      const rip = formatHexU64(c.ripHi[i], c.ripLo[i]);
      const f = c.flags[i];
      out.push(`${pre} ${t}: kvm_exit: vcpu ${v} reason ${REASONS.get(c.reason[i]).name} rip ${rip} info1 ${Z16} info2 ${Z16} intr_info 0x00000000 error_code 0x00000000 requests ${Z16}`);
      const val = f & F_VALUE ? formatHexU64(c.valHi[i], c.valLo[i]) : '0x0';
      if (f & F_PORT) out.push(`${pre} ${t}: kvm_pio: pio_${c.dir[i] === DIR_WRITE ? 'write' : 'read'} at 0x${c.port[i].toString(16)} size ${c.size[i] || 1} count 1 val ${val} `);
      else if (f & F_GPA) out.push(`${pre} ${t}: kvm_mmio: mmio ${c.dir[i] === DIR_WRITE ? 'write' : 'read'} len ${c.size[i] || 4} gpa ${formatHexU64(c.gpaHi[i], c.gpaLo[i])} val ${val}`);
      else if (f & F_MSR) out.push(`${pre} ${t}: kvm_msr: msr_${c.dir[i] === DIR_WRITE ? 'write' : 'read'} ${c.msr[i].toString(16)} = ${val}`);
      if (f & F_USERSPACE) out.push(`${pre} ${t}: kvm_userspace_exit: reason ${f & F_PORT ? 'KVM_EXIT_IO (2)' : f & F_GPA ? 'KVM_EXIT_MMIO (6)' : 'KVM_EXIT_HYPERCALL (3)'}`);
      const d = c.dur[i];
      if (d === d) {
        pendAt[v] = ts + d;
        pendRip[v] = rip;
      }
    }
    if (out.length) yield out.join('\n') + '\n';
  }
  // The entries still open at the end.
  const rest: string[] = [];
  flushEntries(Infinity, rest);
  if (rest.length) yield rest.join('\n') + '\n';

  /** Prints the pending entries due by `upTo`, earliest first. */
  function flushEntries(upTo: number, out: string[]): void {
    for (;;) {
      let best = -1;
      for (let v = 0; v < pendAt.length; v++) if (pendAt[v] <= upTo && (best < 0 || pendAt[v] < pendAt[best])) best = v;
      if (best < 0) return;
      out.push(`${prefix(best)} ${stamp(baseNum, pendAt[best])}: kvm_entry: vcpu ${best}, rip ${pendRip[best]} intr_info 0x00000000 error_code 0x00000000`);
      pendAt[best] = NaN;
    }
  }
}
