/**
 * The command line: parse flags, call the library, print. Every user error is
 * one line on stderr and exit code 2; no stack traces.
 */
import yargs, { type Argv } from 'yargs';
import { z } from 'zod';
import { analyze, AnalyzeReportSchema, ByValues, SortValues, type AnalyzeReport } from '../analyze/index.js';
import { openTrace } from '../formats/index.js';
import { writeCsv } from '../formats/csv.js';
import { writeJsonl } from '../formats/jsonl.js';
import { ExitscopeError } from '../model/errors.js';
import { parseAddress } from '../model/u64.js';
import { renderAnalyzeCsv, renderAnalyzeJson, renderAnalyzeMarkdown, renderAnalyzeTable } from '../report/analyze-report.js';
import type { KaslrOption } from '../symbols/index.js';
import { openOutput, printRejections, writeAll } from './io.js';
import { prepareEmulation, writeGuestMap, EmulatorConfigSchema } from '../emulator/index.js';
import { writeTraceCmd } from '../formats/trace-cmd-writer.js';
import { renderReproduce, reproduce } from '../emulator/reproduce.js';
import { estimate, splitPassArgs, EstimateReportSchema } from '../replay/estimate.js';
import { parsePassSpec, parsePipelineJson, PipelineSchema } from '../replay/pipeline.js';
import { replay } from '../replay/index.js';
import { renderEstimate } from '../report/estimate-report.js';
import { renderValidation, validate } from '../replay/validate.js';
import { advise, renderAdvice } from '../replay/advise.js';
import { readFileSync, writeFileSync } from 'node:fs';

const SCHEMAS: Record<string, z.ZodType> = { analyze: AnalyzeReportSchema, estimate: EstimateReportSchema, pipeline: PipelineSchema, 'emulate-config': EmulatorConfigSchema };

function list(v: unknown): string[] {
  const arr = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return arr.flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter(Boolean);
}

function parseKaslr(v: string): KaslrOption {
  if (v === 'auto') return 'auto';
  if (v === 'off' || v === 'none') return 0n;
  const a = parseAddress(v);
  if (a === null) throw new ExitscopeError(`--kaslr: expected auto, off or a hex offset like 0x1e000000, got '${v}'`);
  return a;
}

function parseVcpus(v: unknown): number[] {
  return list(v).map((s) => {
    if (!/^\d+$/.test(s)) throw new ExitscopeError(`--vcpu: '${s}' is not a vcpu number`);
    return Number(s);
  });
}

function render(rep: AnalyzeReport, format: string): string {
  switch (format) {
    case 'json': return renderAnalyzeJson(rep);
    case 'md': return renderAnalyzeMarkdown(rep);
    case 'csv': return renderAnalyzeCsv(rep);
    default: return renderAnalyzeTable(rep);
  }
}

