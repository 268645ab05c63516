/** A parse worker (see parallel.ts): parses the byte ranges it is given, one at a time, and posts what it finds. */
import { parentPort } from 'node:worker_threads';
import { recycleBatch } from './events.js';
import { parseRange, type RangeSpec } from './ranges.js';

parentPort!.on('message', (m: RangeSpec | { recycle: ArrayBufferLike[] }) => {
  // A batch the main thread has replayed, back for the next one.
  if ('recycle' in m) recycleBatch(m.recycle);
  // Shared buffers: posted without a transfer list (see parseRange).
  else void parseRange(m, (out) => parentPort!.postMessage(out));
});
