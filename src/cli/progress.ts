/**
 * A progress bar on stderr for long inputs: bytes read of the trace files and
 * exits per second. Shown only when stderr is a terminal, only once a run has
 * taken longer than SHOW_AFTER_MS (a short run prints nothing), never with
 * --quiet; colour only without NO_COLOR (https://no-color.org: set and not
 * empty disables it).
 *
 * Bytes read are probed from the outside, without a hook in the input layer:
 * on Linux /proc/self/fdinfo/N gives the file offset of every descriptor open
 * on the trace (the compressed offset for .gz, which is what the file size
 * measures). Readers that read by position (trace.dat, perf.data use pread)
 * leave that offset at 0, and standard input has no size: then the bar shows
 * exits and exits per second only. Exits are counted from the chunks.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import type cliProgressTypes from 'cli-progress';
import type { Argv } from 'yargs';
import type { TraceStream } from '../formats/index.js';
import type { ExitChunk } from '../model/chunk.js';
import type { CliIo } from './io.js';
import { groupDigits } from '../model/numbers.js';

/** A run shorter than this shows no bar at all. */
export const SHOW_AFTER_MS = 800;

/** Whether and how to draw: a terminal on stderr, no --quiet; colour unless NO_COLOR. */
export interface ProgressSettings {
  stream: NodeJS.WriteStream;
  color: boolean;
}

export function progressSettings(io: Pick<CliIo, 'stderr'>, quiet: boolean, env: NodeJS.ProcessEnv = process.env): ProgressSettings | null {
  if (quiet) return null;
  const err = io.stderr as Partial<NodeJS.WriteStream>;
  if (err !== process.stderr || !err.isTTY) return null;
  return { stream: process.stderr, color: !env.NO_COLOR };
}

/**
 * The read offset of a file as the kernel keeps it for this process's open
 * descriptors (the largest, if several are open on it); null where /proc is
 * not available or no descriptor reads the file by offset.
 */
export class ReadPositionProbe {
  readonly size: number | null;
  private readonly real: string | null;
  private fd = -1;

  constructor(path: string, private readonly procDir = '/proc/self') {
    let real: string | null = null, size: number | null = null;
    try {
      real = realpathSync(path);
      const st = statSync(real);
      size = st.isFile() ? st.size : null;
    } catch { /* stdin, a pipe, a vanished file: no size */ }
    this.real = real;
    this.size = size;
  }

  private offsetOf(fd: number): number | null {
    try {
      if (readlinkSync(`${this.procDir}/fd/${fd}`) !== this.real) return null;
      const m = /^pos:\s*(\d+)/m.exec(readFileSync(`${this.procDir}/fdinfo/${fd}`, 'utf8'));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  }

  position(): number | null {
    if (this.real === null || this.size === null) return null;
    if (this.fd >= 0) {
      const p = this.offsetOf(this.fd);
      if (p !== null && p > 0) return p;
    }
    let fds: string[];
    try { fds = readdirSync(`${this.procDir}/fd`); } catch { return null; }
    let best: number | null = null;
    for (const f of fds) {
      const fd = Number(f);
      const p = this.offsetOf(fd);
      if (p !== null && (best === null || p > best)) { best = p; this.fd = fd; }
    }
    return best !== null && best > 0 ? best : null;
  }
}

function human(bytes: number): string {
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(0)} KiB`;
  if (bytes < 1 << 30) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${(bytes / (1 << 30)).toFixed(2)} GiB`;
}

function rate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0);
}

/**
 * Progress over a run's inputs. `track` wraps each opened stream (before
 * anything else consumes it); `finish` clears the bar before results and
 * notes are printed. With null settings it only passes chunks through.
 */
export class InputProgress {
  private bar: cliProgressTypes.SingleBar | null = null;
  private readonly t0: number;
  private exits = 0;
  private lastUpdate = 0;
  private readonly probes: ReadPositionProbe[] = [];
  private readonly doneBytes: number[] = [];
  private current = '';
  private withBytes = false;

  constructor(private readonly settings: ProgressSettings | null, private readonly now: () => number = Date.now) {
    this.t0 = now();
  }

  get active(): boolean {
    return this.bar !== null;
  }

  track(stream: TraceStream): TraceStream {
    if (!this.settings) return stream;
    const k = this.probes.length;
    this.probes.push(new ReadPositionProbe(stream.path));
    this.doneBytes.push(0);
    const source = stream.chunks;
    const self = this;
    async function* counted(): AsyncGenerator<ExitChunk> {
      self.current = stream.path;
      for await (const c of source) {
        self.exits += c.length;
        self.tick(k);
        yield c;
      }
      self.doneBytes[k] = self.probes[k].size ?? 0;
    }
    return { ...stream, stats: stream.stats, chunks: counted() } as TraceStream;
  }

  private totalBytes(): number | null {
    let t = 0;
    for (const p of this.probes) { if (p.size === null) return null; t += p.size; }
    return t;
  }

  private tick(k: number): void {
    const now = this.now();
    if (now - this.lastUpdate < 100) return;
    this.lastUpdate = now;
    if (!this.bar && now - this.t0 < SHOW_AFTER_MS) return;
    const pos = this.probes[k].position();
    let read = 0;
    for (let i = 0; i < this.doneBytes.length; i++) read += i === k ? pos ?? 0 : this.doneBytes[i];
    const total = this.totalBytes();
    if (!this.bar) {
      this.withBytes = total !== null && total > 0 && pos !== null;
      const s = this.settings!;
      const bar = s.color ? '\x1b[36m{bar}\x1b[0m' : '{bar}';
      const format = this.withBytes
        ? `${bar} {percentage}% | {read} of {size} | {exits} exits, {rate} exits/s | {file}`
        : '{exits} exits, {rate} exits/s | {file}';
      // Loaded only when a bar is drawn (a terminal, a long input): start-up is part of every run's time.
      const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof cliProgressTypes;
      this.bar = new cliProgress.SingleBar({
        format, stream: s.stream, hideCursor: true, clearOnComplete: true, fps: 10, barsize: 24,
        barCompleteChar: s.color ? '█' : '#', barIncompleteChar: s.color ? '░' : '-',
      });
      this.bar.start(this.withBytes ? total! : 1, 0, this.payload(read, total));
    }
    this.bar.update(this.withBytes ? Math.min(read, total!) : 0, this.payload(read, total));
  }

  private payload(read: number, total: number | null): Record<string, string> {
    const secs = Math.max(1e-3, (this.now() - this.t0) / 1000);
    return { read: human(read), size: total === null ? '?' : human(total), exits: groupDigits(this.exits), rate: rate(this.exits / secs), file: this.current };
  }

  /** Clears the bar (nothing is left on the terminal). */
  finish(): void {
    if (this.bar) { this.bar.stop(); this.bar = null; }
  }
}

/** Flag for the commands that read long inputs. */
export const quietOption = (y: Argv): Argv =>
  y.option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress bar on stderr (it shows only on a terminal, for long inputs)' });
