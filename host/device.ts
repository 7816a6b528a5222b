// A device on the module: JSON-RPC through rpc_handle, host methods through
// outpost.host_call, MQTT through the module's client (connect()).
// Async host methods: the import is synchronous, so a method that returns a
// promise answers "pending"; handleRpc awaits every pending answer and runs the
// same request through the module again, serving each host_call from the first
// pass's answers in order. Each host method runs exactly once per request.
import { defaultEngine, instantiate, type Build, type EngineName, type HostCallResult, type ModuleInstance } from "./engine.ts";
import { HostMethods, type Method } from "./device/methods.ts";
import { DeviceCore } from "./device/core.ts";
import { Ev } from "./abi-table.ts";
import { MqttClient, type CloseInfo, type ConnectOptions } from "./mqtt/client.ts";
import { ClientError } from "./mqtt/core.ts";
import { errCode, errName } from "./abi.ts";

export { RpcError, type Method, type MethodSpec, type MethodHandler } from "./device/methods.ts";

export interface DeviceLimits {
  /** Largest request in bytes (default 8192). */
  requestMax?: number;
  /** Response buffer in bytes (default 8192). */
  responseMax?: number;
  /** JSON tokens per request (default 512). */
  maxTokens?: number;
  /** JSON nesting depth (default 32). */
  maxDepth?: number;
}

export interface DeviceOptions {
  id: string;
  methods?: Record<string, Method>;
  engine?: EngineName;
  build?: Build;
  /** Initial config for config.get / config.set. */
  config?: Record<string, unknown>;
  /** Board name reported by sys.info (default "node"). */
  board?: string;
  /** The module's bytes (an OTA slot) instead of the build's file. */
  module?: Uint8Array;
  /** More members of sys.info's host part (the OTA agent's `app`, docs/ota.md). */
  info?: () => Record<string, unknown>;
  /** wasm3 only: linear memory cap in bytes. */
  memoryLimit?: number;
  limits?: DeviceLimits;
  /** Log lines: the module's (outpost.log), and the device's own about its connection (a refused login, a skipped message). */
  log?: (level: number, text: string) => void;
}

export interface DeviceConnectOptions {
  /** Defaults to the device id. */
  username?: string;
  password?: string | Uint8Array;
  /** Topic prefix (default "devices"). */
  prefix?: string;
  protocolVersion?: 4 | 5;
  /**
   * Start without the broker's session (default false: the session is kept, so QoS 1/2 requests published while
   * the device is briefly away wait in the broker and arrive after it reconnects).
   */
  clean?: boolean;
  /**
   * MQTT 5: seconds the broker keeps the session after the connection ends (default 3600 when the session is kept,
   * 0 with clean). MQTT 5 ends a session at disconnect when this is 0; 3.1.1 has no such field (the broker decides).
   */
  sessionExpiry?: number;
  /** Seconds (default DEFAULT_KEEPALIVE_S, 15; 0: off). */
  keepalive?: number;
  /** Publish sys.info on <prefix>/<id>/telemetry every this many ms (0: never). */
  telemetryMs?: number;
  reconnect?: ConnectOptions["reconnect"];
  timeoutMs?: number;
  seed?: number;
  /** Largest MQTT packet this device accepts, sent as the MQTT 5 CONNECT Maximum Packet Size (default: the request buffer + 1024). */
  maxPacketSize?: number;
  /** mqtts:// and wss://: CA, client certificate and key (a login without a password), server name. */
  tls?: ConnectOptions["tls"];
}

/** ws:// or wss://: JSON-RPC over WebSocket instead of MQTT. */
const isWebSocketUrl = (url: string) => url.startsWith("ws://") || url.startsWith("wss://");
/** The server as the module takes it (key 3: "host[:port][/path]"): TLS is below it, in the socket. */
function moduleWsUrl(url: string): string {
  const u = new URL(url);
  return `${u.host}${u.port ? "" : u.protocol === "wss:" ? ":443" : ""}${u.pathname}${u.search}`;
}

