/**
 * JSON Lines (src/formats/jsonl.ts), the edges the other tests left (issue 16): what the sniff
 * takes as JSON Lines (its first line, with "ts_ns" and "rip" keys), null values as absent
 * fields, a BOM only at the file's start, the exact-integer rule per key, and the writer's
 * exact text (numbers where JSON keeps them exact, strings past 15 digits, the default VM left
 * out). Expected texts are written out here from the format's description in jsonl.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openTrace } from '../src/formats/index.js';
import { jsonlFormat, writeJsonl } from '../src/formats/jsonl.js';
import { ExitChunk, F_PORT } from '../src/model/chunk.js';
import { REASONS } from '../src/model/reasons.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-mjsonl-'));
let n = 0;
async function read(body: string) {
  const p = join(tmp, `${n++}.jsonl`);
  writeFileSync(p, body);
  const s = await openTrace(p, { format: 'jsonl' });
  const rows: string[] = [];
  for await (const c of s.chunks) for (let i = 0; i < c.length; i++) rows.push(`${c.tsBaseNs + BigInt(c.ts[i])} ${c.vcpu[i]} ${c.port[i]} ${c.flags[i] & F_PORT ? 'port' : '-'}`);
  return { rows, rejections: s.stats.rejections.map((r) => r.replace(/^.*\.jsonl:/, '')) };
}
const row = (extra: string) => `{"ts_ns":1000,"vcpu":1,"reason":"HLT","rip":"0x10","duration_ns":5${extra}}`;

describe('sniffing', () => {
  const sniff = (text: string) => jsonlFormat.sniff(Buffer.from(text), text);
  it('the first line, an object with "ts_ns" and "rip" keys (blanks before the colon allowed, a BOM and leading blanks skipped)', () => {
    expect(sniff(`${row('')}\n`)).toBe(true);
    expect(sniff('\uFEFF  {"ts_ns" : 1, "rip"\t: "0x1"}\n')).toBe(true);
    expect(sniff('{"ts_ns":1,"vcpu":0}\n{"rip":"0x1"}\n')).toBe(false);
    expect(sniff('{"rip":"0x1"}\n')).toBe(false);
    expect(sniff('{"ts_ns":1}')).toBe(false);
    expect(sniff('{"ts_ns":1,"rip":"0x1"}')).toBe(true);
    expect(sniff('[{"ts_ns":1,"rip":"0x1"}]\n')).toBe(false);
    expect(sniff('{"tsX_ns":1,"ripX":"0x1"}\n')).toBe(false);
  });
});

describe('reading', () => {
  it('null is an absent field; a key exitscope does not know is ignored', async () => {
    const r = await read(`${row(',"port":null,"size":null,"comment":"x"')}\n`);
    expect(r).toEqual({ rows: ['1000 1 0 -'], rejections: [] });
  });

  it('a BOM starts the file only: on a later line it is not JSON', async () => {
    const r = await read(`\uFEFF${row('')}\n\uFEFF${row('')}\n`);
    expect(r.rows).toEqual(['1000 1 0 -']);
    expect(r.rejections).toEqual([expect.stringMatching(/^2: not JSON/)]);
  });

  it('a number that is not an exact integer is rejected for ts_ns, duration_ns, vcpu, size and port, by name', async () => {
    const r = await read([row(',"port":1.5'), row(',"size":2.5'), `{"ts_ns":1.5,"vcpu":1,"reason":"HLT","rip":"0x10","duration_ns":5}`, row(',"port":80')].join('\n') + '\n');
    expect(r.rejections).toEqual([
      '1: port 1.5 is not an exact integer (write large values as strings)',
      '2: size 2.5 is not an exact integer (write large values as strings)',
      '3: ts_ns 1.5 is not an exact integer (write large values as strings)',
    ]);
    expect(r.rows).toEqual(['1000 1 80 port']);
  });
});

describe('writing', () => {
  async function text(c: ExitChunk, cols: string[] = []): Promise<string> {
    let out = '';
    for await (const s of writeJsonl((async function* () { yield c; })(), new Set(cols as never[]))) out += s;
    return out;
  }
  it('ts_ns and duration_ns are numbers up to 15 digits, strings past; vm 0 and absent fields are left out', async () => {
    const hlt = REASONS.lookup('HLT', 'vmx');
    const c = new ExitChunk(4, 0n);
    c.push(999_999_999_999_999, 0, hlt, 0, 0x10, 7);
    c.push(1_000_000_000_000_000, 1, hlt, 0, 0x20, NaN);
    c.vm[1] = 2;
    expect(await text(c, ['port', 'vm'])).toBe(
      '{"ts_ns":999999999999999,"vcpu":0,"reason":"HLT","rip":"0x10","duration_ns":7}\n' +
      '{"ts_ns":"1000000000000000","vcpu":1,"reason":"HLT","rip":"0x20","vm":2}\n');
    expect(await text(new ExitChunk(2, 0n))).toBe('');
  });
});
