// A device's telemetry history: GET /devices/:id/telemetry?since= (kept bounded by host/registry/telemetry.ts).
import type { FastifyInstance } from "fastify";
import { TELEMETRY_MAX_AGE_MS, TELEMETRY_MAX_SAMPLES } from "../../registry/telemetry.ts";
import { HttpError, errorBody } from "../errors.ts";
import { idParam, knownDevice } from "./devices.ts";
import type { RouteDeps } from "./deps.ts";

const HOUR_MS = 3600_000;

/** `since` as milliseconds since the epoch: an ISO 8601 time or whole milliseconds; default an hour ago. */
function sinceOf(raw: string | undefined, now: number): number {
  if (raw === undefined) return now - HOUR_MS;
  const ms = /^[0-9]{1,15}$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(ms))
    throw new HttpError(400, "bad_since", `since must be an ISO 8601 time (2026-01-01T00:00:00Z) or milliseconds since the epoch, not ${JSON.stringify(raw)}`);
  return ms;
}

export async function telemetryRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  const known = knownDevice(deps);
  api.get<{ Params: { id: string }; Querystring: { since?: string } }>(
    "/devices/:id/telemetry",
    {
      config: { scope: "read" },
      schema: {
        summary: "A device's telemetry history, oldest first",
        description:
          `The samples received after \`since\` (ISO 8601 or epoch ms; default: the last hour). Kept per device: the newest ${TELEMETRY_MAX_SAMPLES}, ` +
          `none older than ${TELEMETRY_MAX_AGE_MS / HOUR_MS} h, at most one per second.`,
        params: idParam,
        querystring: { type: "object", properties: { since: { type: "string" } } },
        response: {
          200: {
            type: "object",
            properties: {
              id: { type: "string" },
              samples: {
                type: "array",
                items: {
                  type: "object",
                  properties: { at: { type: "string", format: "date-time" }, data: {} },
                },
              },
            },
          },
          400: errorBody,
          404: errorBody,
        },
      },
    },
    async (req) => {
      known(req.params.id);
      const since = sinceOf(req.query.since, Date.now());
      const samples = deps.telemetry.since(req.params.id, since).map((s) => ({ at: new Date(s.at).toISOString(), data: s.data }));
      return { id: req.params.id, samples };
    },
  );

  api.get(
    "/telemetry/latest",
    {
      config: { scope: "read" },
      schema: {
        summary: "Every device's newest telemetry sample (the dashboard's versions column)",
        description: "`{<device id>: {at, data}}` for the devices with a kept sample; new versions then arrive as `event: version` on GET /events.",
        response: { 200: { type: "object", additionalProperties: { type: "object", properties: { at: { type: "string", format: "date-time" }, data: {} } } } },
      },
    },
    async () => {
      const out: Record<string, { at: string; data: unknown }> = {};
      for (const [id, s] of deps.telemetry.latest()) out[id] = { at: new Date(s.at).toISOString(), data: s.data };
      return out;
    },
  );
}
