/**
 * Exit reasons: one interned table for every ISA.
 *
 * Source of the names and codes: the kernel's own `kvm_exit` print format
 * (`/sys/kernel/tracing/events/kvm/kvm_exit/format`, copied in
 * fixtures/tracefs/kvm_exit.format), which expands VMX_EXIT_REASONS
 * (arch/x86/include/uapi/asm/vmx.h) and SVM_EXIT_REASONS (.../svm.h).
 * Old kernels (2.6.2x–3.x, KVM-76 era) printed VMX reasons in lower case from
 * `vmx_exit_reasons_str` (`io_instruction`, `ext_irq`, `apic_access`, ...):
 * those are aliases of the modern names, not different reasons.
 *
 * Every reason keeps its ISA and its native spelling (`IO_INSTRUCTION` on
 * Intel, `io` on AMD: what perf kvm stat shows its users), and belongs to a
 * cross-ISA `canonical` class named after the VMX reason (`io` ->
 * IO_INSTRUCTION), so filters and replay passes work on both vendors.
 */

export type Isa = 'vmx' | 'svm' | 'other';

export interface ExitReason {
  readonly id: number;
  readonly isa: Isa;
  /** Native code (VMX basic exit reason, SVM exit code), or -1 when unknown. */
  readonly code: number;
  /** Native spelling as the kernel prints it. */
  readonly name: string;
  /** Cross-ISA class, VMX spelling. */
  readonly canonical: string;
}

const VMX: ReadonlyArray<[number, string]> = [
  [0, 'EXCEPTION_NMI'], [1, 'EXTERNAL_INTERRUPT'], [2, 'TRIPLE_FAULT'], [3, 'INIT_SIGNAL'],
  [4, 'SIPI_SIGNAL'], [7, 'INTERRUPT_WINDOW'], [8, 'NMI_WINDOW'], [9, 'TASK_SWITCH'],
  [10, 'CPUID'], [12, 'HLT'], [13, 'INVD'], [14, 'INVLPG'], [15, 'RDPMC'], [16, 'RDTSC'],
  [18, 'VMCALL'], [19, 'VMCLEAR'], [20, 'VMLAUNCH'], [21, 'VMPTRLD'], [22, 'VMPTRST'],
  [23, 'VMREAD'], [24, 'VMRESUME'], [25, 'VMWRITE'], [26, 'VMOFF'], [27, 'VMON'],
  [28, 'CR_ACCESS'], [29, 'DR_ACCESS'], [30, 'IO_INSTRUCTION'], [31, 'MSR_READ'],
  [32, 'MSR_WRITE'], [33, 'INVALID_STATE'], [34, 'MSR_LOAD_FAIL'], [36, 'MWAIT_INSTRUCTION'],
  [37, 'MONITOR_TRAP_FLAG'], [39, 'MONITOR_INSTRUCTION'], [40, 'PAUSE_INSTRUCTION'],
  [41, 'MCE_DURING_VMENTRY'], [43, 'TPR_BELOW_THRESHOLD'], [44, 'APIC_ACCESS'],
  [45, 'EOI_INDUCED'], [46, 'GDTR_IDTR'], [47, 'LDTR_TR'], [48, 'EPT_VIOLATION'],
  [49, 'EPT_MISCONFIG'], [50, 'INVEPT'], [51, 'RDTSCP'], [52, 'PREEMPTION_TIMER'],
  [53, 'INVVPID'], [54, 'WBINVD'], [55, 'XSETBV'], [56, 'APIC_WRITE'], [57, 'RDRAND'],
  [58, 'INVPCID'], [59, 'VMFUNC'], [60, 'ENCLS'], [61, 'RDSEED'], [62, 'PML_FULL'],
  [63, 'XSAVES'], [64, 'XRSTORS'], [67, 'UMWAIT'], [68, 'TPAUSE'], [74, 'BUS_LOCK'],
  [75, 'NOTIFY'], [77, 'TDCALL'], [84, 'MSR_READ_IMM'], [85, 'MSR_WRITE_IMM'],
];

