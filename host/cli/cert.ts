// outpost cert: what a first deployment needs, in <data>/tls (0700, keys 0600): a CA, a server certificate for
// given host names and IPs, and client certificates for devices (pinned in the registry, so only these log in).
import { Command, Option } from "commander";
import { X509Certificate } from "node:crypto";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PRIVATE_FILE, privateDir } from "../registry/private-files.ts";
import type { Registry } from "../registry/registry.ts";
import { fingerprint, makeCa, makeDeviceCert, makeServerCert, serialOf, type Pem } from "../tls/certs.ts";
import { refreshCrls } from "../tls/crl-files.ts";
import { tlsPaths } from "../tls/data-dir-ca.ts";
import { readPem, TlsFileError } from "../tls/files.ts";
import { CliError, dataOption, jsonOption, openRegistry, parsePositive, withRegistry } from "./common.ts";

export { tlsPaths }; // where `outpost cert` writes and `outpost serve --tls` reads

/** Writes a certificate (0644: it is public) and its key (0600) in a 0700 directory. */
function writePair(dir: string, certPath: string, keyPath: string, pem: Pem): void {
  privateDir(dir);
  writeFileSync(keyPath, pem.key, { mode: PRIVATE_FILE });
  chmodSync(keyPath, PRIVATE_FILE); // an older file keeps its mode through writeFileSync
  writeFileSync(certPath, pem.cert, { mode: 0o644 });
}

function loadCa(dataDir: string): Pem {
  const p = tlsPaths(dataDir);
  if (!existsSync(p.caCert)) throw new CliError(`no CA in ${p.dir}: run \`outpost cert ca --data ${dataDir}\` first`);
  try {
    return { cert: readPem(p.caCert, "CA certificate"), key: readPem(p.caKey, "CA key", true) };
  } catch (err) {
    if (err instanceof TlsFileError) throw new CliError(err.message);
    throw err;
  }
}

const notAfter = (pem: Pem) => Date.parse(new X509Certificate(pem.cert).validTo);

/**
 * Issues a certificate for device `id` from the data directory's CA, writes it to <data>/tls/devices/<id>.{crt,key}
 * and pins it. `graceMs`: the device's older certificates stay valid that long (rotation); 0 revokes them now.
 */
export async function issueDeviceCert(dataDir: string, registry: Registry, id: string, days: number | undefined, graceMs = 0) {
  if (!registry.hasDevice(id)) throw new CliError(`no device ${id}`);
  const pem = await makeDeviceCert(loadCa(dataDir), id, { days });
  const p = tlsPaths(dataDir);
  const files = p.device(id);
  writePair(join(p.dir, "devices"), files.cert, files.key, pem);
  const fp = fingerprint(pem.cert);
  registry.certs.pin(id, fp, notAfter(pem), graceMs, serialOf(pem.cert));
  await refreshCrlsOrSay(registry, dataDir);
  return { id, fingerprint: fp, cert: files.cert, key: files.key, ca: p.caCert };
}

export const daysOption = () => new Option("--days <n>", "validity in days").argParser(parsePositive);

