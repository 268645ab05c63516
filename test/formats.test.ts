import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { openTrace, readTrace } from '../src/formats/index.js';
import { writeCsv } from '../src/formats/csv.js';
import { writeJsonl } from '../src/formats/jsonl.js';
import { F_CALLER, F_PORT } from '../src/model/chunk.js';
import { cli, fx } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-fmt-'));

async function text(gen: AsyncIterable<string | Buffer>): Promise<string> {
  let s = '';
  for await (const p of gen) s += p.toString();
  return s;
}

describe('canonical CSV', () => {
  it('accounts for every line of the paper fixture (worked out in its README)', async () => {
    const { trace, stream } = await readTrace(fx('paper32', 'trace.csv'));
    const s = stream.stats;
    expect(s).toMatchObject({ format: 'csv', lines: 27, header: 1, events: 20, skipped: 2, rejected: 4 });
    expect(s.lines).toBe(s.header + s.events + s.skipped + s.rejected);
    expect(s.rejections).toEqual([
      `${fx('paper32', 'trace.csv')}:24: missing column(s): expected 12 fields, found 8`,
      `${fx('paper32', 'trace.csv')}:25: rip 'zzz' is not 0x-hex (64-bit at most)`,
      `${fx('paper32', 'trace.csv')}:26: unknown vcpu 'x' (expected a vcpu number)`,
      `${fx('paper32', 'trace.csv')}:27: negative duration_ns '-5'`,
    ]);
    expect(trace.length).toBe(20);
    const c = trace.chunks[0];
    expect(c.tsBaseNs).toBe(1000000n);
    expect(c.ts[1]).toBe(8000);
    expect(c.port[1]).toBe(0x20);
    expect(c.flags[1] & F_PORT).toBeTruthy();
    expect(c.flags[4] & F_CALLER).toBeTruthy();
    expect(Number.isNaN(c.dur[19])).toBe(true); // the HLT without duration
    expect([...stream.columns].sort()).toEqual(['caller', 'dir', 'gpa', 'msr', 'port', 'size', 'value']);
  });

  it('--strict stops at the first rejected line', async () => {
    const stream = await openTrace(fx('paper32', 'trace.csv'), { strict: true });
    await expect(async () => { for await (const _ of stream.chunks) void _; }).rejects.toThrow(/trace\.csv:24: missing column/);
  });

  it('round-trips byte for byte through its own output, CSV and JSON Lines, plain and gzip', async () => {
    for (const [to, write] of [['csv', writeCsv], ['jsonl', writeJsonl]] as const) {
      const a = join(tmp, `a.${to}`), b = join(tmp, `b.${to}`);
      let st = await openTrace(fx('paper32', 'trace.csv'));
      writeFileSync(a, await text(write(st.chunks, st.columns)));
      st = await openTrace(a);
      expect(st.format).toBe(to);
      writeFileSync(b, await text(write(st.chunks, st.columns)));
      expect(readFileSync(b, 'utf8')).toBe(readFileSync(a, 'utf8'));
      const gz = join(tmp, `c.${to}.gz`);
      writeFileSync(gz, gzipSync(readFileSync(a)));
      st = await openTrace(gz);
      expect(await text(write(st.chunks, st.columns))).toBe(readFileSync(a, 'utf8'));
    }
  });

  it('keeps epoch-scale timestamps exact through CSV and JSON Lines', async () => {
    const p = join(tmp, 'epoch.csv');
    writeFileSync(p, 'ts_ns,vcpu,reason,rip,duration_ns\n1732460000123456789,0,HLT,0xffffffff81000100,5\n1732460000123456790,0,HLT,0xffffffff810000ff,\n');
    const st = await openTrace(p);
    const out = await text(writeJsonl(st.chunks, st.columns));
    expect(out).toBe('{"ts_ns":"1732460000123456789","vcpu":0,"reason":"HLT","rip":"0xffffffff81000100","duration_ns":5}\n{"ts_ns":"1732460000123456790","vcpu":0,"reason":"HLT","rip":"0xffffffff810000ff"}\n');
    const j = join(tmp, 'epoch.jsonl');
    writeFileSync(j, out);
    const back = await openTrace(j);
    expect(await text(writeCsv(back.chunks, new Set()))).toBe(readFileSync(p, 'utf8'));
  });

  it('reads CRLF, a BOM, quoted fields and an empty file', async () => {
    const p = join(tmp, 'crlf.csv');
    writeFileSync(p, '\uFEFFts_ns,vcpu,reason,rip,duration_ns\r\n10,0,"DE excp",0x10,3\r\n20,1,io,0x20,4\r\n');
    const { trace, stream } = await readTrace(p);
    expect(stream.stats).toMatchObject({ lines: 3, events: 2, rejected: 0 });
    expect(trace.chunks[0].vcpu[1]).toBe(1);
    const e = join(tmp, 'empty.csv');
    writeFileSync(e, '');
    await expect(readTrace(e)).rejects.toThrow(/empty file/);
  });

  it('gives the same exits on the byte path and on the string path (quoted, spaced fields)', async () => {
    const plain = join(tmp, 'plain.csv'), quoted = join(tmp, 'quoted.csv');
    const rows = readFileSync(fx('paper32', 'trace.csv'), 'utf8').split('\n').slice(2, 22);
    writeFileSync(plain, 'ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,value,gpa,msr,caller\n' + rows.join('\n') + '\n');
    // Every row through csv-parse: quote the reason and pad the rip with spaces.
    writeFileSync(quoted, 'ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,value,gpa,msr,caller\n' + rows.map((r) => {
      const f = r.split(',');
      f[2] = `"${f[2]}"`;
      f[3] = ` ${f[3]} `;
      return f.join(',');
    }).join('\n') + '\n');
    const a = await openTrace(plain), b = await openTrace(quoted);
    expect(await text(writeCsv(b.chunks, b.columns))).toBe(await text(writeCsv(a.chunks, a.columns)));
    expect(b.stats).toMatchObject({ events: 20, rejected: 0 });
  });

  it('rejects bad JSON Lines rows with their line numbers', async () => {
    const p = join(tmp, 'bad.jsonl');
    writeFileSync(p, '{"ts_ns":1,"vcpu":0,"reason":"HLT","rip":"0x10","duration_ns":2}\n{"ts_ns":2,"vcpu":0\n\n{"ts_ns":3,"vcpu":0,"reason":"HLT","rip":16,"duration_ns":2}\n');
    const { stream } = await readTrace(p);
    expect(stream.stats).toMatchObject({ lines: 4, events: 1, skipped: 1, rejected: 2 });
    expect(stream.stats.rejections[0]).toMatch(/bad\.jsonl:2: not JSON/);
    expect(stream.stats.rejections[1]).toMatch(/bad\.jsonl:4: rip '16' is not 0x-hex/);
  });
});

describe('convert (CLI)', () => {
  it('round-trips its own output and reads stdin', async () => {
    const a = join(tmp, 'cli-a.csv'), b = join(tmp, 'cli-b.csv');
    let r = await cli(['convert', fx('paper32', 'trace.csv'), '--to', 'csv', '-o', a]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/27 lines: 20 events, 2 skipped, 4 rejected, 1 header -> 20 exits/);
    r = await cli(['convert', '-', '--to', 'csv'], readFileSync(a));
    expect(r.code).toBe(0);
    writeFileSync(b, r.stdout);
    expect(readFileSync(b, 'utf8')).toBe(readFileSync(a, 'utf8'));
  });

  it('names the formats it reads when given something else', async () => {
    const r = await cli(['convert', fx('bad', 'image.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^exitscope: .*image\.png: a binary file, not a trace; exitscope reads .*canonical CSV/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
