// What `outpost cert` keeps in <data>/tls (0700, keys 0600): the CA, the server's certificate, the devices'. The CLI
// issues device certificates with the CA, and so does REST (POST /devices/:id/certificates) when the backend runs
// on the same data directory; `outpost serve --tls` serves the server's.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Pem } from "./certs.ts";

export const tlsPaths = (dataDir: string) => {
  const dir = join(resolve(dataDir), "tls");
  return {
    dir,
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    serverCert: join(dir, "server.crt"),
    serverKey: join(dir, "server.key"),
    device: (id: string) => ({ cert: join(dir, "devices", `${id}.crt`), key: join(dir, "devices", `${id}.key`) }),
  };
};

/** The data directory's CA with its key, if `outpost cert ca` made one. */
export function dataDirCa(dataDir: string): Pem | undefined {
  const p = tlsPaths(dataDir);
  if (!existsSync(p.caCert) || !existsSync(p.caKey)) return undefined;
  return { cert: readFileSync(p.caCert, "utf8"), key: readFileSync(p.caKey, "utf8") };
}