function build(argv: string[]): Argv {
  return yargs(argv)
    .scriptName('exitscope')
    .usage('$0 <command> [options]\n\nWhere do VM exits come from, and what would an optimization buy?')
    .command('analyze <traces..>', 'rank guest functions (or reasons, ports, vcpus, callers) by VM exits and exit time', (y) => y
      .positional('traces', { type: 'string', array: true, describe: 'trace files (csv, jsonl; .gz; - for stdin)' })
      .option('map', { type: 'string', array: true, describe: 'guest kernel map: System.map, kallsyms, vmlinux, module.ko@0xBASE (repeatable)' })
      .option('by', { choices: ByValues, default: 'function' as const, describe: 'group rows by' })
      .option('sort', { choices: SortValues, default: 'count' as const, describe: 'rank by exit count or exit time' })
      .option('top', { type: 'number', default: 20, describe: 'rows to show (0 = all)' })
      .option('format', { choices: ['table', 'md', 'csv', 'json'] as const, default: 'table' as const })
      .option('reason', { type: 'string', array: true, describe: 'only these exit reasons (comma list; VMX or SVM names)' })
      .option('vcpu', { type: 'string', array: true, describe: 'only these vcpus (comma list)' })
      .option('kaslr', { type: 'string', default: 'auto', describe: 'KASLR slide: auto, off, or 0xOFFSET' })
      .option('input-format', { type: 'string', describe: 'skip sniffing: csv, jsonl' })
      .option('strict', { type: 'boolean', default: false, describe: 'stop at the first rejected line (exit 2)' })
      .option('output', { alias: 'o', type: 'string', describe: 'write the report here instead of stdout' }))
    .command('convert <input>', 'convert a trace to canonical CSV or JSON Lines', (y) => y
      .positional('input', { type: 'string', describe: 'trace file (any readable format; - for stdin)' })
      .option('to', { choices: ['csv', 'jsonl'] as const, default: 'csv' as const })
      .option('output', { alias: 'o', type: 'string', describe: 'output file (default stdout)' })
      .option('input-format', { type: 'string' })
      .option('strict', { type: 'boolean', default: false }))
    .command('estimate <trace>', 'estimate what optimizations would buy on this trace: exits, exit time, speedup range', (y) => y
      .positional('trace', { type: 'string' })
      .option('map', { type: 'string', array: true, describe: 'guest kernel map(s), as for analyze' })
      .option('pass', { type: 'string', array: true, describe: 'coalesce-io, timer-hz:100, drop:FN, drop-caller:FN, drop-io:port=..., virtio, apicv, pv-eoi, coalesced-mmio:..., presets paper|napi-off|modern-host' })
      .option('pipeline', { type: 'string', describe: 'JSON file {"passes":[{"pass":"timer-hz","hz":100}, ...]}' })
      .option('transition-ns', { type: 'number', describe: 'hardware VM exit+entry cost (default: inferred from the trace)' })
      .option('kaslr', { type: 'string', default: 'auto' })
      .option('bootstrap', { type: 'number', default: 1000, describe: 'bootstrap resamples for the 95% intervals' })
      .option('format', { choices: ['table', 'md', 'json'] as const, default: 'table' as const })
      .option('output', { alias: 'o', type: 'string' }))
    .command('replay <trace>', 'rewrite a trace through passes and write the result', (y) => y
      .positional('trace', { type: 'string' })
      .option('map', { type: 'string', array: true })
      .option('pass', { type: 'string', array: true })
      .option('pipeline', { type: 'string' })
      .option('transition-ns', { type: 'number' })
      .option('to', { choices: ['csv', 'jsonl'] as const, default: 'csv' as const })
      .option('output', { alias: 'o', type: 'string', describe: 'rewritten trace (default stdout)' }))
    .command('emulate', 'generate a VM-exit trace from the bundled guest model (paper workloads, every optimization switchable)', (y) => y
      .option('workload', { type: 'string', describe: 'disk | net | jbb' })
      .option('scenario', { type: 'string', describe: 'JSON scenario file (same fields as the flags; flags win)' })
      .option('net-test', { type: 'string', describe: 'TCP_STREAM | UDP_STREAM | TCP_RR | UDP_RR' })
      .option('nic', { type: 'string', describe: 'rtl8139 | e1000 | virtio' })
      .option('napi', { type: 'string', describe: 'on | off' })
      .option('disk', { type: 'string', describe: 'ide (drivers/ide) | ata (libata) | virtio' })
      .option('disk-test', { type: 'string', describe: 'write | read | both' })
      .option('block-kb', { type: 'string', array: true, describe: 'bonnie++ block sizes in KiB (comma list)' })
      .option('hz', { type: 'number', describe: 'guest tick rate: 100 | 250 | 1000' })
      .option('iosched', { type: 'string', describe: 'guest I/O scheduler: cfq | noop' })
      .option('guest-opt', { type: 'string', array: true, describe: 'coalesce-io, no-pmtmr-verify (repeatable)' })
      .option('host-opt', { type: 'string', array: true, describe: 'apicv, pv-eoi, coalesced-mmio (repeatable)' })
      .option('vcpus', { type: 'number' })
      .option('duration', { type: 'number', describe: 'simulated seconds' })
      .option('ops', { type: 'number', describe: 'stop after this many workload operations' })
      .option('seed', { type: 'number' })
      .option('profile', { type: 'string', describe: 'host profile: core2-kvm76 | modern | FILE.json' })
      .option('emit', { choices: ['csv', 'trace-cmd'] as const, default: 'csv' as const, describe: 'trace format' })
      .option('output', { alias: 'o', type: 'string', describe: 'trace file (default stdout)' })
      .option('map-out', { type: 'string', describe: 'also write the guest kernel map (System.map format)' })
      .option('summary', { type: 'string', describe: 'write a JSON summary: workload metric, time, exits by reason, config' }))
    .command('advise <trace>', 'find the optimizations this trace would gain most from, with evidence and the change to make', (y) => y
      .positional('trace', { type: 'string' })
      .option('map', { type: 'string', array: true })
      .option('format', { choices: ['table', 'json'] as const, default: 'table' as const }))
    .command('validate', 'check estimates against the emulator: estimated vs measured exits, exit time and throughput per optimization', (y) => y
      .option('scale', { type: 'number', default: 1, describe: 'multiply the workload sizes' })
      .option('only', { type: 'string', array: true, describe: 'optimizations to check (coalesce-io, timer-hz 1000->100, napi-off, ...)' })
      .option('seed', { type: 'number', default: 1 })
      .option('format', { choices: ['table', 'json'] as const, default: 'table' as const }))
    .command('reproduce', "rebuild the paper's Tables 1-4 and Figs. 7-9 from emulated runs, paper vs model", (y) => y
      .option('only', { type: 'string', array: true, describe: 'table1..table4, fig7, fig8, sched, fig9' })
      .option('scale', { type: 'number', default: 1, describe: 'multiply the simulated durations' })
      .option('seed', { type: 'number', default: 1 })
      .option('format', { choices: ['table', 'json'] as const, default: 'table' as const }))
    .command('schema <name>', 'print the JSON Schema of a JSON output', (y) => y
      .positional('name', { choices: Object.keys(SCHEMAS), describe: 'which output' }))
    .demandCommand(1, 'name a command: analyze, convert or schema')
    .strict()
    .help()
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      throw new ExitscopeError(`${String(msg).replace(/\s*\n\s*/g, ' ')} (see exitscope --help)`);
    });
}

