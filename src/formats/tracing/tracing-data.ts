/**
 * The "tracing data" block shared by trace.dat (its start, up to the CPU
 * count) and perf.data's HEADER_TRACING_DATA feature (trace-cmd's
 * trace-cmd.dat.v6.5.txt; perf's util/trace-event-read.c reads the same):
 *
 *   17 08 44 "tracing"  version "\0"  endian u8 (0 little, 1 big)
 *   long size u8 (userspace)  page size u32       [numbers in that byte order from here on]
 *   "header_page\0"  u64 size  text               (the page header format)
 *   "header_event\0" u64 size  text               (the record header description)
 *   u32 count, count x (u64 size, text)           (ftrace's own event formats)
 *   u32 systems, per system: name "\0", u32 count, count x (u64 size, text)
 *   u32 size, text                                (/proc/kallsyms)
 *   u32 size, text                                (printk_formats)
 *   u64 size, text                                (saved_cmdlines; perf: from version 0.6)
 *
 * trace.dat version 7 keeps the same parts in separate sections; each part has
 * its own function here.
 */
import { parseEventFormat, parsePageHeader, type EventFormat, type PageHeader } from './event-format.js';
import { Cursor, FormatError, hex } from './source.js';

import { TRACING_MAGIC } from '../binary-formats.js';

export { TRACING_MAGIC };
const HEADER_PAGE = Buffer.from('header_page\0', 'latin1');
const HEADER_EVENT = Buffer.from('header_event\0', 'latin1');

/** Upper bound for one metadata text (a format file, kallsyms): larger means a corrupt size. */
const MAX_TEXT = 1 << 30;

export interface TracingHeader {
  /** The version string: "6", "7" for trace.dat, "0.5"/"0.6" for perf. */
  version: string;
  littleEndian: boolean;
  longSize: number;
  pageSize: number;
}

/** Event formats by id and by name, with the common fields every record starts with. */
export class EventTable {
  readonly byId = new Map<number, EventFormat>();
  readonly byName = new Map<string, EventFormat>();
  /** Formats that did not parse: `system/event: why` (the events stay undecodable). */
  readonly failures: string[] = [];

  add(f: EventFormat): void {
    this.byId.set(f.id, f);
    if (!this.byName.has(f.name)) this.byName.set(f.name, f);
    this.byName.set(`${f.system}:${f.name}`, f);
  }

  /** common_type's place (offset 0, 2 bytes on every kernel since the format files exist). */
  commonType(): { offset: number; size: number } {
    for (const f of this.byId.values()) {
      const t = f.field('common_type');
      if (t) return { offset: t.offset, size: t.size };
    }
    return { offset: 0, size: 2 };
  }

  commonPid(): { offset: number; size: number } {
    for (const f of this.byId.values()) {
      const t = f.field('common_pid');
      if (t) return { offset: t.offset, size: t.size };
    }
    return { offset: 4, size: 4 };
  }
}

export interface TracingMetadata {
  header: TracingHeader;
  pageHeader?: PageHeader;
  events: EventTable;
  kallsyms?: string;
  printk?: string;
  cmdlines: Map<number, string>;
}

function text(cur: Cursor, size: number, what: string): string {
  if (size > MAX_TEXT) throw new FormatError(cur.pos, `${what}: size ${size} is out of range`);
  return cur.bytes(size, what).toString('latin1');
}

/** The initial part: magic, version, endianness, long size, page size. Leaves the cursor after it. */
export function readTracingHeader(cur: Cursor): TracingHeader {
  cur.expect(TRACING_MAGIC, 'the trace-cmd magic 17 08 44 "tracing"');
  const version = cur.cstr('the version string', 64);
  const endian = cur.u8('the endianness byte');
  if (endian > 1) throw new FormatError(cur.pos - 1, `endianness byte is ${endian} (expected 0 or 1)`);
  cur.littleEndian = endian === 0;
  const longSize = cur.u8('the long size');
  if (longSize !== 4 && longSize !== 8) throw new FormatError(cur.pos - 1, `long size ${longSize} (expected 4 or 8)`);
  const pageSize = cur.u32('the page size');
  if (pageSize < 64 || pageSize > 1 << 24 || (pageSize & (pageSize - 1)) !== 0) throw new FormatError(cur.pos - 4, `page size ${pageSize} is not a power of two between 64 B and 16 MB`);
  return { version, littleEndian: cur.littleEndian, longSize, pageSize };
}

