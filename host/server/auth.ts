// Who may call /api/v1, and what they may do. The caller is resolved before the body is read (onRequest) to a
// Principal: an API key (opk_…), a JWT from the configured issuer, or a browser session (the `session` hook). Every
// route declares the scope it needs (`config: { scope }`); a caller without it gets 403 insufficient_scope, and a
// route that declares none is refused to everyone (fail closed).
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { KeyRefusal } from "../registry/api-keys.ts";
import type { AuditLog } from "../registry/audit.ts";
import { isApiKeyShaped, type Registry } from "../registry/registry.ts";
import { SCOPES, isScope, type Scope } from "../registry/scopes.ts";
import { HttpError } from "./errors.ts";
import { isJwtShaped, TokenRefused, type JwtVerifier } from "./jwt.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The scope a caller needs for this route (required on every /api/v1 route; auth.ts refuses a route without). */
    scope?: Scope;
    /** How the audit log files a request to this route (default: "change" for any method but GET and HEAD). */
    audit?: "call" | "change" | "none";
  }
}

export interface Principal {
  kind: "key" | "jwt" | "session";
  /** A key's name, a token's subject, a session's user: what the audit log names. */
  name: string;
  scopes: readonly Scope[];
  /** A key's 16-hex id (per-key quotas); for a token or session, absent. */
  id?: string;
  /** Milliseconds since the epoch after which this principal is no longer valid (null: no expiry). */
  expiresAt: number | null;
}

/**
 * A third way in, for the dashboard: a browser session (a cookie). Called only for a request without an
 * Authorization header; returns the session's principal, or undefined when the request carries no session (then
 * the 401 below). Throw an HttpError to refuse a bad or expired session with its own name.
 */
export type SessionAuth = (req: FastifyRequest, reply: FastifyReply) => Principal | undefined | Promise<Principal | undefined>;

export interface CallerAuthOptions {
  registry: Registry;
  /** JWTs from the configured issuer (absent: JWTs are refused with jwt_not_accepted). */
  jwt?: JwtVerifier;
  session?: SessionAuth;
  audit?: AuditLog;
}

/** A keep-alive connection that showed a valid credential this recently is not checked again for the same header. */
const RECHECK_MS = 1000;
const principals = new WeakMap<FastifyRequest, Principal>();

/** The caller of a request that passed requireCaller (every /api/v1 route). Throws for a request outside it. */
export function principalOf(req: FastifyRequest): Principal {
  const p = principals.get(req);
  if (!p) throw new Error(`no principal for ${req.method} ${req.url}: the route is outside /api/v1's caller check`);
  return p;
}

/** A stable key for per-caller accounting (stream quotas, idempotency). */
export function callerKey(p: Principal): string {
  return `${p.kind}:${p.id ?? p.name}`;
}

const KEY_REFUSALS: Record<KeyRefusal, { code: string; message: (name?: string) => string }> = {
  unknown: { code: "forbidden", message: () => "API key not valid (unknown or revoked): create one with `outpost key create`" },
  revoked: { code: "key_revoked", message: (n) => `API key ${n} has been revoked: create a new one with \`outpost key create\`` },
  expired: { code: "key_expired", message: (n) => `API key ${n} has expired: create a new one, or rotate it before it expires next time` },
  rotated: { code: "key_rotated", message: (n) => `this is an old secret of API key ${n}: it was rotated and its grace period is over; use the new key` },
};

/** The route's path for the audit log and messages ("/api/v1/devices/:id/rpc"). */
function routeOf(req: FastifyRequest): string {
  return req.routeOptions.url ?? req.url.split("?")[0];
}
function deviceOf(req: FastifyRequest): string | null {
  const id = (req.params as { id?: unknown } | undefined)?.id;
  return typeof id === "string" && req.routeOptions.url?.startsWith("/api/v1/devices/:id") ? id : null;
}

/**
 * Adds the caller check to every route of `api`: 401 without a credential or with a malformed or refused token,
 * 403 for an unknown, revoked, expired or rotated-out key and for a scope the caller lacks. onRequest runs before the
 * body is read, so an unauthenticated caller learns nothing about sizes or devices.
 */
