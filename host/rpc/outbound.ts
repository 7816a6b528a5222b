// Bounds on what waits to reach one device. A device that stops reading its socket must not hold the backend's
// memory or the broker's delivery slots: past these bounds, calls to it are refused (503 device_busy, not
// delivered) and every other device carries on.

export interface OutboundLimits {
  /** Bytes queued in the backend for the device's connection (socket writableLength, ws bufferedAmount). */
  maxBytes: number;
  /**
   * Messages handed to the device's connection and not yet written to its socket. Above the pending calls a device
   * may have (256), so a burst of calls in one turn is never refused by it; it bounds what a stuck device holds.
   */
  maxMessages: number;
}

export const DEFAULT_OUTBOUND_LIMITS: OutboundLimits = { maxBytes: 1024 * 1024, maxMessages: 512 };

/** Calls awaiting an answer from one device (any transport, any broker): a device answers one at a time. */
export const DEFAULT_MAX_PENDING_CALLS = 256;

/** Counts messages and bytes in flight by key; a key's entry goes when its count is back to 0. */
export class InFlight {
  private readonly byKey = new Map<string, { messages: number; bytes: number }>();

  add(key: string, bytes: number): () => void {
    let e = this.byKey.get(key);
    if (!e) this.byKey.set(key, (e = { messages: 0, bytes: 0 }));
    e.messages++;
    e.bytes += bytes;
    const entry = e;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      entry.messages--;
      entry.bytes -= bytes;
      if (entry.messages === 0 && this.byKey.get(key) === entry) this.byKey.delete(key);
    };
  }

  messages(key: string): number {
    return this.byKey.get(key)?.messages ?? 0;
  }

  bytes(key: string): number {
    return this.byKey.get(key)?.bytes ?? 0;
  }
}
