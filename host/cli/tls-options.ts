// The TLS options of `outpost serve`: certificate, key and device CA files from flags, environment variables or a
// JSON config file (--tls-config), or --tls for what `outpost cert` wrote in <data>/tls. Precedence: the flag, then
// the variable, then the config file, then --tls's defaults.
import { type Command, Option } from "commander";
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { BackendTls } from "../server/backend.ts";
import { readTlsFiles, TlsFileError, type TlsPaths } from "../tls/files.ts";
import { DEFAULT_MQTTS_PORT } from "../tls/listener.ts";
import { tlsPaths } from "./cert.ts";
import { CliError, parsePort } from "./common.ts";

export function addTlsOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--tls", "serve TLS with <data>/tls/server.crt, server.key and ca.crt (made by `outpost cert`)"))
    .addOption(new Option("--tls-cert <path>", "server certificate (PEM) for HTTPS, wss:// and MQTT over TLS").env("OUTPOST_TLS_CERT"))
    .addOption(new Option("--tls-key <path>", "its private key (PEM, mode 0600)").env("OUTPOST_TLS_KEY"))
    .addOption(new Option("--tls-ca <path>", "CA whose device certificates may log in instead of a password").env("OUTPOST_TLS_CA"))
    .addOption(new Option("--tls-config <file>", 'JSON: {"cert": path, "key": path, "ca": path}, paths relative to the file').env("OUTPOST_TLS_CONFIG"))
    .addOption(new Option("--mqtts-port <port>", "MQTT over TLS port").argParser(parsePort).default(DEFAULT_MQTTS_PORT))
    .addOption(new Option("--plaintext", "with TLS, keep the plaintext MQTT listener on --mqtt-port too (off by default)"))
    .addOption(new Option("--http-port <port>", "with TLS, also serve plaintext HTTP (REST, ws://) on this port").argParser(parsePort));
}

export interface TlsFlags {
  data: string;
  tls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsConfig?: string;
  mqttsPort: number;
  plaintext?: boolean;
  httpPort?: number;
}

/** The backend's TLS settings from the parsed flags, or undefined for plaintext only. */
export function tlsFromOptions(opts: TlsFlags): BackendTls | undefined {
  let paths: Partial<TlsPaths> = {};
  if (opts.tls) {
    const p = tlsPaths(opts.data);
    paths = { cert: p.serverCert, key: p.serverKey, ca: existsSync(p.caCert) ? p.caCert : undefined };
  }
  if (opts.tlsConfig) paths = { ...paths, ...readConfig(opts.tlsConfig) };
  if (opts.tlsCert) paths.cert = opts.tlsCert;
  if (opts.tlsKey) paths.key = opts.tlsKey;
  if (opts.tlsCa) paths.ca = opts.tlsCa;
  const any = paths.cert || paths.key || paths.ca;
  if (!any) {
    if (opts.plaintext || opts.httpPort !== undefined) throw new CliError("--plaintext and --http-port go with TLS (--tls, --tls-cert, --tls-config)");
    return undefined;
  }
  if (!paths.cert || !paths.key) throw new CliError("TLS needs both a certificate and its key (--tls-cert and --tls-key, or --tls-config)");
  try {
    const material = readTlsFiles({ cert: paths.cert, key: paths.key, ca: paths.ca });
    return { ...material, mqttsPort: opts.mqttsPort, plaintextMqtt: opts.plaintext, httpPort: opts.httpPort };
  } catch (err) {
    if (err instanceof TlsFileError) throw new CliError(err.message);
    throw err;
  }
}

function readConfig(file: string): Partial<TlsPaths> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new CliError(`cannot read --tls-config ${file}: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new CliError(`--tls-config ${file}: expected a JSON object`);
  const out: Partial<TlsPaths> = {};
  for (const k of ["cert", "key", "ca"] as const) {
    const v = (parsed as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (typeof v !== "string" || v === "") throw new CliError(`--tls-config ${file}: "${k}" must be a file path`);
    out[k] = resolve(dirname(file), v);
  }
  return out;
}
