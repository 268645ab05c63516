/**
 * Pass specs and pipelines (src/replay/pipeline.ts), the pass-definition
 * helpers (pass-def.ts) and ledgers (types.ts), issue 16: what a user typing
 * `--pass` or writing a `--pipeline` file is told, which passes a spec or a
 * preset builds, and how a ledger ends up. Expected strings are the ones the
 * code's comments and the registry define; zod's own wording is matched only
 * loosely.
 */
import { describe, expect, it } from 'vitest';
import { ExitscopeError } from '../src/model/errors.js';
import { kv, num } from '../src/replay/pass-def.js';
import { buildPasses, parsePassSpec, parsePipelineJson, passGrammar, PipelineSchema, specText } from '../src/replay/pipeline.js';
import { closeLedger, newLedger, traceTotals, VerdictPass } from '../src/replay/types.js';
import { chain, context, rows } from './replay-rows.js';

const ALL = 'coalesce-io, timer-hz, drop, drop-caller, drop-io, napi-off, virtio, apicv, pv-eoi, coalesced-mmio, iosched-noop, ipiv, haltpoll, ple-window, paper, modern-host';

describe('--pass text', () => {
  it('an unknown pass names itself and every pass there is, in the registry\'s order', () => {
    expect(() => parsePassSpec('timer-hz2:100')).toThrow(new ExitscopeError(`--pass timer-hz2:100: unknown pass 'timer-hz2' (passes: ${ALL})`));
    // Names an object has by inheritance are no passes.
    for (const n of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) expect(() => parsePassSpec(n)).toThrow(`--pass ${n}: unknown pass '${n}' (passes: ${ALL})`);
    expect(() => parsePassSpec('')).toThrow(`--pass : unknown pass '' (passes: ${ALL})`);
  });

  it('noop and iosched are iosched-noop', () => {
    expect(parsePassSpec('noop')).toEqual({ pass: 'iosched-noop' });
    expect(parsePassSpec('iosched')).toEqual({ pass: 'iosched-noop' });
    expect(parsePassSpec('iosched-noop')).toEqual({ pass: 'iosched-noop' });
  });

  it('arguments become the spec object; what the grammar leaves out stays out', () => {
    expect(parsePassSpec('timer-hz:100:from=1000')).toEqual({ pass: 'timer-hz', hz: 100, from: 1000 });
    expect(parsePassSpec('timer-hz:250')).toEqual({ pass: 'timer-hz', hz: 250 });
    expect(parsePassSpec('coalesce-io')).toEqual({ pass: 'coalesce-io' });
    expect(parsePassSpec('coalesce-io:reads:window=5000:scope=address:mmio:min=3:in=a,b')).toEqual({ pass: 'coalesce-io', reads: true, windowNs: 5000, scope: 'address', mmio: true, min: 3, in: ['a', 'b'] });
    expect(parsePassSpec('drop-io:port=0x1f0-0x1f7,rw=w;mmio=0xfebc0000')).toEqual({ pass: 'drop-io', ranges: ['port=0x1f0-0x1f7,rw=w', 'mmio=0xfebc0000'] });
    expect(parsePassSpec('coalesced-mmio:mmio=0xfebc0000-0xfebdffff')).toEqual({ pass: 'coalesced-mmio', range: '0xfebc0000-0xfebdffff' });
  });

  it('a value the schema rejects: the pass text, the field, what was wrong', () => {
    expect(() => parsePassSpec('timer-hz:fast')).toThrow(/^--pass timer-hz:fast: hz: .*expected number/i);
    expect(() => parsePassSpec('timer-hz:-100')).toThrow(/^--pass timer-hz:-100: hz: /);
    expect(() => parsePassSpec('coalesce-io:min=1')).toThrow(/^--pass coalesce-io:min=1: min: .*2/);
    expect(() => parsePassSpec('coalesce-io:scope=vcpu')).toThrow(/^--pass coalesce-io:scope=vcpu: scope: /);
    expect(() => parsePassSpec('virtio:dev=gpu')).toThrow(/^--pass virtio:dev=gpu: dev: /);
    expect(() => parsePassSpec('coalesce-io:in=')).toThrow(/^--pass coalesce-io:in=: in\[0\]: /);
    // Errors are the CLI's own kind (exit status 2), not a crash.
    expect(() => parsePassSpec('ple-window:x=0')).toThrow(ExitscopeError);
  });

  it('the grammar of every pass, in the registry\'s order', () => {
    const g = passGrammar();
    expect(g).toHaveLength(16);
    expect(g[0]).toBe('coalesce-io[:reads][:window=NS][:scope=caller|function|address][:mmio][:min=N][:in=FN,FN]');
    expect(g[1]).toBe('timer-hz:TARGET[:from=HZ]');
    expect(g.slice(-2)).toEqual(['paper', 'modern-host']);
  });

  it('a spec prints back as the text it came from', () => {
    for (const t of ['coalesce-io:reads:window=5000:scope=address:mmio:min=3:in=a,b', 'timer-hz:100:from=250', 'haltpoll:ns=100000', 'ipiv', 'ipiv:pv']) expect(specText(parsePassSpec(t))).toBe(t);
    expect(specText({ pass: 'timer-hz', hz: 100 })).toBe('timer-hz:100');
  });
});

