// Shared nodes (--redis): a node subscribes to a device's tx only while it awaits an answer from that device
// (and a short while after, so a burst of calls does not subscribe and unsubscribe each time). Through Redis a
// message reaches only the nodes subscribed to its channel, so a device's answer goes to the nodes that asked it,
// and the per-node tag in the request id (correlator.ts) tells apart two nodes that asked the same device.
import type { Bus, BusMessage, Unsubscribe } from "./bus.ts";
import { deviceTopics } from "../broker/acl.ts";

/** How long a device's tx stays subscribed after its last pending call ended. */
export const ANSWER_LINGER_MS = 10_000;

interface Entry {
  ready: Promise<Unsubscribe>;
  calls: number;
  linger?: NodeJS.Timeout;
}

export class AnswerSubscriptions {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly bus: Bus,
    private readonly prefix: string,
    private readonly onMessage: (msg: BusMessage) => void,
    private readonly lingerMs = ANSWER_LINGER_MS,
  ) {}

  /** A call to `id` is about to be sent: resolves once its answer can no longer be missed. */
  want(id: string): Promise<void> {
    let e = this.entries.get(id);
    if (!e) {
      const entry: Entry = { calls: 0, ready: this.bus.subscribe([deviceTopics(this.prefix, id).tx], this.onMessage) };
      entry.ready.catch(() => this.entries.get(id) === entry && this.entries.delete(id));
      this.entries.set(id, entry);
      e = entry;
    }
    clearTimeout(e.linger);
    e.linger = undefined;
    e.calls++;
    return e.ready.then(() => {});
  }

  /** A call to `id` ended (answered, timed out, failed). */
  done(id: string): void {
    const e = this.entries.get(id);
    if (!e || --e.calls > 0) return;
    e.linger = setTimeout(() => {
      if (this.entries.get(id) !== e || e.calls > 0) return;
      this.entries.delete(id);
      void e.ready.then((unsubscribe) => unsubscribe()).catch(() => {});
    }, this.lingerMs);
    e.linger.unref();
  }

  /** Devices whose tx this node subscribes now. */
  get size(): number {
    return this.entries.size;
  }

  close(): void {
    for (const e of this.entries.values()) clearTimeout(e.linger);
    this.entries.clear();
  }
}
