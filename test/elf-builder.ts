/**
 * A minimal ELF writer for tests (System V gABI, "ELF Header", "Sections", "Symbol Table"):
 * lays out the header, each section's bytes, a symbol table with its string table, the
 * section-name table and the section header table, for ELF32/ELF64 in either byte order.
 * Quirks a real file can have (extended section numbering, no section headers, a symbol
 * table with sh_entsize 0, a string table without its final NUL) are options.
 *
 * Checked against binutils 2.40: every file test/mutation-symbols-elf.test.ts writes was dumped
 * and read with `readelf -hSsW` and `nm -S`, which show the layout the test states (sections,
 * classes, byte orders, extended numbering, symbol values, sizes, types and section indices).
 */
export const ET_REL = 1, ET_EXEC = 2;
export const SHT_PROGBITS = 1, SHT_SYMTAB = 2, SHT_STRTAB = 3, SHT_NOBITS = 8, SHT_DYNSYM = 11, SHT_SYMTAB_SHNDX = 18;
export const SHF_WRITE = 1, SHF_ALLOC = 2, SHF_EXECINSTR = 4;
export const AX = SHF_ALLOC | SHF_EXECINSTR, WA = SHF_WRITE | SHF_ALLOC;
export const STT_NOTYPE = 0, STT_OBJECT = 1, STT_FUNC = 2, STT_SECTION = 3, STT_FILE = 4;
export const STB_LOCAL = 0, STB_GLOBAL = 1;
export const SHN_UNDEF = 0, SHN_LORESERVE = 0xff00, SHN_ABS = 0xfff1, SHN_COMMON = 0xfff2, SHN_XINDEX = 0xffff;

export interface SecSpec {
  name: string;
  type?: number;
  flags?: number;
  addr?: bigint;
  size: number;
  align?: number;
}

export interface SymSpec {
  /** null: st_name 0 (no name). */
  name: string | null;
  value: bigint;
  size?: bigint;
  type: number;
  bind?: number;
  /** Section index: 1 is the first of `secs`; or SHN_*. */
  shndx: number;
}

export interface ElfSpec {
  is64?: boolean;
  le?: boolean;
  type?: number;
  secs: SecSpec[];
  syms: SymSpec[];
  /** Names placed first in the string table (to control st_name offsets). */
  strtabPad?: string;
  symtabType?: number;
  symEntsize0?: boolean;
  /** The string table's last name is not NUL-terminated. */
  strtabUnterminated?: boolean;
  /** e_shnum = 0, the count in section 0's sh_size. */
  extShnum?: boolean;
  /** e_shstrndx = SHN_XINDEX, the index in section 0's sh_link. */
  extShstrndx?: boolean;
  noSectionHeaders?: boolean;
  classByte?: number;
  /**
   * Empty sections placed before `secs` (symbols' shndx 1.. still name `secs`). Past 0xff00
   * sections in all, a symbol's section index goes to a SHT_SYMTAB_SHNDX section (st_shndx
   * SHN_XINDEX), and the counts need extShnum / extShstrndx.
   */
  padSections?: number;
}

