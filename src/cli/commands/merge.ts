/** exitscope merge: summaries of many hosts into one, and any of its views as analyze prints it. */
import { SortValues, type SortBy } from '../../analyze/schema.js';
import { mergeSummaries, readSummary, summaryView, traceId } from '../../fleet/merge.js';
import { SUMMARY_VIEWS, type Summary } from '../../fleet/schema.js';
import { ExitscopeError } from '../../model/errors.js';
import { emit, formatOption, outputOption, wholeNumber, type Command } from '../common.js';
import { openOutput } from '../io.js';
import { groupDigits } from '../../model/numbers.js';

export const command: Command = {
  usage: 'merge <summaries..>',
  describe: 'merge host summaries exactly and print a view of the whole (hot functions, reasons, vcpus, ports, ...)',
  options: (y) => formatOption(outputOption(y))
    .positional('summaries', { type: 'string', array: true, describe: 'summary files written by exitscope summarize (or by merge --write-summary)' })
    .option('by', { type: 'string', default: 'function', describe: `the view: ${SUMMARY_VIEWS.join(', ')}` })
    .option('sort', { choices: SortValues, default: 'count' as const, describe: 'rank by exit count or exit time (handling time unless --include-idle)' })
    .option('top', { type: 'string', default: '20', describe: 'rows to show (0 = all)' })
    .option('include-idle', { type: 'boolean', default: false, describe: 'count idle (HLT/MWAIT) exit time in Time% and --sort time' })
    .option('write-summary', { type: 'string', describe: 'also write the merged summary here (itself mergeable: per rack, then per region)' }),
  async run(args, io) {
    const files = (args.summaries as unknown[] | undefined ?? []).map(String);
    if (files.length === 0) throw new ExitscopeError('merge: name at least one summary file');
    const top = wholeNumber('top', args.top);
    // One summary in memory besides the running merge, however many hosts.
    const where = new Map<string, string>();
    let acc: Summary | null = null;
    for (const f of files) {
      const s = await readSummary(f);
      for (const t of s.traces) {
        const id = traceId(t);
        if (t.exits > 0 && where.has(id)) throw new ExitscopeError(`${f}: the trace ${t.host}:${t.path} is also in ${where.get(id)}; merging would count its ${groupDigits(t.exits)} exits twice`);
        where.set(id, f);
      }
      acc = acc ? mergeSummaries([acc, s]) : s;
    }
    const merged = acc!;
    const saveTo = args['write-summary'] as string | undefined;
    if (saveTo) {
      const { out, close } = await openOutput(saveTo, io);
      out.write(JSON.stringify(merged) + '\n');
      await close();
    }
    const rep = summaryView(merged, { by: String(args.by), sort: args.sort as SortBy, top, includeIdle: Boolean(args['include-idle']), summaries: files.length });
    return emit(io, args, 'merge', rep);
  },
};
