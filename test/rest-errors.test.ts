// REST errors against a real backend and a module device: one shape everywhere ({error, message} and named
// extras), each saying what to send instead; hostile bodies (deep, big, wrongly typed) and query strings get
// named 4xx answers, never a 500 or a coerced value; event streams are bounded per API key.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request as httpRequest } from "node:http";
import type { Backend } from "../host/server/backend.ts";
import { Device } from "../host/device.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";

let backend: Backend;
let key: string;
let calls = 0;
const devices: Device[] = [];
const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);

beforeAll(async () => {
  backend = await startTestBackend("rest-errors");
  key = backend.registry.createApiKey().key;
  const { credential } = backend.registry.addDevice("dev1");
  const device = new Device({ id: "dev1", methods: { count: () => ++calls } });
  devices.push(device);
  await device.connect(backend.mqttUrl, { password: credential });
  await waitFor(() => backend.presence.isOnline("dev1"));
});

afterAll(async () => {
  for (const d of devices) await d.close();
  await backend?.close();
});

/** The one error shape: exactly error and message (both non-empty strings), plus the named extras given. */
function expectError(res: { status: number; body: unknown }, status: number, error: string, extras: string[] = []) {
  expect(res.status).toBe(status);
  const body = res.body as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(["error", "message", ...extras].sort());
  expect(body.error).toBe(error);
  expect(typeof body.message).toBe("string");
  expect((body.message as string).length).toBeGreaterThan(10);
  return body as { error: string; message: string; [k: string]: unknown };
}

