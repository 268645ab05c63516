/**
 * Opening inputs for any symbolized pass over their exits (analyze, and the
 * exporters: folded stacks, Chrome trace, Parquet): open every input, hold
 * back a prefix, settle the symbols from it — the KASLR slide of the given
 * maps, or the kallsyms a binary input embeds when no map is given — and then
 * stream every chunk, the held-back ones first. Symbols are settled before
 * any exit is keyed, and only once.
 */
import { openTrace, type TraceStream } from '../formats/index.js';
import type { ExitChunk } from '../model/chunk.js';
import { ExitscopeError } from '../model/errors.js';
import { REASONS } from '../model/reasons.js';
import { u64ToBigInt } from '../model/u64.js';
import { loadSymbolizer, symbolizerFromKallsyms, type KaslrOption, type RipWeight, type Symbolizer } from '../symbols/index.js';
import type { InputChunk } from './handler.js';
import { KeyTable } from './key-table.js';
import { AddressResolver } from './resolver.js';
import { groupDigits } from '../model/numbers.js';

/** Exits held back to decide the KASLR slide before streaming. */
export const PREFIX_EXITS = 200_000;

export interface SourceOptions {
  /** Trace paths, or already opened streams (e.g. an emulation). */
  inputs: ReadonlyArray<string | TraceStream>;
  maps?: readonly string[];
  /** Already loaded maps (overrides `maps`). */
  symbolizer?: Symbolizer | null;
  kaslr?: KaslrOption;
  strict?: boolean;
  inputFormat?: string;
  stdin?: AsyncIterable<Buffer>;
  /** Keep reading growing inputs until the signal aborts (`--follow`); the prefix is then short. */
  follow?: AbortSignal;
  /** Unresolved addresses as their own ids instead of class roll-ups. */
  keepUnknown?: boolean;
}

export interface SymbolizedSource {
  streams: TraceStream[];
  symbolizer: Symbolizer | null;
  resolver: AddressResolver;
  /** Every chunk of every input, tagged with its input, in input order. */
  chunks: AsyncIterable<InputChunk>;
  /** What was decided and how (embedded kallsyms used, prefix length). */
  notes: string[];
}

/** Distinct RIPs of the first `limit` exits of some chunks with their counts and (a hinted) reason, for the KASLR decision. */
export function ripWeights(chunks: readonly ExitChunk[], limit = Infinity): RipWeight[] {
  const t = new KeyTable(2, 4096);
  let counts = new Float64Array(4096);
  let reasons = new Int32Array(4096);
  const k = new Uint32Array(2);
  let left = limit;
  for (const c of chunks) {
    const rows = Math.min(c.length, left);
    left -= rows;
    for (let i = 0; i < rows; i++) {
      k[0] = c.ripHi[i]; k[1] = c.ripLo[i];
      const n = t.size;
      const id = t.intern(k);
      if (id >= counts.length) {
        const cc = new Float64Array(counts.length * 2); cc.set(counts); counts = cc;
        const rr = new Int32Array(reasons.length * 2); rr.set(reasons); reasons = rr;
      }
      if (id === n) reasons[id] = c.reason[i];
      counts[id]++;
    }
  }
  const out: RipWeight[] = [];
  for (let id = 0; id < t.size; id++) out.push({ addr: u64ToBigInt(t.key(id, 0), t.key(id, 1)), count: counts[id], reason: REASONS.get(reasons[id]).canonical });
  return out;
}

async function* tagged(streams: readonly TraceStream[]): AsyncGenerator<InputChunk> {
  for (let k = 0; k < streams.length; k++) for await (const chunk of streams[k].chunks) yield { chunk, input: k };
}

export async function openSymbolized(opts: SourceOptions): Promise<SymbolizedSource> {
  if (opts.inputs.length === 0) throw new ExitscopeError('name at least one trace (- reads standard input)');
  const kaslr = opts.kaslr ?? 'auto';
  let symbolizer = opts.symbolizer !== undefined ? opts.symbolizer : opts.maps && opts.maps.length ? await loadSymbolizer(opts.maps) : null;
  const streams: TraceStream[] = [];
  for (const p of opts.inputs) streams.push(typeof p === 'string' ? await openTrace(p, { strict: opts.strict, format: opts.inputFormat, stdin: opts.stdin, follow: opts.follow }) : p);
  const notes: string[] = [];
  const source = tagged(streams);
  const prefix: InputChunk[] = [];
  let held = 0;
  let ended = false;
  // Without a map only the first chunk is held (a binary input's embedded kallsyms is known by then);
  // a live view cannot wait for half a million exits before its first table.
  const prefixExits = !symbolizer ? 1 : kaslr !== 'auto' ? 0 : opts.follow ? 10_000 : PREFIX_EXITS;
  while (held < prefixExits) {
    const r = await source.next();
    if (r.done) { ended = true; break; }
    prefix.push(r.value);
    held += r.value.chunk.length;
  }
  // With a map, exactly the first prefixExits exits decide the slide, however the reader cut its chunks (the parallel
  // reader's chunks end where its byte ranges do): the same decision and note from a one-thread read and a parallel one.
  // Without one, the whole first chunk (its embedded kallsyms is what is being checked).
  const used = prefixExits > 1 ? Math.min(held, prefixExits) : held;
  const given = Boolean(opts.symbolizer || opts.maps?.length);
  // Said once the slide check below has kept it (a dropped one gets its own note instead).
  let embeddedNote: string | null = null;
  if (!symbolizer) {
    const emb = streams.map((s) => ({ path: s.path, text: s.embeddedKallsyms() })).find((e) => e.text);
    if (emb) {
      symbolizer = symbolizerFromKallsyms(emb.text!, `${emb.path} (embedded kallsyms)`);
      embeddedNote = `no --map given: symbols from the kallsyms embedded in ${emb.path}, the recording host's; they name guest addresses only if the guest runs the same kernel build (give the guest's map with --map)`;
    }
  }
  if (symbolizer && !symbolizer.empty) {
    try {
      symbolizer.decideSlide(kaslr === 'auto' ? ripWeights(prefix.map((p) => p.chunk), used) : [], kaslr);
    } catch (e) {
      if (!(e instanceof ExitscopeError) || given) throw e;
      notes.push(`the embedded kallsyms does not fit the guest's addresses: not used (${e.message.replace(/^[^:]*: /, '')})`);
      symbolizer = null;
      embeddedNote = null;
    }
    if (embeddedNote) notes.push(embeddedNote);
    if (!ended && kaslr === 'auto' && symbolizer) notes.push(`KASLR slide decided from the first ${groupDigits(used)} exits`);
  }
  async function* chunks(): AsyncGenerator<InputChunk> {
    for (const p of prefix) yield p;
    prefix.length = 0;
    if (!ended) yield* source;
  }
  return { streams, symbolizer, resolver: new AddressResolver(symbolizer, opts.keepUnknown ?? false), chunks: chunks(), notes };
}
