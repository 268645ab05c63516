/**
 * JSON Lines: one object per line with the canonical CSV's keys. Numbers may be
 * JSON numbers or strings; ts_ns above 2^53 must be a string (JSON.parse would
 * round it), and the writer emits it so. Blank lines are skipped.
 */
import { ExitChunk, DEFAULT_CHUNK_ROWS, OPTIONAL_COLUMNS, type OptionalColumn } from '../model/chunk.js';
import { TimeBase } from '../model/time.js';
import { ALL_COLUMNS, C_DUR, C_PORT, C_SIZE, C_TS, C_VCPU, C_VM, canonicalFields, columnSlots, pushCanonicalRow } from './canonical.js';
import { LineSplitter, type OpenedInput } from './input.js';
import type { ReadOptions, ReadState, TraceFormat } from './types.js';

const KEY_SLOT = new Map<string, number>(ALL_COLUMNS.map((c, k) => [c, k]));

async function* readJsonl(input: OpenedInput, state: ReadState, opts: ReadOptions): AsyncGenerator<ExitChunk> {
  const { diag } = state;
  // Keys may appear on any line, so every optional column is declared.
  for (const c of OPTIONAL_COLUMNS) state.columns.add(c);
  const time = new TimeBase();
  const rows = opts.chunkRows ?? DEFAULT_CHUNK_ROWS;
  let chunk = new ExitChunk(rows);
  const fields: Array<string | undefined> = new Array(ALL_COLUMNS.length);

  const handle = (text: string, line: number): void => {
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') { diag.stats.skipped++; return; }
    let obj: unknown;
    try { obj = JSON.parse(text); } catch (e) { diag.reject(line, `not JSON: ${(e as Error).message}`); return; }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) { diag.reject(line, 'not a JSON object'); return; }
    fields.fill(undefined);
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
      const slot = KEY_SLOT.get(k);
      if (slot === undefined || v === null || v === undefined) continue;
      if (typeof v === 'number') {
        if ((slot === C_TS || slot === C_DUR || slot === C_VCPU || slot === C_SIZE || slot === C_PORT) && !Number.isSafeInteger(v)) {
          diag.reject(line, `${k} ${v} is not an exact integer (write large values as strings)`);
          return;
        }
        fields[slot] = String(v);
      } else if (typeof v === 'string') fields[slot] = v;
      else { diag.reject(line, `${k} must be a number or a string`); return; }
    }
    const err = pushCanonicalRow(fields, chunk, time);
    if (err !== null) { diag.reject(line, err); return; }
    diag.stats.events++;
  };

  const splitter = new LineSplitter((line) => diag.reject(line, 'line longer than 1 MiB: not a trace line'));
  for await (const batch of splitter.batches(input.chunks)) {
    for (let k = 0; k < batch.count; k++) {
      handle(batch.buf.toString('utf8', batch.bounds[2 * k], batch.bounds[2 * k + 1]), batch.firstLine + k);
      if (chunk.full) {
        chunk.tsBaseNs = time.baseNs;
        yield chunk;
        chunk = new ExitChunk(rows);
      }
    }
  }
  diag.stats.lines = splitter.lines;
  chunk.tsBaseNs = time.baseNs;
  if (chunk.length) yield chunk;
}

export const jsonlFormat: TraceFormat = {
  name: 'jsonl',
  describe: 'JSON Lines ({"ts_ns":…,"vcpu":…,"reason":…,"rip":"0x…","duration_ns":…} per line)',
  sniff(_head, text) {
    const t = text.replace(/^\uFEFF/, '').trimStart();
    if (!t.startsWith('{')) return false;
    const nl = t.indexOf('\n');
    const line = nl < 0 ? t : t.slice(0, nl);
    return /"ts_ns"\s*:/.test(line) && /"rip"\s*:/.test(line);
  },
  read: readJsonl,
  write: (chunks, opts) => writeJsonl(chunks, opts.columns),
};

/** Renders chunks as JSON Lines with the same keys and value texts as the CSV. */
export async function* writeJsonl(chunks: AsyncIterable<ExitChunk>, columns: ReadonlySet<OptionalColumn>): AsyncGenerator<string> {
  const it = chunks[Symbol.asyncIterator]();
  const first = await it.next();
  const slots = columnSlots(columns);
  const f: string[] = new Array(ALL_COLUMNS.length);
  for (let r = first; !r.done; r = await it.next()) {
    const c = r.value;
    const lines: string[] = new Array(c.length);
    for (let i = 0; i < c.length; i++) {
      canonicalFields(c, i, f);
      const parts: string[] = [];
      for (const s of slots) {
        const v = f[s];
        if (v === '' || (s === C_VM && v === '0')) continue; // absent, or the default VM
        const numeric = s === C_VCPU || s === C_SIZE || s === C_VM || ((s === C_TS || s === C_DUR) && v.length <= 15);
        parts.push(`"${ALL_COLUMNS[s]}":${numeric ? v : JSON.stringify(v)}`);
      }
      lines[i] = '{' + parts.join(',') + '}';
    }
    if (lines.length) yield lines.join('\n') + '\n';
  }
}
