// The HTTP side: REST under /api/v1 (bearer API keys), /metrics, /openapi.json and /docs.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { Logger } from "pino";
import { DeviceExists, InvalidDeviceId, isApiKeyShaped, type DeviceLimits, type DeviceRecord, type Registry } from "../registry/registry.ts";
import { DeviceOffline, RequestTooLarge, type JsonRpcId, type RpcCorrelator } from "../rpc/correlator.ts";
import { deliveryErrorBody, rpcFailure } from "../rpc/delivery.ts";
import { IdempotencyKeyInvalid, IdempotencyKeyReused, IdempotencyStore, type Outcome } from "../rpc/idempotency.ts";
import type { PresenceTracker } from "../rpc/presence.ts";
import { recordRoutes } from "./allowed-methods.ts";
import { HttpError, errorAnswer, errorBody, schemaErrorMessage } from "./errors.ts";
import { jsonBodiesOnly } from "./json-body.ts";
import type { Metrics } from "./metrics.ts";

export { HttpError } from "./errors.ts";

export const DEFAULT_TIMEOUT_MS = 5000;
export const MAX_TIMEOUT_MS = 300_000;
/** Devices have small bounded buffers; a bigger request could never be delivered. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;
const KEY_RECHECK_MS = 1000;
/** The rpc duration metric's outcome for each refusal (the rest are timeouts). */
const OUTCOMES: Record<string, "offline" | "busy" | "suspect"> = { device_offline: "offline", device_busy: "busy", device_suspect: "suspect" };

export interface AppDeps {
  registry: Registry;
  presence: PresenceTracker;
  correlator: RpcCorrelator;
  metrics: Metrics;
  logger: Logger;
  /** Drops a deleted device's connection and kept session, and clears its retained status. */
  disconnectDevice(id: string): Promise<void>;
  /** More routes inside the API-key-protected /api/v1 scope (the WebSocket gateway's event streams); `known` 404s unknown ids. */
  moreRoutes?(api: FastifyInstance, known: (id: string) => DeviceRecord): void;
  /** A sys.info answer came back through REST: the device's announced limits may be in it. */
  onSysInfo?(id: string, answer: string): void;
  bodyLimit?: number;
  logRequests?: boolean;
}

const deviceView = {
  type: "object",
  properties: {
    id: { type: "string" },
    online: { type: "boolean" },
    suspect: { type: "boolean", description: "online, but its last call went unanswered and nothing was heard from it since" },
    transport: { type: ["string", "null"] },
    last_seen: { type: ["string", "null"], format: "date-time" },
    connected_since: { type: ["string", "null"], format: "date-time" },
    metadata: { type: "object", additionalProperties: true },
    limits: {
      type: "object",
      description: "What the device takes, in bytes, as it announced (sys.info) or as declared at creation; null: not known",
      properties: { request_max: { type: ["integer", "null"] }, response_max: { type: ["integer", "null"] }, max_packet: { type: ["integer", "null"] } },
    },
  },
} as const;

const idParam = { type: "object", properties: { id: { type: "string" } }, required: ["id"] } as const;
// A string, parsed by timeoutOf: no coercion anywhere (it would turn "1e309" into Infinity, or 5 into "5").
const timeoutQuery = {
  type: "object",
  properties: { timeout_ms: { type: "string", description: `whole milliseconds, 1 to ${MAX_TIMEOUT_MS} (default ${DEFAULT_TIMEOUT_MS})` } },
} as const;
const TIMEOUT_DIGITS = /^[0-9]{1,6}$/;

/** timeout_ms as a whole number of milliseconds in 1..MAX_TIMEOUT_MS, or a 400 that says so. */
function timeoutOf(req: FastifyRequest): number {
  const raw = (req.query as { timeout_ms?: string }).timeout_ms;
  if (raw === undefined) return DEFAULT_TIMEOUT_MS;
  const ms = TIMEOUT_DIGITS.test(raw) ? Number(raw) : Number.NaN;
  if (!(ms >= 1 && ms <= MAX_TIMEOUT_MS))
    throw new HttpError(400, "bad_timeout", `timeout_ms must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}, not ${JSON.stringify(raw)}`);
  return ms;
}

