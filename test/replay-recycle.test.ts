/**
 * Recycled trace chunks (ReplayTrace.release): estimate and advise hand each
 * trace they are done with to the next pass, which writes into its columns
 * without clearing them. A pass that left a column unwritten, or a trace read
 * after release, would carry another pass's rows into this one: each estimate
 * here must equal the same estimate on a session of its own.
 */
import { describe, expect, it } from 'vitest';
import { GUEST_MAP } from '../src/emulator/index.js';
import { estimate, estimateAlone, openEstimate } from '../src/replay/estimate.js';
import { parsePassSpec } from '../src/replay/pipeline.js';
import { ReplayTrace } from '../src/replay/trace.js';
import { ExitChunk, ExitTrace } from '../src/model/chunk.js';

const JBB = 'traces/jbb.csv';
const SPECS = ['coalesce-io', 'timer-hz:100', 'napi-off', 'virtio', 'apicv', 'pv-eoi', 'drop-caller:verify_pmtmr_rate', 'haltpoll'];

describe('recycled chunks', () => {
  it('each candidate on a shared session equals the same candidate on a fresh session, in any order', async () => {
    const fresh = new Map<string, unknown>();
    for (const spec of SPECS) {
      const s = await openEstimate({ input: JBB, maps: [GUEST_MAP], bootstrap: 50 });
      fresh.set(spec, estimateAlone(s, parsePassSpec(spec)));
    }
    const shared = await openEstimate({ input: JBB, maps: [GUEST_MAP], bootstrap: 50 });
    const rows = shared.base.length;
    for (const order of [SPECS, [...SPECS].reverse()]) {
      for (const spec of order) expect(estimateAlone(shared, parsePassSpec(spec)), spec).toEqual(fresh.get(spec));
    }
    // The session's own trace is never handed on.
    expect(shared.base.length).toBe(rows);
  });

  it('a chain of passes equals the same passes estimated one chain each', async () => {
    const all = await estimate({ input: JBB, maps: [GUEST_MAP], passes: SPECS.slice(0, 5).map(parsePassSpec), bootstrap: 50 });
    // The chain of the first k+1 passes ends with pass k (when it applies to this trace: napi-off does not to jbb's).
    let applied = 0;
    for (let k = 0; k < 5; k++) {
      const part = await estimate({ input: JBB, maps: [GUEST_MAP], passes: SPECS.slice(0, k + 1).map(parsePassSpec), bootstrap: 50 });
      if (part.passes.length === applied) continue;
      applied = part.passes.length;
      expect(part.passes[applied - 1].spec).toBe(SPECS[k]);
      expect(all.passes[applied - 1]).toEqual(part.passes[applied - 1]);
    }
    expect(applied).toBeGreaterThanOrEqual(3);
  });

  it('a released trace is empty and cannot be derived from; its chunks serve the next derive', () => {
    const src = new ExitChunk(8);
    for (let i = 0; i < 8; i++) src.push(i * 1000, 0, 1, 0, 0xc0000000 + i, 100);
    const et = new ExitTrace(0n, new Set());
    et.chunks.push(src);
    const base = ReplayTrace.from(et);
    const a = base.derive((_v, c, o) => o.copyRows(c, 0, c.length));
    const aChunk = a.vcpus.get(0)!;
    a.release();
    expect(a.length).toBe(0);
    expect(() => a.derive(() => {})).toThrow(/after release/);
    // The next derive takes the released chunk, and its rows are this pass's only.
    const b = base.derive((_v, c, o) => { o.copyRow(c, 7); o.copyRow(c, 3); });
    expect(b.vcpus.get(0)).toBe(aChunk);
    expect(b.length).toBe(2);
    expect([...b.vcpus.get(0)!.ripLo.subarray(0, 2)]).toEqual([0xc0000007, 0xc0000003]);
  });
});
