/** exitscope validate */
import { validate } from '../../check/validate.js';
import { wholeNumber, positive, emit, formatOption, outputOption, type Command } from '../common.js';

export const command: Command = {
  usage: 'validate',
  describe: 'check estimates against the emulator: estimated vs measured exits, exit time and throughput per optimization',
  options: (y) => formatOption(outputOption(y))
    .option('scale', { type: 'string', default: '1', describe: 'multiply the workload sizes' })
    .option('only', { type: 'string', array: true, describe: 'optimizations to check (coalesce-io, timer-hz 1000->100, napi-off, ...)' })
    .option('seed', { type: 'string', default: '1' }),
  async run(args, io) {
    const only = args.only ? (args.only as unknown[]).map(String) : undefined;
    return emit(io, args, 'validate', await validate({ scale: positive('scale', args.scale), seed: wholeNumber('seed', args.seed), only }));
  },
};
