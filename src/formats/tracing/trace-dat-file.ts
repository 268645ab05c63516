/**
 * The layout of a trace-cmd trace.dat (trace-cmd.dat.v6.5.txt and
 * trace-cmd.dat.v7.5.txt; lib/trace-cmd/trace-input.c):
 *
 * Version 6: the tracing-data block (tracing-data.ts), u32 CPU count, then
 * "options  \0" + options (u16 id, u32 size, data; id 0 ends them), then
 * "flyrecord\0" + per CPU (u64 offset, u64 size), or "latency  \0" + text.
 *
 * Version 7: the initial header, then the compression "name\0version\0", the
 * u64 offset of the first OPTIONS section; everything else is in sections
 * (u16 id, u16 flags (1 = compressed), u32 description string id, u64 size;
 * compressed: u32 compressed size, u32 uncompressed size, data). OPTIONS
 * sections chain through their DONE option (u64 offset of the next one, 0 at
 * the end); the BUFFER option, written after the data, gives per CPU
 * (u32 cpu, u64 offset, u64 size). Options HEADER_INFO (16), FTRACE_EVENTS
 * (17), EVENT_FORMATS (18), KALLSYMS (19), PRINTK (20), CMDLINES (21) give the
 * offsets of the metadata sections.
 *
 * Timestamp options: OFFSET (7, ASCII, added), TSC2NSEC (14: u32 mult, u32
 * shift, u64 offset): ns = (ts * mult) >> shift, then OFFSET added; the
 * TSC2NSEC offset and the trace clock do not enter (what trace-cmd 3.1.6's
 * report does, checked on files written with these options). DATE (1) is
 * what `trace-cmd report --date` uses and is left out as trace-cmd report
 * does by default.
 */
import type { PageHeader } from './event-format.js';
import { decompressBlock, SUPPORTED_COMPRESSIONS, type Compression, type CpuDataRef } from './ring-buffer.js';
import { BufferSource, Cursor, FileSource, FormatError, hex } from './source.js';
import {
  EventTable, readCmdlines, readEventFormats, readFtraceFormats, readHeaderInfo, readSizedText32,
  readTracingData, readTracingHeader, type TracingMetadata,
} from './tracing-data.js';

export const OPT = {
  DONE: 0, DATE: 1, CPUSTAT: 2, BUFFER: 3, TRACECLOCK: 4, UNAME: 5, HOOK: 6, OFFSET: 7, CPUCOUNT: 8,
  VERSION: 9, PROCMAPS: 10, TRACEID: 11, TIME_SHIFT: 12, GUEST: 13, TSC2NSEC: 14, STRINGS: 15,
  HEADER_INFO: 16, FTRACE_EVENTS: 17, EVENT_FORMATS: 18, KALLSYMS: 19, PRINTK: 20, CMDLINES: 21, BUFFER_TEXT: 22,
} as const;

export interface TraceDatLayout {
  version: number;
  meta: TracingMetadata & { pageHeader: PageHeader };
  compression: Compression;
  compressionVersion: string;
  /** Per-CPU data of every buffer instance that has some (the top one first). */
  cpus: CpuDataRef[];
  /** Nanoseconds added to every timestamp (OFFSET options). */
  tsOffset: bigint;
  tsc2nsec: { mult: number; shift: number; offset: bigint } | null;
  clock: string;
  /** v6 latency format: the text starts here. */
  latencyTextAt: number;
  notes: string[];
}

const FLYRECORD = Buffer.from('flyrecord\0', 'latin1');

function parseOffsetText(data: Buffer): bigint {
  const t = data.toString('latin1').replace(/\0.*$/s, '').trim();
  if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(t)) return 0n;
  return t.startsWith('-') ? -BigInt(t.slice(1)) : BigInt(t);
}

function clockOf(traceClockFile: string): string {
  const m = /\[([^\]]+)\]/.exec(traceClockFile);
  return m ? m[1] : traceClockFile.trim();
}

interface OptionSink {
  tsOffset: bigint;
  tsc2nsec: TraceDatLayout['tsc2nsec'];
  clock: string;
  sections: Map<number, number>;
  buffers: Array<{ name: string; offset: number; clock: string; cpus: Array<{ cpu: number; offset: number; size: number }> }>;
  notes: string[];
  cpuCount: number;
}

