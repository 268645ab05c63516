#!/usr/bin/env node
// npm run bench: exitscope's speed as ratios against the tools people use
// today, measured in the same run on the same files, never as absolute times
// (issue 11). Inputs are generated once into bench/out/ (kept between runs).
// Each target: the reference and exitscope run alternately RUNS times, the
// medians are compared, peak RSS is read from GNU time, and exitscope's
// answer is checked against the reference's before any time counts.
// Writes docs/bench.md with the machine description. Installs nothing:
// where a reference tool is missing (trace-cmd, pandas) its row says so.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, 'bench', 'out');
mkdirSync(out, { recursive: true });
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
// BENCH_ONLY=map,tracedat runs some groups of targets (text, csv, distinct, map, tracedat,
// advise, estimate, emulate) and makes only their inputs; such a partial run prints its rows
// and leaves docs/bench.md (the record of a whole run) as it is.
const GROUPS = ['text', 'csv', 'distinct', 'map', 'tracedat', 'advise', 'estimate', 'emulate'];
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((g) => g.trim()) : null;
for (const g of ONLY ?? []) if (!GROUPS.includes(g)) { console.error(`bench: BENCH_ONLY=${process.env.BENCH_ONLY}: no group ${g} (groups: ${GROUPS.join(', ')})`); process.exit(2); }
const want = (g) => ONLY === null || ONLY.includes(g);
const loadStart = loadavg().map((x) => x.toFixed(2)).join(' ');
const bin = join(root, 'bin', 'exitscope.js');
const guestMap = join(root, 'traces', 'guest-2.6.27-i386.map');
const env = { ...process.env, EXITSCOPE_NO_CACHE: '' };

const has = (cmd, args = ['--version']) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const hasPandas = spawnSync('/usr/bin/python3', ['-c', 'import pandas'], { stdio: 'ignore' }).status === 0;
const python = hasPandas ? '/usr/bin/python3' : 'python3';

