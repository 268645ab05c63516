/**
 * ELF32/ELF64 symbol tables (System V gABI, "Symbol Table" and "Sections"):
 * a `vmlinux` (ET_EXEC: st_value is the link-time address) or a module `.ko`
 * (ET_REL: st_value is an offset into its section).
 *
 * Only the ELF header, section headers, the symtab and its strtab are read, by
 * positional reads: a debug vmlinux is hundreds of MB of DWARF we never touch.
 *
 * A `.ko` has no addresses until the kernel lays it out. Given the load base of
 * its text (`--map libata.ko@0xffffffffc052d000`, the address `/proc/modules`
 * or `[module]` kallsyms give for the module's text) we lay its executable
 * sections out the way kernel/module/main.c layout_sections() does: every
 * SHF_ALLOC|SHF_EXECINSTR section that is not `.init*`, in section-header
 * order, each at its sh_addralign.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { ExitscopeError } from '../model/errors.js';
import type { RawSymbol } from './types.js';

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const SHF_ALLOC = 2;
const SHF_EXECINSTR = 4;
const STT_NOTYPE = 0;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
const SHN_ABS = 0xfff1;
/** The symbol's section index is past 0xfeff: its entry in the SHT_SYMTAB_SHNDX section (linked to the symbol table) holds it. */
const SHN_XINDEX = 0xffff;
const SHT_SYMTAB_SHNDX = 18;
const ET_REL = 1;

interface Section {
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  addralign: bigint;
  entsize: number;
}