/** Old lower-case VMX names (vmx_exit_reasons_str, kernels up to ~3.x). */
const VMX_OLD_ALIASES: Readonly<Record<string, string>> = {
  exception: 'EXCEPTION_NMI', ext_irq: 'EXTERNAL_INTERRUPT', triple_fault: 'TRIPLE_FAULT',
  nmi_window: 'NMI_WINDOW', io_instruction: 'IO_INSTRUCTION', cr_access: 'CR_ACCESS',
  dr_access: 'DR_ACCESS', rdmsr: 'MSR_READ', wrmsr: 'MSR_WRITE',
  interrupt_window: 'INTERRUPT_WINDOW', halt: 'HLT', tpr_below_thres: 'TPR_BELOW_THRESHOLD',
  apic_access: 'APIC_ACCESS', ept_violation: 'EPT_VIOLATION', ept_misconfig: 'EPT_MISCONFIG',
  // Spelled the same as an SVM reason; used for VMX only when the file is known to be VMX.
  cpuid: 'CPUID', invlpg: 'INVLPG', hypercall: 'VMCALL', wbinvd: 'WBINVD',
  task_switch: 'TASK_SWITCH',
};

/** Old names that are also SVM names: ambiguous without knowing the ISA. */
export const AMBIGUOUS_OLD_NAMES: ReadonlySet<string> = new Set([
  'cpuid', 'invlpg', 'hypercall', 'wbinvd', 'task_switch',
]);

const EXC = ['DE', 'DB', '', 'BP', 'OF', 'BR', 'UD', 'NM', 'DF', '', 'TS', 'NP', 'SS', 'GP', 'PF', '', 'MF', 'AC', 'MC', 'XF'];

function svmTable(): Array<[number, string, string]> {
  const t: Array<[number, string, string]> = [];
  const crs = [0, 2, 3, 4, 8];
  for (const n of crs) t.push([n, `read_cr${n}`, 'CR_ACCESS']);
  for (const n of crs) t.push([0x10 + n, `write_cr${n}`, 'CR_ACCESS']);
  for (let n = 0; n < 8; n++) t.push([0x20 + n, `read_dr${n}`, 'DR_ACCESS']);
  for (let n = 0; n < 8; n++) t.push([0x30 + n, `write_dr${n}`, 'DR_ACCESS']);
  EXC.forEach((e, i) => { if (e) t.push([0x40 + i, `${e} excp`, 'EXCEPTION_NMI']); });
  const rest: Array<[number, string, string]> = [
    [0x60, 'interrupt', 'EXTERNAL_INTERRUPT'], [0x61, 'nmi', 'EXCEPTION_NMI'], [0x62, 'smi', 'SMI'],
    [0x63, 'init', 'INIT_SIGNAL'], [0x64, 'vintr', 'INTERRUPT_WINDOW'],
    [0x65, 'cr0_sel_write', 'CR_ACCESS'], [0x66, 'read_idtr', 'GDTR_IDTR'],
    [0x67, 'read_gdtr', 'GDTR_IDTR'], [0x68, 'read_ldtr', 'LDTR_TR'], [0x69, 'read_rt', 'LDTR_TR'],
    [0x6a, 'write_idtr', 'GDTR_IDTR'], [0x6b, 'write_gdtr', 'GDTR_IDTR'],
    [0x6c, 'write_ldtr', 'LDTR_TR'], [0x6d, 'write_rt', 'LDTR_TR'], [0x6e, 'rdtsc', 'RDTSC'],
    [0x6f, 'rdpmc', 'RDPMC'], [0x70, 'pushf', 'PUSHF'], [0x71, 'popf', 'POPF'],
    [0x72, 'cpuid', 'CPUID'], [0x73, 'rsm', 'RSM'], [0x74, 'iret', 'NMI_WINDOW'],
    [0x75, 'swint', 'SWINT'], [0x76, 'invd', 'INVD'], [0x77, 'pause', 'PAUSE_INSTRUCTION'],
    [0x78, 'hlt', 'HLT'], [0x79, 'invlpg', 'INVLPG'], [0x7a, 'invlpga', 'INVLPG'],
    [0x7b, 'io', 'IO_INSTRUCTION'], [0x7c, 'msr', 'MSR'], [0x7d, 'task_switch', 'TASK_SWITCH'],
    [0x7e, 'ferr_freeze', 'FERR_FREEZE'], [0x7f, 'shutdown', 'TRIPLE_FAULT'],
    [0x80, 'vmrun', 'VMLAUNCH'], [0x81, 'hypercall', 'VMCALL'], [0x82, 'vmload', 'VMPTRLD'],
    [0x83, 'vmsave', 'VMPTRST'], [0x84, 'stgi', 'STGI'], [0x85, 'clgi', 'CLGI'],
    [0x86, 'skinit', 'SKINIT'], [0x87, 'rdtscp', 'RDTSCP'], [0x88, 'icebp', 'EXCEPTION_NMI'],
    [0x89, 'wbinvd', 'WBINVD'], [0x8a, 'monitor', 'MONITOR_INSTRUCTION'],
    [0x8b, 'mwait', 'MWAIT_INSTRUCTION'], [0x8d, 'xsetbv', 'XSETBV'],
    [0x8f, 'write_efer_trap', 'MSR_WRITE'], [0x90, 'write_cr0_trap', 'CR_ACCESS'],
    [0x94, 'write_cr4_trap', 'CR_ACCESS'], [0x98, 'write_cr8_trap', 'CR_ACCESS'],
    [0xa2, 'invpcid', 'INVPCID'], [0xa5, 'buslock', 'BUS_LOCK'], [0xa6, 'idle-halt', 'HLT'],
    [0x400, 'npf', 'EPT_VIOLATION'], [0x401, 'avic_incomplete_ipi', 'APIC_WRITE'],
    [0x402, 'avic_unaccelerated_access', 'APIC_ACCESS'], [0x403, 'vmgexit', 'VMGEXIT'],
    // SEV-ES/SNP guest requests through the GHCB (the kernel's kvm_exit format names them).
    [0x80000001, 'vmgexit_mmio_read', 'VMGEXIT'], [0x80000002, 'vmgexit_mmio_write', 'VMGEXIT'],
    [0x80000003, 'vmgexit_nmi_complete', 'VMGEXIT'], [0x80000004, 'vmgexit_ap_hlt_loop', 'VMGEXIT'],
    [0x80000005, 'vmgexit_ap_jump_table', 'VMGEXIT'], [0x80000010, 'vmgexit_page_state_change', 'VMGEXIT'],
    [0x80000011, 'vmgexit_guest_request', 'VMGEXIT'], [0x80000012, 'vmgexit_ext_guest_request', 'VMGEXIT'],
    [0x80000013, 'vmgexit_ap_creation', 'VMGEXIT'], [0x8000fffd, 'vmgexit_hypervisor_feature', 'VMGEXIT'],
  ];
  return t.concat(rest);
}

