// The fleet-wide event stream's hub: every event gets an id "<epoch>-<seq>" (epoch: this process's start, so an id
// from before a restart is recognisable) and is kept in a bounded ring, so a browser that reconnects with
// Last-Event-ID gets what it missed. Publishers: presence, telemetry and version (backend.ts), update progress
// (host/ota/updater.ts, throttled) and job counts (host/jobs/runner.ts, coalesced per job).
import { randomBytes } from "node:crypto";

/** Events kept for resuming; a client further behind than this gets a `reset` event and reloads its state. */
export const EVENT_RING_SIZE = 4096;

export type FleetEventType = "presence" | "telemetry" | "update" | "job" | (string & {});

export interface FleetEvent {
  id: string;
  type: FleetEventType;
  /** The device it is about, if any (for the `device` filter). */
  device?: string;
  /** JSON text. */
  data: string;
}

export type EventListener = (event: FleetEvent) => void;

export class EventHub {
  private readonly epoch = randomBytes(4).toString("hex");
  private seq = 0;
  private readonly ring: (FleetEvent | undefined)[];
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly size = EVENT_RING_SIZE) {
    this.ring = new Array(size);
  }

  publish(type: FleetEventType, data: unknown, device?: string): FleetEvent {
    const event: FleetEvent = { id: `${this.epoch}-${++this.seq}`, type, device, data: JSON.stringify(data) };
    this.ring[this.seq % this.size] = event;
    for (const l of this.listeners) l(event);
    return event;
  }

  /** The id of the newest event (what a new subscriber is up to). */
  get lastId(): string {
    return `${this.epoch}-${this.seq}`;
  }

  /**
   * The events after `lastEventId`, oldest first; undefined when they cannot be given (an id from another process
   * or run, or one older than the ring): the client must reload its state.
   */
  since(lastEventId: string): FleetEvent[] | undefined {
    const m = /^([0-9a-f]{8})-([0-9]{1,15})$/.exec(lastEventId);
    if (!m || m[1] !== this.epoch) return undefined;
    const after = Number(m[2]);
    if (after > this.seq) return undefined;
    if (this.seq - after > this.size) return undefined;
    const out: FleetEvent[] = [];
    for (let s = after + 1; s <= this.seq; s++) out.push(this.ring[s % this.size]!);
    return out;
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}
