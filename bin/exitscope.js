#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm install`/`npm ci` via "prepare").
import { readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
if (argv.length === 1 && argv[0] === '--version') {
  // Answered without loading the CLI: start-up is what a version check measures.
  process.stdout.write(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version + '\n');
} else {
  // A reader that goes away (`exitscope analyze ... | head`) ends the run quietly, with exit 0.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e) => { if (e.code === 'EPIPE') process.exit(0); else throw e; });
  }
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(argv);
}
