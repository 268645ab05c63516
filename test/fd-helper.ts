import { readdirSync, readlinkSync } from 'node:fs';

/** The files among `paths` this process has a descriptor open on (Linux /proc/self/fd). */
export function openOn(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target = '';
    try { target = readlinkSync(`/proc/self/fd/${fd}`); } catch { continue; }
    if (paths.includes(target)) out.push(target);
  }
  return out;
}
