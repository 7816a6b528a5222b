// The CA `outpost cert ca` keeps in <data>/tls: the CLI issues device certificates with it, and so does REST
// (POST /devices/:id/certificates) when the backend runs on the same data directory.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Pem } from "./certs.ts";

export const dataDirCaPaths = (dataDir: string) => {
  const dir = join(resolve(dataDir), "tls");
  return { cert: join(dir, "ca.crt"), key: join(dir, "ca.key") };
};

/** The data directory's CA with its key, if `outpost cert ca` made one. */
export function dataDirCa(dataDir: string): Pem | undefined {
  const p = dataDirCaPaths(dataDir);
  if (!existsSync(p.cert) || !existsSync(p.key)) return undefined;
  return { cert: readFileSync(p.cert, "utf8"), key: readFileSync(p.key, "utf8") };
}
