/** exitscope summarize: one host's traces to a summary that merge combines with other hosts'. */
import { summarize } from '../../fleet/summarize.js';
import { REPORT_FORMATS, renderReport, type ReportFormat } from '../../report/index.js';
import { inputOptions, inputPath, list, mapOption, outputOption, parseKaslr, type Command } from '../common.js';
import { openOutput, printRejections } from '../io.js';

export const command: Command = {
  usage: 'summarize <traces..>',
  describe: "a mergeable summary of one host's traces: exits, exact times and duration sketches per function, reason, vcpu, VM, port, MMIO, MSR",
  options: (y) => outputOption(inputOptions(mapOption(y)))
    .positional('traces', { type: 'string', array: true, describe: "one host's trace files (any readable format; .gz; - for standard input)" })
    .option('host', { type: 'string', describe: "the host's name in the summary (default: this machine's hostname)" })
    .option('iomap', { type: 'string', array: true, describe: "the guest's /proc/ioports or /proc/iomem, to name devices (repeatable)" })
    .option('format', { choices: REPORT_FORMATS, default: 'json' as const, describe: 'json: the summary (what merge reads); table, md, csv: its hot-function view' }),
  async run(args, io) {
    const s = await summarize({
      inputs: (args.traces as unknown[]).map(inputPath),
      maps: list(args.map),
      kaslr: parseKaslr(args.kaslr),
      strict: Boolean(args.strict),
      inputFormat: args['input-format'] as string | undefined,
      stdin: io.stdin,
      host: args.host === undefined ? undefined : String(args.host),
      iomaps: list(args.iomap),
    });
    printRejections(s.traces, io);
    const format = String(args.format) as ReportFormat;
    const { out, close } = await openOutput(args.output as string | undefined, io);
    // Compact JSON: a summary's samples are many numbers, one per line would be most of the file.
    out.write(format === 'json' ? JSON.stringify(s) + '\n' : await renderReport('summary', s, format));
    await close();
    return 0;
  },
};
