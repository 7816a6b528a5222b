// The browser's sign-in: a session cookie instead of an Authorization header (EventSource cannot send headers).
// auth.ts asks `sessionAuth` about a request without Authorization: a valid cookie acts as the key that opened it.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ApiKeys } from "../registry/api-keys.ts";
import { isScope } from "../registry/scopes.ts";
import type { Session, SessionStore } from "../registry/sessions.ts";
import type { SessionAuth } from "./auth.ts";
import { HttpError } from "./errors.ts";

export const SESSION_COOKIE = "outpost_session";
/** The cookie is only ever sent to the API. */
export const SESSION_PATH = "/api/v1";

/**
 * The `SessionAuth` hook (auth.ts) for browser sessions: a request without Authorization that carries a session
 * cookie acts as the API key that opened it, with that key's scopes as they are now (a revoked or expired key ends
 * its sessions at once). No cookie: undefined (auth.ts answers 401); a tampered, expired, signed-out or orphaned
 * cookie: 401 session_invalid.
 */
export function sessionAuth(sessions: SessionStore, keys: ApiKeys): SessionAuth {
  return (req) => {
    const token = req.cookies?.[SESSION_COOKIE];
    if (token === undefined) return undefined;
    const session = sessions.verify(token);
    const refused = () => new HttpError(401, "session_invalid", "the session cookie is expired, signed out or not valid: sign in again");
    if (!session) throw refused();
    if (session.token) {
      // Opened with a JWT: its subject and scopes as the token gave them, until the token's own expiry at the latest.
      const scopes = session.token.scopes.filter(isScope);
      return { kind: "session", name: session.token.subject, scopes, expiresAt: session.expiresAt };
    }
    const key = keys.get(session.keyId);
    const now = Date.now();
    if (!key || key.revoked_at !== null || (key.expires_at !== null && key.expires_at <= now)) throw refused();
    const ends = [session.expiresAt, key.expires_at].filter((t): t is number => t !== null);
    return { kind: "session", id: key.id, name: key.name, scopes: key.scopes, expiresAt: Math.min(...ends) };
  };
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
