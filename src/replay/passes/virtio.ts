/**
 * virtio[:dev=nic|disk|all]: replace an emulated NIC's or disk's register
 * exits with what a (legacy, INTx) virtio device would take for the same work.
 * The work is counted in device operations read off the registers, not in
 * bursts of exits (NAPI's deferral splits one interrupt's exits in two):
 * - NIC interrupts (rtl8139 IntrStatus acks, e1000 ICR reads): one ISR read
 *   each, priced as the device's cheapest register read (a register read in
 *   the device model plus the userspace round trip), none at the high end (an
 *   MSI-X device has no ISR read);
 * - NIC transmissions (rtl8139 TxStatus writes, e1000 TDT writes) and RX ring
 *   refills (rtl8139 RxBufPtr, e1000 RDT writes): at most one notification
 *   each, priced as the emulated kick it replaces (the device model's packet
 *   work is the same). Event suppression (VRING_USED_F_NO_NOTIFY / event idx)
 *   lets the guest skip notifications while the host is already draining the
 *   ring; how many it skips depends on the host's timing, which a trace of
 *   another device cannot show: the rewritten trace keeps them all (low end)
 *   and the high end lets all of them go;
 * - disk requests (ATA/IDE command-register writes, AHCI PxCI writes): one
 *   notification each, priced as the command write (at the high end as a
 *   hypercall's dispatch: ioeventfd completes it in the kernel); completions:
 *   one ISR read each (none at the high end: MSI-X).
 * Everything else the device did through registers disappears (descriptors
 * travel through shared memory).
 */
import { z } from 'zod';
import { DIR_READ, DIR_WRITE, F_CALLER, F_GPA, F_PORT, type ExitChunk } from '../../model/chunk.js';
import { DISK_FN, E1000, isAhciCommandIssue, isIdePort, NIC_FN, RTL8139 } from '../../symbols/devices.js';
import { REASONS } from '../../model/reasons.js';
import { kth, NameClass, type ReplayContext } from '../context.js';
import { definePass, kv } from '../pass-def.js';
import { gapAfter, type ReplayTrace } from '../trace.js';
import { closeLedger, newLedger, type PassResult, type ReplayPass } from '../types.js';

type Op = 'irq' | 'tx' | 'refill' | 'request' | 'complete' | null;

/** A function name's device: NIC driver, disk driver (memoized per address by the context). */
const NIC_NAME = 1, DISK_NAME = 2;
const DEVICE_NAMES = new NameClass((f) => (f === null ? 0 : (NIC_FN.test(f) ? NIC_NAME : 0) | (DISK_FN.test(f) ? DISK_NAME : 0)));

/** The defined values of xs (NIC reads number in the hundreds of thousands: selected in linear time, not sorted). */
function defined(xs: number[]): Float64Array {
  return Float64Array.from(xs.filter((x) => x === x));
}

/** The upper median: rank floor(n / 2). */
function median(xs: number[]): number {
  const s = defined(xs);
  return s.length ? kth(s, Math.floor(s.length / 2)) : NaN;
}

export class VirtioPass implements ReplayPass {
  readonly name = 'virtio';
  constructor(readonly spec: string, private readonly dev: 'nic' | 'disk' | 'all' = 'all') {}