export function requireCaller(api: FastifyInstance, opts: CallerAuthOptions): void {
  const { registry, audit } = opts;
  const verifiedOn = new WeakMap<object, { header: string; at: number; generation: number; principal: Principal }>();
  const undeclaredLogged = new Set<string>();

  api.addHook("onRoute", (route) => {
    const scope = route.config?.scope;
    if (scope !== undefined && !isScope(scope))
      throw new Error(`route ${route.method} ${route.url} declares scope ${JSON.stringify(scope)}: scopes are ${SCOPES.join(", ")}`);
    // /docs and /openapi.json say which scope each route needs.
    if (scope && route.schema && !route.schema.hide) {
      const needs = `Needs the \`${scope}\` scope.`;
      const d = route.schema.description;
      route.schema = { ...route.schema, description: d ? `${d}\n\n${needs}` : needs };
    }
  });

  const refuse = (req: FastifyRequest, err: HttpError, actor?: Principal | { name: string; kind?: Principal["kind"] }) => {
    audit?.record({
      kind: "refused",
      actor: actor?.name ?? null,
      actor_kind: actor?.kind ?? null,
      device: deviceOf(req),
      method: `${req.method} ${routeOf(req)}`,
      status: err.statusCode,
      outcome: err.code,
      peer: req.ip,
    });
    return err;
  };

  /** The caller of a request with `Authorization: Bearer <token>`, or the HttpError refusing it. */
  const resolve = async (req: FastifyRequest, token: string, now: number): Promise<Principal> => {
    if (isApiKeyShaped(token)) {
      const check = await registry.apiKeys.verify(token, now);
      if (!check.ok) {
        const why = KEY_REFUSALS[check.reason];
        throw refuse(req, new HttpError(403, why.code, why.message(check.key?.name)), check.key && { name: check.key.name, kind: "key" });
      }
      const { id, name, scopes, expires_at, previous_valid_until } = check.key;
      // An old secret in its grace period is valid no longer than the grace period.
      const ends = [expires_at, previous_valid_until].filter((t): t is number => t !== null);
      return { kind: "key", id, name, scopes, expiresAt: ends.length ? Math.min(...ends) : null };
    }
    if (isJwtShaped(token)) {
      if (!opts.jwt)
        throw refuse(req, new HttpError(401, "jwt_not_accepted", "this backend accepts no JWTs (no issuer is configured: --jwt-issuer); send an API key"));
      try {
        const t = await opts.jwt(token);
        return { kind: "jwt", name: t.subject, scopes: t.scopes, expiresAt: t.expiresAt };
      } catch (err) {
        if (err instanceof TokenRefused) throw refuse(req, new HttpError(err.status, err.code, err.message));
        throw err;
      }
    }
    throw refuse(
      req,
      new HttpError(401, "unauthorized", "the API key is malformed: expected opk_<16 hex digits>_<secret> (or a JWT from the configured issuer)"),
    );
  };

  const permit = (req: FastifyRequest, reply: FastifyReply, p: Principal): void => {
    const scope = req.routeOptions.config.scope;
    if (scope === undefined) {
      const route = `${req.method} ${routeOf(req)}`;
      if (!undeclaredLogged.has(route)) {
        undeclaredLogged.add(route);
        req.log.error({ route }, "route declares no scope (config: { scope }): refused to every caller");
      }
      throw refuse(req, new HttpError(403, "scope_undeclared", `${route} declares no scope, so nobody may call it (a bug in the backend: report it)`), p);
    }
    if (!p.scopes.includes(scope)) {
      reply.header("www-authenticate", `Bearer realm="outpost", error="insufficient_scope", scope="${scope}"`); // RFC 6750 section 3
      const has = p.scopes.length ? p.scopes.join(", ") : "no scopes";
      throw refuse(req, new HttpError(403, "insufficient_scope", `this route needs the ${scope} scope; ${p.kind} ${p.name} has ${has}`, { scope }), p);
    }
    principals.set(req, p);
  };

  api.addHook("onRequest", (req, reply, done) => {
    const header = req.headers.authorization;
    const now = Date.now();
    const finish = (p: Principal) => {
      try {
        permit(req, reply, p);
        done();
      } catch (err) {
        done(err as Error);
      }
    };
    if (!header) {
      if (!opts.session) return done(refuse(req, new HttpError(401, "unauthorized", "Authorization: Bearer <api key> required")));
      Promise.resolve(opts.session(req, reply)).then(
        (p) => (p ? finish(p) : done(refuse(req, new HttpError(401, "unauthorized", "Authorization: Bearer <api key> (or a dashboard session) required")))),
        (err: Error) => done(err instanceof HttpError ? refuse(req, err) : err),
      );
      return;
    }
    const seen = verifiedOn.get(req.raw.socket);
    const generation = registry.apiKeys.generation; // a key revoked or rotated here is not taken from the cache
    if (
      seen &&
      seen.header === header &&
      seen.generation === generation &&
      now - seen.at < RECHECK_MS &&
      (seen.principal.expiresAt === null || now < seen.principal.expiresAt)
    )
      return finish(seen.principal);
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) return done(refuse(req, new HttpError(401, "unauthorized", "Authorization header must be: Bearer <api key>")));
    resolve(req, m[1], now).then(
      (p) => {
        verifiedOn.set(req.raw.socket, { header, at: now, generation, principal: p });
        finish(p);
      },
      (err: Error) => done(err),
    );
  });
}
