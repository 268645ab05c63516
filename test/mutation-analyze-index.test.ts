/**
 * `analyze` (src/analyze/index.ts) and the opening of its inputs
 * (src/analyze/source.ts) on streams built row by row here (issue 16: the
 * survivors listed in docs/mutation-analyze-survivors.md). No file is parsed:
 * each input is a TraceStream over hand-filled chunks, so every note, label
 * and count below is worked out in the comments from the rows.
 */
import { describe, expect, it } from 'vitest';
import type { TraceStream } from '../src/formats/index.js';
import { analyze, openSymbolized, ripWeights, type AnalyzeOptions } from '../src/analyze/index.js';
import { DIR_READ, DIR_WRITE, ExitChunk, F_CALLER, F_MSR, F_PORT } from '../src/model/chunk.js';
import { newCounters } from '../src/model/counters.js';
import { ExitscopeError, type InputStats } from '../src/model/errors.js';
import { REASONS } from '../src/model/reasons.js';
import { Symbolizer, symbolizerFromKallsyms } from '../src/symbols/index.js';
import { parseNmBytes } from '../src/symbols/nm.js';

/** alpha [0xffffffff81000000, +0x100), beta [+0x100, +0x200) (the kernel text; its 1 GiB window is 0xffffffff80000000-0xffffffffc0000000). */
const KALLSYMS = 'ffffffff81000000 T _text\nffffffff81000000 T alpha\nffffffff81000100 T beta\nffffffff81000200 T _etext\n';
/** One module function: a map that has module lines. */
const MODULE_LINE = 'ffffffffc0500000 t mod_fn\t[mymod]\n';
const ALPHA = 0xffffffff81000010n, BETA = 0xffffffff81000110n;
/** In the kernel's address space (above the user end) but in no map: [guest kernel, no symbol]. */
const NOSYM = 0xffffffffc0a20000n;
/** User space of a 64-bit guest (below 0x0000800000000000). */
const USER = 0x7f0000400000n;

interface Row { rip: bigint; reason?: string; dur?: number; vcpu?: number; port?: number; msr?: number; dir?: number; caller?: bigint }

const reasonIds = new Map<string, number>();
const reasonId = (name: string): number => reasonIds.get(name) ?? reasonIds.set(name, REASONS.lookup(name)).get(name)!;

function chunkOf(rows: readonly Row[], base = 1_000_000n): ExitChunk {
  const c = new ExitChunk(Math.max(1, rows.length), base);
  rows.forEach((r, i) => {
    c.ts[i] = i * 1000; c.vcpu[i] = r.vcpu ?? 0; c.reason[i] = reasonId(r.reason ?? 'IO_INSTRUCTION');
    c.ripHi[i] = Number(r.rip >> 32n); c.ripLo[i] = Number(r.rip & 0xffffffffn); c.dur[i] = r.dur ?? 10;
    let f = 0;
    if (r.port !== undefined) { f |= F_PORT; c.port[i] = r.port; c.dir[i] = r.dir ?? DIR_WRITE; }
    if (r.msr !== undefined) { f |= F_MSR; c.msr[i] = r.msr; c.dir[i] = r.dir ?? DIR_READ; }
    if (r.caller !== undefined) { f |= F_CALLER; c.callerHi[i] = Number(r.caller >> 32n); c.callerLo[i] = Number(r.caller & 0xffffffffn); }
    c.flags[i] = f;
  });
  c.length = rows.length;
  return c;
}

interface StreamOpts { kallsyms?: string; release?: (c: ExitChunk) => void; stats?: Partial<InputStats>; delayMs?: number }

