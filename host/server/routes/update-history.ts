// GET /devices/:id/updates: a device's finished updates, newest first (the dashboard's update history).
import type { FastifyInstance } from "fastify";
import { UPDATE_HISTORY_MAX } from "../../registry/update-history.ts";
import { errorBody } from "../errors.ts";
import { idParam, knownDevice } from "./devices.ts";
import type { RouteDeps } from "./deps.ts";

const entry = {
  type: "object",
  properties: {
    release: { type: "string" },
    version: { type: "integer" },
    outcome: { type: "string" },
    reason: { type: ["string", "null"] },
    started_at: { type: "string", format: "date-time" },
    ended_at: { type: "string", format: "date-time" },
  },
} as const;

export async function updateHistoryRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  const history = deps.updateHistory;
  if (!history) return;
  const known = knownDevice(deps);
  api.get<{ Params: { id: string } }>(
    "/devices/:id/updates",
    {
      config: { scope: "read" },
      schema: {
        summary: "A device's finished updates, newest first",
        description: `One entry per update that reached an outcome (the newest ${UPDATE_HISTORY_MAX} are kept).`,
        params: idParam,
        response: { 200: { type: "array", items: entry }, 404: errorBody },
      },
    },
    async (req) => {
      known(req.params.id);
      const iso = (ms: number) => new Date(ms).toISOString();
      return history.of(req.params.id).map((r) => ({ ...r, started_at: iso(r.started_at), ended_at: iso(r.ended_at) }));
    },
  );
}
