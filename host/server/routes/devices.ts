// The device records: list, create, read, delete.
import type { FastifyInstance } from "fastify";
import { DeviceExists, InvalidDeviceId, type DeviceLimits, type DeviceRecord } from "../../registry/registry.ts";
import { HttpError, errorBody } from "../errors.ts";
import type { RouteDeps } from "./deps.ts";

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
    app: {
      type: ["object", "null"],
      description: "The module as the last update left it (docs/ota.md): running and previous version, the last update's outcome",
      additionalProperties: true,
    },
  },
} as const;

export const idParam = { type: "object", properties: { id: { type: "string" } }, required: ["id"] } as const;
function iso(ms: number | null | undefined): string | null {
  return ms == null ? null : new Date(ms).toISOString();
}

/** The record for `id`, or a 404 that names it. */
export function knownDevice(deps: RouteDeps): (id: string) => DeviceRecord {
  return (id) => {
    const d = deps.registry.getDevice(id);
    if (!d) throw new HttpError(404, "unknown_device", `no device ${id}`);
    return d;
  };
}

export async function deviceRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { registry, presence } = deps;
  const known = knownDevice(deps);
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
      app: deps.ota?.releases.appView(d.id) ?? null,
    };
  };
  api.get("/devices", { config: { scope: "read" }, schema: { summary: "List devices", response: { 200: { type: "array", items: deviceView } } } }, async () =>
    registry.listDevices().map(view),
  );

  const byteCount = { type: "integer", minimum: 1, maximum: 2 ** 28 }; // MQTT's largest packet is 256 MiB
  api.post<{ Body: { id: string; metadata?: Record<string, unknown>; limits?: Partial<DeviceLimits> } }>(
    "/devices",
    {
      config: { scope: "admin" },
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
    { config: { scope: "read" }, schema: { summary: "One device", params: idParam, response: { 200: deviceView, 404: errorBody } } },
    async (req) => view(known(req.params.id)),
  );

  api.delete<{ Params: { id: string } }>(
    "/devices/:id",
    { config: { scope: "admin" }, schema: { summary: "Delete a device and disconnect it", params: idParam, response: { 404: errorBody } } },
    async (req, reply) => {
      known(req.params.id);
      registry.removeDevice(req.params.id);
      presence.forget(req.params.id);
      await deps.disconnectDevice(req.params.id);
      return reply.code(204).send();
    },
  );
}
