/**
 * The pairing engine (src/formats/exit-assembler.ts) driven directly (issue 16): hand-written
 * record sequences, each expected row and counter worked out here from the rules in the
 * module's header: an exit waits for the next entry of its thread (pid, else vcpu, else host
 * CPU); an exit followed by another of its thread, open at a lost-events marker or buffer start
 * of a CPU its thread ran on, or open at the end, is unpaired; VMs come from the thread group,
 * else are told apart by vcpu numbers and pid nearness. Also: more than 64 threads at once
 * (the open-exit table grows) keep every field of every open exit.
 */
import { describe, expect, it } from 'vitest';
import { clearDetail, ExitAssembler, EV_MMIO, EV_PIO } from '../src/formats/exit-assembler.js';
import { F_PORT, F_SIZE, F_UNPAIRED, F_USERSPACE, type ExitChunk } from '../src/model/chunk.js';
import { newCounters } from '../src/model/counters.js';
import { Diagnostics } from '../src/model/errors.js';

interface Row { ts: number; vcpu: number; vm: number; reason: number; rip: number; dur: number | null; unpaired: boolean; port: number; userspace: boolean }

function setup(rows = 1000) {
  const counters = newCounters();
  const diag = new Diagnostics('t', 'ftrace', false);
  const vms = new Map<number, string>();
  const asm = new ExitAssembler(counters, diag, rows, vms);
  const out: Row[] = [];
  const take = (chunks: Iterable<ExitChunk>): void => {
    for (const c of chunks) {
      for (let i = 0; i < c.length; i++) {
        out.push({ ts: c.ts[i], vcpu: c.vcpu[i], vm: c.vm[i], reason: c.reason[i], rip: c.ripLo[i], dur: Number.isNaN(c.dur[i]) ? null : c.dur[i], unpaired: (c.flags[i] & F_UNPAIRED) !== 0, port: c.port[i], userspace: (c.flags[i] & F_USERSPACE) !== 0 });
      }
    }
  };
  const end = (): Row[] => { take(asm.finish()); return out; };
  return { asm, counters, diag, vms, out, take, end };
}

