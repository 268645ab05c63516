/** exitscope convert */
import { describeCounters } from '../../model/counters.js';
import { openTrace, writableFormats, writerFor } from '../../formats/index.js';
import { outputOption, inputOptions, type Command , inputPath } from '../common.js';
import { openOutput, printRejections, writeAll } from '../io.js';

export const command: Command = {
  usage: 'convert <input>',
  describe: 'convert a trace to another trace format',
  options: (y) => outputOption(inputOptions(y))
    .positional('input', { type: 'string', describe: 'trace file (any readable format; - for standard input)' })
    .option('to', { choices: writableFormats(), default: 'csv', describe: 'output format' }),
  async run(args, io) {
    const stream = await openTrace(inputPath(args.input), { strict: Boolean(args.strict), format: args['input-format'] as string | undefined, stdin: io.stdin });
    const write = writerFor(String(args.to));
    const { out, close } = await openOutput(args.output as string | undefined, io);
    let exits = 0;
    async function* counted() { for await (const c of stream.chunks) { exits += c.length; yield c; } }
    await writeAll(out, write(counted(), { columns: stream.columns }));
    await close();
    const s = stream.stats;
    printRejections([s], io);
    const extra = describeCounters(stream.counters);
    io.stderr.write(`${s.path}: ${s.format}, ${s.lines} lines: ${s.events} events, ${s.skipped} skipped, ${s.rejected} rejected${s.header ? ', 1 header' : ''} -> ${exits} exits${extra.length ? `; ${extra.join(', ')}` : ''}\n`);
    return 0;
  },
};
