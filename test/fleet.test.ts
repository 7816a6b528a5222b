// Device tags and metadata (issue 17): PATCH /devices/:id, GET /devices filtered by tag, online state and metadata,
// paged with an opaque cursor; the answer stays the array it was (test/backend*.test.ts and the CLI read it).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../host/server/backend.ts";
import { startFleetDevice, type RunningDevice } from "../host/cli/fleet.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";

let backend: Backend;
let key: string;
let online: RunningDevice;
const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);

async function list(query: string): Promise<{ ids: string[]; next?: string; status: number; body: any }> {
  const res = await fetch(`${backend.url}/api/v1/devices${query}`, { headers: { authorization: `Bearer ${key}` } });
  const body = await res.json();
  const next = /<([^>]+)>; rel="next"/.exec(res.headers.get("link") ?? "")?.[1];
  return { status: res.status, body, next, ids: Array.isArray(body) ? body.map((d: { id: string }) => d.id) : [] };
}

beforeAll(async () => {
  backend = await startTestBackend("fleet");
  key = backend.registry.createApiKey().key;
  for (let i = 1; i <= 12; i++) {
    const id = `f-${String(i).padStart(2, "0")}`;
    await api("/api/v1/devices", { method: "POST", json: { id, metadata: { building: i <= 6 ? "4" : "5", floor: i % 3, lit: i % 2 === 0 } } });
    await api(`/api/v1/devices/${id}`, { method: "PATCH", json: { tags: i % 2 ? ["pump", "odd"] : ["pump"] } });
  }
  const created = backend.registry.addDevice("f-live");
  online = await startFleetDevice(backend.mqttUrl, "f-live", created.credential);
  await waitFor(() => backend.presence.isOnline("f-live"));
});

afterAll(async () => {
  await online?.close();
  await backend?.close();
});

describe("PATCH /devices/:id", () => {
  it("replaces tags and merge-patches metadata (null removes a member)", async () => {
    const res = await api("/api/v1/devices/f-01", { method: "PATCH", json: { tags: ["b", "a", "a"], metadata: { floor: null, note: "x" } } });
    expect(res.status).toBe(200);
    expect(res.body.tags).toEqual(["a", "b"]);
    expect(res.body.metadata).toEqual({ building: "4", lit: false, note: "x" });
    expect((await api("/api/v1/devices/f-01")).body.tags).toEqual(["a", "b"]);
    await api("/api/v1/devices/f-01", { method: "PATCH", json: { tags: ["pump", "odd"], metadata: { floor: 1, note: null } } });
  });

  it("names each bad change", async () => {
    const cases: [number, string, unknown][] = [
      [400, "bad_tag", { tags: ["has space"] }],
      [400, "bad_tag", { tags: [5] }],
      [400, "bad_tag", { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }],
      [400, "bad_tag", { tags: ["x".repeat(65)] }],
      [400, "metadata_too_large", { metadata: { blob: "x".repeat(5000) } }],
      [400, "unknown_field", { tags: [], colour: "red" }],
      [400, "empty_change", {}],
      [400, "bad_request", { tags: "pump" }],
      [400, "bad_request", { metadata: [1] }],
    ];
    for (const [status, error, body] of cases) {
      const res = await api("/api/v1/devices/f-02", { method: "PATCH", json: body });
      expect({ body, status: res.status, error: res.body.error }).toEqual({ body, status, error });
    }
    expect((await api("/api/v1/devices/nobody", { method: "PATCH", json: { tags: ["a"] } })).body.error).toBe("unknown_device");
    // Nothing of a refused change was kept.
    expect((await api("/api/v1/devices/f-02")).body).toMatchObject({ tags: ["pump"], metadata: { building: "4" } });
  });
});

describe("GET /devices", () => {
  it("without a query is the array of every device, as before", async () => {
    const all = await list("");
    expect(all.status).toBe(200);
    expect(all.ids).toHaveLength(13);
    expect(all.next).toBeUndefined();
    expect(all.body[0]).toMatchObject({ id: "f-01", online: false, tags: ["odd", "pump"] });
  });

  it("filters by tags (all of them), online state and metadata", async () => {
    expect((await list("?tag=pump")).ids).toHaveLength(12);
    expect((await list("?tag=pump&tag=odd")).ids).toEqual(["f-01", "f-03", "f-05", "f-07", "f-09", "f-11"]);
    expect((await list("?online=true")).ids).toEqual(["f-live"]);
    expect((await list("?online=false&tag=pump")).ids).toHaveLength(12);
    expect((await list("?metadata.building=5&tag=odd")).ids).toEqual(["f-07", "f-09", "f-11"]);
    expect((await list("?metadata.floor=0")).ids).toEqual(["f-03", "f-06", "f-09", "f-12"]);
    expect((await list("?metadata.lit=true&metadata.building=4")).ids).toEqual(["f-02", "f-04", "f-06"]);
    expect((await list("?metadata.building=4&metadata.floor=2")).ids).toEqual(["f-02", "f-05"]);
  });

  it("pages with an opaque cursor in the Link header, and the pages add up", async () => {
    const seen: string[] = [];
    let path: string | undefined = "?tag=pump&limit=5";
    let pages = 0;
    while (path) {
      const page = await list(path.replace("/api/v1/devices", ""));
      expect(page.ids.length).toBeLessThanOrEqual(5);
      seen.push(...page.ids);
      path = page.next;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual((await list("?tag=pump")).ids);
  });

  it("names each bad query", async () => {
    const cases: [string, string][] = [
      ["?limit=0", "bad_limit"],
      ["?limit=-3", "bad_limit"],
      ["?limit=100000", "bad_limit"],
      ["?cursor=not-ours", "bad_cursor"],
      ["?online=maybe", "bad_filter"],
      ["?online=true&online=false", "bad_filter"],
      ["?tag=has%20space", "bad_tag"],
      ["?metadata.a.b=1", "bad_filter"],
      ["?colour=red", "unknown_filter"],
    ];
    for (const [query, error] of cases) {
      const res = await list(query);
      expect({ query, status: res.status, error: res.body.error }).toEqual({ query, status: 400, error });
    }
  });

  it("drops a deleted device's tags", async () => {
    await api("/api/v1/devices", { method: "POST", json: { id: "f-gone" } });
    await api("/api/v1/devices/f-gone", { method: "PATCH", json: { tags: ["gone"] } });
    expect((await list("?tag=gone")).ids).toEqual(["f-gone"]);
    await api("/api/v1/devices/f-gone", { method: "DELETE" });
    await api("/api/v1/devices", { method: "POST", json: { id: "f-gone" } });
    expect((await list("?tag=gone")).ids).toEqual([]);
  });
});
