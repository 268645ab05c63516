import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');
export const fx = (...p: string[]): string => join(ROOT, 'fixtures', ...p);

export function readJson<T = any>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Runs the built CLI as a user would. */
export function cli(args: string[], input?: string | Buffer): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'exitscope.js'), ...args], { cwd: ROOT, input, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Oracle rows -> the fields both sides define. */
export function comparable(rows: any[]): any[] {
  return rows.map((r) => ({
    rank: r.rank, key: r.key, symbol: r.symbol, module: r.module, address: r.address, count: r.count,
    timeNs: r.timeNs, timed: r.timed, countPct: r.countPct, timePct: r.timePct, meanNs: r.meanNs,
    p50Ns: r.p50Ns, p99Ns: r.p99Ns, maxNs: r.maxNs, reasons: r.reasons,
  }));
}
