// The vitest configuration of `npm run mutate` (stryker.config.mjs): the project's, plus
// test/mutation-setup.ts, which skips the tests that cannot run in Stryker's one process.
import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.ts';

export default mergeConfig(base, defineConfig({ test: { setupFiles: ['test/mutation-setup.ts'] } }));
