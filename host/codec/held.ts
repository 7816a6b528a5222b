// One stream's unfinished packet, kept on the JS side so that many Decoders share one
// module instance: the module's splitter frames and decodes, and at the end of a push
// hands back the bytes of a packet that spans pushes (codec_held, assembly/ABI.md).
// Memory follows the bytes received, not the length a header claims: a hostile header
// announcing a large packet costs only what the peer actually sent (at most about twice).

/** Smallest buffer kept for a packet whose length is known. */
const MIN_CAP = 256;

export class HeldBytes {
  private buf: Buffer | null = null;
  /** Bytes held. */
  len = 0;
  /** Total length of the packet they begin; 0 while its fixed header is incomplete. */
  need = 0;

  /**
   * Appends `chunk` when it still leaves the packet short (the module has already
   * checked its header and size): true, and the module need not run for it.
   */
  absorb(chunk: Uint8Array): boolean {
    const len = this.len + chunk.length;
    if (this.need === 0 || len >= this.need) return false;
    this.reserve(len);
    this.buf!.set(chunk, this.len);
    this.len = len;
    return true;
  }

  /** The held bytes, to replay through the splitter ahead of the next chunk. */
  bytes(): Uint8Array {
    return this.buf!.subarray(0, this.len);
  }

  /** Takes over what the splitter holds: `len` bytes at `ptr` of `mem`, of a packet `need` long. */
  keep(mem: Uint8Array, ptr: number, len: number, need: number): void {
    this.len = 0;
    this.need = len ? need : 0;
    // The last packet's buffer serves again unless it is larger than this one needs.
    if (len === 0 || (this.buf && this.buf.length > Math.max(need, len, MIN_CAP))) this.buf = null;
    if (len === 0) return;
    this.reserve(len);
    this.buf!.set(mem.subarray(ptr, ptr + len));
    this.len = len;
  }

  /** Room for `n` bytes, keeping the held ones; grows by doubling, never past the packet. */
  private reserve(n: number): void {
    const cap = this.buf?.length ?? 0;
    if (n <= cap) return;
    const limit = this.need || n;
    const next = Math.min(limit, Math.max(n, 2 * cap, MIN_CAP));
    const buf = Buffer.allocUnsafe(next);
    if (this.len) buf.set(this.buf!.subarray(0, this.len));
    this.buf = buf;
  }
}
