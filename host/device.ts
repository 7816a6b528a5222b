// A device on the module: JSON-RPC through rpc_handle, host methods through
// outpost.host_call, MQTT through the module's client (connect()).
// Async host methods: the import is synchronous, so a method that returns a
// promise answers "pending"; handleRpc awaits every pending answer and runs the
// same request through the module again, serving each host_call from the first
// pass's answers in order. Each host method runs exactly once per request.
import { defaultEngine, instantiate, type Build, type EngineName, type HostCallResult, type ModuleInstance } from "./engine.ts";
import { HostMethods, type Method } from "./device/methods.ts";
import { DeviceCore, EV_RPC_PENDING } from "./device/core.ts";
import { MqttClient, type ConnectOptions } from "./mqtt/client.ts";
import { ClientError } from "./mqtt/core.ts";

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
  /** wasm3 only: linear memory cap in bytes. */
  memoryLimit?: number;
  limits?: DeviceLimits;
  /** Log lines from the module. */
  log?: (level: number, text: string) => void;
}

export interface DeviceConnectOptions {
  /** Defaults to the device id. */
  username?: string;
  password?: string | Uint8Array;
  /** Topic prefix (default "devices"). */
  prefix?: string;
  protocolVersion?: 4 | 5;
  /** Seconds (default DEFAULT_KEEPALIVE_S, 15; 0: off). */
  keepalive?: number;
  /** Publish sys.info on <prefix>/<id>/telemetry every this many ms (0: never). */
  telemetryMs?: number;
  reconnect?: ConnectOptions["reconnect"];
  timeoutMs?: number;
  seed?: number;
}

// One pass over a request: either recording host answers or replaying them.
interface Pass {
  answers: Array<HostCallResult | Promise<HostCallResult>>;
  replay: boolean;
  next: number;
}

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

  constructor(opts: DeviceOptions) {
    this.id = opts.id;
    const engine = opts.engine ?? defaultEngine(); // OUTPOST_ENGINE may choose wasm3
    this.methods = new HostMethods(opts.methods ?? {}, () => ({ engine, board: opts.board ?? "node", memoryLimit: opts.memoryLimit ?? 2 ** 32 }), opts.config);
    this.mod = instantiate({
      build: opts.build,
      engine,
      memoryLimit: opts.memoryLimit,
      imports: { log: opts.log ?? (() => {}), hostCall: (m, p) => this.hostCall(m, p) },
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
  async connect(url: string, opts: DeviceConnectOptions = {}): Promise<void> {
    if (this.client) throw new Error("this device is connected already (one MQTT client per module)");
    const core = new DeviceCore(this.mod, (now) => this.pollDevice(now));
    // Room for the largest request and response plus MQTT framing.
    core.config("maxPacket", this.reqCap + 1024);
    core.config("txBytes", this.respCap + 1024);
    const client = new MqttClient(
      {
        username: opts.username ?? this.id,
        password: opts.password,
        protocolVersion: opts.protocolVersion ?? 4,
        keepalive: opts.keepalive ?? DEFAULT_KEEPALIVE_S,
        reconnect: opts.reconnect,
        timeoutMs: opts.timeoutMs,
        seed: opts.seed,
        outboxBytes: 4 * (this.respCap + 1024),
      },
      core,
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
    if (url.startsWith("ws://")) setString(3, url); // WebSocket instead of MQTT (assembly/ABI.md, "WebSocket")
    check(x.device_config(1, opts.telemetryMs ?? 0), "telemetry");
    this.client = client;
    await client.connect(url);
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
    if (code === EV_RPC_PENDING) {
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
