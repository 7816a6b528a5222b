// The fleet-wide event stream: GET /events, server-sent events of presence, telemetry and (once those engines
// are merged) update and job progress. Every event has an id; a client that reconnects with Last-Event-ID gets
// the events it missed (or a `reset` event when they are no longer kept: reload, then carry on).
import type { FastifyInstance } from "fastify";
import { HttpError, errorBody } from "../errors.ts";
import type { FleetEvent } from "../events.ts";
import { callerKey, principalOf } from "../auth.ts";
import { openSse, type SseStream } from "../sse.ts";
import { StreamQuota } from "../stream-quota.ts";
import type { RouteDeps } from "./deps.ts";

export async function eventRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  const quota = new StreamQuota();
  const open = new Set<SseStream>();
  // Before the server waits for its connections to end: a stream never ends by itself.
  api.addHook("preClose", (done) => {
    for (const s of open) s.end();
    done();
  });
  api.get<{ Querystring: { types?: string; device?: string } }>(
    "/events",
    {
      config: { scope: "read" },
      schema: {
        summary: "Server-sent events for the whole fleet: presence, telemetry, update and job progress",
        description:
          "text/event-stream. Each event has an `id:`; reconnecting with `Last-Event-ID` resumes after it (EventSource does this itself). " +
          "`event: presence` data {device, online, transport, at}; `event: telemetry` data {device, at, data}; `event: version` data " +
          "{device, version}; `event: update` data {device, release, version, state, bytes_sent, total, reason, outcome} on each state " +
          "change and at most every 200 ms as bytes go; `event: job` data {job, state, reason, counts, in_flight, ended} as its counts " +
          "change (at most every 100 ms per job, the end at once); `event: reset` when the " +
          "missed events are no longer kept (reload the state). A `: heartbeat` comment every 15 s. `?types=presence,telemetry` and " +
          "`?device=<id>` filter. Signed-in browsers use their session cookie.",
        querystring: {
          type: "object",
          properties: {
            types: { type: "string", description: "comma-separated event types (default: all)" },
            device: { type: "string", description: "only events about this device" },
          },
        },
        response: { 200: { description: "text/event-stream", type: "string" }, 429: errorBody },
      },
    },
    async (req, reply) => {
      const types = req.query.types ? new Set(req.query.types.split(",").filter(Boolean)) : undefined;
      const device = req.query.device || undefined; // ?device= (empty) filters nothing
      const wanted = (e: FleetEvent) => (!types || types.has(e.type)) && (device === undefined || e.device === device);
      const lastId = req.headers["last-event-id"];
      const key = callerKey(principalOf(req));
      if (!quota.take(key)) {
        const n = quota.perKey;
        throw new HttpError(429, "too_many_streams", `this API key has ${n} event streams open, the most allowed; close one first`, { limit: n });
      }
      const stream = openSse(reply, deps.sseHeartbeatMs);
      open.add(stream);
      stream.onClose(() => {
        open.delete(stream);
        quota.release(key);
      });
      const send = (e: FleetEvent) => {
        if (wanted(e)) stream.send({ id: e.id, event: e.type, data: e.data });
      };
      if (typeof lastId === "string" && lastId !== "") {
        const missed = deps.events.since(lastId);
        if (missed) for (const e of missed) send(e);
        else stream.send({ id: deps.events.lastId, event: "reset", data: JSON.stringify({ reason: "the events after Last-Event-ID are no longer kept" }) });
      }
      stream.onClose(deps.events.subscribe(send));
    },
  );
}
