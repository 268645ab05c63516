/**
 * perf.data bytes for tests, in the recorded machine's byte order (layout of
 * tools/perf/Documentation/perf.data-file-format.txt): numbers, the 16-byte pipe header and a
 * record (u32 type, u16 misc, u16 size counting the 8-byte header). Test files extend it with
 * the attrs and samples they need.
 */
export class PerfBytes {
  constructor(readonly le: boolean) {}
  u16(v: number): Buffer { const b = Buffer.alloc(2); if (this.le) b.writeUInt16LE(v); else b.writeUInt16BE(v); return b; }
  u32(v: number): Buffer { const b = Buffer.alloc(4); if (this.le) b.writeUInt32LE(v >>> 0); else b.writeUInt32BE(v >>> 0); return b; }
  u64(v: number | bigint): Buffer { const b = Buffer.alloc(8); if (this.le) b.writeBigUInt64LE(BigInt(v)); else b.writeBigUInt64BE(BigInt(v)); return b; }
  /** The pipe header: "PERFILE2" as a u64 in the file's order, header size 16. */
  head(): Buffer { return Buffer.concat([this.u64(0x32454c4946524550n), this.u64(16)]); }
  record(type: number, body: Buffer): Buffer { return Buffer.concat([this.u32(type), this.u16(0), this.u16(8 + body.length), body]); }
}
