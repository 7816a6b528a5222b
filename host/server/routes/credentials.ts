// Credential rotation: a new password (the old one valid for a grace period, then refused), and the client
// certificates pinned for a device: list, pin a new one (issued here from the data directory's CA, or uploaded),
// revoke. Every route needs the admin scope (read by auth.ts).
import { X509Certificate } from "node:crypto";
import type { FastifyContextConfig, FastifyInstance } from "fastify";
import type { PinnedCert } from "../../registry/device-certs.ts";
import { deviceIdOf, fingerprint, makeDeviceCert, serialOf, type Pem } from "../../tls/certs.ts";
import { HttpError, errorBody } from "../errors.ts";
import type { RouteDeps } from "./deps.ts";
import { idParam, knownDevice } from "./devices.ts";

/** The longest grace period a rotation may give the old credential: a week. */
export const MAX_GRACE_S = 7 * 86_400;
/** Read by the API-key check (auth.ts): only an admin key may change credentials. Typed there, once keys have scopes. */
const admin = { scope: "admin" } as unknown as FastifyContextConfig;
const grace = { type: "integer", minimum: 0, maximum: MAX_GRACE_S, description: "seconds the old credential stays valid (default 0: it ends now)" };
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const certView = (c: PinnedCert) => ({
  fingerprint: c.fingerprint,
  not_after: iso(c.not_after),
  valid_until: iso(c.valid_until),
  created_at: iso(c.created_at),
});
const certSchema = {
  type: "object",
  properties: {
    fingerprint: { type: "string" },
    not_after: { type: "string", format: "date-time" },
    valid_until: { type: ["string", "null"], format: "date-time" },
    created_at: { type: "string", format: "date-time" },
  },
} as const;

export interface CredentialDeps {
  /** The CA whose device certificates the backend accepts (an uploaded certificate must be signed by it). */
  deviceCa?: string;
  /** The CA that issues certificates here (the data directory's, from `outpost cert ca`), if it has its key. */
  issuer?(): Pem | undefined;
}

export async function credentialRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { registry } = deps;
  const known = knownDevice(deps);
  const creds = deps.credentials ?? {};

  api.post<{ Params: { id: string }; Body: { grace_s?: number } | undefined }>(
    "/devices/:id/credential",
    {
      config: admin,
      schema: {
        summary: "Rotate a device's password; the old one stays valid for grace_s, then is refused",
        description: "A new password also ends the device's client certificates (it is re-credited).",
        params: idParam,
        body: { type: "object", properties: { grace_s: grace }, additionalProperties: false },
        response: {
          200: { type: "object", properties: { id: { type: "string" }, credential: { type: "string" }, previous_valid_until: { type: ["string", "null"] } } },
          404: errorBody,
        },
      },
    },
    async (req) => {
      known(req.params.id);
      const graceMs = (req.body?.grace_s ?? 0) * 1000;
      const r = registry.previousSecrets.rotate(req.params.id, graceMs, (id) => registry.rotateCredential(id));
      return { id: req.params.id, credential: r.credential, previous_valid_until: iso(r.previousValidUntil) };
    },
  );

  api.get<{ Params: { id: string } }>(
    "/devices/:id/certificates",
    {
      config: admin,
      schema: {
        summary: "The client certificates pinned for a device",
        params: idParam,
        response: { 200: { type: "array", items: certSchema }, 404: errorBody },
      },
    },
    async (req) => {
      known(req.params.id);
      return registry.certs.list(req.params.id).map(certView);
    },
  );

  api.post<{ Params: { id: string }; Body: { certificate?: string; grace_s?: number } | undefined }>(
    "/devices/:id/certificates",
    {
      config: admin,
      schema: {
        summary: "Pin a new client certificate for a device; its others stay valid for grace_s",
        description:
          "With `certificate` (PEM, issued for the device by the device CA): that one is pinned. Without: one is issued here from the data " +
          "directory's CA and returned with its key, once.",
        params: idParam,
        body: { type: "object", properties: { certificate: { type: "string", maxLength: 16384 }, grace_s: grace }, additionalProperties: false },
        response: {
          201: {
            type: "object",
            properties: { fingerprint: { type: "string" }, not_after: { type: "string" }, certificate: { type: "string" }, key: { type: "string" } },
          },
          400: errorBody,
          404: errorBody,
          409: errorBody,
        },
      },
    },
    async (req, reply) => {
      const { id } = known(req.params.id);
      const graceMs = (req.body?.grace_s ?? 0) * 1000;
      let pem: Pem | undefined;
      let cert: X509Certificate;
      if (req.body?.certificate !== undefined) {
        cert = parseCertificate(req.body.certificate);
        if (!creds.deviceCa) throw new HttpError(409, "no_device_ca", "the backend has no device CA (serve --tls-ca): it cannot accept client certificates");
        if (!cert.verify(new X509Certificate(creds.deviceCa).publicKey))
          throw new HttpError(400, "certificate_unknown_ca", "the certificate is not signed by the backend's device CA");
        if (deviceIdOf(cert) !== id)
          throw new HttpError(400, "certificate_for_another_device", `the certificate names ${deviceIdOf(cert) ?? "no device"}, not ${id}`);
        if (Date.parse(cert.validTo) <= Date.now()) throw new HttpError(400, "certificate_expired", `the certificate expired on ${cert.validTo}`);
      } else {
        const issuer = creds.issuer?.();
        if (!issuer) throw new HttpError(409, "no_issuing_ca", "no CA key in the data directory (outpost cert ca): upload a certificate instead");
        pem = await makeDeviceCert(issuer, id);
        cert = new X509Certificate(pem.cert);
      }
      const fp = fingerprint(cert);
      const notAfter = Date.parse(cert.validTo);
      registry.certs.pin(id, fp, notAfter, graceMs, serialOf(cert));
      reply.code(201);
      return { fingerprint: fp, not_after: new Date(notAfter).toISOString(), ...(pem ? { certificate: pem.cert, key: pem.key } : {}) };
    },
  );

  api.delete<{ Params: { id: string; fingerprint: string } }>(
    "/devices/:id/certificates/:fingerprint",
    {
      config: admin,
      schema: {
        summary: "Revoke one of a device's certificates now (its connections are dropped)",
        params: { type: "object", properties: { id: { type: "string" }, fingerprint: { type: "string" } }, required: ["id", "fingerprint"] },
        response: { 204: { type: "null" }, 404: errorBody },
      },
    },
    async (req, reply) => {
      known(req.params.id);
      const fp = req.params.fingerprint.toLowerCase().replaceAll(":", "");
      if (registry.certs.get(fp)?.device_id !== req.params.id || !registry.certs.revoke(fp))
        throw new HttpError(404, "unknown_certificate", `no certificate ${req.params.fingerprint} pinned for ${req.params.id}`);
      reply.code(204).send();
    },
  );
}

function parseCertificate(text: string): X509Certificate {
  try {
    return new X509Certificate(text);
  } catch {
    throw new HttpError(400, "invalid_certificate", "certificate must be one PEM certificate");
  }
}