  apply(trace: ReplayTrace, ctx: ReplayContext): PassResult {
    const ledger = newLedger(this.spec, trace, ctx.windows);
    const io = REASONS.lookup('IO_INSTRUCTION');
    // A row's device: 1 NIC, 2 disk, 0 neither (the pass visits every row twice, pricing and rewriting: classified once, here).
    const K_NIC = 1, K_DISK = 2;
    const dev = this.dev;
    const classify = (c: ExitChunk, i: number): number => {
      if (!(c.flags[i] & (F_PORT | F_GPA))) return 0;
      const bits = ctx.classOf(c.ripHi[i], c.ripLo[i], DEVICE_NAMES) | (c.flags[i] & F_CALLER ? ctx.classOf(c.callerHi[i], c.callerLo[i], DEVICE_NAMES) : 0);
      if (bits & NIC_NAME) return dev === 'disk' ? 0 : K_NIC;
      if (bits & DISK_NAME || (c.flags[i] & F_PORT && isIdePort(c.port[i]))) return dev === 'nic' ? 0 : K_DISK;
      return 0;
    };
    const kinds = new Map<ExitChunk, Uint8Array>();
    const NAMES = [null, 'nic', 'disk'] as const;
    const op = (c: ExitChunk, i: number, k: 'nic' | 'disk'): Op => {
      const w = c.dir[i] === DIR_WRITE, r = c.dir[i] === DIR_READ;
      if (k === 'disk') {
        if (c.flags[i] & F_PORT && (c.port[i] === 0x1f7 || c.port[i] === 0x177) && w) return 'request';
        if (c.flags[i] & F_GPA && w && isAhciCommandIssue(c.gpaLo[i] & 0xfff)) return 'request';
        return null;
      }
      if (c.flags[i] & F_PORT) {
        const off = c.port[i] & (RTL8139.SPAN - 1);
        if (off === RTL8139.INTR_STATUS && w) return 'irq';
        if (off >= RTL8139.TX_STATUS0 && off < RTL8139.TX_STATUS0 + 16 && w) return 'tx';
        if (off === RTL8139.RX_BUF_PTR && w) return 'refill';
      } else {
        const off = c.gpaLo[i] & (E1000.BAR_SPAN - 1);
        if (off === E1000.ICR && r) return 'irq';
        if (off === E1000.TDT && w) return 'tx';
        if (off === E1000.RDT && w) return 'refill';
      }
      return null;
    };
    // Prices from the trace: the kicks the notifications replace, the cheapest read for the ISR read.
    const price = { tx: [] as number[], refill: [] as number[], request: [] as number[], reads: { nic: [] as number[], disk: [] as number[] } };
    const counts = { nic: 0, disk: 0 };
    for (const c of trace.vcpus.values()) {
      const ks = new Uint8Array(c.length);
      kinds.set(c, ks);
      for (let i = 0; i < c.length; i++) {
        const kk = (ks[i] = classify(c, i));
        if (kk === 0) continue;
        const k = NAMES[kk]!;
        counts[k]++;
        const o = op(c, i, k);
        if (o === 'tx' || o === 'refill' || o === 'request') price[o].push(c.dur[i]);
        if (c.dir[i] === DIR_READ) price.reads[k].push(c.dur[i]);
      }
    }
    const least = (xs: number[]): number => { const s = defined(xs); return s.length ? kth(s, Math.floor(0.05 * (s.length - 1))) : NaN; };
    const isr = { nic: least(price.reads.nic), disk: least(price.reads.disk) };
    const kick = { tx: median(price.tx), refill: median(price.refill), request: median(price.request) };
    // At the high end: notifications event suppression skips, ISR reads an MSI-X device never makes, and the device-model part of the
    // disk notifications a host completes in the kernel (ioeventfd / vhost: only the dispatch stays).
    let optional = 0, optionalNs = 0, isrReads = 0, kernelNotifyNs = 0;
    const made = { irq: 0, tx: 0, refill: 0, request: 0, complete: 0 };
    /** Row i of c as the operation's exit: a notification write or an ISR read (port I/O, 2 bytes). */
    const push = (c: ExitChunk, i: number, o: ExitChunk, dur: number, port: number, dir: number): void => {
      const r = o.push(c.ts[i], c.vcpu[i], io, c.ripHi[i], c.ripLo[i], dur);
      o.flags[r] = (c.flags[i] & F_CALLER) | F_PORT;
      o.callerHi[r] = c.callerHi[i];
      o.callerLo[r] = c.callerLo[i];
      o.port[r] = port;
      o.dir[r] = dir;
      o.size[r] = 2;
      ledger.added++;
    };
    const out = trace.derive((_v, c, o) => {
      const ks = kinds.get(c)!;
      let lastDisk = -1;
      // Rows of no device are copied in runs: [run, i) is kept and not yet copied.
      let run = 0;
      for (let i = 0; i < c.length; i++) {
        const kk = ks[i];
        if (kk === 0) continue;
        const k = NAMES[kk]!;
        o.copyRows(c, run, i);
        run = i + 1;
        ledger.removed++;
        const x = op(c, i, k);
        if (k === 'nic') {
          // NAPI's masking write defers the poll to a softirq; virtio-net masks through shared memory (virtqueue_disable_cb):
          // the guest time after the mask write (and its flush) may go too, at the high end only (as napi-off).
          if (c.dir[i] === DIR_WRITE && isMaskWrite(c, i)) {
            const next = i + 1 < c.length && c.dir[i + 1] === DIR_READ && ks[i + 1] === K_NIC ? i + 1 : i;
            const g = gapAfter(c, next);
            if (g === g) ledger.guestMaybeSavedNs[ctx.window(c.ts[i])] += Math.max(0, g - ctx.transition.value);
          }
          if (x === 'irq') { push(c, i, o, isr.nic, 0, DIR_READ); made.irq++; isrReads++; optionalNs += isr.nic === isr.nic ? isr.nic : 0; }
          else if (x === 'tx' || x === 'refill') {
            const d = kick[x] === kick[x] ? kick[x] : c.dur[i];
            push(c, i, o, d, 0, DIR_WRITE);
            made[x]++;
            optional++;
            optionalNs += d;
          }
        } else {
          if (x === 'request') {
            const d = kick.request === kick.request ? kick.request : c.dur[i];
            push(c, i, o, d, 0, DIR_WRITE);
            made.request++;
            lastDisk = i;
            kernelNotifyNs += Math.max(0, d - ctx.hypercall.value);
          } else if (c.dir[i] === DIR_READ && lastDisk >= 0 && i > lastDisk && isCompletionStart(c, i, lastDisk)) { push(c, i, o, isr.disk, 0, DIR_READ); made.complete++; lastDisk = -1; isrReads++; optionalNs += isr.disk === isr.disk ? isr.disk : 0; }
        }
      }
      o.copyRows(c, run, c.length);
    });
    ledger.moreSavedHigh = { exits: optional + isrReads, timeNs: optionalNs + kernelNotifyNs };
    const parts: string[] = [];
    // A price the trace has no timed exit for (no such operation, or untimed exits) says so instead of "NaN ns".
    const ns = (x: number): string => (x === x ? `${Math.round(x)} ns` : 'unpriced: no timed exit of it');
    const pair = (a: number, b: number): string => (a === a && b === b ? `${Math.round(a)} / ${Math.round(b)} ns` : `${ns(a)} / ${ns(b)}`);
    if (counts.nic) parts.push(`NIC: ${made.irq} interrupts become ISR reads (${ns(isr.nic)}, the cheapest NIC register read); ${made.tx} transmissions and ${made.refill} RX refills keep a notification each (${pair(kick.tx, kick.refill)}, the emulated kicks) at the low end and none at the high end (event suppression)`);
    if (counts.disk) parts.push(`disk: ${made.request} requests become one notification each (${ns(kick.request)}, the command write), ${made.complete} completions one ISR read each (${ns(isr.disk)})`);
    ledger.notes.push(...parts);
    ledger.assumptions.push(
      'operations are read off the device registers: interrupts (rtl8139 IntrStatus ack, e1000 ICR read), transmissions (TxStatus, TDT), RX refills (RxBufPtr, RDT), disk commands; every other register exit of the device goes',
      'a legacy (INTx) virtio-pci device reads its ISR once per interrupt; an MSI-X one (any 3.x+ guest on QEMU\'s virtio-pci) never does: the range runs from one ISR read per interrupt to none',
      'event suppression: how many notifications the guest skips depends on the host\'s timing; the range runs from none skipped to all',
      'a host without vhost keeps the device work in QEMU: notifications cost what the emulated kicks cost (low end); a disk notification KVM completes in the kernel (ioeventfd) costs only its dispatch (high end)',
    );
    return { trace: out, ledger: closeLedger(ledger, out, `no emulated ${this.dev === 'all' ? 'NIC or disk' : this.dev} register exits in this trace`) };
  }
}

