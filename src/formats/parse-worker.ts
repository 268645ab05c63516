/** A parse worker (see parallel.ts): parses the byte ranges it is given, one at a time, and posts what it finds. */
import { parentPort } from 'node:worker_threads';
import { parseRange, type RangeSpec } from './ranges.js';

parentPort!.on('message', (spec: RangeSpec) => {
  void parseRange(spec, (m, transfer) => parentPort!.postMessage(m, transfer));
});