/** Old SVM spellings seen in 2.6.x/3.x traces. */
const SVM_OLD_ALIASES: Readonly<Record<string, string>> = { intr: 'interrupt', ioio: 'io' };

/**
 * libtraceevent's kvm plugin (plugin_kvm.c) prints reasons from its own
 * tables: VMX names of the 2.6-era header (PENDING_INTERRUPT for code 7, which
 * the kernel now calls INTERRUPT_WINDOW) and SVM names spelled after the
 * kernel's SVM_EXIT_* constants (EXIT_IOIO, EXIT_INTR, EXIT_EXCP_GP, ...).
 * Each is an alias of the kernel's name for the same (vendor, code).
 */
const VMX_TRACEEVENT_ALIASES: Readonly<Record<string, string>> = { PENDING_INTERRUPT: 'INTERRUPT_WINDOW' };

function svmTraceeventAliases(): Array<[string, number]> {
  const a: Array<[string, number]> = [];
  for (const n of [0, 2, 3, 4, 8]) { a.push([`EXIT_READ_CR${n}`, n], [`EXIT_WRITE_CR${n}`, 0x10 + n]); }
  for (let n = 0; n < 8; n++) { a.push([`EXIT_READ_DR${n}`, 0x20 + n], [`EXIT_WRITE_DR${n}`, 0x30 + n]); }
  EXC.forEach((e, i) => { if (e) a.push([`EXIT_EXCP_${e}`, 0x40 + i]); });
  const rest: Array<[string, number]> = [
    ['INTR', 0x60], ['NMI', 0x61], ['SMI', 0x62], ['INIT', 0x63], ['VINTR', 0x64], ['CR0_SEL_WRITE', 0x65],
    ['IDTR_READ', 0x66], ['GDTR_READ', 0x67], ['LDTR_READ', 0x68], ['TR_READ', 0x69], ['IDTR_WRITE', 0x6a],
    ['GDTR_WRITE', 0x6b], ['LDTR_WRITE', 0x6c], ['TR_WRITE', 0x6d], ['RDTSC', 0x6e], ['RDPMC', 0x6f],
    ['PUSHF', 0x70], ['POPF', 0x71], ['CPUID', 0x72], ['RSM', 0x73], ['IRET', 0x74], ['SWINT', 0x75],
    ['INVD', 0x76], ['PAUSE', 0x77], ['HLT', 0x78], ['INVLPG', 0x79], ['INVLPGA', 0x7a], ['IOIO', 0x7b],
    ['MSR', 0x7c], ['TASK_SWITCH', 0x7d], ['FERR_FREEZE', 0x7e], ['SHUTDOWN', 0x7f], ['VMRUN', 0x80],
    ['VMMCALL', 0x81], ['VMLOAD', 0x82], ['VMSAVE', 0x83], ['STGI', 0x84], ['CLGI', 0x85], ['SKINIT', 0x86],
    ['RDTSCP', 0x87], ['ICEBP', 0x88], ['WBINVD', 0x89], ['MONITOR', 0x8a], ['MWAIT', 0x8b], ['XSETBV', 0x8d],
    ['EFER_WRITE_TRAP', 0x8f], ['CR0_WRITE_TRAP', 0x90], ['CR4_WRITE_TRAP', 0x94], ['CR8_WRITE_TRAP', 0x98],
    ['INVPCID', 0xa2], ['BUS_LOCK', 0xa5], ['IDLE_HLT', 0xa6], ['NPF', 0x400], ['AVIC_INCOMPLETE_IPI', 0x401],
    ['AVIC_UNACCELERATED_ACCESS', 0x402], ['VMGEXIT', 0x403],
  ];
  for (const [n, c] of rest) a.push([`EXIT_${n}`, c]);
  return a;
}

