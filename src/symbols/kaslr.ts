/**
 * KASLR slide detection: the constant offset between a link-time map
 * (System.map, vmlinux) and the guest RIPs of a trace recorded on a kernel that
 * randomized its base.
 *
 * Facts used: x86 KASLR moves the kernel image by a multiple of
 * CONFIG_PHYSICAL_ALIGN (0x200000 by default) inside the 1 GiB kernel-text
 * window (KERNEL_IMAGE_SIZE); modules live outside that window and are not
 * moved with it. So the candidates are the 2 MiB multiples that put the
 * trace's kernel RIPs inside the map's text.
 *
 * Ranking the candidates: instruction exits trap *at* the instruction, so under
 * the right slide an IO_INSTRUCTION exit lands in a function named for port
 * I/O, a HLT exit in an idle/halt function, an MSR exit in a *msr* function. We
 * score each candidate by the count-weighted share of such exits whose
 * function name fits their reason, and by the share of RIPs inside a sized
 * function (ELF maps know their padding). The winner, its score and the
 * runner-up are reported; a close call is said to be one.
 */
import type { SymbolTable } from './symbol-table.js';

export const KASLR_ALIGN = 0x200000n;
const WINDOW = 0x40000000n; // 1 GiB

/** Function-name patterns that an exit of this canonical reason is expected to trap in. */
const REASON_NAME_HINTS: Readonly<Record<string, RegExp>> = {
  IO_INSTRUCTION: /(^|_)(in|out|ins|outs)[bwl]?(_p)?$|^io_?(read|write)|ioport|(^|_)pio(_|$)|pm_?read|pmtmr|serial|uart|8250|(^|_)(ata|ide|pata|piix)_|8139|ne2k|(^|_)(pit|pic|i8259|i8254|rtc|cmos|vga|i8042|kbd|port)(_|$)|io_delay/i,
  MSR_READ: /msr/i,
  MSR_WRITE: /msr|apic|tsc_deadline|wrmsr/i,
  MSR: /msr/i,
  HLT: /halt|hlt|idle/i,
  MWAIT_INSTRUCTION: /mwait|idle/i,
  CPUID: /cpuid/i,
  VMCALL: /hypercall|kvm|vmcall|vmmcall|paravirt|pv_/i,
  PAUSE_INSTRUCTION: /spin|lock|pause|relax|wait|cpu_relax/i,
  XSETBV: /xsetbv|xcr|fpu|xsave|xfeature/i,
  APIC_ACCESS: /apic|eoi|ack|lapic/i,
  APIC_WRITE: /apic|eoi|ack|ipi/i,
  EOI_INDUCED: /apic|eoi|ack/i,
  EPT_MISCONFIG: /read[bwlq]?$|write[bwlq]?$|mmio|io_?read|io_?write|virtio|vp_|memcpy|memset|_reg/i,
  RDPMC: /pmc|perf|pmu/i,
  RDTSC: /tsc|clock|time/i,
  RDTSCP: /tsc|clock|time|getcpu/i,
  WBINVD: /wbinvd|cache|flush/i,
  INVLPG: /tlb|invlpg|flush/i,
  CR_ACCESS: /cr[0-8]|switch|tlb|mmu|fpu|ts|cpu_init/i,
};

export interface RipWeight {
  addr: bigint;
  count: number;
  /** Canonical reason of the exits at this RIP that carry a name hint ('' if none). */
  reason: string;
}

export interface SlideCandidate {
  slide: bigint;
  /** Count-weighted share of kernel-window RIPs inside a function under this slide. */
  coverage: number;
  /** Count-weighted share of hinted exits whose function name fits their reason. */
  fit: number;
  hinted: number;
}

export interface SlideDecision {
  slide: bigint;
  mode: 'auto' | 'forced' | 'none';
  note: string;
  /** Set when the map does not fit the trace under any slide. */
  mismatch?: string;
  candidates: SlideCandidate[];
}

