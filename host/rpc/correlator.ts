// Matches device answers to REST calls. Each request gets a fresh JSON-RPC id (ids from different callers
// could collide): this correlator's random tag and a sequence number, because every backend on a broker sees
// every answer on tx. MQTT 5 also carries it as Correlation Data with the device's tx as Response Topic.
// The caller's own id is put back into the answer.
import { randomBytes } from "node:crypto";
import type { Bus } from "./bus.ts";
import { deviceTopics } from "../broker/acl.ts";
import { checkJsonDepth } from "./json-bounds.ts";
import { checkRequestFits } from "./device-limits.ts";
import type { DeviceLimits } from "../registry/registry.ts";

export { RequestTooLarge } from "./device-limits.ts";
import { DEFAULT_MAX_PENDING_CALLS } from "./outbound.ts";

export class RpcTimeout extends Error {
  override name = "RpcTimeout";
}
/** Not delivered: the request never reached the device's connection, so retrying cannot run it twice. */
export class DeviceOffline extends Error {
  override name = "DeviceOffline";
}
/** Not delivered: the device's outbound queue is full (it does not read what it was sent), so nothing was queued. */
export class DeviceBusy extends Error {
  override name = "DeviceBusy";
}
/**
 * Not delivered: the device's last call went unanswered, and while it is suspect one call at a time goes to it
 * (the probe); a call made while the probe is pending is refused at once instead of waiting for its timeout too.
 */
export class DeviceSuspect extends Error {
  override name = "DeviceSuspect";
}
/** Not delivered: what the nodes share (Redis) does not answer, so no request can reach another node. */
export class ClusterUnavailable extends Error {
  override name = "ClusterUnavailable";
}
/** Handed to the device's connection, then the link went: the device may have run it. */
export class DeviceNoAnswer extends Error {
  override name = "DeviceNoAnswer";
}

/** Whether a request published now reaches the device's connection (a live rx subscriber, or a broker link). */
export type Reachable = (deviceId: string) => boolean;
/** What the device takes (the registry's limitsRecent). */
export type LimitsOf = (deviceId: string) => DeviceLimits;
const NO_LIMITS: LimitsOf = () => ({ request_max: null, response_max: null, max_packet: null });

export interface CorrelatorOptions {
  /** Whether the device's connection has too much queued already (the transport knows: socket, WebSocket). */
  busy?(deviceId: string): boolean;
  /** Whether the device is suspect: then a call is delivered only when no other call to it is pending. */
  suspect?(deviceId: string): boolean;
  /** A call to the device timed out: nothing came back in time. */
  onUnanswered?(deviceId: string): void;
  /** Calls awaiting an answer per device before more are refused as busy (default 256). */
  maxPendingPerDevice?: number;
  /** The device's request and packet limits (default: none known). */
  limitsOf?: LimitsOf;
  /**
   * Shared nodes: a device's tx is subscribed only while this node awaits its answers (answer-subscriptions.ts);
   * `want` resolves once the subscription is in place, before the request goes out.
   */
  answers?: { want(deviceId: string): Promise<void>; done(deviceId: string): void };
  /** Why nothing can be delivered at all right now (the shared Redis is down), or undefined. */
  unavailable?(): Error | undefined;
}

export type JsonRpcId = string | number | null;

/**
 * Requests and notifications go at QoS 2 and the device subscribes its rx at QoS 2: the broker queues them in a
 * kept session while the device is briefly away, and a redelivery after a cut link never runs a request twice.
 */
export const REQUEST_QOS = 2;

interface Pending {
  deviceId: string;
  callerId: JsonRpcId;
  resolve(answer: string): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  /** The backend's own question (rpc.list for the params check): not the device's pending calls, never suspect-making. */
  background?: boolean;
}

export class RpcCorrelator {
  private nextSeq = 1;
  /** Another backend's requests to the same device must never match this one's. */
  private readonly tag = randomBytes(6).toString("base64url");
  private readonly pending = new Map<string, Pending>();
  /** How many of `pending` are for each device. */
  private readonly pendingByDevice = new Map<string, number>();
  private readonly maxPending: number;
  private readonly limitsOf: LimitsOf;

  /**
   * `reachable`: asked at publish time; a request nobody would receive is refused as not delivered.
   * `limitsOf`: a request over the device's limits is refused (RequestTooLarge) before it is sent.
   */
  constructor(
    private readonly bus: Bus,
    private readonly prefix: string,
    private readonly reachable: Reachable = () => true,
    private readonly opts: CorrelatorOptions = {},
  ) {
    this.maxPending = opts.maxPendingPerDevice ?? DEFAULT_MAX_PENDING_CALLS;
    this.limitsOf = opts.limitsOf ?? NO_LIMITS;
  }

  /** Calls to `deviceId` awaiting an answer. */
  pendingFor(deviceId: string): number {
    return this.pendingByDevice.get(deviceId) ?? 0;
  }

