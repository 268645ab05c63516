/**
 * The canonical exit record shared by the CSV and JSON Lines formats:
 *   ts_ns,vcpu,reason,rip,duration_ns[,port,size,dir,value,gpa,msr,caller,vm]
 * Addresses are `0x` hex (64-bit exact), ts_ns/duration_ns decimal ns,
 * duration_ns empty when unknown, dir `r`/`w`. Both readers turn a row's field
 * texts into one chunk row here, so their validation and messages agree.
 */
import { DIR_READ, DIR_WRITE, ExitChunk, F_CALLER, F_GPA, F_MSR, F_PORT, F_SIZE, F_VALUE, F_UNPAIRED, OPTIONAL_COLUMNS, type OptionalColumn } from '../model/chunk.js';
import { REASONS } from '../model/reasons.js';
import { TimeBase, formatAbsNs } from '../model/time.js';
import { formatHexU64, newU64Out, parseHexU64 } from '../model/u64.js';

export const REQUIRED_COLUMNS = ['ts_ns', 'vcpu', 'reason', 'rip', 'duration_ns'] as const;
export const ALL_COLUMNS = [...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS] as const;
export type CanonicalColumn = (typeof ALL_COLUMNS)[number];

/** Field slots in ALL_COLUMNS order. */
export const C_TS = 0, C_VCPU = 1, C_REASON = 2, C_RIP = 3, C_DUR = 4, C_PORT = 5, C_SIZE = 6, C_DIR = 7, C_VALUE = 8, C_GPA = 9, C_MSR = 10, C_CALLER = 11, C_VM = 12;

const u64 = newU64Out();

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Appends one row to `chunk` from field texts (undefined = column absent,
 * '' = empty). Returns null on success or the rejection reason; on failure the
 * chunk is left unchanged.
 */
export function pushCanonicalRow(f: ReadonlyArray<string | undefined>, chunk: ExitChunk, time: TimeBase): string | null {
  const tsText = f[C_TS] ?? '';
  if (!isDigits(tsText)) return tsText.startsWith('-') ? `negative ts_ns '${tsText}'` : `ts_ns '${tsText}' is not a whole number of ns`;
  const vText = f[C_VCPU] ?? '';
  if (!isDigits(vText) || vText.length > 9) return `unknown vcpu '${vText}' (expected a vcpu number)`;
  const rText = f[C_REASON] ?? '';
  if (rText === '') return 'empty reason';
  const ripText = f[C_RIP] ?? '';
  if (!parseHexU64(ripText, u64)) return `rip '${ripText}' is not 0x-hex (64-bit at most)`;
  const ripHi = u64[0], ripLo = u64[1];
  const dText = f[C_DUR] ?? '';
  let dur = NaN;
  if (dText !== '' && dText !== '-') {
    if (dText.startsWith('-')) return `negative duration_ns '${dText}'`;
    if (!isDigits(dText) || dText.length > 15) return `duration_ns '${dText}' is not a whole number of ns`;
    dur = +dText;
  }
  let flags = Number.isNaN(dur) ? F_UNPAIRED : 0;
  let port = 0, size = 0, dir = 0, valHi = 0, valLo = 0, gpaHi = 0, gpaLo = 0, msr = 0, cHi = 0, cLo = 0;
  const p = f[C_PORT];
  if (p) {
    let v = -1;
    if (parseHexU64(p, u64)) v = u64[0] === 0 && u64[1] <= 0xffff ? u64[1] : -1;
    else if (isDigits(p) && p.length <= 5) v = +p <= 0xffff ? +p : -1;
    if (v < 0) return `port '${p}' is not a 16-bit I/O port`;
    port = v; flags |= F_PORT;
  }
  const s = f[C_SIZE];
  if (s) {
    if (!isDigits(s) || +s < 1 || +s > 255) return `size '${s}' is not a byte count`;
    size = +s; flags |= F_SIZE;
  }
  const d = f[C_DIR];
  if (d) {
    const l = d.toLowerCase();
    if (l === 'r' || l === 'read' || l === 'in') dir = DIR_READ;
    else if (l === 'w' || l === 'write' || l === 'out') dir = DIR_WRITE;
    else return `dir '${d}' is not r or w`;
  }
  const val = f[C_VALUE];
  if (val) {
    if (!parseHexU64(val, u64)) return `value '${val}' is not 0x-hex`;
    valHi = u64[0]; valLo = u64[1]; flags |= F_VALUE;
  }
  const g = f[C_GPA];
  if (g) {
    if (!parseHexU64(g, u64)) return `gpa '${g}' is not 0x-hex`;
    gpaHi = u64[0]; gpaLo = u64[1]; flags |= F_GPA;
  }
  const m = f[C_MSR];
  if (m) {
    if (!parseHexU64(m, u64) || u64[0] !== 0) return `msr '${m}' is not a 32-bit 0x-hex MSR index`;
    msr = u64[1]; flags |= F_MSR;
  }
  const c = f[C_CALLER];
  if (c) {
    if (!parseHexU64(c, u64)) return `caller '${c}' is not 0x-hex`;
    cHi = u64[0]; cLo = u64[1]; flags |= F_CALLER;
  }
  let vm = 0;
  const vmText = f[C_VM];
  if (vmText) {
    if (!isDigits(vmText) || vmText.length > 9) return `vm '${vmText}' is not a vm number`;
    vm = +vmText;
  }
  let reason = REASONS.lookup(rText);
  if (reason < 0) reason = REASONS.intern('other', rText);
  const ts = time.offsetOfDigits(tsText);
  chunk.pushRow(ts, +vText, reason, ripHi, ripLo, dur, flags, port, size, dir, valHi, valLo, gpaHi, gpaLo, msr, cHi, cLo, vm);
  return null;
}

