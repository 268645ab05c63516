/** exitscope diff: the paper's Table 4 (exits per trap address before and after) for any two traces. */
import { DIFF_VIEWS, diff, type DiffView } from '../../analyze/diff.js';
import { openTrace } from '../../formats/index.js';
import { ExitscopeError } from '../../model/errors.js';
import { emit, formatOption, inputOptions, inputPath, list, mapOption, outputOption, parseKaslr, parseVcpus, wholeNumber, type Command } from '../common.js';
import { printRejections } from '../io.js';
import { InputProgress, progressSettings, quietOption } from '../progress.js';

export const command: Command = {
  usage: 'diff <before> <after>',
  describe: "compare two traces per trap address and per function (the paper's Table 4): exits and exit time before and after, change and ratio",
  options: (y) => quietOption(formatOption(outputOption(inputOptions(mapOption(y)))))
    .positional('before', { type: 'string', describe: 'the trace before the change' })
    .positional('after', { type: 'string', describe: 'the trace after the change' })
    .option('map-after', { type: 'string', array: true, describe: "the after trace's guest kernel map, when it runs another build (default: --map)" })
    .option('by', { type: 'string', default: DIFF_VIEWS.join(','), describe: `views: ${DIFF_VIEWS.join(', ')} (comma list)` })
    .option('sort', { choices: ['count', 'time'] as const, default: 'count' as const, describe: 'rank rows by the absolute change in exits or in exit time' })
    .option('top', { type: 'string', default: '20', describe: 'rows per view (0 = all)' })
    .option('reason', { type: 'string', array: true, describe: 'only these exit reasons (e.g. IO_INSTRUCTION for the paper\'s inb/outb table)' })
    .option('exclude-reason', { type: 'string', array: true, describe: 'leave out these exit reasons' })
    .option('vcpu', { type: 'string', array: true, describe: 'only these vcpus (comma list)' })
    .option('include-idle', { type: 'boolean', default: false, describe: 'count idle (HLT/MWAIT) time in exit time' })
    .option('keep-unknown', { type: 'boolean', default: false, describe: 'one row per unresolved address instead of [guest user] / [guest kernel, no symbol] / [firmware]' }),
  async run(args, io) {
    const views = list(args.by);
    for (const v of views) if (!(DIFF_VIEWS as readonly string[]).includes(v)) throw new ExitscopeError(`--by: unknown view '${v}' (choose from: ${DIFF_VIEWS.join(', ')})`);
    const before = inputPath(args.before), after = inputPath(args.after);
    if (before === '-' && after === '-') throw new ExitscopeError('diff: only one of the two traces can be standard input');
    const progress = new InputProgress(progressSettings(io, Boolean(args.quiet)));
    const open = async (p: string) => progress.track(await openTrace(p, { strict: Boolean(args.strict), format: args['input-format'] as string | undefined, stdin: io.stdin }));
    let rep;
    try {
      rep = await diff({
        before: await open(before),
        after: await open(after),
        maps: list(args.map),
        mapsAfter: list(args['map-after']),
        kaslr: parseKaslr(args.kaslr),
        views: views as DiffView[],
        sort: args.sort as 'count' | 'time',
        top: wholeNumber('top', args.top),
        reasons: list(args.reason),
        excludeReasons: list(args['exclude-reason']),
        vcpus: parseVcpus(args.vcpu),
        includeIdle: Boolean(args['include-idle']),
        keepUnknown: Boolean(args['keep-unknown']),
      });
    } finally {
      progress.finish();
    }
    printRejections([...rep.before.inputs, ...rep.after.inputs], io);
    return emit(io, args, 'diff', rep);
  },
};
