/**
 * The pass registry: one line per pass. The spec union, the `--pass` grammar,
 * the pipeline JSON Schema and the help text are all derived from it
 * (pipeline.ts), and `PassRegistry` makes a declared pass without an entry a
 * compile error.
 */
import type { z } from 'zod';
import type { PassDef } from '../pass-def.js';
import { apicv, pvEoi } from './apic.js';
import { coalesceIo } from './coalesce-io.js';
import { coalescedMmio } from './coalesced-mmio.js';
import { dropIo } from './drop-io.js';
import { haltpoll } from './haltpoll.js';
import { ipiv } from './ipiv.js';
import { pleWindow } from './ple-window.js';
import { drop, dropCaller } from './drop.js';
import { ioschedNoop } from './iosched-noop.js';
import { napiOff } from './napi-off.js';
import { modernHost, paper } from './presets.js';
import { timerHz } from './timer-hz.js';
import { virtio } from './virtio.js';

/** Every pass, in the order help lists them. */
export const PASS_LIST = [coalesceIo, timerHz, drop, dropCaller, dropIo, napiOff, virtio, apicv, pvEoi, coalescedMmio, ioschedNoop, ipiv, haltpoll, pleWindow, paper, modernHost] as const;

export type PassSpec = z.infer<(typeof PASS_LIST)[number]['schema']>;
export type PassName = PassSpec['pass'];
export type SpecOf<K extends PassName> = Extract<PassSpec, { pass: K }>;

/** One entry per declared pass, each typed by its own spec: a missing or mistyped entry does not compile. */
export type PassRegistry = { readonly [K in PassName]: PassDef<SpecOf<K>> };

export const PASSES: PassRegistry = {
  'coalesce-io': coalesceIo,
  'timer-hz': timerHz,
  drop,
  'drop-caller': dropCaller,
  'drop-io': dropIo,
  'napi-off': napiOff,
  virtio,
  apicv,
  'pv-eoi': pvEoi,
  'coalesced-mmio': coalescedMmio,
  'iosched-noop': ioschedNoop,
  ipiv,
  haltpoll,
  'ple-window': pleWindow,
  paper,
  'modern-host': modernHost,
};

export function passDef<K extends PassName>(name: K): PassDef<SpecOf<K>> {
  return PASSES[name];
}
