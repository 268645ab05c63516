/**
 * Canonical CSV (exitscope's own interchange format; see canonical.ts for the
 * columns).
 *
 * Two paths, one result. The fixed layout is parsed straight from bytes into
 * the chunk columns (no string, array or regex per line: the way to keep up
 * with awk on gigabyte files). Any line that path does not accept as-is —
 * quoting, spaces around fields, a wrong field count, a bad value — is parsed
 * again on the string path (csv-parse for quoted lines), which accepts what it
 * can and words every rejection, so both paths give identical results.
 *
 * Accounting: the header is one line; blank lines and `#` comment lines are
 * skipped; any other line is an event or a rejection with `file:line: reason`.
 * A quoted field may not span lines (exitscope never writes one).
 */
import { createRequire } from 'node:module';
import type { parse as ParseSync } from 'csv-parse/sync';
import { DIR_READ, DIR_WRITE, ExitChunk, type ChunkPool, DEFAULT_CHUNK_ROWS, F_CALLER, F_GPA, F_MSR, F_PORT, F_SIZE, F_UNPAIRED, F_VALUE, OPTIONAL_COLUMNS, type OptionalColumn } from '../model/chunk.js';
import { ExitscopeError } from '../model/errors.js';
import { TimeBase } from '../model/time.js';
import { ReasonCache } from './bytes.js';
import { ALL_COLUMNS, C_CALLER, C_DIR, C_DUR, C_GPA, C_MSR, C_PORT, C_REASON, C_RIP, C_SIZE, C_TS, C_VALUE, C_VCPU, C_VM, REQUIRED_COLUMNS, pushCanonicalRow } from './canonical.js';
import { REASONS } from '../model/reasons.js';
import { ByteWriter, encodeChunks } from './byte-writer.js';
import { LineSplitter, type LineBatch, type OpenedInput } from './input.js';
import type { ReadOptions, ReadState, TraceFormat } from './types.js';

/** csv-parse, for quoted lines only: loaded on the first one (start-up is part of every run's time; most files have none). */
let parseSyncFn: typeof ParseSync | null = null;
function parseSync(input: string, options: { relax_column_count: boolean }): string[][] {
  parseSyncFn ??= (createRequire(import.meta.url)('csv-parse/sync') as { parse: typeof ParseSync }).parse;
  return parseSyncFn(input, options) as string[][];
}

function firstLine(head: string): string {
  const s = head.replace(/^\uFEFF/, '');
  const nl = s.indexOf('\n');
  return (nl < 0 ? s : s.slice(0, nl)).replace(/\r$/, '');
}

/**
 * Lines this thread's CSV readers handed to the string path (quoted, malformed, or a layout the byte
 * path does not take). Well-formed canonical rows never go there: a test holds the byte path to that,
 * since the string path gives the same rows, only slower (a 400k-row CSV padded onto it: 1.4 s of CPU
 * for the whole analyze against 0.7 s).
 */
export const csvStringPathLines = { count: 0 };

/** Columns a CSV header may have. */
const MAX_COLUMNS = 64;

/**
 * The byte path's parser per column, as literal codes its switches can jump on:
 * 1-5 decimal (ts_ns, vcpu, duration_ns, size, vm), 6-11 hex (rip, value, gpa,
 * caller, msr, port), 12 reason, 13 dir, 14 a column exitscope does not know.
 */
function kindOfSlot(slot: number): number {
  switch (slot) {
    case C_TS: return 1;
    case C_VCPU: return 2;
    case C_DUR: return 3;
    case C_SIZE: return 4;
    case C_VM: return 5;
    case C_RIP: return 6;
    case C_VALUE: return 7;
    case C_GPA: return 8;
    case C_CALLER: return 9;
    case C_MSR: return 10;
    case C_PORT: return 11;
    case C_REASON: return 12;
    case C_DIR: return 13;
    default: return 14;
  }
}

/** Where a CSV line parser reports (the reader's Diagnostics, or a worker's record of them). */
export interface CsvAccounting {
  stats: { events: number; skipped: number; header: number };
  reject(line: number, reason: string): void;
  note(text: string): void;
}