export function readHeaderInfo(cur: Cursor): PageHeader {
  cur.expect(HEADER_PAGE, '"header_page"');
  const at = cur.pos;
  const hp = text(cur, cur.u64n('the header_page size'), 'header_page');
  const ph = parsePageHeader(hp, at);
  cur.expect(HEADER_EVENT, '"header_event"');
  const n = cur.u64n('the header_event size');
  text(cur, n, 'header_event');
  return ph;
}

function addFormat(events: EventTable, src: string, system: string, longSize: number, at: number): void {
  try {
    events.add(parseEventFormat(src, system, longSize, at));
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    const name = /^name:\s*(\S+)/m.exec(src)?.[1] ?? '?';
    events.failures.push(`${system}/${name}: ${e.message}`);
  }
}

export function readFtraceFormats(cur: Cursor, events: EventTable, longSize: number): void {
  const count = cur.u32('the ftrace format count');
  for (let i = 0; i < count; i++) {
    const size = cur.u64n('an ftrace format size');
    const at = cur.pos;
    addFormat(events, text(cur, size, 'an ftrace event format'), 'ftrace', longSize, at);
  }
}

export function readEventFormats(cur: Cursor, events: EventTable, longSize: number): void {
  const systems = cur.u32('the event system count');
  if (systems > 100_000) throw new FormatError(cur.pos - 4, `event system count ${systems} is out of range`);
  for (let s = 0; s < systems; s++) {
    const system = cur.cstr('an event system name', 4096);
    const count = cur.u32(`the event count of system ${system}`);
    for (let i = 0; i < count; i++) {
      const size = cur.u64n(`an event format size (system ${system})`);
      const at = cur.pos;
      addFormat(events, text(cur, size, `an event format of system ${system}`), system, longSize, at);
    }
  }
}

export function readSizedText32(cur: Cursor, what: string): string {
  const size = cur.u32(`the ${what} size`);
  return text(cur, size, what);
}

export function readCmdlines(cur: Cursor): Map<number, string> {
  const size = cur.u64n('the saved_cmdlines size');
  return parseCmdlines(text(cur, size, 'saved_cmdlines'));
}

export function parseCmdlines(t: string): Map<number, string> {
  const m = new Map<number, string>();
  for (const line of t.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const pid = Number(line.slice(0, sp));
    if (Number.isInteger(pid)) m.set(pid, line.slice(sp + 1));
  }
  return m;
}

/**
 * The whole sequential block (trace.dat v6 up to the CPU count; perf's
 * HEADER_TRACING_DATA). `withCmdlines`: trace.dat always, perf from 0.6.
 */
export function readTracingData(cur: Cursor): TracingMetadata {
  const header = readTracingHeader(cur);
  const pageHeader = readHeaderInfo(cur);
  const longSize = pageHeader.commitSize;
  const events = new EventTable();
  readFtraceFormats(cur, events, longSize);
  readEventFormats(cur, events, longSize);
  const kallsyms = readSizedText32(cur, 'kallsyms');
  const printk = readSizedText32(cur, 'printk formats');
  const perfOld = header.version.includes('.') && Number(header.version) < 0.6;
  const cmdlines = perfOld ? new Map<number, string>() : readCmdlines(cur);
  return { header, pageHeader, events, kallsyms: kallsyms || undefined, printk: printk || undefined, cmdlines };
}

export { hex };
