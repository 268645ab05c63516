/**
 * `exitscope emulate`: a deterministic guest-on-KVM model that writes one exit
 * record per VM exit. It is exitscope's embedded default trace source and the
 * ground truth estimates are checked against.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitscopeError } from '../model/errors.js';
import { parseConfig, type EmulatorConfig } from './config.js';
import { Emulation } from './engine.js';
import { loadProfile, type HostProfile } from './profile.js';

export { EmulatorConfigSchema, parseConfig, type EmulatorConfig, type EmulatorConfigInput } from './config.js';
export { Emulation, EMULATION_BASE_NS, type EmulationSummary } from './engine.js';
export { HostProfileSchema, loadProfile, BUNDLED_PROFILES, type HostProfile } from './profile.js';

export const GUEST_MAP = join(import.meta.dirname, '..', '..', 'traces', 'guest-2.6.27-i386.map');

export function writeGuestMap(path: string): void {
  try {
    copyFileSync(GUEST_MAP, path);
  } catch (e) {
    throw new ExitscopeError(`${path}: cannot write the guest map (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Validates a config against its profile's capabilities and returns a ready emulation. */
export function prepareEmulation(input: unknown, where = 'emulate'): Emulation {
  const cfg: EmulatorConfig = parseConfig(input, where);
  const profile: HostProfile = loadProfile(cfg.profile);
  if (cfg.hostOpts.includes('apicv') && !profile.apicv) {
    throw new ExitscopeError(`${where}: hostOpts: host profile '${profile.name}' has no APICv (its CPU predates it); use --profile modern or --host-opt pv-eoi`);
  }
  return new Emulation(cfg, profile);
}
