import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../src/cli/main.js';
import { openTrace, type OpenTraceOptions, type TraceStream } from '../src/formats/index.js';
import type { ExitChunk } from '../src/model/chunk.js';

export const ROOT = join(import.meta.dirname, '..');
export const fx = (...p: string[]): string => join(ROOT, 'fixtures', ...p);

export function readJson<T = any>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs the CLI in this process, from the sources (what a test of logic needs; fast, never stale). */
export async function cli(args: string[], input?: string | Buffer): Promise<CliResult> {
  const out: Buffer[] = [];
  let err = '';
  const stdout = new Writable({ write(chunk, _enc, cb) { out.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)); cb(); } });
  async function* stdin(): AsyncGenerator<Buffer> { if (input !== undefined) yield Buffer.isBuffer(input) ? input : Buffer.from(input); }
  const code = await main(args, { stdout, stderr: { write: (s: string) => { err += s; return true; } }, stdin: stdin(), columns: 0 });
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: err };
}

/** Runs the built CLI as a user would (a separate process; needs `npm run build` first, which `npm test` does). */
export function cliProcess(args: string[], input?: string | Buffer, env?: Record<string, string>): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'exitscope.js'), ...args], { cwd: ROOT, input, encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Oracle rows -> the fields both sides define. */
export function comparable(rows: any[]): any[] {
  return rows.map((r) => ({
    rank: r.rank, key: r.key, symbol: r.symbol, module: r.module, address: r.address, count: r.count,
    timeNs: r.timeNs, timed: r.timed, countPct: r.countPct, timePct: r.timePct, meanNs: r.meanNs,
    p50Ns: r.p50Ns, p99Ns: r.p99Ns, maxNs: r.maxNs, reasons: r.reasons,
    ...(r.caller !== undefined ? { caller: r.caller, callerAddress: r.callerAddress } : {}),
  }));
}

/** Opens an input and reads every chunk: the stream (stats, counters) and the chunks. */
export async function readChunks(path: string, opts: OpenTraceOptions = {}): Promise<{ s: TraceStream; chunks: ExitChunk[] }> {
  const s = await openTrace(path, opts);
  const chunks: ExitChunk[] = [];
  for await (const c of s.chunks) chunks.push(c);
  return { s, chunks };
}
