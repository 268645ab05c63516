/**
 * Reader counters, declared once (after Perfetto's stats.h): every import
 * outcome that is not a plain event or a plain skipped line is one counter
 * with a severity and a description. Readers count instead of throwing; the
 * analyzer, the JSON schema, the renderers and the CLI all walk this table, so
 * a new counter is one line here.
 *
 * Severities: `data-loss` means the trace itself is missing events (numbers
 * are lower bounds); `info` means something was left out of time statistics
 * or attached to nothing, and is said so the totals add up.
 */
import { groupDigits } from './numbers.js';
export type CounterSeverity = 'data-loss' | 'info';

export interface CounterInfo {
  readonly severity: CounterSeverity;
  /** Short phrase for one-line summaries, with {n} for the value. */
  readonly phrase: string;
  readonly description: string;
}

export const COUNTERS = {
  lostEvents: {
    severity: 'data-loss',
    phrase: '{n} lost events',
    description: 'Events the kernel or trace-cmd declared lost (`CPU:N [LOST N EVENTS]`, `[N EVENTS DROPPED]`, ring-buffer pages flagged with missed events): pairing on that CPU is reset',
  },
  lostMarkers: {
    severity: 'data-loss',
    phrase: '{n} lost-event markers',
    description: 'Lost-event markers (with or without a count); each resets pairing on its CPU',
  },
  bufferStarts: {
    severity: 'info',
    phrase: '{n} buffer starts',
    description: '`##### CPU N buffer started ####` markers: the CPU\'s earlier events were overwritten; pairing on it is reset',
  },
  unpairedExits: {
    severity: 'info',
    phrase: '{n} unpaired exits',
    description: 'kvm_exit without a following kvm_entry of its vcpu thread (trace end, lost events, another exit first): counted, untimed',
  },
  unpairedEntries: {
    severity: 'info',
    phrase: '{n} unpaired entries',
    description: 'kvm_entry with no open kvm_exit of its thread (trace start, lost events)',
  },
  timeWentBackwards: {
    severity: 'info',
    phrase: 'time went backwards {n}x',
    description: 'A vcpu thread\'s event older than its previous one: the open exit is closed unpaired',
  },
  orphanDetails: {
    severity: 'info',
    phrase: '{n} detail events without an open exit',
    description: 'kvm_pio / kvm_mmio / kvm_msr / kvm_fast_mmio / kvm_userspace_exit events with no open kvm_exit of their thread to attach to',
  },
  guestEvents: {
    severity: 'info',
    phrase: '{n} guest-side events skipped',
    description: 'Events of a guest trace in a multi-file trace-cmd report (host + guest); the host\'s kvm events are what exitscope reads',
  },
} as const satisfies Record<string, CounterInfo>;

export type CounterName = keyof typeof COUNTERS;
export const COUNTER_NAMES = Object.keys(COUNTERS) as CounterName[];
export type Counters = Record<CounterName, number>;

export function newCounters(): Counters {
  const c = {} as Counters;
  for (const k of COUNTER_NAMES) c[k] = 0;
  return c;
}

/** `12 lost events, 3 unpaired exits` for the non-zero counters, in table order. */
export function describeCounters(c: Partial<Counters>): string[] {
  const out: string[] = [];
  for (const k of COUNTER_NAMES) {
    const n = c[k];
    if (n) out.push(COUNTERS[k].phrase.replace('{n}', groupDigits(n)));
  }
  return out;
}

export function addCounters(into: Counters, from: Partial<Counters>): void {
  for (const k of COUNTER_NAMES) into[k] += from[k] ?? 0;
}
