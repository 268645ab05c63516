/** A parse worker (see parallel.ts): parses the byte ranges it is given, one at a time, and posts what it finds. */
import { parentPort } from 'node:worker_threads';
import { recycleBatch } from './events.js';
import { parseRange, recycleChunk, type RangeSpec } from './ranges.js';

parentPort!.on('message', (m: RangeSpec | { recycle: ArrayBufferLike[] } | { recycleChunk: ArrayBufferLike[]; capacity: number }) => {
  // A batch the main thread has replayed, or a chunk its consumer has released, back for the next one.
  if ('recycle' in m) recycleBatch(m.recycle);
  else if ('recycleChunk' in m) recycleChunk(m.recycleChunk, m.capacity);
  // Shared buffers: posted without a transfer list (see parseRange).
  else void parseRange(m, (out) => parentPort!.postMessage(out));
});