/** Runs a command under GNU time: seconds of wall time and peak RSS in MB; stdout when asked. */
function run(cmd, args, { stdout = false, extraEnv = {} } = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { cwd: root, env: { ...env, ...extraEnv }, maxBuffer: 1 << 30, encoding: 'utf8', stdio: ['ignore', stdout ? 'pipe' : 'ignore', 'pipe'] });
  const lines = r.stderr.trim().split('\n');
  const [secs, kb] = lines[lines.length - 1].split(' ').map(Number);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${lines.slice(-3).join(' | ')}`);
  return { secs, mb: kb / 1024, stdout: r.stdout };
}
const es = (args, extraEnv) => run(process.execPath, [bin, ...args], { extraEnv });
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

/** Alternate a and b RUNS times; medians of each, and the worst peak RSS of b. */
function race(a, b, runs = RUNS) {
  const ta = [], tb = [];
  let mb = 0;
  for (let i = 0; i < runs; i++) {
    ta.push(a().secs);
    const r = b();
    tb.push(r.secs);
    mb = Math.max(mb, r.mb);
  }
  return { ref: median(ta), es: median(tb), mb };
}

function ensure(path, make) {
  if (!existsSync(path)) { process.stderr.write(`bench: making ${path}\n`); make(); }
  return path;
}

const results = [];
const target = (name, measured, goal, pass, detail) => {
  results.push({ name, measured, goal, pass, detail });
  console.log(`${pass === null ? 'SKIP' : pass ? 'PASS' : 'FAIL'}  ${name}: ${measured} (target ${goal})${detail ? `; ${detail}` : ''}`);
};

// ---- inputs -----------------------------------------------------------------------------
const emulate = (duration, file, emit = 'csv') => es(['emulate', '--workload', 'net', '--vcpus', '2', '--duration', String(duration), '--seed', '1', '--emit', emit, '-o', file]);
const csv2 = ensure(join(out, 'net-2m.csv'), () => emulate(22, join(out, 'net-2m.csv')));
const csv1 = ensure(join(out, 'net-1m.csv'), () => emulate(11, join(out, 'net-1m.csv')));
const csv10 = want('estimate') ? ensure(join(out, 'net-10m.csv'), () => emulate(110, join(out, 'net-10m.csv'))) : null;
const txt2 = want('text') ? ensure(join(out, 'net-2m.txt'), () => es(['convert', csv2, '--to', 'ftrace', '-o', join(out, 'net-2m.txt')])) : null;
const txt4 = want('text') ? ensure(join(out, 'net-4m.txt'), () => emulate(44, join(out, 'net-4m.txt'), 'ftrace')) : null;
const dat2 = !want('tracedat') ? null : ensure(join(out, 'net-2m.dat'), () => es(['convert', csv2, '--to', 'trace-dat', '-o', join(out, 'net-2m.dat')]));
const exits = (f) => Number(execFileSync('wc', ['-l', f]).toString().trim().split(/\s+/)[0]) - 1;
const nExits = exits(csv2);
const distinct = !want('distinct') ? null : ensure(join(out, 'distinct-2m.csv'), () => {
  // 2M exits at 2M distinct RIPs (every one-off address of a JIT or a random user-space workload).
  const rows = ['ts_ns,vcpu,reason,rip,duration_ns'];
  for (let i = 0; i < 2_000_000; i++) rows.push(`${1_000_000_000 + i * 1000},${i & 1},EXCEPTION_NMI,0x${(0x08048000 + i * 16).toString(16)},${500 + (i % 977)}`);
  writeFileSync(join(out, 'distinct-2m.csv'), rows.join('\n') + '\n');
});
const bigMap = !want('map') ? null : ensure(join(out, 'big.map'), () => {
  // A System.map of Debian's size (~200,000 symbols): the guest's own functions plus filler elsewhere in the kernel window.
  const lines = readFileSync(guestMap, 'utf8').trimEnd().split('\n');
  let a = 0xc1000000;
  for (let i = 0; i < 200_000; i++) { a += 16 + ((i * 2654435761) % 384); lines.push(`${a.toString(16).padStart(8, '0')} ${i % 3 ? 't' : 'd'} filler_symbol_${i}`); }
  lines.sort((x, y) => parseInt(x.slice(0, 8), 16) - parseInt(y.slice(0, 8), 16));
  writeFileSync(join(out, 'big.map'), lines.join('\n') + '\n');
});
const mb = (f) => (statSync(f).size / 1e6).toFixed(0);

// ---- reference scripts: what users write today -------------------------------------------
// Pair each kvm_exit with its thread's next kvm_entry, count and sum exit time per RIP
// ("CPU n/KVM-pid [cpu] flags ts: event: ..." as trace-cmd report -t prints it).
const pairAwk = `$6 == "kvm_exit:" { split($5, t, /[.:]/); ts[$2] = t[1] * 1000000000 + t[2]; rip[$2] = $12; next }
$6 == "kvm_entry:" { if ($2 in ts) { split($5, t, /[.:]/); r = rip[$2]; n[r]++; s[r] += t[1] * 1000000000 + t[2] - ts[$2]; delete ts[$2] } }
END { for (r in n) printf "%s %d %.0f\\n", r, n[r], s[r] }`;
const sumAwk = 'BEGIN { FS = "," } NR > 1 { n[$4]++; t[$4] += $5 } END { for (k in n) printf "%s %d %.0f\\n", k, n[k], t[k] }';
const pandas = `import pandas as pd, sys
d = pd.read_csv(sys.argv[1], usecols=['rip', 'duration_ns'])
g = d.groupby('rip')['duration_ns'].agg(['count', 'sum'])
for r, row in g.iterrows(): print(r, int(row['count']), int(row['sum']))`;

/** exitscope's per-RIP count and time, to compare with a reference's "rip count sum" lines. */
function perRip(file, extra = []) {
  const r = run(process.execPath, [bin, 'analyze', file, '--by', 'address', '--top', '0', '--format', 'csv', '--include-idle', '--keep-unknown', ...extra], { stdout: true });
  const lines = r.stdout.trim().split('\n');
  const head = lines[0].split(',');
  const ia = head.indexOf('address'), ic = head.indexOf('timed'), it = head.indexOf('time_ns');
  return new Map(lines.slice(1).map((l) => { const f = l.split(','); return [f[ia], `${f[ic]} ${f[it]}`]; }));
}
function agree(name, ref, mine) {
  const m = new Map(ref.trim().split('\n').map((l) => { const [r, n, s] = l.split(' '); return [r, `${n} ${s}`]; }));
  let bad = 0, first = '';
  for (const [k, v] of m) if (mine.get(k) !== v) { bad++; if (!first) first = `${k}: reference ${v}, exitscope ${mine.get(k)}`; }
  if (bad || m.size !== mine.size) throw new Error(`bench: ${name}: exitscope and the reference disagree on ${bad} of ${m.size} RIPs (${first})`);
  return m.size;
}

// ---- targets -----------------------------------------------------------------------------
console.log(`bench: ${nExits.toLocaleString('en-US')} exits (emulated netperf); ${RUNS} alternating runs each, medians; ${cpus().length} CPUs`);

let r;
if (want('text')) {
const ripsTxt = agree('text', run('mawk', [pairAwk, txt2], { stdout: true }).stdout, perRip(txt2));
r = race(() => run('mawk', [pairAwk, txt2]), () => es(['analyze', txt2, '--map', guestMap, '-o', '/dev/null']));
target(`text ${mb(txt2)} MB: analyze --map vs mawk pair-and-sum`, `${(r.ref / r.es).toFixed(2)}x faster (${r.es.toFixed(2)} s vs ${r.ref.toFixed(2)} s)`, '>= 3x', r.ref / r.es >= 3, `agree on ${ripsTxt} RIPs to the ns`);
target('text: peak memory', `${r.mb.toFixed(0)} MB`, '<= 200 MB', r.mb <= 200);
const t4 = race(() => ({ secs: 0 }), () => es(['analyze', txt4, '--map', guestMap, '-o', '/dev/null']));
const perExit2 = r.es / nExits, perExit4 = t4.es / exits(csv2) / 2;
target('text: time per exit when the trace doubles', `${((perExit4 / perExit2 - 1) * 100).toFixed(1)}% (${t4.es.toFixed(2)} s for twice the exits), ${t4.mb.toFixed(0)} MB`, '<= +10%', perExit4 / perExit2 <= 1.1 && t4.mb <= 200);
}

if (want('csv')) {
const ripsCsv = agree('csv', run('mawk', [sumAwk, csv2], { stdout: true }).stdout, perRip(csv2));
r = race(() => run('mawk', [sumAwk, csv2]), () => es(['analyze', csv2, '--map', guestMap, '-o', '/dev/null']));
target(`CSV ${mb(csv2)} MB: analyze --map vs mawk sum-by-RIP`, `${(r.ref / r.es).toFixed(2)}x faster (${r.es.toFixed(2)} s vs ${r.ref.toFixed(2)} s), ${r.mb.toFixed(0)} MB`, '>= 2x', r.ref / r.es >= 2, `agree on ${ripsCsv} RIPs`);
if (hasPandas) {
  agree('pandas', run(python, ['-c', pandas, csv2], { stdout: true }).stdout, perRip(csv2));
  const p = race(() => run(python, ['-c', pandas, csv2]), () => es(['analyze', csv2, '--map', guestMap, '-o', '/dev/null']));
  target('CSV: analyze --map vs pandas read_csv + groupby', `${(p.ref / p.es).toFixed(2)}x faster (${p.es.toFixed(2)} s vs ${p.ref.toFixed(2)} s)`, '>= 3x', p.ref / p.es >= 3);
} else target('CSV: analyze vs pandas', 'pandas not installed (apt install python3-pandas)', '>= 3x', null);
}

if (want('distinct')) {
const d = es(['analyze', distinct, '--by', 'address', '-o', '/dev/null']);
target('2M exits at 2M distinct RIPs, --by address: peak memory', `${d.mb.toFixed(0)} MB (${d.secs.toFixed(2)} s)`, '<= 200 MB', d.mb <= 200);
}

// The map: a 200,000-symbol System.map against the guest's small one, on a 1M-exit trace; first use (parse) and cached.
if (want('map')) {
const cold = es(['analyze', csv1, '--map', bigMap, '-o', '/dev/null'], { EXITSCOPE_NO_CACHE: '1' });
// The small and the big map alternate (a run of each in turn), seven times at least: this machine's speed drifts over a
// minute and jumps between runs, and the share is a small difference of two times (three runs each flipped it 5% <-> 14%).
const pair = race(() => es(['analyze', csv1, '--map', guestMap, '-o', '/dev/null']), () => es(['analyze', csv1, '--map', bigMap, '-o', '/dev/null']), Math.max(RUNS, 7));
const small = { es: pair.ref }, warm = { es: pair.es };
const share = Math.max(0, warm.es - small.es) / warm.es;
target('200k-symbol map on a 1M-exit trace: share of time on the map', `${(share * 100).toFixed(1)}% cached (${warm.es.toFixed(2)} s vs ${small.es.toFixed(2)} s with a small map); ${((Math.max(0, cold.secs - small.es) / cold.secs) * 100).toFixed(1)}% on first use`, '<= 10%', share <= 0.1);
}

// trace-cmd exits 255 for --version and help alike: it is present when its usage names its version.
const traceCmdVersion = (spawnSync('trace-cmd', [], { encoding: 'utf8' }).stdout ?? '').match(/trace-cmd version [^\s]+/)?.[0];
if (!want('tracedat')) { /* not asked for */ } else if (traceCmdVersion) {
  r = race(() => run('sh', ['-c', `trace-cmd report -t ${dat2} > /dev/null`]), () => es(['analyze', dat2, '--map', guestMap, '-o', '/dev/null']));
  target(`trace.dat ${mb(dat2)} MB: analyze --map vs trace-cmd report -t > /dev/null`, `${(r.ref / r.es).toFixed(2)}x faster (${r.es.toFixed(2)} s vs ${r.ref.toFixed(2)} s), ${r.mb.toFixed(0)} MB`, '>= 5x, <= 200 MB', r.ref / r.es >= 5 && r.mb <= 200);
} else target('trace.dat vs trace-cmd report', 'trace-cmd not installed (apt install trace-cmd)', '>= 5x', null);

// advise and estimate against analyze of the same trace.
if (want('advise')) {
const a1 = race(() => es(['analyze', csv1, '--map', guestMap, '-o', '/dev/null']), () => es(['advise', csv1, '--map', guestMap, '-o', '/dev/null']));
target('advise vs analyze (1M exits)', `${(a1.es / a1.ref).toFixed(2)}x analyze's time (${a1.es.toFixed(2)} s vs ${a1.ref.toFixed(2)} s), ${a1.mb.toFixed(0)} MB`, '<= 2x', a1.es / a1.ref <= 2);
}
if (want('estimate')) {
const five = ['coalesce-io', 'timer-hz:100', 'drop-caller:verify_pmtmr_rate', 'napi-off', 'apicv'].flatMap((p) => ['--pass', p]);
const e1 = race(() => es(['analyze', csv10, '--map', guestMap, '-o', '/dev/null']), () => es(['estimate', csv10, '--map', guestMap, ...five, '--bootstrap', '200', '-o', '/dev/null']));
target(`estimate with five passes vs analyze (${(exits(csv10) / 1e6).toFixed(1)}M exits)`, `${(e1.es / e1.ref).toFixed(2)}x analyze's time (${e1.es.toFixed(2)} s vs ${e1.ref.toFixed(2)} s), ${e1.mb.toFixed(0)} MB`, '<= 3x', e1.es / e1.ref <= 3);
}