/** Reads one option's payload into the sink (both versions). */
function handleOption(id: number, data: Buffer, at: number, le: boolean, v7: boolean, sink: OptionSink): void {
  const c = new Cursor(new BufferSource(data, at), at, le, `option ${id}`);
  switch (id) {
    case OPT.OFFSET: sink.tsOffset += parseOffsetText(data); break;
    case OPT.DATE: sink.notes.push('the file has a DATE option (trace-cmd record --date); timestamps are left as recorded, as trace-cmd report does without --date'); break;
    case OPT.TSC2NSEC:
      if (data.length >= 16) sink.tsc2nsec = { mult: c.u32(), shift: c.u32(), offset: c.u64() };
      break;
    case OPT.TRACECLOCK: sink.clock = clockOf(data.toString('latin1').replace(/\0.*$/s, '')); break;
    case OPT.CPUCOUNT: if (data.length >= 4) sink.cpuCount = c.u32(); break;
    case OPT.BUFFER: {
      const offset = c.u64n('BUFFER option offset');
      const name = c.cstr('BUFFER option name');
      if (!v7) { sink.buffers.push({ name, offset, clock: '', cpus: [] }); break; }
      const clock = c.cstr('BUFFER option clock');
      // trace-cmd 3.x writes the page (sub-buffer) size before the CPU count;
      // the documented layout has none: tell them apart by the bytes left.
      const left = at + data.length - c.pos;
      if (left >= 8) {
        const n2 = le ? data.readUInt32LE(c.pos - at + 4) : data.readUInt32BE(c.pos - at + 4);
        if (left === 8 + n2 * 20) c.u32('BUFFER option page size');
      }
      const n = c.u32('BUFFER option CPU count');
      const cpus = [];
      for (let i = 0; i < n; i++) cpus.push({ cpu: c.u32('BUFFER option CPU id'), offset: c.u64n('BUFFER option CPU offset'), size: c.u64n('BUFFER option CPU size') });
      sink.buffers.push({ name, offset, clock, cpus });
      break;
    }
    case OPT.BUFFER_TEXT: sink.notes.push('the file holds a latency-format (text) buffer, which is not read'); break;
    case OPT.HEADER_INFO: case OPT.FTRACE_EVENTS: case OPT.EVENT_FORMATS: case OPT.KALLSYMS: case OPT.PRINTK: case OPT.CMDLINES:
      if (data.length >= 8) sink.sections.set(id, c.u64n(`section offset (option ${id})`));
      break;
    default: break;
  }
}

/** The payload of a v7 section at `offset` (decompressed when flagged), with its id. */
function readSection(src: FileSource, offset: number, le: boolean, compression: Compression, expectId: number, what: string): { id: number; data: Cursor } {
  const h = new Cursor(src, offset, le, `the ${what} section header`);
  const id = h.u16();
  const flags = h.u16();
  h.u32(); // description string id
  const size = h.u64n();
  if (id !== expectId) throw new FormatError(offset, `expected the ${what} section (id ${expectId}) at ${hex(offset)}, found section id ${id}`);
  if (flags & 1) {
    if (compression === 'none') throw new FormatError(offset, `the ${what} section at ${hex(offset)} is flagged compressed but the file names no compression`);
    const csize = h.u32('a compressed section header');
    const usize = h.u32('a compressed section header');
    const at = h.pos;
    const raw = h.bytes(csize, `the compressed ${what} section`);
    let out: Uint8Array;
    try {
      out = decompressBlock(compression, raw, usize);
    } catch (e) {
      throw new FormatError(at, `cannot decompress the ${what} section at ${hex(offset)} (${(e as Error).message})`);
    }
    return { id, data: new Cursor(new BufferSource(Buffer.from(out.buffer, out.byteOffset, out.byteLength)), 0, le, what) };
  }
  if (offset + 16 + size > src.size) throw new FormatError(src.size, `truncated: the file ends inside the ${what} section at ${hex(offset)} (it needs ${size} bytes)`);
  return { id, data: new Cursor(src, h.pos, le, what) };
}

function readV6(src: FileSource, cur: Cursor, meta: TracingMetadata): TraceDatLayout {
  const le = meta.header.littleEndian;
  const cpuCount = cur.u32('the CPU count');
  if (cpuCount > 1 << 16) throw new FormatError(cur.pos - 4, `CPU count ${cpuCount} is out of range`);
  const sink: OptionSink = { tsOffset: 0n, tsc2nsec: null, clock: 'local', sections: new Map(), buffers: [], notes: [], cpuCount };
  let tagAt = cur.pos;
  let tag = cur.bytes(10, 'the options/flyrecord tag').toString('latin1');
  if (tag.startsWith('options')) {
    for (;;) {
      const id = cur.u16('an option id');
      if (id === OPT.DONE) break;
      const size = cur.u32('an option size');
      const at = cur.pos;
      handleOption(id, cur.bytes(size, `option ${id}`), at, le, false, sink);
    }
    tagAt = cur.pos;
    tag = cur.bytes(10, 'the flyrecord tag').toString('latin1');
  }
  const layout: TraceDatLayout = {
    version: 6, meta: meta as TraceDatLayout['meta'], compression: 'none', compressionVersion: '', cpus: [],
    tsOffset: sink.tsOffset, tsc2nsec: sink.tsc2nsec, clock: sink.clock, latencyTextAt: -1, notes: sink.notes,
  };
  if (tag.startsWith('latency')) { layout.latencyTextAt = cur.pos; return layout; }
  if (!tag.startsWith('flyrecord')) throw new FormatError(tagAt, `expected "flyrecord" or "latency" at ${hex(tagAt)}, found ${JSON.stringify(tag.replace(/[^\x20-\x7e]/g, '.'))}`);
  for (let cpu = 0; cpu < cpuCount; cpu++) {
    const offset = cur.u64n(`CPU ${cpu}'s data offset`);
    const size = cur.u64n(`CPU ${cpu}'s data size`);
    if (size > 0) layout.cpus.push({ cpu, offset, size, instance: '' });
  }
  // Buffer instances (trace-cmd record -B): at their offset, "flyrecord\0" and per CPU (offset, size).
  for (const b of sink.buffers) {
    try {
      const c = new Cursor(src, b.offset, le, `buffer instance '${b.name}'`);
      c.expect(FLYRECORD, `"flyrecord" of buffer instance '${b.name}'`);
      for (let cpu = 0; cpu < cpuCount; cpu++) {
        const offset = c.u64n(), size = c.u64n();
        if (size > 0) layout.cpus.push({ cpu, offset, size, instance: b.name });
      }
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      layout.notes.push(`buffer instance '${b.name}' left out: ${e.message}`);
    }
  }
  return layout;
}

