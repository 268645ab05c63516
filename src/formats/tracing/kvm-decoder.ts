/**
 * Binary payloads of the kvm tracepoints, decoded through the event formats a
 * file embeds (field offsets looked up once per file, then plain DataView
 * reads per record), feeding the same ExitAssembler as the text readers. The
 * meaning of each field follows the kernel's print formats
 * (fixtures/tracefs/*.format, arch/x86/kvm/trace.h):
 *   kvm_exit   exit_reason, guest_rip, isa (1 VMX, 2 SVM; absent on old
 *              kernels: VMX), vcpu_id (absent on old kernels). On VMX the
 *              basic reason is the low 16 bits, bit 31 = failed VM entry.
 *   kvm_entry  vcpu_id
 *   kvm_pio    rw (1 write), port, size, count, val (absent on old kernels)
 *   kvm_mmio   type (0 unsatisfied read, 1 read, 2 write), len, gpa, val
 *   kvm_msr    write, ecx, data
 *   kvm_fast_mmio gpa (an ioeventfd doorbell: a write)
 *   kvm_userspace_exit (the exit went on to the VMM)
 * The flags set per detail are the ones the text decoder (kvm-payloads.ts)
 * sets for the same printed line, so text and binary give identical exits.
 */
import { DIR_READ, DIR_WRITE, F_FAILED_ENTRY, F_GPA, F_MSR, F_PORT, F_SIZE, F_VALUE } from '../../model/chunk.js';
import { REASONS } from '../../model/reasons.js';
import { clearDetail, EV_ENTRY, EV_EXIT, EV_FAST_MMIO, EV_MMIO, EV_MSR, EV_PIO, EV_USERSPACE, EVENT_NAMES, type ExitAssembler } from '../exit-assembler.js';
import type { EventFormat, FormatField } from './event-format.js';
import type { EventTable } from './tracing-data.js';

/** Kind of each event id: EV_* for the kvm events read, KIND_OTHER for other known events, KIND_UNKNOWN for ids without a format. */
export const KIND_OTHER = -1;
export const KIND_UNKNOWN = -2;

/** A field's place, or absent (offset -1). */
interface Ref { off: number; size: number }
const NONE: Ref = { off: -1, size: 0 };

function ref(f: FormatField | undefined): Ref {
  return f && f.arrayLen < 0 ? { off: f.offset, size: f.size } : NONE;
}

export class KvmRecordDecoder {
  /** Event id -> kind (ids up to 65535; common_type is a u16). */
  readonly kindById = new Int8Array(65536).fill(KIND_UNKNOWN);
  /** Minimum record length each kind needs (the end of its last field used). */
  private readonly minLen = new Int32Array(EVENT_NAMES.length);
  private exitReason = NONE; private exitRip = NONE; private exitIsa = NONE; private exitVcpu = NONE;
  private entryVcpu = NONE;
  private pioRw = NONE; private pioPort = NONE; private pioSize = NONE; private pioVal = NONE;
  private mmioType = NONE; private mmioLen = NONE; private mmioGpa = NONE; private mmioVal = NONE;
  private msrWrite = NONE; private msrEcx = NONE; private msrData = NONE;
  private fastGpa = NONE;
  private readonly reasonCache = new Map<number, number>();

  constructor(events: EventTable, private readonly asm: ExitAssembler, private readonly le: boolean) {
    for (const f of events.byId.values()) if (f.id >= 0 && f.id < 65536) this.kindById[f.id] = KIND_OTHER;
    const kvm = (name: string): EventFormat | undefined => events.byName.get(`kvm:${name}`) ?? events.byName.get(name);
    EVENT_NAMES.forEach((name, kind) => {
      const f = kvm(name);
      if (!f || f.id < 0 || f.id >= 65536) return;
      this.kindById[f.id] = kind;
      let end = 0;
      for (const x of f.fields) if (!x.common) end = Math.max(end, x.offset + x.size);
      this.minLen[kind] = end;
      const g = (n: string): Ref => ref(f.field(n));
      switch (kind) {
        case EV_EXIT: this.exitReason = g('exit_reason'); this.exitRip = g('guest_rip'); this.exitIsa = g('isa'); this.exitVcpu = g('vcpu_id'); break;
        case EV_ENTRY: this.entryVcpu = g('vcpu_id'); break;
        case EV_PIO: this.pioRw = g('rw'); this.pioPort = g('port'); this.pioSize = g('size'); this.pioVal = g('val'); break;
        case EV_MMIO: this.mmioType = g('type'); this.mmioLen = g('len'); this.mmioGpa = g('gpa'); this.mmioVal = g('val'); break;
        case EV_MSR: this.msrWrite = g('write'); this.msrEcx = g('ecx'); this.msrData = g('data'); break;
        case EV_FAST_MMIO: this.fastGpa = g('gpa'); break;
        default: break;
      }
    });
  }

  private uint(dv: DataView, p: number, r: Ref): number {
    switch (r.size) {
      case 1: return dv.getUint8(p + r.off);
      case 2: return dv.getUint16(p + r.off, this.le);
      case 4: return dv.getUint32(p + r.off, this.le);
      case 8: return this.le ? dv.getUint32(p + r.off, true) : dv.getUint32(p + r.off + 4, false); // low word (callers that need 64 bits use hiOf)
      default: return 0;
    }
  }

