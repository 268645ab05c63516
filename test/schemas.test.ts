/**
 * Every JSON output and input file against its published contract (issue 16):
 * the JSON Schema `exitscope schema NAME` prints, compiled by ajv (a validator
 * that shares nothing with zod), checks a real output of the command that
 * writes it, and a real input file the command then accepts. A schema name
 * without a case here fails the first test.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { GUEST_MAP } from '../src/emulator/index.js';
import { cli, fx } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-schemas-'));
const ajv = new Ajv2020({ strict: false, allErrors: true });

async function published(name: string): Promise<(doc: unknown) => boolean> {
  const r = await cli(['schema', name]);
  expect(r.code, r.stderr).toBe(0);
  const validate = ajv.compile(JSON.parse(r.stdout));
  return (doc) => {
    const ok = validate(doc) as boolean;
    if (!ok) console.error(name, JSON.stringify(validate.errors?.slice(0, 5)));
    return ok;
  };
}

async function json(args: string[]): Promise<any> {
  const r = await cli(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout);
}

const small = fx('replay', 'ide-fragment.csv');
const files = {
  summary: join(tmp, 'frag.summary.json'),
  summary2: join(tmp, 'emu-host.summary.json'),
  emulateSummary: join(tmp, 'emu.summary.json'),
  scenario: join(tmp, 'scenario.json'),
  pipeline: join(tmp, 'pipeline.json'),
  emulated: join(tmp, 'emu.csv'),
};

/** Each schema name -> a real document of that kind (made by the command that writes or reads it). */
const CASES: Record<string, () => Promise<unknown>> = {
  analyze: () => json(['analyze', fx('paper32', 'trace.csv'), '--map', fx('paper32', 'guest.map'), '--by', 'function,vcpu', '--top', '3', '--format', 'json']),
  estimate: () => json(['estimate', small, '--map', GUEST_MAP, '--pass', 'coalesce-io', '--bootstrap', '50', '--format', 'json']),
  advise: () => json(['advise', files.emulated, '--map', GUEST_MAP, '--format', 'json']),
  validate: () => json(['validate', '--matrix', 'reduced', '--only', 'coalesce-io', '--scale', '0.05', '--format', 'json']),
  reproduce: () => json(['reproduce', '--only', 'table4', '--scale', '0.05', '--format', 'json']),
  summary: async () => JSON.parse(readFileSync(files.summary, 'utf8')),
  merge: () => json(['merge', files.summary, files.summary2, '--by', 'reason', '--format', 'json']),
  diff: () => json(['diff', small, files.emulated, '--map', GUEST_MAP, '--format', 'json']),
  'emulate-summary': async () => JSON.parse(readFileSync(files.emulateSummary, 'utf8')),
  'emulate-config': async () => JSON.parse(readFileSync(files.scenario, 'utf8')),
  pipeline: async () => JSON.parse(readFileSync(files.pipeline, 'utf8')),
};

/**
 * Known defects, reported to the owners of src/ (docs/mutation.md): each such test is
 * marked as failing, so it turns red the day the defect is fixed and the mark must go.
 */
// Defects a published schema is known to have (none now: emulate-config's was zod's output form, which requires every
// field with a default; input files are published in their input form).
const KNOWN_DEFECTS: Record<string, string> = {};

describe('published JSON Schemas against real documents', () => {
  beforeAll(async () => {
    // Input files, each then used by the command that reads it (so they are real inputs, not only valid JSON).
    writeFileSync(files.scenario, JSON.stringify({ workload: 'net', nic: 'e1000', netTest: 'UDP_RR', vcpus: 1, duration: 0.05, seed: 3 }));
    writeFileSync(files.pipeline, JSON.stringify({ passes: [{ pass: 'coalesce-io', scope: 'caller' }, { pass: 'timer-hz', hz: 100 }] }));
    const em = await cli(['emulate', '--scenario', files.scenario, '--summary', files.emulateSummary, '-o', files.emulated]);
    expect(em.code, em.stderr).toBe(0);
    const est = await cli(['estimate', small, '--map', GUEST_MAP, '--pipeline', files.pipeline, '--bootstrap', '0', '--format', 'json']);
    expect(est.code, est.stderr).toBe(0);
    expect(JSON.parse(est.stdout).passes.map((p: any) => p.spec)).toEqual(['coalesce-io:scope=caller']);
    for (const [trace, host, out] of [[small, 'frag', files.summary], [files.emulated, 'emu', files.summary2]]) {
      const sum = await cli(['summarize', trace, '--map', GUEST_MAP, '--host', host, '-o', out]);
      expect(sum.code, sum.stderr).toBe(0);
    }
  });

  it('`exitscope schema` lists exactly the schemas this file checks', async () => {
    const r = await cli(['schema']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual(Object.keys(CASES).sort());
  });

  for (const name of Object.keys(CASES)) {
    (KNOWN_DEFECTS[name] ? it.fails : it)(`${name}: a real document validates${KNOWN_DEFECTS[name] ? ` (fails: ${KNOWN_DEFECTS[name]})` : ''}`, async () => {
      const check = await published(name);
      const doc = await CASES[name]();
      expect(check(doc)).toBe(true);
    });
  }

  it('emulate-config: the configuration a scenario resolves to (emulate-summary\'s config) validates', async () => {
    const summary = JSON.parse(readFileSync(files.emulateSummary, 'utf8'));
    expect(summary.config).toMatchObject({ workload: 'net', nic: 'e1000', netTest: 'UDP_RR', vcpus: 1, seed: 3 });
    expect((await published('emulate-config'))(summary.config)).toBe(true);
  });

  it('the validators can fail: a document of one kind is not another, and a missing field is caught', async () => {
    const analyze = await CASES.analyze() as Record<string, unknown>;
    expect((await published('estimate'))(analyze)).toBe(false);
    const { rows: _rows, ...noRows } = analyze;
    void _rows;
    expect((await published('analyze'))(noRows)).toBe(false);
    expect((await published('analyze'))({ ...analyze, schema: 'exitscope.analyze/v2' })).toBe(false);
    expect((await published('emulate-config'))({ workload: 'tape' })).toBe(false);
    expect((await published('pipeline'))({ passes: [{ pass: 'timer-hz', hz: '100' }] })).toBe(false);
  });
});
