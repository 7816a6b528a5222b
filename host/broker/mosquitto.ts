// Generates mosquitto's password files, a %u pattern ACL and mosquitto.conf from the registry, for external-broker mode.
import { mkdirSync, writeFileSync, chmodSync } from "node:fs";
import { join, resolve } from "node:path";
import { BACKEND_USERNAME, type Registry } from "../registry/registry.ts";
import { mosquittoHash } from "../registry/secrets.ts";
import { DEFAULT_PREFIX } from "./acl.ts";
import { MAX_DEVICE_PACKET } from "./packet-limits.ts";
import { DEFAULT_MQTTS_PORT } from "../tls/listener.ts";

/** mosquitto_passwd format: one "user:$7$..." line each; the device hashes were made when the devices were. */
export function mosquittoPasswordFile(registry: Registry): string {
  const lines = [backendPasswordLine(registry)];
  for (const u of registry.mosquittoUsers()) lines.push(`${u.id}:${u.mosquitto_hash}`);
  return lines.join("\n") + "\n";
}

/** The backends' listener's password file: the backend's user alone, so no device credential logs in there. */
export function mosquittoBackendPasswordFile(registry: Registry): string {
  return backendPasswordLine(registry) + "\n";
}

function backendPasswordLine(registry: Registry): string {
  return `${BACKEND_USERNAME}:${mosquittoHash(registry.backendPassword())}`;
}

/**
 * mosquitto's largest packet, from any client (it has no separate limit before CONNECT): the embedded broker's
 * limit for a device packet. A larger one, a CONNECT declaring 256 MB included, closes the connection at once.
 */
export const MOSQUITTO_MAX_PACKET = MAX_DEVICE_PACKET;

/**
 * Lines before the first listener: each listener has its own password file (per_listener_settings), so the devices'
 * credentials log in only on the devices' listener, whose client ids are pinned; and the packet size limit.
 */
export function mosquittoGlobalLines(): string[] {
  return ["per_listener_settings true", `max_packet_size ${MOSQUITTO_MAX_PACKET}`];
}

/** The same rules as the embedded broker's ACL; everything not granted is denied (wildcards, others, $SYS). */
export function mosquittoAclFile(prefix = DEFAULT_PREFIX): string {
  return [
    `user ${BACKEND_USERNAME}`,
    `topic readwrite ${prefix}/#`,
    "",
    `pattern read ${prefix}/%u/rx`,
    `pattern write ${prefix}/%u/tx`,
    `pattern write ${prefix}/%u/status`,
    `pattern write ${prefix}/%u/telemetry`,
    "",
  ].join("\n");
}

/**
 * The devices' listener's lines, after its `listener` line (with mosquittoGlobalLines() before it, they are that
 * listener's own). They end with use_username_as_clientid, a listener option: it pins the client ids of the
 * listener defined just before these lines.
 */
export function mosquittoConfLines(dir: string): string[] {
  const abs = resolve(dir);
  return [
    "allow_anonymous false",
    `password_file ${join(abs, "passwd")}`,
    `acl_file ${join(abs, "acl")}`,
    // A device cannot take over another's session by choosing its client id.
    "use_username_as_clientid true",
  ];
}

/**
 * The backends' own listener, after the pinned one: each backend process connects with a client id of its own
 * there, so several backends share the broker without taking each other's session. Only the backend's user logs in
 * there (its own password file): a device credential could choose any client id, another device's included, and
 * take over that device's session. Keep it on loopback or a private network all the same.
 */
export function backendListenerLines(dir: string, port: number, host = "127.0.0.1"): string[] {
  const abs = resolve(dir);
  return [`listener ${port} ${host}`, "allow_anonymous false", `password_file ${join(abs, "passwd-backend")}`, `acl_file ${join(abs, "acl")}`];
}

/** Files mosquitto reads for a TLS listener (PEM paths). */
export interface MosquittoTls {
  port: number;
  host?: string;
  cafile: string;
  certfile: string;
  keyfile: string;
  /** The CRL of revoked device certificates (tls/crl-files.ts); the device listener checks certificates against it. */
  crlfile?: string;
}

/** Where `outpost broker mosquitto` keeps the CRL: beside the generated config. */
export const mosquittoCrlPath = (dir: string) => join(resolve(dir), "crl.pem");

/**
 * A TLS listener for devices with client certificates: the certificate's CN is the username
 * (use_identity_as_username), and the client id too, so the %u ACL gives each certificate its own device's topics
 * and no other. mosquitto does not know the registry's pins: a certificate is revoked there by the CRL in
 * `crlfile` (read again on SIGHUP), not at once as on the embedded broker (docs/security.md).
 */
export function mosquittoTlsListenerLines(dir: string, tls: MosquittoTls): string[] {
  const abs = resolve(dir);
  return [
    `listener ${tls.port}${tls.host ? ` ${tls.host}` : ""}`,
    ...tlsFileLines(tls),
    ...(tls.crlfile ? [`crlfile ${resolve(tls.crlfile)}`] : []),
    "require_certificate true",
    "use_identity_as_username true",
    "use_username_as_clientid true",
    "allow_anonymous false",
    `acl_file ${join(abs, "acl")}`,
  ];
}

/** The backends' listener over TLS: the same as backendListenerLines, its traffic encrypted (no client certificate). */
export function backendTlsListenerLines(dir: string, tls: MosquittoTls): string[] {
  const [listener, ...rest] = backendListenerLines(dir, tls.port, tls.host);
  return [listener, ...tlsFileLines(tls), ...rest];
}

const tlsFileLines = (tls: MosquittoTls) => [
  `cafile ${resolve(tls.cafile)}`,
  `certfile ${resolve(tls.certfile)}`,
  `keyfile ${resolve(tls.keyfile)}`,
  "tls_version tlsv1.2",
];

export const DEFAULT_DEVICE_LISTENER = 1883;
export const DEFAULT_BACKEND_LISTENER = 1884;

/**
 * Writes passwd, passwd-backend, acl and a complete mosquitto.conf (devices on `devicePort`, client ids pinned;
 * backends on 127.0.0.1:`backendPort`) into dir. Returns the devices' listener's lines, for a caller that writes
 * its own listeners (after mosquittoGlobalLines(), and followed by backendListenerLines()).
 */
export function writeMosquittoConfig(
  registry: Registry,
  dir: string,
  prefix = DEFAULT_PREFIX,
  ports: { devicePort?: number; backendPort?: number; tls?: Omit<MosquittoTls, "port"> & { port?: number } } = {},
): string[] {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of [
    ["passwd", mosquittoPasswordFile(registry)],
    ["passwd-backend", mosquittoBackendPasswordFile(registry)],
  ]) {
    writeFileSync(join(dir, name), text, { mode: 0o600 });
    chmodSync(join(dir, name), 0o600);
  }
  writeFileSync(join(dir, "acl"), mosquittoAclFile(prefix));
  const lines = mosquittoConfLines(dir);
  const conf = [
    "# generated by outpost broker mosquitto: devices on the first listener, backends on the second",
    ...mosquittoGlobalLines(),
    `listener ${ports.devicePort ?? DEFAULT_DEVICE_LISTENER}`,
    ...lines,
    ...backendListenerLines(dir, ports.backendPort ?? DEFAULT_BACKEND_LISTENER),
    ...(ports.tls ? mosquittoTlsListenerLines(dir, { ...ports.tls, port: ports.tls.port ?? DEFAULT_MQTTS_PORT }) : []),
  ];
  writeFileSync(join(dir, "mosquitto.conf"), conf.join("\n") + "\n");
  return lines;
}