function readV7(src: FileSource, cur: Cursor, header: TracingMetadata['header']): TraceDatLayout {
  const le = header.littleEndian;
  const compAt = cur.pos;
  const compName = cur.cstr('the compression name', 256);
  const compVersion = cur.cstr('the compression version', 256);
  if (!SUPPORTED_COMPRESSIONS.includes(compName)) {
    throw new FormatError(compAt, `compression '${compName}' ${compVersion} is not supported (exitscope reads ${SUPPORTED_COMPRESSIONS.join(', ')}); convert with \`trace-cmd convert --compression none\``);
  }
  const compression = compName as Compression;
  let optOffset = cur.u64n('the first options section offset');
  const sink: OptionSink = { tsOffset: 0n, tsc2nsec: null, clock: 'local', sections: new Map(), buffers: [], notes: [], cpuCount: 0 };
  const seen = new Set<number>();
  while (optOffset !== 0) {
    if (seen.has(optOffset)) throw new FormatError(optOffset, `options sections loop back to ${hex(optOffset)}`);
    seen.add(optOffset);
    const { data: c } = readSection(src, optOffset, le, compression, OPT.DONE, 'options');
    let next = 0;
    for (;;) {
      const id = c.u16('an option id');
      const size = c.u32('an option size');
      const at = c.pos;
      const data = c.bytes(size, `option ${id}`);
      if (id === OPT.DONE) { next = size >= 8 ? Number(le ? data.readBigUInt64LE(0) : data.readBigUInt64BE(0)) : 0; break; }
      handleOption(id, data, at, le, true, sink);
    }
    optOffset = next;
  }
  const section = (id: number, what: string): Cursor | null => {
    const off = sink.sections.get(id);
    return off === undefined ? null : readSection(src, off, le, compression, id, what).data;
  };
  const hi = section(OPT.HEADER_INFO, 'header info');
  if (!hi) throw new FormatError(0, 'version 7 file without a HEADER_INFO section (no page header format)');
  const pageHeader = readHeaderInfo(hi);
  const events = new EventTable();
  const fe = section(OPT.FTRACE_EVENTS, 'ftrace event formats');
  if (fe) readFtraceFormats(fe, events, pageHeader.commitSize);
  const ev = section(OPT.EVENT_FORMATS, 'event formats');
  if (ev) readEventFormats(ev, events, pageHeader.commitSize);
  const ks = section(OPT.KALLSYMS, 'kallsyms');
  const kallsyms = ks ? readSizedText32(ks, 'kallsyms') : '';
  const pk = section(OPT.PRINTK, 'printk formats');
  const printk = pk ? readSizedText32(pk, 'printk formats') : '';
  const cl = section(OPT.CMDLINES, 'saved cmdlines');
  const cmdlines = cl ? readCmdlines(cl) : new Map<number, string>();
  const cpus: CpuDataRef[] = [];
  const ordered = [...sink.buffers].sort((a, b) => (a.name === '' ? -1 : b.name === '' ? 1 : 0));
  for (const b of ordered) for (const c of b.cpus) if (c.size > 0) cpus.push({ cpu: c.cpu, offset: c.offset, size: c.size, instance: b.name });
  const top = sink.buffers.find((b) => b.name === '');
  return {
    version: 7,
    meta: { header, pageHeader, events, kallsyms: kallsyms || undefined, printk: printk || undefined, cmdlines },
    compression, compressionVersion: compVersion, cpus,
    tsOffset: sink.tsOffset, tsc2nsec: sink.tsc2nsec, clock: top?.clock || sink.clock, latencyTextAt: -1, notes: sink.notes,
  };
}

/** Reads the structure of a trace.dat (metadata in memory, trace data left in the file). */
export function readTraceDatLayout(src: FileSource): TraceDatLayout {
  const cur = new Cursor(src, 0, true, 'the file header');
  const header = readTracingHeader(new Cursor(src, 0, true, 'the file header'));
  const version = Number(header.version);
  if (version === 6) return readV6(src, cur, readTracingData(cur));
  if (version === 7) {
    // skip what readTracingHeader read
    readTracingHeader(cur);
    return readV7(src, cur, header);
  }
  throw new FormatError(10, `trace.dat version '${header.version}' is not supported (exitscope reads versions 6 and 7; \`trace-cmd convert --file-version 6\` rewrites others)`);
}
