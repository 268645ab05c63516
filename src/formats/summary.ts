/**
 * The accounting of one input, as every JSON result carries it (schema:
 * summary-schema.ts): lines = header + events + skipped + rejected, plus the
 * declared counters.
 */
import type { TraceStream } from './index.js';
import type { InputSummary } from './summary-schema.js';

export type { InputSummary } from './summary-schema.js';

export function summarizeInput(s: TraceStream): InputSummary {
  const st = s.stats;
  return {
    path: st.path, format: st.format, lines: st.lines, header: st.header, events: st.events,
    skipped: st.skipped, rejected: st.rejected, counters: { ...s.counters },
    rejections: [...st.rejections], notes: [...st.notes],
  };
}
