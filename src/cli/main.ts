/**
 * The command line: a table of commands (one file each under commands/),
 * loaded only when named, so `exitscope --version` and a plain `analyze` do
 * not pay for the emulator or the estimator. Each command maps its parsed
 * flags to one library call and one report from the registry.
 *
 * Exit codes: 0 success (also when the reader of our output went away:
 * `| head`); 1 an internal error (a bug: EXITSCOPE_DEBUG=1 shows the stack);
 * 2 a user error (bad flag, missing or unreadable file, unknown format, a
 * rejected line under --strict, a map that does not fit the trace, a filter
 * that matches nothing, an empty input), always one line on stderr.
 */
import yargs, { type Argv } from 'yargs';
import { ExitscopeError } from '../model/errors.js';
import type { Command } from './common.js';
import { type CliIo, PROCESS_IO, STDIO_ARG } from './io.js';

interface Entry {
  name: string;
  usage: string;
  describe: string;
  load: () => Promise<{ command: Command }>;
}

const COMMANDS: readonly Entry[] = [
  { name: 'analyze', usage: 'analyze <traces..>', describe: 'rank guest functions (or reasons, ports, vcpus, callers) by VM exits and exit time', load: () => import('./commands/analyze.js') },
  { name: 'convert', usage: 'convert <input>', describe: 'convert a trace to another trace format, or export its exits (folded stacks, Chrome trace, Parquet)', load: () => import('./commands/convert.js') },
  { name: 'estimate', usage: 'estimate <trace>', describe: 'estimate what optimizations would buy on this trace: exits, exit time, speedup range', load: () => import('./commands/estimate.js') },
  { name: 'replay', usage: 'replay <trace>', describe: 'rewrite a trace through passes and write the result', load: () => import('./commands/replay.js') },
  { name: 'emulate', usage: 'emulate', describe: 'generate a VM-exit trace from the bundled guest model (paper workloads, every optimization switchable)', load: () => import('./commands/emulate.js') },
  { name: 'advise', usage: 'advise <trace>', describe: 'find the optimizations this trace would gain most from, with evidence and the change to make', load: () => import('./commands/advise.js') },
  { name: 'validate', usage: 'validate', describe: 'check estimates against the emulator: estimated vs measured exits, exit time and throughput per optimization', load: () => import('./commands/validate.js') },
  { name: 'reproduce', usage: 'reproduce', describe: "rebuild the paper's Tables 1-4 and Figs. 7-9 from emulated runs, paper vs model", load: () => import('./commands/reproduce.js') },
  { name: 'summarize', usage: 'summarize <traces..>', describe: "a mergeable summary of one host's traces (exact counts and times, duration sketches)", load: () => import('./commands/summarize.js') },
  { name: 'merge', usage: 'merge <summaries..>', describe: 'merge host summaries exactly and print any analyze view of the whole', load: () => import('./commands/merge.js') },
  { name: 'report', usage: 'report <traces..>', describe: 'one self-contained HTML report with charts: hot functions, reasons, exits over time, durations, devices, vcpus, estimate', load: () => import('./commands/report.js') },
  { name: 'diff', usage: 'diff <before> <after>', describe: "compare two traces per trap address and per function (the paper's Table 4)", load: () => import('./commands/diff.js') },
  { name: 'schema', usage: 'schema [name]', describe: 'print the JSON Schema of a JSON output or input file (without a name: list them)', load: () => import('./commands/schema.js') },
];

async function build(argv: string[], io: CliIo, ran: { code: number | null }): Promise<Argv> {
  const named = argv.find((a) => !a.startsWith('-'));
  const wanted = COMMANDS.filter((c) => c.name === named);
  const loaded = new Map<string, Command>();
  for (const c of wanted) loaded.set(c.name, (await c.load()).command);
  let y = yargs(argv)
    .scriptName('exitscope')
    .usage('$0 <command> [options]\n\nWhere do VM exits come from, and what would an optimization buy?');
  for (const c of COMMANDS) {
    const cmd = loaded.get(c.name);
    y = y.command(c.usage, c.describe, (b) => (cmd ? cmd.options(b) : b), async (args) => {
      ran.code = await (cmd ?? (await c.load()).command).run(args as Record<string, unknown>, io);
    });
  }
  // yargs renders and caches a command's whole help text right after starting its handler, for a failure message that
  // would show it; ours never does (fail() throws one line) and --help renders afresh. The render blocks this thread for
  // 60-80 ms at the start of every command run (measured with --cpu-prof: wrap-ansi and string-width under cacheHelpMessage).
  const usage = (y as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } }).getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
  return y
    .demandCommand(1, `name a command: ${COMMANDS.map((c) => c.name).join(', ')}`)
    .strict()
    .help()
    .version()
    .wrap(Math.min(110, io.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      throw new ExitscopeError(`${String(msg).replace(/\s*\n\s*/g, ' ')} (see exitscope --help)`);
    });
}

export async function main(argv: string[], io: CliIo = PROCESS_IO): Promise<number> {
  const ran: { code: number | null } = { code: null };
  try {
    // yargs drops a bare `-`; carry it through as a name no file can have (common.ts inputPath).
    await (await build(argv.map((a) => (a === '-' ? STDIO_ARG : a)), io, ran)).parseAsync();
    return ran.code ?? 0;
  } catch (e) {
    if (e instanceof ExitscopeError) {
      io.stderr.write(`exitscope: ${e.message}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    io.stderr.write(`exitscope: internal error: ${err?.message ?? String(e)}${process.env.EXITSCOPE_DEBUG ? '\n' + err?.stack : ' (EXITSCOPE_DEBUG=1 shows the stack)'}\n`);
    return 1;
  }
}