export class ReasonTable {
  private readonly list: ExitReason[] = [];
  private readonly byKey = new Map<string, number>();
  private readonly byCode = new Map<string, number>();
  /** Other spellings of each reason id (old kernels', libtraceevent's), lower-cased, for filters. */
  private readonly aliasesOf = new Map<number, string[]>();

  constructor() {
    for (const [code, name] of VMX) this.add('vmx', code, name, name);
    for (const [code, name, canonical] of svmTable()) this.add('svm', code, name, canonical);
    const alias = (isa: 'vmx' | 'svm', text: string, id: number | undefined): void => {
      if (id === undefined) return;
      this.byKey.set(`${isa}:${text}`, id);
      const l = this.aliasesOf.get(id) ?? [];
      l.push(text.toLowerCase());
      this.aliasesOf.set(id, l);
    };
    for (const [old, name] of Object.entries(VMX_OLD_ALIASES)) if (!AMBIGUOUS_OLD_NAMES.has(old)) alias('vmx', old, this.byKey.get(`vmx:${name}`));
    for (const [te, name] of Object.entries(VMX_TRACEEVENT_ALIASES)) alias('vmx', te, this.byKey.get(`vmx:${name}`));
    for (const [te, code] of svmTraceeventAliases()) alias('svm', te, this.byCode.get(`svm:${code}`));
    for (const [old, name] of Object.entries(SVM_OLD_ALIASES)) alias('svm', old, this.byKey.get(`svm:${name}`));
    this.predefined = this.list.length;
  }

  /** Ids below this are the built-in tables, the same in every thread; later ones are interned as met. */
  readonly predefined: number;

  private add(isa: Isa, code: number, name: string, canonical: string): number {
    const id = this.list.length;
    this.list.push({ id, isa, code, name, canonical });
    this.byKey.set(`${isa}:${name}`, id);
    if (code >= 0) this.byCode.set(`${isa}:${code}`, id);
    return id;
  }

  get size(): number { return this.list.length; }
  get(id: number): ExitReason { return this.list[id]; }
  all(): readonly ExitReason[] { return this.list; }

  /** Interns a reason by (isa, code); unknown codes get a synthetic name like `VMX_99`. */
  byNativeCode(isa: 'vmx' | 'svm', code: number): number {
    const hit = this.byCode.get(`${isa}:${code}`);
    if (hit !== undefined) return hit;
    // libtraceevent's spelling for VMX; SVM codes are conventionally hex.
    const name = isa === 'vmx' ? `UNKNOWN (${code})` : `unknown (0x${code.toString(16)})`;
    return this.add(isa, code, name, isa === 'vmx' ? `VMX_${code}` : `SVM_0x${code.toString(16)}`);
  }

