// The TLS side of the backend's listeners (HTTPS, MQTT over TLS). With a device CA, each handshake asks for a client
// certificate but completes whatever the client sends: the login then refuses it by name (device-identity.ts),
// and a client without one may still log in with a password.
import type { TlsOptions } from "node:tls";
import type { TlsMaterial } from "./files.ts";

export const DEFAULT_MQTTS_PORT = 8883;

export function serverTlsOptions(m: TlsMaterial): TlsOptions {
  return {
    cert: m.cert,
    key: m.key,
    minVersion: "TLSv1.2",
    ...(m.ca ? { ca: m.ca, requestCert: true, rejectUnauthorized: false } : {}),
  };
}
