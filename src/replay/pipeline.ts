/**
 * Pass pipelines: `--pass` specs, named presets, and `--pipeline FILE` (JSON).
 * All three become the same zod-validated objects (the schema is the type);
 * a bad file gets a path-precise message: `passes[2].hz: expected number`.
 *
 * Spec grammar:
 *   coalesce-io[:window=NS][:scope=caller|function|address][:mmio][:min=N][:in=FN,FN]
 *   timer-hz:TARGET[:from=HZ]
 *   drop:SYMBOL[,SYMBOL...]        drop-caller:SYMBOL[,SYMBOL...]
 *   drop-io:port=0xNNN[-0xMMM][,rw=r|w][,flush][;...]   drop-io:mmio=0xA[-0xB][,rw=...]
 *   virtio[:dev=nic|disk|all]      apicv      pv-eoi
 *   coalesced-mmio:mmio=0xA-0xB | coalesced-mmio:auto
 *   presets: paper, napi-off, modern-host
 */
import { z } from 'zod';
import { F_GPA, F_PORT, DIR_WRITE } from '../model/chunk.js';
import { ExitscopeError } from '../model/errors.js';
import { zodMessage } from '../util/zod-message.js';
import { ApicPass } from './passes/apic.js';
import { CoalesceIoPass } from './passes/coalesce-io.js';
import { CoalescedMmioPass } from './passes/coalesced-mmio.js';
import { DropIoPass, parseIoRange, type IoRange } from './passes/drop-io.js';
import { DropPass } from './passes/drop.js';
import { TimerHzPass } from './passes/timer-hz.js';
import { VirtioPass } from './passes/virtio.js';
import type { ReplayTrace } from './trace.js';
import type { ReplayPass } from './types.js';

const Range = z.string().regex(/^(port|mmio)=(0x[0-9a-fA-F]+|\d+)(-(0x[0-9a-fA-F]+|\d+))?(,rw=[rw])?(,flush)?$/, 'expected port=0xNNN[-0xMMM][,rw=r|w][,flush] or mmio=0xADDR[-0xEND]');

export const PassSpecSchema = z.discriminatedUnion('pass', [
  z.strictObject({ pass: z.literal('coalesce-io'), windowNs: z.number().positive().optional(), scope: z.enum(['caller', 'function', 'address']).optional(), mmio: z.boolean().optional(), min: z.number().int().min(2).optional(), in: z.array(z.string().min(1)).optional() }),
  z.strictObject({ pass: z.literal('timer-hz'), hz: z.number().positive(), from: z.number().positive().optional() }),
  z.strictObject({ pass: z.literal('drop'), symbols: z.array(z.string().min(1)).min(1) }),
  z.strictObject({ pass: z.literal('drop-caller'), symbols: z.array(z.string().min(1)).min(1) }),
  z.strictObject({ pass: z.literal('drop-io'), ranges: z.array(Range).min(1) }),
  z.strictObject({ pass: z.literal('virtio'), dev: z.enum(['nic', 'disk', 'all']).optional() }),
  z.strictObject({ pass: z.literal('apicv') }),
  z.strictObject({ pass: z.literal('pv-eoi') }),
  z.strictObject({ pass: z.literal('coalesced-mmio'), range: z.union([z.literal('auto'), z.string().regex(/^(0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)$/, 'expected 0xSTART-0xEND or auto')]) }),
  z.strictObject({ pass: z.literal('preset'), name: z.enum(['paper', 'napi-off', 'modern-host']) }),
]);
export type PassSpec = z.infer<typeof PassSpecSchema>;

export const PipelineSchema = z.strictObject({ passes: z.array(PassSpecSchema).min(1) });

export const PRESETS: Record<string, string[]> = {
  paper: ['coalesce-io', 'timer-hz:100', 'drop-caller:verify_pmtmr_rate', 'napi-off'],
  'napi-off': ['napi-off'],
  'modern-host': ['apicv', 'coalesced-mmio:auto'],
};

function kv(parts: string[]): Record<string, string | true> {
  const o: Record<string, string | true> = {};
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq < 0) o[p] = true;
    else o[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return o;
}