// One pass over a request: either recording host answers or replaying them.
interface Pass {
  answers: Array<HostCallResult | Promise<HostCallResult>>;
  replay: boolean;
  next: number;
}

/** EV_CLOSE errors that mean the broker refused the login (assembly/errors.ts), as a log line names them. */
const LOGIN_REFUSALS: Readonly<Record<number, string>> = { [errCode("BadCredentials")]: "bad credentials", [errCode("NotAuthorized")]: "not authorised" };
/**
 * A kept session's MQTT 5 Session Expiry Interval: an hour rides out reboots, Wi-Fi roaming and broker restarts,
 * yet a device that is gone for good does not hold queued requests in the broker for ever.
 */
export const DEFAULT_SESSION_EXPIRY = 3600;

/** Inbound QoS 2 messages tracked until PUBREL: 4x the backend's 256 pending calls per device, 2 KiB of memory. */
export const INBOUND_QOS2_SLOTS = 1024;
/**
 * Keep-alive in seconds (the module's own default is 60). The broker drops a silent connection after 1.5 times
 * this, so a link that died without a FIN leaves the device online for ~22 s rather than ~90 s.
 */
export const DEFAULT_KEEPALIVE_S = 15;

/** The module's millisecond clock input: wraps at 2^32 like a board's tick counter. */
export const nowMs = (): number => Math.floor(performance.now()) >>> 0;

export class Device {
  readonly id: string;
  readonly methods: HostMethods;
  protected readonly mod: ModuleInstance;
  private pass: Pass | undefined;
  private readonly reqPtr: number;
  private readonly reqCap: number;
  private readonly respPtr: number;
  private readonly respCap: number;
  private readonly log: (level: number, text: string) => void;
  /** The Maximum Packet Size of the MQTT connection, announced in sys.info. */
  private maxPacket: number | undefined;

  constructor(opts: DeviceOptions) {
    this.id = opts.id;
    this.log = opts.log ?? (() => {});
    const engine = opts.engine ?? defaultEngine(); // OUTPOST_ENGINE may choose wasm3
    const hostInfo = () => ({
      engine,
      board: opts.board ?? "node",
      memoryLimit: opts.memoryLimit ?? 2 ** 32,
      requestMax: this.reqCap,
      responseMax: this.respCap,
      maxPacket: this.maxPacket,
      extra: opts.info?.(),
    });
    this.methods = new HostMethods(opts.methods ?? {}, hostInfo, opts.config);
    this.mod = instantiate({
      build: opts.build,
      bytes: opts.module,
      engine,
      memoryLimit: opts.memoryLimit,
      imports: { log: this.log, hostCall: (m, p) => this.hostCall(m, p) },
    });
    const l = opts.limits ?? {};
    const x = this.mod.exports;
    this.respCap = Math.max(l.responseMax ?? 8192, 128); // the module's minimum
    this.reqCap = l.requestMax ?? 8192; // the request buffer's size is what rpc_init is given
    const rc = x.rpc_init(this.reqCap, this.respCap, l.maxTokens ?? 512, l.maxDepth ?? 32, nowMs());
    if (rc < 0) throw new Error(`rpc_init failed: ${rc}`);
    // rc is the address of u32 request buffer, u32 response buffer (assembly/ABI.md, "JSON-RPC").
    const info = new Uint32Array(this.mod.memory.buffer, rc, 2);
    this.reqPtr = info[0];
    this.respPtr = info[1];
  }

  private hostCall(method: string, params: string | null): HostCallResult {
    const pass = this.pass;
    if (!pass) return "not_found"; // the module asks only inside handleRpc, device_poll and device_resume
    if (pass.replay) {
      const answer = pass.answers[pass.next++];
      return answer && !(answer instanceof Promise) ? answer : { error: '{"code":-32603,"message":"Internal error"}' };
    }
    const answer = this.methods.call(method, params);
    pass.answers.push(answer);
    return answer instanceof Promise ? "pending" : answer;
  }

