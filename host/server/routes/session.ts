// Browser sign-in: POST /session with `Authorization: Bearer <api key>` sets an httpOnly session cookie that the
// dashboard's requests and its EventSource carry instead (host/server/session.ts checks it); DELETE signs out.
import type { FastifyInstance } from "fastify";
import { HttpError, errorBody } from "../errors.ts";
import { SESSION_TTL_MS } from "../../registry/sessions.ts";
import { principalOf } from "../auth.ts";
import { SESSION_COOKIE, clearSessionCookie, setSessionCookie } from "../session.ts";
import type { RouteDeps } from "./deps.ts";

const sessionView = {
  type: "object",
  properties: {
    key_id: { type: "string" },
    expires_at: { type: ["string", "null"], format: "date-time" },
    via: { type: "string", enum: ["cookie", "bearer"] },
  },
} as const;

export async function sessionRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  api.post(
    "/session",
    {
      config: { scope: "read" },
      schema: {
        summary: "Sign in: trade an API key for a session cookie",
        description:
          "Send an API key or a JWT as `Authorization: Bearer …`. Sets `outpost_session` (httpOnly, SameSite=Strict, Secure over TLS, Path=/api/v1), " +
          "valid 12 h or until DELETE /session or the key is removed. Only the token's SHA-256 digest is stored.",
        response: { 201: sessionView, 400: errorBody, 401: errorBody, 403: errorBody },
      },
    },
    async (req, reply) => {
      const caller = principalOf(req);
      if (caller.kind === "session") throw new HttpError(400, "api_key_required", "sign in with Authorization: Bearer <api key or JWT>, not a session cookie");
      // A JWT's session ends with the token at the latest; a key's session follows its key (revoked: ended).
      const jwt = caller.kind === "jwt" ? { subject: caller.name, scopes: [...caller.scopes] } : undefined;
      const keyId = jwt ? `jwt:${caller.name}` : caller.id!;
      const ttl = caller.expiresAt === null ? SESSION_TTL_MS : Math.min(SESSION_TTL_MS, caller.expiresAt - Date.now());
      const { token, session } = deps.sessions.create(keyId, jwt ? ttl : SESSION_TTL_MS, jwt);
      setSessionCookie(req, reply, token, session);
      return reply.code(201).send({ key_id: keyId, expires_at: new Date(session.expiresAt).toISOString(), via: "cookie" });
    },
  );

  api.get(
    "/session",
    { config: { scope: "read" }, schema: { summary: "Who this request is signed in as", response: { 200: sessionView, 401: errorBody } } },
    async (req) => {
      const caller = principalOf(req);
      const expires_at = caller.expiresAt === null ? null : new Date(caller.expiresAt).toISOString();
      return { key_id: caller.id ?? "", expires_at, via: caller.kind === "session" ? "cookie" : "bearer" };
    },
  );

  api.delete(
    "/session",
    { config: { scope: "read" }, schema: { summary: "Sign out: the session cookie stops working", response: { 204: { type: "null" }, 401: errorBody } } },
    async (req, reply) => {
      const token = req.cookies?.[SESSION_COOKIE];
      if (token) deps.sessions.revoke(token);
      clearSessionCookie(req, reply);
      return reply.code(204).send();
    },
  );
}
