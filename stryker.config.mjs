// Mutation testing (issue 16): `npm run mutate`, not part of `npm test`.
// docs/mutation.md has the scores, the mutants accepted as equivalent and how to rerun.
//
//   npm run mutate                                              # the four folders, one run
//   MUTATE_FOLDER=analyze npm run mutate                        # one folder
//   npm run mutate -- --mutate src/analyze/rows.ts              # one file (its folder's tests)
//   MUTATE_TAG=name ... --mutate 'a.ts,b.ts'                    # several, under a name of yours
// Each of these targets keeps its own incremental file (reports/incremental/), so a rerun
// of the same target tests only the mutants whose code or covering tests changed since.
// Those files are gitignored: each is one machine's cache of its last run, megabytes that
// change with every source edit, which concurrent edits would turn into a constant merge
// conflict; a fresh clone pays one run. `npm run mutate -- --force` retests everything.

/** The folders mutated, and the test files that have them as their subject. */
const FOLDERS = {
  formats: ['formats', 'ftrace', 'layouts', 'perf-data', 'trace-dat', 'fuzz', 'registries', 'model', 'mutation-formats', 'mutation-formats-canonical', 'mutation-formats-input', 'mutation-formats-binary', 'mutation-formats-ranges', 'line-splitter', 'ftrace-fastpath', 'mutation-formats-bytes', 'mutation-formats-pool', 'mutation-formats-events', 'mutation-formats-assembler', 'mutation-formats-perfqueue', 'mutation-formats-context', 'mutation-formats-follow', 'mutation-formats-jsonl', 'mutation-formats-perfsample', 'mutation-formats-writer', 'mutation-formats-eventformat', 'mutation-formats-tracedat', 'mutation-formats-ringbuf', 'mutation-formats-perfdata2', 'mutation-formats-csv2', 'mutation-formats-source', 'mutation-formats-textlines', 'write-pool', 'byte-writer'],
  symbols: ['symbols', 'mutation-symbols', 'mutation-symbols-table', 'mutation-symbols-elf', 'mutation-symbols-index', 'mutation-symbols-kaslr', 'mutation-symbols-nm', 'mutation-symbols-columns', 'mutation-symbols-msrs', 'mutation-symbols-cache', 'mutation-symbols-iomap', 'devices', 'iomap-rules', 'analyze', 'mutation-analyze', 'depth', 'ftrace', 'registries', 'exports', 'diff', 'fleet', 'advise-modern', 'trace-dat', 'perf-data', 'mutation-replay'],
  analyze: ['analyze', 'diff', 'sketch', 'percentiles', 'mutation-analyze', 'mutation-analyze-cells', 'mutation-analyze-index', 'mutation-analyze-resolver', 'mutation-analyze-sketch', 'mutation-analyze-diff', 'mutation-analyze-rows', 'key-table', 'mutation-formats', 'exports', 'layouts', 'depth', 'ftrace', 'registries', 'formats'],
  replay: ['advise-modern', 'mutation-replay', 'mutation-replay-periodic', 'mutation-replay-passes', 'mutation-replay-trace', 'mutation-replay-advise', 'mutation-replay-estimate', 'mutation-replay-pipeline', 'mutation-replay-context', 'mutation-replay-timer', 'mutation-replay-periodic2', 'mutation-replay-devices', 'registries', 'check-validate'],
};
// Not used to kill mutants: test/depth, exports and analyze for src/formats (their subjects are
// analyze, the exports and the CLI; their 1-3 s tests ran for every formats mutant they touched),
// test/parallel for src/formats (its in-thread test reads emulated traces in ranges of 8 sizes and
// analyzes each: 2 s for every text-parser mutant; the rest spawn the built CLI, which runs no
// mutant; test/mutation-formats-ranges and -pool read small inputs in ranges, in this thread and
// through stand-in workers),
// test/fleet for src/analyze (its subject is src/fleet; a test of it
// took 25 s a mutant under instrumentation, and it covered 1,280 of analyze's 2,294 mutants),
// the estimate-* and replay tests for src/replay (20-60 s a mutant; the mutation-replay-*
// files test the same code on hand-built traces), test/browser (needs chromium; its subject is the HTML report),
// emulator, check-reproduce, schemas (their subjects are src/emulator, src/check, src/report,
// and they spend most of their time emulating) and mutation-oracle (the Python oracle).

/** `--mutate X` / `-m X` on the command line (Stryker reads it too; here it names the target's files). */
const argv = process.argv;
const at = Math.max(argv.indexOf('--mutate'), argv.indexOf('-m'));
const target = at > 0 ? argv[at + 1] : undefined;
const folder = process.env.MUTATE_FOLDER ?? target?.match(/^src\/([a-z]+)\//)?.[1];
if (folder !== undefined && !(folder in FOLDERS)) throw new Error(`MUTATE_FOLDER=${folder}: choose one of ${Object.keys(FOLDERS).join(', ')}`);
const folders = folder ? [folder] : Object.keys(FOLDERS);
const tag = process.env.MUTATE_TAG ?? (target ? target.replace(/[^A-Za-z0-9.-]+/g, '_') : folder ?? 'all');

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: [
    ...folders.map((f) => `src/${f}/**/*.ts`),
    // Entry of a worker thread: the tests parse ranges in this thread (there is no .js beside
    // the sources), so no test can observe a mutant here; parseRange itself is mutated.
    ...(folders.includes('formats') ? ['!src/formats/parse-worker.ts'] : []),
  ],
  testRunner: 'vitest',
  vitest: { configFile: 'stryker.config.vitest.mts', related: false },
  testFiles: [...new Set(folders.flatMap((f) => FOLDERS[f]))].map((t) => `test/${t}.test.ts`),
  // Each mutant runs only the tests that executed its code in the dry run.
  coverageAnalysis: 'perTest',
  // Mutants in module-level code would need every test rerun in a fresh process; the few
  // there (tables and regexes built once) are checked through the tests that read them.
  ignoreStatic: true,
  checkers: process.env.MUTATE_TYPECHECK ? ['typescript'] : [],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  incremental: true,
  incrementalFile: `reports/incremental/${tag}.json`,
  concurrency: 2,
  // A mutant is a timeout past 1.5x its covering tests' dry-run time plus 3 s (a runaway loop;
  // 10 s made each of context.ts's ~70 loop mutants cost 15 s).
  timeoutMS: 3_000,
  timeoutFactor: 1.5,
  dryRunTimeoutMinutes: 30,
  // bench/out holds GB of generated traces; test-artifacts is the browser test's.
  ignorePatterns: ['bench', 'test-artifacts', 'reports', 'test-results.json'],
  // event-recorder: one file per mutant as it is tested (reports/events/<target>), to follow a long run.
  reporters: ['clear-text', 'progress', 'html', 'json', 'event-recorder'],
  eventReporter: { baseDir: `reports/events/${tag}` },
  htmlReporter: { fileName: `reports/mutation/${tag}.html` },
  jsonReporter: { fileName: `reports/mutation/${tag}.json` },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
