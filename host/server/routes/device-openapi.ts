// One device's methods as an OpenAPI 3.1 document (GET /devices/:id/openapi.json), built from its rpc.list: one
// POST /devices/<id>/rpc/<method> per method, its params' JSON Schema as the request body (3.1 takes JSON Schema
// as is). What Swagger UI or a client generator needs to call that device.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { MethodInfo } from "../../rpc/param-schema.ts";
import { HttpError, errorBody } from "../errors.ts";
import { idParam, knownDevice } from "./devices.ts";
import type { RouteDeps } from "./deps.ts";

/** The JSON-RPC response a call answers with (200): a result or the device's error. */
const rpcResponse = {
  type: "object",
  properties: {
    jsonrpc: { const: "2.0" },
    id: { type: ["string", "number", "null"] },
    result: {},
    error: { type: "object", properties: { code: { type: "integer" }, message: { type: "string" }, data: {} }, required: ["code", "message"] },
  },
  required: ["jsonrpc", "id"],
};

/** The URL this request reached the backend at: the document's server. */
export function serverUrl(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

/** An operationId from a method name: "gpio.write" -> "gpio_write" (letters, digits and _ only). */
const operationId = (name: string) => name.replace(/[^A-Za-z0-9_]/g, "_");

export function deviceDocument(id: string, methods: MethodInfo[], server: string): object {
  const paths: Record<string, object> = {};
  for (const m of methods) {
    paths[`/api/v1/devices/${encodeURIComponent(id)}/rpc/${encodeURIComponent(m.name)}`] = {
      post: {
        operationId: operationId(m.name),
        summary: m.description || m.name,
        requestBody: { required: false, content: { "application/json": { schema: m.params } } },
        responses: {
          200: { description: "the device's JSON-RPC response", content: { "application/json": { schema: { $ref: "#/components/schemas/RpcResponse" } } } },
          400: { description: "params do not match this schema (the field is named), or a malformed request" },
          503: { description: "not delivered (offline, busy, suspect): safe to retry" },
          504: { description: "delivered, no answer in time: it may have run" },
        },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: `outpost device ${id}`, version: "1", description: `The methods device ${id} lists in rpc.list.` },
    servers: [{ url: server }],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: { RpcResponse: rpcResponse },
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "an API key from `outpost key create`" } },
    },
  };
}

export async function deviceOpenapiRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  const known = knownDevice(deps);
  api.get<{ Params: { id: string } }>(
    "/devices/:id/openapi.json",
    {
      config: { scope: "read" },
      schema: {
        summary: "One device's methods as an OpenAPI 3.1 document, from its rpc.list",
        params: idParam,
        response: { 200: { description: "an OpenAPI 3.1 document", type: "object", additionalProperties: true }, 404: errorBody, 503: errorBody },
      },
    },
    async (req) => {
      const id = req.params.id;
      known(id);
      const methods = deps.presence.isOnline(id) ? await deps.paramSchemas.methods(id) : undefined;
      if (!methods)
        throw new HttpError(
          503,
          "methods_unknown",
          `device ${id}'s methods are not known: it is offline or did not answer rpc.list (not delivered); try when it is online`,
          {
            delivered: false,
          },
        );
      return deviceDocument(id, methods, serverUrl(req));
    },
  );
}
