/**
 * Text symbol maps: `System.map`, `nm` output (with or without `-S` sizes) and
 * `/proc/kallsyms`, parsed from bytes straight into columns.
 *
 * Formats (scripts/mksysmap, kernel/kallsyms.c s_show()):
 *   c041be00 t ack_ioapic_irq                                   (System.map, 32-bit)
 *   ffffffff81000000 T _text                                    (System.map, 64-bit)
 *   ffffffffc052d010 t ata_sff_dev_select\t[libata]             (kallsyms module symbol)
 *   ffffffff81002000 0000000000000042 T native_safe_halt        (nm -S)
 *                    U printk                                   (nm, undefined: skipped)
 * Oddities: kallsyms read without root prints every address as zeros
 * (kernel.kptr_restrict): that is an error with the fix, not a map of nothing.
 */
import { ExitscopeError } from '../model/errors.js';
import type { SymbolColumns } from './columns.js';
import { columnsFromRaw, rawFromColumns } from './columns.js';
import type { RawSymbol } from './types.js';

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

const isSpace = (c: number): boolean => c === 32 || c === 9;

export function parseNmBytes(b: Buffer, path: string): SymbolColumns {
  // Upper bound on symbols: lines.
  let lines = 1;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
  const hi = new Uint32Array(lines), lo = new Uint32Array(lines), size = new Float64Array(lines), text = new Uint8Array(lines);
  const nameStart = new Int32Array(lines), nameEnd = new Int32Array(lines), module = new Int32Array(lines);
  const modules = [''];
  const modIndex = new Map<string, number>([['', 0]]);
  let n = 0, zero = 0, bad = 0, firstBad = '', lineNo = 0;
  const len = b.length;
  let p = 0;
  while (p < len) {
    let e = b.indexOf(10, p);
    if (e < 0) e = len;
    lineNo++;
    const lineStart = p, lineEnd = e > p && b[e - 1] === 13 ? e - 1 : e;
    p = e + 1;
    let q = lineStart;
    while (q < lineEnd && isSpace(b[q])) q++;
    if (q >= lineEnd || b[q] === 35) continue;
    // token 1: address (or the type of an undefined `U name`)
    const t1 = q;
    while (q < lineEnd && !isSpace(b[q])) q++;
    const t1e = q;
    while (q < lineEnd && isSpace(b[q])) q++;
    const t2 = q;
    while (q < lineEnd && !isSpace(b[q])) q++;
    const t2e = q;
    while (q < lineEnd && isSpace(b[q])) q++;
    if (t1e - t1 === 1 && t2e > t2 && q >= lineEnd) continue; // `U name`
    let sizeA = -1, sizeB = -1, typeAt = -1;
    if (t2e - t2 === 1) typeAt = t2;
    else {
      // nm -S: ADDR SIZE TYPE NAME
      sizeA = t2; sizeB = t2e;
      const t3 = q;
      while (q < lineEnd && !isSpace(b[q])) q++;
      if (q - t3 === 1) typeAt = t3;
      while (q < lineEnd && isSpace(b[q])) q++;
    }
    const ns = q;
    while (q < lineEnd && !isSpace(b[q])) q++;
    const ne = q;
    let ok = typeAt >= 0 && ne > ns && t1e - t1 >= 1 && t1e - t1 <= 16;
    let h = 0, l = 0;
    for (let k = t1; ok && k < t1e; k++) {
      const v = hexVal(b[k]);
      if (v < 0) { ok = false; break; }
      h = ((h << 4) | (l >>> 28)) >>> 0;
      l = ((l << 4) | v) >>> 0;
    }
    let sz = -1;
    if (ok && sizeA >= 0) {
      sz = 0;
      for (let k = sizeA; k < sizeB; k++) { const v = hexVal(b[k]); if (v < 0) { ok = false; break; } sz = sz * 16 + v; }
    }
    if (!ok) {
      bad++;
      if (!firstBad) firstBad = `${path}:${lineNo}: ${b.toString('latin1', lineStart, Math.min(lineEnd, lineStart + 80))}`;
      continue;
    }
    while (q < lineEnd && isSpace(b[q])) q++;
    let mod = 0;
    if (q < lineEnd && b[q] === 91) {
      let r = q + 1;
      while (r < lineEnd && b[r] !== 93) r++;
      const name = b.toString('latin1', q + 1, r);
      let m = modIndex.get(name);
      if (m === undefined) { m = modules.length; modules.push(name); modIndex.set(name, m); }
      mod = m;
    }
    const ty = b[typeAt];
    hi[n] = h; lo[n] = l; size[n] = sz;
    text[n] = ty === 84 || ty === 116 || ty === 87 || ty === 119 ? 1 : 0; // T t W w
    nameStart[n] = ns; nameEnd[n] = ne; module[n] = mod;
    if (h === 0 && l === 0) zero++;
    n++;
  }
  if (n === 0) {
    throw new ExitscopeError(`${path}: not a symbol map (expected System.map, nm or /proc/kallsyms lines like 'ffffffff81000000 T _text'${firstBad ? `; first bad line ${firstBad}` : ''})`);
  }
  if (zero === n || (n >= 10 && zero / n > 0.99)) {
    throw new ExitscopeError(`${path}: every address is zero: this kallsyms was read without root (kernel.kptr_restrict hides addresses); read it as root in the guest: sudo cat /proc/kallsyms > kallsyms`);
  }
  if (bad > n) throw new ExitscopeError(`${path}: mostly not symbol-map lines (${bad} bad vs ${n} good; first ${firstBad})`);
  return { n, hi: hi.subarray(0, n), lo: lo.subarray(0, n), size: size.subarray(0, n), text: text.subarray(0, n), names: b, nameStart: nameStart.subarray(0, n), nameEnd: nameEnd.subarray(0, n), module: module.subarray(0, n), modules };
}

/** The same as objects (tests, small maps). */
export function parseNmText(text: string, path: string): RawSymbol[] {
  return rawFromColumns(parseNmBytes(Buffer.from(text, 'latin1'), path));
}

export { columnsFromRaw };
