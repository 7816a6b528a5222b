// The browser's sign-in: a session cookie instead of an Authorization header (EventSource cannot send headers).
// `sessionCookies` runs before the API-key check (auth.ts): a request without Authorization that carries a valid
// cookie is let through as the key that opened the session; a bad cookie is a 401 that says to sign in again.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { apiKeyId } from "../registry/registry.ts";
import type { Session, SessionStore } from "../registry/sessions.ts";
import { HttpError } from "./errors.ts";

export const SESSION_COOKIE = "outpost_session";
/** The cookie is only ever sent to the API. */
export const SESSION_PATH = "/api/v1";

const signedIn = new WeakMap<FastifyRequest, Session>();

/** The session this request is signed in with (no Authorization header, a valid cookie), if any. */
export function sessionOf(req: FastifyRequest): Session | undefined {
  return signedIn.get(req);
}

/** The API key id a request acts as: its bearer key's, or its session's (for per-key quotas). */
export function callerKeyId(req: FastifyRequest): string {
  const session = sessionOf(req);
  if (session) return session.keyId;
  return apiKeyId(/^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "") ?? "";
}

/**
 * The session a request without Authorization carries in its cookie: undefined for no cookie, an HttpError (401
 * session_invalid) for a tampered, expired, signed-out or orphaned one. This is the whole check, in the shape the
 * keys branch's `SessionAuth` hook (auth.ts) wants: map the Session to a Principal with its key's scopes.
 */
export function checkSessionCookie(req: FastifyRequest, sessions: SessionStore): Session | undefined {
  if (req.headers.authorization) return undefined; // a header wins: the API-key check decides
  const token = req.cookies?.[SESSION_COOKIE];
  if (token === undefined) return undefined;
  const session = sessions.verify(token);
  if (!session) throw new HttpError(401, "session_invalid", "the session cookie is expired, signed out or not valid: sign in again");
  return session;
}

/** Adds the cookie check to every route of `api` (before requireApiKey, which lets a signed-in request through). */
export function sessionCookies(api: FastifyInstance, sessions: SessionStore): void {
  api.addHook("onRequest", (req, _reply, done) => {
    try {
      const session = checkSessionCookie(req, sessions);
      if (session) signedIn.set(req, session);
      done();
    } catch (err) {
      done(err as Error);
    }
  });
}

/** Sets the session cookie: httpOnly, SameSite=Strict, Secure over TLS, for the API only. */
export function setSessionCookie(req: FastifyRequest, reply: FastifyReply, token: string, session: Session): void {
  reply.setCookie(SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: "strict",
    secure: req.protocol === "https",
    path: SESSION_PATH,
    expires: new Date(session.expiresAt),
  });
}

export function clearSessionCookie(req: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: "strict", secure: req.protocol === "https", path: SESSION_PATH });
}