/** An opened input over chunks (rows, or chunks built already). */
function stream(path: string, parts: ReadonlyArray<readonly Row[] | ExitChunk>, o: StreamOpts = {}): TraceStream {
  const chunks = parts.map((p) => (p instanceof ExitChunk ? p : chunkOf(p)));
  const events = chunks.reduce((n, c) => n + c.length, 0);
  async function* gen(): AsyncGenerator<ExitChunk> {
    for (const c of chunks) {
      if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
      yield c;
    }
  }
  const s: TraceStream = {
    path, format: 'csv',
    stats: { path, format: 'csv', lines: events + 1, header: 1, events, skipped: 0, rejected: 0, rejections: [], notes: [], ...o.stats },
    columns: new Set(), counters: newCounters(), vms: new Map(), embeddedKallsyms: () => o.kallsyms, chunks: gen(),
  };
  return o.release ? { ...s, release: o.release } : s;
}

const map = (text = KALLSYMS) => symbolizerFromKallsyms(text, 'test kallsyms');
const run = (rows: readonly Row[], o: Partial<AnalyzeOptions> = {}) => analyze({ inputs: [stream('t.csv', [rows])], top: 0, ...o });

describe('notes on what a view leaves out', () => {
  it('exits a port view cannot key are counted by what they lack (the port dimension\'s detail, not the vcpu\'s)', async () => {
    // An IO at port 0x70 (written) and a HLT without port detail: 1 of 2 keyed.
    const rep = await run([{ rip: USER, port: 0x70 }, { rip: USER, reason: 'HLT' }], { by: 'vcpu,port' });
    expect(rep.rows.map((r) => [r.key, r.count])).toEqual([['vcpu 0 | 0x70:POUT', 1]]);
    expect(rep.notes).toEqual(['1 of 2 exits carry no I/O port detail (kvm_pio) and are not in this view']);
  });

  it('without a map: a note when a dimension shows guest addresses (function, address; also beside another dimension)', async () => {
    const NOTE = 'no --map given: guest addresses are shown as [unknown] rows';
    const rows = [{ rip: USER }];
    expect((await run(rows, { by: 'address' })).notes).toEqual([NOTE]);
    expect((await run(rows, { by: 'function,vcpu' })).notes).toEqual([NOTE]);
    expect((await run(rows, { by: 'vcpu' })).notes).toEqual([]);
    // --keep-unknown without a map: every address is its own row anyway; no user/kernel split to count.
    const keep = await run(rows, { by: 'function', keepUnknown: true });
    expect(keep.notes).toEqual([NOTE]);
    expect(keep.totals.split).toBeNull();
    expect(keep.kaslr).toEqual({ slide: '0x0', mode: 'none', note: 'no map given' });
  });

  it('--keep-unknown with a map: the note counts the exits no map resolves, and is absent when there are none', async () => {
    expect((await run([{ rip: ALPHA }, { rip: BETA }], { symbolizer: map(), keepUnknown: true })).notes).toEqual([]);
    // USER (user space) and NOSYM (kernel, no symbol): 2 exits no map resolves.
    const rep = await run([{ rip: ALPHA }, { rip: USER }, { rip: NOSYM }], { symbolizer: map(), keepUnknown: true });
    expect(rep.notes).toEqual(['2 exits at addresses no map resolves, shown one row per address (--keep-unknown)']);
  });

  it('kernel exits outside every map: a note with a hint about modules only when no map has module lines', async () => {
    // Every exit resolves: no note.
    expect((await run([{ rip: ALPHA }], { symbolizer: map() })).notes).toEqual([]);
    const rows = [{ rip: ALPHA }, { rip: NOSYM }];
    const hint = ' (modules? give /proc/kallsyms with its [module] lines, or MODULE.ko@BASE)';
    const note = (h: string) => `1 exits in the guest kernel's address space outside every map${h}; --keep-unknown lists them by address`;
    // A map without module lines, with function beside vcpu: the hint.
    expect((await run(rows, { symbolizer: map(), by: 'vcpu,function' })).notes).toEqual([note(hint)]);
    // A map with them: the module is simply not loaded in the map; no hint.
    expect((await run(rows, { symbolizer: map(KALLSYMS + MODULE_LINE) })).notes).toEqual([note('')]);
    // Two maps, the second with module lines: no hint either.
    const two = new Symbolizer([
      { path: 'core', kind: 'kallsyms', columns: parseNmBytes(Buffer.from(KALLSYMS), 'core'), absolute: false },
      { path: 'mods', kind: 'kallsyms', columns: parseNmBytes(Buffer.from(MODULE_LINE), 'mods'), absolute: false },
    ]);
    expect((await run(rows, { symbolizer: two })).notes).toEqual([note('')]);
  });

  it('an unknown MSR is shown without a register name', async () => {
    const rep = await run([{ rip: USER, reason: 'MSR_READ', msr: 0x12345678 }], { by: 'msr' });
    expect(rep.rows.map((r) => [r.key, r.register])).toEqual([['0x12345678:R', null]]);
  });
});

