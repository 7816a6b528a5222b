// API keys over REST: list, create, revoke, rotate (the admin scope). A key's secret is in the answer that made it
// and nowhere else.
import type { FastifyInstance } from "fastify";
import {
  InvalidExpiry,
  InvalidGrace,
  InvalidKeyName,
  KeyNameTaken,
  MAX_ROTATION_GRACE_MS,
  UnknownKey,
  DEFAULT_ROTATION_GRACE_MS,
  type ApiKeyRecord,
} from "../../registry/api-keys.ts";
import { InvalidScope, SCOPES, parseScopes } from "../../registry/scopes.ts";
import { HttpError, errorBody } from "../errors.ts";
import type { RouteDeps } from "./deps.ts";

const time = { type: ["string", "null"], format: "date-time" } as const;
const keyView = {
  type: "object",
  properties: {
    id: { type: "string", description: "the key's public id (the 16 hex digits after opk_)" },
    name: { type: "string" },
    scopes: { type: "array", items: { type: "string", enum: SCOPES } },
    created_at: time,
    expires_at: time,
    revoked_at: time,
    rotated_at: time,
    previous_valid_until: { ...time, description: "after a rotation: until when the previous secret is still accepted" },
  },
} as const;
const newKeyView = { type: "object", properties: { ...keyView.properties, key: { type: "string", description: "the key itself: shown once" } } } as const;
const keyParam = { type: "object", properties: { key: { type: "string", description: "the key's name or its 16-hex id" } }, required: ["key"] } as const;

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
export function keyViewOf(r: ApiKeyRecord) {
  return {
    id: r.id,
    name: r.name,
    scopes: r.scopes,
    created_at: iso(r.created_at),
    expires_at: iso(r.expires_at),
    revoked_at: iso(r.revoked_at),
    rotated_at: iso(r.rotated_at),
    previous_valid_until: iso(r.previous_valid_until),
  };
}

/** The registry's refusals as named 4xx answers. */
function answerFor(err: unknown): unknown {
  if (err instanceof InvalidKeyName) return new HttpError(400, "invalid_key_name", err.message);
  if (err instanceof InvalidScope) return new HttpError(400, "invalid_scope", err.message);
  if (err instanceof InvalidExpiry) return new HttpError(400, "bad_expiry", err.message);
  if (err instanceof InvalidGrace) return new HttpError(400, "bad_grace", err.message);
  if (err instanceof KeyNameTaken) return new HttpError(409, "key_exists", err.message);
  if (err instanceof UnknownKey) return new HttpError(404, "unknown_key", err.message);
  return err;
}

export async function keyRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  const keys = deps.registry.apiKeys;
  const admin = { scope: "admin" } as const;

  api.get(
    "/keys",
    { config: admin, schema: { summary: "List API keys (never their secrets)", response: { 200: { type: "array", items: keyView } } } },
    async () => keys.list().map(keyViewOf),
  );

  api.post<{ Body: { name?: string; scopes?: string[]; expires_at?: string | null } }>(
    "/keys",
    {
      config: admin,
      schema: {
        summary: "Create an API key; the key is returned once",
        description: `scopes: any of ${SCOPES.join(", ")} (default: all). expires_at: an ISO 8601 time in the future (default: never).`,
        body: {
          type: "object",
          properties: {
            name: { type: "string" },
            scopes: { type: "array", items: { type: "string" }, maxItems: 16 },
            expires_at: { type: ["string", "null"] },
          },
        },
        response: { 201: newKeyView, 400: errorBody, 409: errorBody },
      },
    },
    async (req, reply) => {
      const body = req.body ?? {};
      // A misspelt member (expires for expires_at) must not make a key that never expires.
      const unknown = Object.keys(body).find((k) => !["name", "scopes", "expires_at"].includes(k));
      if (unknown) throw new HttpError(400, "bad_request", `body.${unknown.slice(0, 64)} is not a member: send name, scopes, expires_at`);
      const { name, scopes, expires_at } = body;
      let expiresAt: number | null = null;
      if (typeof expires_at === "string") {
        expiresAt = Date.parse(expires_at);
        if (!/^\d{4}-\d{2}-\d{2}T/.test(expires_at) || Number.isNaN(expiresAt))
          throw new HttpError(
            400,
            "bad_expiry",
            `expires_at must be an ISO 8601 time such as 2027-01-31T00:00:00Z, not ${JSON.stringify(expires_at.slice(0, 64))}`,
          );
      }
      try {
        const { record, key } = keys.create({ name, scopes: scopes === undefined ? undefined : parseScopes(scopes), expiresAt });
        return reply.code(201).send({ ...keyViewOf(record), key });
      } catch (err) {
        throw answerFor(err);
      }
    },
  );

  api.delete<{ Params: { key: string } }>(
    "/keys/:key",
    {
      config: admin,
      schema: {
        summary: "Revoke an API key at once (in this process; another backend on the same data directory within a second)",
        params: keyParam,
        response: { 200: keyView, 404: errorBody },
      },
    },
    async (req) => {
      try {
        return keyViewOf(keys.revoke(req.params.key));
      } catch (err) {
        throw answerFor(err);
      }
    },
  );

  api.post<{ Params: { key: string }; Body: { grace_seconds?: number } | null | undefined }>(
    "/keys/:key/rotate",
    {
      config: admin,
      schema: {
        summary: "Rotate an API key: a new secret; the old one is accepted for grace_seconds more",
        description: `grace_seconds: 0 to ${MAX_ROTATION_GRACE_MS / 1000} (default ${DEFAULT_ROTATION_GRACE_MS / 1000}); 0 refuses the old secret at once (a leaked key).`,
        params: keyParam,
        response: { 200: newKeyView, 400: errorBody, 404: errorBody },
      },
    },
    async (req) => {
      // Checked here, not by a body schema: a schema would also refuse a request without a body.
      const body = req.body ?? {};
      const grace = typeof body === "object" && body !== null && !Array.isArray(body) ? body.grace_seconds : Number.NaN;
      if (grace !== undefined && !(Number.isInteger(grace) && grace >= 0 && grace <= MAX_ROTATION_GRACE_MS / 1000))
        throw new HttpError(
          400,
          "bad_grace",
          `send {"grace_seconds": 0 to ${MAX_ROTATION_GRACE_MS / 1000}} or no body (${DEFAULT_ROTATION_GRACE_MS / 1000} s)`,
        );
      try {
        const { record, key } = keys.rotate(req.params.key, grace === undefined ? undefined : grace * 1000);
        return { ...keyViewOf(record), key };
      } catch (err) {
        throw answerFor(err);
      }
    },
  );
}