/** The ELF file's bytes. Sections: null, secs..., .symtab, .strtab, .shstrtab. */
export function buildElf(spec: ElfSpec): Buffer {
  const is64 = spec.is64 ?? true, le = spec.le ?? true;
  const w16 = (b: Buffer, o: number, v: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const w32 = (b: Buffer, o: number, v: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  const w64 = (b: Buffer, o: number, v: bigint) => (le ? b.writeBigUInt64LE(v, o) : b.writeBigUInt64BE(v, o));
  const wWord = (b: Buffer, o: number, v: bigint) => (is64 ? w64(b, o, v) : w32(b, o, Number(v)));

  // String table: optional pad, then each name once.
  let str = '\0' + (spec.strtabPad ?? '');
  const nameOff = new Map<string, number>();
  const named = spec.syms.filter((s) => s.name !== null) as Array<SymSpec & { name: string }>;
  named.forEach((s, k) => {
    if (nameOff.has(s.name)) return;
    nameOff.set(s.name, str.length);
    str += s.name + (spec.strtabUnterminated && k === named.length - 1 ? '' : '\0');
  });
  const strtab = Buffer.from(str, 'latin1');

  const entsize = is64 ? 24 : 16;
  const symtab = Buffer.alloc(entsize * (spec.syms.length + 1));
  const pad = spec.padSections ?? 0;
  const xindex = Buffer.alloc(4 * (spec.syms.length + 1));
  let xUsed = false;
  spec.syms.forEach((s0, k) => {
    const o = (k + 1) * entsize;
    let s = s0;
    if (s.shndx >= 1 && s.shndx <= spec.secs.length && pad) {
      const real = pad + s.shndx;
      if (real >= SHN_LORESERVE) { (le ? xindex.writeUInt32LE(real, 4 * (k + 1)) : xindex.writeUInt32BE(real, 4 * (k + 1))); xUsed = true; s = { ...s, shndx: SHN_XINDEX }; }
      else s = { ...s, shndx: real };
    }
    const info = ((s.bind ?? STB_GLOBAL) << 4) | s.type;
    w32(symtab, o, s.name === null ? 0 : nameOff.get(s.name)!);
    if (is64) {
      symtab[o + 4] = info; symtab[o + 5] = 0; w16(symtab, o + 6, s.shndx); w64(symtab, o + 8, s.value); w64(symtab, o + 16, s.size ?? 0n);
    } else {
      w32(symtab, o + 4, Number(s.value)); w32(symtab, o + 8, Number(s.size ?? 0n)); symtab[o + 12] = info; symtab[o + 13] = 0; w16(symtab, o + 14, s.shndx);
    }
  });

  const nUser = pad + spec.secs.length;
  const symIdx = nUser + 1, strIdx = nUser + 2, shstrIdx = nUser + 3, shnum = nUser + 4 + (xUsed ? 1 : 0);
  let shstr = '\0';
  const shName = (n: string) => { const o = shstr.length; shstr += n + '\0'; return o; };
  type H = { name: number; type: number; flags: number; addr: bigint; data: Buffer | null; size: number; link: number; info: number; align: number; entsize: number };
  const hs: H[] = [];
  const padName = pad ? shName('.pad') : 0;
  for (let k = 0; k < pad; k++) hs.push({ name: padName, type: SHT_PROGBITS, flags: 0, addr: 0n, data: null, size: 0, link: 0, info: 0, align: 1, entsize: 0 });
  for (const s of spec.secs) hs.push({ name: shName(s.name), type: s.type ?? SHT_PROGBITS, flags: s.flags ?? 0, addr: s.addr ?? 0n, data: (s.type ?? SHT_PROGBITS) === SHT_NOBITS ? null : Buffer.alloc(s.size, 0x90), size: s.size, link: 0, info: 0, align: s.align ?? 1, entsize: 0 });
  hs.push({ name: shName(spec.symtabType === SHT_DYNSYM ? '.dynsym' : '.symtab'), type: spec.symtabType ?? SHT_SYMTAB, flags: 0, addr: 0n, data: symtab, size: symtab.length, link: strIdx, info: 1, align: 8, entsize: spec.symEntsize0 ? 0 : entsize });
  hs.push({ name: shName('.strtab'), type: SHT_STRTAB, flags: 0, addr: 0n, data: strtab, size: strtab.length, link: 0, info: 0, align: 1, entsize: 0 });
  const shndxName = xUsed ? shName('.symtab_shndx') : 0;
  const shstrName = shName('.shstrtab');
  const shstrtab = Buffer.from(shstr, 'latin1');
  hs.push({ name: shstrName, type: SHT_STRTAB, flags: 0, addr: 0n, data: shstrtab, size: shstrtab.length, link: 0, info: 0, align: 1, entsize: 0 });
  if (xUsed) hs.push({ name: shndxName, type: SHT_SYMTAB_SHNDX, flags: 0, addr: 0n, data: xindex, size: xindex.length, link: symIdx, info: 0, align: 4, entsize: 4 });

  const ehsize = is64 ? 64 : 52, shentsize = is64 ? 64 : 40;
  const chunks: Buffer[] = [];
  let off = ehsize;
  const offsets: number[] = [];
  for (const h of hs) {
    const pad = (8 - (off % 8)) % 8;
    if (pad) { chunks.push(Buffer.alloc(pad)); off += pad; }
    offsets.push(off);
    if (h.data) { chunks.push(h.data); off += h.data.length; }
  }
  const padSh = (8 - (off % 8)) % 8;
  if (padSh) { chunks.push(Buffer.alloc(padSh)); off += padSh; }
  const shoff = off;
  const sh = Buffer.alloc(shentsize * shnum);
  // Section 0: all zero, except the extended counts.
  if (spec.extShnum) { if (is64) w64(sh, 32, BigInt(shnum)); else w32(sh, 20, shnum); }
  if (spec.extShstrndx) w32(sh, is64 ? 40 : 24, shstrIdx);
  hs.forEach((h, k) => {
    const o = (k + 1) * shentsize;
    w32(sh, o, h.name); w32(sh, o + 4, h.type);
    if (is64) {
      w64(sh, o + 8, BigInt(h.flags)); w64(sh, o + 16, h.addr); w64(sh, o + 24, BigInt(offsets[k])); w64(sh, o + 32, BigInt(h.size));
      w32(sh, o + 40, h.link); w32(sh, o + 44, h.info); w64(sh, o + 48, BigInt(h.align)); w64(sh, o + 56, BigInt(h.entsize));
    } else {
      w32(sh, o + 8, h.flags); w32(sh, o + 12, Number(h.addr)); w32(sh, o + 16, offsets[k]); w32(sh, o + 20, h.size);
      w32(sh, o + 24, h.link); w32(sh, o + 28, h.info); w32(sh, o + 32, h.align); w32(sh, o + 36, h.entsize);
    }
  });

  const eh = Buffer.alloc(ehsize);
  eh.write('\x7fELF', 0, 'latin1');
  eh[4] = spec.classByte ?? (is64 ? 2 : 1); eh[5] = le ? 1 : 2; eh[6] = 1;
  w16(eh, 16, spec.type ?? ET_EXEC);
  w16(eh, 18, le ? (is64 ? 62 : 3) : (is64 ? 21 : 20)); // EM_X86_64 / EM_386, big-endian: EM_PPC64 / EM_PPC
  w32(eh, 20, 1);
  if (!spec.noSectionHeaders) wWord(eh, is64 ? 40 : 32, BigInt(shoff));
  w16(eh, is64 ? 52 : 40, ehsize);
  w16(eh, is64 ? 58 : 46, shentsize);
  w16(eh, is64 ? 60 : 48, spec.noSectionHeaders ? 0 : spec.extShnum ? 0 : shnum);
  w16(eh, is64 ? 62 : 50, spec.noSectionHeaders ? 0 : spec.extShstrndx ? 0xffff : shstrIdx);
  return Buffer.concat([eh, ...chunks, ...(spec.noSectionHeaders ? [] : [sh])]);
}
