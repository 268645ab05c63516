/**
 * Opening an input (src/formats/input.ts) and choosing its reader (src/formats/index.ts), in
 * this process (issue 16): the messages a user gets for a path that is not a trace file, a
 * broken or truncated .gz, a binary format on standard input, a file that is no trace; and
 * `--follow` on a growing file and on a pipe, which must hand over what has arrived and end
 * when the run is stopped.
 */
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { formatByName, openTrace, sniffFormat, writerFor } from '../src/formats/index.js';
import { openInput } from '../src/formats/input.js';
import type { ExitChunk } from '../src/model/chunk.js';
import { fx } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'exitscope-minput-'));
const HEAD = 'ts_ns,vcpu,reason,rip,duration_ns\n';

async function drain(it: AsyncIterable<ExitChunk>): Promise<number[]> {
  const vcpus: number[] = [];
  for await (const c of it) vcpus.push(...c.vcpu.subarray(0, c.length));
  return vcpus;
}

describe('paths that are not a readable trace file', () => {
  it('a directory, a missing file, a path through a file', async () => {
    await expect(openInput(tmp)).rejects.toThrow(`${tmp}: is a directory, not a trace file`);
    const missing = join(tmp, 'missing.csv');
    await expect(openInput(missing)).rejects.toThrow(`${missing}: cannot read trace (no such file)`);
    // stat() of a/b where a is a regular file fails with ENOTDIR: the code is shown as it is.
    const f = join(tmp, 'plain.csv');
    writeFileSync(f, HEAD);
    await expect(openInput(join(f, 'x'))).rejects.toThrow(`${join(f, 'x')}: cannot read trace (ENOTDIR)`);
  });
});

