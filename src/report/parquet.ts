/**
 * `convert --to parquet`: one row per exit, symbolized under the settled KASLR
 * slide, for DuckDB, Spark, Trino or pandas (docs/fleet.md has the SQL that
 * reproduces analyze's tables from it). Schema `exitscope.exits/v1`:
 *
 *   ts_ns INT64            absolute trace-clock ns (the trace's own stamps)
 *   vm, vcpu INT32         the guest (QEMU pid, or the reader's number) and vcpu
 *   reason STRING          native name (IO_INSTRUCTION on Intel, io on AMD)
 *   reason_code UINT32     VMX basic exit reason / SVM exit code (null if unknown)
 *   reason_isa, reason_class STRING   vmx|svm|other; the cross-ISA class (VMX name)
 *   idle BOOLEAN           HLT/MWAIT: analyze's idle time, not handling time
 *   rip UINT64             exact 64-bit guest RIP (DuckDB UBIGINT; Spark DECIMAL(20,0))
 *   function STRING        symbol, or [guest user] / [guest kernel, no symbol] /
 *                          [firmware] / [unknown] (analyze's rows)
 *   module STRING          null for the core kernel
 *   function_start UINT64  runtime start (the RIP itself for [unknown]; null for the classes)
 *   function_offset INT64  rip - function_start (named so: OFFSET is an SQL keyword)
 *   duration_ns INT64      exit to next entry; null when unpaired
 *   port, size INT32; dir STRING (read|write); gpa UINT64; msr UINT32; value UINT64
 *                          the exit's I/O, MMIO or MSR detail, null when absent
 *   caller UINT64; caller_function STRING   the call site's return address and function
 *   userspace BOOLEAN      the exit went on to QEMU (kvm_userspace_exit)
 *
 * Written by hyparquet-writer (pure JS, no native code; see docs/fleet.md
 * for why): one row group per ROW_GROUP_ROWS exits, encoded and handed to the
 * output as soon as it fills, so memory holds one row group, not the trace.
 * Strings are dictionary-encoded (RLE_DICTIONARY), pages snappy-compressed;
 * the footer's key/value metadata names the host, the trace and the symbols.
 */
import { hostname } from 'node:os';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { isIdleReason } from '../analyze/idle.js';
import { KeyTable } from '../analyze/key-table.js';
import { DIR_READ, DIR_WRITE, F_CALLER, F_GPA, F_MSR, F_PORT, F_SIZE, F_UNPAIRED, F_USERSPACE, F_VALUE } from '../model/chunk.js';
import { ExitscopeError } from '../model/errors.js';
import { REASONS } from '../model/reasons.js';
import { formatHex, u64ToBigInt } from '../model/u64.js';
import type { ExportContext } from './exports.js';

export const PARQUET_SCHEMA_NAME = 'exitscope.exits/v1';
export const DEFAULT_ROW_GROUP_ROWS = 1 << 16;

type Kind = 'int64' | 'uint64' | 'int32' | 'uint32' | 'string' | 'boolean';
/** `stats`: min/max per row group, what lets DuckDB/Spark skip row groups (time ranges, vcpus, addresses). */
interface Col { name: string; kind: Kind; required: boolean; stats?: boolean }

const COLUMNS: readonly Col[] = [
  { name: 'ts_ns', kind: 'int64', required: true, stats: true },
  { name: 'vm', kind: 'int32', required: true, stats: true },
  { name: 'vcpu', kind: 'int32', required: true, stats: true },
  { name: 'reason', kind: 'string', required: true },
  { name: 'reason_code', kind: 'uint32', required: false, stats: true },
  { name: 'reason_isa', kind: 'string', required: true },
  { name: 'reason_class', kind: 'string', required: true },
  { name: 'idle', kind: 'boolean', required: true },
  { name: 'rip', kind: 'uint64', required: true, stats: true },
  { name: 'function', kind: 'string', required: true },
  { name: 'module', kind: 'string', required: false },
  { name: 'function_start', kind: 'uint64', required: false },
  { name: 'function_offset', kind: 'int64', required: false },
  { name: 'duration_ns', kind: 'int64', required: false, stats: true },
  { name: 'port', kind: 'int32', required: false },
  { name: 'size', kind: 'int32', required: false },
  { name: 'dir', kind: 'string', required: false },
  { name: 'gpa', kind: 'uint64', required: false },
  { name: 'msr', kind: 'uint32', required: false },
  { name: 'value', kind: 'uint64', required: false },
  { name: 'caller', kind: 'uint64', required: false },
  { name: 'caller_function', kind: 'string', required: false },
  { name: 'userspace', kind: 'boolean', required: true },
];