/** NAPI's interrupt masking: rtl8139 IntrMask = 0, e1000 IMC. */
function isMaskWrite(c: ExitChunk, i: number): boolean {
  if (c.flags[i] & F_PORT) return (c.port[i] & (RTL8139.SPAN - 1)) === RTL8139.INTR_MASK && c.valLo[i] === 0;
  return (c.gpaLo[i] & (E1000.BAR_SPAN - 1)) === E1000.IMC;
}

/** A completion's first exit: the first disk read after the request's command write, past a gap (the interrupt). */
function isCompletionStart(c: ExitChunk, i: number, cmd: number): boolean {
  return c.ts[i] - c.ts[cmd] > 20_000;
}

export const virtio = definePass({
  name: 'virtio',
  grammar: 'virtio[:dev=nic|disk|all]',
  summary: 'replace an emulated NIC\'s or disk\'s register exits with virtio notifications',
  schema: z.strictObject({ pass: z.literal('virtio'), dev: z.enum(['nic', 'disk', 'all']).optional() }),
  parse: (args) => ({ pass: 'virtio', dev: kv(args).dev }),
  print: (s) => (s.dev ? `virtio:dev=${s.dev}` : 'virtio'),
  estimable: true,
  build: (s, _env, text) => [new VirtioPass(text, s.dev)],
});