  /** Why a request to the device cannot be delivered now, or undefined when it can. */
  private refusal(deviceId: string, awaited: boolean): Error | undefined {
    const down = this.opts.unavailable?.();
    if (down) return down;
    if (!this.reachable(deviceId)) return new DeviceOffline(`device ${deviceId} is offline (not delivered)`);
    const pending = this.pendingFor(deviceId);
    if (this.opts.busy?.(deviceId) || (awaited && pending >= this.maxPending))
      return new DeviceBusy(`device ${deviceId} has too much queued already (not delivered)`);
    if (awaited && pending > 0 && this.opts.suspect?.(deviceId))
      return new DeviceSuspect(`device ${deviceId} left its last call unanswered and a probe call is pending (not delivered)`);
    return undefined;
  }

  private track(key: string, p: Pending): void {
    this.pending.set(key, p);
    if (!p.background) this.pendingByDevice.set(p.deviceId, this.pendingFor(p.deviceId) + 1);
  }

  /** Ends one pending call's bookkeeping. */
  private untrack(key: string, p: Pending): void {
    this.pending.delete(key);
    clearTimeout(p.timer);
    this.opts.answers?.done(p.deviceId);
    if (p.background) return;
    const left = this.pendingFor(p.deviceId) - 1;
    if (left > 0) this.pendingByDevice.set(p.deviceId, left);
    else this.pendingByDevice.delete(p.deviceId);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Sends one request and resolves with the device's JSON-RPC response text, the caller's id restored.
   * `background`: the backend's own question, outside the device's pending-call limit and suspect rules.
   */
  call(deviceId: string, method: string, params: unknown, callerId: JsonRpcId, timeoutMs: number, { background = false } = {}): Promise<string> {
    const refused = this.refusal(deviceId, !background); // before any work on the request: refusals must stay cheap
    if (refused) return Promise.reject(refused);
    const id = `${this.tag}.${this.nextSeq++}`;
    const topics = deviceTopics(this.prefix, deviceId);
    const request = JSON.stringify(params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params });
    const props = this.bus.requestResponse ? { responseTopic: topics.tx, correlationData: Buffer.from(id) } : undefined;
    return new Promise<string>((resolve, reject) => {
      checkRequestFits(deviceId, this.limitsOf(deviceId), topics.rx, request, REQUEST_QOS, props);
      const timer = setTimeout(() => {
        this.untrack(id, p);
        if (!background) this.opts.onUnanswered?.(deviceId);
        reject(new RpcTimeout(`${deviceId} did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const p: Pending = { deviceId, callerId, resolve, reject, timer, background };
      this.track(id, p);
      const send = () => this.pending.has(id) && this.bus.publish(topics.rx, request, { qos: REQUEST_QOS, ...props });
      if (!this.opts.answers) send();
      // Not sent until this node hears the device's tx (want counts this call; untrack ends it); a failed
      // subscription is a call never delivered.
      else
        this.opts.answers.want(deviceId).then(send, (err: Error) => {
          if (!this.pending.has(id)) return;
          this.untrack(id, p);
          reject(new DeviceOffline(`device ${deviceId}: cannot listen for its answer (${err.message}); not delivered`));
        });
    });
  }

  /** A notification: published, nothing awaited. */
  notify(deviceId: string, method: string, params: unknown): void {
    const refused = this.refusal(deviceId, false);
    if (refused) throw refused;
    const body = JSON.stringify(params === undefined ? { jsonrpc: "2.0", method } : { jsonrpc: "2.0", method, params });
    const rx = deviceTopics(this.prefix, deviceId).rx;
    checkRequestFits(deviceId, this.limitsOf(deviceId), rx, body, REQUEST_QOS);
    this.bus.publish(rx, body, { qos: REQUEST_QOS });
  }

  /** A message on <prefix>/<deviceId>/tx. Returns false when it answers nothing pending (late, foreign, or not JSON). */
  onResponse(deviceId: string, payload: Buffer, correlationData?: Buffer): boolean {
    let answer: { id?: unknown };
    try {
      checkJsonDepth(payload); // too deep to write back for the caller: JsonTooDeep, dropped like bad JSON
      answer = JSON.parse(payload.toString("utf8"));
    } catch {
      return false;
    }
    if (!answer || typeof answer !== "object" || Array.isArray(answer)) return false;
    const key = correlationData ? correlationData.toString("utf8") : answer.id;
    if (typeof key !== "string") return false;
    const p = this.pending.get(key);
    if (!p || p.deviceId !== deviceId) return false; // a device can only answer requests made to it
    this.untrack(key, p);
    answer.id = p.callerId;
    p.resolve(JSON.stringify(answer));
    return true;
  }

  /**
   * The device's link went (offline, deleted, replaced): its callers learn now rather than at their timeout.
   * Every pending call was handed to that link (an unreachable one is refused at once), so each may have run.
   */
  failDevice(deviceId: string, why: string): void {
    for (const [key, p] of this.pending) {
      if (p.deviceId !== deviceId) continue;
      this.untrack(key, p);
      p.reject(new DeviceNoAnswer(`device ${deviceId} ${why} before answering; the request may have run`));
    }
  }

  close(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new DeviceNoAnswer("backend shutting down before the device answered; the request may have run"));
    }
    this.pending.clear();
    this.pendingByDevice.clear();
  }
}
