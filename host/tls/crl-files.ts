// The CRL an external broker (mosquitto's `crlfile`) reads, since it cannot see the registry's pins: every
// certificate revoked, unpinned with its device (removed, re-credited) or past its rotation's grace, signed by the
// data directory's CA. Rewritten whenever the pins change (the CLI's cert and device commands, and a backend on the
// same data directory when REST changes them); mosquitto reads it again on SIGHUP (docs/security.md).
import { renameSync, writeFileSync } from "node:fs";
import type { Registry } from "../registry/registry.ts";
import { makeCrl } from "./certs.ts";
import { dataDirCa } from "./data-dir-ca.ts";

export class NoCrlSigner extends Error {
  override name = "NoCrlSigner";
}

/** Writes `path` as the CRL of `registry`'s revoked certificates (atomically: mosquitto never reads half a file). */
export async function writeCrl(registry: Registry, dataDir: string, path: string, now = new Date()): Promise<number> {
  const ca = dataDirCa(dataDir);
  if (!ca) throw new NoCrlSigner(`no CA key in ${dataDir}/tls to sign a CRL: run \`outpost cert ca\` first`);
  const revoked = registry.certs.revokedSerials(now.getTime());
  const pem = await makeCrl(
    ca,
    revoked.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revoked_at) })),
    now,
  );
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, pem, { mode: 0o644 }); // public: serial numbers and the CA's signature
  renameSync(tmp, path);
  return revoked.length;
}

/** Rewrites every CRL registered for external brokers (none: nothing to do). Returns the paths written. */
export async function refreshCrls(registry: Registry, dataDir: string): Promise<string[]> {
  const paths = registry.certs.crlFiles();
  for (const path of paths) await writeCrl(registry, dataDir, path);
  return paths;
}
