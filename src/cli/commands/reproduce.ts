/** exitscope reproduce */
import { reproduce, REPRO_IDS } from '../../check/reproduce.js';
import { list, wholeNumber, positive, emit, formatOption, outputOption, type Command } from '../common.js';

export const command: Command = {
  usage: 'reproduce',
  describe: "rebuild the paper's Tables 1-4 and Figs. 7-9 from emulated runs, paper vs model",
  options: (y) => formatOption(outputOption(y))
    .option('only', { type: 'string', array: true, describe: REPRO_IDS.join(', ') })
    .option('scale', { type: 'string', default: '1', describe: 'multiply the simulated durations' })
    .option('seed', { type: 'string', default: '1' }),
  async run(args, io) {
    return emit(io, args, 'reproduce', await reproduce({ scale: positive('scale', args.scale), seed: wholeNumber('seed', args.seed), only: args.only ? list(args.only) : undefined }));
  },
};