describe('gzip', () => {
  it('a .gz is read by its magic bytes, whatever its name', async () => {
    const p = join(tmp, 'gz-without-extension.csv');
    writeFileSync(p, gzipSync(Buffer.from(HEAD + '1,3,HLT,0x10,5\n')));
    const st = await openTrace(p);
    expect(st.format).toBe('csv');
    expect(await drain(st.chunks)).toEqual([3]);
  });

  it('gzip magic followed by garbage: cannot decompress, said while opening', async () => {
    const p = join(tmp, 'bad.gz');
    // 1f 8b then a compression method that is not deflate (8): zlib refuses the header.
    writeFileSync(p, Buffer.from([0x1f, 0x8b, 0x07, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    await expect(openInput(p)).rejects.toThrow(new RegExp(`^${p.replace(/[.]/g, '\\.')}: cannot decompress \\(.+\\)$`));
  });

  it('a .gz cut short after its first 4 KiB: the rows before the cut are read, then "a truncated .gz?"', async () => {
    // 20,000 rows of about 25 bytes: 500 kB of text. Half of its deflated bytes inflate to far more than the
    // 4 KiB sniffed at opening, so the error comes while the rows stream.
    const rows = Array.from({ length: 20000 }, (_, k) => `${k},${k % 7},HLT,0x${(k * 2654435761 >>> 0).toString(16)},${k % 13}\n`).join('');
    const gz = gzipSync(Buffer.from(HEAD + rows));
    const p = join(tmp, 'cut.csv.gz');
    writeFileSync(p, gz.subarray(0, gz.length >> 1));
    const st = await openTrace(p, { chunkRows: 100 });
    const got: number[] = [];
    let err: unknown;
    try {
      for await (const c of st.chunks) got.push(...c.vcpu.subarray(0, c.length));
    } catch (e) { err = e; }
    expect(String(err)).toBe(`ExitscopeError: ${p}: read failed (unexpected end of file); a truncated .gz?`);
    // The read got past the first 4 KiB (about 160 rows) before failing; nothing was made up.
    expect(got.length).toBeGreaterThan(160);
    expect(got).toEqual(got.map((_, k) => k % 7));
  });
});

describe('choosing the reader', () => {
  it('an unknown --input-format, and a format that cannot be written, name the choices', () => {
    expect(() => formatByName('pcap')).toThrow(/^unknown trace format 'pcap' \(choose one of: trace-dat, (\S+, )*perf-data, (\S+, )*csv, jsonl, ftrace, /);
    expect(() => writerFor('perf-data')).toThrow(/^cannot write perf-data \(writable: .*csv.*jsonl/);
  });

  it('a text file that is no trace, and a binary one without NUL bytes', () => {
    expect(() => sniffFormat('notes.txt', Buffer.from('hello world\nthis is not a trace\n'))).toThrow(/^notes\.txt: not a trace format exitscope knows; exitscope reads .*canonical CSV/);
    // 3 control bytes in 20 (15% > 10%): binary.
    const bin = Buffer.from('abcdefghijklmnopq\x01\x02\x03', 'latin1');
    expect(() => sniffFormat('blob', bin)).toThrow(/^blob: a binary file, not a trace; /);
    // 1 control byte in 10 is exactly 10%: still text (more than 10% is binary).
    expect(() => sniffFormat('edge', Buffer.from('abcdefghi\x01', 'latin1'))).toThrow(/^edge: not a trace format exitscope knows; /);
    // 1 in 11 (9%): text.
    expect(() => sniffFormat('low', Buffer.from('abcdefghij\x02', 'latin1'))).toThrow(/^low: not a trace format exitscope knows; /);
    expect(() => sniffFormat('empty', Buffer.alloc(0))).toThrow('empty: empty file, no trace in it');
  });

  it('a NUL byte makes a head binary however rare; control bytes are 0-8 and 14-31 (tab to CR are text); only the first 1024 bytes count', () => {
    expect(() => sniffFormat('nul', Buffer.from('hello world, this is text\x00 and more text after it', 'latin1'))).toThrow(/^nul: a binary file, not a trace; /);
    for (const c of [1, 8, 14, 31]) expect(() => sniffFormat(`c${c}`, Buffer.from(`abcdefg${String.fromCharCode(c).repeat(3)}`, 'latin1'))).toThrow(new RegExp(`^c${c}: a binary file, not a trace; `));
    for (const c of [9, 10, 11, 12, 13, 127]) expect(() => sniffFormat(`c${c}`, Buffer.from(`abcdefg${String.fromCharCode(c).repeat(3)}`, 'latin1'))).toThrow(new RegExp(`^c${c}: not a trace format exitscope knows; `));
    // 102 control bytes in the first 1024 (9.96%): text, though byte 1025 is one more.
    const head = Buffer.alloc(1025, 0x61);
    for (let k = 0; k < 102; k++) head[k * 10] = 1;
    head[1024] = 1;
    expect(() => sniffFormat('window', head)).toThrow(/^window: not a trace format exitscope knows; /);
    // The formats it names, one per '; '.
    expect(() => sniffFormat('list', Buffer.from('plain words\n'))).toThrow(/; exitscope reads trace-cmd trace\.dat \(.*\); perf\.data \(.*\); canonical CSV \(header ts_ns.*\); JSON Lines \(.*\); ftrace /);
  });

  it('a CSV whose header comes after `#` comments and blank lines (as the reader takes it) sniffs as CSV; a commented report does not', () => {
    expect(sniffFormat('c.csv', Buffer.from('\uFEFF# exported by a script\r\n\r\n# columns:\r\nts_ns,vcpu,reason,rip,duration_ns\r\n1,0,HLT,0x1,2\r\n')).name).toBe('csv');
    expect(sniffFormat('r.txt', Buffer.from('# tracer: nop\n#\n  kvm-1 [000] 1.000001: kvm_entry: vcpu 0\n')).name).toBe('ftrace');
    expect(() => sniffFormat('only.txt', Buffer.from('# just a comment\n\n'))).toThrow(/^only\.txt: not a trace format/);
  });

  it('the writable formats, by every name they answer to', () => {
    expect(() => writerFor('perf-data')).toThrow('cannot write perf-data (writable: trace-dat, trace.dat, tracedat, csv, jsonl, ftrace, trace-cmd, perf-script, text, perf)');
  });

  it('trace.dat on standard input: needs a seekable file', async () => {
    const dat = readFileSync(fx('trace-dat', 'kvm-pio-v6.dat'));
    async function* stdin(): AsyncGenerator<Buffer> { yield dat; }
    await expect(openTrace('-', { stdin: stdin() })).rejects.toThrow('-: trace-dat needs a seekable file, not standard input (save it to a file first)');
  });
});

describe('--follow', () => {
  it('a growing file: rows appended later arrive, and the read ends when the run is stopped', async () => {
    const p = join(tmp, 'grow.csv');
    writeFileSync(p, HEAD + '1,1,HLT,0x10,5\n2,2,HLT,0x10,5\n');
    const ac = new AbortController();
    const st = await openTrace(p, { follow: ac.signal });
    expect(st.format).toBe('csv');
    const it = st.chunks[Symbol.asyncIterator]();
    const first = await it.next();
    // The first read holds the whole file so far: header and two rows, handed over at once (no 4 KiB wait).
    expect(Array.from(first.value!.vcpu.subarray(0, first.value!.length))).toEqual([1, 2]);
    appendFileSync(p, '3,3,HLT,0x10,5\n');
    const second = await it.next();
    // Only the appended row: the file is read on from where it was, not again from its start.
    expect(Array.from(second.value!.vcpu.subarray(0, second.value!.length))).toEqual([3]);
    const end = it.next();
    ac.abort();
    expect((await end).done).toBe(true);
    expect(st.stats).toMatchObject({ lines: 4, header: 1, events: 3 });
  });

  it('a growing report text: a paired exit is handed over as soon as its entry arrives', async () => {
    const p = join(tmp, 'grow.txt');
    const line = (us: number, ev: string, payload: string) => `       CPU 0/KVM-7301  [001] d....  3000.${String(us).padStart(6, '0')}: ${ev}: ${payload}\n`;
    writeFileSync(p, 'cpus=2\n' + line(100, 'kvm_exit', 'vcpu 0 reason HLT rip 0x10 info1 0x0') + line(105, 'kvm_entry', 'vcpu 0, rip 0x14'));
    const ac = new AbortController();
    const st = await openTrace(p, { follow: ac.signal });
    expect(st.format).toBe('ftrace');
    const it = st.chunks[Symbol.asyncIterator]();
    const first = await it.next();
    // Before any stop: the HLT of 5 us.
    expect([first.value!.length, first.value!.dur[0]]).toEqual([1, 5000]);
    const end = it.next();
    ac.abort();
    expect((await end).done).toBe(true);
  });

  it('a pipe: what has arrived is read; stopping ends the read though the writer never closes', async () => {
    let release!: () => void;
    const never = new Promise<void>((r) => { release = r; });
    async function* stdin(): AsyncGenerator<Buffer> {
      yield Buffer.from(HEAD + '1,4,HLT,0x10,5\n');
      await never; // a writer that goes quiet
      yield Buffer.from('2,5,HLT,0x10,5\n');
    }
    const ac = new AbortController();
    const st = await openTrace('-', { stdin: stdin(), follow: ac.signal });
    const it = st.chunks[Symbol.asyncIterator]();
    const first = await it.next();
    expect(Array.from(first.value!.vcpu.subarray(0, first.value!.length))).toEqual([4]);
    const end = it.next();
    ac.abort();
    expect((await end).done).toBe(true);
    expect(st.stats).toMatchObject({ lines: 2, header: 1, events: 1 });
    release();
  });
});

describe('the input summary every JSON result carries', () => {
  it('summarizeInput copies the accounting, counters, rejections and notes; the schema describes each field', async () => {
    const { summarizeInput } = await import('../src/formats/summary.js');
    const { InputSummarySchema, CountersSchema } = await import('../src/formats/summary-schema.js');
    const p = join(tmp, 'summary.txt');
    writeFileSync(p, '# tracer: nop\n  kvm-1 [000] 1.000001: kvm_pio: pio_read at 0x70 size 1 count 1 val 0x1\nbad line\n');
    const s = await openTrace(p);
    for await (const c of s.chunks) void c;
    const sum = summarizeInput(s);
    expect(InputSummarySchema.parse(sum)).toEqual(sum);
    expect(sum).toMatchObject({ path: p, format: 'ftrace', lines: 3, header: 0, events: 1, skipped: 1, rejected: 1 });
    expect(sum.rejections).toEqual([expect.stringMatching(/summary\.txt:3: not a trace event line/)]);
    expect(sum.notes).toEqual([expect.stringMatching(/^no kvm_exit events in this trace, only 1 kvm_pio/)]);
    expect(sum.counters.orphanDetails).toBe(1);
    const d = (k: keyof typeof InputSummarySchema.shape): string | undefined => InputSummarySchema.shape[k].description;
    expect([d('format'), d('lines'), d('events'), d('skipped'), d('rejected'), d('rejections')]).toEqual([
      'Detected (or forced) input format',
      'Physical lines read (text formats; 0 for binary ones); lines = header + events + skipped + rejected',
      'Records used: CSV/JSONL rows are exits; in event traces kvm_exit, kvm_entry and detail records (totals.exits counts exits)',
      'Lines skipped as unrelated (blank, comments, other events, markers)',
      'Malformed lines, each reported as file:line: reason',
      'The first rejected lines, file:line: reason',
    ]);
    expect(CountersSchema.description).toMatch(/^Declared reader counters/);
    expect(CountersSchema.shape.lostEvents.description).toMatch(/^data-loss: Events the kernel or trace-cmd declared lost/);
  });
});