  /**
   * Resolves a reason as written in a trace. `isaHint` settles the names both
   * vendors share (`cpuid`, `hypercall`, ...) and the meaning of bare numbers.
   * Returns -1 for a name no table knows.
   */
  lookup(text: string, isaHint: Isa = 'other'): number {
    let hit = this.byKey.get(`vmx:${text}`);
    if (hit !== undefined) return hit;
    if (isaHint !== 'vmx') {
      hit = this.byKey.get(`svm:${SVM_OLD_ALIASES[text] ?? text}`);
      if (hit !== undefined) return hit;
    }
    const old = VMX_OLD_ALIASES[text];
    if (old !== undefined) return this.byKey.get(`vmx:${old}`)!;
    if (isaHint === 'vmx') {
      hit = this.byKey.get(`svm:${text}`);
      if (hit !== undefined) return hit;
    }
    const upper = text.toUpperCase();
    hit = this.byKey.get(`vmx:${upper}`);
    if (hit !== undefined) return hit;
    hit = this.byKey.get(`other:${text}`);
    if (hit !== undefined) return hit;
    if (/^(0x[0-9a-f]+|[0-9]+)$/i.test(text)) {
      const code = Number(text);
      return this.byNativeCode(isaHint === 'svm' ? 'svm' : 'vmx', code);
    }
    const unk = /^UNKNOWN \((\d+)\)$/.exec(text);
    if (unk) return this.byNativeCode(isaHint === 'svm' ? 'svm' : 'vmx', Number(unk[1]));
    const synth = /^(VMX_(\d+)|svm_0x([0-9a-f]+)|unknown \(0x([0-9a-f]+)\))$/.exec(text);
    if (synth) return synth[2] !== undefined ? this.byNativeCode('vmx', Number(synth[2])) : this.byNativeCode('svm', parseInt(synth[3] ?? synth[4], 16));
    return -1;
  }

  /**
   * Whether a `--reason` word names this reason: its kernel name, its
   * cross-vendor class, any alias (old kernels', libtraceevent's), or its
   * numeric code (`30`, `0x7b`), case-insensitive.
   */
  matches(id: number, word: string): boolean {
    const r = this.list[id];
    const t = word.trim().toLowerCase();
    if (r.name.toLowerCase() === t || r.canonical.toLowerCase() === t) return true;
    if ((this.aliasesOf.get(id) ?? []).includes(t)) return true;
    const oldVmx = VMX_OLD_ALIASES[t];
    if (oldVmx !== undefined && r.canonical === oldVmx) return true;
    if (/^(0x[0-9a-f]+|\d+)$/.test(t) && r.code >= 0 && Number(t) === r.code) return true;
    return false;
  }

  /** Whether a word could name any reason at all (known names, aliases, codes). */
  isReasonWord(word: string): boolean {
    const t = word.trim().toLowerCase();
    if (/^(0x[0-9a-f]+|\d+)$/.test(t)) return true;
    for (let id = 0; id < this.list.length; id++) if (this.matches(id, t)) return true;
    return VMX_OLD_ALIASES[t] !== undefined;
  }

  /** Ids whose name, class, alias or code matches; used by filters. */
  matching(text: string): number[] {
    return this.list.filter((r) => this.matches(r.id, text)).map((r) => r.id);
  }

  /**
   * A table by reason id: 1 where the id matches one of `words` (as `matching`), else 0. For loops that test every exit's
   * reason: a typed-array read, where a Set's has() was the hottest line of tick detection. Ids interned after it is built
   * read as undefined (falsy).
   */
  mask(...words: string[]): Uint8Array {
    const t = new Uint8Array(this.list.length + 1);
    for (const w of words) for (const id of this.matching(w)) t[id] = 1;
    return t;
  }

  /** Interns a reason that belongs to no hardware table (e.g. emulator pseudo-exits). */
  intern(isa: Isa, name: string): number {
    const hit = this.byKey.get(`${isa}:${name}`);
    return hit ?? this.add(isa, -1, name, name.toUpperCase());
  }
}

/** The process-wide reason table: ids are stable within a run and never written to files. */
export const REASONS = new ReasonTable();
