// An MQTT client for Node: a net.Socket and one timer around the module's sans-IO
// client (ClientCore). Every protocol decision is the module's; this file moves
// bytes, reads the clock and turns events into promises and EventEmitter events.
import { EventEmitter } from "node:events";
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from "node:tls";
import { performance } from "node:perf_hooks";
import type { Build, EngineName } from "../engine.ts";
import { ClientCore, ClientError, type ClientEvent, type ReceivedMessage } from "./core.ts";

export interface ConnectOptions {
  clientId?: string;
  username?: string;
  password?: string | Uint8Array;
  /** Seconds; 0 turns keep-alive off. */
  keepalive?: number;
  clean?: boolean;
  protocolVersion?: 4 | 5;
  will?: { topic: string; payload: string | Uint8Array; qos?: 0 | 1 | 2; retain?: boolean };
  /** MQTT 5 CONNECT properties. */
  properties?: { sessionExpiryInterval?: number; receiveMaximum?: number; maximumPacketSize?: number; topicAliasMaximum?: number };
  reconnect?: { minMs?: number; maxMs?: number };
  /** Socket open, CONNACK and PINGRESP wait. */
  timeoutMs?: number;
  outboxBytes?: number;
  inflightWindow?: number;
  /** Seed for the backoff jitter (default: random). */
  seed?: number;
  build?: Build;
  engine?: EngineName;
  /**
   * For mqtts:// and wss:// URLs: the CA to trust (`ca`), a client certificate and key (`cert`, `key`) to log in
   * with instead of a password, and the server name to check (`servername`, default the URL's host name).
   */
  tls?: TlsConnectionOptions;
}

export interface CloseInfo {
  /** The module's Err number (assembly/errors.ts); 0 after end(). */
  error: number;
  /** MQTT reason/return code (CONNACK refusal, server DISCONNECT), else 0. */
  reasonCode: number;
}

type Pending = { resolve: (v: any) => void; reject: (e: Error) => void };

/**
 * Events: "connect" (sessionPresent), "close" (CloseInfo), "message" (topic, payload, ReceivedMessage), "drop" (count),
 * "tooLarge" (topic, size, ReceivedMessage: a PUBLISH over the maximum packet size, skipped; its payload is the part kept).
 */
const DEFAULT_PORTS: Record<string, number> = { "mqtt:": 1883, "ws:": 80, "mqtts:": 8883, "wss:": 443 };

export class MqttClient extends EventEmitter {
  readonly core: ClientCore;
  private host = "127.0.0.1";
  private port = 1883;
  private brokers: { host: string; port: number; secure: boolean }[] = [];
  private brokerIndex = 0;
  private socket: Socket | null = null;
  /** mqtts:// or wss://: the bytes go through TLS (the module's protocol is the same above it). */
  private secure = false;
  private readonly tls: TlsConnectionOptions | undefined;
  private inbox: Buffer[] = [];
  private timer: NodeJS.Timeout | null = null;
  private publishes = new Map<number, Pending>();
  private subscribes = new Map<string, Pending[]>();
  private unsubscribes = new Map<string, Pending[]>();
  private ended: Pending[] = [];
  private driving = false;
  connected = false;

  /** `core`: drive this core (e.g. one whose poll runs the device app) instead of a new one. */
  constructor(opts: ConnectOptions = {}, core?: ClientCore) {
    super();
    const c = (this.core = core ?? new ClientCore({ build: opts.build, engine: opts.engine }));
    this.tls = opts.tls;
    const props = opts.properties ?? {};
    if (opts.keepalive !== undefined) c.config("keepalive", opts.keepalive);
    c.config("clean", opts.clean === false ? 0 : 1);
    c.config("protocol", opts.protocolVersion ?? 4);
    if (opts.will) {
      c.config("willQos", opts.will.qos ?? 0);
      c.config("willRetain", opts.will.retain ? 1 : 0);
    }
    if (props.sessionExpiryInterval !== undefined) c.config("sessionExpiry", props.sessionExpiryInterval);
    if (props.receiveMaximum !== undefined) c.config("receiveMaximum", props.receiveMaximum);
    if (props.maximumPacketSize !== undefined) c.config("maxPacket", props.maximumPacketSize);
    if (props.topicAliasMaximum !== undefined) c.config("topicAliasMaximum", props.topicAliasMaximum);
    if (opts.reconnect?.minMs !== undefined) c.config("backoffMinMs", opts.reconnect.minMs);
    if (opts.reconnect?.maxMs !== undefined) c.config("backoffMaxMs", opts.reconnect.maxMs);
    if (opts.timeoutMs !== undefined) c.config("timeoutMs", opts.timeoutMs);
    if (opts.outboxBytes !== undefined) c.config("outboxBytes", opts.outboxBytes);
    if (opts.inflightWindow !== undefined) c.config("inflightWindow", opts.inflightWindow);
    c.seed(opts.seed ?? (Math.random() * 0xffffffff) >>> 0);
    c.init();
    if (opts.clientId) c.setString("clientId", opts.clientId);
    if (opts.username !== undefined) c.setString("username", opts.username);
    if (opts.password !== undefined) c.setString("password", opts.password);
    if (opts.will) {
      c.setString("willTopic", opts.will.topic);
      c.setString("willPayload", opts.will.payload);
    }
  }

