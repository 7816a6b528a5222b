// Typed access to the module's sans-IO client (assembly/ABI.md, "Client"). No I/O
// and no clock here either: MqttClient (./client.ts) adds the socket and the timer,
// and the unit tests drive this directly with bytes and times of their choosing.
import { errName } from "../abi.ts";
import { Cfg, Ev, Str, View, type DeviceExports } from "../abi-table.ts";
import { instantiate, type Build, type EngineName, type ModuleInstance } from "../engine.ts";

export { Cfg, Ev, Str };
export type CfgKey = keyof typeof Cfg;

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  dup: boolean;
  messageId: number;
}

export type ClientEvent =
  | { type: "open" }
  | { type: "close"; error: number; reasonCode: number }
  | { type: "connected"; sessionPresent: boolean }
  | { type: "message"; message: ReceivedMessage }
  | { type: "suback" | "unsuback"; messageId: number; reasonCode: number; filter: string }
  | { type: "published"; messageId: number; reasonCode: number }
  | { type: "dropped"; count: number }
  /** A PUBLISH over the maximum packet size, skipped (and acknowledged): `message.payload` is what was kept of it, `size` the packet's length. */
  | { type: "tooLarge"; message: ReceivedMessage; size: number };

/** A client error: `code` is the module's Err number (assembly/abi.json). */
export class ClientError extends Error {
  override name = "ClientError";
  readonly errName: string;
  constructor(
    readonly code: number,
    what: string,
  ) {
    super(`${what}: ${errName(code)}`);
    this.errName = errName(code);
  }
}

export class ClientCore {
  readonly mod: ModuleInstance;
  private ex: DeviceExports;
  /** The block client_init returned (assembly/ABI.md, "Client"); 0 before init. */
  get infoBlock(): number {
    return this.infoPtr;
  }
  private infoPtr = 0;

  constructor(opts: { build?: Build; engine?: EngineName; module?: ModuleInstance } = {}) {
    this.mod = opts.module ?? instantiate({ build: opts.build, engine: opts.engine });
    this.ex = this.mod.exports;
  }

