// Who may call /api/v1: a bearer API key, checked before the body is read.
import type { FastifyInstance, FastifyRequest } from "fastify";
import { isApiKeyShaped, type Registry } from "../registry/registry.ts";
import { HttpError } from "./errors.ts";
import { sessionOf } from "./session.ts";

/** A keep-alive connection that showed a valid key this recently is not checked again for the same header. */
const KEY_RECHECK_MS = 1000;

/**
 * Adds the API-key check to every route of `api`. onRequest runs before the body is read, so an
 * unauthenticated caller learns nothing about sizes or devices. The per-socket cache is at most as
 * stale as the registry's own.
 */
export function requireApiKey(api: FastifyInstance, registry: Registry): void {
  const verifiedOn = new WeakMap<object, { header: string; at: number }>();
  api.addHook("onRequest", (req: FastifyRequest, _reply, done) => {
    const header = req.headers.authorization;
    if (!header) return sessionOf(req) ? done() : done(new HttpError(401, "unauthorized", "Authorization: Bearer <api key> required"));
    const now = Date.now();
    const seen = verifiedOn.get(req.raw.socket);
    if (seen && seen.header === header && now - seen.at < KEY_RECHECK_MS) return done();
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) return done(new HttpError(401, "unauthorized", "Authorization header must be: Bearer <api key>"));
    // Not a key at all (a typo, another service's token): 401. A key of the right form we do not know: 403.
    if (!isApiKeyShaped(m[1])) return done(new HttpError(401, "unauthorized", "the API key is malformed: expected opk_<16 hex digits>_<secret>"));
    registry.verifyApiKey(m[1]).then(
      (ok) => {
        if (!ok) return done(new HttpError(403, "forbidden", "API key not valid (unknown or revoked): create one with `outpost key create`"));
        verifiedOn.set(req.raw.socket, { header, at: now });
        done();
      },
      (err: Error) => done(err),
    );
  });
}