function windowOf(addr: bigint): bigint {
  return addr - (addr % WINDOW);
}

function hex(v: bigint): string {
  return v < 0n ? '-0x' + (-v).toString(16) : '0x' + v.toString(16);
}

function evaluate(core: SymbolTable, rips: readonly RipWeight[], slide: bigint): SlideCandidate {
  let inside = 0, total = 0, fit = 0, hinted = 0;
  for (const r of rips) {
    total += r.count;
    const i = core.find(r.addr - slide);
    if (i >= 0) inside += r.count;
    const hint = REASON_NAME_HINTS[r.reason];
    if (hint) {
      hinted += r.count;
      if (i >= 0 && hint.test(core.name(i))) fit += r.count;
    }
  }
  return { slide, coverage: total ? inside / total : 0, fit: hinted ? fit / hinted : 0, hinted };
}

function better(a: SlideCandidate, b: SlideCandidate): boolean {
  const sa = a.coverage * 0.5 + a.fit, sb = b.coverage * 0.5 + b.fit;
  if (Math.abs(sa - sb) > 1e-9) return sa > sb;
  const absA = a.slide < 0n ? -a.slide : a.slide, absB = b.slide < 0n ? -b.slide : b.slide;
  return absA < absB;
}

/**
 * Instructions only a few kernel functions execute: HLT and MWAIT only in the
 * idle/halt paths, RDMSR/WRMSR only in the msr accessors, CPUID only in the
 * cpuid helpers. Under the guest's own map nearly every such exit lands in a
 * function named for it; a map from another build (or a shifted one) still
 * puts every RIP inside some function, but these land in functions that
 * cannot issue them.
 */
const ONLY_IN: Readonly<Record<string, RegExp>> = {
  HLT: /halt|hlt|idle|mwait/i,
  MWAIT_INSTRUCTION: /mwait|idle/i,
  MSR_READ: /msr/i,
  MSR_WRITE: /msr|x2apic|apic_write|apic_eoi|wrmsr|tsc_deadline|lapic_next_deadline/i,
  MSR: /msr|x2apic/i,
  CPUID: /cpuid/i,
};

/** Share of such exits (count-weighted) inside a function that can issue them, and how many there were. */
function strictFit(core: SymbolTable, rips: readonly RipWeight[], slide: bigint): { fit: number; n: number } {
  let n = 0, ok = 0;
  for (const r of rips) {
    const re = ONLY_IN[r.reason];
    if (!re) continue;
    n += r.count;
    const i = core.find(r.addr - slide);
    if (i >= 0 && re.test(core.name(i))) ok += r.count;
  }
  return { fit: n ? ok / n : 1, n };
}

/**
 * Chooses the slide for the core-kernel table. `rips` are the trace's distinct
 * RIPs that no absolute (module) map resolved.
 */
