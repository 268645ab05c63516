/**
 * One read of a trace for several consumers: the HTML report asks several
 * questions of the same exits (by function, by reason, per device, over
 * time), and `analyze` answers one per run. Rather than reading and parsing
 * the input once per view, each run gets a branch of one stream; every chunk
 * is parsed once and handed to every branch (consumers only read chunks).
 *
 * A branch that runs ahead waits while another has more than MAX_QUEUED
 * chunks to catch up on, so memory stays bounded. That cannot deadlock: the
 * branch that asks for the next chunk has an empty queue, so the long queues
 * belong to branches that are busy draining them.
 */
import type { TraceStream } from '../../formats/index.js';
import type { ExitChunk } from '../../model/chunk.js';

const MAX_QUEUED = 64;

export function fanOut(stream: TraceStream, branches: number): TraceStream[] {
  const source = stream.chunks[Symbol.asyncIterator]();
  const queues: ExitChunk[][] = Array.from({ length: branches }, () => []);
  const open = new Array<boolean>(branches).fill(true);
  let ended = false;
  let failure: unknown = null;
  let pulling: Promise<void> | null = null;
  let wake: (() => void) | null = null;

  const backlog = (): number => {
    let m = 0;
    for (let k = 0; k < branches; k++) if (open[k] && queues[k].length > m) m = queues[k].length;
    return m;
  };
  const drained = (): void => {
    if (wake && backlog() < MAX_QUEUED) { const w = wake; wake = null; w(); }
  };

  async function pullOne(): Promise<void> {
    while (backlog() >= MAX_QUEUED) await new Promise<void>((resolve) => { wake = resolve; });
    try {
      const r = await source.next();
      if (r.done) ended = true;
      else for (let k = 0; k < branches; k++) if (open[k]) queues[k].push(r.value);
    } catch (e) {
      failure = e;
      ended = true;
    }
  }

  function pull(): Promise<void> {
    if (!pulling) pulling = pullOne().finally(() => { pulling = null; });
    return pulling;
  }

  async function* branch(k: number): AsyncGenerator<ExitChunk> {
    try {
      for (;;) {
        const q = queues[k];
        if (q.length) {
          const c = q.shift()!;
          drained();
          yield c;
          continue;
        }
        if (ended) {
          if (failure) throw failure;
          return;
        }
        await pull();
      }
    } finally {
      open[k] = false;
      queues[k].length = 0;
      drained();
    }
  }

  // Every branch sees the same chunk objects, and one branch may keep them: no branch may hand a chunk back to the reader (release).
  return Array.from({ length: branches }, (_, k) => ({ ...stream, stats: stream.stats, chunks: branch(k), release: undefined }) as TraceStream);
}