async function run(args: Record<string, unknown>): Promise<number> {
  const cmd = String((args._ as unknown[])[0]);
  if (cmd === 'analyze') {
    const top = Number(args.top);
    if (!Number.isInteger(top) || top < 0) throw new ExitscopeError(`--top: expected a whole number >= 0, got '${args.top}'`);
    const rep = await analyze({
      inputs: args.traces as string[],
      maps: list(args.map),
      by: args.by as AnalyzeReport['by'],
      sort: args.sort as AnalyzeReport['sort'],
      top,
      reasons: list(args.reason),
      vcpus: parseVcpus(args.vcpu),
      strict: Boolean(args.strict),
      kaslr: parseKaslr(String(args.kaslr)),
      inputFormat: args['input-format'] as string | undefined,
    });
    printRejections(rep.inputs);
    const { out, close } = await openOutput(args.output as string | undefined);
    out.write(render(rep, String(args.format)));
    await close();
    return 0;
  }
  if (cmd === 'convert') {
    const stream = await openTrace(args.input === '' || args.input === undefined ? '-' : String(args.input), { strict: Boolean(args.strict), format: args['input-format'] as string | undefined });
    const { out, close } = await openOutput(args.output as string | undefined);
    // The header needs the declared columns, known once the reader has started.
    const it = stream.chunks[Symbol.asyncIterator]();
    const first = await it.next();
    let exits = 0;
    async function* chunks() {
      if (!first.done) { exits += first.value.length; yield first.value; }
      for (;;) { const r = await it.next(); if (r.done) return; exits += r.value.length; yield r.value; }
    }
    const writer = args.to === 'jsonl' ? writeJsonl(chunks(), stream.columns) : writeCsv(chunks(), stream.columns);
    await writeAll(out, writer);
    await close();
    const s = stream.stats;
    printRejections([s]);
    const c = stream.counters;
    const extra = c.lostEvents !== undefined ? `; ${c.lostEvents} lost events, ${c.unpairedExits} unpaired exits, ${c.unpairedEntries} unpaired entries, time went backwards ${c.timeWentBackwards}x` : '';
    process.stderr.write(`${s.path}: ${s.format}, ${s.lines} lines: ${s.events} events, ${s.skipped} skipped, ${s.rejected} rejected${s.header ? ', 1 header' : ''} -> ${exits} exits${extra}\n`);
    return 0;
  }
  if (cmd === 'estimate' || cmd === 'replay') {
    // Pass specs keep their commas (drop:a,b); only repetition separates them.
    const passTexts = (Array.isArray(args.pass) ? args.pass : args.pass === undefined ? [] : [args.pass]).map(String);
    let { specs, notEstimable } = splitPassArgs(passTexts, parsePassSpec);
    if (args.pipeline) specs = [...specs, ...parsePipelineJson(readFileSync(String(args.pipeline), 'utf8'), String(args.pipeline))];
    if (specs.length === 0 && notEstimable.length === 0) throw new ExitscopeError(`${cmd}: name at least one --pass (e.g. --pass coalesce-io) or a --pipeline file`);
    const tn = args['transition-ns'];
    if (tn !== undefined && !(Number(tn) >= 0)) throw new ExitscopeError(`--transition-ns: expected ns >= 0, got '${tn}'`);
    if (cmd === 'estimate') {
      const B = Number(args.bootstrap);
      if (!Number.isInteger(B) || B < 0) throw new ExitscopeError(`--bootstrap: expected a whole number >= 0, got '${args.bootstrap}'`);
      const rep = await estimate({ input: String(args.trace), maps: list(args.map), passes: specs, notEstimable, transitionNs: tn === undefined ? undefined : Number(tn), kaslr: parseKaslr(String(args.kaslr)), bootstrap: B });
      printRejections([rep.input]);
      const { out, close } = await openOutput(args.output as string | undefined);
      out.write(args.format === 'json' ? JSON.stringify(rep, null, 2) + '\n' : renderEstimate(rep, args.format === 'md'));
      await close();
      return 0;
    }
    const res = await replay({ input: String(args.trace), maps: list(args.map), passes: specs, transitionNs: tn === undefined ? undefined : Number(tn) });
    const { out, close } = await openOutput(args.output as string | undefined);
    async function* chunks() { yield* res.trace.chunks(); }
    await writeAll(out, args.to === 'jsonl' ? writeJsonl(chunks(), res.trace.columns) : writeCsv(chunks(), res.trace.columns));
    await close();
    for (const l of res.ledgers) process.stderr.write(`${l.pass}: ${l.exitsBefore} -> ${l.exitsAfter} exits (removed ${l.removed}, added ${l.added}, changed ${l.changed})\n`);
    return 0;
  }
  if (cmd === 'emulate') {
    let base: Record<string, unknown> = {};
    if (args.scenario) {
      try {
        base = JSON.parse(readFileSync(String(args.scenario), 'utf8')) as Record<string, unknown>;
      } catch (e) {
        throw new ExitscopeError(`${args.scenario}: cannot read scenario (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
    const flag = (name: string, key: string, conv: (v: unknown) => unknown = (v) => v): void => {
      if (args[name] !== undefined) base[key] = conv(args[name]);
    };
    flag('workload', 'workload');
    flag('net-test', 'netTest');
    flag('nic', 'nic');
    flag('napi', 'napi');
    flag('disk', 'disk');
    flag('disk-test', 'diskTest');
    flag('block-kb', 'blockKB', (v) => list(v).map(Number));
    flag('hz', 'hz');
    flag('iosched', 'iosched');
    flag('guest-opt', 'guestOpts', list);
    flag('host-opt', 'hostOpts', list);
    flag('vcpus', 'vcpus');
    flag('duration', 'duration');
    flag('ops', 'ops');
    flag('seed', 'seed');
    flag('profile', 'profile');
    if (base.workload === undefined) throw new ExitscopeError('emulate: --workload is required (disk, net or jbb)');
    const em = prepareEmulation(base, args.scenario ? String(args.scenario) : 'emulate');
    const { out, close } = await openOutput(args.output as string | undefined);
    const columns = new Set(['port', 'size', 'dir', 'value', 'gpa', 'caller'] as const);
    const text = args.emit === 'trace-cmd' ? writeTraceCmd(em.chunks()) : writeCsv(em.chunks(), columns);
    await writeAll(out, text);
    await close();
    if (args['map-out']) writeGuestMap(String(args['map-out']));
    const sum = em.summary!;
    if (args.summary) writeFileSync(String(args.summary), JSON.stringify(sum, null, 2) + '\n');
    process.stderr.write(`emulated ${sum.config.workload} on ${sum.profile}: ${(sum.simulatedNs / 1e9).toFixed(2)} s simulated, ${sum.exits.toLocaleString('en-US')} exits, ${sum.metric.name} ${sum.metric.value.toFixed(2)} ${sum.metric.unit}\n`);
    return 0;
  }
  if (cmd === 'advise') {
    const rep = await advise({ input: String(args.trace), maps: list(args.map) });
    process.stdout.write(args.format === 'json' ? JSON.stringify(rep, null, 2) + '\n' : renderAdvice(rep));
    return 0;
  }
  if (cmd === 'validate') {
    const scale = Number(args.scale);
    if (!(scale > 0)) throw new ExitscopeError(`--scale: expected a positive number, got '${args.scale}'`);
    const rows = await validate({ scale, seed: Number(args.seed), only: args.only ? (args.only as string[]).map(String) : undefined });
    process.stdout.write(args.format === 'json' ? JSON.stringify({ schema: 'exitscope.validate/v1', rows }, null, 2) + '\n' : renderValidation(rows));
    return 0;
  }
  if (cmd === 'reproduce') {
    const scale = Number(args.scale);
    if (!(scale > 0)) throw new ExitscopeError(`--scale: expected a positive number, got '${args.scale}'`);
    const items = await reproduce({ scale, seed: Number(args.seed), only: args.only ? list(args.only) : undefined });
    process.stdout.write(args.format === 'json' ? JSON.stringify({ schema: 'exitscope.reproduce/v1', items }, null, 2) + '\n' : renderReproduce(items));
    return 0;
  }
  if (cmd === 'schema') {
    const schema = SCHEMAS[String(args.name)];
    process.stdout.write(JSON.stringify(z.toJSONSchema(schema), null, 2) + '\n');
    return 0;
  }
  throw new ExitscopeError(`unknown command '${cmd}'`);
}

export async function main(argv: string[]): Promise<number> {
  try {
    const args = (await build(argv).parseAsync()) as Record<string, unknown>;
    if (args.help || args.version) return 0;
    return await run(args);
  } catch (e) {
    if (e instanceof ExitscopeError) {
      process.stderr.write(`exitscope: ${e.message}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    process.stderr.write(`exitscope: internal error: ${err?.message ?? String(e)}${process.env.EXITSCOPE_DEBUG ? '\n' + err?.stack : ' (EXITSCOPE_DEBUG=1 shows the stack)'}\n`);
    return 1;
  }
}
