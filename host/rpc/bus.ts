// How the backend reaches the broker: in-process for the embedded aedes, an MQTT client for an external broker.
// Both are privileged (the ACL exempts the backend); the RPC correlator and presence sit on top of either.
import type { Aedes, AedesPublishPacket } from "aedes";
import mqtt, { type MqttClient } from "mqtt";
import { randomBytes } from "node:crypto";
import { topicMatches } from "../codec/index.ts";
import { BACKEND_USERNAME } from "../registry/registry.ts";
import { InFlight } from "./outbound.ts";

export interface BusMessage {
  topic: string;
  payload: Buffer;
  /** MQTT 5 Correlation Data, when the answer carried it. */
  correlationData?: Buffer;
  /** A retained message the broker sent because we subscribed (an old state), not one published just now. */
  retained?: boolean;
}

export interface PublishOptions {
  /** Default 0. QoS 1/2 reach a device whose connection is down but whose session the broker keeps. */
  qos?: 0 | 1 | 2;
  responseTopic?: string;
  correlationData?: Buffer;
  retain?: boolean;
}

/** Ends one subscribe() call's subscriptions. */
export type Unsubscribe = () => Promise<void>;

export interface Bus {
  /** True when the broker speaks MQTT 5 and requests carry Response Topic and Correlation Data. */
  readonly requestResponse: boolean;
  publish(topic: string, payload: Buffer | string, opts?: PublishOptions): void;
  /**
   * Resolves once the broker has the subscriptions: from then on, every message on `filters` reaches onMessage.
   * `retained`: the messages retained on them come first, marked `retained` (a broker sends them to any MQTT
   * subscriber; the in-process bus reads them only when asked, since that reads the whole retained store).
   */
  subscribe(filters: string[], onMessage: (msg: BusMessage) => void, opts?: { retained?: boolean }): Promise<Unsubscribe>;
  close(): Promise<void>;
}

/** The part of aedes's persistence (untyped in its declarations) that keeps retained messages. */
interface RetainedStore {
  createRetainedStreamCombi(patterns: string[]): AsyncIterable<AedesPublishPacket>;
}

/** In-process bus on the embedded aedes: no socket, no codec, and MQTT 3.1.1 semantics (aedes has no v5). */
export class AedesBus implements Bus {
  readonly requestResponse = false;
  private readonly subs: { filter: string; deliver: (p: AedesPublishPacket, cb: () => void) => void }[] = [];
  /**
   * Publishes aedes has not finished, by topic: a subscriber whose socket is full holds its message (and one of
   * aedes's delivery slots) until the socket drains, so a device's count here is what waits for it.
   */
  readonly inFlight = new InFlight();

  constructor(private readonly aedes: Aedes) {}

  publish(topic: string, payload: Buffer | string, opts: PublishOptions = {}): void {
    const packet = { cmd: "publish" as const, topic, payload: Buffer.from(payload), qos: opts.qos ?? 0, retain: opts.retain ?? false, dup: false };
    this.aedes.publish(packet, this.inFlight.add(topic, packet.payload.length));
  }

  async subscribe(filters: string[], onMessage: (msg: BusMessage) => void, opts: { retained?: boolean } = {}): Promise<Unsubscribe> {
    const mine: AedesBus["subs"] = [];
    /** Topics a live message reached while the retained ones are read: those retained are older, not delivered. */
    const live = new Set<string>();
    let replaying = opts.retained === true;
    for (const filter of filters) {
      const deliver = (packet: AedesPublishPacket, cb: () => void) => {
        if (replaying) live.add(packet.topic);
        onMessage({ topic: packet.topic, payload: packet.payload as Buffer });
        cb();
      };
      const sub = { filter, deliver };
      mine.push(sub);
      this.subs.push(sub);
      await new Promise<void>((resolve) => this.aedes.subscribe(filter, deliver, resolve));
    }
    // As a broker does for a client that subscribes: what is retained there (shared nodes: what other nodes'
    // devices said before this node started). aedes's own subscribe does not replay them.
    if (replaying) {
      const store = (this.aedes as unknown as { persistence: RetainedStore }).persistence;
      for await (const packet of store.createRetainedStreamCombi(filters))
        if (!live.has(packet.topic) && packet.payload.length > 0) onMessage({ topic: packet.topic, payload: packet.payload as Buffer, retained: true });
    }
    replaying = false;
    live.clear();
    return () => this.unsubscribe(mine);
  }

  private async unsubscribe(which: AedesBus["subs"]): Promise<void> {
    for (const sub of which) {
      const i = this.subs.indexOf(sub);
      if (i < 0) continue; // gone already (close)
      this.subs.splice(i, 1);
      await new Promise<void>((resolve) => this.aedes.unsubscribe(sub.filter, sub.deliver, resolve));
    }
  }

