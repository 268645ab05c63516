import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeFields, parseEventFormat, parsePageHeader } from '../src/formats/tracing/event-format.js';
import { Cursor, FileSource } from '../src/formats/tracing/source.js';
import { readTracingData } from '../src/formats/tracing/tracing-data.js';
import { fx } from './helpers.js';

describe('tracefs event formats', () => {
  it('reads field offsets, sizes and signedness of the kvm formats (fixtures/tracefs)', () => {
    const exit = parseEventFormat(readFileSync(fx('tracefs', 'kvm_exit.format'), 'latin1'), 'kvm');
    expect(exit.name).toBe('kvm_exit');
    expect(exit.id).toBe(103);
    const f = (n: string) => { const x = exit.field(n)!; return [x.offset, x.size, x.signed]; };
    expect(f('common_type')).toEqual([0, 2, false]);
    expect(f('common_pid')).toEqual([4, 4, true]);
    expect(f('exit_reason')).toEqual([8, 4, false]);
    expect(f('guest_rip')).toEqual([16, 8, false]);
    expect(f('isa')).toEqual([24, 4, false]);
    expect(f('vcpu_id')).toEqual([56, 4, false]);
    expect(f('requests')).toEqual([64, 8, false]);
    expect(exit.fields.filter((x) => x.common).map((x) => x.name)).toEqual(['common_type', 'common_flags', 'common_preempt_count', 'common_pid']);
    expect(exit.printFmt.startsWith('"vcpu %u reason %s%s%s rip 0x%lx')).toBe(true);
    const ue = parseEventFormat(readFileSync(fx('tracefs', 'kvm_userspace_exit.format'), 'latin1'), 'kvm');
    expect([ue.field('errno')!.offset, ue.field('errno')!.signed]).toEqual([12, true]);
  });

  it('decodes __data_loc strings, fixed char arrays and u8 arrays', () => {
    const fmt = parseEventFormat([
      'name: demo', 'ID: 7', 'format:',
      '\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;',
      '\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;',
      '',
      '\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:1;',
      '\tfield:char comm[8];\toffset:12;\tsize:8;\tsigned:1;',
      '\tfield:__u8 insn[3];\toffset:20;\tsize:3;\tsigned:0;',
      '\tfield:__rel_loc char[] tail;\toffset:24;\tsize:4;\tsigned:1;',
      '\tfield:s64 delta;\toffset:28;\tsize:8;\tsigned:1;',
      '', 'print fmt: "x"',
    ].join('\n'), 'demo');
    const rec = Buffer.alloc(48);
    rec.writeUInt16LE(7, 0);
    rec.writeInt32LE(-1, 4);
    rec.writeUInt32LE((6 << 16) | 36, 8); // "/a/b\0" + pad at 36, length 6
    rec.write('kvm\0zzzz', 12, 'latin1');
    rec.set([0xba, 0xf8, 0x03], 20);
    rec.writeUInt32LE((3 << 16) | 14, 24); // rel: 28 + 14 = 42
    rec.writeBigInt64LE(-5n, 28);
    rec.write('/a/b\0\0', 36, 'latin1');
    rec.write('ok\0', 42, 'latin1');
    expect(decodeFields(fmt, rec, true, true)).toEqual({
      common_type: 7, common_pid: -1, filename: '/a/b', comm: 'kvm', insn: [0xba, 0xf8, 0x03], tail: 'ok', delta: -5n,
    });
  });

  it('reads the page header: commit word width and data offset', () => {
    const ph = parsePageHeader([
      '\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;',
      '\tfield: local_t commit;\toffset:8;\tsize:4;\tsigned:1;',
      '\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;',
      '\tfield: char data;\toffset:12;\tsize:4084;\tsigned:1;',
    ].join('\n'));
    expect(ph).toEqual({ timestampSize: 8, commitOffset: 8, commitSize: 4, dataOffset: 12 });
  });

  it('reads the tracing-data block of a real trace.dat (v6)', () => {
    const src = new FileSource(fx('trace-dat', 'kvm-pio-v6.dat'));
    try {
      const cur = new Cursor(src, 0);
      const m = readTracingData(cur);
      expect(m.header).toEqual({ version: '6', littleEndian: true, longSize: 8, pageSize: 4096 });
      expect(m.pageHeader).toEqual({ timestampSize: 8, commitOffset: 8, commitSize: 8, dataOffset: 16 });
      expect(m.events.failures).toEqual([]);
      // the real kvm_exit/kvm_entry formats of that 6.18 host are embedded
      expect(m.events.byName.get('kvm_exit')!.field('isa')!.offset).toBe(24);
      expect(m.events.byName.get('kvm_entry')!.field('vcpu_id')!.offset).toBe(8);
      expect(m.events.byName.get('sched_process_exec')!.field('filename')!.dynamic).toBe('data_loc');
      expect(m.kallsyms).toMatch(/\bkvm_/);
      expect(m.cmdlines.size).toBeGreaterThan(0);
      expect(cur.u32()).toBe(2); // the CPU count follows the block
    } finally {
      src.close();
    }
  });
});
