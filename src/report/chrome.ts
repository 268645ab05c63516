/**
 * Chrome trace-event JSON (`convert --to chrome`) for Perfetto UI
 * (ui.perfetto.dev, "Open trace file") and chrome://tracing: each exit is a
 * slice on its vcpu's track, named by the function it trapped in.
 *
 * Format reference: the Trace Event Format document (Google, "Trace Event
 * Format", docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU):
 * the JSON Object Format `{"traceEvents": [...], "displayTimeUnit": ...,
 * "otherData": {...}}`; complete events `ph: "X"` with `ts` and `dur` in
 * microseconds, `pid`, `tid`, `name`, `cat`, `args`; instant events `ph: "i"`
 * with scope `s: "t"`; metadata events `ph: "M"` (`process_name`,
 * `thread_name`, `*_sort_index`). Perfetto's JSON importer
 * (src/trace_processor/importers/json/json_trace_parser*.cc) reads the same
 * fields. Choices and oddities:
 * - one process per VM (input and vm column), one thread per vcpu; tids are
 *   vcpu + 1 because Perfetto treats tid 0 as the idle task's;
 * - ts are microseconds from the first input's first exit, written from
 *   integer nanoseconds with three decimals (exact: a double would lose
 *   nanoseconds on absolute stamps); the absolute base is in otherData;
 * - exits of unknown duration (unpaired) are instant events on their track;
 * - metadata events come last: VM names are complete only once read.
 *
 * Streamed: events are written a batch at a time as chunks arrive; nothing
 * but the symbol names and the vcpu list is kept.
 */
import { basename } from 'node:path';
import { F_CALLER, F_FAILED_ENTRY, F_GPA, F_MSR, F_PORT, F_SIZE, F_USERSPACE, F_VALUE, DIR_READ, DIR_WRITE } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import { formatHexU64 } from '../model/u64.js';
import type { ExportContext } from './exports.js';

const BATCH = 8192;

/** Integer-rounded ns as µs with up to three decimals, exactly (no float division). */
export function nsToUs(ns: number): string {
  const r = Math.round(ns);
  const neg = r < 0;
  const a = neg ? -r : r;
  const whole = Math.floor(a / 1000);
  const frac = a - whole * 1000;
  const f = frac === 0 ? '' : `.${String(frac).padStart(3, '0').replace(/0+$/, '')}`;
  return `${neg ? '-' : ''}${whole}${f}`;
}