/** A 413 for a request over the device's own limit: how big it was and the device's maximum. */
const requestTooLargeBody = {
  type: "object",
  properties: { ...errorBody.properties, request_bytes: { type: "integer" }, device_max: { type: "integer" } },
  required: errorBody.required,
} as const;
const rpcErrors = {
  400: errorBody,
  401: errorBody,
  403: errorBody,
  404: errorBody,
  413: requestTooLargeBody,
  415: errorBody,
  422: errorBody,
  503: deliveryErrorBody,
  504: deliveryErrorBody,
};

function iso(ms: number | null | undefined): string | null {
  return ms == null ? null : new Date(ms).toISOString();
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { registry, presence, correlator, metrics } = deps;
  const idempotency = new IdempotencyStore();
  const bodyLimit = deps.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit,
    logController: new LogController({ disableRequestLogging: !deps.logRequests }),
    // No coercion: {"id": true} or {"method": 5} is a 400, not the string "true" or "5".
    ajv: { customOptions: { coerceTypes: false, allowUnionTypes: true } },
    schemaErrorFormatter: (errors, part) => schemaErrorMessage(errors, part),
  });
  jsonBodiesOnly(app);
  const allowedMethods = recordRoutes(app);

  app.setErrorHandler((err: Error, req, reply) => {
    const { status, body } = errorAnswer(err, bodyLimit);
    if (status >= 500) req.log.error({ err }, "request failed");
    if (status === 401) reply.header("www-authenticate", 'Bearer realm="outpost"'); // RFC 6750
    reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split("?")[0];
    const allowed = allowedMethods(path);
    if (allowed.length === 0)
      return reply.code(404).send({ error: "not_found", message: `no route ${req.method} ${path}; the API is under /api/v1, described at /docs` });
    reply
      .code(405)
      .header("allow", allowed.join(", "))
      .send({ error: "method_not_allowed", message: `${req.method} is not allowed on ${path}; use ${allowed.join(", ")}` });
  });
  // Callback-style hooks on the hot path: an async hook costs a promise per request.
  app.addHook("onResponse", (req, reply, done) => {
    metrics.countRequest(req.method, req.routeOptions.url ?? "unmatched", reply.statusCode);
    done();
  });

  await app.register(swagger, {
    openapi: {
      info: { title: "outpost", version: "1", description: "REST in, JSON-RPC out: call devices behind NAT." },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "an API key from `outpost key create`" } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  app.get("/metrics", { schema: { hide: true } }, async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  await app.register(
    async (api) => {
      // onRequest runs before the body is read: an unauthenticated caller learns nothing about size or devices.
      // A keep-alive connection that showed a valid key a moment ago is not checked again for the same header
      // (at most as stale as the registry's own cache).
      const verifiedOn = new WeakMap<object, { header: string; at: number }>();
      api.addHook("onRequest", (req: FastifyRequest, _reply, done) => {
        const header = req.headers.authorization;
        if (!header) return done(new HttpError(401, "unauthorized", "Authorization: Bearer <api key> required"));
        const now = Date.now();
        const seen = verifiedOn.get(req.raw.socket);
        if (seen && seen.header === header && now - seen.at < KEY_RECHECK_MS) return done();
        const m = /^Bearer\s+(\S+)$/i.exec(header);
        if (!m) return done(new HttpError(401, "unauthorized", "Authorization header must be: Bearer <api key>"));
        // Not a key at all (a typo, another service's token): 401. A key of the right form we do not know: 403.
        if (!isApiKeyShaped(m[1])) return done(new HttpError(401, "unauthorized", "the API key is malformed: expected opk_<16 hex digits>_<secret>"));
        registry.verifyApiKey(m[1]).then(
          (ok) => {
            if (!ok) return done(new HttpError(403, "forbidden", "API key not valid (unknown or revoked): create one with `outpost key create`"));
            verifiedOn.set(req.raw.socket, { header, at: now });
            done();
          },
          (err: Error) => done(err),
        );
      });

      const view = (d: DeviceRecord) => {
        const p = presence.get(d.id);
        return {
          id: d.id,
          online: p?.online ?? false,
          suspect: presence.isSuspect(d.id),
          transport: p?.transport ?? d.transport,
          last_seen: iso(p?.last_seen ?? d.last_seen),
          connected_since: iso(p ? p.connected_since : d.connected_since),
          metadata: d.metadata,
          limits: d.limits,
        };
      };
      const known = (id: string) => {
        const d = registry.getDevice(id);
        if (!d) throw new HttpError(404, "unknown_device", `no device ${id}`);
        return d;
      };

      api.get("/devices", { schema: { summary: "List devices", response: { 200: { type: "array", items: deviceView } } } }, async () =>
        registry.listDevices().map(view),
      );

      const byteCount = { type: "integer", minimum: 1, maximum: 2 ** 28 }; // MQTT's largest packet is 256 MiB
      api.post<{ Body: { id: string; metadata?: Record<string, unknown>; limits?: Partial<DeviceLimits> } }>(
        "/devices",
        {
          schema: {
            summary: "Create a device; its credential is returned once",
            description:
              "`limits` declares what the device takes, in bytes, until it announces its own in sys.info: a call whose request " +
              "is bigger than request_max (or, over MQTT, whose PUBLISH is bigger than max_packet) is refused with 413.",
            body: {
              type: "object",
              properties: {
                id: { type: "string" },
                metadata: { type: "object", additionalProperties: true },
                limits: { type: "object", properties: { request_max: byteCount, response_max: byteCount, max_packet: byteCount } },
              },
              required: ["id"],
            },
            response: {
              201: { type: "object", properties: { id: { type: "string" }, credential: { type: "string" } } },
              400: errorBody,
              409: errorBody,
            },
          },
        },
        async (req, reply) => {
          try {
            const created = registry.addDevice(req.body.id, req.body.metadata ?? {}, req.body.limits);
            return reply.code(201).send(created);
          } catch (err) {
            if (err instanceof InvalidDeviceId) throw new HttpError(400, "invalid_device_id", err.message);
            if (err instanceof DeviceExists) throw new HttpError(409, "device_exists", err.message);
            throw err;
          }
        },
      );

      api.get<{ Params: { id: string } }>(
        "/devices/:id",
        { schema: { summary: "One device", params: idParam, response: { 200: deviceView, 404: errorBody } } },
        async (req) => view(known(req.params.id)),
      );

      api.delete<{ Params: { id: string } }>(
        "/devices/:id",
        { schema: { summary: "Delete a device and disconnect it", params: idParam, response: { 404: errorBody } } },
        async (req, reply) => {
          known(req.params.id);
          registry.removeDevice(req.params.id);
          presence.forget(req.params.id);
          await deps.disconnectDevice(req.params.id);
          return reply.code(204).send();
        },
      );

      /** One call to the device, as the status and body to answer with (an idempotent retry replays them). */
      const deliver = async (id: string, method: string, params: unknown, callerId: JsonRpcId | undefined, timeoutMs: number): Promise<Outcome> => {
        const started = performance.now();
        const seconds = () => (performance.now() - started) / 1000;
        try {
          if (!presence.isOnline(id)) throw new DeviceOffline(`device ${id} is offline`);
          if (callerId === undefined) {
            correlator.notify(id, method, params);
            return { status: 202, body: "" };
          }
          const answer = await correlator.call(id, method, params, callerId, timeoutMs);
          metrics.rpcDone("ok", seconds());
          if (method === "sys.info") deps.onSysInfo?.(id, answer);
          return { status: 200, body: answer };
        } catch (err) {
          if (err instanceof RequestTooLarge)
            throw new HttpError(413, "request_too_large", err.message, { request_bytes: err.requestBytes, device_max: err.deviceMax });
          const failure = rpcFailure(err);
          if (!failure) throw err;
          metrics.rpcDone(OUTCOMES[failure.body.error] ?? "timeout", seconds());
          return { status: failure.status, body: JSON.stringify(failure.body) };
        }
      };

      const rpc = async (req: FastifyRequest, reply: FastifyReply, id: string, method: string, params: unknown, callerId: JsonRpcId | undefined) => {
        const timeoutMs = timeoutOf(req);
        if (!registry.hasDeviceRecent(id)) throw new HttpError(404, "unknown_device", `no device ${id}`);
        const key = req.headers["idempotency-key"];
        let outcome: Outcome;
        const run = () => deliver(id, method, params, callerId, timeoutMs);
        if (key === undefined) outcome = await run();
        else {
          try {
            if (typeof key !== "string") throw new IdempotencyKeyInvalid("one Idempotency-Key header at most");
            outcome = await idempotency.run(req.headers.authorization ?? "", id, key, method, params, run);
          } catch (err) {
            if (err instanceof IdempotencyKeyInvalid) throw new HttpError(400, "bad_idempotency_key", err.message);
            if (err instanceof IdempotencyKeyReused) throw new HttpError(422, "idempotency_key_reused", err.message);
            throw err;
          }
        }
        reply.code(outcome.status);
        if (outcome.status === 202) return reply.send();
        // The caller's JSON-RPC id is part of the answer: a replay with another id still gets the first one's.
        return reply.type("application/json").send(outcome.body);
      };

      const paramsSchema = { type: ["array", "object"] };
      api.post<{ Params: { id: string }; Body: { jsonrpc?: "2.0"; id?: JsonRpcId; method: string; params?: unknown } }>(
        "/devices/:id/rpc",
        {
          schema: {
            summary: "Call a method on a device",
            description:
              'Body: a JSON-RPC 2.0 request, or {"method", "params"}. Returns the device\'s JSON-RPC response (200, result or error). ' +
              'A JSON-RPC notification (jsonrpc "2.0" and no id) is delivered and answered with 202. The {"method","params"} form gets id null back.',
            params: idParam,
            querystring: timeoutQuery,
            body: {
              type: "object",
              properties: {
                jsonrpc: { const: "2.0" },
                id: { type: ["string", "number", "null"] },
                method: { type: "string", minLength: 1 },
                params: paramsSchema,
              },
              required: ["method"],
            },
            response: rpcErrors,
          },
        },
        async (req, reply) => {
          const body = req.body;
          const callerId = "id" in body ? (body.id as JsonRpcId) : body.jsonrpc === "2.0" ? undefined : null;
          return rpc(req, reply, req.params.id, body.method, body.params, callerId);
        },
      );

      api.post<{ Params: { id: string; method: string }; Body: unknown }>(
        "/devices/:id/rpc/:method",
        {
          schema: {
            summary: "Call a method on a device; the body is the params",
            description: "Body: the params, a JSON array or object; no body means no params.",
            params: { type: "object", properties: { id: { type: "string" }, method: { type: "string" } }, required: ["id", "method"] },
            querystring: timeoutQuery,
            response: rpcErrors,
          },
        },
        async (req, reply) => {
          // Checked here, not by a body schema: a schema would also refuse a request without a body.
          const params = req.body ?? undefined;
          if (params !== undefined && (typeof params !== "object" || params === null))
            throw new HttpError(400, "bad_request", "body (the params) must be a JSON array or object, or no body for no params");
          return rpc(req, reply, req.params.id, req.params.method, params, null);
        },
      );
      deps.moreRoutes?.(api, known);
    },
    { prefix: "/api/v1" },
  );
  return app;
}
