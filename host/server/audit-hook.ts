// Every /api/v1 request that does something goes into the audit log once answered: RPC calls (kind "call") and
// anything else but a read (kind "change"), with the caller, the device and method, and the outcome. Refusals are
// recorded by auth.ts, which turns them away before a route runs.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AuditLog } from "../registry/audit.ts";
import { principalOf } from "./auth.ts";

const READS = new Set(["GET", "HEAD", "OPTIONS"]);
/** An error body's name; the first "error" member is the body's own (errors.ts puts it first). */
const ERROR_NAME = /"error":"([A-Za-z0-9_]{1,64})"/;
/** A device's JSON-RPC error answer, as the module writes it (the correlator passes it through unparsed). */
const RPC_ERROR = '{"jsonrpc":"2.0","error"';

function outcomeOf(status: number, payload: unknown): string {
  const text = typeof payload === "string" ? payload : "";
  if (status >= 400) return ERROR_NAME.exec(text.slice(0, 200))?.[1] ?? `http_${status}`;
  if (status === 202) return "accepted";
  if (status === 201) return "created";
  return text.startsWith(RPC_ERROR) ? "rpc_error" : "ok";
}

function methodOf(req: FastifyRequest, kind: "call" | "change"): string {
  if (kind === "call") {
    const fromPath = (req.params as { method?: unknown }).method;
    if (typeof fromPath === "string") return fromPath;
    const fromBody = (req.body as { method?: unknown } | undefined)?.method;
    return typeof fromBody === "string" ? fromBody : "";
  }
  return `${req.method} ${req.routeOptions.url ?? req.url.split("?")[0]}`;
}

function deviceOf(req: FastifyRequest): string | null {
  const fromPath = (req.params as { id?: unknown }).id;
  if (typeof fromPath === "string" && req.routeOptions.url?.startsWith("/api/v1/devices/")) return fromPath;
  // POST /devices names the new device in its body.
  const fromBody = req.routeOptions.url === "/api/v1/devices" ? (req.body as { id?: unknown } | undefined)?.id : undefined;
  return typeof fromBody === "string" ? fromBody : null;
}

export function auditRequests(api: FastifyInstance, audit: AuditLog): void {
  const outcomes = new WeakMap<FastifyRequest, string>();
  const kindOf = (req: FastifyRequest) => {
    const declared = req.routeOptions.config.audit;
    if (declared) return declared;
    return READS.has(req.method) ? "none" : "change";
  };
  api.addHook("onSend", (req, reply, payload, done) => {
    if (kindOf(req) !== "none") outcomes.set(req, outcomeOf(reply.statusCode, payload));
    done(null, payload);
  });
  api.addHook("onResponse", (req, reply, done) => {
    const outcome = outcomes.get(req);
    if (outcome === undefined) return done();
    const kind = kindOf(req) as "call" | "change";
    let actor: { name: string; kind: "key" | "jwt" | "session" } | undefined;
    try {
      actor = principalOf(req);
    } catch {
      return done(); // refused before a route ran: auth.ts recorded it
    }
    audit.record({
      kind,
      actor: actor.name,
      actor_kind: actor.kind,
      device: deviceOf(req),
      method: methodOf(req, kind),
      status: reply.statusCode,
      outcome,
      peer: req.ip,
    });
    done();
  });
}
