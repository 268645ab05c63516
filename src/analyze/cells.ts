/**
 * The streaming half of every grouped report: exits are counted into cells
 * keyed by the raw values a view needs (exact RIP, caller RIP, reason, vcpu,
 * port), never by symbol. Symbolization and the KASLR decision happen once, at
 * the end, over the distinct RIPs (a few thousand at most however long the
 * trace): that is what lets `--kaslr auto` look at the whole trace in one pass.
 */
import { F_CALLER, F_GPA, F_PORT, type ExitChunk } from '../model/chunk.js';
import { DurationSketch } from './duration-sketch.js';
import type { ExitHandler } from './handler.js';
import { KeyTable } from './key-table.js';

/** Which raw values key a cell. */
export type CellMode = 'rip' | 'rip-caller' | 'reason' | 'port' | 'vcpu' | 'mmio';

/** Key words per mode; the reason is always the last word. */
const WIDTH: Record<CellMode, number> = { rip: 3, 'rip-caller': 6, reason: 1, port: 2, vcpu: 2, mmio: 4 };

export interface Cells {
  mode: CellMode;
  table: KeyTable;
  count: Float64Array;
  sketch: DurationSketch[];
  /** Exits the mode could not key (e.g. no port detail in `port` mode). */
  unkeyed: number;
}

export class CellsHandler implements ExitHandler<Cells> {
  readonly name: string;
  private table!: KeyTable;
  private count!: Float64Array;
  private sketch!: DurationSketch[];
  private unkeyed = 0;
  private readonly key: Uint32Array;

  constructor(readonly mode: CellMode) {
    this.name = `cells:${mode}`;
    this.key = new Uint32Array(WIDTH[mode]);
  }

  reset(): void {
    this.table = new KeyTable(WIDTH[this.mode]);
    this.count = new Float64Array(1024);
    this.sketch = [];
    this.unkeyed = 0;
  }

  private cell(): number {
    const id = this.table.intern(this.key);
    if (id === this.sketch.length) {
      this.sketch.push(new DurationSketch());
      if (id >= this.count.length) {
        const c = new Float64Array(this.count.length * 2);
        c.set(this.count);
        this.count = c;
      }
    }
    return id;
  }

  handleChunk(c: ExitChunk, sel: Uint32Array, n: number): void {
    const key = this.key;
    const mode = this.mode;
    for (let k = 0; k < n; k++) {
      const i = sel[k];
      switch (mode) {
        case 'rip':
          key[0] = c.ripHi[i]; key[1] = c.ripLo[i]; key[2] = c.reason[i];
          break;
        case 'rip-caller': {
          const has = c.flags[i] & F_CALLER;
          key[0] = c.ripHi[i]; key[1] = c.ripLo[i];
          key[2] = has ? c.callerHi[i] : 0; key[3] = has ? c.callerLo[i] : 0; key[4] = has ? 1 : 0;
          key[5] = c.reason[i];
          break;
        }
        case 'reason':
          key[0] = c.reason[i];
          break;
        case 'port':
          if (!(c.flags[i] & F_PORT)) { this.unkeyed++; continue; }
          key[0] = c.port[i] | (c.dir[i] << 16); key[1] = c.reason[i];
          break;
        case 'mmio':
          if (!(c.flags[i] & F_GPA)) { this.unkeyed++; continue; }
          key[0] = c.gpaHi[i]; key[1] = c.gpaLo[i]; key[2] = c.dir[i]; key[3] = c.reason[i];
          break;
        case 'vcpu':
          key[0] = c.vcpu[i]; key[1] = c.reason[i];
          break;
      }
      const id = this.cell();
      this.count[id]++;
      const d = c.dur[i];
      if (d === d) this.sketch[id].add(d);
    }
  }

  finalize(): void {}

  data(): Cells {
    return { mode: this.mode, table: this.table, count: this.count, sketch: this.sketch, unkeyed: this.unkeyed };
  }
}