export function detectSlide(core: SymbolTable, rips: readonly RipWeight[]): SlideDecision {
  const range = core.textRange();
  if (!range) return { slide: 0n, mode: 'none', note: 'no core-kernel map: no slide needed', candidates: [] };
  const [lo, hi] = range;
  const win = windowOf(lo);
  const kernel = rips.filter((r) => windowOf(r.addr) === win);
  // A 64-bit map for a 32-bit guest (or the reverse) fits nothing: say so rather than leave every exit unresolved.
  const traced = rips.filter((r) => r.count > 0);
  const wide = (a: bigint): boolean => a >= 0x100000000n;
  if (kernel.length === 0 && traced.length) {
    const mapWide = wide(lo), traceWide = traced.some((r) => wide(r.addr));
    if (mapWide !== traceWide) {
      return {
        slide: 0n, mode: 'auto', candidates: [], note: 'map does not fit the trace',
        mismatch: `a ${mapWide ? '64' : '32'}-bit map (text ${hex(lo)}–${hex(hi)}) for a trace of ${traceWide ? '64' : '32'}-bit guest addresses: give the map of the guest kernel that ran`,
      };
    }
  }
  if (kernel.length === 0) {
    return { slide: 0n, mode: 'none', note: `no RIP of the trace is in the map's kernel window ${hex(win)}–${hex(win + WINDOW)}: slide not detectable, none applied`, candidates: [] };
  }
  // The slide range that keeps the kernel RIPs (ignoring a 1% tail of strays) inside the text.
  const sorted = [...kernel].sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  const total = sorted.reduce((s, r) => s + r.count, 0);
  const tail = total * 0.005;
  let acc = 0, minAddr = sorted[0].addr, maxAddr = sorted[sorted.length - 1].addr;
  for (const r of sorted) { acc += r.count; if (acc > tail) { minAddr = r.addr; break; } }
  acc = 0;
  for (let k = sorted.length - 1; k >= 0; k--) { acc += sorted[k].count; if (acc > tail) { maxAddr = sorted[k].addr; break; } }
  const sMin = maxAddr - hi + 1n;
  const sMax = minAddr - lo;
  const cands: SlideCandidate[] = [];
  const seen = new Set<bigint>();
  const consider = (s: bigint): void => {
    if (seen.has(s)) return;
    seen.add(s);
    cands.push(evaluate(core, kernel, s));
  };
  consider(0n);
  if (sMin <= sMax) {
    let k = sMin >= 0n ? (sMin + KASLR_ALIGN - 1n) / KASLR_ALIGN : -((-sMin) / KASLR_ALIGN);
    for (let n = 0; n < 1024; n++, k++) {
      const s = k * KASLR_ALIGN;
      if (s > sMax) break;
      consider(s);
    }
  }
  let best = cands[0];
  for (const c of cands) if (better(c, best)) best = c;
  const zero = cands[0];
  // A trace that fits the map unslid keeps slide 0 unless another slide is clearly better.
  if (zero.coverage >= 0.95 && best.slide !== 0n && best.fit - zero.fit < 0.15) best = zero;
  const others = cands.filter((c) => c !== best).sort((a, b) => (better(a, b) ? -1 : 1));
  const runner = others[0];
  if (best.coverage < 0.5) {
    return {
      slide: 0n, mode: 'auto', candidates: cands,
      note: 'map does not fit the trace',
      mismatch: `the trace's kernel RIPs (${hex(minAddr)}–${hex(maxAddr)}) do not fall in the map's text (${hex(lo)}–${hex(hi)}) under any ${hex(KASLR_ALIGN)}-aligned KASLR slide: is the map from the guest kernel that ran? (force one with --kaslr 0xOFFSET)`,
    };
  }
  const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
  let note: string;
  if (best.slide === 0n && (!runner || best.fit > runner.fit + 0.15 || best.hinted === 0)) {
    note = `no slide: the trace's kernel RIPs fit the map as linked (${pct(best.coverage)} inside functions)`;
  } else {
    note = `slide ${hex(best.slide)} detected: ${pct(best.coverage)} of kernel RIPs in functions, ${pct(best.fit)} of instruction exits in matching functions`;
    if (runner) note += `; next best ${hex(runner.slide)} (${pct(runner.fit)})`;
    if (runner && best.fit - runner.fit < 0.15) note += ' — a close call: confirm with --kaslr';
  }
  const strict = strictFit(core, kernel, best.slide);
  if (strict.n >= 20 && strict.fit < 0.5) {
    note += `; WARNING: ${pct(1 - strict.fit)} of ${strict.n} HLT/MSR/CPUID exits land in functions that cannot execute those instructions: this map is likely from another build of the guest kernel (names below are suspect)`;
  }
  if (best.hinted >= 50 && best.fit < 0.2) {
    note += `; WARNING: only ${pct(best.fit)} of ${best.hinted} instruction exits (I/O, MSR, HLT, ...) land in functions named for them: is this map from the guest kernel that ran?`;
  }
  return { slide: best.slide, mode: 'auto', note, candidates: cands };
}
