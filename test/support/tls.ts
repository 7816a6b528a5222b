// Certificates made by the test (a CA, a server certificate for 127.0.0.1 and localhost, device certificates),
// pinned in a backend's registry, and HTTPS requests that trust the test CA.
import { request } from "node:https";
import { X509Certificate } from "node:crypto";
import { makeCa, makeDeviceCert, makeServerCert, fingerprint, serialOf, type Pem, type Validity } from "../../host/tls/certs.ts";
import type { Registry } from "../../host/registry/registry.ts";

export interface TestPki {
  ca: Pem;
  server: Pem;
}

export async function makeTestPki(): Promise<TestPki> {
  const ca = await makeCa("outpost test CA");
  return { ca, server: await makeServerCert(ca, ["localhost", "127.0.0.1"]) };
}

/** A certificate for device `id`, pinned in `registry` unless `pin` is false. */
export async function deviceCert(pki: TestPki, registry: Registry, id: string, opts: Validity & { pin?: boolean; graceMs?: number } = {}): Promise<Pem> {
  const pem = await makeDeviceCert(pki.ca, id, opts);
  if (opts.pin !== false) registry.certs.pin(id, fingerprint(pem.cert), Date.parse(new X509Certificate(pem.cert).validTo), opts.graceMs, serialOf(pem.cert));
  return pem;
}

/** One HTTPS request trusting `ca`; the body is parsed as JSON when there is one. */
export function httpsJson(
  url: string,
  opts: { ca: string; method?: string; headers?: Record<string, string>; json?: unknown; cert?: string; key?: string },
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const body = opts.json === undefined ? undefined : JSON.stringify(opts.json);
    const req = request(
      url,
      {
        method: opts.method ?? (body ? "POST" : "GET"),
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        headers: { ...opts.headers, ...(body ? { "content-type": "application/json" } : {}) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