/**
 * One CSV input's lines to rows. `header()` takes the header line (a worker
 * parsing a later byte range is handed it); `handleLine()` the rest; full
 * chunks come out of `take()`.
 */
export function csvLineParser(path: string, acc: CsvAccounting, columns: Set<OptionalColumn>, time: TimeBase, rows: number, pool?: ChunkPool) {
  const ready: ExitChunk[] = [];
  const reasons = new ReasonCache(false);
  const fresh = (): ExitChunk => (pool ? pool.take(rows) : new ExitChunk(rows));
  let chunk = fresh();
  const stats = acc.stats;
  let slotOf: number[] | null = null;
  /** Per column, how the byte path parses it (kindOfSlot); fixed by the header. */
  let kinds = new Int32Array(0);
  let width = 0;
  const strFields: Array<string | undefined> = new Array(ALL_COLUMNS.length);

  /** The string path: exact messages, quoting via csv-parse. */
  const slow = (b: Buffer, s: number, e: number, line: number): void => {
    csvStringPathLines.count++;
    const text = b.toString('utf8', s, e);
    let rec: string[];
    if (text.includes('"')) {
      try {
        const r = parseSync(text, { relax_column_count: true }) as string[][];
        rec = r[0] ?? [''];
      } catch (err) {
        acc.reject(line, `malformed CSV: ${(err as Error).message.replace(/^Invalid Record Length: /, '')}`);
        return;
      }
    } else rec = text.split(',');
    if (rec.length !== width) {
      acc.reject(line, rec.length < width ? `missing column(s): expected ${width} fields, found ${rec.length}` : `extra field(s): expected ${width} fields, found ${rec.length}`);
      return;
    }
    strFields.fill(undefined);
    for (let k = 0; k < width; k++) if (slotOf![k] >= 0) strFields[slotOf![k]] = rec[k].trim();
    const err = pushCanonicalRow(strFields, chunk, time);
    if (err !== null) acc.reject(line, err);
    else acc.stats.events++;
  };

  /**
   * The byte path: one pass over the line, each field parsed as it is scanned
   * (no field table, no second read). True when the row was taken; false to
   * hand the line to `slow`, which words the rejection.
   *
   * Each column's parser is chosen by `kinds[k]`, a small integer fixed by the
   * header, in a switch on literal cases (a jump table in optimized code):
   * chains of comparisons against the imported C_* constants, each a load of
   * another module's binding, were the hottest line of a 2M-row profile.
   */
  const fast = (b: Buffer, s: number, e: number): boolean => {
    let ts = NaN, vcpu = -1, reason = -1, ripHi = 0, ripLo = 0, dur = NaN, flags = 0;
    let port = 0, size = 0, dir = 0, valHi = 0, valLo = 0, gpaHi = 0, gpaLo = 0, msr = 0, cHi = 0, cLo = 0, vm = 0;
    let tsBig = -1, tsBigEnd = -1;
    let q = s;
    const ks = kinds;
    for (let k = 0; k < width; k++) {
      if (k > 0) { if (q >= e || b[q] !== 44) return false; q++; }
      const a = q;
      const kind = ks[k];
      if (kind <= 5) { // 1-5
        // Decimal: digits up to the comma.
        let v = 0;
        while (q < e) { const c = b[q] - 48; if (c < 0 || c > 9) break; v = v * 10 + c; q++; }
        const n = q - a;
        if (q < e && b[q] !== 44) {
          if (kind === 3 && n === 0 && b[q] === 45 && (q + 1 === e || b[q + 1] === 44)) { q++; continue; } // duration '-': unknown
          return false;
        }
        switch (kind) {
          case 1: // ts_ns
            if (n === 0 || n > 20) return false;
            if (n > 15) { tsBig = a; tsBigEnd = q; } else ts = v;
            break;
          case 2: if (n === 0 || n > 9) return false; vcpu = v; break; // vcpu
          case 3: if (n > 15) return false; if (n > 0) dur = v; break; // duration_ns
          case 4: if (n === 0) break; if (n > 3 || v < 1 || v > 255) return false; size = v; flags |= F_SIZE; break; // size
          default: if (n === 0) break; if (n > 9) return false; vm = v; break; // 5: vm
        }
      } else if (kind <= 11) { // 6-11
        if (q === e || b[q] === 44) { if (kind === 6) return false; continue; } // empty optional field (rip is required)
        if (q + 2 < e && b[q] === 48 && (b[q + 1] | 0x20) === 120) {
          // 0x-hex into two 32-bit halves.
          q += 2;
          let hi = 0, lo = 0, sig = 0;
          const d0 = q;
          while (q < e) {
            const c = b[q];
            let d: number;
            if (c >= 48 && c <= 57) d = c - 48;
            else { const l = c | 0x20; if (l >= 97 && l <= 102) d = l - 87; else break; }
            if (sig > 0 || d > 0) { if (++sig > 16) return false; hi = ((hi << 4) | (lo >>> 28)) >>> 0; lo = ((lo << 4) | d) >>> 0; }
            q++;
          }
          if (q === d0 || (q < e && b[q] !== 44)) return false;
          switch (kind) {
            case 6: ripHi = hi; ripLo = lo; break; // rip
            case 7: valHi = hi; valLo = lo; flags |= F_VALUE; break; // value
            case 8: gpaHi = hi; gpaLo = lo; flags |= F_GPA; break; // gpa
            case 9: cHi = hi; cLo = lo; flags |= F_CALLER; break; // caller
            case 10: if (hi !== 0) return false; msr = lo; flags |= F_MSR; break; // msr
            default: if (hi !== 0 || lo > 0xffff) return false; port = lo; flags |= F_PORT; break; // 11: port
          }
        } else if (kind === 11) {
          // A port may be decimal too.
          let v = 0;
          while (q < e) { const c = b[q] - 48; if (c < 0 || c > 9) break; v = v * 10 + c; q++; }
          if (q - a > 5 || v > 0xffff || (q < e && b[q] !== 44)) return false;
          port = v; flags |= F_PORT;
        } else return false;
      } else if (kind === 12) { // reason
        while (q < e && b[q] !== 44) { if (b[q] === 34) return false; q++; }
        if (q === a || b[a] === 32 || b[q - 1] === 32) return false;
        reason = reasons.lookup(b, a, q);
      } else if (kind === 13) { // dir
        if (q < e && b[q] !== 44) {
          const l = b[q] | 0x20;
          if (l === 114) dir = DIR_READ; else if (l === 119) dir = DIR_WRITE; else return false;
          q++;
          if (q < e && b[q] !== 44) return false;
        }
      } else {
        // A column exitscope does not know: skip it (no quotes on the byte path).
        while (q < e && b[q] !== 44) { if (b[q] === 34) return false; q++; }
      }
    }
    if (q !== e) return false;
    const off = tsBig >= 0 ? time.offsetOfDigits(b.toString('latin1', tsBig, tsBigEnd)) : time.offsetOfNumber(ts);
    if (dur !== dur) flags |= F_UNPAIRED;
    // Stored in place (a fresh chunk's columns are zero, so absent optional fields need no store).
    const ch = chunk;
    const i = ch.length++;
    ch.ts[i] = off; ch.vcpu[i] = vcpu; ch.reason[i] = reason; ch.ripHi[i] = ripHi; ch.ripLo[i] = ripLo; ch.dur[i] = dur; ch.flags[i] = flags;
    if (flags & F_PORT) ch.port[i] = port;
    if (flags & F_SIZE) ch.size[i] = size;
    if (dir !== 0) ch.dir[i] = dir;
    if (flags & F_VALUE) { ch.valHi[i] = valHi; ch.valLo[i] = valLo; }
    if (flags & F_GPA) { ch.gpaHi[i] = gpaHi; ch.gpaLo[i] = gpaLo; }
    if (flags & F_MSR) ch.msr[i] = msr;
    if (flags & F_CALLER) { ch.callerHi[i] = cHi; ch.callerLo[i] = cLo; }
    if (vm !== 0) ch.vm[i] = vm;
    stats.events++;
    return true;
  };

  const header = (text: string, line: number): void => {
    const names = text.replace(/^\uFEFF/, '').split(',').map((h) => h.trim().replace(/^"|"$/g, '').toLowerCase());
    const missing = REQUIRED_COLUMNS.filter((c) => !names.includes(c));
    if (missing.length) {
      throw new ExitscopeError(`${path}:${line}: CSV header lacks required column(s) ${missing.join(', ')} (expected ${REQUIRED_COLUMNS.join(',')}[,${OPTIONAL_COLUMNS.join(',')}])`);
    }
    if (names.length > MAX_COLUMNS) throw new ExitscopeError(`${path}:${line}: too many CSV columns (${names.length})`);
    slotOf = names.map((n) => (ALL_COLUMNS as readonly string[]).indexOf(n));
    kinds = Int32Array.from(slotOf, kindOfSlot);
    const unknown = names.filter((_, k) => slotOf![k] < 0);
    if (unknown.length) acc.note(`ignored unknown CSV column(s): ${unknown.join(', ')}`);
    for (const n of names) if ((OPTIONAL_COLUMNS as readonly string[]).includes(n)) columns.add(n as OptionalColumn);
    width = names.length;
    acc.stats.header = 1;
  };


  const handleLine = (buf: Buffer, s: number, e: number, line: number): void => {
      if (line === 1 && e - s >= 3 && buf[s] === 0xef && buf[s + 1] === 0xbb && buf[s + 2] === 0xbf) s += 3;
      if (slotOf === null) {
        const text = buf.toString('utf8', s, e);
        if (text.trim() === '' || text.startsWith('#')) { acc.stats.skipped++; return; }
        header(text, line);
        return;
      }
      let p = s;
      while (p < e && (buf[p] === 32 || buf[p] === 9)) p++;
      if (p === e || buf[p] === 35) { acc.stats.skipped++; return; }
      if (!fast(buf, s, e)) slow(buf, s, e, line);
      if (chunk.full) {
        chunk.tsBaseNs = time.baseNs;
        ready.push(chunk);
        chunk = fresh();
      }
  };

  return {
    header,
    get hasHeader(): boolean { return slotOf !== null; },
    handleLine,
    /**
     * Every line of a batch. The loop lives here, not in the (async) reader: V8 then optimizes this small function
     * with the parser inlined, instead of recompiling a whole async reader around it on each deopt (measured: the
     * background compiles of those readers cost more CPU than the parsing of a 150 MB CSV's last third).
     */
    handleBatch(batch: LineBatch): void {
      const { buf, bounds, count, firstLine } = batch;
      for (let k = 0; k < count; k++) handleLine(buf, bounds[2 * k], bounds[2 * k + 1], firstLine + k);
    },
    /** Full chunks so far; with `partial`, the one being filled too. */
    *take(partial = false): Generator<ExitChunk> {
      while (ready.length) yield ready.shift()!;
      if (partial && chunk.length) {
        chunk.tsBaseNs = time.baseNs;
        yield chunk;
        chunk = fresh();
      }
    },
  };
}