const num = (v: string | true | undefined): number | undefined => (v === undefined || v === true ? undefined : Number(v));

/** A `--pass` string to its spec object (then validated by the same schema as files). */
export function parsePassSpec(text: string): PassSpec {
  const [name, ...rest] = text.split(':');
  const arg = rest.join(':');
  let raw: unknown;
  switch (name) {
    case 'coalesce-io': { const o = kv(rest); raw = { pass: name, windowNs: num(o.window), scope: o.scope, mmio: o.mmio === true ? true : undefined, min: num(o.min), in: typeof o.in === 'string' ? o.in.split(',') : undefined }; break; }
    case 'timer-hz': { const o = kv(rest.slice(1)); raw = { pass: name, hz: Number(rest[0]), from: num(o.from) }; break; }
    case 'drop': case 'drop-caller': raw = { pass: name, symbols: arg ? arg.split(',') : [] }; break;
    case 'drop-io': raw = { pass: name, ranges: arg ? arg.split(';') : [] }; break;
    case 'virtio': raw = { pass: name, dev: kv(rest).dev }; break;
    case 'apicv': case 'pv-eoi': raw = { pass: name }; break;
    case 'coalesced-mmio': raw = { pass: name, range: arg.startsWith('mmio=') ? arg.slice(5) : arg }; break;
    case 'paper': case 'napi-off': case 'modern-host': raw = { pass: 'preset', name }; break;
    default: throw new ExitscopeError(`--pass ${text}: unknown pass '${name}' (passes: coalesce-io, timer-hz, drop, drop-caller, drop-io, virtio, apicv, pv-eoi, coalesced-mmio; presets: ${Object.keys(PRESETS).join(', ')})`);
  }
  const r = PassSpecSchema.safeParse(JSON.parse(JSON.stringify(raw)));
  if (!r.success) throw new ExitscopeError(`--pass ${text}: ${zodMessage(r.error)}`);
  return r.data;
}

export function parsePipelineJson(text: string, path: string): PassSpec[] {
  let raw: unknown;
  try { raw = JSON.parse(text); } catch (e) { throw new ExitscopeError(`${path}: not JSON (${(e as Error).message})`); }
  const r = PipelineSchema.safeParse(raw);
  if (!r.success) throw new ExitscopeError(`${path}: ${zodMessage(r.error)}`);
  return r.data.passes;
}

export function specText(s: PassSpec): string {
  switch (s.pass) {
    case 'coalesce-io': return ['coalesce-io', s.windowNs && `window=${s.windowNs}`, s.scope && `scope=${s.scope}`, s.mmio && 'mmio', s.min && `min=${s.min}`, s.in && `in=${s.in.join(',')}`].filter(Boolean).join(':');
    case 'timer-hz': return `timer-hz:${s.hz}${s.from ? `:from=${s.from}` : ''}`;
    case 'drop': case 'drop-caller': return `${s.pass}:${s.symbols.join(',')}`;
    case 'drop-io': return `drop-io:${s.ranges.join(';')}`;
    case 'virtio': return s.dev ? `virtio:dev=${s.dev}` : 'virtio';
    case 'coalesced-mmio': return `coalesced-mmio:${s.range}`;
    case 'preset': return s.name;
    default: return s.pass;
  }
}

/**
 * Interrupt-mask churn of NAPI drivers: e1000 IMS/IMC writes (BAR offsets
 * 0xd0/0xd8, with the STATUS read that flushes them) and rtl8139 IntrMask
 * writes (port offset 0x3c). Found in the trace, so the preset needs no addresses.
 */
