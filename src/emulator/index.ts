/**
 * `exitscope emulate`: a deterministic guest-on-KVM model that writes one exit
 * record per VM exit. It is exitscope's embedded default trace source and the
 * ground truth estimates are checked against.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitscopeError } from '../model/errors.js';
import { newCounters } from '../model/counters.js';
import type { TraceStream } from '../formats/index.js';
import { parseConfig, type EmulatorConfig } from './config.js';
import { Emulation } from './engine.js';
import { loadProfile, type HostProfile } from './profile.js';

export { EmulatorConfigSchema, parseConfig, type EmulatorConfig, type EmulatorConfigInput } from './config.js';
export { Emulation, EMULATION_BASE_NS, EmulationSummarySchema, type EmulationSummary } from './engine.js';
export { HostProfileSchema, loadProfile, BUNDLED_PROFILES, type HostProfile } from './profile.js';

export const GUEST_MAP = join(import.meta.dirname, '..', '..', 'traces', 'guest-2.6.27-i386.map');
/** The modern guest's map: functions of a real Debian 6.1 amd64 System.map (fixtures/modern-guest/README.md). */
export const MODERN_GUEST_MAP = join(import.meta.dirname, '..', '..', 'traces', 'guest-6.1-x86_64.map');

/** The guest kernel a config runs: `auto` follows the profile (modern hosts run a 6.x x86_64 guest). */
export function guestKernel(cfg: { guest: EmulatorConfig['guest'] }, profile: HostProfile): '2.6.27-i386' | '6.1-x86_64' {
  return cfg.guest !== 'auto' ? cfg.guest : profile.guestKernel;
}

/** The map of the guest an emulation runs (for --map-out and validate). */
export function guestMapFor(em: Emulation): string {
  return em.kernel === '6.1-x86_64' ? MODERN_GUEST_MAP : GUEST_MAP;
}

let lastPrepared: Emulation | null = null;

/**
 * Writes the guest kernel map of `em` (default: the emulation prepared last in
 * this process, which is the one `emulate --map-out` just ran).
 */
export function writeGuestMap(path: string, em: Emulation | null = lastPrepared): void {
  try {
    copyFileSync(em ? guestMapFor(em) : GUEST_MAP, path);
  } catch (e) {
    throw new ExitscopeError(`${path}: cannot write the guest map (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** An emulation as a trace stream, for analyze/estimate without a file in between. */
export function emulationStream(em: Emulation, name = `emulate:${em.cfg.workload}`): TraceStream {
  const stats = { path: name, format: 'emulator', lines: 0, header: 0, events: 0, skipped: 0, rejected: 0, rejections: [], notes: [] };
  async function* chunks() {
    for await (const c of em.chunks()) { stats.events += c.length; stats.lines += c.length; yield c; }
  }
  return { path: name, format: 'emulator', stats, columns: new Set(['port', 'size', 'dir', 'value', 'gpa', 'msr', 'caller'] as const), counters: newCounters(), vms: new Map(), embeddedKallsyms: () => undefined, chunks: chunks() };
}

/** Validates a config against its profile's capabilities and returns a ready emulation. */
export function prepareEmulation(input: unknown, where = 'emulate'): Emulation {
  const cfg: EmulatorConfig = parseConfig(input, where);
  const profile: HostProfile = loadProfile(cfg.profile);
  if (cfg.hostOpts.includes('apicv') && !profile.apicv) {
    throw new ExitscopeError(`${where}: hostOpts: host profile '${profile.name}' has no APICv (its CPU predates it); use --profile modern or --host-opt pv-eoi`);
  }
  if (cfg.hostOpts.includes('ipiv') && !cfg.hostOpts.includes('apicv')) {
    throw new ExitscopeError(`${where}: hostOpts: ipiv (IPI virtualization) works only with APICv (kvm_intel enable_ipiv needs enable_apicv): add --host-opt apicv`);
  }
  const kernel = guestKernel(cfg, profile);
  if (cfg.guestOpts.includes('haltpoll') && kernel !== '6.1-x86_64') {
    throw new ExitscopeError(`${where}: guestOpts: haltpoll is the cpuidle-haltpoll driver of Linux 5.4 and later: run the 6.1 guest (--guest 6.1-x86_64, or --profile modern)`);
  }
  lastPrepared = new Emulation(cfg, profile, kernel);
  return lastPrepared;
}
