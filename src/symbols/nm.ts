/**
 * Text symbol maps: `System.map`, `nm` output (with or without `-S` sizes) and
 * `/proc/kallsyms`.
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
import type { RawSymbol } from './types.js';

const TEXT_TYPES = new Set(['T', 't', 'W', 'w']);

export function parseNmText(text: string, path: string): RawSymbol[] {
  const out: RawSymbol[] = [];
  let zero = 0;
  let bad = 0;
  let firstBad = '';
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const parts = line.trim().split(/\s+/);
    let addrText: string;
    let sizeText: string | null = null;
    let type: string;
    let name: string;
    let rest: string[];
    if (parts.length >= 4 && /^[0-9a-fA-F]+$/.test(parts[1]) && parts[2].length === 1) {
      [addrText, sizeText, type, name] = parts;
      rest = parts.slice(4);
    } else if (parts.length >= 3 && parts[1].length === 1) {
      [addrText, type, name] = parts;
      rest = parts.slice(3);
    } else if (parts.length === 2 && parts[0].length === 1) {
      continue; // undefined symbol: `U name`
    } else {
      bad++;
      if (!firstBad) firstBad = `${path}:${n + 1}: ${line.slice(0, 80)}`;
      continue;
    }
    if (!/^[0-9a-fA-F]{1,16}$/.test(addrText)) {
      bad++;
      if (!firstBad) firstBad = `${path}:${n + 1}: ${line.slice(0, 80)}`;
      continue;
    }
    const addr = BigInt('0x' + addrText);
    if (addr === 0n) zero++;
    const modMatch = rest.length ? /^\[(.+)\]$/.exec(rest[0]) : null;
    out.push({
      name,
      module: modMatch ? modMatch[1] : '',
      start: addr,
      size: sizeText ? BigInt('0x' + sizeText) : null,
      text: TEXT_TYPES.has(type),
    });
  }
  if (out.length === 0) {
    throw new ExitscopeError(`${path}: not a symbol map (expected System.map, nm or /proc/kallsyms lines like 'ffffffff81000000 T _text'${firstBad ? `; first bad line ${firstBad}` : ''})`);
  }
  if (zero === out.length || (out.length >= 10 && zero / out.length > 0.99)) {
    throw new ExitscopeError(`${path}: every address is zero: this kallsyms was read without root (kernel.kptr_restrict hides addresses); read it as root in the guest: sudo cat /proc/kallsyms > kallsyms`);
  }
  if (bad > out.length) {
    throw new ExitscopeError(`${path}: mostly not symbol-map lines (${bad} bad vs ${out.length} good; first ${firstBad})`);
  }
  return out;
}