export function findMaskChurn(trace: ReplayTrace): { ranges: IoRange[]; found: string[] } {
  const e1000 = new Set<bigint>(), rtl = new Set<number>();
  for (const c of trace.vcpus.values()) {
    for (let i = 0; i < c.length; i++) {
      if (c.dir[i] !== DIR_WRITE) continue;
      if (c.flags[i] & F_GPA) {
        const off = c.gpaLo[i] & 0x1ffff;
        if ((off === 0xd0 || off === 0xd8) && c.size[i] === 4) e1000.add((BigInt(c.gpaHi[i]) << 32n) | BigInt(c.gpaLo[i]));
      } else if (c.flags[i] & F_PORT && (c.port[i] & 0xff) === 0x3c && c.size[i] === 2 && c.port[i] >= 0x100) rtl.add(c.port[i]);
    }
  }
  const ranges: IoRange[] = [];
  const found: string[] = [];
  for (const g of e1000) {
    const imc = (g & 0xffn) === 0xd8n;
    ranges.push({ kind: 'mmio', lo: g, hi: g, rw: 'w', flush: true, deviceSpan: 0x20000n, ...(imc ? { deferral: 'always' as const } : {}) });
    found.push(`e1000 ${imc ? 'IMC' : 'IMS'} at 0x${g.toString(16)}`);
  }
  for (const p of rtl) { ranges.push({ kind: 'port', lo: BigInt(p), hi: BigInt(p), rw: 'w', flush: true, deviceSpan: 0x100n, deferral: 'zero-value' }); found.push(`rtl8139 IntrMask at port 0x${p.toString(16)}`); }
  return { ranges, found };
}

/** The NIC's MMIO window (a 128 KiB e1000-style BAR) for coalesced-mmio:auto. */
function nicMmioWindow(trace: ReplayTrace): [bigint, bigint] | null {
  const counts = new Map<bigint, number>();
  for (const c of trace.vcpus.values()) {
    for (let i = 0; i < c.length; i++) {
      if (!(c.flags[i] & F_GPA)) continue;
      const g = (BigInt(c.gpaHi[i]) << 32n) | BigInt(c.gpaLo[i]);
      if (g >= 0xfec00000n && g < 0xfef00000n) continue; // IOAPIC / LAPIC
      const base = g & ~0x1ffffn;
      counts.set(base, (counts.get(base) ?? 0) + 1);
    }
  }
  let best: bigint | null = null, n = 0;
  for (const [b, k] of counts) if (k > n) { best = b; n = k; }
  return best === null ? null : [best, best + 0x1ffffn];
}

/** Specs to pass instances; presets expand here (napi-off looks at the trace). */
export function buildPasses(specs: readonly PassSpec[], trace: ReplayTrace): ReplayPass[] {
  const out: ReplayPass[] = [];
  for (const s of specs) {
    const text = specText(s);
    switch (s.pass) {
      case 'coalesce-io': out.push(new CoalesceIoPass(text, { windowNs: s.windowNs, scope: s.scope, mmio: s.mmio, min: s.min, functions: s.in })); break;
      case 'timer-hz': out.push(new TimerHzPass(text, s.hz, s.from)); break;
      case 'drop': out.push(new DropPass(text, s.symbols, false)); break;
      case 'drop-caller': out.push(new DropPass(text, s.symbols, true)); break;
      case 'drop-io': out.push(new DropIoPass(text, s.ranges.map((r) => parseIoRange(r)!))); break;
      case 'virtio': out.push(new VirtioPass(text, s.dev)); break;
      case 'apicv': out.push(new ApicPass(text, 'apicv')); break;
      case 'pv-eoi': out.push(new ApicPass(text, 'pv-eoi')); break;
      case 'coalesced-mmio': {
        const w = s.range === 'auto' ? nicMmioWindow(trace) : (s.range.split('-').map((x) => BigInt(x)) as [bigint, bigint]);
        if (!w) throw new ExitscopeError(`${text}: no device MMIO in this trace to coalesce (give mmio=0xSTART-0xEND)`);
        out.push(new CoalescedMmioPass(text, w[0], w[1]));
        break;
      }
      case 'preset': {
        if (s.name === 'napi-off') {
          const { ranges, found } = findMaskChurn(trace);
          out.push(new DropIoPass('napi-off', ranges, found.length
            ? `interrupt-mask churn found: ${found.join(', ')}. NAPI's softirq scheduling is guest CPU, not exits: only the high end counts the guest time between masking and the poll`
            : 'no interrupt-mask churn (e1000 IMS/IMC, rtl8139 IntrMask) in this trace: nothing to remove'));
        } else {
          out.push(...buildPasses(PRESETS[s.name].map(parsePassSpec), trace));
        }
        break;
      }
    }
  }
  return out;
}
