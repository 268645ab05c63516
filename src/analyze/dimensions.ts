/**
 * What rows can be grouped by (`--by`, one key or a comma list for cross
 * tables: `--by vm,vcpu`, `--by function,vcpu`). Each dimension writes a few
 * uint32 words of an exit into the cell key while streaming (never a string
 * or object per exit) and labels a row from those words at the end.
 */
import { DIR_READ, DIR_WRITE, F_CALLER, F_GPA, F_MSR, F_PORT, type ExitChunk } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import { formatHex, u64ToBigInt } from '../model/u64.js';
import type { IoMap } from '../symbols/iomap.js';
import type { AddressResolver } from './resolver.js';

export const DIMENSIONS = ['function', 'address', 'caller', 'callsite', 'reason', 'port', 'mmio', 'msr', 'vcpu', 'vm'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** No caller recorded for the exit (the caller word of `caller` rows). */
const NO_CALLER = 0x7ffffffe;

/** What a row learns from one dimension's label. */
export interface DimLabel {
  text: string;
  symbol?: string | null;
  module?: string | null;
  address?: bigint | null;
  caller?: string;
  callerAddress?: bigint | null;
  device?: string | null;
  register?: string | null;
}

export interface LabelContext {
  resolver: AddressResolver;
  iomap: IoMap;
  /** Per input: its path and VM labels. */
  inputs: ReadonlyArray<{ path: string; vms: ReadonlyMap<number, string> }>;
  /** Several VMs (or inputs) in the analysis and no vm dimension beside: vcpu labels name their VM. */
  severalVms: boolean;
  msrName: (index: number) => string | null;
}

export interface DimensionSpec {
  readonly name: Dimension;
  readonly words: number;
  /** Needs the address resolver while streaming. */
  readonly symbolic: boolean;
  /** Which exits this dimension can key (for the "this view covers N of M exits" line); null = all. */
  readonly covers: string | null;
  /** Writes the key words at key[at..]; false when the exit has no value for this dimension. */
  key(c: ExitChunk, i: number, input: number, r: AddressResolver, key: Uint32Array, at: number): boolean;
  label(key: ArrayLike<number>, at: number, ctx: LabelContext): DimLabel;
}

const dirText = (d: number, read: string, write: string): string => (d === DIR_READ ? read : d === DIR_WRITE ? write : '?');

function vmText(input: number, vm: number, ctx: LabelContext): string {
  const inp = ctx.inputs[input];
  const label = inp?.vms.get(vm) ?? `vm ${vm}`;
  return ctx.inputs.length > 1 ? `${inp?.path ?? `input ${input}`}: ${label}` : label;
}

export const DIMENSION_SPECS: { readonly [K in Dimension]: DimensionSpec } = {
  function: {
    name: 'function', words: 1, symbolic: true, covers: null,
    key(c, i, _in, r, key, at) { key[at] = r.idAt(c, i) >>> 0; return true; },
    label(key, at, ctx) {
      const l = ctx.resolver.label(key[at] | 0);
      return { text: l.text, symbol: l.symbol, module: l.module, address: l.start };
    },
  },
  address: {
    name: 'address', words: 2, symbolic: false, covers: null,
    key(c, i, _in, _r, key, at) { key[at] = c.ripHi[i]; key[at + 1] = c.ripLo[i]; return true; },
    label(key, at, ctx) {
      const a = u64ToBigInt(key[at], key[at + 1]);
      const l = ctx.resolver.label(ctx.resolver.id(key[at], key[at + 1]));
      if (l.start === null || l.symbol === '[unknown]') return { text: formatHex(a), symbol: l.symbol, module: l.module, address: a };
      return { text: `${l.symbol}+0x${(a - l.start).toString(16)}${l.module ? ` [${l.module}]` : ''}`, symbol: l.symbol, module: l.module, address: a };
    },
  },
  caller: {
    name: 'caller', words: 2, symbolic: true, covers: null,
    key(c, i, _in, r, key, at) {
      key[at] = r.idAt(c, i) >>> 0;
      // A caller address of 0 is no return address at all (user space, where no caller was recorded).
      key[at + 1] = c.flags[i] & F_CALLER && (c.callerHi[i] | c.callerLo[i]) !== 0 ? r.id(c.callerHi[i], c.callerLo[i]) >>> 0 : NO_CALLER;
      return true;
    },
    label(key, at, ctx) {
      const t = ctx.resolver.label(key[at] | 0);
      const has = key[at + 1] !== NO_CALLER;
      const c = has ? ctx.resolver.label(key[at + 1] | 0) : null;
      // Addresses that cover the whole row: the two functions' starts.
      return { text: `${t.text} <- ${c ? c.text : '[no caller]'}`, symbol: t.symbol, module: t.module, address: t.start, caller: c ? c.symbol : '[no caller]', callerAddress: c ? c.start : null };
    },
  },
  callsite: {
    name: 'callsite', words: 5, symbolic: false, covers: null,
    key(c, i, _in, _r, key, at) {
      key[at] = c.ripHi[i]; key[at + 1] = c.ripLo[i];
      // As --by caller: a caller address of 0 is no return address at all (user space, where no caller was recorded).
      const has = c.flags[i] & F_CALLER && (c.callerHi[i] | c.callerLo[i]) !== 0;
      key[at + 2] = has ? 1 : 0; key[at + 3] = has ? c.callerHi[i] : 0; key[at + 4] = has ? c.callerLo[i] : 0;
      return true;
    },
    label(key, at, ctx) {
      const site = (hi: number, lo: number): { text: string; symbol: string; a: bigint } => {
        const a = u64ToBigInt(hi, lo);
        const l = ctx.resolver.label(ctx.resolver.id(hi, lo));
        const text = l.start === null || l.symbol === '[unknown]' ? `[unknown] ${formatHex(a)}` : `${l.symbol}+0x${(a - l.start).toString(16)}${l.module ? ` [${l.module}]` : ''}`;
        return { text, symbol: l.symbol, a };
      };
      const t = site(key[at], key[at + 1]);
      const c = key[at + 2] ? site(key[at + 3], key[at + 4]) : null;
      const l = ctx.resolver.label(ctx.resolver.id(key[at], key[at + 1]));
      return { text: `${t.text} <- ${c ? c.text : '[no caller]'}`, symbol: t.symbol, module: l.module, address: t.a, caller: c ? c.symbol : '[no caller]', callerAddress: c ? c.a : null };
    },
  },
  reason: {
    name: 'reason', words: 1, symbolic: false, covers: null,
    key(c, i, _in, _r, key, at) { key[at] = c.reason[i]; return true; },
    label(key, at) { return { text: REASONS.get(key[at]).name }; },
  },
  port: {
    name: 'port', words: 1, symbolic: false, covers: 'I/O port detail (kvm_pio)',
    key(c, i, _in, _r, key, at) {
      if (!(c.flags[i] & F_PORT)) return false;
      key[at] = c.port[i] | (c.dir[i] << 16);
      return true;
    },
    label(key, at, ctx) {
      const port = key[at] & 0xffff, dir = key[at] >>> 16;
      const n = ctx.iomap.port(port);
      // perf kvm stat --event=ioport spelling.
      return { text: `0x${port.toString(16)}:${dirText(dir, 'PIN', 'POUT')}`, address: BigInt(port), device: n?.device ?? null, register: n?.register ?? null };
    },
  },
  mmio: {
    name: 'mmio', words: 3, symbolic: false, covers: 'MMIO detail (kvm_mmio)',
    key(c, i, _in, _r, key, at) {
      if (!(c.flags[i] & F_GPA)) return false;
      key[at] = c.gpaHi[i]; key[at + 1] = c.gpaLo[i]; key[at + 2] = c.dir[i];
      return true;
    },
    label(key, at, ctx) {
      const gpa = u64ToBigInt(key[at], key[at + 1]);
      const n = ctx.iomap.mmioAt(gpa);
      return { text: `${formatHex(gpa)}:${dirText(key[at + 2], 'R', 'W')}`, address: gpa, device: n?.device ?? null, register: n?.register ?? null };
    },
  },
  msr: {
    name: 'msr', words: 2, symbolic: false, covers: 'MSR detail (kvm_msr)',
    key(c, i, _in, _r, key, at) {
      if (!(c.flags[i] & F_MSR)) return false;
      key[at] = c.msr[i]; key[at + 1] = c.dir[i];
      return true;
    },
    label(key, at, ctx) {
      const m = key[at];
      return { text: `0x${m.toString(16)}:${dirText(key[at + 1], 'R', 'W')}`, address: BigInt(m), register: ctx.msrName(m) };
    },
  },
  vcpu: {
    name: 'vcpu', words: 3, symbolic: false, covers: null,
    key(c, i, input, _r, key, at) { key[at] = input; key[at + 1] = c.vm[i] >>> 0; key[at + 2] = c.vcpu[i]; return true; },
    label(key, at, ctx) {
      const v = `vcpu ${key[at + 2]}`;
      return { text: ctx.severalVms ? `${vmText(key[at], key[at + 1] | 0, ctx)} ${v}` : v };
    },
  },
  vm: {
    name: 'vm', words: 2, symbolic: false, covers: null,
    key(c, i, input, _r, key, at) { key[at] = input; key[at + 1] = c.vm[i] >>> 0; return true; },
    label(key, at, ctx) { return { text: vmText(key[at], key[at + 1] | 0, ctx) }; },
  },
};

/** `function,vcpu` to dimension specs; errors name the choices. */
export function parseDimensions(by: string | readonly string[]): Dimension[] {
  const parts = (typeof by === 'string' ? by.split(',') : by.flatMap((b) => b.split(','))).map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) return ['function'];
  for (const p of parts) if (!(DIMENSIONS as readonly string[]).includes(p)) throw new Error(`unknown --by '${p}'`);
  return parts as Dimension[];
}
