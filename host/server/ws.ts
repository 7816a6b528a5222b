// The WebSocket gateway: devices that dial in over WebSocket (GET /api/v1/devices/ws) instead of MQTT.
// Each connection is bridged into the same topic space as an MQTT device: the gateway subscribes the device's
// <prefix>/<id>/rx on the bus while it holds the device (so no other rx traffic reaches it) and sends its messages
// as text frames, and publishes what the device sends
// to its own tx (responses), telemetry (notifications) and status. So the REST RPC path, the correlator and
// presence do not know which transport a device uses, and an external broker can carry the traffic
// between backend processes. Requests the device itself makes (e.g. time.get) are answered here.
import { randomBytes } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { Logger } from "pino";
import { WebSocketServer, type WebSocket } from "ws";
import { WS_CLOSE_REMOVED as CLOSE_REMOVED, WS_CLOSE_REPLACED as CLOSE_REPLACED } from "../abi.ts";
import { deviceTopics } from "../broker/acl.ts";
import { isValidDeviceId, type Registry } from "../registry/registry.ts";
import { LOGIN_REFUSALS, type LoginRefusal } from "../registry/login-refusals.ts";
import { digest } from "../registry/secrets.ts";
import type { Bus, BusMessage, Unsubscribe } from "../rpc/bus.ts";
import type { PresenceTracker } from "../rpc/presence.ts";
import { JsonTooDeep, parseBoundedJson } from "../rpc/json-bounds.ts";
import { callerKey, principalOf } from "./auth.ts";
import { HttpError } from "./errors.ts";
import { StreamQuota } from "./stream-quota.ts";
import { DEFAULT_OUTBOUND_LIMITS, type OutboundLimits } from "../rpc/outbound.ts";
import { DEFAULT_FRAME_RATE, FrameBucket, type FrameRate } from "./frame-rate.ts";
import type { CertCheck } from "../tls/device-identity.ts";

export const WS_PATH = "/api/v1/devices/ws";
/** RFC 6455 policy violation: the close code for a device over its frame rate. */
export const CLOSE_RATE_LIMITED = 1008;
export const DEFAULT_HEARTBEAT_MS = 15_000;
export { WS_CLOSE_REPLACED as CLOSE_REPLACED, WS_CLOSE_REMOVED as CLOSE_REMOVED } from "../abi.ts";

export interface GatewayOptions {
  registry: Registry;
  presence: PresenceTracker;
  bus: Bus;
  prefix: string;
  logger: Logger;
  /** Ping every this many ms; a device that has not answered the previous ping by then is dropped (default 15000). */
  heartbeatMs?: number;
  /** Largest message a device may send (default 64 KiB, the REST body limit). */
  maxPayload?: number;
  /** Open event streams (GET /devices/:id/events) per API key (default 16); one more is a 429. */
  maxStreamsPerKey?: number;
  /** Frames a connection may send (default DEFAULT_FRAME_RATE); over it, it is closed with 1008. */
  frameRate?: FrameRate;
  /** What may wait for one connection's socket (default DEFAULT_OUTBOUND_LIMITS); past it, calls get device_busy. */
  outbound?: OutboundLimits;
  /**
   * A device connected here: its connection over any other transport must go (one id, one live connection). The
   * device counts as online here once that is done (a promise), so the old connection's will comes before.
   */
  onDeviceConnected?(id: string): Promise<void> | void;
  /**
   * Over wss:// without a token: whether the connection's client certificate may act as `claimed` (?device=, if
   * given). Absent: certificates are not accepted.
   */
  checkCertificate?(socket: unknown, claimed: string | undefined): CertCheck;
  /** Whether a certificate a device connected with (its fingerprint) is still pinned for it. */
  certStillValid?(id: string, fingerprint: string): boolean;
  /** Checks a device's password (default: the registry's; the backend adds previous passwords in their grace). */
  verifyDevice?(id: string, credential: string): Promise<boolean>;
  /** Whether a connection's password (its digest) is still valid (default: the registry's stillValid). */
  stillValid?(id: string, credentialDigest: Buffer): boolean;
  /** A device's upgrade was refused, with a named reason (registry/login-refusals.ts); the audit log records it too. */
  onLoginRefused?(id: string | undefined, reason: LoginRefusal, message: string): void;
}

