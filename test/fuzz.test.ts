import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTrace } from '../src/formats/index.js';
import { fx } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-fuzz-'));

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

/** Real lines, cut, spliced, with bytes flipped and junk lines between them. */
function mangle(lines: string[], seed: number, n: number): Buffer {
  const r = lcg(seed);
  const out: Buffer[] = [];
  for (let k = 0; k < n; k++) {
    const src = lines[Math.floor(r() * lines.length)];
    const roll = r();
    let line: Buffer;
    if (roll < 0.5) line = Buffer.from(src);
    else if (roll < 0.65) line = Buffer.from(src.slice(0, Math.floor(r() * src.length)));
    else if (roll < 0.8) { line = Buffer.from(src); for (let j = 0; j < 3; j++) line[Math.floor(r() * line.length)] = Math.floor(r() * 256); }
    else if (roll < 0.9) line = Buffer.from(src + lines[Math.floor(r() * lines.length)]);
    else line = Buffer.from(Array.from({ length: Math.floor(r() * 80) }, () => Math.floor(r() * 256)).filter((b) => b !== 10));
    out.push(line, Buffer.from(r() < 0.1 ? '\r\n' : '\n'));
  }
  return Buffer.concat(out);
}

describe('fuzzed input never crashes and every line is accounted for', () => {
  const cases: Array<[string, string, string]> = [
    ['trace-cmd', fx('ftrace', 'trace-cmd-6x.txt'), 'version = 6\n'],
    ['ftrace', fx('ftrace', 'svm-5x-ns.txt'), '# tracer: nop\n'],
    ['perf', fx('ftrace', 'perf-script.txt'), '    [001]   770.850307:                       kvm:kvm_exit: vcpu 0 reason HLT rip 0x1\n'],
    ['csv', fx('paper32', 'trace.csv'), 'ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,value,gpa,msr,caller\n'],
  ];
  for (const [name, file, head] of cases) {
    it(name, async () => {
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(1);
      for (let seed = 1; seed <= 5; seed++) {
        const p = join(tmp, `${name}-${seed}.txt`);
        const bytes = Buffer.concat([Buffer.from(head), mangle(lines, seed, 400)]);
        writeFileSync(p, bytes);
        const { trace, stream } = await readTrace(p);
        const s = stream.stats;
        // Counted from the bytes: a flipped byte may itself be a newline.
        expect(s.lines).toBe(bytes.filter((b) => b === 10).length);
        expect(s.header + s.events + s.skipped + s.rejected).toBe(s.lines);
        expect(s.rejected).toBeGreaterThan(0);
        for (const c of trace.chunks) for (let i = 0; i < c.length; i++) {
          expect(Number.isFinite(c.ts[i])).toBe(true);
          expect(c.dur[i] >= 0 || Number.isNaN(c.dur[i])).toBe(true);
        }
      }
    });
  }
});
