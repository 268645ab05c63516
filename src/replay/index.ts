/** Replay: rewrite a trace through passes (exitscope replay) and estimate what they buy (estimate). */
import { readTrace } from '../formats/index.js';
import { loadSymbolizer, type KaslrOption } from '../symbols/index.js';
import { ReplayContext } from './context.js';
import { buildPasses, type PassSpec } from './pipeline.js';
import { ReplayTrace } from './trace.js';
import type { PassLedger } from './types.js';

export * from './estimate.js';
export { parsePassSpec, parsePipelineJson, PipelineSchema, PassSpecSchema, passGrammar, specText, type PassSpec } from './pipeline.js';
export { PASSES, PASS_LIST, type PassRegistry, type PassName } from './passes/index.js';
export { ReplayTrace } from './trace.js';
export { ReplayContext } from './context.js';
export type { ReplayPass, PassLedger, PassResult } from './types.js';

export async function replay(opts: { input: string; maps?: readonly string[]; passes: readonly PassSpec[]; transitionNs?: number; kaslr?: KaslrOption }): Promise<{ trace: ReplayTrace; ledgers: PassLedger[] }> {
  const { trace } = await readTrace(opts.input);
  const symbols = opts.maps && opts.maps.length ? await loadSymbolizer(opts.maps) : null;
  let cur = ReplayTrace.from(trace);
  const ctx = new ReplayContext(cur, symbols, { transitionNs: opts.transitionNs, kaslr: opts.kaslr });
  const ledgers: PassLedger[] = [];
  for (const p of buildPasses(opts.passes, cur, ctx)) {
    const r = p.apply(cur, ctx);
    ledgers.push(r.ledger);
    cur = r.trace;
  }
  return { trace: cur, ledgers };
}
