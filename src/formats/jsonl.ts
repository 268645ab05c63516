/**
 * JSON Lines: one object per line with the canonical CSV's keys. Numbers may be
 * JSON numbers or strings; ts_ns above 2^53 must be a string (JSON.parse would
 * round it), and the writer emits it so. Blank lines are skipped.
 */
import { DIR_READ, DIR_WRITE, ExitChunk, DEFAULT_CHUNK_ROWS, F_CALLER, F_GPA, F_MSR, F_PORT, F_SIZE, F_VALUE, OPTIONAL_COLUMNS, type OptionalColumn } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import { formatAbsNs, TimeBase } from '../model/time.js';
import { ALL_COLUMNS, C_CALLER, C_DIR, C_DUR, C_GPA, C_MSR, C_PORT, C_REASON, C_RIP, C_SIZE, C_TS, C_VALUE, C_VCPU, C_VM, pushCanonicalRow } from './canonical.js';
import { ByteWriter, encodeChunks } from './byte-writer.js';
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

/** Keys as written: `"name":`. */
const KEYS = ALL_COLUMNS.map((c) => Buffer.from(`"${c}":`, 'latin1'));

/** JSON Lines as bytes (no string per line: `convert` and `emulate` write millions). */
class JsonlEncoder extends ByteWriter {
  private readonly names: Buffer[] = [];
  /** Whether the line being written has a field yet (the next one gets a comma). */
  private any = false;

  key(slot: number): void {
    if (this.any) this.byte(44);
    this.any = true;
    this.bytes(KEYS[slot]);
  }

  /** A hex value as a JSON string. */
  qhex(hi: number, lo: number): void {
    this.byte(34);
    this.hex(hi, lo);
    this.byte(34);
  }

  /** A number's text as the CSV has it: a JSON number up to 15 characters, a string past that (JSON readers round them). */
  numText(t: string): void {
    if (t.length <= 15) this.text(t);
    else { this.byte(34); this.text(t); this.byte(34); }
  }

  encode(c: ExitChunk, slots: readonly number[]): Buffer {
    const baseSmall = c.tsBaseNs <= 9007199254740991n;
    const baseNum = Number(c.tsBaseNs);
    for (let i = 0; i < c.length; i++) {
      const fl = c.flags[i];
      const name = (this.names[c.reason[i]] ??= Buffer.from(JSON.stringify(REASONS.get(c.reason[i]).name), 'utf8'));
      this.ensure(512 + name.length);
      this.byte(123);
      this.any = false;
      for (let k = 0; k < slots.length; k++) {
        switch (slots[k]) {
          case C_TS: {
            this.key(C_TS);
            // Whole ns, as canonicalFields and every reader have them.
            const t = Math.round(c.ts[i]);
            const abs = baseNum + t;
            if (baseSmall && Number.isSafeInteger(abs) && abs >= 0 && abs < 1e15) this.dec(abs);
            else this.numText(formatAbsNs(c.tsBaseNs, t));
            break;
          }
          case C_VCPU: this.key(C_VCPU); this.int(c.vcpu[i]); break;
          case C_REASON: this.key(C_REASON); this.bytes(name); break;
          case C_RIP: this.key(C_RIP); this.qhex(c.ripHi[i], c.ripLo[i]); break;
          case C_DUR: {
            const d = Math.round(c.dur[i]);
            if (d !== d) break;
            this.key(C_DUR);
            if (d >= 0 && d < 1e15) this.dec(d);
            else this.numText(String(d));
            break;
          }
          case C_PORT: if (fl & F_PORT) { this.key(C_PORT); this.qhex(0, c.port[i]); } break;
          case C_SIZE: if (fl & F_SIZE) { this.key(C_SIZE); this.dec(c.size[i]); } break;
          case C_DIR: { const d = c.dir[i]; if (d === DIR_READ || d === DIR_WRITE) { this.key(C_DIR); this.byte(34); this.byte(d === DIR_READ ? 114 : 119); this.byte(34); } break; }
          case C_VALUE: if (fl & F_VALUE) { this.key(C_VALUE); this.qhex(c.valHi[i], c.valLo[i]); } break;
          case C_GPA: if (fl & F_GPA) { this.key(C_GPA); this.qhex(c.gpaHi[i], c.gpaLo[i]); } break;
          case C_MSR: if (fl & F_MSR) { this.key(C_MSR); this.qhex(0, c.msr[i]); } break;
          case C_CALLER: if (fl & F_CALLER) { this.key(C_CALLER); this.qhex(c.callerHi[i], c.callerLo[i]); } break;
          // The default VM is left out.
          case C_VM: if (c.vm[i] !== 0) { this.key(C_VM); this.int(c.vm[i]); } break;
        }
      }
      this.byte(125);
      this.byte(10);
    }
    return this.take();
  }
}

/** Renders chunks as JSON Lines with the same keys and value texts as the CSV. */
export function writeJsonl(chunks: AsyncIterable<ExitChunk>, columns: ReadonlySet<OptionalColumn>): AsyncGenerator<Buffer> {
  const e = new JsonlEncoder();
  return encodeChunks(chunks, columns, (c, slots) => e.encode(c, slots));
}