  async close(): Promise<void> {
    await this.unsubscribe([...this.subs]);
  }
}

export class BrokerUnreachable extends Error {
  override name = "BrokerUnreachable";
}

/**
 * Connects with MQTT 5 and falls back to 3.1.1 when the broker refuses the protocol version. The client id is
 * the username plus a random suffix: several backend processes on one broker must not take each other's session.
 */
export async function connectBackendClient(
  url: string,
  password: string,
  opts: { clientId?: string; timeoutMs?: number; tls?: BrokerTls } = {},
): Promise<MqttClient> {
  const parsed = new URL(url);
  const username = parsed.username ? decodeURIComponent(parsed.username) : BACKEND_USERNAME;
  const pw = parsed.password ? decodeURIComponent(parsed.password) : password;
  parsed.username = parsed.password = "";
  let lastError: Error | undefined;
  for (const protocolVersion of [5, 4] as const) {
    const client = mqtt.connect(parsed.toString(), {
      protocolVersion,
      username,
      password: pw,
      clientId: opts.clientId ?? `${username}-${randomBytes(6).toString("hex")}`,
      reconnectPeriod: 1000,
      connectTimeout: opts.timeoutMs ?? 5000,
      resubscribe: true,
      ...opts.tls, // mqtts:// or wss://: the broker's CA (and a client certificate, if the broker asks for one)
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => fail(new BrokerUnreachable(`no CONNACK from ${parsed.host} within ${opts.timeoutMs ?? 5000} ms`)),
          opts.timeoutMs ?? 5000,
        );
        const done = () => {
          clearTimeout(timer);
          client.off("error", fail);
        };
        const fail = (err: Error) => (done(), reject(err));
        client.once("connect", () => (done(), resolve()));
        client.on("error", fail);
      });
      return client;
    } catch (err) {
      lastError = err as Error;
      await client.endAsync(true);
      const code = (err as { code?: number }).code;
      if (protocolVersion === 5 && (code === 1 || code === 132)) continue; // unsupported protocol version: try 3.1.1
      break;
    }
  }
  throw new BrokerUnreachable(`cannot connect to ${parsed.host} as ${username}: ${lastError?.message}`);
}

/** For an mqtts:// or wss:// broker URL: PEM text of the CA to trust, and a client certificate and key if it asks. */
export interface BrokerTls {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

type Handler = (msg: BusMessage) => void;

/**
 * Bus over an MQTT client to an external broker (MQTT 5 request/response when the broker has it). One 'message'
 * listener hands each message to the handlers of its exact topic (a WebSocket device's rx) and of the few wildcard
 * filters; a filter is unsubscribed from the broker when its last handler goes.
 */
export class MqttBus implements Bus {
  readonly requestResponse: boolean;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly wildcards = new Map<string, Set<Handler>>();

  constructor(
    private readonly client: MqttClient,
    events: { error?: (err: Error) => void; down?: () => void } = {},
  ) {
    this.requestResponse = client.options.protocolVersion === 5;
    // mqtt.js reconnects by itself; an 'error' with no listener would end the process instead.
    client.on("error", events.error ?? (() => {}));
    if (events.down) client.on("offline", events.down);
    client.on("message", (topic, payload, packet) => {
      const msg: BusMessage = { topic, payload, correlationData: packet.properties?.correlationData, retained: packet.retain || undefined };
      this.handlers.get(topic)?.forEach((h) => h(msg));
      for (const [filter, set] of this.wildcards) if (topicMatches(filter, topic)) set.forEach((h) => h(msg));
    });
  }

  publish(topic: string, payload: Buffer | string, opts: PublishOptions = {}): void {
    const properties = this.requestResponse && opts.responseTopic ? { responseTopic: opts.responseTopic, correlationData: opts.correlationData } : undefined;
    this.client.publish(topic, payload, { qos: opts.qos ?? 0, retain: opts.retain ?? false, properties });
  }

  private table(filter: string): Map<string, Set<Handler>> {
    return filter.includes("+") || filter.includes("#") ? this.wildcards : this.handlers;
  }

  async subscribe(filters: string[], onMessage: Handler): Promise<Unsubscribe> {
    for (const filter of filters) {
      const table = this.table(filter);
      if (!table.has(filter)) table.set(filter, new Set());
      table.get(filter)!.add(onMessage);
    }
    await this.client.subscribeAsync(filters, { qos: 0 });
    return async () => {
      const unused = filters.filter((filter) => {
        const set = this.table(filter).get(filter);
        if (!set?.delete(onMessage) || set.size) return false;
        this.table(filter).delete(filter);
        return true;
      });
      if (unused.length && this.client.connected) await this.client.unsubscribeAsync(unused);
    };
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
