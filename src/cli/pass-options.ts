/**
 * The --pass / --pipeline flags of the commands that replay (estimate,
 * replay, report): apart from common.ts so that commands without passes
 * never load the pass registry (and zod with it).
 */
import type { Argv } from 'yargs';
import { readFile } from 'node:fs/promises';
import { ExitscopeError } from '../model/errors.js';
import { parsePassSpec, parsePipelineJson, passGrammar, type PassSpec } from '../replay/pipeline.js';
import type { Args } from './common.js';

/** Pass specs keep their commas (drop:a,b); only repetition separates them. */
export function passSpecs(args: Args): Promise<PassSpec[]> {
  const texts = (Array.isArray(args.pass) ? args.pass : args.pass === undefined ? [] : [args.pass]).map(String);
  const specs = texts.map(parsePassSpec);
  const pipeline = args.pipeline as string | undefined;
  if (!pipeline) return Promise.resolve(specs);
  return readFile(pipeline, 'utf8').then(
    (text) => [...specs, ...parsePipelineJson(text, pipeline)],
    (e: NodeJS.ErrnoException) => { throw new ExitscopeError(`${pipeline}: cannot read pipeline (${e.code ?? e.message})`); },
  );
}

export const passOptions = (y: Argv): Argv => y
  .option('pass', { type: 'string', array: true, describe: `optimization to replay (repeatable): ${passGrammar().join(' | ')}` })
  .option('pipeline', { type: 'string', describe: 'JSON file {"passes":[{"pass":"timer-hz","hz":100}, ...]} (exitscope schema pipeline)' })
  .option('transition-ns', { type: 'string', describe: 'hardware VM exit+entry cost in ns (default: inferred from the trace)' });

