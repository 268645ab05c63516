/**
 * `exitscope diff` (src/analyze/diff.ts, issue 16) on tiny traces written by
 * the tests: how ties in the change are ranked, the after trace's own map,
 * the filter it reports, its notes, and the error for a trace with no exits.
 * Rows and counts are worked out by hand in the comments.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diff, type DiffReport } from '../src/analyze/diff.js';
import { fx } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'exitscope-diff-a2-'));
/** A canonical CSV of [ts, vcpu, reason, rip, ns] rows (ns '' = unpaired). */
function csv(name: string, rows: Array<[number, number, string, string, number | '']>): string {
  const p = join(dir, name);
  writeFileSync(p, ['ts_ns,vcpu,reason,rip,duration_ns', ...rows.map((r) => r.join(','))].join('\n') + '\n');
  return p;
}

const section = (rep: DiffReport, by: 'address' | 'function') => rep.sections.find((s) => s.by === by)!;

/*
 * Eight trap addresses, no map (each row is its address). ns of each exit, before -> after:
 *   0x1100  30 30 -> 30 30 10    +1 exit, +10 ns, 5 exits on both sides
 *   0x2100  30 30 -> 40          -1 exit, -20 ns, 3
 *   0x1200  10 10 -> 10          -1 exit, -10 ns, 3
 *   0x2200  10 10 -> 10 10 20    +1 exit, +20 ns, 5
 *   0x3100  50 -> 50 30          +1 exit, +30 ns, 3
 *   0x4200  50 -> 50 40          +1 exit, +40 ns, 3
 *   0x3200  10 -> 10 30          +1 exit, +30 ns, 3
 *   0x4100  10 -> 10 40          +1 exit, +40 ns, 3
 * Every |change in exits| is 1, so the rows rank by |change in time| (40, 30, 20, 10), then by exits on both
 * sides (0x2200's 5 before 0x2100's 3, 0x1100's 5 before 0x1200's 3), then by key (0x4100 before 0x4200,
 * 0x3100 before 0x3200). The rows reach the ranking in the before trace's analyze order (count, then time,
 * then text): 0x1100 0x2100 0x1200 0x2200 0x3100 0x4200 0x3200 0x4100, so two of the pairs have to be swapped
 * and two kept. The exits are written one every 1,000 ns from 1,000, in the order of the table.
 */
const TABLE: Array<[string, number[], number[]]> = [
  ['0x1100', [30, 30], [30, 30, 10]], ['0x2100', [30, 30], [40]], ['0x1200', [10, 10], [10]], ['0x2200', [10, 10], [10, 10, 20]],
  ['0x3100', [50], [50, 30]], ['0x4200', [50], [50, 40]], ['0x3200', [10], [10, 30]], ['0x4100', [10], [10, 40]],
];
const RANKED = ['0x4100', '0x4200', '0x3100', '0x3200', '0x2200', '0x2100', '0x1100', '0x1200'];
function ties(name: string, side: 1 | 2, extra: Array<[number, number, string, string, number]> = []): string {
  const rows: Array<[number, number, string, string, number]> = [];
  for (const row of TABLE) for (const ns of row[side]) rows.push([1000 + rows.length * 1000, 0, 'IO_INSTRUCTION', row[0], ns]);
  return csv(name, [...rows, ...extra]);
}
const tiesBefore = ties('ties-before.csv', 1), tiesAfter = ties('ties-after.csv', 2);

describe('diff ranks equal changes by exits on both sides, then by key', () => {
  it('the eight rows in the order worked out above', async () => {
    const rep = await diff({ before: tiesBefore, after: tiesAfter, views: ['address'], top: 0 });
    const s = section(rep, 'address');
    expect(s.rows.map((r) => [r.key, r.before.exits, r.after.exits, r.change.exits, r.change.timeNs])).toEqual([
      ['0x4100', 1, 2, 1, 40], ['0x4200', 1, 2, 1, 40],
      ['0x3100', 1, 2, 1, 30], ['0x3200', 1, 2, 1, 30],
      ['0x2200', 2, 3, 1, 20], ['0x2100', 2, 1, -1, -20],
      ['0x1100', 2, 3, 1, 10], ['0x1200', 2, 1, -1, -10],
    ]);
    expect([s.common, s.onlyBefore, s.onlyAfter]).toEqual([8, 0, 0]);
  });

  it('--sort time: the same order (|change in time| first, then |change in exits|, all 1)', async () => {
    const rep = await diff({ before: tiesBefore, after: tiesAfter, views: ['address'], top: 0, sort: 'time' });
    expect(section(rep, 'address').rows.map((r) => r.key)).toEqual(RANKED);
  });

  it('each analyze note is kept, prefixed with the trace it is about', async () => {
    // No map: analyze says so once per trace. Spans: before 12 exits, the last (10 ns) at 12,000: 12,010 - 1,000 =
    // 11,010 ns; after 16 exits, the last (40 ns) at 16,000: 15,040 ns; 37% more, so the span note follows.
    const rep = await diff({ before: tiesBefore, after: tiesAfter, views: ['address'], top: 0 });
    expect([rep.before.spanNs, rep.after.spanNs]).toEqual([11_010, 15_040]);
    expect(rep.notes.slice(0, 2)).toEqual(['before: no --map given: guest addresses are shown as [unknown] rows', 'after: no --map given: guest addresses are shown as [unknown] rows']);
    expect(rep.notes).toHaveLength(3);
  });

  it('the filter is reported as given, and applied', async () => {
    // An HLT and a vcpu-1 exit at other addresses: the filter leaves them out, so the rows are the eight above.
    const extra: Array<[number, number, string, string, number]> = [[90_000, 0, 'HLT', '0x9000', 500], [91_000, 1, 'IO_INSTRUCTION', '0x9100', 500]];
    const rep = await diff({ before: ties('f-before.csv', 1, extra), after: ties('f-after.csv', 2, extra), views: ['address'], top: 0, reasons: ['IO_INSTRUCTION'], excludeReasons: ['HLT'], vcpus: [0] });
    expect(rep.filter).toEqual({ reasons: ['IO_INSTRUCTION'], excludeReasons: ['HLT'], vcpus: [0] });
    expect(section(rep, 'address').rows.map((r) => r.key)).toEqual(RANKED);
    expect([rep.before.exits, rep.after.exits]).toEqual([12, 16]);
  });
});