  /** High word of an 8-byte field (0 for narrower ones). */
  private hiOf(dv: DataView, p: number, r: Ref): number {
    if (r.size !== 8) return 0;
    return this.le ? dv.getUint32(p + r.off + 4, true) : dv.getUint32(p + r.off, false);
  }

  private lastKey = -1;
  private lastId = -1;

  private reason(isa: number, code: number): number {
    const key = isa * 4294967296 + code;
    if (key === this.lastKey) return this.lastId;
    this.lastKey = key;
    let id = this.reasonCache.get(key);
    if (id === undefined) {
      id = isa === 2 ? REASONS.byNativeCode('svm', code) : REASONS.byNativeCode('vmx', code & 0xffff);
      this.reasonCache.set(key, id);
    }
    this.lastId = id;
    return id;
  }

  /**
   * Decodes the record at dv[p, p+len) of kind `kind` (an EV_*). `ts` gives
   * the exit/entry time offset (called only for those). Returns null when
   * decoded, else why the record was rejected.
   */
  decode(kind: number, dv: DataView, p: number, len: number, ts: () => number, cpu: number, pid: number): string | null {
    if (len < this.minLen[kind]) return `${EVENT_NAMES[kind]} record of ${len} bytes is shorter than its format (${this.minLen[kind]} bytes)`;
    const asm = this.asm;
    switch (kind) {
      case EV_EXIT: {
        if (this.exitReason.off < 0) return 'kvm_exit format has no exit_reason field';
        const code = this.uint(dv, p, this.exitReason);
        const isa = this.exitIsa.off >= 0 ? this.uint(dv, p, this.exitIsa) : 1;
        const flags = isa !== 2 && code & 0x80000000 ? F_FAILED_ENTRY : 0;
        const vcpu = this.exitVcpu.off >= 0 ? this.uint(dv, p, this.exitVcpu) : -1;
        const ripLo = this.exitRip.off >= 0 ? this.uint(dv, p, this.exitRip) : 0;
        const ripHi = this.exitRip.off >= 0 ? this.hiOf(dv, p, this.exitRip) : 0;
        asm.exit(ts(), cpu, pid, vcpu, this.reason(isa, code), ripHi, ripLo, flags);
        return null;
      }
      case EV_ENTRY:
        asm.entry(ts(), cpu, pid, this.entryVcpu.off >= 0 ? this.uint(dv, p, this.entryVcpu) : -1);
        return null;
      case EV_PIO: {
        const d = clearDetail();
        if (this.pioRw.off >= 0) d.dir = this.uint(dv, p, this.pioRw) ? DIR_WRITE : DIR_READ;
        if (this.pioPort.off >= 0) {
          const port = this.uint(dv, p, this.pioPort);
          if (port > 0xffff) return `kvm_pio: port ${port} is out of range`;
          d.port = port; d.flags |= F_PORT;
        }
        if (this.pioSize.off >= 0) { d.size = this.uint(dv, p, this.pioSize); d.flags |= F_SIZE; }
        if (this.pioVal.off >= 0) { d.valLo = this.uint(dv, p, this.pioVal); d.valHi = this.hiOf(dv, p, this.pioVal); d.flags |= F_VALUE; }
        asm.detail(EV_PIO, cpu, pid);
        return null;
      }
      case EV_MMIO: {
        const d = clearDetail();
        if (this.mmioType.off >= 0) { const t = this.uint(dv, p, this.mmioType); d.dir = t === 2 ? DIR_WRITE : t <= 1 ? DIR_READ : 0; }
        if (this.mmioLen.off >= 0) { d.size = this.uint(dv, p, this.mmioLen); d.flags |= F_SIZE; }
        if (this.mmioGpa.off < 0) return 'kvm_mmio format has no gpa field';
        d.gpaLo = this.uint(dv, p, this.mmioGpa); d.gpaHi = this.hiOf(dv, p, this.mmioGpa); d.flags |= F_GPA;
        if (this.mmioVal.off >= 0) { d.valLo = this.uint(dv, p, this.mmioVal); d.valHi = this.hiOf(dv, p, this.mmioVal); d.flags |= F_VALUE; }
        asm.detail(EV_MMIO, cpu, pid);
        return null;
      }
      case EV_MSR: {
        const d = clearDetail();
        if (this.msrEcx.off < 0) return 'kvm_msr format has no ecx field';
        d.dir = this.msrWrite.off >= 0 && this.uint(dv, p, this.msrWrite) ? DIR_WRITE : DIR_READ;
        d.msr = this.uint(dv, p, this.msrEcx); d.flags |= F_MSR;
        if (this.msrData.off >= 0) { d.valLo = this.uint(dv, p, this.msrData); d.valHi = this.hiOf(dv, p, this.msrData); d.flags |= F_VALUE; }
        asm.detail(EV_MSR, cpu, pid);
        return null;
      }
      case EV_FAST_MMIO: {
        const d = clearDetail();
        if (this.fastGpa.off < 0) return 'kvm_fast_mmio format has no gpa field';
        d.gpaLo = this.uint(dv, p, this.fastGpa); d.gpaHi = this.hiOf(dv, p, this.fastGpa); d.flags |= F_GPA;
        d.dir = DIR_WRITE;
        asm.detail(EV_FAST_MMIO, cpu, pid);
        return null;
      }
      case EV_USERSPACE:
        asm.userspace(cpu, pid);
        return null;
      default:
        return null;
    }
  }
}
