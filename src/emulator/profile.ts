/**
 * Host profiles: every constant of the emulator's cost model, in one file per
 * host, validated by this schema (the schema is the type). The estimator never
 * reads these: it must infer costs from traces alone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ExitscopeError } from '../model/errors.js';
import { zodMessage } from '../util/zod-message.js';

const Ns = z.number().nonnegative();

export const HostProfileSchema = z.strictObject({
  name: z.string(),
  description: z.string(),
  calibration: z.string().describe('What the constants were fitted to'),
  transitionNs: Ns.describe('Hardware VM exit + VM entry latency: outside the kvm_exit..kvm_entry interval a trace measures'),
  userspaceSwitchNs: Ns.describe('Extra cost when KVM hands an exit to the userspace device model (QEMU) and back'),
  jitter: z.number().min(0).max(1).describe('Relative spread of each cost (uniform sum, mean preserved)'),
  mmioExit: z.enum(['shadow-pf', 'ept-misconfig']).describe('How an MMIO access traps: #PF under shadow paging (no EPT) or EPT misconfiguration'),
  apicv: z.boolean().describe('Hardware can virtualize APIC EOI / posted interrupts (--host-opt apicv allowed)'),
  guestKernel: z.enum(['2.6.27-i386', '6.1-x86_64']).default('2.6.27-i386').describe('The guest kernel this host runs by default (config guest: auto)'),
  handling: z.strictObject({
    picPollNs: Ns, ioapicEoiNs: Ns, lapicEoiNs: Ns, eoiInducedNs: Ns, intrWindowNs: Ns, extIrqNs: Ns, hltNs: Ns,
    crAccessNs: Ns, msrNs: Ns, shadowPfNs: Ns, pmTimerNs: Ns, hypercallNs: Ns,
    mmioDecodeNs: Ns.describe('Decoding and emulating the faulting MMIO instruction'),
    pvEoiNs: Ns.describe('Guest-side cost of a PV EOI (no exit)'),
    ioeventfdNs: Ns.default(300).describe('A virtio notification KVM completes in the kernel through ioeventfd (fast MMIO: no decode, no userspace)'),
    coalescedAppendNs: Ns.default(100).describe('KVM appending a coalesced MMIO write to the ring (besides decoding it)'),
  }),
  devices: z.strictObject({
    ide: z.strictObject({ taskfileNs: Ns, statusNs: Ns, commandNs: Ns, bmdmaNs: Ns, prdNs: Ns }),
    rtl8139: z.strictObject({ read8Ns: Ns, read16Ns: Ns, read32Ns: Ns, write16Ns: Ns, write32Ns: Ns, txNs: Ns }),
    e1000: z.strictObject({ icrReadNs: Ns, maskWriteNs: Ns, tailWriteNs: Ns, statusReadNs: Ns }),
    virtio: z.strictObject({ notifyNs: Ns, isrReadNs: Ns }),
    coalescedRing: z.number().int().positive().describe('Coalesced-MMIO ring entries before a forced exit'),
  }),
  guest: z.strictObject({
    tickWorkNs: Ns.describe('Guest timer-interrupt work per tick besides its exits (jiffies, scheduler tick, softirq)'),
    cfqPerRequestNs: Ns.describe('Guest CFQ scheduling work per block request'),
    cfqIdleNs: Ns.describe('CFQ idle window per request (anticipation) that the host scheduler makes useless'),
    pmtmrVerifyEveryNs: Ns.describe('Guest time between verify_pmtmr_rate passes during disk I/O'),
    pmtmrVerifyReads: z.number().int().nonnegative(),
    blockCpuNsPerKB: Ns.describe('Guest CPU per KiB copied by write()/read()'),
    syscallNs: Ns.describe('Guest CPU per write()/read() call'),
    requestCpuNs: Ns.describe('Guest block layer + driver CPU per request'),
    netTxCpuNs: Ns.describe('Guest TCP/UDP CPU per sent packet'),
    netRxCpuNs: Ns.describe('Guest CPU per received packet'),
    napiPollNs: Ns.describe('NAPI softirq scheduling and poll CPU overhead per interrupt'),
    napiDelayNs: Ns.describe('ksoftirqd wake-up and scheduling before the NAPI poll runs, guest CPU per interrupt'),
    jbbOpNs: Ns.describe('Guest CPU per SPECjbb-like transaction'),
    pageFaultRate: z.number().nonnegative().describe('Guest page faults per ms of user work (shadow paging exits)'),
    ctxSwitchRate: z.number().nonnegative().describe('CR3 writes per ms'),
  }),
  disk: z.strictObject({ requestKB: z.number().positive(), serviceNs: Ns, serviceJitter: z.number().min(0).max(1).default(0.25).describe('Relative spread of a request\'s service time (seek, rotation, host cache): real devices are not periodic'), bandwidthMBs: z.number().positive(), readCacheHit: z.number().min(0).max(1) }),
  net: z.strictObject({ mtuBytes: z.number().int().positive(), wireMbps: z.number().positive(), rttNs: Ns, rxCoalesce: z.number().int().positive().describe('Packets per RX interrupt without NAPI') }),
});

export type HostProfile = z.output<typeof HostProfileSchema>;

export const BUNDLED_PROFILES = ['core2-kvm76', 'modern'] as const;

export function profilesDir(): string {
  return join(import.meta.dirname, '..', '..', 'traces', 'profiles');
}

export function loadProfile(nameOrPath: string): HostProfile {
  const path = (BUNDLED_PROFILES as readonly string[]).includes(nameOrPath) ? join(profilesDir(), `${nameOrPath}.json`) : nameOrPath;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ExitscopeError(`${path}: cannot read host profile (${code === 'ENOENT' ? `no such file; bundled profiles: ${BUNDLED_PROFILES.join(', ')}` : (e as Error).message})`);
  }
  const r = HostProfileSchema.strict().safeParse(raw);
  if (!r.success) throw new ExitscopeError(`${path}: ${zodMessage(r.error)}`);
  return r.data;
}
