// Why a device's login was refused, defined once: the MQTT password and certificate paths (broker/acl.ts,
// tls/device-identity.ts) and the WebSocket gateway (server/ws.ts) name a refusal by these keys, and the log line
// ("device login refused"), the audit log's `login_refused` outcome and docs/security.md use the same names.
// Named like the device ABI's errors (BadCredentials, NotAuthorized): they are what a device is turned away for.

/** CONNACK return codes (MQTT 3.1.1 section 3.2.2.3) a refusal answers with. */
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

interface Refusal {
  /** What it means, for the docs and a reader of the audit log. */
  meaning: string;
  /** The CONNACK return code an MQTT client gets. */
  connack: typeof BAD_USERNAME_OR_PASSWORD | typeof NOT_AUTHORIZED;
  /** The HTTP status a WebSocket upgrade gets: 401 when no usable credential was sent, 403 when it was refused. */
  http: 401 | 403 | 500;
}

export const LOGIN_REFUSALS = {
  CredentialMissing: { meaning: "no password or token (and no client certificate is accepted here)", connack: BAD_USERNAME_OR_PASSWORD, http: 401 },
  CredentialMalformed: { meaning: "a WebSocket token that is not `Bearer <device id>:<credential>`", connack: BAD_USERNAME_OR_PASSWORD, http: 401 },
  InvalidDeviceId: { meaning: "the id claimed is not a valid device id", connack: BAD_USERNAME_OR_PASSWORD, http: 403 },
  BadCredential: { meaning: "a wrong password (or an unknown device)", connack: BAD_USERNAME_OR_PASSWORD, http: 403 },
  BadBackendPassword: { meaning: "the backend's username with a wrong or no password", connack: BAD_USERNAME_OR_PASSWORD, http: 403 },
  CredentialCheckFailed: {
    meaning: "the credential could not be checked (the registry failed): not the device's fault",
    connack: BAD_USERNAME_OR_PASSWORD,
    http: 500,
  },
  WillRefused: { meaning: "the will names a topic that is not the device's own", connack: NOT_AUTHORIZED, http: 403 },
  WillTooLarge: { meaning: "the will is larger than a device's retained message may be", connack: NOT_AUTHORIZED, http: 403 },
  CertificateMissing: { meaning: "no client certificate and no password", connack: BAD_USERNAME_OR_PASSWORD, http: 401 },
  CertificateUnknownCa: { meaning: "not signed by the device CA (`--tls-ca`)", connack: NOT_AUTHORIZED, http: 403 },
  CertificateExpired: { meaning: "past its validity", connack: NOT_AUTHORIZED, http: 403 },
  CertificateNotYetValid: { meaning: "before its validity", connack: NOT_AUTHORIZED, http: 403 },
  CertificateInvalid: { meaning: "another failure of the chain (signature, purpose)", connack: NOT_AUTHORIZED, http: 403 },
  CertificateNoDeviceId: { meaning: "names no device, or its CN and URI SAN disagree", connack: NOT_AUTHORIZED, http: 403 },
  CertificateForAnotherDevice: { meaning: "A's certificate claiming B (username, `?device=`)", connack: NOT_AUTHORIZED, http: 403 },
  CertificateRevoked: {
    meaning: "signed by the CA but not pinned for the device: revoked, device removed or re-credited, past its rotation's grace, or never added",
    connack: NOT_AUTHORIZED,
    http: 403,
  },
} as const satisfies Record<string, Refusal>;

export type LoginRefusal = keyof typeof LOGIN_REFUSALS;

export function isLoginRefusal(name: string): name is LoginRefusal {
  return Object.hasOwn(LOGIN_REFUSALS, name);
}
