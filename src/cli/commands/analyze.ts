/** exitscope analyze */
import { ByValues, SortValues, analyze, type GroupBy, type SortBy } from '../../analyze/index.js';
import { inputPath, list, wholeNumber, parseKaslr, parseVcpus, emit, formatOption, outputOption, mapOption, inputOptions, type Command } from '../common.js';
import { printRejections } from '../io.js';

export const command: Command = {
  usage: 'analyze <traces..>',
  describe: 'rank guest functions (or reasons, ports, vcpus, callers) by VM exits and exit time',
  options: (y) => formatOption(outputOption(inputOptions(mapOption(y))))
    .positional('traces', { type: 'string', array: true, describe: 'trace files (any readable format; .gz; - for standard input)' })
    .option('by', { choices: ByValues, default: 'function' as const, describe: 'group rows by' })
    .option('sort', { choices: SortValues, default: 'count' as const, describe: 'rank by exit count or exit time' })
    .option('top', { type: 'string', default: '20', describe: 'rows to show (0 = all)' })
    .option('reason', { type: 'string', array: true, describe: 'only these exit reasons (comma list; VMX/SVM/libtraceevent names or codes; !NAME excludes)' })
    .option('exclude-reason', { type: 'string', array: true, describe: 'leave out these exit reasons' })
    .option('vcpu', { type: 'string', array: true, describe: 'only these vcpus (comma list)' }),
  async run(args, io) {
    const rep = await analyze({
      inputs: (args.traces as unknown[]).map(inputPath),
      maps: list(args.map),
      by: args.by as GroupBy,
      sort: args.sort as SortBy,
      top: wholeNumber('top', args.top),
      reasons: list(args.reason),
      excludeReasons: list(args['exclude-reason']),
      vcpus: parseVcpus(args.vcpu),
      strict: Boolean(args.strict),
      kaslr: parseKaslr(args.kaslr),
      inputFormat: args['input-format'] as string | undefined,
      stdin: io.stdin,
    });
    printRejections(rep.inputs, io);
    return emit(io, args, 'analyze', rep);
  },
};
