#!/usr/bin/env node
// npm run bench: exitscope against a reference awk script over the same file,
// in the same run, reported as ratios (never as absolute thresholds).
// The reference is what people run today: group `trace.csv` by rip, count and
// sum durations (no symbols, no percentiles). exitscope does more work per row
// (symbolization, reasons, percentiles); the ratio says what that costs.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, 'bench', 'out');
mkdirSync(out, { recursive: true });
const seconds = Number(process.env.BENCH_SECONDS ?? 120);
const trace = join(out, `jbb-${seconds}s.csv`);
if (!existsSync(trace)) {
  process.stderr.write(`generating ${trace} ...\n`);
  writeFileSync(trace, execFileSync(process.execPath, [join(root, 'scripts', 'make-jbb-sample.mjs'), String(seconds)], { maxBuffer: 1 << 30 }));
}
const awkScript = 'BEGIN{FS=","} NR>1{n[$4]++; t[$4]+=$5} END{for(k in n) print k, n[k], t[k]}';
const time = (cmd, args) => {
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
    runs.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return Math.min(...runs);
};
const mb = statSync(trace).size / 1e6;
const lines = Number(execFileSync('wc', ['-l', trace]).toString().trim().split(/\s+/)[0]);
const awk = time('mawk', [awkScript, trace]);
const es = time(process.execPath, ['bin/exitscope.js', 'analyze', trace, '--map', 'traces/guest-2.6.27-i386.map', '--format', 'json', '-o', join(out, 'analyze.json')]);
console.log(`trace: ${trace} (${mb.toFixed(0)} MB, ${lines.toLocaleString('en-US')} lines); best of 3`);
console.log(`reference mawk group-by-rip : ${awk.toFixed(2)} s  (${(mb / awk).toFixed(0)} MB/s)`);
console.log(`exitscope analyze (csv)     : ${es.toFixed(2)} s  (${(mb / es).toFixed(0)} MB/s)`);
console.log(`ratio exitscope / mawk      : ${(es / awk).toFixed(2)}x`);
