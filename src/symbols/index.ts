/**
 * Guest-kernel symbolization: load the maps given with `--map` (several
 * combine), decide the KASLR slide, resolve RIPs to `function+0xoff`.
 *
 * Two tables: the core kernel (System.map, vmlinux, kallsyms core symbols),
 * which the KASLR slide moves, and absolute symbols (`[module]` kallsyms lines,
 * `.ko@base`, any map given with `@base`), which it does not.
 */
import { open, readFile } from 'node:fs/promises';
import { ExitscopeError } from '../model/errors.js';
import { formatHex, parseAddress } from '../model/u64.js';
import { isElf, readElfSymbols } from './elf.js';
import { detectSlide, type RipWeight, type SlideDecision } from './kaslr.js';
import { parseNmBytes } from './nm.js';
import { SymbolTable, type TablePart } from './symbol-table.js';
import { addrOf, columnsFromRaw, shiftColumns } from './columns.js';
import type { MapSource } from './types.js';
import { readMapCache, writeMapCache } from './cache.js';

export { SymbolTable } from './symbol-table.js';
export type { RawSymbol, MapSource } from './types.js';
export type { SlideDecision, RipWeight } from './kaslr.js';

/** Splits `path@0xBASE`; a path containing `@` without an address suffix stays whole. */
export function parseMapSpec(spec: string): { path: string; base: bigint | null } {
  const at = spec.lastIndexOf('@');
  if (at > 0) {
    const base = parseAddress(spec.slice(at + 1));
    if (base !== null) return { path: spec.slice(0, at), base };
  }
  return { path: spec, base: null };
}

export async function loadMap(spec: string): Promise<MapSource> {
  const { path, base } = parseMapSpec(spec);
  let head: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      head = Buffer.alloc(64);
      const { bytesRead } = await fh.read(head, 0, 64, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ExitscopeError(`${path}: cannot read map (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code ?? 'error'})`);
  }
  if (isElf(head)) {
    const elf = await readElfSymbols(path, base);
    let symbols = elf.symbols;
    let absolute = elf.relocatable;
    if (!elf.relocatable && base !== null) {
      // `vmlinux@ADDR`: the image was loaded with _text (or its first function) at ADDR.
      const anchor = symbols.find((s) => s.name === '_text') ?? symbols.filter((s) => s.text).reduce((a, b) => (a.start < b.start ? a : b));
      const slide = base - anchor.start;
      symbols = symbols.map((s) => ({ ...s, start: s.start + slide }));
      absolute = true;
    }
    return { path, kind: 'elf', columns: columnsFromRaw(symbols), absolute };
  }
  const columns = parseNmBytes(await readFile(path), path);
  const kind = /kallsyms/i.test(path) || columns.modules.length > 1 ? 'kallsyms' : 'system.map';
  if (base !== null) {
    // A text map with @base: shift so its first text symbol sits at base.
    let first = -1;
    for (let i = 0; i < columns.n; i++) if (columns.text[i] && (first < 0 || addrOf(columns, i) < addrOf(columns, first))) first = i;
    if (first >= 0) shiftColumns(columns, base - addrOf(columns, first));
  }
  return { path, kind, columns, absolute: base !== null };
}

export interface ResolvedAddress {
  name: string;
  module: string;
  /** Runtime start of the function (slide applied). */
  start: bigint;
  offset: bigint;
}

export type KaslrOption = 'auto' | bigint;

export class Symbolizer {
  readonly core: SymbolTable;
  readonly absolute: SymbolTable;
  slide: SlideDecision = { slide: 0n, mode: 'none', note: 'no map given', candidates: [] };

  /** Tables built elsewhere (the map cache): the parts are the sources' columns in order. */
  static restore(sources: readonly MapSource[], core: SymbolTable, absolute: SymbolTable): Symbolizer {
    const s = Object.create(Symbolizer.prototype) as Symbolizer;
    Object.assign(s, { sources, core, absolute, slide: { slide: 0n, mode: 'none', note: 'no map given', candidates: [] } });
    return s;
  }

