/**
 * Names of the MSRs that cause VM exits in practice. Sources: Intel SDM vol. 4
 * (model-specific registers) and vol. 3 §11.12 (x2APIC register address space:
 * MSR 0x800 + xAPIC offset / 16), Linux arch/x86/include/asm/msr-index.h,
 * arch/x86/include/uapi/asm/kvm_para.h (KVM paravirtual MSRs) and
 * arch/x86/include/asm/hyperv-tlfs.h (Hyper-V synthetic MSRs).
 */

export interface MsrName { name: string; group: string }

const FIXED: Record<number, MsrName> = {
  0x10: { name: 'IA32_TIME_STAMP_COUNTER', group: 'timer' },
  0x1b: { name: 'IA32_APIC_BASE', group: 'apic' },
  0x3a: { name: 'IA32_FEATURE_CONTROL', group: 'cpu' },
  0x48: { name: 'IA32_SPEC_CTRL', group: 'speculation' },
  0x49: { name: 'IA32_PRED_CMD', group: 'speculation' },
  0x10b: { name: 'IA32_FLUSH_CMD', group: 'speculation' },
  0x10a: { name: 'IA32_ARCH_CAPABILITIES', group: 'speculation' },
  0xe7: { name: 'IA32_MPERF', group: 'power' },
  0xe8: { name: 'IA32_APERF', group: 'power' },
  0x1a0: { name: 'IA32_MISC_ENABLE', group: 'cpu' },
  0x1d9: { name: 'IA32_DEBUGCTL', group: 'debug' },
  0x277: { name: 'IA32_PAT', group: 'memory' },
  0x6e0: { name: 'IA32_TSC_DEADLINE', group: 'timer' },
  0xc0000080: { name: 'IA32_EFER', group: 'cpu' },
  0xc0000100: { name: 'IA32_FS_BASE', group: 'segment' },
  0xc0000101: { name: 'IA32_GS_BASE', group: 'segment' },
  0xc0000102: { name: 'IA32_KERNEL_GS_BASE', group: 'segment' },
  0xc0000103: { name: 'IA32_TSC_AUX', group: 'timer' },
  // KVM paravirtual MSRs (kvm_para.h).
  0x11: { name: 'MSR_KVM_WALL_CLOCK', group: 'kvm-pv' },
  0x12: { name: 'MSR_KVM_SYSTEM_TIME', group: 'kvm-pv' },
  0x4b564d00: { name: 'MSR_KVM_WALL_CLOCK_NEW', group: 'kvm-pv' },
  0x4b564d01: { name: 'MSR_KVM_SYSTEM_TIME_NEW (kvmclock)', group: 'kvm-pv' },
  0x4b564d02: { name: 'MSR_KVM_ASYNC_PF_EN', group: 'kvm-pv' },
  0x4b564d03: { name: 'MSR_KVM_STEAL_TIME', group: 'kvm-pv' },
  0x4b564d04: { name: 'MSR_KVM_PV_EOI_EN', group: 'kvm-pv' },
  0x4b564d05: { name: 'MSR_KVM_POLL_CONTROL', group: 'kvm-pv' },
  0x4b564d06: { name: 'MSR_KVM_ASYNC_PF_INT', group: 'kvm-pv' },
  0x4b564d07: { name: 'MSR_KVM_ASYNC_PF_ACK', group: 'kvm-pv' },
  0x4b564d08: { name: 'MSR_KVM_MIGRATION_CONTROL', group: 'kvm-pv' },
  // Hyper-V synthetic MSRs (hyperv-tlfs.h).
  0x40000000: { name: 'HV_X64_MSR_GUEST_OS_ID', group: 'hyperv' },
  0x40000001: { name: 'HV_X64_MSR_HYPERCALL', group: 'hyperv' },
  0x40000002: { name: 'HV_X64_MSR_VP_INDEX', group: 'hyperv' },
  0x40000003: { name: 'HV_X64_MSR_RESET', group: 'hyperv' },
  0x40000010: { name: 'HV_X64_MSR_VP_RUNTIME', group: 'hyperv' },
  0x40000020: { name: 'HV_X64_MSR_TIME_REF_COUNT', group: 'hyperv' },
  0x40000021: { name: 'HV_X64_MSR_REFERENCE_TSC', group: 'hyperv' },
  0x40000022: { name: 'HV_X64_MSR_TSC_FREQUENCY', group: 'hyperv' },
  0x40000023: { name: 'HV_X64_MSR_APIC_FREQUENCY', group: 'hyperv' },
  0x40000070: { name: 'HV_X64_MSR_EOI', group: 'hyperv' },
  0x40000071: { name: 'HV_X64_MSR_ICR', group: 'hyperv' },
  0x40000072: { name: 'HV_X64_MSR_TPR', group: 'hyperv' },
  0x40000073: { name: 'HV_X64_MSR_VP_ASSIST_PAGE', group: 'hyperv' },
  0x40000080: { name: 'HV_X64_MSR_SCONTROL', group: 'hyperv' },
  0x40000081: { name: 'HV_X64_MSR_SVERSION', group: 'hyperv' },
  0x40000082: { name: 'HV_X64_MSR_SIEFP', group: 'hyperv' },
  0x40000083: { name: 'HV_X64_MSR_SIMP', group: 'hyperv' },
  0x40000084: { name: 'HV_X64_MSR_EOM', group: 'hyperv' },
};

