/**
 * Idle exits: a vcpu that executes HLT (or MWAIT; SVM's hlt and idle-halt)
 * has nothing to run. The time until its next entry is the guest's idle time
 * spent outside guest mode, not overhead; reports split exit time into
 * handling (everything else) and idle, and rank by handling by default.
 */
import { REASONS } from '../model/reasons.js';

const IDLE_CLASSES = new Set(['HLT', 'MWAIT_INSTRUCTION']);
let memo = new Int8Array(256);

export function isIdleReason(id: number): boolean {
  if (id >= memo.length) {
    const m = new Int8Array(Math.max(id + 1, memo.length * 2));
    m.set(memo);
    memo = m;
  }
  let v = memo[id];
  if (v === 0) {
    v = IDLE_CLASSES.has(REASONS.get(id).canonical) ? 1 : -1;
    memo[id] = v;
  }
  return v === 1;
}
