import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { analyze } from '../src/analyze/index.js';
import { AnalyzeReportSchema } from '../src/analyze/schema.js';
import { cli, comparable, fx, readJson } from './helpers.js';

const oracle = (dir: string, by = 'function') => readJson(fx(dir, `expected-${by}.json`));

describe('hot functions match the independent oracle', () => {
  for (const by of ['function', 'address', 'caller'] as const) {
    it(`paper32 --by ${by} (32-bit map with the paper's functions)`, async () => {
      const rep = await analyze({ inputs: [fx('paper32', 'trace.csv')], maps: [fx('paper32', 'guest.map')], includeIdle: true, keepUnknown: true, by, top: 0 });
      AnalyzeReportSchema.parse(rep);
      const want = oracle('paper32', by);
      expect(rep.totals.exits).toBe(want.exits);
      expect(rep.totals.timeNs).toBe(want.timeNs);
      const got = comparable(rep.rows);
      const exp = comparable(want.rows);
      expect(got).toEqual(exp);
    });
  }

  it('paper32: Table 1 trap addresses land in their functions', async () => {
    const rep = await analyze({ inputs: [fx('paper32', 'trace.csv')], maps: [fx('paper32', 'guest.map')], includeIdle: true, keepUnknown: true, by: 'address', top: 0 });
    const keys = rep.rows.map((r) => `${r.address} ${r.key}`);
    expect(keys).toContain('0xc041be3f ack_ioapic_irq+0x4f');
    expect(keys).toContain('0xc0407cf7 timer_interrupt+0x37');
    expect(keys).toContain('0xc0407cf9 timer_interrupt+0x39');
    expect(keys).toContain('0xc041add2 smp_apic_timer_interrupt+0x52');
    expect(keys).toContain('0xc04ee0fc ioread16+0x1c');
  });

  it('two 64-bit RIPs one byte apart stay in different functions (worked by hand)', async () => {
    const rep = await analyze({ inputs: [fx('neighbours64', 'trace.csv')], maps: [fx('neighbours64', 'System.map')], includeIdle: true, keepUnknown: true, top: 0 });
    expect(rep.rows.map((r) => [r.key, r.count, r.timeNs, r.address])).toEqual([
      ['alpha', 3, 60, '0xffffffff81000000'],
      ['beta', 2, 3000, '0xffffffff81000100'],
      ['[unknown] 0xffffffff81000200', 1, 7, '0xffffffff81000200'],
      ['gamma', 1, 5, '0xffffffff81000180'],
    ]);
    expect(rep.totals).toMatchObject({ exits: 7, timeNs: 3072, timed: 7, spanNs: 2400, vcpus: 1 });
    const byAddr = await analyze({ inputs: [fx('neighbours64', 'trace.csv')], maps: [fx('neighbours64', 'System.map')], includeIdle: true, keepUnknown: true, by: 'address', top: 2 });
    expect(byAddr.rows.map((r) => r.key)).toEqual(['alpha+0xff', 'beta+0x0']);
  });

  it('kallsyms with modules', async () => {
    const rep = await analyze({ inputs: [fx('kallsyms-modules', 'trace.csv')], maps: [fx('kallsyms-modules', 'kallsyms')], includeIdle: true, keepUnknown: true, top: 0 });
    expect(comparable(rep.rows)).toEqual(comparable(oracle('kallsyms-modules').rows));
    expect(rep.kaslr.slide).toBe('0x0');
  });

  it('detects the KASLR slide of a slid trace against an unslid real map', async () => {
    const rep = await analyze({ inputs: [fx('kaslr', 'trace.csv')], maps: [fx('kaslr', 'System.map')], includeIdle: true, keepUnknown: true, top: 0 });
    expect(rep.kaslr).toMatchObject({ slide: '0x2e400000', mode: 'auto' });
    expect(rep.kaslr.note).toMatch(/slide 0x2e400000 detected/);
    expect(comparable(rep.rows)).toEqual(comparable(oracle('kaslr').rows));
    const forced = await analyze({ inputs: [fx('kaslr', 'trace.csv')], maps: [fx('kaslr', 'System.map')], includeIdle: true, keepUnknown: true, kaslr: 0n, top: 1 });
    expect(forced.rows[0].symbol).toBe('[unknown]');
  });

  it('warns when instruction exits do not land in functions named for them (a map from another build)', async () => {
    const { readFileSync, writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    // Same real addresses, names rotated by one: the layout fits, the names do not.
    const lines = readFileSync(fx('kaslr', 'System.map'), 'utf8').trim().split('\n').map((l) => l.split(' '));
    const idx = lines.map((l, k) => (/^[Tt]$/.test(l[1]) && !['_text', '_stext', '_etext'].includes(l[2]) ? k : -1)).filter((k) => k >= 0);
    const names = idx.map((k) => lines[k][2]);
    idx.forEach((k, j) => { lines[k][2] = names[(j + 1) % names.length]; });
    const wrong = join(mkdtempSync(join(tmpdir(), 'exitscope-wrong-')), 'System.map');
    writeFileSync(wrong, lines.map((l) => l.join(' ')).join('\n') + '\n');
    const bad = await analyze({ inputs: [fx('kaslr', 'trace.csv')], maps: [wrong], top: 1 });
    expect(bad.kaslr.note).toMatch(/WARNING: only \d+% of \d+ instruction exits .* is this map from the guest kernel that ran\?/);
    const good = await analyze({ inputs: [fx('kaslr', 'trace.csv')], maps: [fx('kaslr', 'System.map')], includeIdle: true, keepUnknown: true, top: 1 });
    expect(good.kaslr.note).not.toMatch(/WARNING/);
  });

  it('warns when HLT/MSR exits land in functions that cannot execute them (names rotated, layout kept)', async () => {
    const { readFileSync, writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'exitscope-strict-'));
    const trace = join(dir, 'disk.csv'), map = join(dir, 'disk.map'), rot = join(dir, 'rot.map');
    expect((await cli(['emulate', '--workload', 'disk', '--duration', '0.1', '-o', trace, '--map-out', map])).code).toBe(0);
    const lines = readFileSync(map, 'utf8').trim().split('\n').map((l) => l.split(' '));
    const idx = lines.map((l, k) => (/^[Tt]$/.test(l[1]) ? k : -1)).filter((k) => k >= 0);
    const names = idx.map((k) => lines[k][2]);
    idx.forEach((k, j) => { lines[k][2] = names[(j + 3) % names.length]; });
    writeFileSync(rot, lines.map((l) => l.join(' ')).join('\n') + '\n');
    const bad = await analyze({ inputs: [trace], maps: [rot], top: 1 });
    expect(bad.kaslr.note).toMatch(/WARNING: \d+% of \d+ HLT\/MSR\/CPUID exits land in functions that cannot execute those instructions/);
    const good = await analyze({ inputs: [trace], maps: [map], top: 1 });
    expect(good.kaslr.note).not.toMatch(/WARNING/);
  });

  it('filters by reason (either vendor spelling) and vcpu, and groups by reason/port/vcpu', async () => {
    const rep = await analyze({ inputs: [fx('paper32', 'trace.csv')], maps: [fx('paper32', 'guest.map')], includeIdle: true, keepUnknown: true, reasons: ['io_instruction'], vcpus: [0], top: 0 });
    expect(rep.totals.exits).toBe(4);
    expect(rep.rows.map((r) => [r.key, r.count])).toEqual([['timer_interrupt', 4]]);
    const ports = await analyze({ inputs: [fx('paper32', 'trace.csv')], by: 'port', top: 0 });
    // Count, then exit time (summed by hand from the fixture) breaks ties.
    expect(ports.rows.map((r) => [r.key, r.count, r.timeNs])).toEqual([
      ['0x608:PIN', 3, 26900], ['0xc010:PIN', 2, 12140], ['0x20:POUT', 2, 10430], ['0x20:PIN', 2, 1240],
      ['0xc030:PIN', 1, 8150], ['0xc037:PIN', 1, 7370], ['0xc01c:POUT', 1, 5960],
    ]);
    expect(ports.notes[0]).toMatch(/^8 of 20 exits carry no I\/O port detail/);
    const vc = await analyze({ inputs: [fx('paper32', 'trace.csv')], by: 'vcpu', sort: 'time', top: 0 });
    // By hand: vcpu 1 = 6140+5960+8150+7370+6000+170+9100+8800+9000 (+ an untimed HLT); vcpu 0 = the other ten.
    expect(vc.rows.map((r) => [r.key, r.count, r.timeNs])).toEqual([['vcpu 1', 10, 60690], ['vcpu 0', 10, 54160]]);
  });

  it('--format json validates against the published JSON Schema', async () => {
    const schema = await cli(['schema', 'analyze']);
    expect(schema.code).toBe(0);
    const validate = new Ajv2020({ strict: false }).compile(JSON.parse(schema.stdout));
    const r = await cli(['analyze', fx('paper32', 'trace.csv'), '--map', fx('paper32', 'guest.map'), '--format', 'json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(validate(out), JSON.stringify(validate.errors)).toBe(true);
    expect(out.inputs[0]).toMatchObject({ lines: 27, events: 20, skipped: 2, rejected: 4 });
    expect(r.stderr).toMatch(/rejected .*trace\.csv:24: missing column/);
  });
});

describe('CLI errors: one line, exit 2, no stack', () => {
  const oneLine = (r: { code: number; stderr: string }, re: RegExp) => {
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  };
  it('missing trace', async () => oneLine(await cli(['analyze', 'nope.csv']), /^exitscope: nope\.csv: cannot read trace \(no such file\)/));
  it('missing map', async () => oneLine(await cli(['analyze', fx('paper32', 'trace.csv'), '--map', 'nope.map']), /nope\.map: cannot read map \(no such file\)/));
  it('unknown flag', async () => oneLine(await cli(['analyze', fx('paper32', 'trace.csv'), '--bogus']), /Unknown argument: bogus/));
  it('bad --by', async () => oneLine(await cli(['analyze', fx('paper32', 'trace.csv'), '--by', 'colour']), /--by: unknown dimension 'colour'/));
  it('--strict', async () => oneLine(await cli(['analyze', fx('paper32', 'trace.csv'), '--strict']), /trace\.csv:24: missing column.*--strict/));
  it('kallsyms without root', async () => oneLine(await cli(['analyze', fx('paper32', 'trace.csv'), '--map', fx('bad', 'kallsyms-noroot')]), /read without root/));
  it('map from another kernel', async () => oneLine(await cli(['analyze', fx('kaslr', 'trace.csv'), '--map', fx('neighbours64', 'System.map')]), /do not fall in the map's text .* under any 0x200000-aligned KASLR slide/));
  it('64-bit map for a 32-bit guest', async () => oneLine(await cli(['analyze', fx('paper32', 'trace.csv'), '--map', fx('neighbours64', 'System.map')]), /a 64-bit map .* for a trace of 32-bit guest addresses: give the map of the guest kernel that ran/));
  it('bad --kaslr', async () => oneLine(await cli(['analyze', fx('paper32', 'trace.csv'), '--kaslr', 'sideways']), /--kaslr: expected auto, off or a hex offset/));
});