/** A raw POST: exactly these headers (fetch would add a Content-Type for a string body). */
function rawPost(path: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${backend.url}${path}`, { method: "POST", headers: { ...headers, "content-length": String(Buffer.byteLength(body)) } }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("one error shape, saying what to do", () => {
  it("an unknown route is 404 not_found in the same shape", async () => {
    for (const path of ["/api/v1/nope", "/nope", "/api/v1/devices/dev1/nothing"]) expectError(await api(path), 404, "not_found");
  });

  it("a wrong method on a known route is 405 with an Allow header naming the right ones", async () => {
    const res = await fetch(`${backend.url}/api/v1/devices`, { method: "PUT", headers: { authorization: `Bearer ${key}` } });
    expect(res.headers.get("allow")).toBe("GET, HEAD, POST");
    const body = expectError({ status: res.status, body: await res.json() }, 405, "method_not_allowed");
    expect(body.message).toContain("GET, HEAD, POST");
    const rpc = await fetch(`${backend.url}/api/v1/devices/dev1/rpc`, { headers: { authorization: `Bearer ${key}` } });
    expect(rpc.status).toBe(405);
    expect(rpc.headers.get("allow")).toBe("POST");
    const one = await fetch(`${backend.url}/api/v1/devices/dev1`, { method: "PUT", headers: { authorization: `Bearer ${key}` } });
    expect(one.status).toBe(405);
    expect(one.headers.get("allow")).toBe("DELETE, GET, HEAD, PATCH");
  });

  it("a body without a Content-Type, or with another one, is 415 asking for application/json", async () => {
    const body = JSON.stringify({ method: "count" });
    for (const headers of [{} as Record<string, string>, { "content-type": "text/plain" }, { "content-type": "application/x-www-form-urlencoded" }]) {
      const res = await rawPost("/api/v1/devices/dev1/rpc", { authorization: `Bearer ${key}`, ...headers }, body);
      expect(expectError(res, 415, "unsupported_media_type").message).toContain("application/json");
    }
    expect(calls).toBe(0);
  });

  it('"jsonrpc":"1.0" is 400 saying "2.0" is needed', async () => {
    const res = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { jsonrpc: "1.0", id: 1, method: "count" } });
    expect(expectError(res, 400, "bad_request").message).toBe('body.jsonrpc must be "2.0"');
  });

  it("nothing is coerced: a number for method or id is a 400, never sent as a string", async () => {
    const method = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: 5 } });
    expect(expectError(method, 400, "bad_request").message).toBe("body.method must be a string");
    const id = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: true, method: "count" } });
    expect(expectError(id, 400, "bad_request").message).toMatch(/^body\.id must be /);
    const missing = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { params: [1] } });
    expect(expectError(missing, 400, "bad_request").message).toBe("body.method is required");
    const batch = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: [{ jsonrpc: "2.0", id: 1, method: "count" }] });
    expect(expectError(batch, 400, "bad_request").message).toContain("body must be an object");
    const bad = await rawPost("/api/v1/devices/dev1/rpc", { authorization: `Bearer ${key}`, "content-type": "application/json" }, '{"method":');
    expect(expectError(bad, 400, "bad_json").message).toContain("not valid JSON");
    expect(calls).toBe(0);
  });

  it("a malformed API key is 401, a well-formed unknown one 403, as the docs say", async () => {
    for (const auth of ["Bearer garbage", "Bearer opk_xyz_abc", "Basic abc", "Bearer"]) {
      const res = await api("/api/v1/devices", {}, auth);
      expectError(res, 401, "unauthorized");
    }
    const fetched = await fetch(`${backend.url}/api/v1/devices`, { headers: { authorization: "Bearer garbage" } });
    expect(fetched.headers.get("www-authenticate")).toBe('Bearer realm="outpost"');
    expect(expectError(await api("/api/v1/devices", {}, null), 401, "unauthorized").message).toContain("Bearer <api key>");
    const wrong = await api("/api/v1/devices", {}, "Bearer opk_0123456789abcdef_wrongwrongwrongwrong");
    expect(expectError(wrong, 403, "forbidden").message).toContain("outpost key create");
  });
});

describe("hostile bodies and query strings", () => {
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  const post = (path: string, body: string) => rawPost(path, { authorization: `Bearer ${key}`, "content-type": "application/json" }, body);

  it("a body nested 20,000 deep is 400 json_too_deep on every route, and the backend serves on", async () => {
    expectError(await post("/api/v1/devices/dev1/rpc", `{"method":"count","params":${deep(20_000)}}`), 400, "json_too_deep");
    expectError(await post("/api/v1/devices/dev1/rpc/count", deep(20_000)), 400, "json_too_deep");
    expectError(await post("/api/v1/devices", `{"id":"deep","metadata":{"a":${deep(20_000)}}}`), 400, "json_too_deep");
    // 64 levels is the bound: params nested 63 deep inside the request object are delivered (a notification: 202).
    expect((await post("/api/v1/devices/dev1/rpc", `{"jsonrpc":"2.0","method":"echo","params":${deep(63)}}`)).status).toBe(202);
    expectError(await post("/api/v1/devices/dev1/rpc", `{"jsonrpc":"2.0","method":"echo","params":${deep(64)}}`), 400, "json_too_deep");
    expect(calls).toBe(0);
    expect(backend.registry.hasDevice("deep")).toBe(false);
  });

  it("a body over the limit is 413 body_too_large, saying the limit", async () => {
    const res = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { method: "count", params: ["x".repeat(70_000)] } });
    expect(expectError(res, 413, "body_too_large").message).toContain("65536");
  });

  it('device ids must be strings ({"id": true} and {"id": 123} are 400, nothing is created) and "ws" is reserved', async () => {
    for (const id of [true, 123, null, ["a"]]) {
      const res = await api("/api/v1/devices", { method: "POST", json: { id } });
      expect(expectError(res, 400, "bad_request").message).toBe("body.id must be a string");
    }
    expect(backend.registry.hasDevice("true")).toBe(false);
    expect(backend.registry.hasDevice("123")).toBe(false);
    const ws = await api("/api/v1/devices", { method: "POST", json: { id: "ws" } });
    expect(expectError(ws, 400, "invalid_device_id").message).toContain("reserved");
    expect(backend.registry.hasDevice("ws")).toBe(false);
  });

  it("timeout_ms must be a whole number of ms from 1 to 300000: 1e309 (Infinity) and the like are 400 bad_timeout", async () => {
    for (const t of ["1e309", "Infinity", "0", "-1", "1.5", "300001", "1e3", "abc", "", "0x10"]) {
      const res = await api(`/api/v1/devices/dev1/rpc?timeout_ms=${encodeURIComponent(t)}`, { method: "POST", json: { method: "count" } });
      expect(expectError(res, 400, "bad_timeout").message).toContain("1 to 300000");
    }
    const twice = await api("/api/v1/devices/dev1/rpc/count?timeout_ms=5&timeout_ms=6", { method: "POST" });
    expectError(twice, 400, "bad_request");
    expect(calls).toBe(0);
    for (const t of ["1000", "300000"]) {
      const res = await api(`/api/v1/devices/dev1/rpc?timeout_ms=${t}`, { method: "POST", json: { method: "count" } });
      expect(res.status).toBe(200);
    }
    expect(calls).toBe(2);
  });
});

describe("event streams per API key", () => {
  const open: AbortController[] = [];
  afterAll(() => {
    for (const c of open) c.abort();
  });

  async function stream(apiKey: string): Promise<{ status: number; body: unknown; abort: AbortController }> {
    const abort = new AbortController();
    open.push(abort);
    const res = await fetch(`${backend.url}/api/v1/devices/dev1/events`, { headers: { authorization: `Bearer ${apiKey}` }, signal: abort.signal });
    if (res.status === 200) return { status: 200, body: undefined, abort };
    return { status: res.status, body: await res.json(), abort };
  }

  it("16 streams per key are served; the 17th is 429 too_many_streams; another key is not affected; closing one frees it", async () => {
    const first: AbortController[] = [];
    for (let i = 0; i < 16; i++) {
      const s = await stream(key);
      expect(s.status).toBe(200);
      first.push(s.abort);
    }
    const refused = await stream(key);
    expect(expectError(refused, 429, "too_many_streams", ["limit"]).limit).toBe(16);
    const other = backend.registry.createApiKey().key;
    expect((await stream(other)).status).toBe(200);
    first[0].abort();
    // The server sees the close a moment later; then the key has room for one again, and only one.
    let again = await stream(key);
    while (again.status === 429) {
      await new Promise((r) => setTimeout(r, 20));
      again = await stream(key);
    }
    expect(again.status).toBe(200);
    expect((await stream(key)).status).toBe(429);
  });
});