/** A device-initiated JSON-RPC method the backend answers. Throwing gives a -32603 error. */
type BackendMethod = (params: unknown) => unknown;
const BACKEND_METHODS: Record<string, BackendMethod> = {
  "time.get": () => {
    const now = Date.now();
    return { unix_ms: now, iso: new Date(now).toISOString() };
  },
};

const invalidRequest = { jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request" }, id: null } as const;

/** A refused upgrade: its HTTP status is the reason's (LOGIN_REFUSALS). */
export class AuthRefused extends Error {
  override name = "AuthRefused";
  readonly status: 401 | 403 | 500;
  constructor(
    readonly reason: LoginRefusal,
    message: string,
    /** The device id it claimed, once known (for the audit log). */
    readonly device?: string,
  ) {
    super(message);
    this.status = LOGIN_REFUSALS[reason].http;
  }
}

/**
 * The device's claim: `Authorization: Bearer <id>:<credential>`, or, for stacks that cannot set headers,
 * `?access_token=<id>:<credential>` (RFC 6750 section 2.3). The credential only verifies against that id's
 * hash, so a device cannot claim another id.
 */
export function deviceClaim(req: Pick<IncomingMessage, "headers" | "url">): { id: string; credential: string } {
  const header = req.headers.authorization;
  let token: string | null;
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw new AuthRefused("CredentialMalformed", "Authorization header must be: Bearer <device id>:<credential>");
    token = m[1];
  } else token = new URL(req.url ?? "/", "http://x").searchParams.get("access_token");
  if (!token) throw new AuthRefused("CredentialMissing", "Authorization: Bearer <device id>:<credential> (or ?access_token=) required");
  const colon = token.indexOf(":");
  if (colon <= 0) throw new AuthRefused("CredentialMalformed", "the token must be <device id>:<credential>");
  return { id: token.slice(0, colon), credential: token.slice(colon + 1) };
}

interface Connection {
  ws: WebSocket;
  alive: boolean;
  frames: FrameBucket;
  /** Requests sent and not yet written to the socket. */
  sending: number;
  /** Closed for its frame rate: what it still sends is not read. */
  limited: boolean;
  /** Digest of the credential it logged in with, checked again when the registry's credentials change. */
  credential: Buffer;
  /** Or the fingerprint of the client certificate it logged in with. */
  certificate?: string;
}

type EventListener = (event: string, data: string) => void;

export class WsGateway {
  private readonly wss: WebSocketServer;
  private readonly conns = new Map<string, Connection>();
  /** The rx subscription of each device held here; a replacing connection keeps its predecessor's. */
  private readonly rxSubscriptions = new Map<string, Promise<Unsubscribe>>();
  private readonly listeners = new Map<string, Set<EventListener>>();
  private readonly streams = new Set<ServerResponse>();
  private readonly streamQuota: StreamQuota;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly depth: number;
  private server: Server | undefined;
  private readonly frameRate: FrameRate;
  private readonly outbound: OutboundLimits;
  /** Marks the statuses this gateway publishes, to tell them from those of the device's other connections. */
  private readonly tag = randomBytes(6).toString("hex");

