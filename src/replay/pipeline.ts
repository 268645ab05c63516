/**
 * Pass pipelines: `--pass` specs and `--pipeline FILE` (JSON) become the same
 * zod-validated spec objects (the schema is the type), all derived from the
 * pass registry (passes/index.ts). A bad file gets a path-precise message:
 * `passes[2].hz: expected number`.
 */
import { z } from 'zod';
import { ExitscopeError } from '../model/errors.js';
import { zodMessage } from '../util/zod-message.js';
import type { BuildEnv } from './pass-def.js';
import type { ReplayContext } from './context.js';
import { PASS_LIST, PASSES, passDef, type PassName, type PassSpec } from './passes/index.js';
import type { ReplayTrace } from './trace.js';
import type { ReplayPass } from './types.js';

export type { PassSpec, PassName } from './passes/index.js';

// Each entry's schema is a strict object with a literal `pass`; the union is typed by the registry's spec union.
export const PassSpecSchema: z.ZodType<PassSpec> = z.discriminatedUnion('pass', PASS_LIST.map((p) => p.schema) as never);

export const PipelineSchema = z.strictObject({ passes: z.array(PassSpecSchema).min(1) }).describe('A replay pipeline: passes applied in order (exitscope estimate --pipeline FILE)');

function isPassName(n: string): n is PassName {
  return Object.prototype.hasOwnProperty.call(PASSES, n);
}

/** The `--pass` grammar of every pass, for help and errors. */
export function passGrammar(): string[] {
  return PASS_LIST.map((p) => p.grammar);
}

/** A `--pass` string to its spec object (validated by the same schema as files). */
export function parsePassSpec(text: string): PassSpec {
  const [name, ...rest] = text.split(':');
  const alias: Record<string, PassName> = { noop: 'iosched-noop', iosched: 'iosched-noop' };
  const n = alias[name] ?? name;
  if (!isPassName(n)) throw new ExitscopeError(`--pass ${text}: unknown pass '${name}' (passes: ${PASS_LIST.map((p) => p.name).join(', ')})`);
  const raw = passDef(n).parse(n === 'iosched-noop' ? [] : rest);
  const r = PassSpecSchema.safeParse(JSON.parse(JSON.stringify(raw)));
  if (!r.success) throw new ExitscopeError(`--pass ${text}: ${zodMessage(r.error)}`);
  return r.data;
}

export function parsePipelineJson(text: string, path: string): PassSpec[] {
  let raw: unknown;
  try { raw = JSON.parse(text); } catch (e) { throw new ExitscopeError(`${path}: not JSON (${(e as Error).message})`); }
  const r = PipelineSchema.safeParse(raw);
  if (!r.success) throw new ExitscopeError(`${path}: ${zodMessage(r.error)}`);
  return r.data.passes;
}

export function specText(s: PassSpec): string {
  return (passDef(s.pass) as { print(x: PassSpec): string }).print(s);
}

function build(s: PassSpec, env: BuildEnv): ReplayPass[] {
  return (passDef(s.pass) as { build(x: PassSpec, e: BuildEnv, t: string): ReplayPass[] }).build(s, env, specText(s));
}

/** Specs to pass instances; presets expand through the registry. */
export function buildPasses(specs: readonly PassSpec[], trace: ReplayTrace, ctx: ReplayContext): ReplayPass[] {
  const inner: BuildEnv = { trace, ctx, direct: false, expand: (t) => build(parsePassSpec(t), inner) };
  const outer: BuildEnv = { ...inner, direct: true };
  return specs.flatMap((s) => build(s, outer));
}