export function certCommand(): Command {
  const cert = new Command("cert").description("certificates for TLS: a CA, the server's, the devices' (in <data>/tls)");
  cert
    .command("ca")
    .description("make the CA that signs the server's and the devices' certificates")
    .addOption(dataOption())
    .option("--name <cn>", "the CA's common name", "outpost CA")
    .addOption(daysOption())
    .option("--force", "replace an existing CA (every certificate it signed stops being trusted)")
    .addOption(jsonOption())
    .action(async (opts: { data: string; name: string; days?: number; force?: boolean; json?: boolean }) => {
      const p = tlsPaths(opts.data);
      if (existsSync(p.caCert) && !opts.force) throw new CliError(`${p.caCert} exists: --force replaces it`);
      writePair(p.dir, p.caCert, p.caKey, await makeCa(opts.name, { days: opts.days }));
      console.log(opts.json ? JSON.stringify({ cert: p.caCert, key: p.caKey }) : `CA ${p.caCert} (key ${p.caKey}, mode 0600)`);
    });
  cert
    .command("server <names...>")
    .description("make the server certificate for these host names and IP addresses (signed by the CA)")
    .addOption(dataOption())
    .addOption(daysOption())
    .addOption(jsonOption())
    .action(async (names: string[], opts: { data: string; days?: number; json?: boolean }) => {
      const p = tlsPaths(opts.data);
      writePair(p.dir, p.serverCert, p.serverKey, await makeServerCert(loadCa(opts.data), names, { days: opts.days }));
      if (opts.json) console.log(JSON.stringify({ cert: p.serverCert, key: p.serverKey, names }));
      else console.log(`server certificate ${p.serverCert} for ${names.join(", ")} (key ${p.serverKey}); serve it with \`outpost serve --tls\``);
    });
  cert
    .command("device <id>")
    .description("issue a client certificate for a registered device and pin it (its older ones are revoked, or kept for --grace)")
    .addOption(dataOption())
    .addOption(daysOption())
    .addOption(new Option("--grace <seconds>", "keep the device's older certificates valid this long (rotation)").argParser(parsePositive))
    .addOption(jsonOption())
    .action(async (id: string, opts: { data: string; days?: number; grace?: number; json?: boolean }) => {
      const issued = await withRegistryAsync(opts.data, (r) => issueDeviceCert(opts.data, r, id, opts.days, (opts.grace ?? 0) * 1000));
      printIssued(issued, opts.json);
    });
  cert
    .command("list <id>")
    .description("the certificates pinned for a device")
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((id: string, opts: { data: string; json?: boolean }) => {
      const rows = withRegistry(opts.data, false, (r) => r.certs.list(id));
      if (opts.json) return console.log(JSON.stringify(rows));
      if (rows.length === 0) return console.log(`no certificates pinned for ${id}`);
      for (const c of rows)
        console.log(
          `${c.fingerprint}\texpires ${new Date(c.not_after).toISOString()}${c.valid_until ? `\tvalid until ${new Date(c.valid_until).toISOString()}` : ""}`,
        );
    });
  cert
    .command("revoke <id>")
    .description("revoke a device's certificates now (a running server drops its connections within a moment)")
    .option("--fingerprint <sha256>", "only this one")
    .addOption(dataOption())
    .addOption(jsonOption())
    .action(async (id: string, opts: { data: string; fingerprint?: string; json?: boolean }) => {
      const n = await withRegistryAsync(opts.data, async (r) => {
        let revoked: number;
        if (!opts.fingerprint) revoked = r.certs.revokeAll(id);
        else {
          const c = r.certs.get(opts.fingerprint.toLowerCase().replaceAll(":", ""));
          revoked = c?.device_id === id && r.certs.revoke(c.fingerprint) ? 1 : 0;
        }
        if (revoked > 0) await refreshCrlsOrSay(r, opts.data);
        return revoked;
      });
      if (n === 0) throw new CliError(`no certificate pinned for ${id}${opts.fingerprint ? ` with fingerprint ${opts.fingerprint}` : ""}`);
      console.log(opts.json ? JSON.stringify({ id, revoked: n }) : `revoked ${n} certificate(s) of ${id}`);
    });
  return cert;
}

export function printIssued(issued: Awaited<ReturnType<typeof issueDeviceCert>>, json?: boolean): void {
  if (json) return console.log(JSON.stringify(issued));
  console.log(
    [
      `certificate ${issued.cert}`,
      `key         ${issued.key} (mode 0600: copy it to the device, then delete it here)`,
      `CA          ${issued.ca}`,
      `fingerprint ${issued.fingerprint} (pinned)`,
    ].join("\n"),
  );
}

/** Rewrites the external broker's CRLs after a change of pins; a CRL that cannot be written is said, not fatal. */
export async function refreshCrlsOrSay(registry: Registry, dataDir: string): Promise<void> {
  try {
    const paths = await refreshCrls(registry, dataDir);
    if (paths.length > 0) console.error(`rewrote ${paths.join(", ")}: SIGHUP mosquitto to apply it (kill -HUP <pid>)`);
  } catch (err) {
    console.error(`cannot rewrite the CRL: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}

/** withRegistry for an async body: the registry stays open until it settles. */
export async function withRegistryAsync<T>(dir: string, fn: (r: Registry) => Promise<T>): Promise<T> {
  const registry = openRegistry(dir, { create: false });
  try {
    return await fn(registry);
  } finally {
    registry.close();
  }
}