  private now(): number {
    return Math.floor(performance.now()) >>> 0;
  }

  /**
   * Starts connecting (and reconnecting) to mqtt://host:port (mqtts:// over TLS). Resolves on the first CONNACK.
   * Given several URLs (the nodes of one fleet), a connection that fails or ends moves to the next one, with the
   * module's backoff.
   */
  connect(url: string | readonly string[]): Promise<{ sessionPresent: boolean }> {
    const urls = typeof url === "string" ? [url] : [...url];
    if (urls.length === 0) throw new Error("no broker URL");
    this.brokers = urls.map((one) => {
      const u = new URL(one);
      // ws: the module speaks WebSocket over the same socket (device_set key 3 chose it).
      if (!(u.protocol in DEFAULT_PORTS)) throw new Error(`unsupported URL scheme ${u.protocol}`);
      if (urls.length > 1 && u.protocol !== "mqtt:" && u.protocol !== "mqtts:")
        throw new Error(`several brokers are MQTT ones (mqtt:// or mqtts://), not ${u.protocol}`);
      return {
        host: u.hostname.replace(/^\[|\]$/g, ""),
        port: Number(u.port || DEFAULT_PORTS[u.protocol]),
        secure: u.protocol === "mqtts:" || u.protocol === "wss:",
      };
    });
    this.brokerIndex = 0;
    ({ host: this.host, port: this.port, secure: this.secure } = this.brokers[0]);
    const first = new Promise<{ sessionPresent: boolean }>((resolve) => this.once("connect", (sessionPresent) => resolve({ sessionPresent })));
    this.core.start(this.now());
    this.drive();
    return first;
  }

  /** QoS 0 resolves once queued; QoS 1/2 when the broker completed the flow. */
  publish(topic: string, payload: string | Uint8Array, opts: { qos?: 0 | 1 | 2; retain?: boolean } = {}): Promise<void> {
    let id: number;
    try {
      id = this.core.publish(topic, payload, opts.qos ?? 0, opts.retain ?? false);
    } catch (e) {
      return Promise.reject(e);
    }
    const done = id ? new Promise<void>((resolve, reject) => this.publishes.set(id, { resolve, reject })) : Promise.resolve();
    this.drive();
    return done;
  }

  /** Resolves with the SUBACK reason code (the granted QoS, or >= 0x80 refused). */
  subscribe(filter: string, opts: { qos?: 0 | 1 | 2 } = {}): Promise<number> {
    return this.request(this.subscribes, filter, () => this.core.subscribe(filter, opts.qos ?? 0));
  }

  unsubscribe(filter: string): Promise<number> {
    return this.request(this.unsubscribes, filter, () => this.core.unsubscribe(filter));
  }

  private request(waiting: Map<string, Pending[]>, filter: string, call: () => void): Promise<number> {
    try {
      call();
    } catch (e) {
      return Promise.reject(e);
    }
    const p = new Promise<number>((resolve, reject) => {
      const list = waiting.get(filter) ?? [];
      list.push({ resolve, reject });
      waiting.set(filter, list);
    });
    this.drive();
    return p;
  }

