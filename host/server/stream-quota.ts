// At most so many open event streams per API key: each one holds a socket and a listener for as long as the
// caller likes, so one key (a leaked one, a client in a reconnect loop) could otherwise hold them all.

export const DEFAULT_STREAMS_PER_KEY = 16;

export class StreamQuota {
  private readonly open = new Map<string, number>();

  constructor(readonly perKey = DEFAULT_STREAMS_PER_KEY) {}

  /** Takes one stream for `key`; false when it has perKey open already. Release it once when the stream ends. */
  take(key: string): boolean {
    const n = this.open.get(key) ?? 0;
    if (n >= this.perKey) return false;
    this.open.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = (this.open.get(key) ?? 1) - 1;
    if (n > 0) this.open.set(key, n);
    else this.open.delete(key);
  }

  count(key: string): number {
    return this.open.get(key) ?? 0;
  }
}