  private bytes(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.mod.memory.buffer, ptr, len);
  }
  private check(r: number, what: string): number {
    if (r < 0) throw new ClientError(-r, what);
    return r;
  }
  /** Word `i` of the block client_init returned: 0 scratch, 1 scratch capacity, 2 tx, 3.. the event record. */
  private info(i: number): number {
    return new Uint32Array(this.mod.memory.buffer, this.infoPtr, 8)[i];
  }
  /** Bytes the scratch area holds (0 before init). */
  scratchCapacity(): number {
    return this.infoPtr ? this.info(1) : 0;
  }
  /** Copies `parts` one after another into the scratch area, for the export called next; returns their lengths. */
  toScratch(...parts: Uint8Array[]): number[] {
    // Before init there is no scratch area: the export called next answers NotInitialized.
    if (!this.infoPtr) return parts.map((p) => p.length);
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (total > this.info(1)) throw new ClientError(22, "scratch");
    let at = this.info(0);
    for (const p of parts) {
      this.bytes(at, p.length).set(p);
      at += p.length;
    }
    return parts.map((p) => p.length);
  }

  config(key: CfgKey, value: number): void {
    this.check(this.ex.client_config(Cfg[key], value >>> 0), `config ${key}`);
  }
  seed(seed: number): void {
    this.ex.client_seed(seed >>> 0);
  }
  init(): void {
    this.infoPtr = this.check(this.ex.client_init(), "init");
  }
  setString(key: keyof typeof Str, value: string | Uint8Array): void {
    const [len] = this.toScratch(typeof value === "string" ? Buffer.from(value) : value);
    this.check(this.ex.client_set_str(Str[key], len), `set ${key}`);
  }

  start(now: number): void {
    this.check(this.ex.client_start(now >>> 0), "start");
  }
  stop(now: number): void {
    this.ex.client_stop(now >>> 0);
  }
  opened(now: number): number {
    return this.ex.client_opened(now >>> 0);
  }
  closed(now: number): void {
    this.ex.client_closed(now >>> 0);
  }

  /** Hands as much of `data` as the module takes now; returns how many bytes it took. */
  feed(data: Uint8Array): number {
    const cap = this.ex.client_rx_cap() >>> 0;
    const n = Math.min(cap, data.length);
    if (n === 0) return 0;
    this.bytes(this.ex.client_rx_ptr() >>> 0, n).set(data.subarray(0, n));
    this.check(this.ex.client_rx_push(n), "rx push");
    return n;
  }
  /** Takes every byte waiting to be sent. */
  takeTx(): Buffer {
    const len = this.ex.client_tx_len() >>> 0;
    const out = Buffer.from(this.bytes(this.info(2), len));
    this.ex.client_tx_consume(len);
    return out;
  }
  txLength(): number {
    return this.ex.client_tx_len() >>> 0;
  }
  outboxLength(): number {
    return this.ex.client_outbox_len() >>> 0;
  }
  /** Milliseconds until the next timed poll, or null for none. */
  deadline(now: number): number | null {
    const d = this.ex.client_deadline(now >>> 0) >>> 0;
    return d === 0xffffffff ? null : d;
  }

  /** The next event, or null when there is none. */
  poll(now: number): ClientEvent | null {
    return this.eventOf(this.ex.client_poll(now >>> 0));
  }

  /** The event `code` (a client_poll result) with its arguments from the event record (info block +12). */
  protected eventOf(code: number): ClientEvent | null {
    if (code === Ev.none) return null;
    const ev = new Uint32Array(this.mod.memory.buffer, this.infoPtr + 12, 5);
    const [, a, b, c, d] = ev;
    switch (code) {
      case Ev.open:
        return { type: "open" };
      case Ev.close:
        return { type: "close", error: a, reasonCode: b };
      case Ev.connected:
        return { type: "connected", sessionPresent: a !== 0 };
      case Ev.message:
        return { type: "message", message: this.readMessage(a) };
      case Ev.suback:
      case Ev.unsuback:
        return {
          type: code === Ev.suback ? "suback" : "unsuback",
          messageId: a,
          reasonCode: b,
          filter: Buffer.from(this.bytes(c, d)).toString("utf8"),
        };
      case Ev.published:
        return { type: "published", messageId: a, reasonCode: b };
      case Ev.dropped:
        return { type: "dropped", count: a };
      case Ev.tooLarge:
        return { type: "tooLarge", message: this.readMessage(a), size: d };
    }
    throw new Error(`unknown client event ${code}`);
  }

  private readMessage(view: number): ReceivedMessage {
    const s = new Uint32Array(this.mod.memory.buffer, view, 16);
    return {
      topic: Buffer.from(this.bytes(s[View.topic], s[View.topic + 1])).toString("utf8"),
      payload: Buffer.from(this.bytes(s[View.payload], s[View.payload + 1])),
      qos: s[View.qos],
      retain: s[View.retain] !== 0,
      dup: s[View.dup] !== 0,
      messageId: s[View.packetId],
    };
  }

  /** Queues a message; returns its packet id (0 for QoS 0). Throws ClientError (e.g. 25 OutboxFull). */
  publish(topic: string, payload: string | Uint8Array, qos: number, retain = false): number {
    const [tl, pl] = this.toScratch(Buffer.from(topic), typeof payload === "string" ? Buffer.from(payload) : payload);
    return this.check(this.ex.client_publish(tl, pl, qos, retain ? 1 : 0), "publish");
  }
  subscribe(filter: string, options: number): void {
    const [len] = this.toScratch(Buffer.from(filter));
    this.check(this.ex.client_subscribe(len, options), "subscribe");
  }
  unsubscribe(filter: string): void {
    const [len] = this.toScratch(Buffer.from(filter));
    this.check(this.ex.client_unsubscribe(len), "unsubscribe");
  }
}