  /** Sends DISCONNECT (no will), closes the socket and stops reconnecting. */
  end(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => this.ended.push({ resolve, reject }));
    this.core.stop(this.now());
    this.drive();
    if (!this.socket) this.finishEnd();
    return p;
  }

  /** Drops the socket without DISCONNECT, as a crash or a cut cable would (the broker sends the will). */
  destroySocket(): void {
    this.socket?.destroy();
  }

  private finishEnd(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const p of this.ended.splice(0)) p.resolve(undefined);
  }

  private openSocket(): void {
    const s = this.secure
      ? tlsConnect({ servername: isIP(this.host) ? undefined : this.host, ...this.tls, host: this.host, port: this.port })
      : netConnect(this.port, this.host);
    s.setNoDelay(true);
    this.socket = s;
    // Over TLS the module starts once the handshake is done (a refused certificate closes first).
    s.on(this.secure ? "secureConnect" : "connect", () => {
      if (this.socket !== s) return;
      this.core.opened(this.now());
      this.drive();
    });
    s.on("data", (chunk: Buffer) => {
      if (this.socket !== s) return;
      this.inbox.push(chunk);
      this.drive();
    });
    s.on("error", () => {}); // "close" follows
    s.on("close", () => {
      if (this.socket !== s) return;
      this.socket = null;
      this.inbox = [];
      // The core answers with its close event, which moves to the next broker: once per failed connection (moving
      // here too skipped a broker, and with two of them never left the dead one).
      this.core.closed(this.now());
      this.drive();
    });
  }

  /** The connection failed or ended: the next attempt goes to the next broker of the list. */
  private nextBroker(): void {
    if (this.brokers.length < 2) return;
    this.brokerIndex = (this.brokerIndex + 1) % this.brokers.length;
    ({ host: this.host, port: this.port, secure: this.secure } = this.brokers[this.brokerIndex]);
  }

  /** The broker this client connects (or will next connect) to. */
  get broker(): { host: string; port: number } {
    return { host: this.host, port: this.port };
  }

  /** Feeds input, polls events until none, writes output, re-arms the timer. */
  drive(): void {
    if (this.driving) return; // re-entered from an event handler: the outer loop goes on
    this.driving = true;
    try {
      for (;;) {
        this.feedInbox();
        const ev = this.core.poll(this.now());
        this.flushTx();
        if (ev) this.handle(ev);
        else if (!this.inbox.length || !this.canFeed()) break;
      }
    } finally {
      this.driving = false;
    }
    this.arm();
  }

  private canFeed(): boolean {
    return this.core.mod.exports.client_rx_cap() > 0;
  }

  private feedInbox(): void {
    while (this.inbox.length && this.canFeed()) {
      const chunk = this.inbox[0];
      const n = this.core.feed(chunk);
      if (n === chunk.length) this.inbox.shift();
      else this.inbox[0] = chunk.subarray(n);
    }
  }

  private flushTx(): void {
    if (!this.socket || this.socket.connecting || !this.core.txLength()) return;
    this.socket.write(this.core.takeTx());
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const d = this.core.deadline(this.now());
    if (d !== null) this.timer = setTimeout(() => this.drive(), Math.max(d, 1));
  }

  private handle(ev: ClientEvent): void {
    switch (ev.type) {
      case "open":
        this.openSocket();
        break;
      case "close": {
        const s = this.socket;
        this.socket = null;
        this.inbox = [];
        if (s) {
          if (ev.error === 0) s.end();
          else s.destroy();
        }
        const wasConnected = this.connected;
        this.connected = false;
        if (ev.error !== 0) this.nextBroker(); // a dead link (keep-alive, refusal): the next broker is tried
        if (ev.error === 0) {
          this.failAll(new ClientError(24, "client ended"));
          if (s) s.once("close", () => this.finishEnd());
          else this.finishEnd();
        }
        this.emit("close", { error: ev.error, reasonCode: ev.reasonCode } satisfies CloseInfo, wasConnected);
        break;
      }
      case "connected":
        this.connected = true;
        this.emit("connect", ev.sessionPresent);
        break;
      case "message":
        this.emit("message", ev.message.topic, ev.message.payload, ev.message satisfies ReceivedMessage);
        break;
      case "suback":
      case "unsuback": {
        const waiting = ev.type === "suback" ? this.subscribes : this.unsubscribes;
        for (const p of waiting.get(ev.filter) ?? []) p.resolve(ev.reasonCode);
        waiting.delete(ev.filter);
        break;
      }
      case "published": {
        const p = this.publishes.get(ev.messageId);
        this.publishes.delete(ev.messageId);
        if (!p) break;
        if (ev.reasonCode >= 0x80) p.reject(Object.assign(new Error(`publish refused: reason 0x${ev.reasonCode.toString(16)}`), { reasonCode: ev.reasonCode }));
        else p.resolve(undefined);
        break;
      }
      case "dropped":
        this.emit("drop", ev.count);
        break;
      case "tooLarge":
        this.emit("tooLarge", ev.message.topic, ev.size, ev.message satisfies ReceivedMessage);
        break;
    }
  }

  private failAll(err: Error): void {
    for (const p of this.publishes.values()) p.reject(err);
    this.publishes.clear();
    for (const m of [this.subscribes, this.unsubscribes]) {
      for (const list of m.values()) for (const p of list) p.reject(err);
      m.clear();
    }
  }
}

/** Creates a client and starts connecting; the promise resolves on the first CONNACK. */
export async function connectMqtt(url: string, opts: ConnectOptions = {}): Promise<MqttClient> {
  const c = new MqttClient(opts);
  await c.connect(url);
  return c;
}
