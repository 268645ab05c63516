/** The writing thread (see write-pool.ts): renders the chunks it is sent with the format's own writer. */
import { parentPort } from 'node:worker_threads';
import { writerFor } from './index.js';
import { writeSession, type WriteRequest } from './write-pool.js';

const take = writeSession((format, chunks, opts) => writerFor(format)(chunks, opts), (a) => parentPort!.postMessage(a));
parentPort!.on('message', (m: WriteRequest) => take(m));