async function* readCsv(input: OpenedInput, state: ReadState, opts: ReadOptions): AsyncGenerator<ExitChunk> {
  const { diag } = state;
  const st = diag.stats;
  const parser = csvLineParser(input.path, { stats: st, reject: (l, r) => diag.reject(l, r), note: (t) => diag.note(t) }, state.columns, new TimeBase(), opts.chunkRows ?? DEFAULT_CHUNK_ROWS, state.pool);
  const splitter = new LineSplitter((line) => diag.reject(line, 'line longer than 1 MiB: not a trace line'));
  for await (const batch of splitter.batches(input.chunks)) {
    parser.handleBatch(batch);
    yield* parser.take(opts.flush);
  }
  st.lines = splitter.lines;
  if (!parser.hasHeader && st.skipped < st.lines) throw new ExitscopeError(`${input.path}: no CSV header found`);
  yield* parser.take(true);
}

export const csvFormat: TraceFormat = {
  name: 'csv',
  describe: 'canonical CSV (header ts_ns,vcpu,reason,rip,duration_ns[,port,size,dir,value,gpa,msr,caller,vm])',
  sniff(_head, text) {
    // The header is the first line that is neither blank nor a `#` comment, as the reader takes it.
    let rest = text.replace(/^\uFEFF/, ''), line = '';
    for (;;) {
      line = firstLine(rest);
      if (line.trim() !== '' && !line.startsWith('#')) break;
      const nl = rest.indexOf('\n');
      if (nl < 0) return false;
      rest = rest.slice(nl + 1);
    }
    const cols = line.split(',').map((s) => s.trim().toLowerCase().replace(/^"|"$/g, ''));
    return REQUIRED_COLUMNS.every((c) => cols.includes(c));
  },
  read: readCsv,
  write: (chunks, opts) => writeCsv(chunks, opts.columns),
};