  private view: Buffer = Buffer.alloc(0);
  /** A Buffer over the module's memory, made again after the memory grew (memory.buffer is re-read on every use). */
  protected memoryView(): Buffer {
    const buffer = this.mod.memory.buffer;
    if (this.view.buffer !== buffer) this.view = Buffer.from(buffer);
    return this.view;
  }

  /** Copies the request into the module; returns its byte length (over the capacity: nothing copied). */
  protected writeRequest(request: string | Uint8Array): number {
    if (typeof request !== "string") {
      if (request.length <= this.reqCap) this.memoryView().set(request, this.reqPtr);
      return request.length;
    }
    // Up to 3 bytes per UTF-16 unit: only a long string needs measuring first.
    const len = request.length * 3 <= this.reqCap ? undefined : Buffer.byteLength(request);
    if (len !== undefined && len > this.reqCap) return len;
    return this.memoryView().write(request, this.reqPtr, this.reqCap, "utf8");
  }

  /** Runs the request (already in the module) once; returns the response text or null. */
  protected runOnce(len: number, pass: Pass): string | null {
    this.pass = pass;
    let out: number;
    try {
      out = this.mod.exports.rpc_handle(len, nowMs()); // over the capacity: answered "Request too large"
    } finally {
      this.pass = undefined;
    }
    if (out < 0) throw new Error(`rpc_handle failed: ${out}`);
    return out ? this.memoryView().toString("utf8", this.respPtr, this.respPtr + out) : null;
  }

  /** Dispatches one JSON-RPC request or batch; resolves to the response JSON, or null when none is due. */
  async handleRpc(request: string | Uint8Array): Promise<string | null> {
    const first = this.firstPass; // reused: most requests never wait
    first.answers.length = 0;
    const out = this.runOnce(this.writeRequest(request), first);
    if (!first.answers.some((a) => a instanceof Promise)) return out;
    const answers = await Promise.all(first.answers); // copies them out of the reused pass
    return this.runOnce(this.writeRequest(request), { answers, replay: true, next: 0 });
  }
  private readonly firstPass: Pass = { answers: [], replay: false, next: 0 };

  private client: MqttClient | undefined;
  private closed = false;
  /** device_init's block: EV_RPC_PENDING's arguments, the context buffer's address at +12. */
  private deviceEvent = 0;

