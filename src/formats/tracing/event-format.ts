/**
 * The tracefs event format files (`events/<system>/<event>/format`) and the
 * ring-buffer `header_page`, as trace.dat and perf.data's HEADER_TRACING_DATA
 * embed them. Facts carried over from libtraceevent's event-parse.c:
 *   - one `field:<decl>;\toffset:N;\tsize:N;\tsigned:N;` line per field
 *     (`signed:` is missing in very old kernels); the common_* fields come
 *     first, then a blank line, then the event's own fields;
 *   - `<decl>` ends in the field name, optionally with `[N]` (a fixed array;
 *     `char x[N]` is a string) ;
 *   - `__data_loc <type>[] name` is a u32 whose low 16 bits are the offset of
 *     the data from the start of the record and whose high 16 bits are its
 *     length; `__rel_loc` is the same with the offset counted from the end of
 *     the field;
 *   - header_page's `commit` field size is the kernel's long size (the width
 *     of the page's commit word) and `data` gives where records start.
 * Field values are read at these offsets, never at hard-coded ones.
 */
import { FormatError } from './source.js';

export interface FormatField {
  readonly name: string;
  /** The C declaration without the name (`unsigned int`, `__data_loc char[]`, `char[16]`). */
  readonly type: string;
  readonly offset: number;
  readonly size: number;
  readonly signed: boolean;
  /** Fixed array length; 0 for dynamic (`__data_loc`/`__rel_loc`), -1 when not an array. */
  readonly arrayLen: number;
  readonly dynamic: 'data_loc' | 'rel_loc' | null;
  /** Element size of arrays (the field size for scalars). */
  readonly elemSize: number;
  /** A char array: printed as a string. */
  readonly isString: boolean;
  readonly common: boolean;
}

export interface EventFormat {
  readonly system: string;
  readonly name: string;
  readonly id: number;
  readonly fields: readonly FormatField[];
  readonly printFmt: string;
  field(name: string): FormatField | undefined;
}

const TYPE_SIZES: Record<string, number> = {
  char: 1, 'unsigned char': 1, 'signed char': 1, u8: 1, s8: 1, __u8: 1, __s8: 1, bool: 1, _Bool: 1,
  short: 2, 'unsigned short': 2, u16: 2, s16: 2, __u16: 2, __s16: 2,
  int: 4, 'unsigned int': 4, unsigned: 4, u32: 4, s32: 4, __u32: 4, __s32: 4, pid_t: 4, gfp_t: 4,
  'long long': 8, 'unsigned long long': 8, u64: 8, s64: 8, __u64: 8, __s64: 8,
};

function elemSizeOf(base: string, longSize: number): number {
  const t = base.replace(/\b(const|volatile|struct)\b/g, '').replace(/\s+/g, ' ').trim();
  if (t.endsWith('*')) return longSize;
  if (t in TYPE_SIZES) return TYPE_SIZES[t];
  if (/\blong\b/.test(t)) return /long long/.test(t) ? 8 : longSize;
  return 1;
}