if (want('emulate')) {
const em = race(() => ({ secs: 0 }), () => emulate(11, join(out, 'emit.csv')));
target('emulate (CSV out)', `${(exits(csv1) / em.es / 1e6).toFixed(2)} M exits per second of wall time`, '>= 1 M/s', exits(csv1) / em.es >= 1e6);
}

// ---- docs/bench.md -------------------------------------------------------------------------
if (ONLY) {
  console.log(`bench: a partial run (BENCH_ONLY=${ONLY.join(',')}): docs/bench.md, the record of a whole run, left as it is`);
  process.exit(0);
}
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const md = [
  '# npm run bench',
  '',
  `Run ${new Date().toISOString().slice(0, 10)} on ${cpus().length} x ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ` +
    `mawk ${spawnSync('mawk', ['-W', 'version'], { encoding: 'utf8' }).stdout.split('\n')[0]}; ${hasPandas ? 'pandas ' + spawnSync(python, ['-c', 'import pandas; print(pandas.__version__)'], { encoding: 'utf8' }).stdout.trim() : 'no pandas'}; ` +
    `${traceCmdVersion ?? 'no trace-cmd'}. Load average at the start ${loadStart}, at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')} (the machine's other work skews the ratios of a run: exitscope's threads share the cores, mawk is one thread).`,
  `Inputs: ${nExits.toLocaleString('en-US')} emulated netperf exits as canonical CSV (${mb(csv2)} MB), trace-cmd report -t text (${mb(txt2)} MB), trace.dat (${mb(dat2)} MB); ${RUNS} alternating runs, medians; peak RSS from GNU time. Every speed row first checks that exitscope and the reference agree per RIP (count and time to the ns).`,
  '',
  '| | target | measured | |',
  '|---|---|---|---|',
  ...results.map((x) => `| ${x.name} | ${x.goal} | ${x.measured}${x.detail ? ` (${x.detail})` : ''} | ${x.pass === null ? 'SKIP' : x.pass ? 'PASS' : 'FAIL'} |`),
  '',
];
writeFileSync(join(root, 'docs', 'bench.md'), md.join('\n'));
console.log('bench: wrote docs/bench.md');
