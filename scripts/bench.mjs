#!/usr/bin/env node
// npm run bench: speed as ratios against a reference tool in the same run,
// never as absolute thresholds.
// 1. analyze vs a reference mawk script over the same CSV (what people run
//    today: group by rip, count and sum durations; no symbols, percentiles).
// 2. the text reader: analyze of the same exits as trace-cmd text vs mawk
//    grepping kvm_exit lines of that text.
// 3. the emulator's emission rate (exits per wall second, CSV to a file).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, 'bench', 'out');
mkdirSync(out, { recursive: true });
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const es = (args) => [process.execPath, [join(root, 'bin', 'exitscope.js'), ...args]];
const csv = join(out, `net-${seconds}s.csv`);
const txt = join(out, `net-${seconds}s.txt`);
const gen = ['emulate', '--workload', 'net', '--vcpus', '2', '--duration', String(seconds), '--seed', '1'];

const time = (cmd, args, runs = 3) => {
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    t.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return Math.min(...t);
};

const emitT = time(...es([...gen, '-o', csv]), 1);
if (!existsSync(txt)) spawnSync(...es([...gen, '--emit', 'trace-cmd', '-o', txt]), { cwd: root });
const exits = Number(execFileSync('wc', ['-l', csv]).toString().trim().split(/\s+/)[0]) - 1;
const mb = (f) => statSync(f).size / 1e6;
const map = join(root, 'traces', 'guest-2.6.27-i386.map');

const awkCsv = time('mawk', ['BEGIN{FS=","} NR>1{n[$4]++; t[$4]+=$5} END{for(k in n) print k, n[k], t[k]}', csv]);
const esCsv = time(...es(['analyze', csv, '--map', map, '--format', 'json', '-o', join(out, 'a.json')]));
const awkTxt = time('mawk', ['/kvm_exit:/{for(i=1;i<=NF;i++) if($i=="rip") n[$(i+1)]++} END{for(k in n) print k, n[k]}', txt]);
const esTxt = time(...es(['analyze', txt, '--map', map, '--format', 'json', '-o', join(out, 'b.json')]));

console.log(`exits: ${exits.toLocaleString('en-US')} (emulated netperf, ${seconds} s simulated); best of 3 runs each`);
console.log(`emulate (CSV out)          : ${emitT.toFixed(2)} s = ${(exits / emitT / 1e6).toFixed(2)} M exits/s of wall time`);
console.log(`CSV ${mb(csv).toFixed(0)} MB: mawk group-by-rip ${awkCsv.toFixed(2)} s, exitscope analyze ${esCsv.toFixed(2)} s -> ratio ${(esCsv / awkCsv).toFixed(2)}x`);
console.log(`trace-cmd ${mb(txt).toFixed(0)} MB: mawk kvm_exit rip count ${awkTxt.toFixed(2)} s, exitscope analyze (pairing, details) ${esTxt.toFixed(2)} s -> ratio ${(esTxt / awkTxt).toFixed(2)}x`);
