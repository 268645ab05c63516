/**
 * Setup of the mutation runs only (stryker.config.vitest.mts), never of `npm test`.
 *
 * Stryker runs every test file in one process (vitest's threads pool, one thread), so a
 * test that measures a child process's peak RSS through `process.resourceUsage().maxRSS`
 * sees this process's peak instead: Linux carries the parent's high-water mark into a
 * child spawned with vfork-and-exec. Such a test tests the machine, not a mutant; it
 * is skipped here and runs in `npm test`.
 */
import { beforeEach } from 'vitest';

const MEASURES_PROCESS_MEMORY = /in bounded memory/;

beforeEach((ctx) => {
  if (MEASURES_PROCESS_MEMORY.test(ctx.task.name)) ctx.skip();
});
