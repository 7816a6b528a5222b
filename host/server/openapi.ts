// What the OpenAPI document says beyond each route's own schema: an operationId for every route (from its method
// and path unless it names one), and its success answer when the route's schema gives only errors. Applied as
// @fastify/swagger's transform, so it changes the document only, never validation or serialization.
import type { FastifySchema } from "fastify";

type Responses = Record<string, unknown>;

/** Success answers of routes whose schemas list only errors (their bodies are written by hand). */
const SUCCESS: Record<string, Responses> = {
  "POST /api/v1/devices/:id/rpc": {
    200: { description: "the device's JSON-RPC response (result or error)", type: "object", additionalProperties: true },
    202: { description: "a notification, delivered", type: "null" },
  },
  "POST /api/v1/devices/:id/rpc/:method": {
    200: { description: "the device's JSON-RPC response (result or error)", type: "object", additionalProperties: true },
  },
  "GET /api/v1/devices/:id/events": { 200: { description: "text/event-stream", type: "string" } },
  // The WebSocket gateway answers an upgrade, not a 2xx.
  "GET /api/v1/devices/ws": { 101: { description: "Switching Protocols: the device's WebSocket", type: "null" } },
};

/** "GET /api/v1/devices/:id/rpc" -> "getDevicesByIdRpc": stable, unique per method and path. */
export function operationIdFor(method: string, url: string): string {
  const words = url
    .replace(/^\/api\/v1/, "")
    .split("/")
    .filter(Boolean)
    .map((level) => (level.startsWith(":") ? `by_${level.slice(1)}` : level))
    .flatMap((w) => w.split(/[^A-Za-z0-9]+/))
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1));
  return method.toLowerCase() + (words.join("") || "Root");
}

export function documentRoute({ schema, url, route }: { schema: FastifySchema; url: string; route: { method: string | string[] } }): {
  schema: FastifySchema;
  url: string;
} {
  if (!schema || (schema as { hide?: boolean }).hide) return { schema, url };
  const method = (Array.isArray(route.method) ? route.method[0] : route.method).toUpperCase();
  const out = { ...schema } as FastifySchema & { operationId?: string; response?: Responses };
  out.operationId ??= operationIdFor(method, url);
  const response: Responses = { ...((schema.response as Responses | undefined) ?? {}) };
  if (!Object.keys(response).some((code) => code.startsWith("2") || code === "101")) {
    Object.assign(
      response,
      SUCCESS[`${method} ${url}`] ?? (method === "DELETE" ? { 204: { description: "done", type: "null" } } : { 200: { description: "OK" } }),
    );
  }
  out.response = response;
  return { schema: out, url };
}