describe('pairing by thread', () => {
  it('exit then entry of the same pid: one row timed by the difference; no counter moves', () => {
    const { asm, counters, end } = setup();
    asm.exit(100, 0, 500, 0, 30, 0, 0x1000, 0);
    asm.entry(175, 0, 500, 0);
    const rows = end();
    expect(rows).toEqual([{ ts: 100, vcpu: 0, vm: 0, reason: 30, rip: 0x1000, dur: 75, unpaired: false, port: 0, userspace: false }]);
    expect(counters.unpairedExits).toBe(0);
    expect(counters.unpairedEntries).toBe(0);
    expect(counters.timeWentBackwards).toBe(0);
  });

  it('an entry of another pid does not close the exit; an entry with no open exit is counted', () => {
    const { asm, counters, end } = setup();
    asm.exit(100, 0, 500, 0, 30, 0, 1, 0);
    asm.entry(150, 0, 501, 1);
    asm.entry(160, 0, 500, 0);
    const rows = end();
    expect(rows.map((r) => r.dur)).toEqual([60]);
    expect(counters.unpairedEntries).toBe(1);
  });

  it('two exits of one thread in a row: the first unpaired (untimed), the second paired', () => {
    const { asm, counters, end } = setup();
    asm.exit(100, 0, 500, 0, 30, 0, 1, 0);
    asm.exit(200, 0, 500, 0, 31, 0, 2, 0);
    asm.entry(230, 0, 500, 0);
    const rows = end();
    expect(rows.map((r) => [r.rip, r.dur, r.unpaired])).toEqual([[1, null, true], [2, 30, false]]);
    expect(counters.unpairedExits).toBe(1);
  });

  it('without pids: by the vcpu field; without either: by the host CPU (a CPU below 0 counts as CPU 0)', () => {
    const { asm, end } = setup();
    asm.exit(10, 3, -1, 1, 30, 0, 1, 0);
    asm.exit(11, 4, -1, 2, 30, 0, 2, 0);
    asm.entry(20, 4, -1, 1); // vcpu 1, whichever CPU it is on now
    asm.entry(31, 3, -1, 2);
    asm.exit(40, 5, -1, -1, 30, 0, 3, 0);
    asm.exit(41, -1, -1, -1, 30, 0, 4, 0);
    asm.entry(50, 5, -1, -1);
    asm.entry(53, 0, -1, -1); // CPU 0 is where the CPU -1 exit is keyed
    const rows = end();
    expect(rows.map((r) => [r.rip, r.dur])).toEqual([[1, 10], [2, 20], [3, 10], [4, 12]]);
  });

  it('an entry earlier than its exit: time went backwards, the exit unpaired; a later exit of the thread pairs again', () => {
    const { asm, counters, end } = setup();
    asm.exit(100, 0, 500, 0, 30, 0, 1, 0);
    asm.entry(90, 0, 500, 0);
    expect(counters.timeWentBackwards).toBe(1);
    asm.exit(120, 0, 500, 0, 30, 0, 2, 0);
    asm.entry(125, 0, 500, 0);
    const rows = end();
    expect(rows.map((r) => [r.rip, r.dur])).toEqual([[1, null], [2, 5]]);
    expect(counters.timeWentBackwards).toBe(1);
    expect(counters.unpairedExits).toBe(1);
  });

  it('an exit earlier than the last record of its thread counts time going backwards (the first exit of a thread never does)', () => {
    const { asm, counters } = setup();
    asm.exit(100, 0, 500, 0, 30, 0, 1, 0);
    asm.exit(100, 0, 501, 1, 30, 0, 1, 0);
    expect(counters.timeWentBackwards).toBe(0);
    asm.entry(200, 0, 500, 0);
    asm.exit(150, 0, 500, 0, 30, 0, 2, 0);
    expect(counters.timeWentBackwards).toBe(1);
    // An unpaired entry moves the thread's clock forward only.
    asm.entry(300, 0, 502, 2);
    asm.entry(250, 0, 502, 2);
    asm.exit(260, 0, 502, 2, 30, 0, 3, 0);
    expect(counters.timeWentBackwards).toBe(2);
  });

  it('an exit whose thread never names a vcpu takes 1000 + its slot, with one note; a vcpu named later by an entry is kept', () => {
    const { asm, diag, end } = setup();
    asm.exit(10, 0, 700, -1, 30, 0, 1, 0);
    asm.entry(20, 0, 700, -1);
    asm.exit(30, 1, 701, -1, 30, 0, 2, 0);
    asm.entry(40, 1, 701, -1);
    asm.exit(50, 2, 702, -1, 30, 0, 3, 0);
    asm.entry(60, 2, 702, 4);
    const rows = end();
    expect(rows.map((r) => r.vcpu)).toEqual([1000, 1001, 4]);
    expect(diag.stats.notes.filter((n) => /numbered 1000\+/.test(n)).length).toBe(1);
  });

  it('pid-less records keyed by vcpu 0 and 2 never meet a thread whose pid is 1 or 0', () => {
    const { asm, counters, end } = setup();
    asm.exit(10, 0, 1, 5, 30, 0, 1, 0); // pid 1
    asm.exit(11, 0, 0, 6, 30, 0, 2, 0); // pid 0
    asm.exit(12, 1, -1, 0, 30, 0, 3, 0); // vcpu 0, no pid
    asm.exit(13, 2, -1, 2, 30, 0, 4, 0); // vcpu 2, no pid
    asm.entry(20, 1, -1, 0);
    asm.entry(21, 2, -1, 2);
    asm.entry(22, 0, 1, 5);
    asm.entry(23, 0, 0, 6);
    expect(end().map((r) => [r.rip, r.dur])).toEqual([[3, 8], [4, 8], [1, 12], [2, 12]]);
    expect(counters.unpairedExits).toBe(0);
  });

  it('an exit that names its vcpu keeps it, whatever its entry says', () => {
    const { asm, end } = setup();
    asm.exit(10, 0, 700, 0, 30, 0, 1, 0);
    asm.entry(20, 0, 700, 4);
    asm.exit(30, 0, 700, 3, 30, 0, 2, 0);
    asm.entry(40, 0, 700, 4);
    expect(end().map((r) => r.vcpu)).toEqual([0, 3]);
  });

  it('an exit without a vcpu takes the one its thread showed before', () => {
    const { asm, end } = setup();
    asm.entry(5, 0, 700, 6);
    asm.exit(10, 0, 700, -1, 30, 0, 1, 0);
    asm.entry(20, 0, 700, -1);
    expect(end().map((r) => r.vcpu)).toEqual([6]);
  });
});

