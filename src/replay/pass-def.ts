/**
 * One shape for every replay pass's registry entry (after the Firefox
 * Profiler's transforms): its schema (the spec type, the pipeline file's
 * validator and the published JSON Schema), the `--pass` text parser and
 * printer, the builder, and what exits can and cannot say about it, as data.
 * A new pass is one file exporting a `definePass(...)` and one line in
 * passes/index.ts.
 */
import type { z } from 'zod';
import type { ReplayContext } from './context.js';
import type { ReplayTrace } from './trace.js';
import type { ReplayPass } from './types.js';

export interface BuildEnv {
  trace: ReplayTrace;
  ctx: ReplayContext;
  /** Builds another spec (presets expand through it). */
  expand(text: string): ReplayPass[];
  /**
   * True when the user named this pass; false inside a preset. A named pass
   * that cannot apply is an error (exit 2); a preset's part is reported as
   * not applicable and the others run.
   */
  direct: boolean;
}

export interface PassDef<S extends { pass: string }> {
  readonly name: S['pass'];
  /** `--pass` grammar, e.g. `timer-hz:TARGET[:from=HZ]`. */
  readonly grammar: string;
  /** One line for help and the README. */
  readonly summary: string;
  readonly schema: z.ZodType<S>;
  /** The `--pass` text after `name:`, split on `:` and re-joined by the parser as it needs, to a raw object for `schema`. */
  parse(args: readonly string[]): Record<string, unknown>;
  print(spec: S): string;
  /**
   * Whether a trace of exits can estimate this optimization at all; when not,
   * why (estimate lists it as not estimable instead of guessing).
   */
  readonly estimable: true | { why: string };
  /** `text` is the spec as print() writes it (the ledger's name for the pass). */
  build(spec: S, env: BuildEnv, text: string): ReplayPass[];
}

export function definePass<S extends { pass: string }>(def: PassDef<S>): PassDef<S> {
  return def;
}

/** `key=value` parts (and bare flags) of a spec. */
export function kv(parts: readonly string[]): Record<string, string | true> {
  const o: Record<string, string | true> = {};
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq < 0) o[p] = true;
    else o[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return o;
}

export const num = (v: string | true | undefined): number | undefined => (v === undefined || v === true ? undefined : Number(v));
