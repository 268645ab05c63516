// The vitest configuration of `npm run mutate` (stryker.config.mjs): the project's, plus
// - test/mutation-setup.ts, which skips the tests that cannot run in Stryker's one process;
// - no module isolation between test files: Stryker runs each mutant's covering tests in
//   one worker thread, and re-evaluating every source module for each test file of each
//   mutant dominated the run time. Tests here keep no module state that another file reads.
import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.ts';

export default mergeConfig(base, defineConfig({ test: { setupFiles: ['test/mutation-setup.ts'], isolate: false, poolOptions: { threads: { isolate: false } } } }));
