import type { z } from 'zod';

/** One line naming the path and what was expected: `passes[2].hz: expected number`. */
export function zodMessage(err: z.ZodError): string {
  const i = err.issues[0];
  const path = i.path.map((p, k) => (typeof p === 'number' ? `[${p}]` : k === 0 ? String(p) : `.${String(p)}`)).join('') || '(top)';
  let msg = i.message;
  const extra = err.issues.length > 1 ? ` (and ${err.issues.length - 1} more)` : '';
  if (i.code === 'unrecognized_keys') msg = `unknown field(s) ${(i as { keys: string[] }).keys.join(', ')}`;
  return `${path}: ${msg}${extra}`;
}
