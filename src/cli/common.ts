/** What the commands share: flag parsing helpers, option groups, and the way a result is printed. */
import type { Argv } from 'yargs';
import { ExitscopeError } from '../model/errors.js';
import { REPORT_FORMATS, renderReport, type ReportFormat, type ReportName, type ResultOf } from '../report/index.js';
import { parseAddress } from '../model/u64.js';
import type { KaslrOption } from '../symbols/index.js';
import { type CliIo, STDIO_ARG, openOutput } from './io.js';

export type Args = Record<string, unknown>;

export interface Command {
  /** yargs command string, e.g. `analyze <traces..>`. */
  usage: string;
  describe: string;
  options(y: Argv): Argv;
  run(args: Args, io: CliIo): Promise<number>;
}

/** A path argument; yargs hands `-` (standard input) on as ''. */
export function inputPath(v: unknown): string {
  const s = v === undefined ? '' : String(v);
  return s === '' || s === STDIO_ARG ? '-' : s;
}

export function list(v: unknown): string[] {
  const arr = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return arr.flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter(Boolean);
}

export function wholeNumber(flag: string, v: unknown, min = 0): number {
  const s = String(v);
  if (!/^\d+$/.test(s) || Number(s) < min) throw new ExitscopeError(`--${flag}: expected a whole number >= ${min}, got '${s}'`);
  return Number(s);
}

/** `10ms`, `1.5s`, `250us`, `500000ns` or bare ns, to ns. */
export function parseDuration(flag: string, v: unknown): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)?$/.exec(String(v).trim());
  const mult: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9 };
  const ns = m ? Number(m[1]) * mult[m[2] ?? 'ns'] : NaN;
  if (!(ns >= 1)) throw new ExitscopeError(`--${flag}: expected a duration like 10ms, 1s or 500us, got '${v}'`);
  return Math.round(ns);
}

export function positive(flag: string, v: unknown): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new ExitscopeError(`--${flag}: expected a positive number, got '${v}'`);
  return n;
}

export function parseKaslr(v: unknown): KaslrOption {
  const s = String(v ?? 'auto');
  if (s === 'auto') return 'auto';
  if (s === 'off' || s === 'none') return 0n;
  const a = parseAddress(s);
  if (a === null) throw new ExitscopeError(`--kaslr: expected auto, off or a hex offset like 0x1e000000, got '${s}'`);
  return a;
}

export function parseVcpus(v: unknown): number[] {
  return list(v).map((s) => {
    if (!/^\d+$/.test(s)) throw new ExitscopeError(`--vcpu: '${s}' is not a vcpu number`);
    return Number(s);
  });
}

export async function emit<K extends ReportName>(io: CliIo, args: Args, name: K, result: ResultOf<K>): Promise<number> {
  const { out, close } = await openOutput(args.output as string | undefined, io);
  out.write(await renderReport(name, result, (args.format ?? 'table') as ReportFormat));
  await close();
  return 0;
}

export const formatOption = (y: Argv): Argv => y.option('format', { choices: REPORT_FORMATS, default: 'table' as const, describe: 'report format' });
export const outputOption = (y: Argv): Argv => y.option('output', { alias: 'o', type: 'string', describe: 'write here instead of standard output' });
export const mapOption = (y: Argv): Argv => y
  .option('map', { type: 'string', array: true, describe: 'guest kernel map: System.map, kallsyms, vmlinux, module.ko@0xBASE (repeatable)' })
  .option('kaslr', { type: 'string', default: 'auto', describe: 'KASLR slide: auto, off, or 0xOFFSET' });
export const inputOptions = (y: Argv): Argv => y
  .option('input-format', { type: 'string', describe: 'skip sniffing (csv, jsonl, ftrace, ...)' })
  .option('strict', { type: 'boolean', default: false, describe: 'stop at the first rejected line (exit 2)' });
export function transitionNs(args: Args): number | undefined {
  const tn = args['transition-ns'];
  if (tn === undefined) return undefined;
  const n = Number(tn);
  if (!(n >= 0) || String(tn).trim() === '') throw new ExitscopeError(`--transition-ns: expected ns >= 0, got '${tn}'`);
  return n;
}

