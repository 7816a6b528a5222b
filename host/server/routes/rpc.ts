// Calls to a device: POST /devices/:id/rpc (a JSON-RPC request) and /devices/:id/rpc/:method (the params).
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { DeviceOffline, RequestTooLarge, type JsonRpcId } from "../../rpc/correlator.ts";
import { deliveryErrorBody, rpcFailure } from "../../rpc/delivery.ts";
import { ParamsInvalid } from "../../rpc/param-schema.ts";
import { IdempotencyKeyInvalid, IdempotencyKeyReused, IdempotencyStore, type Outcome } from "../../rpc/idempotency.ts";
import { callerKey, principalOf } from "../auth.ts";
import { HttpError, errorBody } from "../errors.ts";
import { idParam } from "./devices.ts";
import type { RouteDeps } from "./deps.ts";

export const DEFAULT_TIMEOUT_MS = 5000;
export const MAX_TIMEOUT_MS = 300_000;
/** The rpc duration metric's outcome for each refusal (the rest are timeouts). */
const OUTCOMES: Record<string, "offline" | "busy" | "suspect"> = { device_offline: "offline", device_busy: "busy", device_suspect: "suspect" };

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
/** A 400 for params that fail the method's schema names the field (and the method). */
const badRequestBody = {
  type: "object",
  properties: { ...errorBody.properties, field: { type: "string" }, method: { type: "string" } },
  required: errorBody.required,
} as const;
const rpcErrors = {
  400: badRequestBody,
  401: errorBody,
  403: errorBody,
  404: errorBody,
  413: requestTooLargeBody,
  415: errorBody,
  422: errorBody,
  503: deliveryErrorBody,
  504: deliveryErrorBody,
};

export async function rpcRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { registry, presence, correlator, metrics } = deps;
  const idempotency = new IdempotencyStore();
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
      if (method === "rpc.list") deps.paramSchemas.learn(id, answer);
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
    if (presence.isOnline(id))
      await deps.paramSchemas.check(id, method, params, timeoutMs).catch((err: Error) => {
        throw err instanceof ParamsInvalid ? new HttpError(400, "invalid_params", err.message, { field: err.field, method: err.method }) : err;
      });
    const key = req.headers["idempotency-key"];
    let outcome: Outcome;
    const run = () => deliver(id, method, params, callerId, timeoutMs);
    if (key === undefined) outcome = await run();
    else {
      try {
        if (typeof key !== "string") throw new IdempotencyKeyInvalid("one Idempotency-Key header at most");
        // Per caller: a key, a token subject or a browser session (which has no Authorization header) each its own.
        outcome = await idempotency.run(callerKey(principalOf(req)), id, key, method, params, run);
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
      config: { scope: "call", audit: "call" },
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
      config: { scope: "call", audit: "call" },
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
}