describe('--pipeline files', () => {
  it('a valid file: its passes in order', () => {
    expect(parsePipelineJson('{"passes":[{"pass":"timer-hz","hz":100},{"pass":"napi-off"}]}', 'p.json')).toEqual([{ pass: 'timer-hz', hz: 100 }, { pass: 'napi-off' }]);
  });

  it('not JSON: the file and the parser\'s message', () => {
    let msg = '';
    try { JSON.parse('{"passes": ['); } catch (e) { msg = (e as Error).message; }
    expect(() => parsePipelineJson('{"passes": [', 'p.json')).toThrow(new ExitscopeError(`p.json: not JSON (${msg})`));
  });

  it('a schema error: the file and the path of the bad value', () => {
    expect(() => parsePipelineJson('{"passes":[{"pass":"napi-off"},{"pass":"timer-hz","hz":"100"}]}', 'p.json')).toThrow(/^p\.json: passes\[1\]\.hz: .*expected number/i);
    expect(() => parsePipelineJson('{"passes":[]}', 'q.json')).toThrow(/^q\.json: passes: /);
    expect(() => parsePipelineJson('{"passes":[{"pass":"napi-off"}],"extra":1}', 'r.json')).toThrow(new ExitscopeError('r.json: (top): unknown field(s) extra'));
    expect(() => parsePipelineJson('{"passes":[{"pass":"napi-off","x":1}]}', 'r.json')).toThrow(new ExitscopeError('r.json: passes[0]: unknown field(s) x'));
    expect(() => parsePipelineJson('[]', 's.json')).toThrow(/^s\.json: \(top\): /);
    expect(PipelineSchema.description).toBe('A replay pipeline: passes applied in order (exitscope estimate --pipeline FILE)');
  });
});