describe('the caller note', () => {
  const NOTE = 'this trace carries no caller column: every row is [no caller]';
  const rows = [{ rip: ALPHA }, { rip: BETA }];

  it('by caller, by callsite, or caller beside another dimension: a note when no row has a caller', async () => {
    for (const by of ['caller', 'callsite', 'function,caller']) {
      expect([by, (await run(rows, { symbolizer: map(), by })).notes]).toEqual([by, [NOTE]]);
    }
  });

  it('no note when some row has a caller, when there are no rows, or for views without callers', async () => {
    expect((await run([{ rip: ALPHA, caller: BETA }, { rip: BETA }], { symbolizer: map(), by: 'caller' })).notes).toEqual([]);
    expect((await run([], { symbolizer: map(), by: 'caller' })).notes).toEqual([]);
    expect((await run([], { symbolizer: map(), by: 'function' })).notes).toEqual([]);
    expect((await run(rows, { symbolizer: map(), by: 'function' })).notes).toEqual([]);
  });
});

describe('the KASLR line of the report', () => {
  // The map's kernel window is 0xffffffff80000000-0xffffffffc0000000 (lo 0xffffffff81000000 rounded down to 1 GiB).
  const NONE = "no RIP of the trace is in the map's kernel window 0xffffffff80000000–0xffffffffc0000000: slide not detectable, none applied";

  it('a slide nothing was decided for is "not needed" for views that show no guest address', async () => {
    const user = [{ rip: USER }];
    expect((await run(user, { symbolizer: map(), by: 'vcpu' })).kaslr).toEqual({ slide: '0x0', mode: 'none', note: 'not needed for --by vcpu' });
    expect((await run(user, { symbolizer: map(), by: 'vcpu,reason' })).kaslr.note).toBe('not needed for --by vcpu,reason');
    for (const by of ['function', 'address', 'callsite', 'caller', 'function,vcpu', 'vcpu,address']) {
      expect([by, (await run(user, { symbolizer: map(), by })).kaslr.note]).toEqual([by, NONE]);
    }
  });

  it('a decided or forced slide is reported whatever the view', async () => {
    // ALPHA alone: slide 0 is the only candidate (the next 2 MiB step would move it out of the text): fits as linked.
    const auto = await run([{ rip: ALPHA }], { symbolizer: map(), by: 'vcpu' });
    expect(auto.kaslr).toEqual({ slide: '0x0', mode: 'auto', note: "no slide: the trace's kernel RIPs fit the map as linked (100% inside functions)" });
    const forced = await run([{ rip: USER }], { symbolizer: map(), by: 'vcpu', kaslr: 0n });
    expect(forced.kaslr).toEqual({ slide: '0x0', mode: 'forced', note: 'slide 0x0 forced by --kaslr' });
  });
});

