import type { SymbolColumns } from './columns.js';

/** A symbol as a map file states it, before extents are worked out. */
export interface RawSymbol {
  name: string;
  /** '' for the core kernel; module name for `[module]` / `.ko` symbols. */
  module: string;
  start: bigint;
  /** Size from an ELF symtab or `nm -S`; null when the map does not say. */
  size: bigint | null;
  /** Executable (text) symbol: only these resolve guest RIPs. */
  text: boolean;
}

/** One loaded map file. */
export interface MapSource {
  path: string;
  kind: 'system.map' | 'kallsyms' | 'elf';
  /** Its symbols as columns (see columns.ts). */
  columns: SymbolColumns;
  /**
   * Absolute sources are not moved by the KASLR slide (module symbols, maps with
   * an explicit `@base`); the core kernel from System.map/vmlinux is.
   */
  absolute: boolean;
}
