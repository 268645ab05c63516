/** exitscope schema */
import { ExitscopeError } from '../../model/errors.js';
import { SCHEMAS, jsonSchema } from '../../report/schemas.js';
import { type Command } from '../common.js';

export const command: Command = {
  usage: 'schema [name]',
  describe: 'print the JSON Schema of a JSON output or input file (without a name: list them)',
  options: (y) => y.positional('name', { type: 'string', describe: Object.keys(SCHEMAS).join(', ') }),
  async run(args, io) {
    const name = args.name as string | undefined;
    if (name === undefined) { io.stdout.write(Object.keys(SCHEMAS).join('\n') + '\n'); return 0; }
    if (!SCHEMAS[name]) throw new ExitscopeError(`schema: unknown schema '${name}' (choose one of: ${Object.keys(SCHEMAS).join(', ')})`);
    io.stdout.write(JSON.stringify(jsonSchema(name), null, 2) + '\n');
    return 0;
  },
};