/** x2APIC registers: MSR 0x800 + (xAPIC MMIO offset >> 4) (SDM vol. 3 table 11-6). */
const X2APIC: Record<number, string> = {
  0x02: 'ID', 0x03: 'VERSION', 0x08: 'TPR', 0x0a: 'PPR', 0x0b: 'EOI', 0x0d: 'LDR', 0x0f: 'SIVR',
  0x28: 'ESR', 0x2f: 'LVT_CMCI', 0x30: 'ICR', 0x32: 'LVT_TIMER', 0x33: 'LVT_THERMAL', 0x34: 'LVT_PMI',
  0x35: 'LVT_LINT0', 0x36: 'LVT_LINT1', 0x37: 'LVT_ERROR', 0x38: 'TMICT (timer initial count)', 0x39: 'TMCCT (timer current count)',
  0x3e: 'TDCR (timer divide)', 0x3f: 'SELF_IPI',
};

export function msrName(index: number): MsrName | null {
  const fixed = FIXED[index];
  if (fixed) return fixed;
  if (index >= 0x800 && index <= 0x8ff) {
    const r = index - 0x800;
    let reg = X2APIC[r];
    if (!reg && r >= 0x10 && r <= 0x17) reg = `ISR${r - 0x10}`;
    if (!reg && r >= 0x18 && r <= 0x1f) reg = `TMR${r - 0x18}`;
    if (!reg && r >= 0x20 && r <= 0x27) reg = `IRR${r - 0x20}`;
    return { name: `X2APIC_${reg ?? `0x${index.toString(16)}`}`, group: 'x2apic' };
  }
  if (index >= 0x4b564d00 && index <= 0x4b564dff) return { name: `MSR_KVM_0x${index.toString(16)}`, group: 'kvm-pv' };
  if (index >= 0x40000000 && index <= 0x400000ff) {
    if (index >= 0x40000090 && index <= 0x4000009f) return { name: `HV_X64_MSR_SINT${index - 0x40000090}`, group: 'hyperv' };
    if (index >= 0x400000b0 && index <= 0x400000b7) return { name: `HV_X64_MSR_STIMER${(index - 0x400000b0) >> 1}_${(index - 0x400000b0) & 1 ? 'COUNT' : 'CONFIG'}`, group: 'hyperv' };
    return { name: `HV_X64_MSR_0x${index.toString(16)}`, group: 'hyperv' };
  }
  return null;
}
