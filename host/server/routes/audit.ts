// GET /audit: the audit log, newest first, filtered and paged by cursor (the admin scope).
import type { FastifyInstance } from "fastify";
import { AUDIT_KINDS, MAX_AUDIT_PAGE, type AuditKind, type AuditQuery, type AuditRecord } from "../../registry/audit.ts";
import { HttpError, errorBody } from "../errors.ts";
import type { RouteDeps } from "./deps.ts";

const text = { type: ["string", "null"] } as const;
const recordView = {
  type: "object",
  properties: {
    id: { type: "integer" },
    at: { type: "string", format: "date-time" },
    kind: { type: "string", enum: AUDIT_KINDS },
    actor: text,
    actor_kind: text,
    device: text,
    method: text,
    status: { type: ["integer", "null"] },
    outcome: { type: "string" },
    peer: text,
    detail: text,
  },
} as const;

const DIGITS = /^[0-9]{1,15}$/;
type Query = { device?: string; actor?: string; kind?: string; since?: string; cursor?: string; limit?: string };

/** The query string as an AuditQuery, or a 400 naming the member that is wrong. */
export function auditQueryOf(q: Query): AuditQuery {
  const out: AuditQuery = {};
  for (const name of ["device", "actor"] as const) {
    const v = q[name];
    if (v === undefined) continue;
    if (v.length === 0 || v.length > 200) throw new HttpError(400, "bad_filter", `${name} must be 1 to 200 characters`);
    out[name] = v;
  }
  if (q.kind !== undefined) {
    if (!(AUDIT_KINDS as readonly string[]).includes(q.kind))
      throw new HttpError(400, "bad_filter", `kind must be one of ${AUDIT_KINDS.join(", ")}, not ${JSON.stringify(q.kind.slice(0, 64))}`);
    out.kind = q.kind as AuditKind;
  }
  if (q.since !== undefined) {
    const ms = /^\d{4}-\d{2}-\d{2}/.test(q.since) ? Date.parse(q.since) : Number.NaN;
    if (Number.isNaN(ms))
      throw new HttpError(400, "bad_filter", `since must be an ISO 8601 time such as 2026-12-01T00:00:00Z, not ${JSON.stringify(q.since.slice(0, 64))}`);
    out.since = ms;
  }
  if (q.cursor !== undefined) {
    if (!DIGITS.test(q.cursor)) throw new HttpError(400, "bad_cursor", "cursor must be the next_cursor of a previous page");
    out.cursor = Number(q.cursor);
  }
  if (q.limit !== undefined) {
    const n = DIGITS.test(q.limit) ? Number(q.limit) : 0;
    if (n < 1 || n > MAX_AUDIT_PAGE) throw new HttpError(400, "bad_limit", `limit must be a whole number from 1 to ${MAX_AUDIT_PAGE}`);
    out.limit = n;
  }
  return out;
}

export function auditRecordView(r: AuditRecord) {
  return { ...r, at: new Date(r.at).toISOString() };
}

export async function auditRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  const audit = deps.registry.audit;
  const str = { type: "string" } as const;
  api.get<{ Querystring: Query }>(
    "/audit",
    {
      config: { scope: "admin" },
      schema: {
        summary: "The audit log, newest first",
        description:
          `Calls, changes, refused callers, device connects, disconnects and refused logins. Filters: device, actor (a key's name or a token's subject), ` +
          `kind (${AUDIT_KINDS.join(", ")}), since (ISO 8601). Pages of limit records (default 100, at most ${MAX_AUDIT_PAGE}); ` +
          "pass next_cursor as cursor for the next, older page (null: no more).",
        querystring: { type: "object", properties: { device: str, actor: str, kind: str, since: str, cursor: str, limit: str } },
        response: {
          200: { type: "object", properties: { records: { type: "array", items: recordView }, next_cursor: { type: ["integer", "null"] } } },
          400: errorBody,
        },
      },
    },
    async (req) => {
      const { records, next_cursor } = audit.query(auditQueryOf(req.query));
      return { records: records.map(auditRecordView), next_cursor };
    },
  );
}
