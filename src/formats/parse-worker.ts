/** A parse worker (see parallel.ts): parses the byte ranges it is given, one at a time, and posts what it finds. */
import { parentPort } from 'node:worker_threads';
import { onWorkerRequest, type WorkerRequest } from './ranges.js';

parentPort!.on('message', (m: WorkerRequest) => onWorkerRequest(m, (out) => parentPort!.postMessage(out)));