/** The Parquet schema elements (flat: a root and one leaf per column). */
function schemaElements() {
  const leaf = (c: Col) => {
    const repetition_type = c.required ? 'REQUIRED' as const : 'OPTIONAL' as const;
    switch (c.kind) {
      case 'int64': return { name: c.name, type: 'INT64' as const, repetition_type };
      // The converted type only: hyparquet-writer writes the INTEGER logical type's bitWidth as an i32
      // where Thrift wants an i8, which DuckDB rejects (docs/fleet.md). UINT_64 is what every reader knows.
      case 'uint64': return { name: c.name, type: 'INT64' as const, converted_type: 'UINT_64' as const, repetition_type };
      case 'int32': return { name: c.name, type: 'INT32' as const, repetition_type };
      case 'uint32': return { name: c.name, type: 'INT32' as const, converted_type: 'UINT_32' as const, repetition_type };
      case 'string': return { name: c.name, type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, logical_type: { type: 'STRING' as const }, repetition_type };
      case 'boolean': return { name: c.name, type: 'BOOLEAN' as const, repetition_type };
    }
  };
  return [{ name: 'root', num_children: COLUMNS.length }, ...COLUMNS.map(leaf)];
}

/** A ByteWriter whose bytes leave after every row group (ParquetWriter calls flush then). */
class HandOffWriter extends ByteWriter {
  readonly out: Buffer[] = [];
  flush(): void {
    if (this.index === 0) return;
    this.out.push(Buffer.from(this.buffer.slice(0, this.index)));
    this.index = 0;
  }
  take(): Buffer[] {
    return this.out.splice(0);
  }
}

interface FunctionLabel { symbol: string; module: string | null; start: bigint | null }