describe('inputs', () => {
  it('several inputs: each vcpu\'s label names its input', async () => {
    const rep = await analyze({ inputs: [stream('a.csv', [[{ rip: USER }]]), stream('b.csv', [[{ rip: USER }, { rip: USER }]])], by: 'vm' });
    expect(rep.totals.perVcpu.map((v) => [v.label, v.exits])).toEqual([['a.csv: vm 0 vcpu 0', 1], ['b.csv: vm 0 vcpu 0', 2]]);
    // One input: just the vcpu.
    expect((await run([{ rip: USER }], { by: 'vm' })).totals.perVcpu.map((v) => v.label)).toEqual(['vcpu 0']);
  });

  it('each chunk is handed back to a reader that reuses chunks; a stream without that works too', async () => {
    const c1 = chunkOf([{ rip: USER }]), c2 = chunkOf([{ rip: USER }, { rip: USER }]);
    const released: ExitChunk[] = [];
    const rep = await analyze({ inputs: [stream('t.csv', [c1, c2], { release: (c) => released.push(c) })], by: 'vcpu' });
    expect(released).toEqual([c1, c2]);
    expect(released[0]).toBe(c1);
    expect(rep.totals.exits).toBe(3);
    expect((await analyze({ inputs: [stream('t.csv', [c1, c2])], by: 'vcpu' })).totals.exits).toBe(3);
  });

  it('an input none of whose lines could be read is an error that quotes the first rejection (or says it has none)', async () => {
    const none = (rejections: string[]) => analyze({ inputs: [stream('bad.csv', [], { stats: { events: 0, rejected: 3, rejections } })] });
    const tail = '; is it in another format? (drop --input-format to let exitscope sniff it)';
    await expect(none(['bad.csv:2: expected 5 fields'])).rejects.toThrow(new ExitscopeError(`bad.csv: none of its 3 lines could be read as csv (the first: line 2: expected 5 fields)${tail}`));
    await expect(none([])).rejects.toThrow(new ExitscopeError(`bad.csv: none of its 3 lines could be read as csv (the first: ?)${tail}`));
    await expect(none([])).rejects.toBeInstanceOf(ExitscopeError);
  });
});

describe('a live view (progress)', () => {
  it('reports the exits so far while reading, marked live, and stops reporting when done', async () => {
    const live: Array<{ exits: number; notes: string[] }> = [];
    // Two chunks 30 ms apart, a report every 5 ms: at least one report in between.
    const s = stream('t.csv', [[{ rip: USER }], [{ rip: USER }, { rip: USER }]], { delayMs: 30 });
    const rep = await analyze({ inputs: [s], by: 'vcpu', progress: { everyMs: 5, report: (r) => live.push({ exits: r.view.exits, notes: r.notes }) } });
    expect(live.length).toBeGreaterThan(0);
    expect(live.every((l) => l.notes.includes('live: exits so far') && l.exits <= 3)).toBe(true);
    expect(rep.notes).toEqual([]);
    expect(rep.view.exits).toBe(3);
    const seen = live.length;
    await new Promise((r) => setTimeout(r, 25));
    expect(live.length).toBe(seen);
  });
});

