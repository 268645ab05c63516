/** exitscope replay */
import { ExitscopeError } from '../../model/errors.js';
import { replay } from '../../replay/index.js';
import { writableFormats, writerFor } from '../../formats/index.js';
import { list, parseKaslr, transitionNs, outputOption, mapOption, type Command, inputPath } from '../common.js';
import { passSpecs, passOptions } from '../pass-options.js';
import { openOutput, writeAll } from '../io.js';

export const command: Command = {
  usage: 'replay <trace>',
  describe: 'rewrite a trace through passes and write the result',
  options: (y) => outputOption(passOptions(mapOption(y)))
    .positional('trace', { type: 'string' })
    .option('to', { choices: writableFormats(), default: 'csv', describe: 'output format' }),
  async run(args, io) {
    const passes = await passSpecs(args);
    if (passes.length === 0) throw new ExitscopeError('replay: name at least one --pass (e.g. --pass coalesce-io) or a --pipeline file');
    const res = await replay({ input: inputPath(args.trace), maps: list(args.map), passes, transitionNs: transitionNs(args), kaslr: parseKaslr(args.kaslr) });
    const { out, close } = await openOutput(args.output as string | undefined, io);
    async function* chunks() { yield* res.trace.chunks(); }
    await writeAll(out, writerFor(String(args.to))(chunks(), { columns: res.trace.columns }));
    await close();
    for (const l of res.ledgers) {
      io.stderr.write(`${l.pass}: ${l.verdict === 'applied' ? `${l.exitsBefore} -> ${l.exitsAfter} exits (removed ${l.removed}, added ${l.added}, changed ${l.changed})` : `${l.verdict}: ${l.why}`}\n`);
    }
    return 0;
  },
};
