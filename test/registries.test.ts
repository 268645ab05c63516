/**
 * The registries and the layering (issue 8): every pass, format and report is
 * reachable through its registry, a pass missing from the registry does not
 * compile, replay and emulator do not import each other, and every trace
 * exitscope reads or writes keeps the trace invariants.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FORMATS, openTrace, readTrace } from '../src/formats/index.js';
import { assertTraceIntegrity } from '../src/model/integrity.js';
import { prepareEmulation, emulationStream, GUEST_MAP } from '../src/emulator/index.js';
import { ExitTrace } from '../src/model/chunk.js';
import { PASS_LIST, PASSES, type PassRegistry } from '../src/replay/passes/index.js';
import { parsePassSpec, specText, buildPasses } from '../src/replay/pipeline.js';
import { ReplayContext } from '../src/replay/context.js';
import { ReplayTrace } from '../src/replay/trace.js';
import { loadSymbolizer } from '../src/symbols/index.js';
import { REPORTS } from '../src/report/index.js';
import { SCHEMAS } from '../src/report/schemas.js';
import { ROOT, fx } from './helpers.js';

function importsOf(dir: string): Array<{ file: string; from: string }> {
  const out: Array<{ file: string; from: string }> = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) for (const m of readFileSync(p, 'utf8').matchAll(/from '([^']+)'/g)) out.push({ file: p, from: m[1] });
    }
  };
  walk(dir);
  return out;
}

describe('layering', () => {
  it('src/replay and src/emulator import nothing from each other; only src/cli and src/report write output', () => {
    expect(importsOf(join(ROOT, 'src', 'replay')).filter((i) => /\/emulator\//.test(i.from))).toEqual([]);
    expect(importsOf(join(ROOT, 'src', 'emulator')).filter((i) => /\/(replay|check)\//.test(i.from))).toEqual([]);
    expect(importsOf(join(ROOT, 'src', 'analyze')).filter((i) => /\/(replay|emulator|check|report|cli|fleet)\//.test(i.from))).toEqual([]);
    expect(importsOf(join(ROOT, 'src', 'fleet')).filter((i) => /\/(replay|emulator|check|cli)\//.test(i.from))).toEqual([]);
    expect(importsOf(join(ROOT, 'src', 'formats')).filter((i) => /\/(analyze|symbols|replay|emulator|check|report|cli|fleet)\//.test(i.from))).toEqual([]);
  });
});

describe('pass registry', () => {
  it('has one entry per declared pass, each parsing and printing its own grammar', () => {
    expect(Object.keys(PASSES).sort()).toEqual(PASS_LIST.map((p) => p.name).sort());
    const samples = ['coalesce-io:scope=caller:min=3', 'timer-hz:100:from=1000', 'drop:a,b', 'drop-caller:verify_pmtmr_rate', 'drop-io:port=0x1f0-0x1f7,rw=w,flush', 'napi-off', 'virtio:dev=nic', 'apicv', 'pv-eoi', 'coalesced-mmio:0xfebc0000-0xfebdffff', 'iosched-noop', 'paper', 'modern-host', 'ipiv:pv', 'haltpoll:ns=100000', 'ple-window:x=4'];
    expect(samples.map((t) => t.split(':')[0]).sort()).toEqual(PASS_LIST.map((p) => p.name).sort());
    for (const t of samples) expect(specText(parsePassSpec(t))).toBe(t);
  });

  it('a registry without an entry for a declared pass does not compile', () => {
    // @ts-expect-error -- 'timer-hz' is declared (PASS_LIST) but has no entry here.
    const partial: PassRegistry = { ...PASSES, 'timer-hz': undefined };
    // @ts-expect-error -- an entry whose spec type is another pass's.
    const crossed: PassRegistry = { ...PASSES, drop: PASSES['timer-hz'] };
    expect(partial && crossed).toBeTruthy();
  });

  it('every pass and preset keeps the trace invariants on an emulated trace', async () => {
    const em = prepareEmulation({ workload: 'net', nic: 'e1000', vcpus: 2, ops: 400, seed: 3 });
    const trace = await ExitTrace.collect(emulationStream(em).chunks, new Set(['port', 'size', 'dir', 'value', 'gpa', 'caller']));
    const rt = ReplayTrace.from(trace);
    const ctx = new ReplayContext(rt, await loadSymbolizer([GUEST_MAP]), {});
    for (const p of PASS_LIST) {
      const text = p.name === 'drop' || p.name === 'drop-caller' ? `${p.name}:e1000_intr` : p.name === 'timer-hz' ? 'timer-hz:100' : p.name === 'drop-io' ? 'drop-io:port=0x1f0' : p.name === 'coalesced-mmio' ? 'coalesced-mmio:auto' : p.name;
      for (const pass of buildPasses([parsePassSpec(text)], rt, ctx)) {
        const { trace: out, ledger } = pass.apply(rt, ctx);
        expect(assertTraceIntegrity(out.vcpus.values(), text, { vcpuTimeOrder: true })).toBe(ledger.exitsAfter);
        expect(ledger.exitsBefore - ledger.removed + ledger.added).toBe(ledger.exitsAfter);
      }
    }
  });
});

describe('format registry', () => {
  it('sniffs every readable fixture, and every reader keeps the trace invariants', async () => {
    const files: string[] = [];
    for (const dir of ['ftrace', 'paper32', 'kaslr', 'kallsyms-modules', 'neighbours64', 'replay', 'trace-dat', 'perf-data']) {
      for (const n of readdirSync(fx(dir))) if (/\.(csv|txt|dat|data)$/.test(n) && !/report\.txt|header\.txt/.test(n)) files.push(fx(dir, n));
    }
    let checked = 0;
    for (const f of files) {
      let stream;
      try { stream = await openTrace(f); } catch { continue; } // e.g. a format a later registry line adds
      const { trace, stream: s } = await readTrace(f, { format: stream.format === 'trace-cmd' || stream.format === 'perf-script' ? 'ftrace' : stream.format });
      // A trace whose clock went backwards (concatenated per-CPU buffers) keeps those rows as the input had them, counted.
      assertTraceIntegrity(trace.chunks, f, { vcpuTimeOrder: s.counters.timeWentBackwards === 0 });
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(15);
  });

  it('emulator output keeps the invariants for every workload', async () => {
    for (const cfg of [{ workload: 'disk', disk: 'ide' }, { workload: 'disk', disk: 'ata' }, { workload: 'net', nic: 'rtl8139' }, { workload: 'jbb' }] as const) {
      const em = prepareEmulation({ ...cfg, vcpus: 2, ops: 300, seed: 2 });
      const chunks = [];
      for await (const c of em.chunks()) chunks.push(c);
      expect(assertTraceIntegrity(chunks, cfg.workload, { vcpuTimeOrder: true })).toBe(em.summary!.exits);
    }
  });

  it('lists the writers: convert --to and emulate --emit take what the registry holds', () => {
    const writable = FORMATS.filter((f) => f.write).map((f) => f.name);
    expect(writable).toEqual(expect.arrayContaining(['csv', 'jsonl', 'ftrace']));
  });
});

describe('report registry', () => {
  it('every report kind has a published schema', () => {
    for (const k of Object.keys(REPORTS)) expect(SCHEMAS[k]).toBeDefined();
  });
});
