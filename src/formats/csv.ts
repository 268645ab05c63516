/**
 * Canonical CSV (exitscope's own interchange format; see canonical.ts for the
 * columns). Read with csv-parse, which also copes with quoting, a BOM and CRLF;
 * written by hand because the layout is fixed and never needs quoting except
 * for an odd reason name.
 *
 * Accounting: the header is one line; blank lines and `#` comment lines are
 * skipped; any other line is an event or a rejection with `file:line: reason`.
 */
import { parse, type CsvError } from 'csv-parse';
import { Readable, pipeline } from 'node:stream';
import { ExitChunk, DEFAULT_CHUNK_ROWS, OPTIONAL_COLUMNS, type OptionalColumn } from '../model/chunk.js';
import { ExitscopeError } from '../model/errors.js';
import { TimeBase } from '../model/time.js';
import { ALL_COLUMNS, REQUIRED_COLUMNS, canonicalFields, columnSlots, pushCanonicalRow } from './canonical.js';
import { lineCounter, type OpenedInput } from './input.js';
import type { ReadOptions, ReadState, TraceFormat } from './types.js';

function firstLine(head: string): string {
  const s = head.replace(/^\uFEFF/, '');
  const nl = s.indexOf('\n');
  return (nl < 0 ? s : s.slice(0, nl)).replace(/\r$/, '');
}

async function* readCsv(input: OpenedInput, state: ReadState, opts: ReadOptions): AsyncGenerator<ExitChunk> {
  const { diag } = state;
  const counter = lineCounter();
  const skips: Array<{ line: number; message: string }> = [];
  const parser = parse({
    bom: true,
    relax_column_count: true,
    info: true,
    skip_records_with_error: true,
    on_skip: (err: CsvError | undefined) => {
      skips.push({ line: Number(err?.lines ?? 0), message: String(err?.message ?? 'malformed CSV') });
      return undefined;
    },
  });
  const out = pipeline(Readable.from(counter.tap(input.chunks)), parser, () => undefined);
  const time = new TimeBase();
  const rows = opts.chunkRows ?? DEFAULT_CHUNK_ROWS;
  let chunk = new ExitChunk(rows);
  let slotOf: number[] | null = null;
  let width = 0;
  const fields: Array<string | undefined> = new Array(ALL_COLUMNS.length);
  const flushSkips = (): void => {
    for (const s of skips) diag.reject(s.line, `malformed CSV: ${s.message.replace(/^Invalid Record Length: /, '')}`);
    skips.length = 0;
  };
  for await (const item of out as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    if (skips.length) flushSkips();
    const rec = item.record;
    const line = item.info.lines;
    if (slotOf === null) {
      // The header: map its names onto canonical slots.
      const names = rec.map((h) => h.trim().toLowerCase());
      const missing = REQUIRED_COLUMNS.filter((c) => !names.includes(c));
      if (missing.length) {
        throw new ExitscopeError(`${input.path}:${line}: CSV header lacks required column(s) ${missing.join(', ')} (expected ${REQUIRED_COLUMNS.join(',')}[,${OPTIONAL_COLUMNS.join(',')}])`);
      }
      slotOf = names.map((n) => (ALL_COLUMNS as readonly string[]).indexOf(n));
      const unknown = names.filter((n, k) => slotOf![k] < 0);
      if (unknown.length) diag.note(`ignored unknown CSV column(s): ${unknown.join(', ')}`);
      for (const n of names) if ((OPTIONAL_COLUMNS as readonly string[]).includes(n)) state.columns.add(n as OptionalColumn);
      width = names.length;
      diag.stats.header = 1;
      continue;
    }
    if (rec.length === 1 && rec[0].trim() === '') { diag.stats.skipped++; continue; }
    if (rec[0].startsWith('#')) { diag.stats.skipped++; continue; }
    if (rec.length !== width) {
      diag.reject(line, rec.length < width ? `missing column(s): expected ${width} fields, found ${rec.length}` : `extra field(s): expected ${width} fields, found ${rec.length}`);
      continue;
    }
    fields.fill(undefined);
    for (let k = 0; k < width; k++) {
      const s = slotOf[k];
      if (s >= 0) fields[s] = rec[k].trim();
    }
    const err = pushCanonicalRow(fields, chunk, time);
    if (err !== null) { diag.reject(line, err); continue; }
    diag.stats.events++;
    if (chunk.full) {
      chunk.tsBaseNs = time.baseNs;
      yield chunk;
      chunk = new ExitChunk(rows);
    }
  }
  flushSkips();
  diag.stats.lines = counter.lines();
  if (slotOf === null && diag.stats.lines > 0) throw new ExitscopeError(`${input.path}: no CSV header found`);
  chunk.tsBaseNs = time.baseNs;
  if (chunk.length) yield chunk;
}

export const csvFormat: TraceFormat = {
  name: 'csv',
  describe: 'canonical CSV (header ts_ns,vcpu,reason,rip,duration_ns[,port,size,dir,value,gpa,msr,caller])',
  sniff(head) {
    const cols = firstLine(head).split(',').map((s) => s.trim().toLowerCase().replace(/^"|"$/g, ''));
    return REQUIRED_COLUMNS.every((c) => cols.includes(c));
  },
  read: readCsv,
};

function csvQuote(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Renders chunks as canonical CSV text, header first; one string per chunk. */
export async function* writeCsv(chunks: AsyncIterable<ExitChunk>, columns: ReadonlySet<OptionalColumn>): AsyncGenerator<string> {
  const slots = columnSlots(columns);
  yield slots.map((s) => ALL_COLUMNS[s]).join(',') + '\n';
  const f: string[] = new Array(ALL_COLUMNS.length);
  for await (const c of chunks) {
    const lines: string[] = new Array(c.length);
    for (let i = 0; i < c.length; i++) {
      canonicalFields(c, i, f);
      let line = f[slots[0]];
      for (let k = 1; k < slots.length; k++) line += ',' + (k === 2 ? csvQuote(f[slots[k]]) : f[slots[k]]);
      lines[i] = line;
    }
    if (lines.length) yield lines.join('\n') + '\n';
  }
}
