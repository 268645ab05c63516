/** Output plumbing for the CLI: stdout or a file, with backpressure. */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { ExitscopeError } from '../model/errors.js';
import type { InputStats } from '../model/errors.js';

export async function openOutput(path: string | undefined): Promise<{ out: Writable; close: () => Promise<void> }> {
  if (!path || path === '-') return { out: process.stdout, close: async () => undefined };
  const out = createWriteStream(path);
  await new Promise<void>((resolve, reject) => {
    out.once('open', () => resolve());
    out.once('error', (e: NodeJS.ErrnoException) => reject(new ExitscopeError(`${path}: cannot write (${e.code ?? e.message})`)));
  });
  return {
    out,
    close: () => new Promise<void>((resolve, reject) => {
      out.end(() => resolve());
      out.once('error', reject);
    }),
  };
}

export async function writeAll(out: Writable, parts: AsyncIterable<string | Buffer>): Promise<void> {
  for await (const s of parts) {
    if (!out.write(s)) await once(out, 'drain');
  }
}

/** Rejected lines go to stderr (the first few), so nothing is dropped silently. */
export function printRejections(stats: ReadonlyArray<Pick<InputStats, 'path' | 'rejected' | 'rejections'>>, limit = 10): void {
  for (const s of stats) {
    s.rejections.slice(0, limit).forEach((r) => process.stderr.write(`exitscope: rejected ${r}\n`));
    const more = s.rejected - Math.min(limit, s.rejections.length);
    if (more > 0) process.stderr.write(`exitscope: ... and ${more} more rejected line(s) in ${s.path}\n`);
  }
}
