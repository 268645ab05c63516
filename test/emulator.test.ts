import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../src/analyze/index.js';
import { emulationStream, prepareEmulation } from '../src/emulator/index.js';
import { reproduce } from '../src/check/reproduce.js';
import { cli } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-emu-'));

describe('emulator', () => {
  it('is deterministic: same flags and seed give byte-identical output; another seed differs', async () => {
    const args = ['emulate', '--workload', 'net', '--nic', 'e1000', '--duration', '0.2', '--seed', '7'];
    const a = await cli(args), b = await cli(args), c = await cli([...args.slice(0, -1), '8']);
    expect(a.code).toBe(0);
    expect(a.stdout.length).toBeGreaterThan(1000);
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).not.toBe(a.stdout);
  });

  it('issue 5 acceptance: an rtl8139 netperf run puts ioread16/iowrite16/ioread32/ioread8 on top (Table 2)', async () => {
    const csv = join(tmp, 'n.csv'), map = join(tmp, 'g.map'), sum = join(tmp, 'n.json');
    const e = await cli(['emulate', '--workload', 'net', '--nic', 'rtl8139', '--duration', '1', '--seed', '1', '-o', csv, '--map-out', map, '--summary', sum]);
    expect(e.code).toBe(0);
    const r = await cli(['analyze', csv, '--map', map, '--format', 'json', '--top', '4']);
    const j = JSON.parse(r.stdout);
    expect(j.rows.map((x: any) => x.symbol)).toEqual(['ioread16', 'iowrite16', 'ioread32', 'ioread8']);
    const s = JSON.parse(readFileSync(sum, 'utf8'));
    expect(s.metric.unit).toBe('Mb/s');
    // The summary's ledger and the trace agree exit for exit.
    expect(j.totals.exits).toBe(s.exits);
    expect(j.totals.timeNs).toBe(s.exitNs);
    expect(s.byReason.IO_INSTRUCTION.count).toBeGreaterThan(0);
    expect(s.pitReloadCount).toBe(1193);
  });

  it('programs the PIT reload count for the tick rate (1193182 / count Hz)', async () => {
    const em = prepareEmulation({ workload: 'jbb', hz: 100, vcpus: 1, duration: 0.05 });
    const rep = await analyze({ inputs: [emulationStream(em)], by: 'port', top: 0 });
    expect(rep.rows.find((r) => r.key === '0x40:POUT')?.count).toBe(2);
    expect(em.summary!.pitReloadCount).toBe(11932);
    expect(em.summary!.tickHz).toBeCloseTo(1193182 / 11932, 6);
  });

  it('writes trace-cmd text that the text reader reads back to the same exits', async () => {
    const base = ['emulate', '--workload', 'disk', '--disk', 'ide', '--duration', '0.3', '--vcpus', '2'];
    const csv = join(tmp, 'd.csv'), txt = join(tmp, 'd.txt');
    expect((await cli([...base, '-o', csv])).code).toBe(0);
    expect((await cli([...base, '--emit', 'trace-cmd', '-o', txt])).code).toBe(0);
    const a = await analyze({ inputs: [csv], by: 'address', top: 0 });
    const b = await analyze({ inputs: [txt], by: 'address', top: 0 });
    expect(b.inputs[0]).toMatchObject({ format: 'trace-cmd', rejected: 0, counters: { unpairedExits: 0 } });
    expect(b.totals).toEqual(a.totals);
    expect(b.rows).toEqual(a.rows);
    const ports = await analyze({ inputs: [txt], by: 'port', top: 0 });
    // verify_pmtmr_rate's PM timer reads lead; the taskfile writes follow.
    expect(ports.rows[0].key).toBe('0x608:PIN');
    expect(ports.rows.map((r) => r.key)).toEqual(expect.arrayContaining(['0x1f1:POUT', '0x1f6:POUT', '0x1f7:PIN', '0xc000:POUT']));
  });

  it('rejects bad configurations in one line naming the field and the choices', async () => {
    const one = async (args: string[], re: RegExp) => {
      const r = await cli(['emulate', ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    };
    one(['--workload', 'video'], /^exitscope: emulate: workload: .*"disk".*"net".*"jbb"/);
    one(['--workload', 'net', '--nic', 'ne2000'], /nic: .*"rtl8139"/);
    one(['--workload', 'jbb', '--hz', '0'], /hz: /);
    one(['--workload', 'jbb', '--duration', '-1'], /duration: /);
    one(['--workload', 'jbb', '--host-opt', 'apicv'], /has no APICv/);
    one(['--workload', 'jbb', '--profile', 'nope.json'], /nope\.json: cannot read host profile \(no such file; bundled profiles: core2-kvm76, modern\)/);
    one(['--workload', 'jbb', '--profile', join(import.meta.dirname, '..', 'fixtures', 'bad', 'profile-typo.json')], /profile-typo\.json: handling(: unknown field\(s\) picPolNs|\.picPollNs: .*expected number)/);
  });
});

describe('paper check (reproduce) at a small scale', () => {
  it('rebuilds the tables and figures and says where the model falls short', async () => {
    const { items } = await reproduce({ scale: 0.3 });
    const byId = Object.fromEntries(items.map((i) => [i.id, i]));
    expect(Object.keys(byId)).toEqual(['table1', 'table2', 'table3', 'table4', 'fig7', 'fig8', 'sched', 'fig9']);
    for (const id of ['table1', 'table2', 'table3', 'table4', 'fig8']) {
      for (const c of byId[id].checks) expect(c.ok, `${id}: ${c.what}: model ${c.model}`).toBe(true);
    }
    // Where the model does not reach the paper it says so, with a reason, instead of forcing it.
    for (const it of items) for (const c of it.checks) if (!c.ok) expect(it.notes.join(' ')).toMatch(/does not reach/);
  });
});
