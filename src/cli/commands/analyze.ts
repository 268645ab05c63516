/** exitscope analyze */
import { DIMENSIONS, SortValues, analyze, type AnalyzeReport, type SortBy } from '../../analyze/index.js';
import { renderLiveTable } from '../../report/analyze-report.js';
import { inputPath, list, wholeNumber, parseKaslr, parseVcpus, parseDuration, emit, formatOption, outputOption, mapOption, inputOptions, type Command } from '../common.js';
import { printRejections } from '../io.js';
import { openTrace } from '../../formats/index.js';
import { InputProgress, progressSettings, quietOption } from '../progress.js';
import { ExitscopeError } from '../../model/errors.js';

export const command: Command = {
  usage: 'analyze <traces..>',
  describe: 'rank guest functions (or reasons, ports, MSRs, vcpus, VMs, callers; or several at once) by VM exits and exit time',
  options: (y) => quietOption(formatOption(outputOption(inputOptions(mapOption(y)))))
    .positional('traces', { type: 'string', array: true, describe: 'trace files (any readable format; .gz; - for standard input)' })
    .option('by', { type: 'string', default: 'function', describe: `group rows by one or more of ${DIMENSIONS.join(', ')} (comma list, e.g. vm,vcpu)` })
    .option('sort', { choices: SortValues, default: 'count' as const, describe: 'rank by exit count or exit time (handling time unless --include-idle)' })
    .option('top', { type: 'string', default: '20', describe: 'rows to show (0 = all)' })
    .option('reason', { type: 'string', array: true, describe: 'only these exit reasons (comma list; VMX/SVM/libtraceevent names or codes; !NAME excludes)' })
    .option('exclude-reason', { type: 'string', array: true, describe: 'leave out these exit reasons' })
    .option('vcpu', { type: 'string', array: true, describe: 'only these vcpus (comma list)' })
    .option('include-idle', { type: 'boolean', default: false, describe: 'count idle (HLT/MWAIT) exit time in Time% and --sort time' })
    .option('keep-unknown', { type: 'boolean', default: false, describe: 'one row per unresolved address instead of [guest user] / [guest kernel, no symbol] / [firmware]' })
    .option('interval', { type: 'string', describe: 'add a time series per row: exits and handling time per DURATION (e.g. 10ms)' })
    .option('iomap', { type: 'string', array: true, describe: "the guest's /proc/ioports or /proc/iomem, to name PCI devices (repeatable)" })
    .option('follow', { type: 'boolean', default: false, describe: 'keep reading a growing file or a pipe and redraw the table (Ctrl-C ends with the final report)' })
    .option('refresh', { type: 'string', default: '2', describe: 'seconds between redraws with --follow' }),
  async run(args, io) {
    const follow = Boolean(args.follow);
    const refreshS = Number(args.refresh);
    if (!(refreshS > 0)) throw new ExitscopeError(`--refresh: expected seconds > 0, got '${args.refresh}'`);
    let prev: AnalyzeReport | null = null;
    const abort = new AbortController();
    const onInt = (): void => abort.abort();
    if (follow) process.once('SIGINT', onInt);
    // A progress bar on a terminal for long inputs (not over a live view, which redraws itself).
    const progress = new InputProgress(follow ? null : progressSettings(io, Boolean(args.quiet)));
    const open = { strict: Boolean(args.strict), format: args['input-format'] as string | undefined, stdin: io.stdin, follow: follow ? abort.signal : undefined };
    try {
      const streams = [];
      for (const p of (args.traces as unknown[]).map(inputPath)) streams.push(progress.track(await openTrace(p, open)));
      const rep = await analyze({
        inputs: streams,
        maps: list(args.map),
        by: String(args.by),
        sort: args.sort as SortBy,
        top: wholeNumber('top', args.top),
        reasons: list(args.reason),
        excludeReasons: list(args['exclude-reason']),
        vcpus: parseVcpus(args.vcpu),
        strict: Boolean(args.strict),
        kaslr: parseKaslr(args.kaslr),
        inputFormat: args['input-format'] as string | undefined,
        stdin: io.stdin,
        includeIdle: Boolean(args['include-idle']),
        keepUnknown: Boolean(args['keep-unknown']),
        intervalNs: args.interval === undefined ? undefined : parseDuration('interval', args.interval),
        iomaps: list(args.iomap),
        follow: follow ? { signal: abort.signal } : undefined,
        progress: follow ? {
          everyMs: refreshS * 1000,
          report: (r) => {
            io.stdout.write((io.columns ? '\x1b[H\x1b[2J' : '') + renderLiveTable(r, prev, refreshS));
            prev = r;
          },
        } : undefined,
      });
      progress.finish();
      printRejections(rep.inputs, io);
      return emit(io, args, 'analyze', rep);
    } finally {
      progress.finish();
      if (follow) process.removeListener('SIGINT', onInt);
    }
  },
};
