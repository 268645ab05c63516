/** exitscope emulate */
import { readFile, writeFile } from 'node:fs/promises';
import { ExitscopeError } from '../../model/errors.js';
import { EmulatorConfigSchema, prepareEmulation, writeGuestMap } from '../../emulator/index.js';
import { writableFormats, writerFor } from '../../formats/index.js';
import { writeInWorker } from '../../formats/write-pool.js';
import { flagsFromSchema, valuesFromFlags } from '../schema-flags.js';
import { outputOption, type Command } from '../common.js';
import { openOutput, writeAll } from '../io.js';
import { groupDigits } from '../../model/numbers.js';

const emulateFlags = flagsFromSchema(EmulatorConfigSchema);

export const command: Command = {
  usage: 'emulate',
  describe: 'generate a VM-exit trace from the bundled guest model (paper workloads, every optimization switchable)',
  options: (y) => {
    let z = outputOption(y).option('scenario', { type: 'string', describe: 'JSON scenario file (same fields as the flags; flags win; exitscope schema emulate-config)' });
    for (const f of emulateFlags) z = z.option(f.flag, { type: f.kind === 'array' ? 'string' : f.kind, array: f.kind === 'array', describe: f.describe });
    return z
      .option('emit', { choices: writableFormats(), default: 'csv', describe: 'trace format' })
      .option('map-out', { type: 'string', describe: 'also write the guest kernel map (System.map format)' })
      .option('summary', { type: 'string', describe: 'write a JSON summary: workload metric, time, exits by reason, config (exitscope schema emulate-summary)' });
  },
  async run(args, io) {
    let base: Record<string, unknown> = {};
    const scenario = args.scenario as string | undefined;
    if (scenario) {
      let text: string;
      try { text = await readFile(scenario, 'utf8'); } catch (e) { throw new ExitscopeError(`${scenario}: cannot read scenario (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
      try { base = JSON.parse(text) as Record<string, unknown>; } catch (e) { throw new ExitscopeError(`${scenario}: not JSON (${(e as Error).message})`); }
    }
    Object.assign(base, valuesFromFlags(emulateFlags, args));
    if (base.workload === undefined) throw new ExitscopeError('emulate: --workload is required (disk, net or jbb)');
    const em = prepareEmulation(base, scenario ?? 'emulate');
    const { out, close } = await openOutput(args.output as string | undefined, io);
    // The guest model makes the chunks here while another core renders them (about half of a run each); small chunks, so
    // that little is left to render once the model is done.
    const emit = String(args.emit);
    await writeAll(out, writeInWorker(emit, writerFor(emit), em.chunks(1 << 14), { columns: new Set(['port', 'size', 'dir', 'value', 'gpa', 'msr', 'caller']) }));
    await close();
    if (args['map-out']) writeGuestMap(String(args['map-out']), em);
    const sum = em.summary!;
    if (args.summary) await writeFile(String(args.summary), JSON.stringify(sum, null, 2) + '\n');
    io.stderr.write(`emulated ${sum.config.workload} on ${sum.profile}: ${(sum.simulatedNs / 1e9).toFixed(2)} s simulated, ${groupDigits(sum.exits)} exits, ${sum.metric.name} ${sum.metric.value.toFixed(2)} ${sum.metric.unit}\n`);
    return 0;
  },
};
