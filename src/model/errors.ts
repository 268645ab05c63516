/**
 * Errors the user can act on. The CLI prints `exitscope: <message>` on one
 * line and exits 2; anything else is a bug and says so.
 */
export class ExitscopeError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'ExitscopeError';
  }
}

/** Per-input accounting: every line is parsed, skipped as unrelated, or rejected. */
export interface InputStats {
  path: string;
  format: string;
  /** Physical lines read (the header included); for binary formats, records read. */
  lines: number;
  /** Header lines of a format that has them (CSV: 1). */
  header: number;
  events: number;
  skipped: number;
  rejected: number;
  /** The first rejections, `file:line: reason`. */
  rejections: string[];
  /** Notes the reader wants the user to see (e.g. ignored columns). */
  notes: string[];
}

export const MAX_KEPT_REJECTIONS = 50;

/**
 * Collects rejections for one input. In strict mode the first one ends the run
 * with exit 2, naming the place.
 */
export class Diagnostics {
  readonly stats: InputStats;
  constructor(path: string, format: string, readonly strict: boolean) {
    this.stats = { path, format, lines: 0, header: 0, events: 0, skipped: 0, rejected: 0, rejections: [], notes: [] };
  }

  reject(line: number, reason: string): void {
    this.rejectAt(String(line), reason);
  }

  /** A rejection placed by something other than a line number (a binary file's byte offset: `@0x1f000`). */
  rejectAt(where: string, reason: string): void {
    const msg = `${this.stats.path}:${where}: ${reason}`;
    this.stats.rejected++;
    if (this.strict) throw new ExitscopeError(`${msg} (--strict stops at the first rejected line)`);
    if (this.stats.rejections.length < MAX_KEPT_REJECTIONS) this.stats.rejections.push(msg);
  }

  note(text: string): void {
    if (!this.stats.notes.includes(text)) this.stats.notes.push(text);
  }
}