/** Field texts of row i, in ALL_COLUMNS order; '' for absent optional fields. */
export function canonicalFields(chunk: ExitChunk, i: number, out: string[]): string[] {
  const fl = chunk.flags[i];
  // Whole ns, as the readers take them (a pass may leave fractions: a halved duration).
  out[C_TS] = formatAbsNs(chunk.tsBaseNs, Math.round(chunk.ts[i]));
  out[C_VCPU] = String(chunk.vcpu[i]);
  out[C_REASON] = REASONS.get(chunk.reason[i]).name;
  out[C_RIP] = formatHexU64(chunk.ripHi[i], chunk.ripLo[i]);
  const dur = chunk.dur[i];
  out[C_DUR] = Number.isNaN(dur) ? '' : String(Math.round(dur));
  out[C_PORT] = fl & F_PORT ? '0x' + chunk.port[i].toString(16) : '';
  out[C_SIZE] = fl & F_SIZE ? String(chunk.size[i]) : '';
  const dir = chunk.dir[i];
  out[C_DIR] = dir === DIR_READ ? 'r' : dir === DIR_WRITE ? 'w' : '';
  out[C_VALUE] = fl & F_VALUE ? formatHexU64(chunk.valHi[i], chunk.valLo[i]) : '';
  out[C_GPA] = fl & F_GPA ? formatHexU64(chunk.gpaHi[i], chunk.gpaLo[i]) : '';
  out[C_MSR] = fl & F_MSR ? '0x' + chunk.msr[i].toString(16) : '';
  out[C_CALLER] = fl & F_CALLER ? formatHexU64(chunk.callerHi[i], chunk.callerLo[i]) : '';
  out[C_VM] = String(chunk.vm[i]);
  return out;
}

/** Column slots to write for a declared optional-column set, in canonical order. */
export function columnSlots(columns: ReadonlySet<OptionalColumn>): number[] {
  const slots = [C_TS, C_VCPU, C_REASON, C_RIP, C_DUR];
  OPTIONAL_COLUMNS.forEach((c, k) => { if (columns.has(c)) slots.push(C_PORT + k); });
  return slots;
}
