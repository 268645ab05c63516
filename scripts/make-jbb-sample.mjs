#!/usr/bin/env node
// Writes traces/jbb-sample.csv: a small, deterministic SPECjbb-like exit trace
// shaped after the paper's Table 1 (per-tick timer path on a 1000 Hz guest:
// PIC poll in timer_interrupt, IOAPIC EOI in ack_ioapic_irq, LAPIC EOI in
// smp_apic_timer_interrupt, interrupt window in do_softirq) plus background
// exits (guest page faults under shadow paging, CR3 writes, idle HLT, PM timer
// reads). Mean durations follow Table 1's trap time / trap count.
// Usage: node scripts/make-jbb-sample.mjs [seconds] > traces/jbb-sample.csv
const seconds = Number(process.argv[2] ?? 1);
let state = 0x2545f491;
const rand = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 32; };
const gauss = () => { let s = 0; for (let i = 0; i < 6; i++) s += rand(); return s - 3; };
const dur = (mean, sd) => Math.max(50, Math.round(mean + sd * gauss()));
const hex = (n) => '0x' + n.toString(16);
const rows = ['ts_ns,vcpu,reason,rip,duration_ns,port,size,dir,value,gpa,msr,caller'];
const base = 83184290337000; // an uptime stamp in ns, as trace-cmd prints them
const VCPUS = 2, HZ = 1000;
for (let v = 0; v < VCPUS; v++) {
  let t = base + v * 400_000;
  const ticks = seconds * HZ;
  for (let k = 0; k < ticks; k++) {
    const tickStart = base + v * 400_000 + k * (1e9 / HZ);
    t = Math.max(t, tickStart);
    const emit = (reason, rip, d, extra = {}) => {
      rows.push([t, v, reason, hex(rip), d, extra.port !== undefined ? hex(extra.port) : '', extra.size ?? '', extra.dir ?? '',
        extra.value !== undefined ? hex(extra.value) : '', extra.gpa !== undefined ? hex(extra.gpa) : '', extra.msr !== undefined ? hex(extra.msr) : '',
        extra.caller !== undefined ? hex(extra.caller) : ''].join(','));
      t += d + Math.round(300 + rand() * 2500);
    };
    // The tick arrives while Java code runs in guest user space.
    emit('EXTERNAL_INTERRUPT', 0x08048000 + ((rand() * 0x200000) & ~3), dur(1500, 200));
    emit('IO_INSTRUCTION', 0xc0407cf7, dur(5130, 600), { port: 0x20, size: 1, dir: 'w', value: 0x0c, caller: 0xc0405140 });
    emit('IO_INSTRUCTION', 0xc0407cf9, dur(630, 80), { port: 0x20, size: 1, dir: 'r', value: 0x80, caller: 0xc0405140 });
    emit('EXCEPTION_NMI', 0xc041be3f, dur(7060, 900), { gpa: 0xfec00040, size: 4, dir: 'w', value: 0x0, caller: 0xc0405150 });
    emit('APIC_ACCESS', 0xc041add2, dur(14280, 2000), { gpa: 0xfee000b0, size: 4, dir: 'w', value: 0x0, caller: 0xc0403060 });
    emit('INTERRUPT_WINDOW', 0xc042ffa6, dur(170, 30), { caller: 0xc0430140 });
    if (rand() < 0.6) emit('EXCEPTION_NMI', 0x08048000 + ((rand() * 0x400000) & ~3), dur(12000, 3000));
    if (rand() < 0.3) emit('CR_ACCESS', 0xc04080a3, dur(2500, 400), { caller: 0xc0402345 });
    if (rand() < 0.05) emit('MSR_WRITE', 0xc0408058, dur(1200, 150), { msr: 0x6e0, caller: 0xc0418050 });
    if (rand() < 0.05) emit('IO_INSTRUCTION', 0xc06442dd, dur(9000, 1200), { port: 0x608, size: 4, dir: 'r', value: Math.floor(rand() * 0xffffff), caller: 0xc04442a0 });
    if (rand() < 0.02) emit('HLT', 0xc0402141, dur(200000, 40000), { caller: 0xc04020d0 });
  }
}
const header = rows.shift();
rows.sort((a, b) => Number(a.split(',')[0]) - Number(b.split(',')[0]));
process.stdout.write([header, ...rows].join('\n') + '\n');