  constructor(private readonly opts: GatewayOptions) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload ?? 64 * 1024 });
    this.depth = opts.prefix.split("/").length;
    this.streamQuota = new StreamQuota(opts.maxStreamsPerKey);
    this.frameRate = opts.frameRate ?? DEFAULT_FRAME_RATE;
    this.outbound = opts.outbound ?? DEFAULT_OUTBOUND_LIMITS;
    this.heartbeat = setInterval(() => this.beat(), opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.heartbeat.unref();
    // A suspect device held here is asked at once: its pong clears it, long before the next heartbeat.
    opts.presence.onSuspect((id) => {
      const conn = this.conns.get(id);
      if (conn && conn.ws.readyState === conn.ws.OPEN) conn.ws.ping();
    });
  }

  /**
   * Takes the upgrades on WS_PATH, documents the path (a plain GET gets 426), and subscribes to telemetry (for
   * event streams). Call before the app listens.
   */
  async start(app: FastifyInstance): Promise<void> {
    this.attach(app.server);
    app.get(
      WS_PATH,
      {
        schema: {
          summary: "WebSocket for devices: JSON-RPC in text frames (upgrade only)",
          description:
            "Devices dial in here instead of MQTT. `Authorization: Bearer <device id>:<credential>` (or `?access_token=<device id>:<credential>`); " +
            "401 without or with a malformed one, 403 for a wrong one, both before the upgrade. One connection per device id (a new one closes the " +
            "old with 4000); pings every 15 s. Over 100 frames/s (burst 200; answers to the backend's requests are free) it is closed with 1008. Requests for the device arrive as text frames; its responses, notifications (`telemetry`) and " +
            "requests (`time.get`) go back the same way. A GET that does not ask for the upgrade gets 426.",
          security: [],
          response: { 426: { type: "object", properties: { error: { type: "string" }, message: { type: "string" } } } },
        },
      },
      async (_req, reply) =>
        reply.code(426).header("upgrade", "websocket").send({ error: "upgrade_required", message: "this path only takes WebSocket upgrades" }),
    );
    await this.opts.bus.subscribe([`${this.opts.prefix}/+/telemetry`], (msg) => this.onTelemetry(msg));
  }

  /** Takes the upgrades of one more server (the plaintext one beside HTTPS, when asked for). */
  attach(server: Server): void {
    this.server ??= server;
    server.on("upgrade", this.onUpgrade);
  }

  /** Whether the device is connected to this process over WebSocket. */
  has(id: string): boolean {
    return this.conns.has(id);
  }

  /** Whether the device's connection has as much queued as it may (it does not read): calls to it are refused. */
  busy(id: string): boolean {
    const conn = this.conns.get(id);
    return conn !== undefined && this.full(conn);
  }

  private full(conn: Connection): boolean {
    return conn.ws.bufferedAmount >= this.outbound.maxBytes || conn.sending >= this.outbound.maxMessages;
  }

  get connections(): number {
    return this.conns.size;
  }

  /** Drops a device's connection (it was deleted). */
  disconnect(id: string): void {
    this.conns.get(id)?.ws.close(CLOSE_REMOVED, "device removed");
  }

  /** Drops every connection whose credential is no longer the registry's (removed or re-credited, by any process). */
  revalidate(): void {
    for (const [id, conn] of this.conns) {
      const valid =
        conn.certificate !== undefined
          ? (this.opts.certStillValid?.(id, conn.certificate) ?? true)
          : (this.opts.stillValid ?? ((i, d) => this.opts.registry.stillValid(i, d)))(id, conn.credential);
      if (!valid) conn.ws.close(CLOSE_REMOVED, "device removed or given a new credential");
    }
  }

  /**
   * The device connected over another transport (MQTT): its connection here goes at once, as if replaced by a
   * newer one here, without an offline status (the newer connection owns the device's status now).
   */
  replacedElsewhere(id: string): void {
    const conn = this.conns.get(id);
    if (!conn) return;
    this.release(id);
    conn.ws.close(CLOSE_REPLACED, "replaced by a newer connection");
  }

  /**
   * A device's status, as every backend on the broker sees it: an online one that is not this gateway's own means
   * the device has connected somewhere else since (over MQTT, or to another backend's gateway), so its connection
   * here is the older one and goes. Needed with an external broker, whose logins the backend does not see.
   */
  onStatus(id: string, payload: Buffer): void {
    if (!this.conns.has(id)) return;
    let status: { online?: unknown; gateway?: unknown };
    try {
      status = JSON.parse(payload.toString("utf8"));
    } catch {
      return;
    }
    if (status?.online === true && status.gateway !== this.tag) this.replacedElsewhere(id);
  }

  /** Forgets the device's connection here and ends the rx subscription it held. */
  private release(id: string): void {
    this.conns.delete(id);
    const rx = this.rxSubscriptions.get(id);
    this.rxSubscriptions.delete(id);
    rx?.then((unsubscribe) => unsubscribe()).catch(() => {}); // a failed subscription has nothing to end
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on("error", () => {});
    if (new URL(req.url ?? "/", "http://x").pathname !== WS_PATH) {
      // Another listener's, if there is one; else nobody would ever answer it.
      if ((this.server?.listenerCount("upgrade") ?? 1) <= 1) socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    void this.authenticate(req).then(
      ({ id, credential, certificate }) =>
        this.wss.handleUpgrade(req, socket, head, (ws) =>
          this.onConnection(Object.assign(ws, { peer: req.socket.remoteAddress }), id, credential, certificate),
        ),
      (err: Error) => {
        const refused = err instanceof AuthRefused ? err : new AuthRefused("CredentialCheckFailed", "credential check failed");
        if (!(err instanceof AuthRefused)) this.opts.logger.error({ err }, "websocket upgrade failed");
        const { status, reason, device } = refused;
        this.opts.onLoginRefused?.(device, reason, refused.message);
        this.opts.registry.audit.record({
          kind: "login_refused",
          actor: device ?? null,
          actor_kind: "device",
          device: device ?? null,
          outcome: reason,
          peer: req.socket.remoteAddress,
          detail: "ws",
        });
        const body = JSON.stringify({
          error: status === 401 ? "unauthorized" : status === 403 ? "forbidden" : "internal_error",
          reason,
          message: refused.message,
        });
        const statusText = status === 401 ? "Unauthorized" : status === 403 ? "Forbidden" : "Internal Server Error";
        socket.end(
          `HTTP/1.1 ${status} ${statusText}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
            (status === 401 ? 'WWW-Authenticate: Bearer realm="outpost devices"\r\n' : "") +
            `Connection: close\r\n\r\n${body}`,
        );
      },
    );
  };

  private async authenticate(req: IncomingMessage): Promise<{ id: string; credential: Buffer; certificate?: string }> {
    const check = this.opts.checkCertificate;
    if (check && req.headers.authorization === undefined && !new URL(req.url ?? "/", "http://x").searchParams.has("access_token"))
      return this.certificateLogin(req, check);
    const { id, credential } = deviceClaim(req);
    if (!isValidDeviceId(id)) throw new AuthRefused("InvalidDeviceId", "invalid device id", id);
    const verify = this.opts.verifyDevice ?? ((i: string, c: string) => this.opts.registry.verifyDevice(i, c));
    const ok = await verify(id, credential).catch((err: Error) => {
      this.opts.logger.error({ err, device: id }, "cannot check a websocket device's credential");
      throw new AuthRefused("CredentialCheckFailed", "credential check failed", id);
    });
    if (!ok) throw new AuthRefused("BadCredential", "device credential not valid", id);
    return { id, credential: digest(credential) };
  }

  /** No token: the client certificate names the device (?device=<id>, if given, must be the same). */
  private certificateLogin(req: IncomingMessage, check: NonNullable<GatewayOptions["checkCertificate"]>) {
    const claimed = new URL(req.url ?? "/", "http://x").searchParams.get("device") ?? undefined;
    const result = check(req.socket, claimed);
    if (!result.ok) throw new AuthRefused(result.reason, `${result.reason}: ${result.message}`, result.id);
    return { id: result.id, credential: Buffer.alloc(0), certificate: result.fingerprint };
  }

  private onConnection(ws: WebSocket & { peer?: string }, id: string, credential: Buffer, certificate?: string): void {
    const topics = deviceTopics(this.opts.prefix, id);
    const old = this.conns.get(id);
    const conn: Connection = { ws, alive: true, frames: new FrameBucket(this.frameRate), sending: 0, limited: false, credential, certificate };
    this.conns.set(id, conn); // before closing the old one: its close must not take the device offline
    old?.ws.close(CLOSE_REPLACED, "replaced by a newer connection");
    const othersGone = Promise.resolve(this.opts.onDeviceConnected?.(id)).catch((err: Error) =>
      this.opts.logger.warn({ id, err: err.message }, "cannot close a websocket device's other connection"),
    ); // its connection over MQTT, if it has one
    let rx = this.rxSubscriptions.get(id);
    if (!rx) {
      rx = this.opts.bus.subscribe([topics.rx], (msg) => {
        const current = this.conns.get(id);
        // A full connection takes nothing more, whoever published (the correlator refuses its calls before this).
        if (!current || current.ws.readyState !== current.ws.OPEN || this.full(current)) return;
        current.sending++;
        current.frames.owe(); // the device's answer is paid for
        current.ws.send(msg.payload, { binary: false }, () => current.sending--);
      });
      this.rxSubscriptions.set(id, rx);
    }
    // Online once requests can reach it (and no longer its older connection).
    Promise.all([rx, othersGone]).then(
      () => {
        if (this.conns.get(id) !== conn) return; // closed or replaced meanwhile
        this.opts.presence.set(id, true, "ws");
        this.opts.bus.publish(topics.status, JSON.stringify({ online: true, transport: "ws", gateway: this.tag }), { retain: true });
        this.opts.logger.info({ id, replaced: old !== undefined }, "websocket device connected");
        this.opts.registry.audit.record({ kind: "connect", actor: id, actor_kind: "device", device: id, outcome: "ok", peer: ws.peer, detail: "ws" });
      },
      (err: Error) => {
        // Requests could never reach it: the device reconnects and tries again.
        this.opts.logger.warn({ id, err: err.message }, "cannot subscribe a websocket device's rx");
        if (this.conns.get(id) === conn) ws.close(1011, "backend cannot subscribe rx");
      },
    );
    ws.on("pong", () => {
      conn.alive = true;
      this.opts.presence.heard(id);
    });
    ws.on("message", (data) => {
      if (conn.limited) return;
      if (this.conns.get(id) !== conn) return; // replaced (here or over MQTT): what it still sends is stale
      if (!conn.frames.take()) return this.rateLimited(id, conn);
      conn.alive = true;
      this.fromDevice(id, ws, String(data)); // binary frames are taken as UTF-8 text too
    });
    ws.on("error", () => {}); // "close" follows
    ws.on("close", (code) => {
      if (this.conns.get(id) !== conn) return; // replaced: the new connection owns the device now
      this.release(id);
      this.opts.registry.audit.record({
        kind: "disconnect",
        actor: id,
        actor_kind: "device",
        device: id,
        outcome: `close_${code}`,
        peer: ws.peer,
        detail: "ws",
      });
      if (!this.opts.registry.hasDevice(id)) return; // deleted: its status is cleared already
      this.opts.presence.set(id, false, "ws");
      this.opts.bus.publish(topics.status, JSON.stringify({ online: false, transport: "ws" }), { retain: true });
      this.opts.logger.info({ id, code }, "websocket device disconnected");
    });
  }

  /** Over its frame rate: closed with 1008 and a reason naming it; what is still in flight is dropped unread. */
  private rateLimited(id: string, conn: Connection): void {
    conn.limited = true;
    const { perSecond, burst } = this.frameRate;
    this.opts.logger.warn({ id, perSecond, burst }, "websocket device over its frame rate; closing");
    conn.ws.close(CLOSE_RATE_LIMITED, `rate_limited: over ${perSecond} frames/s (burst ${burst})`);
    conn.ws.pause(); // no more reading: the flood stays in the kernel until the socket goes
    setTimeout(() => conn.ws.terminate(), 1000).unref(); // the close handshake's reply is not read either
  }

  /** A text frame from a device: a response (to tx), a notification (to telemetry) or a request (answered here). */
  private fromDevice(id: string, ws: WebSocket, text: string): void {
    const topics = deviceTopics(this.opts.prefix, id);
    // The hot path: a response as the module writes it (members in this order) goes to tx unparsed; the correlator parses it.
    if (text.startsWith('{"jsonrpc":"2.0","result"') || text.startsWith('{"jsonrpc":"2.0","error"')) return this.opts.bus.publish(topics.tx, text);
    let msg: unknown;
    try {
      msg = parseBoundedJson(text); // answers and batches are written again below: never deeper than that can be
    } catch (err) {
      const data = err instanceof JsonTooDeep ? { name: err.name, message: err.message } : undefined;
      ws.send(JSON.stringify({ jsonrpc: "2.0", error: { code: -32700, message: "Parse error", data }, id: null }));
      return;
    }
    if (Array.isArray(msg)) {
      // A batch of the device's own requests and notifications (the backend never sends batches, so no responses).
      const answers = msg.map((m) => this.handle(id, m, JSON.stringify(m))).filter((a) => a !== undefined);
      if (msg.length === 0) ws.send(JSON.stringify(invalidRequest));
      else if (answers.length) ws.send(JSON.stringify(answers));
      return;
    }
    const answer = this.handle(id, msg, text);
    if (answer) ws.send(JSON.stringify(answer));
  }

  /** One message from the device; returns the answer it is due, if any. */
  private handle(id: string, msg: unknown, text: string): object | undefined {
    const topics = deviceTopics(this.opts.prefix, id);
    const m = msg as { method?: unknown; id?: unknown; params?: unknown; result?: unknown; error?: unknown };
    if (!m || typeof m !== "object" || Array.isArray(m)) return invalidRequest;
    if (typeof m.method !== "string") {
      if ("result" in m || "error" in m)
        this.opts.bus.publish(topics.tx, text); // a response: the correlator matches it
      else return invalidRequest;
      return undefined;
    }
    if (!("id" in m)) {
      // Telemetry's payload is its params, as an MQTT device publishes it; other notifications go whole.
      this.opts.bus.publish(topics.telemetry, m.method === "telemetry" ? JSON.stringify(m.params ?? null) : text);
      return undefined;
    }
    const method = Object.hasOwn(BACKEND_METHODS, m.method) ? BACKEND_METHODS[m.method] : undefined;
    let answer: object;
    if (!method) answer = { error: { code: -32601, message: "Method not found" } };
    else {
      try {
        answer = { result: method(m.params) ?? null };
      } catch (err) {
        answer = { error: { code: -32603, message: "Internal error", data: String((err as Error).message) } };
      }
    }
    return { jsonrpc: "2.0", ...answer, id: m.id };
  }

  private onTelemetry(msg: BusMessage): void {
    if (this.listeners.size === 0) return;
    const levels = msg.topic.split("/");
    if (levels.length !== this.depth + 2) return;
    const listeners = this.listeners.get(levels[this.depth]);
    if (!listeners?.size) return;
    const text = msg.payload.toString("utf8");
    let event = "telemetry";
    let data = text;
    try {
      const n = JSON.parse(text) as { jsonrpc?: unknown; method?: unknown; params?: unknown };
      if (n && n.jsonrpc === "2.0" && typeof n.method === "string" && n.method !== "telemetry") {
        event = n.method;
        data = JSON.stringify(n.params ?? null);
      }
    } catch {
      // not JSON: passed on as it came
    }
    for (const l of listeners) l(event, data);
  }

  /** An event of the backend's own on the device's event stream (`event: ota` for updates). */
  emit(id: string, event: string, data: unknown): void {
    const listeners = this.listeners.get(id);
    if (!listeners?.size) return;
    const text = JSON.stringify(data);
    for (const l of listeners) l(event, text);
  }

  /** Server-sent events for one device: its telemetry and other notifications. */
  stream(id: string, reply: FastifyReply): void {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive" });
    res.write(": connected\n\n");
    // An event name is one line; data may hold newlines only as separate data: lines.
    const listener: EventListener = (event, data) =>
      res.write(
        `event: ${event.replace(/[\r\n]/g, " ")}\n${data
          .split(/\r?\n/)
          .map((l) => `data: ${l}\n`)
          .join("")}\n`,
      );
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(listener);
    this.streams.add(res);
    res.on("close", () => {
      this.streams.delete(res);
      set.delete(listener);
      if (!set.size) this.listeners.delete(id);
    });
  }

  /** The REST side: GET /devices/:id/events, registered inside the API-key-protected /api/v1 scope. */
  routes(api: FastifyInstance, known: (id: string) => unknown): void {
    api.get<{ Params: { id: string } }>(
      "/devices/:id/events",
      {
        config: { scope: "read" },
        schema: {
          summary: "Server-sent events from a device: telemetry and other notifications",
          description:
            "text/event-stream. `event: telemetry` with the sys.info object as data (MQTT and WebSocket devices); " +
            "a WebSocket device's other JSON-RPC notifications as `event: <method>` with their params.",
          params: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
          response: {
            429: {
              type: "object",
              properties: { error: { type: "string" }, message: { type: "string" }, limit: { type: "integer" } },
              required: ["error", "message"],
            },
          },
        },
      },
      async (req, reply) => {
        known(req.params.id);
        const key = callerKey(principalOf(req)); // a key, a token subject or a session: each has its own quota
        if (!this.streamQuota.take(key)) {
          const n = this.streamQuota.perKey;
          throw new HttpError(429, "too_many_streams", `this caller has ${n} event streams open, the most allowed; close one first`, { limit: n });
        }
        reply.raw.once("close", () => this.streamQuota.release(key));
        this.stream(req.params.id, reply);
      },
    );
  }

  private beat(): void {
    for (const [, conn] of this.conns) {
      if (!conn.alive) {
        conn.ws.terminate(); // no pong since the last beat
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.server?.off("upgrade", this.onUpgrade);
    for (const res of this.streams) res.end();
    // Close handshakes get a moment; then the sockets go, or the HTTP server would wait for them.
    const closing = [...this.conns.values()].map(
      ({ ws }) =>
        new Promise<void>((resolve) => {
          ws.once("close", () => resolve());
          ws.close(1001, "backend shutting down");
          setTimeout(() => {
            ws.terminate();
            resolve();
          }, 1000).unref();
        }),
    );
    await Promise.all(closing);
    this.wss.close();
  }
}
