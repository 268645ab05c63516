/**
 * What the format registry needs of the binary formats to sniff and name them — their magic bytes and
 * descriptions — without loading their readers (trace-dat.ts, perf-data.ts and what they import: fzstd,
 * zlib, the tracing decoders). Start-up is part of every run's time, and most runs read text.
 */
import type { TraceFormat } from './types.js';

/** The tracing-data magic trace.dat starts with (`\x17\x08Dtracing`). */
export const TRACING_MAGIC = Buffer.from([0x17, 0x08, 0x44, 0x74, 0x72, 0x61, 0x63, 0x69, 0x6e, 0x67]);
export const PERF_MAGIC = Buffer.from('PERFILE2', 'latin1');
const PERF_MAGIC_BE = Buffer.from(PERF_MAGIC).reverse();

export type FormatInfo = Pick<TraceFormat, 'name' | 'aliases' | 'describe' | 'binary' | 'sniff'>;

export const traceDatInfo: FormatInfo = {
  name: 'trace-dat',
  aliases: ['trace.dat', 'tracedat'],
  describe: 'trace-cmd trace.dat (binary, versions 6 and 7; none/zstd/zlib compression)',
  binary: true,
  sniff(head) {
    return head.length >= TRACING_MAGIC.length && head.subarray(0, TRACING_MAGIC.length).equals(TRACING_MAGIC);
  },
};

export const perfDataInfo: FormatInfo = {
  name: 'perf-data',
  aliases: ['perf.data', 'perfdata'],
  describe: 'perf.data (binary: perf record -e "kvm:*", perf kvm stat record; file or pipe mode, -z compressed)',
  binary: true,
  sniff(head) {
    if (head.length < 8) return false;
    const m = head.subarray(0, 8);
    return m.equals(PERF_MAGIC) || m.equals(PERF_MAGIC_BE);
  },
};

/** A format whose reader (and writer, when `writable`) load on first use. */
export function lazyFormat(info: FormatInfo, load: () => Promise<TraceFormat>, writable: boolean): TraceFormat {
  return {
    ...info,
    async *read(input, state, opts) {
      yield* (await load()).read(input, state, opts);
    },
    ...(writable ? { async *write(chunks: AsyncIterable<import('../model/chunk.js').ExitChunk>, opts: import('./types.js').WriteOptions) { yield* (await load()).write!(chunks, opts); } } : {}),
  };
}
