/**
 * Folded stacks (`convert --to folded`): one line per distinct stack,
 * `reason;caller;function count`, root first, for flamegraph.pl and
 * speedscope as they are.
 *
 * Format reference: Brendan Gregg's FlameGraph, stackcollapse output read by
 * flamegraph.pl ("one line per stack: frames separated by semicolons, a
 * space, then the count"; flamegraph.pl parses `^(.*)\s+?(\d+(?:\.\d*)?)$`),
 * and speedscope's importer for it (src/import/bg-flamegraph.ts: each line
 * `stack count`, frames split on `;`). Oddities handled:
 * - the caller frame is left out when the exit has no caller (the trace has no
 *   caller column, the reader found none, or it is 0x0): `reason;function count`;
 * - `;` cannot appear inside a frame (it separates frames) and a line break
 *   would end the record: both are replaced in names (`:` and a space);
 * - names keep their spaces (`e1000_intr [e1000]`, `[guest kernel, no
 *   symbol]`): both readers take the count after the last space;
 * - `--weight time` weighs each stack by its exits' handling time in integer
 *   ns (HLT/MWAIT idle time and exits of unknown duration weigh nothing, as in
 *   analyze's Time%), since speedscope only reads integer weights.
 *
 * Stacks aggregate while streaming in a table keyed by (reason, caller id,
 * function id): memory follows the distinct stacks, not the trace.
 */
import { KeyTable } from '../analyze/key-table.js';
import { isIdleReason } from '../analyze/idle.js';
import { F_CALLER } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import type { ExportContext } from './exports.js';

export const FOLDED_WEIGHTS = ['count', 'time'] as const;

/** No caller: an id no resolver hands out (they are < 2^31 as unsigned words). */
const NO_CALLER = 0xffffffff;

export function frameName(s: string): string {
  return s.replace(/;/g, ':').replace(/[\r\n]+/g, ' ');
}

export async function* writeFolded(ctx: ExportContext): AsyncGenerator<string> {
  const weight = ctx.flags.weight === 'time' ? 'time' : 'count';
  const { resolver } = ctx.source;
  const table = new KeyTable(3, 4096);
  let w = new Float64Array(4096);
  const key = new Uint32Array(3);
  for await (const { chunk: c } of ctx.source.chunks) {
    for (let i = 0; i < c.length; i++) {
      let add = 1;
      if (weight === 'time') {
        const d = c.dur[i];
        if (d !== d || isIdleReason(c.reason[i])) continue;
        add = d;
      }
      key[0] = c.reason[i];
      // A caller of 0 is a placeholder (the emulator writes 0x0 for exits in user space), not a call from address 0.
      key[1] = c.flags[i] & F_CALLER && (c.callerHi[i] | c.callerLo[i]) !== 0 ? resolver.id(c.callerHi[i], c.callerLo[i]) >>> 0 : NO_CALLER;
      key[2] = resolver.id(c.ripHi[i], c.ripLo[i]) >>> 0;
      const id = table.intern(key);
      if (id >= w.length) { const n = new Float64Array(w.length * 2); n.set(w); w = n; }
      w[id] += add;
    }
  }
  const lines: string[] = [];
  const names = new Map<number, string>();
  const name = (id: number): string => {
    let s = names.get(id);
    if (s === undefined) { s = frameName(resolver.label(id | 0).text); names.set(id, s); }
    return s;
  };
  for (let id = 0; id < table.size; id++) {
    const n = Math.round(w[id]);
    if (n <= 0) continue;
    const reason = frameName(REASONS.get(table.key(id, 0)).name);
    const caller = table.key(id, 1);
    lines.push(`${reason};${caller === NO_CALLER ? '' : `${name(caller)};`}${name(table.key(id, 2))} ${n}`);
  }
  lines.sort();
  for (let k = 0; k < lines.length; k += 4096) yield lines.slice(k, k + 4096).join('\n') + '\n';
}
