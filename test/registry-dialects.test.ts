// The registry's stores on both databases: the same calls and the same answers on SQLite (the default) and on a
// Postgres this test starts (test/support/postgres.ts). Then what only Postgres has: migrations run once across
// nodes, a newer schema refused, a lost server named and dialed again.
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryUnavailable, numberPlaceholders } from "../host/registry/postgres.ts";
import { POSTGRES_MIGRATIONS, RegistryTooNew } from "../host/registry/postgres-schema.ts";
import { DeviceExists, Registry } from "../host/registry/registry.ts";
import { KeyNameTaken } from "../host/registry/api-keys.ts";
import { InvalidMetadata } from "../host/registry/tags.ts";
import { ReleaseStore } from "../host/registry/releases.ts";
import { SessionStore } from "../host/registry/sessions.ts";
import { TelemetryStore } from "../host/registry/telemetry.ts";
import { UpdateHistory } from "../host/registry/update-history.ts";
import type { JobSpec } from "../host/jobs/spec.ts";
import { psql, startPostgres, type TestPostgres } from "./support/postgres.ts";
import { waitFor } from "./support/api.ts";
import { PresenceTracker } from "../host/rpc/presence.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const FAST = { keyCost: { N: 1024, r: 8, p: 1 }, deviceCost: { N: 1024, r: 8, p: 1 } };
const dir = () => mkdtempSync(join(tmpdir(), "outpost-dialect-"));

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg?.close();
});

/** A fresh registry per test: SQLite in a new directory, or Postgres with every table emptied. */
const dialects: [string, () => Registry][] = [
  ["sqlite", () => new Registry(dir(), FAST)],
  [
    "postgres",
    () => {
      const r = new Registry(dir(), { ...FAST, db: pg.urlWithPassword });
      const tables = r.db
        .prepare<[], { tablename: string }>(
          "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('schema_migrations', 'credentials_revision')",
        )
        .all();
      r.db.exec(`TRUNCATE ${tables.map((t) => t.tablename).join(", ")}`);
      return r;
    },
  ],
];

const spec = (over: Partial<JobSpec> = {}): JobSpec => ({
  selector: { tags: [] } as unknown as JobSpec["selector"],
  rpc: { method: "echo" },
  rate: {},
  abort: [],
  timeout_ms: 1000,
  retries: { max: 0, on: [] },
  expires_in_s: 60,
  max_in_flight: 10,
  ...over,
});

