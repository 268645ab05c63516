/** exitscope convert: a trace to another trace format, or to an export (folded, chrome, parquet, ...). */
import { openSymbolized } from '../../analyze/source.js';
import { openTrace, writableFormats, writerFor } from '../../formats/index.js';
import { describeCounters } from '../../model/counters.js';
import { ExitscopeError } from '../../model/errors.js';
import { EXPORTS, exporterFor } from '../../report/exports.js';
import { inputPath, inputOptions, list, mapOption, outputOption, parseKaslr, type Command } from '../common.js';
import { openOutput, printRejections, writeAll } from '../io.js';

export const command: Command = {
  usage: 'convert <input>',
  describe: 'convert a trace to another trace format, or export its exits (folded stacks, Chrome trace, Parquet, ...)',
  options: (y) => {
    let z = mapOption(outputOption(inputOptions(y)))
      .positional('input', { type: 'string', describe: 'trace file (any readable format; - for standard input)' })
      .option('to', { choices: [...writableFormats(), ...EXPORTS.map((e) => e.name)], default: 'csv', describe: `output: a trace format (${writableFormats().join(', ')}) or an export (${EXPORTS.map((e) => `${e.name}: ${e.describe}`).join('; ') || 'none'})` });
    const seen = new Set<string>();
    for (const e of EXPORTS) {
      for (const [flag, f] of Object.entries(e.flags ?? {})) {
        if (seen.has(flag)) continue;
        seen.add(flag);
        z = z.option(flag, { type: f.type, describe: `${f.describe} (--to ${e.name})`, ...(f.choices ? { choices: f.choices } : {}), ...(f.default !== undefined ? { default: f.default } : {}) });
      }
    }
    return z;
  },
  async run(args, io) {
    const to = String(args.to);
    const exporter = exporterFor(to);
    const output = args.output as string | undefined;
    if (exporter) {
      if (exporter.binary && !output && process.stdout.isTTY && io.stdout === process.stdout) throw new ExitscopeError(`convert --to ${to}: binary output; give -o FILE or redirect standard output`);
      const source = await openSymbolized({ inputs: [inputPath(args.input)], maps: list(args.map), kaslr: parseKaslr(args.kaslr), strict: Boolean(args.strict), inputFormat: args['input-format'] as string | undefined, stdin: io.stdin });
      const flags = Object.fromEntries(Object.keys(exporter.flags ?? {}).map((k) => [k, args[k]]));
      const { out, close } = await openOutput(output, io);
      await writeAll(out, exporter.write({ source, flags, outputPath: output && output !== '-' ? output : null }));
      await close();
      printRejections(source.streams.map((s) => s.stats), io);
      for (const n of source.notes) io.stderr.write(`note: ${n}\n`);
      return 0;
    }
    const stream = await openTrace(inputPath(args.input), { strict: Boolean(args.strict), format: args['input-format'] as string | undefined, stdin: io.stdin });
    const write = writerFor(to);
    const { out, close } = await openOutput(output, io);
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
