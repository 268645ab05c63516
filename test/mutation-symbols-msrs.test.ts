/**
 * MSR names at the edges of their ranges (src/symbols/msrs.ts): x2APIC 0x800-0x8ff (SDM vol. 3
 * table 11-6), Hyper-V synthetic MSRs 0x40000000-0x400000ff (hyperv-tlfs.h: SINT0-15 at
 * 0x40000090, STIMER0-3 CONFIG/COUNT pairs at 0x400000b0), each with its group.
 */
import { describe, expect, it } from 'vitest';
import { msrName } from '../src/symbols/msrs.js';

describe('MSR ranges at their edges', () => {
  it('0x800, the first x2APIC MSR (reserved), is named by number in the x2apic group', () => {
    expect(msrName(0x800)).toEqual({ name: 'X2APIC_0x800', group: 'x2apic' });
  });

  it('Hyper-V MSRs between the fixed ones and SINT0 are named by number, not as negative SINTs', () => {
    expect(msrName(0x40000085)).toEqual({ name: 'HV_X64_MSR_0x40000085', group: 'hyperv' });
    expect(msrName(0x4000008f)).toEqual({ name: 'HV_X64_MSR_0x4000008f', group: 'hyperv' });
  });

  it('SINTs, STIMERs and unnamed Hyper-V MSRs are all in the hyperv group', () => {
    expect(msrName(0x40000090)).toEqual({ name: 'HV_X64_MSR_SINT0', group: 'hyperv' });
    expect(msrName(0x400000b3)).toEqual({ name: 'HV_X64_MSR_STIMER1_COUNT', group: 'hyperv' });
    expect(msrName(0x400000c0)).toEqual({ name: 'HV_X64_MSR_0x400000c0', group: 'hyperv' });
  });
});
