/**
 * iosched-noop (paper §3.2.3): bypassing the guest I/O scheduler changes guest
 * CPU time and request timing, not VM exits. A trace of exits carries no
 * signal of it, so the pass is declared not estimable instead of guessed.
 */
import { z } from 'zod';
import { definePass } from '../pass-def.js';
import { VerdictPass } from '../types.js';

const WHY = 'removing the guest I/O scheduler changes guest CPU and request timing, not VM exits: a trace of exits carries no signal of it (measure it, e.g. with exitscope emulate --iosched noop)';

export const ioschedNoop = definePass({
  name: 'iosched-noop',
  grammar: 'iosched-noop',
  summary: 'bypass the guest I/O scheduler (not estimable from exits)',
  schema: z.strictObject({ pass: z.literal('iosched-noop') }),
  parse: () => ({ pass: 'iosched-noop' }),
  print: () => 'iosched-noop',
  estimable: { why: WHY },
  build: () => [new VerdictPass('iosched-noop', 'iosched-noop', 'not-estimable', WHY)],
});
