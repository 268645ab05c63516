/**
 * Text symbol maps (src/symbols/nm.ts): System.map, `nm` / `nm -S` / `nm -l` output and
 * /proc/kallsyms lines, each written out here with what binutils or the kernel prints
 * (scripts/mksysmap, kernel/kallsyms.c s_show()) and what a reader must make of it.
 */
import { describe, expect, it } from 'vitest';
import { parseNmBytes, parseNmText } from '../src/symbols/nm.js';

const parse = (text: string) => parseNmText(text, 'm');
const rows = (text: string) => parse(text).map((s) => [s.name, s.module, s.start.toString(16), s.text, s.size]);

describe('lines', () => {
  it('a map that starts with an empty line: every symbol after it is read', () => {
    expect(rows('\nffffffff81000000 T _text\nffffffff81000100 t default_idle\n')).toEqual([
      ['_text', '', 'ffffffff81000000', true, null],
      ['default_idle', '', 'ffffffff81000100', true, null],
    ]);
    expect(rows('\n\r\nc0100000 T startup_32')).toEqual([['startup_32', '', 'c0100000', true, null]]);
  });

  it('comments and blank lines are neither symbols nor bad lines, however many', () => {
    const text = ['# System.map of 6.1.0', '#', '# generated', '', '   ', '\t', 'ffffffff81000000 T _text', 'ffffffff81000100 t default_idle'].join('\n');
    expect(parse(text).map((s) => s.name)).toEqual(['_text', 'default_idle']);
  });

  it('only comments: not a symbol map, with no bad line to quote', () => {
    expect(() => parse('# nothing here\n#\n')).toThrow(/^m: not a symbol map \(expected System.map, nm or \/proc\/kallsyms lines like 'ffffffff81000000 T _text'\)$/);
  });
});

describe('addresses', () => {
  it('one to sixteen hex digits, either case; seventeen or a non-hex character is a bad line', () => {
    expect(rows('1 T one_digit\nABCDEF T upper\nffffffff81000000 T sixteen\n')).toEqual([
      ['one_digit', '', '1', true, null],
      ['upper', '', 'abcdef', true, null],
      ['sixteen', '', 'ffffffff81000000', true, null],
    ]);
    // Each bad line next to two good ones (bad lines may not outnumber good ones).
    for (const badAddr of ['1ffffffff81000000', 'ffffffff8100000g', 'ffffffff8100000@', 'ffffffff8100000`', 'ffffffff8100000G', 'ffffffff8100000/', 'ffffffff8100000:']) {
      expect([badAddr, parse(`c0100000 T a\n${badAddr} T bad_one\nc0100010 T b\n`).map((s) => s.name)]).toEqual([badAddr, ['a', 'b']]);
    }
  });

  it('addresses whose low 32 bits are zero are not zero addresses', () => {
    expect(rows('ffffffff00000000 T boundary_fn\n')).toEqual([['boundary_fn', '', 'ffffffff00000000', true, null]]);
  });

  it('exactly 99% zero addresses (99 of 100) is still a map; more is kallsyms read without root', () => {
    const zeros = (k: number) => Array.from({ length: k }, (_, i) => `0000000000000000 t z${i}`);
    expect(parse([...zeros(99), 'ffffffff81000000 T _text'].join('\n'))).toHaveLength(100);
    expect(() => parse([...zeros(199), 'ffffffff81000000 T _text'].join('\n'))).toThrow(/^m: every address is zero: this kallsyms was read without root \(kernel.kptr_restrict hides addresses\); read it as root in the guest: sudo cat \/proc\/kallsyms > kallsyms$/);
  });
});

describe('fields', () => {
  it('a line with an address and a type but no name is a bad line', () => {
    expect(parse('c0100000 T a\nc0100008 T\nc0100010 T b\n').map((s) => s.name)).toEqual(['a', 'b']);
    expect(() => parse('c0100000 T\n')).toThrow(/^m: not a symbol map .*; first bad line m:1: c0100000 T\)$/);
  });

  it('a lone letter is a bad line, not an undefined symbol (`U name` has two fields)', () => {
    expect(() => parse('c0100000 T a\nU\nx\n')).toThrow(/^m: mostly not symbol-map lines \(2 bad vs 1 good; first m:2: U\)$/);
  });

  it('nm -S: a size between address and type; a type of more than one letter, or a second address, is a bad line', () => {
    expect(rows('ffffffff81000000 0000000000000040 T sized_fn\n')).toEqual([['sized_fn', '', 'ffffffff81000000', true, 0x40n]]);
    expect(() => parse('ffffffff81000000 0000000000000040 TX odd_type\n')).toThrow(/^m: not a symbol map .*first bad line m:1: ffffffff81000000 0000000000000040 TX odd_type\)$/);
    expect(() => parse('c0100000 c0100010 two_addresses\n')).toThrow(/^m: not a symbol map .*first bad line m:1: c0100000 c0100010 two_addresses\)$/);
  });

  it('as many bad lines as good ones is still a map; one more bad line is not', () => {
    expect(parse('c0100000 T a\nnot a line\n').map((s) => s.name)).toEqual(['a']);
    expect(() => parse('c0100000 T a\nnot a line\nnor this\n')).toThrow(/^m: mostly not symbol-map lines \(2 bad vs 1 good; first m:2: not a line\)$/);
  });
});

describe('what follows the name', () => {
  it('`nm -l` appends file:line: the symbol stays a core-kernel one', () => {
    expect(rows('ffffffff81000100 t default_idle\t/build/linux/arch/x86/kernel/process.c:730\nffffffff81000200 T native_safe_halt /build/x.c:12\n')).toEqual([
      ['default_idle', '', 'ffffffff81000100', true, null],
      ['native_safe_halt', '', 'ffffffff81000200', true, null],
    ]);
    expect(parseNmBytes(Buffer.from('ffffffff81000100 t default_idle\t/build/x.c:1\n'), 'm').modules).toEqual(['']);
  });

  it('a [module] without its closing bracket runs to the end of the line', () => {
    expect(rows('ffffffffc0a10000 t e1000_intr\t[e1000\nffffffffc0a10100 t e1000_clean\t[e1000]\n')).toEqual([
      ['e1000_intr', 'e1000', 'ffffffffc0a10000', true, null],
      ['e1000_clean', 'e1000', 'ffffffffc0a10100', true, null],
    ]);
    expect(rows('ffffffffc0a10000 t e1000_intr\t[e1000\r\n')).toEqual([['e1000_intr', 'e1000', 'ffffffffc0a10000', true, null]]);
  });

  it('an empty [] is the core kernel, not a module named ""', () => {
    const c = parseNmBytes(Buffer.from('ffffffff81000000 T _text\t[]\nffffffffc0a10000 t e1000_intr\t[e1000]\n'), 'm');
    expect(c.modules).toEqual(['', 'e1000']);
    expect(Array.from(c.module)).toEqual([0, 1]);
  });
});
