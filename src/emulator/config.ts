/**
 * What to emulate: the schema of `exitscope emulate` flags and of scenario
 * files. Zod messages name the field and the valid choices.
 */
import { z } from 'zod';
import { ExitscopeError } from '../model/errors.js';
import { zodMessage } from '../util/zod-message.js';

export const EmulatorConfigSchema = z.strictObject({
  workload: z.enum(['disk', 'net', 'jbb']),
  /** net: netperf test; disk: which bonnie++ phases. */
  netTest: z.enum(['TCP_STREAM', 'UDP_STREAM', 'TCP_RR', 'UDP_RR']).default('TCP_STREAM'),
  nic: z.enum(['rtl8139', 'e1000', 'virtio']).default('rtl8139'),
  napi: z.enum(['on', 'off']).default('on'),
  disk: z.enum(['ide', 'ata', 'virtio']).default('ata').describe('ide = drivers/ide (Fig. 5), ata = libata ata_piix (Table 3), virtio = virtio-blk'),
  diskTest: z.enum(['write', 'read', 'both']).default('both'),
  blockKB: z.array(z.number().int().positive().max(1024)).min(1).default([1, 4, 16, 64]).meta({ flag: 'block-kb' }).describe('bonnie++ block sizes in KiB'),
  hz: z.union([z.literal(100), z.literal(250), z.literal(1000)]).default(1000),
  iosched: z.enum(['cfq', 'noop']).default('cfq'),
  guestOpts: z.array(z.enum(['coalesce-io', 'no-pmtmr-verify', 'haltpoll'])).default([]).meta({ flag: 'guest-opt' }).describe('guest-side optimizations (repeatable); haltpoll: the 6.1 guest\'s cpuidle-haltpoll driver'),
  hostOpts: z.array(z.enum(['apicv', 'pv-eoi', 'coalesced-mmio', 'ipiv'])).default([]).meta({ flag: 'host-opt' }).describe('host-side optimizations (repeatable); ipiv: IPI virtualization, with apicv'),
  vcpus: z.number().int().min(1).max(64).default(2),
  duration: z.number().positive().max(86_400).default(5).describe('Simulated seconds'),
  ops: z.number().int().positive().optional().describe('Stop after this many workload operations instead'),
  seed: z.number().int().nonnegative().default(1),
  profile: z.string().default('core2-kvm76'),
  guest: z.enum(['auto', '2.6.27-i386', '6.1-x86_64']).default('auto').describe('guest kernel model: auto = the profile\'s (core2-kvm76: 2.6.27 i386; modern: 6.1 x86_64)'),
});

export type EmulatorConfig = z.infer<typeof EmulatorConfigSchema>;
export type EmulatorConfigInput = z.input<typeof EmulatorConfigSchema>;

export function parseConfig(input: unknown, where = 'emulate'): EmulatorConfig {
  const r = EmulatorConfigSchema.strict().safeParse(input);
  if (!r.success) throw new ExitscopeError(`${where}: ${zodMessage(r.error)}`);
  return r.data;
}
