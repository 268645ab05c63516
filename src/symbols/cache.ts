/**
 * The map cache: a parsed and indexed copy of the maps of one `--map` list,
 * so a big System.map or kallsyms costs its parse once (a 200,000-symbol map
 * loads in a few milliseconds from here instead of ~150 ms).
 *
 * Where: $EXITSCOPE_CACHE_DIR, else $XDG_CACHE_HOME/exitscope/maps, else
 * ~/.cache/exitscope/maps. Key: the maps' absolute paths, load bases, sizes and
 * modification times, so an edited map is parsed again, and exitscope's version,
 * so a release with other parsing rules does not read an older release's parse. Clear it with
 * `rm -rf ~/.cache/exitscope`; EXITSCOPE_NO_CACHE=1 turns it off. Any problem
 * reading or writing the cache falls back to parsing: the cache is never the
 * reason a run fails.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { SymbolColumns } from './columns.js';
import type { Symbolizer } from './index.js';
import { SymbolTable } from './symbol-table.js';
import type { MapSource } from './types.js';

const MAGIC = 'XSMAP1\n';

export function mapCacheDir(): string {
  const env = process.env;
  if (env.EXITSCOPE_CACHE_DIR) return env.EXITSCOPE_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'exitscope', 'maps');
}

/** exitscope's version (package.json beside src/ and dist/), part of the key. */
let version: Promise<string> | null = null;
const ownVersion = (): Promise<string> =>
  (version ??= readFile(new URL('../../package.json', import.meta.url), 'utf8').then((t) => String(JSON.parse(t).version), () => '?'));

async function cacheFile(specs: readonly string[]): Promise<string | null> {
  if (process.env.EXITSCOPE_NO_CACHE) return null;
  const parts: string[] = [`exitscope ${await ownVersion()}`];
  for (const spec of specs) {
    const at = spec.lastIndexOf('@');
    const path = at > 0 && /^@(0x[0-9a-f]+|\d+)$/i.test(spec.slice(at)) ? spec.slice(0, at) : spec;
    try {
      const st = await stat(path);
      parts.push(`${resolve(path)}\0${spec.slice(path.length)}\0${st.size}\0${st.mtimeMs}`);
    } catch {
      return null;
    }
  }
  return join(mapCacheDir(), createHash('sha1').update(parts.join('\n')).digest('hex') + '.bin');
}

type Arr = Uint32Array | Int32Array | Float64Array | Uint8Array | BigUint64Array;

export async function writeMapCache(specs: readonly string[], s: Symbolizer): Promise<void> {
  const file = await cacheFile(specs);
  if (!file) return;
  try {
    const blobs: Arr[] = [];
    const sources = s.sources.map((src) => {
      const c = src.columns;
      blobs.push(c.hi, c.lo, c.size, c.text, c.nameStart, c.nameEnd, c.module, new Uint8Array(c.names.buffer, c.names.byteOffset, c.names.length));
      return { path: src.path, kind: src.kind, absolute: src.absolute, n: c.n, modules: c.modules, names: c.names.length };
    });
    const tables = [s.core, s.absolute].map((t) => {
      const a = t.arrays();
      blobs.push(a.starts, a.ends, a.sized, a.src, a.part);
      return a.starts.length;
    });
    const header = Buffer.from(JSON.stringify({ sources, tables }));
    const out: Buffer[] = [Buffer.from(MAGIC), Buffer.alloc(4)];
    out[1].writeUInt32LE(header.length);
    out.push(header);
    let len = MAGIC.length + 4 + header.length;
    for (const b of blobs) {
      const pad = (8 - (len % 8)) % 8;
      if (pad) { out.push(Buffer.alloc(pad)); len += pad; }
      out.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      len += b.byteLength;
    }
    await mkdir(mapCacheDir(), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, Buffer.concat(out));
    await rename(tmp, file);
  } catch {
    // A cache we cannot write is only a slower next run.
  }
}

export async function readMapCache(specs: readonly string[]): Promise<Symbolizer | null> {
  const file = await cacheFile(specs);
  if (!file) return null;
  let raw: Buffer;
  try { raw = await readFile(file); } catch { return null; }
  try {
    if (raw.toString('latin1', 0, MAGIC.length) !== MAGIC) return null;
    // Typed-array views need their element alignment: a file this size is read into its own
    // ArrayBuffer at offset 0 (not Node's shared pool), so views go straight onto it; a copy
    // only when the read buffer does not start at an 8-byte boundary of its memory.
    let buf: ArrayBuffer, base = 0;
    if (raw.byteOffset % 8 === 0 && raw.buffer instanceof ArrayBuffer) { buf = raw.buffer; base = raw.byteOffset; } else {
      buf = new ArrayBuffer(raw.length);
      new Uint8Array(buf).set(raw);
    }
    const hlen = raw.readUInt32LE(MAGIC.length);
    const header = JSON.parse(raw.toString('utf8', MAGIC.length + 4, MAGIC.length + 4 + hlen)) as { sources: Array<{ path: string; kind: MapSource['kind']; absolute: boolean; n: number; modules: string[]; names: number }>; tables: number[] };
    let off = MAGIC.length + 4 + hlen;
    const take = <T extends Arr>(C: { new (b: ArrayBuffer, o: number, n: number): T; BYTES_PER_ELEMENT: number }, n: number): T => {
      off += (8 - (off % 8)) % 8;
      if (off + n * C.BYTES_PER_ELEMENT > raw.length) throw new RangeError('cache file cut short');
      const v = new C(buf, base + off, n);
      off += n * C.BYTES_PER_ELEMENT;
      return v;
    };
    const sources: MapSource[] = header.sources.map((h) => {
      const n = h.n;
      const cols: SymbolColumns = {
        n, hi: take(Uint32Array, n), lo: take(Uint32Array, n), size: take(Float64Array, n), text: take(Uint8Array, n),
        nameStart: take(Int32Array, n), nameEnd: take(Int32Array, n), module: take(Int32Array, n), modules: h.modules,
        names: Buffer.alloc(0),
      };
      const nb = take(Uint8Array, h.names);
      cols.names = Buffer.from(nb.buffer, nb.byteOffset, nb.length);
      return { path: h.path, kind: h.kind, absolute: h.absolute, columns: cols };
    });
    const parts = sources.map((s) => s.columns);
    const [core, abs] = header.tables.map((n) => SymbolTable.restore(parts, {
      starts: take(BigUint64Array, n), ends: take(BigUint64Array, n), sized: take(Uint8Array, n), src: take(Int32Array, n), part: take(Int32Array, n),
    }));
    if (off > raw.length) return null;
    const { Symbolizer: S } = await import('./index.js');
    return S.restore(sources, core, abs);
  } catch {
    return null;
  }
}
