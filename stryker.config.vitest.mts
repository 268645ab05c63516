// The vitest configuration of `npm run mutate` (stryker.config.mjs): the project's, plus
// - test/mutation-setup.ts, which skips the tests that cannot run in Stryker's one process;
// - no module isolation between test files: Stryker runs each mutant's covering tests in
//   one worker thread, and re-evaluating every source module for each test file of each
//   mutant dominated the run time. Tests here keep no module state that another file reads.
// - quickest test files first: Stryker stops a mutant's run at the first failing test, and
//   vitest's own order (the longest file first) made every killed mutant pay for the slow
//   emulated-trace tests before the hand-built ones that kill it in milliseconds.
import { relative } from 'node:path';
import { defineConfig, mergeConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import base from './vitest.config.ts';

class QuickestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const cache = this.ctx.cache;
    const cost = (f: TestSpecification): number => {
      const key = `${f.project.name}:${relative(this.ctx.config.root, f.moduleId)}`;
      // The last recorded duration; a file never run goes by its size (~1 ms a kB, after the known ones of equal cost).
      return cache.getFileTestResults(key)?.duration ?? cache.getFileStats(key)?.size ?? Number.MAX_SAFE_INTEGER;
    };
    return [...files].sort((a, b) => cost(a) - cost(b));
  }
}

export default mergeConfig(base, defineConfig({ test: { setupFiles: ['test/mutation-setup.ts'], isolate: false, poolOptions: { threads: { isolate: false } }, sequence: { sequencer: QuickestFirst } } }));