/** The `parquet` entry of EXPORTS (src/report/exports.ts) loads this module only when used. */
export async function* writeParquet(ctx: ExportContext): AsyncGenerator<Buffer> {
  const { source, flags } = ctx;
  const host = String(flags.host ?? hostname());
  const groupRows = Number(flags['row-group-rows'] ?? DEFAULT_ROW_GROUP_ROWS);
  if (!Number.isInteger(groupRows) || groupRows < 1024) throw new ExitscopeError(`--row-group-rows: expected a whole number >= 1024, got '${flags['row-group-rows']}'`);
  const { resolver, symbolizer, streams } = source;
  const slide = symbolizer?.slide;
  const kv: Array<{ key: string; value: string }> = [
    { key: 'exitscope.schema', value: PARQUET_SCHEMA_NAME },
    { key: 'exitscope.host', value: host },
    { key: 'exitscope.trace', value: streams.map((s) => s.path).join(', ') },
    { key: 'exitscope.format', value: streams.map((s) => s.format).join(', ') },
    { key: 'exitscope.symbols', value: symbolizer && !symbolizer.empty ? symbolizer.sources.map((s) => s.path).join(', ') : '' },
    { key: 'exitscope.kaslr_slide', value: formatHex(slide?.slide ?? 0n) },
    { key: 'exitscope.kaslr', value: slide?.note ?? 'no map given' },
  ];
  const w = new HandOffWriter(1 << 20);
  const pq = new ParquetWriter({ writer: w, schema: schemaElements(), kvMetadata: kv, createdBy: 'exitscope (hyparquet-writer)' });

  const fnCache = new Map<number, FunctionLabel>();
  const fn = (id: number): FunctionLabel => {
    let f = fnCache.get(id);
    if (!f) {
      const l = resolver.label(id);
      f = { symbol: l.symbol, module: l.module, start: id < 0 ? null : l.start };
      fnCache.set(id, f);
    }
    return f;
  };
  // Per distinct address (RIPs and callers): its BigInt, function and offset, made once.
  const addrs = new KeyTable(2, 4096);
  const addrKey = new Uint32Array(2);
  const addrBig: bigint[] = [], addrFn: FunctionLabel[] = [], addrOff: Array<bigint | null> = [];
  const addr = (hi: number, lo: number): number => {
    addrKey[0] = hi; addrKey[1] = lo;
    const n = addrs.size;
    const k = addrs.intern(addrKey);
    if (k === n) {
      const a = u64ToBigInt(hi, lo), l = fn(resolver.id(hi, lo));
      addrBig.push(a); addrFn.push(l); addrOff.push(l.start === null ? null : a - l.start);
    }
    return k;
  };
  const reasonCache = new Map<number, { name: string; code: number | null; isa: string; cls: string; idle: boolean }>();
  const reasonOf = (id: number) => {
    let r = reasonCache.get(id);
    if (!r) {
      const x = REASONS.get(id);
      r = { name: x.name, code: x.code >= 0 ? x.code : null, isa: x.isa, cls: x.canonical, idle: isIdleReason(id) };
      reasonCache.set(id, r);
    }
    return r;
  };

  const cols = COLUMNS.map(() => new Array<unknown>(groupRows));
  let n = 0, exits = 0;
  const flushGroup = (): Buffer[] => {
    if (n === 0) return [];
    for (const a of cols) a.length = n;
    pq.write({
      rowGroupSize: n,
      columnData: COLUMNS.map((c, k) => ({ name: c.name, data: cols[k] as never[], statistics: c.stats ?? false, ...(c.kind === 'string' ? { encoding: 'RLE_DICTIONARY' as const } : {}) })),
    });
    for (const a of cols) a.length = groupRows;
    n = 0;
    return w.take();
  };
  const [tsC, vmC, vcpuC, reasonC, codeC, isaC, classC, idleC, ripC, fnC, modC, startC, offC, durC, portC, sizeC, dirC, gpaC, msrC, valC, callerC, callerFnC, userC] = cols;

  for await (const { chunk: c } of source.chunks) {
    const base = c.tsBaseNs;
    for (let i = 0; i < c.length; i++) {
      const f = c.flags[i];
      const r = reasonOf(c.reason[i]);
      const a = addr(c.ripHi[i], c.ripLo[i]);
      const l = addrFn[a];
      const d = f & F_UNPAIRED ? NaN : c.dur[i];
      tsC[n] = base + BigInt(Math.round(c.ts[i]));
      vmC[n] = c.vm[i];
      vcpuC[n] = c.vcpu[i];
      reasonC[n] = r.name; codeC[n] = r.code; isaC[n] = r.isa; classC[n] = r.cls; idleC[n] = r.idle;
      ripC[n] = addrBig[a];
      fnC[n] = l.symbol;
      modC[n] = l.module;
      startC[n] = l.start;
      offC[n] = addrOff[a];
      durC[n] = d === d ? BigInt(Math.round(d)) : null;
      portC[n] = f & F_PORT ? c.port[i] : null;
      sizeC[n] = f & F_SIZE ? c.size[i] : null;
      const dir = c.dir[i];
      dirC[n] = dir === DIR_READ ? 'read' : dir === DIR_WRITE ? 'write' : null;
      gpaC[n] = f & F_GPA ? u64ToBigInt(c.gpaHi[i], c.gpaLo[i]) : null;
      msrC[n] = f & F_MSR ? c.msr[i] : null;
      valC[n] = f & F_VALUE ? u64ToBigInt(c.valHi[i], c.valLo[i]) : null;
      if (f & F_CALLER) {
        const k = addr(c.callerHi[i], c.callerLo[i]);
        callerC[n] = addrBig[k];
        callerFnC[n] = addrFn[k].symbol;
      } else {
        callerC[n] = null;
        callerFnC[n] = null;
      }
      userC[n] = (f & F_USERSPACE) !== 0;
      n++;
      exits++;
      if (n === groupRows) yield* flushGroup();
    }
  }
  yield* flushGroup();
  kv.push({ key: 'exitscope.exits', value: String(exits) });
  kv.push({ key: 'exitscope.rejected_lines', value: String(streams.reduce((s, x) => s + x.stats.rejected, 0)) });
  pq.finish();
  w.flush();
  yield* w.take();
}
