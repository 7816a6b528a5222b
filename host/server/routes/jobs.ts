// Fleet jobs over REST: create (an RPC job, or a rollout), list, read, its executions, its progress as server-sent
// events, cancel. The engine is host/jobs/; docs/fleet.md has the job's members and what each refusal means.
import type { ServerResponse } from "node:http";
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { JobEnded, NoUpdater, UnknownJob, type JobRunner } from "../../jobs/runner.ts";
import { JobSpecError, parseJobSpec } from "../../jobs/spec.ts";
import { EXECUTION_STATES, JOB_STATES, type ExecutionState, type JobState } from "../../jobs/types.ts";
import type { JobRecord } from "../../registry/jobs.ts";
import { apiKeyId } from "../../registry/registry.ts";
import { HttpError, errorBody } from "../errors.ts";
import { StreamQuota } from "../stream-quota.ts";
import type { RouteDeps } from "./deps.ts";

/** The scope each route needs (host/server/auth.ts reads `config.scope`): a rollout needs ota, the rest call. */
const CALL = { scope: "call" } as FastifyContextConfig;
const OTA = { scope: "ota" } as FastifyContextConfig;
export const DEFAULT_JOB_HEARTBEAT_MS = 15_000;
const MAX_PAGE = 1000;
const jobParam = { type: "object", properties: { id: { type: "string", maxLength: 64 } }, required: ["id"] } as const;
const pageQuery = {
  type: "object",
  properties: { state: { type: "string" }, limit: { type: "string" }, cursor: { type: "string" } },
  additionalProperties: false,
} as const;

function limitOf(raw: string | undefined): number {
  if (raw === undefined) return 100;
  const n = /^[0-9]{1,4}$/.test(raw) ? Number(raw) : 0;
  if (n < 1 || n > MAX_PAGE) throw new HttpError(400, "bad_limit", `limit must be a whole number from 1 to ${MAX_PAGE}`);
  return n;
}

const cursorOf = (v: string | number) => Buffer.from(JSON.stringify({ after: v })).toString("base64url");
function afterOf<T extends "string" | "number">(raw: string | undefined, type: T): (T extends "string" ? string : number) | undefined {
  if (raw === undefined) return undefined;
  try {
    const { after } = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
    if (typeof after === type) return after;
  } catch {
    // named below
  }
  throw new HttpError(400, "bad_cursor", "cursor is not one this API gave out: take it from the Link header of the previous page");
}

