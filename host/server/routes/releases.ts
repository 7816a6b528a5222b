// OTA over REST (docs/ota.md): upload and list releases, start an update of one device and follow it.
import type { FastifyInstance } from "fastify";
import { ReleaseExists, ReleaseInvalid, type ReleaseStore, type UpdateRecord } from "../../registry/releases.ts";
import { UnknownDevice, UnknownRelease, UpdateInProgress, type Updater } from "../../ota/updater.ts";
import { decodeBase64 } from "../../ota/manifest.ts";
import { HttpError, errorBody } from "../errors.ts";
import { idParam } from "./devices.ts";
import type { RouteDeps } from "./deps.ts";

export interface OtaDeps {
  releases: ReleaseStore;
  updater: Updater;
}

/** A release upload carries the module as base64: a 64 KiB slot is ~87 KiB of it. */
export const RELEASE_BODY_LIMIT = 256 * 1024;
const config = { scope: "ota" } as const;

const releaseView = {
  type: "object",
  properties: {
    id: { type: "string" },
    version: { type: "integer" },
    sha256: { type: "string" },
    size: { type: "integer" },
    abi: { type: "integer" },
    label: { type: ["string", "null"] },
    key_id: { type: ["string", "null"] },
    created_at: { type: "string", format: "date-time" },
  },
} as const;
const updateView = {
  type: "object",
  properties: {
    device: { type: "string" },
    release: { type: "string" },
    version: { type: "integer" },
    state: { type: "string" },
    bytes_sent: { type: "integer" },
    total: { type: "integer" },
    outcome: { type: ["string", "null"] },
    reason: { type: ["string", "null"] },
    started_at: { type: "string", format: "date-time" },
    updated_at: { type: "string", format: "date-time" },
  },
} as const;

const FINAL = new Set(["succeeded", "failed", "rejected", "rolled_back", "timed_out"]);
export function updateJson(u: UpdateRecord): Record<string, unknown> {
  return {
    ...u,
    outcome: FINAL.has(u.state) ? u.state : null,
    started_at: new Date(u.started_at).toISOString(),
    updated_at: new Date(u.updated_at).toISOString(),
  };
}
const releaseJson = (r: { created_at: number }) => ({ ...r, created_at: new Date(r.created_at).toISOString() });

export async function releasesRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  const ota = deps.ota;
  if (!ota) return;
  const { releases, updater } = ota;

  api.post<{ Body: { manifest: string; signature: string; module: string } }>(
    "/releases",
    {
      config,
      bodyLimit: RELEASE_BODY_LIMIT,
      schema: {
        summary: "Upload a release: the signed manifest, its signature and the module, each base64",
        body: {
          type: "object",
          properties: { manifest: { type: "string" }, signature: { type: "string" }, module: { type: "string" } },
          required: ["manifest", "signature", "module"],
          additionalProperties: false,
        },
        response: { 201: releaseView, 400: errorBody, 409: errorBody },
      },
    },
    async (req, reply) => {
      const b64 = (text: string, what: string) => {
        try {
          return decodeBase64(text, what);
        } catch (err) {
          throw new HttpError(400, "bad_base64", (err as Error).message);
        }
      };
      try {
        const rec = releases.add(b64(req.body.manifest, "manifest"), b64(req.body.signature, "signature"), b64(req.body.module, "module"));
        return reply.code(201).send(releaseJson(rec));
      } catch (err) {
        if (err instanceof ReleaseInvalid) throw new HttpError(400, err.code, err.message);
        if (err instanceof ReleaseExists) throw new HttpError(409, "release_exists", err.message);
        throw err;
      }
    },
  );

  api.get(
    "/releases",
    { config, schema: { summary: "List releases, newest version first", response: { 200: { type: "array", items: releaseView } } } },
    async () => releases.list().map(releaseJson),
  );

  api.get<{ Params: { id: string } }>(
    "/releases/:id",
    { config, schema: { summary: "One release", params: idParam, response: { 200: releaseView, 404: errorBody } } },
    async (req) => {
      const r = releases.list().find((r) => r.id === req.params.id);
      if (!r) throw new HttpError(404, "unknown_release", `no release ${req.params.id}`);
      return releaseJson(r);
    },
  );

  api.post<{ Params: { id: string }; Body: { release: string; timeout_ms?: number } }>(
    "/devices/:id/update",
    {
      config,
      schema: {
        summary: "Update one device's module to a release; follow it with GET /devices/:id/update or the event stream",
        params: idParam,
        body: {
          type: "object",
          properties: { release: { type: "string", minLength: 1 }, timeout_ms: { type: "integer", minimum: 1000, maximum: 3_600_000 } },
          required: ["release"],
          additionalProperties: false,
        },
        response: { 202: { type: "object", properties: { update: updateView } }, 404: errorBody, 409: errorBody, 503: errorBody },
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      if (!deps.registry.getDevice(id)) throw new HttpError(404, "unknown_device", `no device ${id}`);
      if (!deps.presence.isOnline(id)) throw new HttpError(503, "device_offline", `device ${id} is offline: nothing was sent`);
      try {
        const { update, done } = await updater.begin(id, req.body.release, { timeoutMs: req.body.timeout_ms }); // once across nodes
        done.catch((err) => req.log.error({ err }, "update failed"));
        return reply.code(202).send({ update: updateJson(update) });
      } catch (err) {
        if (err instanceof UnknownDevice) throw new HttpError(404, "unknown_device", err.message);
        if (err instanceof UnknownRelease) throw new HttpError(404, "unknown_release", err.message);
        if (err instanceof UpdateInProgress) throw new HttpError(409, "update_in_progress", err.message);
        throw err;
      }
    },
  );

  api.get<{ Params: { id: string } }>(
    "/devices/:id/update",
    { config, schema: { summary: "The device's running or last update", params: idParam, response: { 200: updateView, 404: errorBody } } },
    async (req) => {
      const id = req.params.id;
      if (!deps.registry.getDevice(id)) throw new HttpError(404, "unknown_device", `no device ${id}`);
      const u = updater.current(id) ?? releases.lastUpdate(id);
      if (!u) throw new HttpError(404, "no_update", `device ${id} was never updated`);
      return updateJson(u);
    },
  );
}