describe('detail records', () => {
  it('attach to the open exit of their thread; with no pid, to the exit last opened on their CPU; else orphans', () => {
    const { asm, counters, end } = setup();
    asm.exit(10, 0, 500, 0, 30, 0, 1, 0);
    const d = clearDetail();
    d.flags = F_PORT | F_SIZE; d.port = 0x1f7; d.size = 1; d.dir = 1;
    expect(asm.detail(EV_PIO, 0, 500)).toBe(true);
    // Another pid on the same CPU: not this exit's (a thread with a pid never borrows the CPU's exit).
    const e = clearDetail();
    e.flags = F_PORT; e.port = 0x3f8;
    expect(asm.detail(EV_PIO, 0, 501)).toBe(false);
    expect(counters.orphanDetails).toBe(1);
    asm.entry(20, 0, 500, 0);
    asm.exit(30, 2, -1, 1, 30, 0, 2, 0);
    const f = clearDetail();
    f.flags = F_PORT; f.port = 0x60;
    expect(asm.detail(EV_PIO, 2, -1)).toBe(true);
    expect(asm.userspace(2, -1)).toBe(true);
    asm.entry(40, 2, -1, 1);
    // After its entry the exit is closed: a late detail is an orphan.
    expect(asm.detail(EV_MMIO, 2, -1)).toBe(false);
    expect(counters.orphanDetails).toBe(2);
    const rows = end();
    expect(rows.map((r) => [r.port, r.userspace])).toEqual([[0x1f7, false], [0x60, true]]);
  });
});

describe('closed exits and notes', () => {
  it('a detail or userspace record after its exit\'s entry is an orphan and leaves the row as it was', () => {
    const { asm, counters, end } = setup();
    asm.exit(10, 0, 500, 0, 30, 0, 1, 0);
    asm.entry(20, 0, 500, 0);
    const d = clearDetail();
    d.flags = F_PORT; d.port = 0x70;
    expect(asm.detail(EV_PIO, 0, 500)).toBe(false);
    expect(asm.userspace(0, 500)).toBe(false);
    expect(counters.orphanDetails).toBe(2);
    expect(end().map((r) => [r.port, r.userspace])).toEqual([[0, false]]);
  });

  it('an exit at the same time as its thread\'s last record is not time going backwards', () => {
    const { asm, counters } = setup();
    asm.exit(10, 0, 500, 0, 30, 0, 1, 0);
    asm.entry(20, 0, 500, 0);
    asm.exit(20, 0, 500, 0, 30, 0, 2, 0);
    expect(counters.timeWentBackwards).toBe(0);
  });

  it('a trace with detail records but no kvm_exit says which it had and how to record; with none at all, the other note; with exits, none', () => {
    const only = setup();
    clearDetail();
    only.asm.detail(EV_PIO, 0, 1);
    only.asm.detail(EV_PIO, 0, 1);
    only.asm.detail(EV_MMIO, 0, 1);
    only.asm.entry(5, 0, 1, 0);
    only.asm.notes(only.diag);
    expect(only.diag.stats.notes).toEqual([expect.stringMatching(/^no kvm_exit events in this trace, only 1 kvm_entry, 2 kvm_pio, 1 kvm_mmio: .*trace-cmd record -e kvm:kvm_exit/)]);
    const none = setup();
    none.asm.notes(none.diag);
    expect(none.diag.stats.notes).toEqual([expect.stringMatching(/^no kvm_exit\/kvm_entry events in this trace/)]);
    const some = setup();
    some.asm.exit(1, 0, 1, 0, 30, 0, 1, 0);
    some.asm.notes(some.diag);
    expect(some.diag.stats.notes).toEqual([]);
  });
});