export async function jobRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  const runner = deps.jobs;
  if (!runner) return;
  const store = deps.registry.jobs;
  const quota = new StreamQuota();
  /** Open event streams: ended when the server closes (a hijacked response would hold its close up). */
  const open = new Set<ServerResponse>();
  api.addHook("preClose", async () => {
    for (const res of open) res.end();
  });
  const known = (id: string): JobRecord => {
    const job = store.get(id);
    if (!job) throw new HttpError(404, "unknown_job", `no job ${id}`);
    return job;
  };

  const create = (kind: "rpc" | "rollout") => async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      const spec = parseJobSpec(req.body);
      if (kind === "rpc" && spec.rollout)
        throw new HttpError(400, "rollout_on_jobs_route", "a rollout is created with POST /api/v1/jobs/rollouts (the ota scope)");
      if (kind === "rollout" && spec.rpc) throw new HttpError(400, "rpc_on_rollouts_route", "an RPC job is created with POST /api/v1/jobs");
      return reply.code(201).send(runner.view(runner.create(spec)));
    } catch (err) {
      if (err instanceof JobSpecError) throw new HttpError(400, err.code, err.message);
      if (err instanceof NoUpdater) throw new HttpError(501, "no_updater", err.message);
      throw err;
    }
  };
  const createSchema = (summary: string) => ({
    summary,
    description: "The body is the job: selector, rpc or rollout, rate, abort, timeout_ms, retries, expires_in_s, max_in_flight (docs/fleet.md).",
    body: { type: "object" },
    response: { 400: errorBody, 501: errorBody },
  });
  api.post("/jobs", { config: CALL, schema: createSchema("Create a job: one RPC on every selected device") }, create("rpc"));
  api.post("/jobs/rollouts", { config: OTA, schema: createSchema("Create a rollout: a release to every selected device") }, create("rollout"));

  api.get<{ Querystring: { state?: string; limit?: string; cursor?: string } }>(
    "/jobs",
    { config: CALL, schema: { summary: "List jobs, newest first", querystring: pageQuery, response: { 400: errorBody } } },
    async (req, reply) => {
      const { state } = req.query;
      if (state !== undefined && !(JOB_STATES as readonly string[]).includes(state))
        throw new HttpError(400, "bad_state", `state must be one of ${JOB_STATES.join(", ")}`);
      const page = store.list({ limit: limitOf(req.query.limit), afterId: afterOf(req.query.cursor, "string"), state: state as JobState | undefined });
      if (page.last) reply.header("link", `</api/v1/jobs?${new URLSearchParams({ ...req.query, cursor: cursorOf(page.last) })}>; rel="next"`);
      return page.jobs.map((j) => runner.view(j));
    },
  );

  api.get<{ Params: { id: string } }>(
    "/jobs/:id",
    { config: CALL, schema: { summary: "One job: its state, counts per execution state and current rate", params: jobParam, response: { 404: errorBody } } },
    async (req) => runner.view(known(req.params.id)),
  );

  api.get<{ Params: { id: string }; Querystring: { state?: string; limit?: string; cursor?: string } }>(
    "/jobs/:id/executions",
    {
      config: CALL,
      schema: {
        summary: "A job's executions, one per device, in the order they are sent",
        params: jobParam,
        querystring: pageQuery,
        response: { 400: errorBody, 404: errorBody },
      },
    },
    async (req, reply) => {
      known(req.params.id);
      runner.flushWrites(); // executions that ended this turn
      const { state } = req.query;
      if (state !== undefined && !(EXECUTION_STATES as readonly string[]).includes(state))
        throw new HttpError(400, "bad_state", `state must be one of ${EXECUTION_STATES.join(", ")}`);
      const limit = limitOf(req.query.limit);
      const rows = store.executions(req.params.id, {
        limit: limit + 1,
        afterN: afterOf(req.query.cursor, "number"),
        state: state as ExecutionState | undefined,
      });
      const page = rows.slice(0, limit);
      if (rows.length > limit)
        reply.header(
          "link",
          `</api/v1/jobs/${req.params.id}/executions?${new URLSearchParams({ ...req.query, cursor: cursorOf(page.at(-1)!.n) })}>; rel="next"`,
        );
      const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
      return page.map(({ job_id: _job, n: _n, ...e }) => ({
        ...e,
        result: e.result === null ? null : JSON.parse(e.result),
        notified_at: iso(e.notified_at),
        updated_at: iso(e.updated_at),
      }));
    },
  );

  api.post<{ Params: { id: string } }>(
    "/jobs/:id/cancel",
    {
      config: CALL,
      schema: {
        summary: "Cancel a job: nothing more is sent; devices not reached yet are cancelled; executions in progress end as they end",
        params: jobParam,
        response: { 404: errorBody, 409: errorBody },
      },
    },
    async (req) => {
      try {
        return runner.view(runner.cancel(req.params.id));
      } catch (err) {
        if (err instanceof UnknownJob) throw new HttpError(404, "unknown_job", err.message);
        if (err instanceof JobEnded) throw new HttpError(409, "job_ended", err.message);
        throw err;
      }
    },
  );

  api.get<{ Params: { id: string } }>(
    "/jobs/:id/events",
    {
      config: CALL,
      schema: {
        summary: "A job's progress as server-sent events",
        description:
          "text/event-stream: `event: progress` with the job (as GET /jobs/:id) whenever it changes (at most every 100 ms), and a last " +
          "`event: end` when it has ended, after which the stream closes. Each event's `id` is the job's revision: a client that " +
          "reconnects with Last-Event-ID gets the job at once if it changed since. A `: heartbeat` comment every 15 s keeps proxies from " +
          "closing a quiet stream.",
        params: jobParam,
        response: { 404: errorBody, 429: errorBody },
      },
    },
    async (req, reply) => {
      const job = known(req.params.id);
      const key = apiKeyId(/^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "") ?? "";
      if (!quota.take(key))
        throw new HttpError(429, "too_many_streams", `this API key has ${quota.perKey} event streams open, the most allowed; close one first`);
      open.add(reply.raw);
      reply.raw.once("close", () => {
        quota.release(key);
        open.delete(reply.raw);
      });
      const lastSeen = Number(req.headers["last-event-id"] ?? -1);
      stream(runner, job, reply, Number.isFinite(lastSeen) ? lastSeen : -1, deps.jobHeartbeatMs ?? DEFAULT_JOB_HEARTBEAT_MS);
    },
  );
}

function stream(runner: JobRunner, job: JobRecord, reply: FastifyReply, lastSeen: number, heartbeatMs: number): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  res.write("retry: 2000\n\n");
  let last = lastSeen;
  const send = (revision: number, event: string, data: unknown) => {
    if (revision > last || event === "end") res.write(`id: ${revision}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    last = Math.max(last, revision);
    if (event === "end") res.end();
  };
  const stop = runner.events.listen(job.id, send);
  const beat = setInterval(() => res.write(": heartbeat\n\n"), heartbeatMs);
  res.once("close", () => {
    stop();
    clearInterval(beat);
  });
  // The job now: the stream starts with where it stands (and ends at once if it has ended).
  const ended = job.state !== "in_progress" && runner.inFlightOf(job.id) === 0;
  send(job.revision, ended ? "end" : "progress", runner.view(job));
}