/** Parses one `field:` line's parts. */
function parseField(decl: string, attrs: Map<string, string>, longSize: number, at: number): FormatField {
  const offset = Number(attrs.get('offset'));
  const size = Number(attrs.get('size'));
  if (!Number.isInteger(offset) || !Number.isInteger(size) || offset < 0 || size < 0) {
    throw new FormatError(at, `event format: field '${decl}' has no valid offset/size`);
  }
  let d = decl.trim();
  let arrayLen = -1;
  let dynamic: FormatField['dynamic'] = null;
  // Trailing [N] belongs to the name: `char comm[16]`.
  const arr = /\[(\d*)\]\s*$/.exec(d);
  if (arr) {
    arrayLen = arr[1] === '' ? 0 : Number(arr[1]);
    d = d.slice(0, arr.index).trim();
  }
  const m = /([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(d);
  if (!m) throw new FormatError(at, `event format: cannot find the field name in '${decl}'`);
  const name = m[1];
  let type = d.slice(0, m.index).trim();
  if (/^__data_loc\b/.test(type)) { dynamic = 'data_loc'; type = type.replace(/^__data_loc\s*/, ''); }
  else if (/^__rel_loc\b/.test(type)) { dynamic = 'rel_loc'; type = type.replace(/^__rel_loc\s*/, ''); }
  let base = type;
  if (dynamic) {
    base = type.replace(/\[\s*\]\s*$/, '').trim();
    arrayLen = 0;
  }
  const isChar = /^(const\s+)?(unsigned\s+|signed\s+)?char$/.test(base);
  let elemSize = size;
  if (arrayLen > 0) elemSize = Math.max(1, Math.floor(size / arrayLen));
  else if (arrayLen === 0) elemSize = elemSizeOf(base, longSize);
  const signedAttr = attrs.get('signed');
  const signed = signedAttr !== undefined ? signedAttr === '1' : /^(char|short|int|long|s8|s16|s32|s64|__s\d+|pid_t)\b/.test(base) && !/unsigned/.test(base);
  return {
    name,
    type: dynamic ? `__${dynamic} ${type}` : arrayLen > 0 ? `${type}[${arrayLen}]` : type,
    offset, size, signed, arrayLen, dynamic, elemSize,
    isString: isChar && arrayLen >= 0,
    common: name.startsWith('common_'),
  };
}

/** The field lines of a format text (event format or header_page). */
function parseFields(text: string, longSize: number, at: number): FormatField[] {
  const fields: FormatField[] = [];
  for (const line of text.split('\n')) {
    const i = line.indexOf('field:');
    if (i < 0) continue;
    const rest = line.slice(i + 6);
    const semi = rest.indexOf(';');
    if (semi < 0) throw new FormatError(at, `event format: malformed field line '${line.trim()}'`);
    const decl = rest.slice(0, semi);
    const attrs = new Map<string, string>();
    for (const part of rest.slice(semi + 1).split(';')) {
      const c = part.indexOf(':');
      if (c > 0) attrs.set(part.slice(0, c).trim(), part.slice(c + 1).trim());
    }
    fields.push(parseField(decl, attrs, longSize, at));
  }
  return fields;
}

/**
 * Parses one event format file. `at` is the byte offset of the text in the
 * input (for error messages); `longSize` sizes `long` in dynamic arrays.
 */
export function parseEventFormat(text: string, system: string, longSize = 8, at = 0): EventFormat {
  const name = /^name:\s*(\S+)/m.exec(text)?.[1];
  const idText = /^ID:\s*(\d+)/m.exec(text)?.[1];
  if (!name || idText === undefined) throw new FormatError(at, `event format of system '${system}' has no name or ID line`);
  const pf = text.indexOf('print fmt:');
  const body = pf >= 0 ? text.slice(0, pf) : text;
  const fields = parseFields(body, longSize, at);
  const byName = new Map(fields.map((f) => [f.name, f] as const));
  return {
    system, name, id: Number(idText), fields,
    printFmt: pf >= 0 ? text.slice(pf + 10).trim() : '',
    field: (n) => byName.get(n),
  };
}

/** What the ring buffer's sub-buffer (page) header looks like. */
export interface PageHeader {
  /** Width of the page timestamp (8). */
  timestampSize: number;
  /** Offset and width of the commit word (the kernel's long size). */
  commitOffset: number;
  commitSize: number;
  /** Where records start in a page. */
  dataOffset: number;
}

export function parsePageHeader(text: string, at = 0): PageHeader {
  const fields = parseFields(text, 8, at);
  const f = (n: string): FormatField | undefined => fields.find((x) => x.name === n);
  const ts = f('timestamp'), commit = f('commit'), data = f('data');
  if (!ts || !commit || !data) throw new FormatError(at, 'header_page: expected timestamp, commit and data fields');
  if (ts.size !== 8) throw new FormatError(at, `header_page: a ${ts.size}-byte page timestamp is not supported (expected 8)`);
  if (commit.size !== 4 && commit.size !== 8) throw new FormatError(at, `header_page: commit word of ${commit.size} bytes (expected 4 or 8)`);
  return { timestampSize: ts.size, commitOffset: commit.offset, commitSize: commit.size, dataOffset: data.offset };
}

/** Reads an unsigned or signed scalar field as a number (8-byte fields as bigint). */
export function readScalar(dv: DataView, base: number, f: { offset: number; size: number; signed: boolean }, le: boolean, off = f.offset): number | bigint {
  const p = base + off;
  switch (f.size) {
    case 1: return f.signed ? dv.getInt8(p) : dv.getUint8(p);
    case 2: return f.signed ? dv.getInt16(p, le) : dv.getUint16(p, le);
    case 4: return f.signed ? dv.getInt32(p, le) : dv.getUint32(p, le);
    case 8: return f.signed ? dv.getBigInt64(p, le) : dv.getBigUint64(p, le);
    default: return 0;
  }
}

export type FieldValue = number | bigint | string | Array<number | bigint>;

/**
 * Every field of a record as values (the slow, generic path: tests and dumps).
 * Strings are char arrays up to their first NUL; other arrays are arrays.
 */
export function decodeFields(fmt: EventFormat, data: Uint8Array, le: boolean, withCommon = false): Record<string, FieldValue> {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: Record<string, FieldValue> = {};
  for (const f of fmt.fields) {
    if (f.common && !withCommon) continue;
    if (f.offset + f.size > data.length) continue;
    let start = f.offset, len = f.size;
    if (f.dynamic) {
      const loc = dv.getUint32(f.offset, le);
      start = (loc & 0xffff) + (f.dynamic === 'rel_loc' ? f.offset + f.size : 0);
      len = loc >>> 16;
      if (start + len > data.length) { out[f.name] = ''; continue; }
    }
    if (f.arrayLen < 0) { out[f.name] = readScalar(dv, 0, f, le); continue; }
    if (f.isString) {
      let end = start;
      while (end < start + len && data[end] !== 0) end++;
      out[f.name] = Buffer.from(data.buffer, data.byteOffset + start, end - start).toString('latin1');
      continue;
    }
    const arr: Array<number | bigint> = [];
    const es = f.elemSize;
    for (let p = start; p + es <= start + len; p += es) arr.push(readScalar(dv, 0, { offset: 0, size: es, signed: f.signed }, le, p));
    out[f.name] = arr;
  }
  return out;
}