function csvQuote(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Writes canonical CSV rows straight into bytes: no string per field (the emulator writes millions). */
class CsvEncoder extends ByteWriter {
  private readonly reasonBytes: Buffer[] = [];

  reason(id: number): void {
    let r = this.reasonBytes[id];
    if (!r) r = this.reasonBytes[id] = Buffer.from(csvQuote(REASONS.get(id).name), 'utf8');
    // A row's numbers fit the 400 bytes encode reserves; a reason name has no bound (a CSV's own reasons).
    if (r.length > 64) this.ensure(r.length + 400);
    this.bytes(r);
  }

  encode(c: ExitChunk, slots: readonly number[]): Buffer {
    const baseSmall = c.tsBaseNs <= 9007199254740991n;
    const baseNum = Number(c.tsBaseNs);
    for (let i = 0; i < c.length; i++) {
      this.ensure(400);
      const fl = c.flags[i];
      for (let k = 0; k < slots.length; k++) {
        if (k > 0) this.byte(44);
        switch (slots[k]) {
          // Times are whole ns, as every reader takes them: a pass's fractions (a halved duration) are rounded.
          case C_TS: {
            const t = Math.round(c.ts[i]);
            const abs = baseNum + t;
            if (baseSmall && Number.isSafeInteger(abs) && abs >= 0) this.dec(abs);
            else this.text((c.tsBaseNs + BigInt(t)).toString());
            break;
          }
          case C_VCPU: this.int(c.vcpu[i]); break;
          case C_REASON: this.reason(c.reason[i]); break;
          case C_RIP: this.hex(c.ripHi[i], c.ripLo[i]); break;
          case C_DUR: { const d = c.dur[i]; if (d === d) this.int(Math.round(d)); break; }
          case C_PORT: if (fl & F_PORT) this.hex(0, c.port[i]); break;
          case C_SIZE: if (fl & F_SIZE) this.dec(c.size[i]); break;
          case C_DIR: { const d = c.dir[i]; if (d === DIR_READ) this.byte(114); else if (d === DIR_WRITE) this.byte(119); break; }
          case C_VALUE: if (fl & F_VALUE) this.hex(c.valHi[i], c.valLo[i]); break;
          case C_GPA: if (fl & F_GPA) this.hex(c.gpaHi[i], c.gpaLo[i]); break;
          case C_MSR: if (fl & F_MSR) this.hex(0, c.msr[i]); break;
          case C_CALLER: if (fl & F_CALLER) this.hex(c.callerHi[i], c.callerLo[i]); break;
          case C_VM: this.int(c.vm[i]); break;
        }
      }
      this.byte(10);
    }
    return this.take();
  }
}

/** Renders chunks as canonical CSV bytes, header first; one buffer per chunk. */
export function writeCsv(chunks: AsyncIterable<ExitChunk>, columns: ReadonlySet<OptionalColumn>): AsyncGenerator<Buffer> {
  const enc = new CsvEncoder();
  return encodeChunks(chunks, columns, (c, slots) => enc.encode(c, slots), (slots) => Buffer.from(slots.map((s) => ALL_COLUMNS[s]).join(',') + '\n'));
}