describe('opening inputs (source.ts)', () => {
  it('no input is an error that says what to give', async () => {
    await expect(openSymbolized({ inputs: [] })).rejects.toThrow(new ExitscopeError('name at least one trace (- reads standard input)'));
  });

  it('without a map, the kallsyms an input embeds names the functions, and the report says whose symbols they are', async () => {
    const rows = [{ rip: ALPHA }, { rip: ALPHA }, { rip: BETA }];
    // The first input embeds nothing, the second does.
    const rep = await analyze({ inputs: [stream('plain.csv', [[]]), stream('mem.dat', [rows], { kallsyms: KALLSYMS })], top: 0 });
    expect(rep.rows.map((r) => [r.key, r.count])).toEqual([['alpha', 2], ['beta', 1]]);
    // Without a map only the first chunk with exits is held back (the empty one of plain.csv holds none): its 3 exits decide the slide.
    expect(rep.notes).toEqual([
      "no --map given: symbols from the kallsyms embedded in mem.dat, the recording host's; they name guest addresses only if the guest runs the same kernel build (give the guest's map with --map)",
      'KASLR slide decided from the first 3 exits',
    ]);
    expect(rep.kaslr.mode).toBe('auto');
    const src = await openSymbolized({ inputs: [stream('mem.dat', [rows], { kallsyms: KALLSYMS })] });
    expect(src.symbolizer!.sources.map((s) => s.path)).toEqual(['mem.dat (embedded kallsyms)']);
  });

  it('embedded kallsyms that do not fit the guest\'s addresses are dropped with a note saying why', async () => {
    // A 64-bit kallsyms (text 0xffffffff81000000 to beta's end, 0xffffffff81000200) for a trace of 32-bit RIPs.
    const rep = await analyze({ inputs: [stream('mem.dat', [[{ rip: 0xc1000010n }]], { kallsyms: KALLSYMS })] });
    expect(rep.notes).toContain("the embedded kallsyms does not fit the guest's addresses: not used (a 64-bit map (text 0xffffffff81000000–0xffffffff81000200) for a trace of 32-bit guest addresses: give the map of the guest kernel that ran)");
    expect(rep.notes).toContain('no --map given: guest addresses are shown as [unknown] rows');
    expect(rep.notes.some((n) => n.startsWith('KASLR slide decided'))).toBe(false);
    expect(rep.rows.map((r) => r.key)).toEqual(['[unknown] 0xc1000010']);
    expect(rep.kaslr.note).toBe('no map given');
  });

  // A bug this test found (fixed): the note that the embedded kallsyms names the functions was pushed before the
  // slide check that then drops it, so the report said both that its symbols are used and that they are not.
  it('a dropped embedded kallsyms is not also announced as the source of the symbols', async () => {
    const rep = await analyze({ inputs: [stream('mem.dat', [[{ rip: 0xc1000010n }]], { kallsyms: KALLSYMS })] });
    expect(rep.notes.filter((n) => n.startsWith('no --map given: symbols from the kallsyms embedded'))).toEqual([]);
  });

  it('a slide decided from a prefix of the exits says how many; a forced one holds none back', async () => {
    const long = () => [chunkOf(Array.from({ length: 10_000 }, () => ({ rip: ALPHA }))), chunkOf([{ rip: BETA }])];
    // --follow: a prefix of 10,000 exits; the first chunk fills it, so the slide is decided before the end.
    const follow = new AbortController().signal;
    const auto = await openSymbolized({ inputs: [stream('t.csv', long())], symbolizer: map(), follow });
    expect(auto.notes).toEqual(['KASLR slide decided from the first 10,000 exits']);
    let n = 0;
    for await (const p of auto.chunks) n += p.chunk.length;
    expect(n).toBe(10_001);
    const forced = await openSymbolized({ inputs: [stream('t.csv', long())], symbolizer: map(), kaslr: 0n, follow });
    expect(forced.notes).toEqual([]);
  });

  it('exactly the first exits of the prefix decide the slide, however the reader cut its chunks (a parallel read cuts them at its ranges)', async () => {
    const rows = (n: number, rip: bigint): Row[] => Array.from({ length: n }, () => ({ rip }));
    const follow = new AbortController().signal;
    for (const parts of [[rows(6000, ALPHA), rows(6000, BETA)], [rows(6000, ALPHA), rows(4000, BETA), rows(2000, BETA)], [rows(6000, ALPHA), rows(5999, BETA), rows(1, BETA)]]) {
      const src = await openSymbolized({ inputs: [stream('t.csv', parts)], symbolizer: map(), follow });
      expect(src.notes).toEqual(['KASLR slide decided from the first 10,000 exits']);
    }
    // The weights count the first `limit` exits across chunks, the rest of a chunk left out.
    const w = ripWeights([chunkOf([{ rip: ALPHA }, { rip: ALPHA }, { rip: BETA }]), chunkOf([{ rip: BETA }, { rip: BETA }, { rip: ALPHA }])], 4);
    expect(w.map((x) => [x.addr, x.count])).toEqual([[ALPHA, 2], [BETA, 2]]);
    expect(ripWeights([chunkOf([{ rip: ALPHA }, { rip: BETA }])]).map((x) => x.count)).toEqual([1, 1]);
  });
});
