/** exitscope report: one self-contained HTML file with the charts a performance engineer looks at first. */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ExitscopeError } from '../../model/errors.js';
import { collectHtmlReport, renderHtmlReport } from '../../report/html/index.js';
import { STDIO_ARG, openOutput, printRejections } from '../io.js';
import { inputOptions, inputPath, list, mapOption, parseKaslr, transitionNs, wholeNumber, type Command } from '../common.js';
import { passOptions, passSpecs } from '../pass-options.js';
import { InputProgress, progressSettings, quietOption } from '../progress.js';
import { groupDigits } from '../../model/numbers.js';

/** Fails before any reading when the report could not be written (a long trace should not be read for nothing). */
async function checkWritable(path: string): Promise<void> {
  const where = resolve(path);
  const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  try {
    const st = await stat(where);
    if (st.isDirectory()) throw new ExitscopeError(`${path}: cannot write the report (is a directory; name a file, e.g. ${path.replace(/\/$/, '')}/report.html)`);
    await access(where, constants.W_OK);
    return;
  } catch (e) {
    if (e instanceof ExitscopeError) throw e;
    if (code(e) !== 'ENOENT') throw new ExitscopeError(`${path}: cannot write the report (${code(e) === 'EACCES' ? 'permission denied' : code(e)})`);
  }
  try {
    const d = await stat(dirname(where));
    if (!d.isDirectory()) throw new ExitscopeError(`${path}: cannot write the report (${dirname(path)} is not a directory)`);
    await access(dirname(where), constants.W_OK);
  } catch (e) {
    if (e instanceof ExitscopeError) throw e;
    throw new ExitscopeError(`${path}: cannot write the report (${code(e) === 'ENOENT' ? 'no such directory' : code(e) === 'EACCES' ? 'permission denied' : code(e)})`);
  }
}

export const command: Command = {
  usage: 'report <traces..>',
  describe: 'write one self-contained HTML report (opens offline): hot functions, reasons, exits over time, durations, devices, vcpus, kernel vs user, VMs, and with --pass the estimate',
  options: (y) => quietOption(passOptions(inputOptions(mapOption(y))))
    .positional('traces', { type: 'string', array: true, describe: 'trace files (any readable format; .gz; - for standard input)' })
    .option('output', { alias: 'o', type: 'string', describe: 'the HTML file to write (standard output when redirected)' })
    .option('top', { type: 'string', default: '20', describe: 'rows per table and bar chart' })
    .option('iomap', { type: 'string', array: true, describe: "the guest's /proc/ioports or /proc/iomem, to name PCI devices (repeatable)" })
    .option('title', { type: 'string', describe: 'the report\'s title (default: the trace names)' })
    .option('bootstrap', { type: 'string', default: '1000', describe: 'bootstrap resamples for the estimate\'s 95% intervals (with --pass)' }),
  async run(args, io) {
    const output = args.output as string | undefined;
    const toStdout = !output || output === '-' || output === STDIO_ARG;
    if (toStdout && io.stdout === process.stdout && process.stdout.isTTY) throw new ExitscopeError('report: HTML output; give -o FILE.html (or redirect standard output)');
    if (!toStdout) await checkWritable(output);
    const top = wholeNumber('top', args.top, 1);
    const passes = await passSpecs(args);
    const progress = new InputProgress(progressSettings(io, Boolean(args.quiet)));
    let rep;
    try {
      rep = await collectHtmlReport({
        inputs: (args.traces as unknown[]).map(inputPath),
        maps: list(args.map),
        kaslr: parseKaslr(args.kaslr),
        strict: Boolean(args.strict),
        inputFormat: args['input-format'] as string | undefined,
        stdin: io.stdin,
        iomaps: list(args.iomap),
        top,
        passes,
        transitionNs: transitionNs(args),
        bootstrap: wholeNumber('bootstrap', args.bootstrap),
        title: args.title as string | undefined,
        track: (s) => progress.track(s),
      });
    } finally {
      progress.finish();
    }
    const html = renderHtmlReport(rep);
    const { out, close } = await openOutput(output, io);
    out.write(html);
    await close();
    printRejections(rep.inputs, io);
    if (!toStdout && !args.quiet) {
      const t = rep.totals;
      io.stderr.write(`${output}: ${(Buffer.byteLength(html) / 1024).toFixed(0)} KiB, ${t.exits ? `${groupDigits(t.exits)} exits` : 'no exits in the trace'}${rep.estimate ? `, estimate of ${passes.length} ${passes.length === 1 ? 'pass' : 'passes'}` : ''}; open it in a browser (no network needed)\n`);
    }
    return 0;
  },
};