export async function* writeChrome(ctx: ExportContext): AsyncGenerator<string> {
  const { resolver, streams } = ctx.source;
  const names = new Map<number, string>();
  const nameOf = (id: number): string => {
    let s = names.get(id);
    if (s === undefined) { s = JSON.stringify(resolver.label(id).text); names.set(id, s); }
    return s;
  };
  const reasonJson: string[] = [];
  const reasonOf = (r: number): string => reasonJson[r] ?? (reasonJson[r] = JSON.stringify(REASONS.get(r).name));
  const pids = new Map<string, { pid: number; input: number; vm: number; vcpus: Set<number> }>();
  let origin: bigint | null = null;
  let exits = 0;
  yield '{"traceEvents":[\n';
  let first = true;
  for await (const { chunk: c, input } of ctx.source.chunks) {
    if (origin === null) origin = c.tsBaseNs;
    const shift = Number(c.tsBaseNs - origin);
    let parts: string[] = [];
    let lastKey = '', lastProc: { pid: number; vcpus: Set<number> } | null = null;
    for (let i = 0; i < c.length; i++) {
      const vm = c.vm[i];
      const pk = `${input}:${vm}`;
      if (pk !== lastKey) {
        let p = pids.get(pk);
        if (!p) { p = { pid: pids.size + 1, input, vm, vcpus: new Set() }; pids.set(pk, p); }
        lastKey = pk;
        lastProc = p;
      }
      const vcpu = c.vcpu[i];
      lastProc!.vcpus.add(vcpu);
      const f = c.flags[i];
      const reason = reasonOf(c.reason[i]);
      let args = `"reason":${reason},"rip":"${formatHexU64(c.ripHi[i], c.ripLo[i])}"`;
      if (f & F_PORT) {
        args += `,"port":"0x${c.port[i].toString(16)}"`;
        const d = c.dir[i];
        if (d === DIR_READ || d === DIR_WRITE) args += `,"dir":"${d === DIR_READ ? 'in' : 'out'}"`;
        if (f & F_SIZE) args += `,"size":${c.size[i]}`;
      }
      if (f & F_GPA) {
        args += `,"gpa":"${formatHexU64(c.gpaHi[i], c.gpaLo[i])}"`;
        const d = c.dir[i];
        if (d === DIR_READ || d === DIR_WRITE) args += `,"dir":"${d === DIR_READ ? 'read' : 'write'}"`;
      }
      if (f & F_VALUE) args += `,"value":"${formatHexU64(c.valHi[i], c.valLo[i])}"`;
      if (f & F_MSR) args += `,"msr":"0x${c.msr[i].toString(16)}"`;
      if (f & F_CALLER && (c.callerHi[i] | c.callerLo[i]) !== 0) args += `,"caller":${nameOf(resolver.id(c.callerHi[i], c.callerLo[i]))}`;
      if (f & F_USERSPACE) args += ',"userspace":true';
      if (f & F_FAILED_ENTRY) args += ',"failedEntry":true';
      const d = c.dur[i];
      const head = `{"name":${nameOf(resolver.id(c.ripHi[i], c.ripLo[i]))},"cat":${reason},"pid":${lastProc!.pid},"tid":${vcpu + 1},"ts":${nsToUs(shift + c.ts[i])}`;
      parts.push(d === d ? `${head},"ph":"X","dur":${nsToUs(d)},"args":{${args}}}` : `${head},"ph":"i","s":"t","args":{${args}}}`);
      exits++;
      if (parts.length === BATCH) { yield (first ? '' : ',\n') + parts.join(',\n'); first = false; parts = []; }
    }
    if (parts.length) { yield (first ? '' : ',\n') + parts.join(',\n'); first = false; }
  }
  const meta: string[] = [];
  for (const p of pids.values()) {
    const s = streams[p.input];
    // The VM's name where the trace gives one (QEMU's command), else the file it came from.
    const file = basename(s?.path ?? `input ${p.input}`);
    const vmLabel = s?.vms.get(p.vm) ?? (p.vm !== 0 ? `vm ${p.vm}` : null);
    const pname = vmLabel ? (streams.length > 1 ? `${file}: ${vmLabel}` : vmLabel) : file;
    meta.push(`{"name":"process_name","ph":"M","pid":${p.pid},"tid":0,"args":{"name":${JSON.stringify(pname)}}}`);
    meta.push(`{"name":"process_sort_index","ph":"M","pid":${p.pid},"tid":0,"args":{"sort_index":${p.pid}}}`);
    for (const v of [...p.vcpus].sort((a, b) => a - b)) {
      meta.push(`{"name":"thread_name","ph":"M","pid":${p.pid},"tid":${v + 1},"args":{"name":"vcpu ${v}"}}`);
      meta.push(`{"name":"thread_sort_index","ph":"M","pid":${p.pid},"tid":${v + 1},"args":{"sort_index":${v}}}`);
    }
  }
  if (meta.length) yield (first ? '' : ',\n') + meta.join(',\n');
  const other = {
    tool: 'exitscope',
    exits,
    tsBaseNs: origin === null ? null : origin.toString(),
    timeUnit: 'ts and dur in microseconds from tsBaseNs (the first exit), exact to the nanosecond',
    inputs: streams.map((s) => s.path),
    kaslr: ctx.source.symbolizer?.slide?.note ?? 'no map given',
  };
  yield `\n],"displayTimeUnit":"ns","otherData":${JSON.stringify(other)}}\n`;
}
