/** exitscope estimate */
import { ExitscopeError } from '../../model/errors.js';
import { estimate } from '../../replay/estimate.js';
import { list, wholeNumber, parseKaslr, emit, transitionNs, formatOption, outputOption, mapOption, type Command, inputPath } from '../common.js';
import { passSpecs, passOptions } from '../pass-options.js';
import { printRejections } from '../io.js';

export const command: Command = {
  usage: 'estimate <trace>',
  describe: 'estimate what optimizations would buy on this trace: exits, exit time, speedup range',
  options: (y) => formatOption(outputOption(passOptions(mapOption(y))))
    .positional('trace', { type: 'string' })
    .option('bootstrap', { type: 'string', default: '1000', describe: 'bootstrap resamples for the 95% intervals' }),
  async run(args, io) {
    const passes = await passSpecs(args);
    if (passes.length === 0) throw new ExitscopeError('estimate: name at least one --pass (e.g. --pass coalesce-io) or a --pipeline file');
    const rep = await estimate({ input: inputPath(args.trace), maps: list(args.map), passes, transitionNs: transitionNs(args), kaslr: parseKaslr(args.kaslr), bootstrap: wholeNumber('bootstrap', args.bootstrap) });
    printRejections([rep.input], io);
    return emit(io, args, 'estimate', rep);
  },
};
