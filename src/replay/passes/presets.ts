/**
 * Presets: named lists of passes. `paper` is the paper's four optimizations
 * (§3: merged I/O, 100 Hz, no PM-timer verification, no NAPI); `modern-host`
 * what a current KVM host offers for the same guest (APICv, coalesced MMIO).
 * A part that does not apply to the trace is reported as not applicable; the
 * other parts still run.
 */
import { z } from 'zod';
import { definePass } from '../pass-def.js';

export const PAPER = ['coalesce-io', 'timer-hz:100', 'drop-caller:verify_pmtmr_rate', 'napi-off'];
export const MODERN_HOST = ['apicv', 'coalesced-mmio:auto'];

export const paper = definePass({
  name: 'paper',
  grammar: 'paper',
  summary: `preset: ${PAPER.join(' + ')}`,
  schema: z.strictObject({ pass: z.literal('paper') }),
  parse: () => ({ pass: 'paper' }),
  print: () => 'paper',
  estimable: true,
  build: (_s, env) => PAPER.flatMap((t) => env.expand(t)),
});

export const modernHost = definePass({
  name: 'modern-host',
  grammar: 'modern-host',
  summary: `preset: ${MODERN_HOST.join(' + ')}`,
  schema: z.strictObject({ pass: z.literal('modern-host') }),
  parse: () => ({ pass: 'modern-host' }),
  print: () => 'modern-host',
  estimable: true,
  build: (_s, env) => MODERN_HOST.flatMap((t) => env.expand(t)),
});
