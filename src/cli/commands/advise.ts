/** exitscope advise */
import { advise } from '../../replay/advise.js';
import { list, parseKaslr, emit, formatOption, outputOption, mapOption, type Command , inputPath } from '../common.js';

export const command: Command = {
  usage: 'advise <trace>',
  describe: 'find the optimizations this trace would gain most from, with evidence and the change to make',
  options: (y) => formatOption(outputOption(mapOption(y))).positional('trace', { type: 'string' }),
  async run(args, io) {
    return emit(io, args, 'advise', await advise({ input: inputPath(args.trace), maps: list(args.map), kaslr: parseKaslr(args.kaslr) }));
  },
};
