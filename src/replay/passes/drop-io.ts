/**
 * drop-io:port=0xNNN[-0xMMM]|mmio=0xADDR[-0xEND][,rw=r|w][,flush]: remove
 * accesses to those device registers. `flush` also removes the read that
 * immediately follows a removed write on the same device (the posted-write
 * flush of E1000_WRITE_FLUSH / RTL_W16_F), which exists only for that write.
 * The napi-off preset is built from it (paper §3.2.2, Fig. 9).
 */
import { z } from 'zod';
import { DIR_READ, DIR_WRITE, F_GPA, F_PORT, type ExitChunk } from '../../model/chunk.js';
import type { ReplayContext } from '../context.js';
import { definePass } from '../pass-def.js';
import { gapAfter, type ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

export interface IoRange {
  kind: 'port' | 'mmio';
  lo: bigint;
  hi: bigint;
  rw?: 'r' | 'w';
  flush?: boolean;
  /** Size of the device window a flush read may fall in (e.g. a 128 KiB BAR). */
  deviceSpan?: bigint;
  /**
   * The write defers work (NAPI masking the device before its poll): the guest
   * gap after the write and its flush may go with it, as an upper bound.
   * 'zero-value': only writes of 0 (rtl8139 IntrMask = 0 masks).
   */
  deferral?: 'always' | 'zero-value';
  /**
   * A read that exists only for this write when it comes right before an
   * unmasking write (non-zero value): rtl8139_poll reads IntrStatus before it
   * unmasks, a read NAPI adds once per interrupt. Address of that read.
   */
  leadRead?: bigint;
}

function addrOf(c: ExitChunk, i: number, kind: 'port' | 'mmio'): bigint | null {
  if (kind === 'port') return c.flags[i] & F_PORT ? BigInt(c.port[i]) : null;
  return c.flags[i] & F_GPA ? (BigInt(c.gpaHi[i]) << 32n) | BigInt(c.gpaLo[i]) : null;
}

export class DropIoPass implements ReplayPass {
  readonly name: string;
  constructor(readonly spec: string, private readonly ranges: readonly IoRange[], private readonly found = '', name = 'drop-io') {
    this.name = name;
  }

  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    // Bounds as numbers (ports, and guest-physical addresses below 2^52, are exact as doubles): no BigInt per exit.
    const bounds = this.ranges.map((r) => [Number(r.lo), Number(r.hi)] as const);
    const match = (c: ExitChunk, i: number): IoRange | null => {
      for (let k = 0; k < this.ranges.length; k++) {
        const r = this.ranges[k];
        let a: number;
        if (r.kind === 'port') { if (!(c.flags[i] & F_PORT)) continue; a = c.port[i]; }
        else { if (!(c.flags[i] & F_GPA)) continue; a = c.gpaHi[i] * 4294967296 + c.gpaLo[i]; }
        if (a < bounds[k][0] || a > bounds[k][1]) continue;
        if (r.rw === 'r' && c.dir[i] !== DIR_READ) continue;
        if (r.rw === 'w' && c.dir[i] !== DIR_WRITE) continue;
        return r;
      }
      return null;
    };
    let flushes = 0, deferred = 0, leads = 0;
    const out = trace.derive((_v, c, o) => {
      // Kept rows are copied in runs: [run, i) is kept and not yet copied.
      let run = 0;
      for (let i = 0; i < c.length; i++) {
        const r = match(c, i);
        if (!r) continue;
        ledger.removed++;
        let keepTo = i;
        if (r.leadRead !== undefined && c.dir[i] === DIR_WRITE && (c.valLo[i] !== 0 || c.valHi[i] !== 0) && run <= i - 1 && i > 0 && c.dir[i - 1] === DIR_READ && addrOf(c, i - 1, r.kind) === r.leadRead) {
          keepTo = i - 1;
          ledger.removed++;
          leads++;
        }
        o.copyRows(c, run, keepTo);
        const defers = r.deferral === 'always' || (r.deferral === 'zero-value' && c.valLo[i] === 0 && c.valHi[i] === 0);
        if (r.flush && c.dir[i] === DIR_WRITE && i + 1 < c.length && c.dir[i + 1] === DIR_READ && !match(c, i + 1)) {
          const a = addrOf(c, i, r.kind), b = addrOf(c, i + 1, r.kind);
          const span = r.deviceSpan ?? 0x100n;
          if (a !== null && b !== null && a / span === b / span) { i++; ledger.removed++; flushes++; }
        }
        if (defers) {
          const g = gapAfter(c, i);
          if (g === g) { ledger.guestMaybeSavedNs[ctx.window(c.ts[i])] += Math.max(0, g - ctx.transition.value); deferred++; }
        }
        run = i + 1;
      }
      o.copyRows(c, run, c.length);
    });
    if (flushes) ledger.notes.push(`${flushes} flush reads after removed writes removed with them`);
    if (leads) ledger.notes.push(`${leads} interrupt-status reads right before an unmasking write removed with it (NAPI's poll reads the status once more before it unmasks)`);
    if (deferred) ledger.assumptions.push(`upper bound only: the guest time right after each of ${deferred} masking writes (the deferred poll's scheduling and work) may go too; part of it is packet work that stays`);
    if (this.found) ledger.notes.push(this.found);
    ledger.assumptions.push('the removed register accesses disappear entirely; the device and the guest do the rest of their work unchanged');
    return { trace: out, ledger: closeLedger(ledger, out, 'no access to these registers in this trace') };
  }
}

/** Parses `port=0x1f0-0x1f7,rw=w,flush` / `mmio=0xfebc00d0`. */
export function parseIoRange(text: string): IoRange | null {
  const parts = text.split(',');
  const m = /^(port|mmio)=(0x[0-9a-f]+|\d+)(?:-(0x[0-9a-f]+|\d+))?$/i.exec(parts[0]);
  if (!m) return null;
  const lo = BigInt(m[2]);
  const r: IoRange = { kind: m[1].toLowerCase() as 'port' | 'mmio', lo, hi: m[3] ? BigInt(m[3]) : lo };
  for (const p of parts.slice(1)) {
    if (p === 'rw=r' || p === 'rw=w') r.rw = p.slice(3) as 'r' | 'w';
    else if (p === 'flush') r.flush = true;
    else return null;
  }
  return r;
}

const Range = z.string().regex(/^(port|mmio)=(0x[0-9a-fA-F]+|\d+)(-(0x[0-9a-fA-F]+|\d+))?(,rw=[rw])?(,flush)?$/, 'expected port=0xNNN[-0xMMM][,rw=r|w][,flush] or mmio=0xADDR[-0xEND]');

export const dropIo = definePass({
  name: 'drop-io',
  grammar: 'drop-io:port=0xNNN[-0xMMM][,rw=r|w][,flush][;...] | drop-io:mmio=0xA[-0xB][,rw=...]',
  summary: 'remove accesses to these device registers (with flush: the read that flushes a removed write)',
  schema: z.strictObject({ pass: z.literal('drop-io'), ranges: z.array(Range).min(1) }),
  parse: (args) => ({ pass: 'drop-io', ranges: args.join(':') ? args.join(':').split(';') : [] }),
  print: (s) => `drop-io:${s.ranges.join(';')}`,
  estimable: true,
  build: (s, _env, text) => [new DropIoPass(text, s.ranges.map((r) => parseIoRange(r)!))],
});
