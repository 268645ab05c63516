/**
 * LineSplitter: the same lines, numbers and overlong reports whatever the
 * input's cut into buffers (lines inside one buffer, lines across buffers,
 * CRLF, a last line without newline, lines over MAX_LINE_BYTES inside one
 * buffer and across several).
 */
import { describe, expect, it } from 'vitest';
import { LineSplitter, MAX_LINE_BYTES } from '../src/formats/input.js';

async function* cut(data: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let p = 0, k = 0;
  while (p < data.length) {
    const n = Math.max(1, sizes[k++ % sizes.length]);
    yield data.subarray(p, Math.min(data.length, p + n));
    p += n;
  }
}

async function split(data: Buffer, sizes: number[]): Promise<{ lines: Array<[number, string]>; overlong: number[]; total: number }> {
  const overlong: number[] = [];
  const s = new LineSplitter((l) => overlong.push(l));
  const lines: Array<[number, string]> = [];
  for await (const b of s.batches(cut(data, sizes))) {
    for (let k = 0; k < b.count; k++) lines.push([b.firstLine + k, b.buf.toString('latin1', b.bounds[2 * k], b.bounds[2 * k + 1])]);
  }
  return { lines, overlong, total: s.lines };
}

describe('LineSplitter', () => {
  it('cuts lines the same way whatever the buffers', async () => {
    const parts: string[] = [];
    for (let k = 0; k < 3000; k++) parts.push(k % 7 === 0 ? `line ${k}\r` : k % 11 === 0 ? '' : `line ${k} ${'x'.repeat(k % 50)}`);
    const text = parts.join('\n') + '\nlast without newline';
    const data = Buffer.from(text, 'latin1');
    const want = text.split('\n').map((l, k): [number, string] => [k + 1, l.replace(/\r$/, '')]);
    for (const sizes of [[data.length], [1 << 20], [1], [7, 13, 2], [4096], [100, 1, 1, 300]]) {
      const got = await split(data, sizes);
      expect(got.overlong).toEqual([]);
      expect(got.total).toBe(want.length);
      expect(got.lines).toEqual(want);
    }
  });

  it('reports lines over MAX_LINE_BYTES by number and goes on after them, inside one buffer or across several', async () => {
    const huge = 'y'.repeat(MAX_LINE_BYTES + 10);
    const text = ['a', huge, 'b', 'c', huge, huge, 'd'].join('\n') + '\n';
    const data = Buffer.from(text, 'latin1');
    for (const sizes of [[data.length], [1 << 20], [300000], [MAX_LINE_BYTES + 20]]) {
      const got = await split(data, sizes);
      expect(got.overlong).toEqual([2, 5, 6]);
      expect(got.lines).toEqual([[1, 'a'], [3, 'b'], [4, 'c'], [7, 'd']]);
      expect(got.total).toBe(7);
    }
  });
});
