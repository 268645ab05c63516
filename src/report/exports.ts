/**
 * Exports: symbolized renderings of every exit that other tools open (folded
 * stacks for flamegraph.pl and speedscope, Chrome trace-event JSON for
 * Perfetto, Parquet for DuckDB/Spark). Unlike trace formats they are not read
 * back; unlike reports they stream one record per exit. `convert --to NAME`
 * takes any entry here; a new export is one file plus one line in EXPORTS.
 */
import type { SymbolizedSource } from '../analyze/source.js';

export interface ExportFlag {
  type: 'string' | 'boolean' | 'number';
  describe: string;
  choices?: readonly string[];
  default?: string | boolean | number;
}

export interface ExportContext {
  /** Inputs opened with their symbols settled (KASLR decided), chunks to stream. */
  source: SymbolizedSource;
  /** The values of this exporter's own flags, by flag name. */
  flags: Record<string, unknown>;
  /** The output path, when not standard output (some formats name it in metadata). */
  outputPath: string | null;
}

export interface Exporter {
  readonly name: string;
  readonly describe: string;
  /** Binary output (refuses a terminal as output). */
  readonly binary?: boolean;
  /** Flags `convert` accepts for this export (declared so unknown flags still fail). */
  readonly flags?: Readonly<Record<string, ExportFlag>>;
  write(ctx: ExportContext): AsyncIterable<string | Buffer>;
}

/** Every export, in help order. */
export const EXPORTS: readonly Exporter[] = [
  { name: 'folded', describe: 'folded stacks reason;caller;function count, for flamegraph.pl and speedscope (docs/reports.md)', flags: { weight: { type: 'string', choices: ['count', 'time'], default: 'count', describe: 'weigh folded stacks by exit count, or by handling time in ns' } }, write: async function* (ctx) { yield* (await import('./folded.js')).writeFolded(ctx); } },
  { name: 'chrome', describe: "Chrome trace-event JSON, each exit a slice on its vcpu's track, for Perfetto UI and chrome://tracing (docs/reports.md)", write: async function* (ctx) { yield* (await import('./chrome.js')).writeChrome(ctx); } },
  { name: 'parquet', describe: 'one row per exit, symbolized, for DuckDB/Spark (docs/fleet.md)', binary: true, flags: { host: { type: 'string', describe: "host name for the Parquet metadata (default: this machine's)" }, 'row-group-rows': { type: 'number', describe: 'exits per row group, what memory holds at once (default 65536)' } }, write: async function* (ctx) { yield* (await import('./parquet.js')).writeParquet(ctx); } },
];

export function exporterFor(name: string): Exporter | undefined {
  return EXPORTS.find((e) => e.name === name);
}