describe.each(dialects)("the registry on %s", (_name, open) => {
  it("adds, reads, lists, rotates and removes devices; a taken id is DeviceExists; the revision counts removals and new credentials", async () => {
    const r = open();
    const before = r.credentialsRevision();
    const { credential } = r.addDevice("pump-1", { site: "north", floor: 2 }, { request_max: 512 });
    r.addDevice("pump-2");
    expect(() => r.addDevice("pump-1")).toThrow(DeviceExists);
    expect(r.getDevice("pump-1")).toMatchObject({
      id: "pump-1",
      metadata: { site: "north", floor: 2 },
      online: false,
      limits: { request_max: 512, response_max: null },
    });
    expect(r.listDevices().map((d) => d.id)).toEqual(["pump-1", "pump-2"]);
    expect(r.countDevices()).toBe(2);
    expect(await r.verifyDevice("pump-1", credential)).toBe(true);
    expect(await r.verifyDevice("pump-1", `${credential}x`)).toBe(false);
    const next = r.rotateCredential("pump-1");
    expect(await r.verifyDevice("pump-1", credential)).toBe(false);
    expect(await r.verifyDevice("pump-1", next)).toBe(true);
    expect(r.setLimits("pump-1", { max_packet: 4096 })).toBe(true);
    expect(r.setLimits("pump-1", { max_packet: 4096 })).toBe(false);
    r.savePresence([{ id: "pump-2", online: true, last_seen: 1_700_000_000_123, connected_since: 1_700_000_000_000, transport: "mqtt" }]);
    expect(r.getDevice("pump-2")).toMatchObject({ online: true, last_seen: 1_700_000_000_123, connected_since: 1_700_000_000_000, transport: "mqtt" });
    r.markAllOffline();
    expect(r.getDevice("pump-2")?.online).toBe(false);
    expect(r.removeDevice("pump-2")).toBe(true);
    expect(r.removeDevice("pump-2")).toBe(false);
    expect(r.hasDevice("pump-2")).toBe(false);
    expect(r.credentialsRevision()).toBe(before + 2);
    r.setSetting("a", "1");
    r.setSetting("a", "2");
    expect(r.setting("a")).toBe("2");
    r.close();
  });

  it("keeps tags and metadata, and filters by them with the same types on both (1 = 1.0, never '1' = 1 unless as text)", () => {
    const r = open();
    r.addDevice("d1", { n: 1, s: "1", on: true });
    r.addDevice("d2", { n: 1.0, s: "x", on: false });
    r.addDevice("d3", { n: "1" });
    expect(r.tags.update("d1", { tags: ["a", "b", "a"] })).toBe(true);
    r.tags.update("d2", { tags: ["b"], metadata: { s: "y", gone: null } });
    expect(r.tags.update("nobody", { tags: ["a"] })).toBe(false);
    expect(r.tags.tagsOf("d1")).toEqual(["a", "b"]);
    expect(Object.fromEntries(r.tags.tagsOfMany(["d1", "d2", "d3"]))).toEqual({ d1: ["a", "b"], d2: ["b"], d3: [] });
    const match = (f: Parameters<typeof r.tags.matching>[0]) => [...r.tags.matching(f)];
    expect(match({ tags: ["b"] })).toEqual(["d1", "d2"]);
    expect(match({ tags: ["a", "b"] })).toEqual(["d1"]);
    expect(match({ metadata: { n: 1 } })).toEqual(["d1", "d2"]);
    expect(match({ metadata: { n: "1" } })).toEqual(["d3"]);
    expect(match({ metadata: { on: true } })).toEqual(["d1"]);
    expect(match({ metadata: { s: "y" } })).toEqual(["d2"]);
    expect(match({ metadataText: { n: "1" } })).toEqual(["d1", "d2", "d3"]);
    expect(match({ metadataText: { on: "false" } })).toEqual(["d2"]);
    expect(match({ ids: ["d3", "d1"] })).toEqual(["d1", "d3"]);
    expect(() => match({ metadata: { "x') OR 1=1 --": 1 } })).toThrow(InvalidMetadata);
    r.removeDevice("d1");
    expect(r.tags.tagsOf("d1")).toEqual([]); // removed with its device
    r.close();
  });

  it("API keys: a taken name is KeyNameTaken; verify, revoke; sessions end with their key", async () => {
    const r = open();
    const k = r.createApiKey({ name: "ops", scopes: ["read"] });
    expect(() => r.createApiKey({ name: "ops" })).toThrow(KeyNameTaken);
    expect(await r.verifyApiKey(k.key)).toBe(true);
    const sessions = new SessionStore(r.db);
    const { token } = sessions.create(k.id);
    expect(sessions.verify(token)?.keyId).toBe(k.id);
    for (let i = 0; i < 40; i++) sessions.create(k.id); // the oldest go past the per-key bound
    expect(sessions.verify(token)).toBeUndefined();
    r.apiKeys.revoke(k.id);
    expect(await r.verifyApiKey(k.key)).toBe(false);
    expect(r.createApiKey({ name: "ops" }).record.name).toBe("ops"); // a revoked key's name is free again
    r.close();
  });

  it("audit: records, filters, pages newest first, prunes past its bound", () => {
    const r = open();
    for (let i = 0; i < 5; i++) r.audit.record({ kind: i % 2 ? "call" : "login_refused", device: `d${i}`, outcome: "ok", status: 200, at: 1000 + i });
    const page = r.audit.query({ limit: 2 });
    expect(page.records.map((x) => x.device)).toEqual(["d4", "d3"]);
    expect(r.audit.query({ cursor: page.next_cursor!, limit: 10 }).records.map((x) => x.device)).toEqual(["d2", "d1", "d0"]);
    expect(r.audit.query({ kind: "call" }).records.map((x) => x.device)).toEqual(["d3", "d1"]);
    expect(r.audit.query({ since: 1003 }).records).toHaveLength(2);
    expect(r.audit.count()).toBe(5);
    r.close();
  });

  it("jobs: executions start once, requeue, end; a stale fencing token writes nothing", () => {
    const r = open();
    const job = r.jobs.create(spec(), ["a", "b", "c"], 5000);
    expect(r.jobs.get(job.id)?.state).toBe("in_progress");
    expect([
      ...r.jobs.startMany(job.id, [
        { deviceId: "a", ratePerMinute: 2.5 },
        { deviceId: "b", ratePerMinute: null },
      ]),
    ]).toEqual(["a", "b"]);
    expect(r.jobs.startMany(job.id, [{ deviceId: "a", ratePerMinute: 1 }]).size).toBe(0); // already started: not twice
    expect(r.jobs.execution(job.id, "a")).toMatchObject({ state: "in_progress", attempts: 1, rate_per_minute: 2.5 });
    r.jobs.requeue(job.id, "a", "device went offline");
    expect(r.jobs.execution(job.id, "a")).toMatchObject({ state: "queued", attempts: 0, notified_at: null });
    r.jobs.set(job.id, "b", "succeeded", null, '{"ok":true}');
    expect(r.jobs.counts(job.id)).toMatchObject({ queued: 2, succeeded: 1 });
    expect(r.jobs.executions(job.id, { limit: 2 }).map((e) => e.device_id)).toEqual(["a", "b"]);
    expect(r.jobs.executions(job.id, { limit: 5, afterN: 1, state: "queued" }).map((e) => e.device_id)).toEqual(["c"]);
    expect(r.jobs.claim(job.id, 7)).toBe(true);
    expect(r.jobs.claim(job.id, 6)).toBe(false);
    expect(r.jobs.cancelQueued(job.id, "cancelled")).toBe(2);
    expect(r.jobs.end(job.id, "cancelled", "by test")).toBe(true);
    expect(r.jobs.end(job.id, "completed", null)).toBe(false);
    expect(r.jobs.list({ limit: 10 }).jobs.map((j) => j.id)).toEqual([job.id]);
    r.close();
  });

  it("certificates: pins, revokes into the CRL list, and a removed device's pins go with it", () => {
    const r = open();
    r.addDevice("c1");
    const before = r.credentialsRevision();
    const far = Date.now() + 86_400_000;
    r.certs.pin("c1", "fp1", far, 0, "AB01");
    r.certs.pin("c1", "fp2", far, 60_000, "ab02");
    expect(r.certs.valid("c1", "fp1")).toBe(true); // in the rotation's grace period
    expect(r.certs.revoke("fp1")).toBe(true);
    expect(r.certs.revokedSerials().map((c) => c.serial)).toEqual(["ab01"]);
    r.certs.addCrlFile("/x.pem");
    r.certs.addCrlFile("/x.pem");
    expect(r.certs.crlFiles()).toEqual(["/x.pem"]);
    expect(r.certs.nextEnd(0)).toBeGreaterThan(Date.now());
    r.removeDevice("c1");
    expect(r.certs.list("c1")).toEqual([]);
    expect(r.certs.revokedSerials().map((c) => c.serial)).toEqual(["ab01", "ab02"]);
    expect(r.credentialsRevision()).toBeGreaterThan(before);
    r.close();
  });

  it("telemetry, update history and device updates: the newest kept, upserts replace, bytes round-trip", () => {
    const r = open();
    r.addDevice("t1");
    r.addDevice("t2");
    let now = 10_000;
    const telemetry = new TelemetryStore(r.db, 60_000, () => now);
    telemetry.record("t1", '{"v":1}');
    now += 2000;
    telemetry.record("t1", '{"v":2}');
    telemetry.record("t2", '{"v":3}');
    telemetry.flush();
    expect(Object.fromEntries([...telemetry.latest()].map(([id, s]) => [id, s.data]))).toEqual({ t1: { v: 2 }, t2: { v: 3 } });
    telemetry.close();
    const history = new UpdateHistory(r.db);
    for (let i = 1; i <= 3; i++) history.record("t1", { release: `r${i}`, version: i, outcome: "succeeded", reason: null, started_at: i, ended_at: i + 1 });
    expect(history.of("t1", 2).map((h) => h.release)).toEqual(["r3", "r2"]);
    const releases = new ReleaseStore(r.db, { dataDir: dir() });
    releases.saveUpdate({ device: "t1", release: "r1", version: 1, state: "sending", bytes_sent: 0, total: 10, reason: null, started_at: 1, updated_at: 1 });
    releases.saveUpdate({ device: "t1", release: "r1", version: 1, state: "succeeded", bytes_sent: 10, total: 10, reason: null, started_at: 1, updated_at: 2 });
    expect(releases.lastUpdate("t1")).toMatchObject({ state: "succeeded", bytes_sent: 10 });
    releases.setApp("t1", { version: 1, previous: null, state: "confirmed" } as never);
    releases.setApp("t1", { version: 2, previous: 1, state: "confirmed" } as never);
    expect(releases.app("t1")).toEqual({ version: 2, previous: 1, state: "confirmed" });
    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x5c, 0x78]);
    r.db
      .prepare("INSERT INTO releases (id, version, sha256, size, abi, label, key_id, manifest, signature, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .run("rel", 1, "00", 7, 1, null, null, bytes, Buffer.alloc(0), 1);
    expect(releases.get("rel")?.manifest.equals(bytes)).toBe(true);
    expect(releases.get("rel")?.signature.length).toBe(0);
    r.removeDevice("t1");
    expect(history.of("t1")).toEqual([]);
    r.close();
  });

  it("a transaction that throws writes nothing; a nested one rolls back alone", () => {
    const r = open();
    const add = r.db.prepare("INSERT INTO settings (key, value) VALUES (?, ?)");
    expect(() =>
      r.db.transaction(() => {
        add.run("t1", "x");
        throw new Error("no");
      })(),
    ).toThrow("no");
    r.db.transaction(() => {
      add.run("t2", "x");
      try {
        r.db.transaction(() => {
          add.run("t3", "x");
          add.run("t3", "again"); // a unique key taken: this savepoint only
        })();
      } catch {
        // expected
      }
    })();
    expect([r.setting("t1"), r.setting("t2"), r.setting("t3")]).toEqual([undefined, "x", undefined]);
    expect(() => r.db.prepare("SELECT ?").get(true as never)).toThrow(TypeError);
    r.close();
  });
});

