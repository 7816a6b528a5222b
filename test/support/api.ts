// A test backend on free ports, REST calls to it (JSON in and out), and polling until a condition holds.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startBackend, type Backend, type BackendOptions } from "../../host/server/backend.ts";
import { freePort } from "./mosquitto.ts";

/** A silent backend with its embedded broker on free loopback ports and a fresh data dir. */
export async function startTestBackend(name: string, opts: Partial<BackendOptions> = {}): Promise<Backend> {
  return startBackend({
    dataDir: mkdtempSync(join(tmpdir(), `outpost-${name}-`)),
    port: await freePort(),
    mqttPort: await freePort(),
    host: "127.0.0.1",
    logger: pino({ level: "silent" }),
    ...opts,
  });
}

/** A caller of `base()`'s REST API with `Authorization: <auth()>`; `json` becomes the body; the answer body is parsed. */
export function apiClient(base: () => string, auth: () => string | null) {
  return async function api(path: string, init: RequestInit & { json?: unknown } = {}, authorization: string | null = auth()) {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
    if (authorization) headers.authorization = authorization;
    let body = init.body;
    if (init.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(init.json);
    }
    const res = await fetch(base() + path, { ...init, headers, body });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}

export async function waitFor(check: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 20));
}
