// Online state from the retained <prefix>/<ID>/status (and its will), last_seen from any device traffic.
// Kept in memory for the hot path and written to SQLite in batches. "Suspect": online, but the last call went
// unanswered; cleared by anything heard from the device (an answer, a status, telemetry, a ping or pong).
import type { Presence, Registry } from "../registry/registry.ts";

export class PresenceTracker {
  private readonly state = new Map<string, Presence>();
  private readonly dirty = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private readonly offlineListeners: ((id: string) => void)[] = [];
  private readonly onlineListeners: ((id: string) => void)[] = [];
  /** Devices whose last status said online; they count as online once `canReceive` agrees too. */
  private readonly claimsOnline = new Set<string>();
  private readonly suspects = new Set<string>();
  private readonly suspectListeners: ((id: string) => void)[] = [];
  private readonly changeListeners: ((id: string, online: boolean, transport: string | null) => void)[] = [];

  /**
   * `canReceive(id)`: whether the device's rx subscription is in place (the embedded broker knows; a status
   * published in the same burst as the SUBSCRIBE can overtake it). Without it, the status alone decides.
   */
  constructor(
    private readonly registry: Registry,
    flushMs = 1000,
    private readonly canReceive: (id: string) => boolean = () => true,
    /**
     * Nodes sharing one registry: whether this node writes the device's row, i.e. holds its connection. Every node
     * keeps every device's presence in memory, but only the holder records its last_seen; a device going offline
     * is written by whichever node sees it (the holder may be the node that died).
     */
    private readonly records: (id: string) => boolean = () => true,
  ) {
    this.timer = setInterval(() => {
      try {
        this.flush();
      } catch {
        // the registry's database is away (Postgres restarting): the rows stay dirty for the next period
      }
    }, flushMs);
    this.timer.unref();
  }

  onOffline(listener: (id: string) => void): void {
    this.offlineListeners.push(listener);
  }

  /** Called when a device comes online or goes offline (the fleet event stream, the rpc.list cache). */
  onChange(listener: (id: string, online: boolean, transport: string | null) => void): void {
    this.changeListeners.push(listener);
  }

  /** Called when a device comes online (fleet jobs send a waiting device its execution then). */
  onOnline(listener: (id: string) => void): void {
    this.onlineListeners.push(listener);
  }

  /** Called when a device becomes suspect (the WebSocket gateway pings it at once). */
  onSuspect(listener: (id: string) => void): void {
    this.suspectListeners.push(listener);
  }

  /** Online, but its last call went unanswered and nothing was heard from it since. */
  isSuspect(id: string): boolean {
    return this.suspects.has(id);
  }

  /** A call to the device went unanswered: it may be gone without its link having noticed yet. */
  markSuspect(id: string): void {
    if (!this.isOnline(id) || this.suspects.has(id)) return;
    this.suspects.add(id);
    for (const l of this.suspectListeners) l(id);
  }

  /** The device showed it is alive (a PINGREQ, a pong): no longer suspect. No last_seen write. */
  heard(id: string): void {
    this.suspects.delete(id);
  }

  isOnline(id: string): boolean {
    return this.state.get(id)?.online ?? false;
  }

  get onlineCount(): number {
    let n = 0;
    for (const p of this.state.values()) if (p.online) n++;
    return n;
  }

  get(id: string): Presence | undefined {
    return this.state.get(id);
  }

  /**
   * A status payload: {"online":true|false,...}; an empty one (retained status cleared) means offline.
   * A "transport" member (the WebSocket gateway's "ws") overrides `transport`.
   */
  status(id: string, payload: Buffer, transport = "mqtt"): void {
    let online = false;
    if (payload.length > 0) {
      try {
        const parsed = JSON.parse(payload.toString("utf8"));
        online = parsed?.online === true;
        if (typeof parsed?.transport === "string") transport = parsed.transport;
      } catch {
        online = false;
      }
    }
    if (!this.known(id)) return;
    if (online) this.claimsOnline.add(id);
    else this.claimsOnline.delete(id);
    this.apply(id, online && this.canReceive(id), transport);
  }

  /** Re-evaluates a device after `canReceive` may have changed. */
  recheck(id: string): void {
    if (this.claimsOnline.has(id) && !this.isOnline(id) && this.canReceive(id)) this.apply(id, true, this.state.get(id)?.transport ?? "mqtt");
  }

  /** recheck() of every device whose status claims it is online. */
  recheckAll(): void {
    for (const id of this.claimsOnline) this.recheck(id);
  }

  /** Sets the state directly (e.g. the broker saw the connection end); offline also drops the status claim. */
  set(id: string, online: boolean, transport = "mqtt"): void {
    if (!this.known(id)) return;
    if (!online) this.claimsOnline.delete(id);
    this.apply(id, online, transport);
  }

  /**
   * Whether `id` is a device of the registry. When the registry's database cannot say (Postgres away), yes: the
   * status came through the broker's ACL, and the row write for an id that is not there changes nothing.
   */
  private known(id: string): boolean {
    if (this.state.has(id)) return true;
    try {
      return this.registry.hasDevice(id);
    } catch {
      return true;
    }
  }

  private apply(id: string, online: boolean, transport: string): void {
    const now = Date.now();
    const prev = this.state.get(id);
    const wasOnline = prev?.online ?? false;
    this.suspects.delete(id); // a status, or the link coming or going
    this.state.set(id, {
      id,
      online,
      transport,
      last_seen: now,
      connected_since: online ? (wasOnline ? (prev?.connected_since ?? now) : now) : null,
    });
    this.dirty.add(id);
    if (wasOnline && !online) for (const l of this.offlineListeners) l(id);
    if (wasOnline !== online) for (const l of this.changeListeners) l(id, online, transport);
    if (!wasOnline && online) for (const l of this.onlineListeners) l(id);
  }

  activity(id: string): void {
    const p = this.state.get(id);
    if (!p) return;
    this.suspects.delete(id);
    p.last_seen = Date.now();
    this.dirty.add(id);
  }

  /** The backend lost its broker: no device is reachable until the retained statuses come back. */
  allOffline(): void {
    for (const [id, p] of this.state) if (p.online) this.set(id, false, p.transport ?? "mqtt");
  }

  forget(id: string): void {
    this.claimsOnline.delete(id);
    this.suspects.delete(id);
    const wasOnline = this.state.get(id)?.online;
    if (wasOnline) for (const l of this.offlineListeners) l(id);
    this.state.delete(id);
    if (wasOnline) for (const l of this.changeListeners) l(id, false, null);
    this.dirty.delete(id);
  }

  flush(): void {
    if (this.dirty.size === 0) return;
    const rows = [...this.dirty].map((id) => this.state.get(id)!).filter((p) => p && (!p.online || this.records(p.id)));
    this.dirty.clear();
    try {
      this.registry.savePresence(rows);
    } catch (err) {
      for (const p of rows) this.dirty.add(p.id);
      throw err;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