export function isElf(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

export interface ElfSymbols {
  symbols: RawSymbol[];
  relocatable: boolean;
  is64: boolean;
}

export async function readElfSymbols(path: string, loadBase: bigint | null): Promise<ElfSymbols> {
  const fh = await open(path, 'r');
  try {
    const read = async (pos: number, len: number): Promise<Buffer> => {
      const b = Buffer.alloc(len);
      const { bytesRead } = await fh.read(b, 0, len, pos);
      if (bytesRead < len) throw new ExitscopeError(`${path}: truncated ELF file (wanted ${len} bytes at ${pos})`);
      return b;
    };
    const eh = await read(0, 64);
    if (!isElf(eh)) throw new ExitscopeError(`${path}: not an ELF file`);
    const is64 = eh[4] === 2;
    if (eh[4] !== 1 && eh[4] !== 2) throw new ExitscopeError(`${path}: unknown ELF class ${eh[4]}`);
    const le = eh[5] === 1;
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const u64 = (b: Buffer, o: number): bigint => (le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
    const word = (b: Buffer, o: number): bigint => (is64 ? u64(b, o) : BigInt(u32(b, o)));
    const type = u16(eh, 16);
    const shoff = Number(is64 ? u64(eh, 40) : BigInt(u32(eh, 32)));
    const shentsize = u16(eh, is64 ? 58 : 46);
    let shnum = u16(eh, is64 ? 60 : 48);
    let shstrndx = u16(eh, is64 ? 62 : 50);
    if (shoff === 0) throw new ExitscopeError(`${path}: ELF file has no section headers (stripped?)`);
    if (shnum === 0 || shstrndx === 0xffff) {
      // Extended numbering: the real counts live in section 0.
      const s0 = await read(shoff, shentsize);
      if (shnum === 0) shnum = Number(word(s0, is64 ? 32 : 20));
      if (shstrndx === 0xffff) shstrndx = u32(s0, is64 ? 40 : 24);
    }
    const sh = await read(shoff, shentsize * shnum);
    const secs: Section[] = [];
    for (let i = 0; i < shnum; i++) {
      const o = i * shentsize;
      secs.push(is64
        ? { name: String(u32(sh, o)), type: u32(sh, o + 4), flags: u64(sh, o + 8), addr: u64(sh, o + 16), offset: Number(u64(sh, o + 24)), size: Number(u64(sh, o + 32)), link: u32(sh, o + 40), addralign: u64(sh, o + 48), entsize: Number(u64(sh, o + 56)) }
        : { name: String(u32(sh, o)), type: u32(sh, o + 4), flags: BigInt(u32(sh, o + 8)), addr: BigInt(u32(sh, o + 12)), offset: u32(sh, o + 16), size: u32(sh, o + 20), link: u32(sh, o + 24), addralign: BigInt(u32(sh, o + 32)), entsize: u32(sh, o + 36) });
    }
    const shstr = secs[shstrndx] ? await read(secs[shstrndx].offset, secs[shstrndx].size) : Buffer.alloc(0);
    const cstr = (b: Buffer, o: number): string => {
      const e = b.indexOf(0, o);
      return b.toString('latin1', o, e < 0 ? b.length : e);
    };
    for (const s of secs) s.name = cstr(shstr, Number(s.name));
    let symtab = secs.find((s) => s.type === SHT_SYMTAB);
    if (!symtab) symtab = secs.find((s) => s.type === SHT_DYNSYM);
    if (!symtab) throw new ExitscopeError(`${path}: ELF file has no symbol table (stripped? use the -dbg package's vmlinux or the unstripped .ko)`);
    const strsec = secs[symtab.link];
    const strtab = await read(strsec.offset, strsec.size);
    const symdata = await read(symtab.offset, symtab.size);
    const symtabIndex = secs.indexOf(symtab);
    const xsec = secs.find((s) => s.type === SHT_SYMTAB_SHNDX && s.link === symtabIndex);
    const xindex = xsec ? await read(xsec.offset, xsec.size) : null;
    const relocatable = type === ET_REL;

    // Addresses of sections for a relocatable module.
    const secBase: Array<bigint | null> = secs.map(() => null);
    if (relocatable) {
      if (loadBase === null) {
        throw new ExitscopeError(`${path}: a module (.ko) has no addresses until loaded; give its text base: --map ${basename(path)}@0xADDRESS (from /proc/modules or kallsyms in the guest)`);
      }
      let cur = loadBase;
      secs.forEach((s, i) => {
        const exec = (s.flags & BigInt(SHF_ALLOC | SHF_EXECINSTR)) === BigInt(SHF_ALLOC | SHF_EXECINSTR);
        if (!exec || s.name.startsWith('.init')) return;
        const a = s.addralign > 1n ? s.addralign : 1n;
        cur = ((cur + a - 1n) / a) * a;
        secBase[i] = cur;
        cur += BigInt(s.size);
      });
    }
    const entsize = symtab.entsize || (is64 ? 24 : 16);
    const count = Math.floor(symdata.length / entsize);
    const module = relocatable ? basename(path).replace(/\.ko(\.[a-z]+)?$/, '').replace(/-/g, '_') : '';
    const out: RawSymbol[] = [];
    for (let k = 1; k < count; k++) {
      const o = k * entsize;
      const nameOff = u32(symdata, o);
      const info = is64 ? symdata[o + 4] : symdata[o + 12];
      let shndx = is64 ? u16(symdata, o + 6) : u16(symdata, o + 14);
      let reserved = shndx >= SHN_LORESERVE;
      if (shndx === SHN_XINDEX) {
        // One 32-bit section index per symbol, in symbol order.
        if (!xindex || 4 * k + 4 > xindex.length) continue;
        shndx = u32(xindex, 4 * k);
        reserved = false;
      }
      const value = is64 ? u64(symdata, o + 8) : BigInt(u32(symdata, o + 4));
      const size = is64 ? u64(symdata, o + 16) : BigInt(u32(symdata, o + 8));
      const stt = info & 0xf;
      if (stt !== STT_NOTYPE && stt !== STT_OBJECT && stt !== STT_FUNC) continue;
      if (shndx === SHN_UNDEF) continue;
      const name = cstr(strtab, nameOff);
      if (name === '' || name.startsWith('$') || name.startsWith('.L')) continue;
      let start: bigint;
      let inExec = false;
      if (reserved) {
        if (shndx !== SHN_ABS || relocatable) continue;
        start = value;
      } else {
        const sec = secs[shndx];
        if (!sec) continue;
        inExec = (sec.flags & BigInt(SHF_EXECINSTR)) !== 0n && (sec.flags & BigInt(SHF_ALLOC)) !== 0n;
        if (relocatable) {
          const b = secBase[shndx];
          if (b === null) continue; // init or data sections of a module: not in its text
          start = b + value;
        } else start = value;
      }
      const text = stt === STT_FUNC ? inExec || (reserved && shndx === SHN_ABS) : stt === STT_NOTYPE && inExec;
      out.push({ name, module, start, size: size > 0n ? size : null, text });
    }
    if (!out.some((s) => s.text)) throw new ExitscopeError(`${path}: ELF symbol table has no function symbols`);
    return { symbols: out, relocatable, is64 };
  } finally {
    await fh.close();
  }
}
