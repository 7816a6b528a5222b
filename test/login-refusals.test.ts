// Issue 15, one set of names for refused logins: every refusal of a device's MQTT or WebSocket login carries a
// name from host/registry/login-refusals.ts, the same in the onLoginRefused hook (the log line), the audit log's
// login_refused outcome, the CONNACK code or HTTP status, and docs/security.md. Hostile logins over a real broker.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt from "mqtt";
import { WebSocket } from "ws";
import type { Backend } from "../host/server/backend.ts";
import { BACKEND_USERNAME } from "../host/registry/registry.ts";
import { LOGIN_REFUSALS, type LoginRefusal } from "../host/registry/login-refusals.ts";
import { startTestBackend, waitFor } from "./support/api.ts";

let backend: Backend;
let credential: string;
const told: { id: string | undefined; reason: LoginRefusal; transport: string }[] = [];

beforeAll(async () => {
  backend = await startTestBackend("login-refusals", { onLoginRefused: (id, reason, transport) => told.push({ id, reason, transport }) });
  credential = backend.registry.addDevice("lr-1").credential;
});
afterAll(() => backend?.close());

/** An MQTT login's CONNACK return code (0: accepted). */
function mqttLogin(opts: mqtt.IClientOptions): Promise<number> {
  const client = mqtt.connect(backend.mqttUrl, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...opts });
  return new Promise<number>((resolve) => {
    client.once("connect", () => resolve(0));
    client.once("error", (err) => resolve((err as { code?: number }).code ?? -1));
  }).finally(() => client.end(true));
}

/** A WebSocket upgrade's status and, when refused, the body's reason. */
function wsLogin(headers: Record<string, string>, query = ""): Promise<{ status: number; reason?: string }> {
  const ws = new WebSocket(`${backend.url.replace("http", "ws")}/api/v1/devices/ws${query}`, { headers });
  ws.on("error", () => {});
  return new Promise((resolve) => {
    ws.once("open", () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, reason: JSON.parse(body).reason }));
    });
  });
}

/** The reason told to the hook and written to the audit log for the next refusal `attempt` makes. */
async function refusal(transport: "mqtt" | "ws", attempt: () => Promise<unknown>) {
  const before = told.length;
  const answer = await attempt();
  await waitFor(() => told.length > before);
  const hook = told[before];
  expect(hook.transport).toBe(transport);
  let row: { outcome: string; detail: string | null } | undefined;
  await waitFor(() => {
    row = backend.registry.audit.query({ kind: "login_refused", limit: 1 }).records.find((r) => r.outcome === hook.reason && r.detail === transport);
    return row !== undefined;
  });
  return { reason: hook.reason, id: hook.id, answer };
}

describe("refused logins, by one name", () => {
  it("MQTT: each refusal named, with its CONNACK code, in the hook and the audit log", async () => {
    const cases: [string, mqtt.IClientOptions, LoginRefusal][] = [
      ["no password", { clientId: "lr-1", username: "lr-1" }, "CredentialMissing"],
      ["a wrong password", { clientId: "lr-1", username: "lr-1", password: "nope" }, "BadCredential"],
      ["an id that is not one", { clientId: "x", username: "bad id/+", password: "x" }, "InvalidDeviceId"],
      ["the backend's name with a wrong password", { clientId: "b", username: BACKEND_USERNAME, password: "nope" }, "BadBackendPassword"],
      [
        "a will on another device's topic",
        { clientId: "lr-1", username: "lr-1", password: credential, will: { topic: "devices/other/status", payload: Buffer.from("x"), qos: 0, retain: false } },
        "WillRefused",
      ],
      [
        "a will too large",
        {
          clientId: "lr-1",
          username: "lr-1",
          password: credential,
          will: { topic: "devices/lr-1/status", payload: Buffer.alloc(4096, 0x61), qos: 0, retain: true },
        },
        "WillTooLarge",
      ],
    ];
    for (const [what, opts, reason] of cases) {
      const got = await refusal("mqtt", () => mqttLogin(opts));
      expect(got.reason, what).toBe(reason);
      expect(got.answer, what).toBe(LOGIN_REFUSALS[reason].connack);
    }
    expect(await mqttLogin({ clientId: "lr-1", username: "lr-1", password: credential })).toBe(0); // and the device itself still logs in
  });

  it("WebSocket: each refusal named, with its HTTP status and the reason in the body", async () => {
    const cases: [string, Record<string, string>, LoginRefusal][] = [
      ["no token", {}, "CredentialMissing"],
      ["a Basic header", { authorization: "Basic bHItMTp4" }, "CredentialMalformed"],
      ["no id in the token", { authorization: `Bearer ${credential}` }, "CredentialMalformed"],
      ["an id that is not one", { authorization: `Bearer bad%20id:${credential}` }, "InvalidDeviceId"],
      ["a wrong password", { authorization: "Bearer lr-1:nope" }, "BadCredential"],
    ];
    for (const [what, headers, reason] of cases) {
      const got = await refusal("ws", () => wsLogin(headers));
      expect(got.reason, what).toBe(reason);
      expect(got.answer, what).toEqual({ status: LOGIN_REFUSALS[reason].http, reason });
    }
  });

  it("docs/security.md lists exactly these names, and no other spelling is left in the code", () => {
    const doc = readFileSync(new URL("../docs/security.md", import.meta.url), "utf8");
    const section = doc.slice(doc.indexOf("### Refused logins"), doc.indexOf("\n## ", doc.indexOf("### Refused logins")));
    const documented = [...section.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(LOGIN_REFUSALS).sort());
    for (const file of ["host/broker/acl.ts", "host/server/ws.ts", "host/tls/device-identity.ts"]) {
      const code = readFileSync(new URL(`../${file}`, import.meta.url), "utf8");
      expect(code, file).not.toMatch(
        /"(bad_credential|no_credentials|invalid_device_id|will_refused|will_not_allowed|will_too_large|bad_backend_password|check_failed)"/,
      );
    }
  });
});
