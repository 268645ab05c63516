/** exitscope validate */
import { validate } from '../../check/validate.js';
import { wholeNumber, positive, emit, formatOption, outputOption, type Command } from '../common.js';

export const command: Command = {
  usage: 'validate',
  describe: 'check estimates against the emulator: estimated vs measured exits, exit time and throughput per optimization',
  options: (y) => formatOption(outputOption(y))
    .option('scale', { type: 'string', default: '1', describe: 'multiply the workload sizes' })
    .option('only', { type: 'string', array: true, describe: 'optimizations to check (coalesce-io, timer-hz 1000->100, napi-off, ...)' })
    .option('seed', { type: 'string', default: '1', describe: 'first seed' })
    .option('seeds', { type: 'string', default: '2', describe: 'how many seeds from --seed' })
    .option('matrix', { choices: ['full', 'reduced'] as const, default: 'full' as const, describe: 'every optimization on several workloads, devices, profiles, vcpu counts and pass pairs (full), or the subset npm test asserts (reduced)' }),
  async run(args, io) {
    const only = args.only ? (args.only as unknown[]).map(String) : undefined;
    return emit(io, args, 'validate', await validate({ scale: positive('scale', args.scale), seed: wholeNumber('seed', args.seed), seeds: wholeNumber('seeds', args.seeds, 1), matrix: args.matrix as 'full' | 'reduced', only }));
  },
};