describe('building passes: presets expand, and what they hold may not apply without stopping the run', () => {
  const t = rows(chain([{ reason: 'CPUID' }, { reason: 'IO_INSTRUCTION', port: 0x3f8, dir: 'w' }]));
  const ctx = context(t);

  it('paper and modern-host expand to their parts, named as printed', () => {
    expect(buildPasses([parsePassSpec('paper')], t, ctx).map((p) => [p.spec, p.name])).toEqual([
      ['coalesce-io', 'coalesce-io'], ['timer-hz:100', 'timer-hz'], ['drop-caller:verify_pmtmr_rate', 'drop-caller'], ['napi-off', 'napi-off'],
    ]);
    expect(buildPasses([parsePassSpec('timer-hz:250'), parsePassSpec('modern-host')], t, ctx).map((p) => p.spec)).toEqual(['timer-hz:250', 'apicv', 'coalesced-mmio:auto']);
  });

  it('a named pass that cannot run is an error; the same pass inside a preset is reported as not applicable', () => {
    const [named] = buildPasses([parsePassSpec('drop-caller:verify_pmtmr_rate')], t, ctx);
    expect(() => named.apply(t, ctx)).toThrow(new ExitscopeError('--pass drop-caller:verify_pmtmr_rate: needs the guest kernel map (--map) to know where verify_pmtmr_rate is'));
    const inPaper = buildPasses([parsePassSpec('paper')], t, ctx)[2];
    expect(inPaper.apply(t, ctx).ledger).toMatchObject({ verdict: 'not-applicable', why: 'needs the guest kernel map (--map) to know where verify_pmtmr_rate is' });
  });
});

describe('pass-def helpers', () => {
  it('kv: key=value parts, bare flags, the first = splits', () => {
    expect(kv(['window=5000', 'mmio', 'in=a=b', '=x', 'k='])).toEqual({ window: '5000', mmio: true, in: 'a=b', '': 'x', k: '' });
    expect(kv([])).toEqual({});
  });

  it('num: a number from a value, nothing from a flag or an absent key', () => {
    expect([num('12'), num('0x10'), num(true), num(undefined)]).toEqual([12, 16, undefined, undefined]);
  });
});

describe('ledgers', () => {
  // 3 exits, one unpaired (no duration): 1,000 + 2,500 traced.
  const t = rows(chain([{ reason: 'CPUID' }, { reason: 'CPUID', dur: 2500 }, { reason: 'CPUID', dur: NaN }]));

  it('totals count every exit and the time of those with a duration', () => {
    expect(traceTotals(t)).toEqual({ exits: 3, timeNs: 3500 });
    const l = newLedger('x', t, 4);
    expect(l).toMatchObject({ pass: 'x', verdict: 'applied', why: '', exitsBefore: 3, exitsAfter: 3, timeBeforeNs: 3500, timeAfterNs: 3500, removed: 0, added: 0, changed: 0, assumptions: [], notes: [] });
    expect([l.guestSavedNs.length, l.guestMaybeSavedNs.length]).toEqual([4, 4]);
  });

  it('closing: the after totals; a ledger that removed, added and changed nothing has nothing to change, and says why', () => {
    const u = rows(chain([{ reason: 'CPUID', dur: 700 }]));
    const fresh = () => newLedger('x', t, 1);
    expect(closeLedger(fresh(), u)).toMatchObject({ verdict: 'nothing-to-change', why: 'nothing in this trace for it to change', exitsAfter: 1, timeAfterNs: 700 });
    expect(closeLedger(fresh(), u, 'no ports')).toMatchObject({ verdict: 'nothing-to-change', why: 'no ports' });
    for (const k of ['removed', 'added', 'changed'] as const) {
      const l = fresh();
      l[k] = 1;
      expect(closeLedger(l, u)).toMatchObject({ verdict: 'applied', why: '' });
    }
    const na = fresh();
    na.verdict = 'not-applicable';
    na.why = 'no map';
    expect(closeLedger(na, u)).toMatchObject({ verdict: 'not-applicable', why: 'no map' });
    // The after trace's totals are kept: a ledger starting from it reads them.
    expect(newLedger('y', u, 1)).toMatchObject({ exitsBefore: 1, timeBeforeNs: 700 });
  });

  it('a verdict pass leaves the trace as it is and says why', () => {
    const r = new VerdictPass('iosched-noop', 'iosched-noop', 'not-estimable', 'because').apply(t, context(t));
    expect(r.trace).toBe(t);
    expect(r.ledger).toMatchObject({ pass: 'iosched-noop', verdict: 'not-estimable', why: 'because', exitsBefore: 3, exitsAfter: 3 });
  });
});