describe('lost events and buffer starts', () => {
  it('close the open exits of threads that exited on, or last ran on, that CPU, and only those', () => {
    const { asm, counters, end } = setup();
    asm.exit(10, 0, 500, 0, 30, 0, 1, 0); // on CPU 0
    asm.exit(11, 1, 501, 1, 30, 0, 2, 0); // on CPU 1, then a detail from CPU 2
    clearDetail();
    asm.detail(EV_PIO, 2, 501);
    asm.exit(12, 3, 502, 2, 30, 0, 3, 0); // on CPU 3
    asm.lost(2, 7);
    expect(counters.lostMarkers).toBe(1);
    expect(counters.lostEvents).toBe(7);
    asm.bufferStarted(0);
    expect(counters.bufferStarts).toBe(1);
    asm.lost(9, -1); // a marker without a count, on a CPU no thread ran on
    expect(counters.lostMarkers).toBe(2);
    expect(counters.lostEvents).toBe(7);
    asm.entry(20, 0, 500, 0);
    asm.entry(21, 1, 501, 1);
    asm.entry(22, 3, 502, 2);
    const rows = end();
    // Rows leave in the order they close: 501 (lost on CPU 2), 500 (buffer start on 0), then 502 paired.
    expect(rows.map((r) => [r.rip, r.dur])).toEqual([[2, null], [1, null], [3, 10]]);
    expect(counters.unpairedExits).toBe(2);
    expect(counters.unpairedEntries).toBe(2);
  });

  it('at the end every open exit is unpaired', () => {
    const { asm, counters, end } = setup();
    asm.exit(10, 0, 500, 0, 30, 0, 1, 0);
    asm.exit(11, 1, 501, 1, 30, 0, 2, 0);
    expect(end().map((r) => r.unpaired)).toEqual([true, true]);
    expect(counters.unpairedExits).toBe(2);
  });
});

describe('VMs', () => {
  it('with a thread group: the QEMU process, labelled by its pid', () => {
    const { asm, vms, end } = setup();
    asm.setTgid(500, 4000);
    asm.setTgid(600, 0); // no thread group: ignored
    asm.exit(10, 0, 500, 0, 30, 0, 1, 0);
    asm.entry(20, 0, 500, 0);
    expect(end().map((r) => r.vm)).toEqual([4000]);
    expect([...vms]).toEqual([[4000, 'qemu pid 4000']]);
  });

  it('without: a thread joins the nearest VM by pid that lacks its vcpu number; a vcpu number every VM has starts a new one', () => {
    const { asm, vms, end } = setup();
    const run = (pid: number, vcpu: number, t: number): void => { asm.exit(t, 0, pid, vcpu, 30, 0, pid, 0); asm.entry(t + 1, 0, pid, vcpu); };
    run(100, 0, 10); // VM 0
    run(101, 1, 20); // VM 0 (lacks vcpu 1)
    run(500, 0, 30); // every VM has vcpu 0: VM 1
    run(501, 1, 40); // nearest lacking vcpu 1: VM 1 (VM 0 has it)
    run(498, 2, 50); // both lack vcpu 2: VM 1 is 2 below its lowest pid, VM 0 397 above its highest
    run(102, 3, 60); // both lack vcpu 3: VM 0 is 1 away
    run(300, 4, 70); // both lack vcpu 4, both 198 away: the first (VM 0)
    // A thread that never names its vcpu (numbered 1000+) is not guessed: VM 0.
    asm.exit(80, 0, 499, -1, 30, 0, 499, 0); asm.entry(81, 0, 499, -1);
    const rows = end();
    expect(rows.map((r) => [r.rip, r.vm])).toEqual([[100, 0], [101, 0], [500, 1], [501, 1], [498, 1], [102, 0], [300, 0], [499, 0]]);
    expect(vms.get(0)).toBe('guest 0 (threads 100-300)');
    expect(vms.get(1)).toBe('guest 1 (threads 498-501)');
  });

  it('a thread group of 0 is no thread group; without a VM label map the same rows come out', () => {
    for (const withLabels of [true, false]) {
      const counters = newCounters();
      const vms = new Map<number, string>();
      const asm = new ExitAssembler(counters, new Diagnostics('t', 'ftrace', false), 100, withLabels ? vms : undefined);
      asm.setTgid(600, 0);
      asm.setTgid(700, 4000);
      asm.exit(10, 0, 600, 0, 30, 0, 1, 0); asm.entry(11, 0, 600, 0);
      asm.exit(12, 0, 700, 0, 30, 0, 2, 0); asm.entry(13, 0, 700, 0);
      asm.exit(14, 0, 100, 0, 30, 0, 3, 0); asm.entry(15, 0, 100, 0);
      asm.exit(16, 0, 900, 0, 30, 0, 4, 0); asm.entry(17, 0, 900, 0);
      const vm: number[] = [];
      for (const c of asm.finish()) for (let i = 0; i < c.length; i++) vm.push(c.vm[i]);
      // 600 and 100 (vcpu 0 both): two guessed VMs; 900 has vcpu 0 too: a third; 700 is QEMU process 4000.
      expect(vm).toEqual([0, 4000, 1, 2]);
      if (withLabels) expect([...vms.values()].sort()).toEqual(['guest 0 (threads 600-600)', 'guest 1 (threads 100-100)', 'guest 2 (threads 900-900)', 'qemu pid 4000']);
    }
  });

  it('one VM guessed is not labelled; without a pid or a vcpu there is one VM, 0', () => {
    const { asm, vms, end } = setup();
    asm.exit(10, 0, 100, 0, 30, 0, 1, 0); asm.entry(11, 0, 100, 0);
    asm.exit(12, 0, 101, 1, 30, 0, 2, 0); asm.entry(13, 0, 101, 1);
    asm.exit(14, 1, -1, 0, 30, 0, 3, 0); asm.entry(15, 1, -1, 0);
    expect(end().map((r) => r.vm)).toEqual([0, 0, 0]);
    expect(vms.size).toBe(0);
  });
});

