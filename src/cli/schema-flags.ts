/**
 * Command-line flags derived from a zod object schema (the emulator's scenario
 * schema): one flag per field, kebab-cased, its choices and help from the
 * schema, so the flags and the scenario file can never disagree.
 */
import { z } from 'zod';

export interface SchemaFlag {
  /** Field name in the schema (camelCase). */
  key: string;
  /** Flag name (kebab-case). */
  flag: string;
  kind: 'string' | 'number' | 'array';
  choices?: string[];
  describe: string;
}

type AnyDef = { type: string; innerType?: z.ZodType; element?: z.ZodType; options?: z.ZodType[]; values?: unknown[]; entries?: Record<string, string> };

function def(t: z.ZodType): AnyDef {
  return (t as unknown as { _zod: { def: AnyDef } })._zod.def;
}

function choicesOf(t: z.ZodType): string[] | undefined {
  const d = def(t);
  if (d.type === 'enum' && d.entries) return Object.values(d.entries).map(String);
  if (d.type === 'literal' && d.values) return d.values.map(String);
  if (d.type === 'union' && d.options) {
    const all = d.options.map(choicesOf);
    if (all.every(Boolean)) return all.flat() as string[];
  }
  return undefined;
}

export function flagsFromSchema(schema: z.ZodObject): SchemaFlag[] {
  const out: SchemaFlag[] = [];
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    let t = field;
    let d = def(t);
    let describe = field.description ?? '';
    while (d.innerType) { t = d.innerType; d = def(t); describe ||= t.description ?? ''; }
    // A field may name its flag (`.meta({ flag })`); else the kebab-cased key.
    const meta = z.globalRegistry.get(field) as { flag?: string } | undefined;
    const flag = meta?.flag ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    let kind: SchemaFlag['kind'] = 'string';
    let choices = choicesOf(t);
    if (d.type === 'array') {
      kind = 'array';
      choices = d.element ? choicesOf(d.element) : undefined;
    } else if (d.type === 'number') kind = 'number';
    if (choices && !describe) describe = choices.join(' | ');
    else if (choices) describe = `${describe} (${choices.join(' | ')})`;
    out.push({ key, flag, kind, choices, describe });
  }
  return out;
}

/** Flag values given on the command line, as schema input (numbers as numbers, lists split on commas). */
export function valuesFromFlags(flags: readonly SchemaFlag[], args: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of flags) {
    const v = args[f.flag];
    if (v === undefined) continue;
    if (f.kind === 'array') {
      const items = (Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter(Boolean);
      out[f.key] = items.map((s) => (f.choices ? s : /^-?\d+(\.\d+)?$/.test(s) ? Number(s) : s));
    } else if (f.kind === 'number' || (f.choices && f.choices.every((c) => /^\d+$/.test(c)))) {
      out[f.key] = Number(v);
    } else out[f.key] = String(v);
  }
  return out;
}
