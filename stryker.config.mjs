// Mutation testing (issue 16): `npm run mutate`, not part of `npm test`.
// docs/mutation.md has the scores, the mutants accepted as equivalent and how to rerun.
//
// One folder at a time on a small machine:
//   npm run mutate -- --mutate 'src/analyze/**/*.ts'
// `--incremental` is always on: a rerun tests only the mutants whose code or covering
// tests changed since reports/stryker-incremental.json was written (gitignored: it is a
// cache of one machine's last run, several MB that churn with every source edit).
// `npm run mutate -- --force` retests everything.

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: [
    'src/formats/**/*.ts',
    'src/symbols/**/*.ts',
    'src/analyze/**/*.ts',
    'src/replay/**/*.ts',
    // Entry of a worker thread: the tests parse ranges in this thread (no .js beside the
    // sources), so Stryker cannot observe mutants here; parseRange itself is mutated.
    '!src/formats/parse-worker.ts',
  ],
  testRunner: 'vitest',
  vitest: { configFile: 'stryker.config.vitest.mts', related: false },
  // The browser test needs chromium and runs the emulator and the HTML report (neither
  // is mutated); everything else can kill a mutant.
  testFiles: ['test/!(browser).test.ts'],
  // Each mutant runs only the tests that executed its code in the dry run.
  coverageAnalysis: 'perTest',
  // Mutants in module-level code would need every test rerun in a fresh process; the few
  // there (tables, regexes built once) are checked through the tests that read them.
  ignoreStatic: true,
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  concurrency: 2,
  timeoutMS: 20_000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 30,
  // bench/out holds GB of generated traces; test-artifacts is the browser test's.
  ignorePatterns: ['bench', 'test-artifacts', 'reports', 'test-results.json'],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
