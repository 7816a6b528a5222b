// A device logging in with its client certificate instead of a password, over MQTT or WebSocket. The TLS listener
// asks for a certificate but lets every handshake finish (rejectUnauthorized: false), so that a refusal is ours: a
// named reason, logged, and an MQTT CONNACK or HTTP status the device can read, instead of a bare TLS alert.
import type { TLSSocket } from "node:tls";
import type { DeviceCerts } from "../registry/device-certs.ts";
import { deviceIdOf, fingerprint } from "./certs.ts";
import type { LoginRefusal } from "../registry/login-refusals.ts";

/** Why a certificate login was refused: the Certificate* names of LOGIN_REFUSALS (registry/login-refusals.ts). */
export type CertRefusal = Extract<LoginRefusal, `Certificate${string}`>;

export type CertCheck = { ok: true; id: string; fingerprint: string } | { ok: false; reason: CertRefusal; message: string; id?: string };

/** OpenSSL's verification errors (tls.TLSSocket.authorizationError) by what they mean for the device. */
const CHAIN_ERRORS: Record<string, CertRefusal> = {
  CERT_HAS_EXPIRED: "CertificateExpired",
  CERT_NOT_YET_VALID: "CertificateNotYetValid",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "CertificateUnknownCa",
  UNABLE_TO_GET_ISSUER_CERT: "CertificateUnknownCa",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "CertificateUnknownCa",
  SELF_SIGNED_CERT_IN_CHAIN: "CertificateUnknownCa",
  DEPTH_ZERO_SELF_SIGNED_CERT: "CertificateUnknownCa",
};

/** The socket's TLS side, if it is a TLS connection that carries a client certificate. */
export function peerCertificateOf(socket: unknown): TLSSocket | undefined {
  const s = socket as Partial<TLSSocket> | undefined;
  if (!s || typeof s.getPeerX509Certificate !== "function") return undefined;
  return s.getPeerX509Certificate() ? (s as TLSSocket) : undefined;
}

/** Whether the client on `socket` may act as device `claimed` (undefined: whichever device its certificate names). */
export function checkDeviceCertificate(socket: unknown, claimed: string | undefined, certs: DeviceCerts, now = Date.now()): CertCheck {
  const tls = peerCertificateOf(socket);
  if (!tls) return { ok: false, reason: "CertificateMissing", message: "no client certificate and no password", id: claimed };
  const cert = tls.getPeerX509Certificate()!;
  if (!tls.authorized) {
    const code = String(tls.authorizationError ?? "unknown");
    const reason = CHAIN_ERRORS[code] ?? "CertificateInvalid";
    return { ok: false, reason, message: `client certificate refused: ${code}`, id: claimed ?? deviceIdOf(cert) };
  }
  const id = deviceIdOf(cert);
  if (id === undefined) return { ok: false, reason: "CertificateNoDeviceId", message: "the certificate names no device (CN and URI SAN)", id: claimed };
  if (claimed !== undefined && claimed !== id)
    return { ok: false, reason: "CertificateForAnotherDevice", message: `a certificate for ${id} cannot log in as ${claimed}`, id: claimed };
  const fp = fingerprint(cert);
  if (!certs.valid(id, fp, now)) return { ok: false, reason: "CertificateRevoked", message: `certificate ${fp.slice(0, 16)}… is not pinned for ${id}`, id };
  return { ok: true, id, fingerprint: fp };
}
