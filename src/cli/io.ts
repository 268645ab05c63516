/**
 * Output plumbing for the CLI: standard output or a file, with backpressure,
 * behind a small interface so tests can run the CLI in process.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { ExitscopeError } from '../model/errors.js';
import type { InputStats } from '../model/errors.js';

export interface CliIo {
  stdout: Writable;
  stderr: { write(s: string): unknown };
  stdin: AsyncIterable<Buffer>;
  /** Terminal width for help text (0 when not a terminal). */
  columns: number;
}

export const PROCESS_IO: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin as AsyncIterable<Buffer>,
  columns: process.stdout.columns || 0,
};

/** `-` on the command line (standard input or output), as the CLI carries it past yargs. */
export const STDIO_ARG = '\0-';

export async function openOutput(path: string | undefined, io: CliIo): Promise<{ out: Writable; close: () => Promise<void> }> {
  if (!path || path === '-' || path === STDIO_ARG) return { out: io.stdout, close: async () => undefined };
  const out = createWriteStream(path);
  await new Promise<void>((resolve, reject) => {
    out.once('open', () => resolve());
    out.once('error', (e: NodeJS.ErrnoException) => reject(new ExitscopeError(`${path}: cannot write (${e.code === 'ENOENT' ? 'no such directory' : e.code === 'EACCES' ? 'permission denied' : e.code ?? e.message})`)));
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
export function printRejections(stats: ReadonlyArray<Pick<InputStats, 'path' | 'rejected' | 'rejections'>>, io: Pick<CliIo, 'stderr'>, limit = 10): void {
  for (const s of stats) {
    s.rejections.slice(0, limit).forEach((r) => io.stderr.write(`exitscope: rejected ${r}\n`));
    const more = s.rejected - Math.min(limit, s.rejections.length);
    if (more > 0) io.stderr.write(`exitscope: ... and ${more} more rejected line(s) in ${s.path}\n`);
  }
}