describe('diff with the after trace\'s own map (--map-after)', () => {
  // Before: neighbours64's map, alpha at 0xffffffff81000000. After: a rebuilt kernel with alpha at 0xffffffff81000400.
  const mapBefore = fx('neighbours64', 'System.map');
  const mapAfter = join(dir, 'after.map');
  writeFileSync(mapAfter, ['ffffffff81000000 T _text', 'ffffffff81000400 T alpha', 'ffffffff81000500 T beta', 'ffffffff81000600 T _etext'].join('\n') + '\n');
  const before = csv('m-before.csv', [[1000, 0, 'IO_INSTRUCTION', '0xffffffff81000010', 100], [2000, 0, 'IO_INSTRUCTION', '0xffffffff81000010', 100]]);
  const after = csv('m-after.csv', [[1000, 0, 'IO_INSTRUCTION', '0xffffffff81000410', 100]]);

  it('alpha+0x10 in both, at the addresses each trace has it', async () => {
    const rep = await diff({ before, after, maps: [mapBefore], mapsAfter: [mapAfter], top: 0, kaslr: 0n });
    expect([rep.before.maps, rep.after.maps]).toEqual([[mapBefore], [mapAfter]]);
    const a = section(rep, 'address');
    expect(a.rows.map((r) => [r.key, r.addressBefore, r.addressAfter, r.before.exits, r.after.exits, r.only])).toEqual([
      ['alpha+0x10', '0xffffffff81000010', '0xffffffff81000410', 2, 1, null],
    ]);
    expect(section(rep, 'function').rows.map((r) => [r.key, r.addressBefore, r.addressAfter])).toEqual([['alpha', '0xffffffff81000000', '0xffffffff81000400']]);
  });

  it('an empty --map-after means the before map for both', async () => {
    const rep = await diff({ before, after: before, maps: [mapBefore], mapsAfter: [], top: 0, kaslr: 0n });
    expect(rep.after.maps).toEqual([mapBefore]);
  });
});

describe('diff notes about the spans', () => {
  // One exit of 0 ns spans 0 ns; two exits 1,000 ns apart of 10 ns span 1,010 ns.
  const point = csv('point.csv', [[1000, 0, 'IO_INSTRUCTION', '0x1000', 0]]);
  const wide = csv('wide.csv', [[1000, 0, 'IO_INSTRUCTION', '0x1000', 10], [2000, 0, 'IO_INSTRUCTION', '0x1000', 10]]);
  const spanNote = (rep: DiffReport): string[] => rep.notes.filter((n) => n.startsWith('the traces cover different spans'));

  it('no ratio of spans when a trace spans 0 ns, either side', async () => {
    const a = await diff({ before: point, after: wide, views: ['address'] });
    expect([a.before.spanNs, a.after.spanNs]).toEqual([0, 1010]);
    expect(spanNote(a)).toEqual([]);
    const b = await diff({ before: wide, after: point, views: ['address'] });
    expect([b.before.spanNs, b.after.spanNs]).toEqual([1010, 0]);
    expect(spanNote(b)).toEqual([]);
  });

  it('spans 1,010 and 2,010 ns (99% apart): the note, with the spans in seconds', async () => {
    const wider = csv('wider.csv', [[1000, 0, 'IO_INSTRUCTION', '0x1000', 10], [3000, 0, 'IO_INSTRUCTION', '0x1000', 10]]);
    const rep = await diff({ before: wide, after: wider, views: ['address'] });
    expect(spanNote(rep)).toEqual(['the traces cover different spans (0.000 s before, 0.000 s after): counts compare whole runs, as the paper\'s Table 4 does; for rates divide by the spans']);
  });
});

describe('diff on a trace with no exits at all', () => {
  it('says which trace and what was read, without a filter clause', async () => {
    // A header and nothing else: 1 line, 0 events.
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, 'ts_ns,vcpu,reason,rip,duration_ns\n');
    const some = csv('some.csv', [[1000, 0, 'IO_INSTRUCTION', '0x1000', 10]]);
    await expect(diff({ before: empty, after: some })).rejects.toThrow(/empty\.csv: no VM exits in it \(1 line, 0 events read\): nothing to compare$/);
    await expect(diff({ before: some, after: empty })).rejects.toThrow(/empty\.csv: no VM exits in it \(1 line, 0 events read\): nothing to compare$/);
  });
});