  constructor(readonly sources: readonly MapSource[]) {
    // One part per source in both tables (the map cache relies on it): the core table takes the
    // core-kernel symbols of sources the slide moves, the absolute one module symbols and @base maps.
    const core: TablePart[] = [];
    const abs: TablePart[] = [];
    for (const s of sources) {
      const all = s.columns.modules.map((_, k) => k);
      core.push({ cols: s.columns, modules: new Set(s.absolute ? [] : [0]) });
      abs.push({ cols: s.columns, modules: new Set(s.absolute ? all : all.filter((k) => k > 0)) });
    }
    this.core = new SymbolTable(core);
    this.absolute = new SymbolTable(abs);
  }

  /** Whether any map defines a function of this name. */
  hasFunction(name: string): boolean {
    return this.core.hasName(name) || this.absolute.hasName(name);
  }

  get empty(): boolean {
    return this.core.size === 0 && this.absolute.size === 0;
  }

  /**
   * Settles the KASLR slide from the trace's distinct RIPs (auto) or takes the
   * forced one. Throws when a map was given and fits no slide.
   */
  decideSlide(rips: readonly RipWeight[], option: KaslrOption): SlideDecision {
    if (option !== 'auto') {
      this.slide = { slide: option, mode: 'forced', note: `slide ${formatHex(option)} forced by --kaslr`, candidates: [] };
      return this.slide;
    }
    const unresolved = rips.filter((r) => this.absolute.find(r.addr) < 0);
    const d = detectSlide(this.core, unresolved);
    if (d.mismatch) throw new ExitscopeError(`${this.sources.map((s) => s.path).join(', ')}: ${d.mismatch}`);
    this.slide = d;
    return d;
  }

  /**
   * A dense id for the function holding `addr` under the settled slide
   * (absolute tables first, then the core kernel), or -1. Ids stay valid for
   * the symbolizer's life; `functionById` gives the function back.
   */
  functionId(addr: bigint): number {
    const a = this.absolute.find(addr);
    if (a >= 0) return a;
    const c = this.core.find(addr - this.slide.slide);
    return c >= 0 ? this.absolute.size + c : -1;
  }

  functionById(id: number): { name: string; module: string; start: bigint } {
    if (id < this.absolute.size) return { name: this.absolute.name(id), module: this.absolute.module(id), start: this.absolute.starts[id] };
    const c = id - this.absolute.size;
    return { name: this.core.name(c), module: this.core.module(c), start: this.core.starts[c] + this.slide.slide };
  }

  get functionCount(): number {
    return this.absolute.size + this.core.size;
  }

  /**
   * The guest's kernel/user boundary as the maps imply it: a 32-bit map's
   * kernel sits above PAGE_OFFSET (0xc0000000 for the usual 3G/1G split, lower
   * when the map's text starts lower), a 64-bit map's in the upper canonical
   * half (user space ends at 0x0000800000000000).
   */
  userSpaceEnd(): bigint | null {
    const r = this.core.textRange() ?? this.absolute.textRange();
    if (!r) return null;
    if (r[0] < 0x100000000n) {
      const low = r[0] - (r[0] % 0x10000000n);
      return low < 0xc0000000n ? low : 0xc0000000n;
    }
    return 0x0000800000000000n;
  }

  resolve(addr: bigint): ResolvedAddress | null {
    const a = this.absolute.find(addr);
    if (a >= 0) return { name: this.absolute.name(a), module: this.absolute.module(a), start: this.absolute.starts[a], offset: addr - this.absolute.starts[a] };
    const s = this.slide.slide;
    const c = this.core.find(addr - s);
    if (c >= 0) {
      const start = this.core.starts[c] + s;
      return { name: this.core.name(c), module: this.core.module(c), start, offset: addr - start };
    }
    return null;
  }
}

/** A symbolizer from kallsyms text a trace file carries (trace.dat, perf.data). */
export function symbolizerFromKallsyms(text: string, name: string): Symbolizer {
  return new Symbolizer([{ path: name, kind: 'kallsyms', columns: parseNmBytes(Buffer.from(text, 'latin1'), name), absolute: false }]);
}

/**
 * Loads the maps. A parsed, indexed copy is cached per set of maps (keyed by
 * their paths, sizes and modification times; see cache.ts), so a 200,000-symbol
 * System.map costs its parse once.
 */
export async function loadSymbolizer(specs: readonly string[]): Promise<Symbolizer> {
  const cached = await readMapCache(specs);
  if (cached) return cached;
  const sources: MapSource[] = [];
  for (const spec of specs) sources.push(await loadMap(spec));
  const s = new Symbolizer(sources);
  await writeMapCache(specs, s);
  return s;
}