describe("the registry on Postgres only", () => {
  it("numbers ? placeholders outside quoted text", () => {
    expect(numberPlaceholders("SELECT '?', \"a?\" FROM t WHERE a = ? AND b IN (?, ?)")).toBe("SELECT '?', \"a?\" FROM t WHERE a = $1 AND b IN ($2, $3)");
  });

  it("migrates once when three nodes open it together, records the migration, and refuses a schema from a newer outpost", async () => {
    const opened = await Promise.all([0, 1, 2].map(async () => new Registry(dir(), { ...FAST, db: pg.urlWithPassword })));
    expect(psql(pg, "SELECT id FROM schema_migrations ORDER BY id").trim().split("\n").map(Number)).toEqual(POSTGRES_MIGRATIONS.map((m) => m.id));
    for (const r of opened) r.close();
    psql(pg, "INSERT INTO schema_migrations (id, name, applied_at) VALUES (999, 'from the future', 0)");
    try {
      expect(() => new Registry(dir(), { db: pg.urlWithPassword })).toThrow(RegistryTooNew);
    } finally {
      psql(pg, "DELETE FROM schema_migrations WHERE id = 999");
    }
  });

  it("a wrong password or an unreachable server is RegistryUnavailable, with no password in the message", () => {
    const wrong = pg.urlWithPassword.replace(pg.password, "not-the-password");
    expect(() => new Registry(dir(), { db: wrong })).toThrow(RegistryUnavailable);
    try {
      new Registry(dir(), { db: wrong });
    } catch (err) {
      expect(String(err)).not.toContain("not-the-password");
    }
    expect(() => new Registry(dir(), { db: "postgres://outpost:pw@127.0.0.1:1/outpost" })).toThrow(RegistryUnavailable);
  });

  it("the CLI: a --db that is not postgres://, a password file without --db, a server not there: one line each, exit 1, no password", async () => {
    const cli = (...args: string[]) =>
      promisify(execFile)("node", ["bin/outpost.js", "device", "list", "--data", dir(), ...args], { cwd: fileURLToPath(new URL("..", import.meta.url)) }).then(
        () => expect.fail("the command succeeded"),
        (err: { code: number; stderr: string }) => err,
      );
    const scheme = await cli("--db", "mysql://u:hunter2@127.0.0.1/x");
    expect(scheme.code).toBe(1);
    expect(scheme.stderr).toContain("use postgres:// or postgresql://");
    const file = await cli("--db-password-file", "/dev/null");
    expect(file.stderr.trim()).toBe("outpost: --db-password-file is the Postgres registry's: it needs --db");
    const away = await cli("--db", "postgres://outpost:hunter2@127.0.0.1:1/outpost");
    expect(away.code).toBe(1);
    expect(away.stderr).toMatch(
      /^outpost: cannot open the registry .*RegistryUnavailable|^outpost: cannot open the registry .*Postgres at postgres:\/\/outpost:\*\*\*@127\.0\.0\.1:1\/outpost/,
    );
    for (const r of [scheme, away]) expect(r.stderr).not.toContain("hunter2");
  }, 30_000);

  it("a server that went away is RegistryUnavailable for that call; the next call after it is back dials again", async () => {
    const r = new Registry(dir(), { ...FAST, db: pg.urlWithPassword });
    r.setSetting("survives", "yes");
    await pg.stop();
    try {
      expect(() => r.setting("survives")).toThrow(RegistryUnavailable);
    } finally {
      await pg.start();
    }
    expect(r.setting("survives")).toBe("yes"); // the lost query did not dial, so this one may at once
    r.close();
  });

  it("audit records and presence made while the server is away wait, and are written once it is back", async () => {
    const r = new Registry(dir(), { ...FAST, db: pg.urlWithPassword });
    r.addDevice("away-1");
    const presence = new PresenceTracker(r, 50);
    await pg.stop();
    try {
      for (let i = 0; i < 3; i++) r.audit.record({ kind: "call", device: "away-1", outcome: "ok", detail: `during-${i}` });
      presence.set("away-1", true, "mqtt");
      await sleep(300); // the flush timers run into the outage (and must not throw out of their timers)
    } finally {
      await pg.start();
    }
    await waitFor(() => psql(pg, "SELECT count(*) FROM audit WHERE detail LIKE 'during-%'").trim() === "3");
    await waitFor(() => psql(pg, "SELECT online FROM devices WHERE id = 'away-1'").trim() === "1");
    presence.close();
    r.close();
  }, 30_000);
});