describe('many threads at once (the open-exit table grows past 64)', () => {
  it('150 threads with exits open together: every row intact, each timed, vcpus and VM kept, no false backwards', () => {
    const { asm, counters, vms, end } = setup(64);
    const N = 150;
    for (let k = 0; k < N; k++) asm.exit(1000 + k, k % 8, 2000 + k, k, 30 + (k % 5), 0, 0x5000 + k, 0);
    // A thread past the first 64 that never names a vcpu: it takes 1000 + its slot.
    asm.exit(5000, 1, 9000, -1, 30, 0, 0x9000, 0);
    for (let k = N - 1; k >= 0; k--) asm.entry(3000 + k * 2, k % 8, 2000 + k, k);
    asm.entry(5005, 1, 9000, -1);
    const rows = end();
    expect(rows.length).toBe(N + 1);
    const byRip = new Map(rows.map((r) => [r.rip, r]));
    for (let k = 0; k < N; k++) {
      const r = byRip.get(0x5000 + k)!;
      expect(r, `thread ${k}`).toEqual({ ts: 1000 + k, vcpu: k, vm: 0, reason: 30 + (k % 5), rip: 0x5000 + k, dur: 3000 + k * 2 - (1000 + k), unpaired: false, port: 0, userspace: false });
    }
    expect(byRip.get(0x9000)!.vcpu).toBe(1000 + N);
    expect(byRip.get(0x9000)!.dur).toBe(5);
    expect(counters.timeWentBackwards).toBe(0);
    expect(counters.unpairedExits).toBe(0);
    expect(counters.unpairedEntries).toBe(0);
    expect(vms.size).toBe(0);
  });

  it('an entry of a thread never seen before, past the table\'s growth, is an unpaired entry and not another thread\'s', () => {
    const { asm, counters, end } = setup();
    for (let k = 0; k < 70; k++) asm.exit(k, 0, 100 + k, k, 30, 0, k, 0);
    asm.entry(100, 0, 99, 99);
    expect(counters.unpairedEntries).toBe(1);
    expect(end().every((r) => r.unpaired)).toBe(true);
  });
});

describe('chunks', () => {
  it('full chunks are ready to drain as they fill; drain(partial) hands on the one being filled; finish the rest', () => {
    const { asm, take, out } = setup(2);
    for (let k = 0; k < 5; k++) { asm.exit(k * 10, 0, 1, 0, 30, 0, k, 0); asm.entry(k * 10 + 1, 0, 1, 0); }
    take(asm.drain());
    expect(out.length).toBe(4);
    take(asm.drain(true));
    expect(out.length).toBe(5);
    // Nothing being filled: no empty chunk is handed on.
    expect([...asm.drain(true)].length).toBe(0);
    take(asm.finish());
    expect(out.map((r) => r.rip)).toEqual([0, 1, 2, 3, 4]);
  });
});