  /**
   * Runs the device against a broker at mqtt://host:port: requests on
   * <prefix>/<id>/rx are answered by the module. Resolves on the first CONNACK;
   * reconnects by itself after that. A ws://host:port/path URL runs JSON-RPC over
   * WebSocket instead (Authorization: Bearer <username>:<password>); resolves on the upgrade.
   */
  async connect(urls: string | readonly string[], opts: DeviceConnectOptions = {}): Promise<void> {
    // Several URLs: the nodes of one fleet; a connection that fails or ends moves on to the next (mqtt/client.ts).
    const url = typeof urls === "string" ? urls : (urls[0] ?? "");
    if (this.client) throw new Error("this device is connected already (one MQTT client per module)");
    const clean = opts.clean ?? false;
    const sessionExpiry = opts.sessionExpiry ?? (clean ? 0 : DEFAULT_SESSION_EXPIRY);
    // The module takes a u32: anything else would wrap silently.
    if (!Number.isInteger(sessionExpiry) || sessionExpiry < 0 || sessionExpiry > 0xffffffff)
      throw new RangeError(`sessionExpiry must be whole seconds from 0 to 4294967295, not ${sessionExpiry}`);
    const core = new DeviceCore(this.mod, (now) => this.pollDevice(now));
    // Room for the largest request and response plus MQTT framing.
    const maxPacket = opts.maxPacketSize ?? this.reqCap + 1024;
    core.config("maxPacket", maxPacket);
    if (!isWebSocketUrl(url)) this.maxPacket = maxPacket;
    core.config("txBytes", this.respCap + 1024);
    // Requests come at QoS 2 and each holds an inbound slot (2 bytes) until its PUBREL; an MQTT 3.1.1 broker has
    // no receive maximum to keep to, so the table holds well over the calls the backend lets wait for one device.
    core.config("receiveMaximum", INBOUND_QOS2_SLOTS);
    const client = new MqttClient(
      {
        username: opts.username ?? this.id,
        password: opts.password,
        protocolVersion: opts.protocolVersion ?? 4,
        clean,
        properties: { sessionExpiryInterval: sessionExpiry },
        keepalive: opts.keepalive ?? DEFAULT_KEEPALIVE_S,
        reconnect: opts.reconnect,
        timeoutMs: opts.timeoutMs,
        seed: opts.seed,
        outboxBytes: 4 * (this.respCap + 1024),
        tls: opts.tls,
      },
      core,
    );
    client.on("close", (info: CloseInfo) => {
      const login = LOGIN_REFUSALS[info.error];
      if (login) this.log(3, `login refused: ${login} (${errName(info.error)}, reason code ${info.reasonCode}); retrying after the longest backoff`);
    });
    client.on("tooLarge", (topic: string, size: number) =>
      this.log(2, `skipped a ${size}-byte message on ${topic}: over the ${maxPacket}-byte packet limit (a request is answered "Request too large")`),
    );
    const x = this.mod.exports;
    const check = (r: number, what: string) => {
      if (r < 0) throw new ClientError(-r, what);
      return r;
    };
    this.deviceEvent = check(x.device_init(1024), "device init");
    const setString = (key: number, value: string) => {
      const bytes = Buffer.from(value, "utf8");
      if (bytes.length > core.scratchCapacity()) throw new ClientError(22, "device set (BufferFull)");
      core.toScratch(bytes);
      check(x.device_set(key, bytes.length), key === 1 ? "device id" : "topic prefix");
    };
    setString(1, this.id);
    if (opts.prefix !== undefined) setString(2, opts.prefix);
    if (isWebSocketUrl(url)) setString(3, moduleWsUrl(url)); // WebSocket instead of MQTT (assembly/ABI.md, "WebSocket")
    check(x.device_config(1, opts.telemetryMs ?? 0), "telemetry");
    this.client = client;
    await client.connect(urls);
  }

  /** The MQTT client once connect() was called (events: "connect", "close"). */
  get mqtt(): MqttClient | undefined {
    return this.client;
  }

  // device_poll once, recording host answers. A request left pending is copied
  // out (request and reply context) and finished by resume() when its answers settle.
  private pollDevice(now: number): number {
    const pass: Pass = { answers: [], replay: false, next: 0 };
    this.pass = pass;
    let code: number;
    try {
      code = this.mod.exports.device_poll(now >>> 0);
    } finally {
      this.pass = undefined;
    }
    if (code === Ev.rpcPending) {
      const view = this.memoryView();
      const event = this.deviceEvent;
      const reqLen = view.readUInt32LE(event);
      const ctxLen = view.readUInt32LE(event + 4);
      // One poll may answer several requests (and telemetry) before this one: its calls are the last.
      const calls = view.readUInt32LE(event + 8);
      const request = Buffer.from(view.subarray(this.reqPtr, this.reqPtr + reqLen));
      const contextPtr = view.readUInt32LE(event + 12);
      const context = Buffer.from(view.subarray(contextPtr, contextPtr + ctxLen));
      void this.resume(request, context, pass.answers.slice(pass.answers.length - calls));
    }
    return code;
  }

  private async resume(request: Buffer, context: Buffer, answers: Pass["answers"]): Promise<void> {
    const settled = await Promise.all(answers); // host answers never reject: errors are answers
    if (this.closed || !this.client) return;
    const x = this.mod.exports;
    const view = this.memoryView();
    view.set(request, this.reqPtr);
    view.set(context, view.readUInt32LE(this.deviceEvent + 12)); // the context buffer
    this.pass = { answers: settled, replay: true, next: 0 };
    try {
      x.device_resume(request.length, context.length, nowMs());
    } finally {
      this.pass = undefined;
    }
    this.client.drive();
  }

  /** Publishes the offline status, disconnects cleanly and stops reconnecting. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client?.end();
  }
}
