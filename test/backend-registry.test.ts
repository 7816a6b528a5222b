// The registry and secrets on their own: hashing, constant-time checks, named errors, and the broker
// connection's named failure.
import { describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pbkdf2Sync } from "node:crypto";
import { pino } from "pino";
import { Registry, InvalidDeviceId, DeviceExists } from "../host/registry/registry.ts";
import { hashSecret, verifySecret, mosquittoHash, MalformedHash, DEVICE_COST } from "../host/registry/secrets.ts";
import { startBackend } from "../host/server/backend.ts";
import { BrokerUnreachable } from "../host/rpc/bus.ts";
import { freePort } from "./support/mosquitto.ts";

const dir = () => mkdtempSync(join(tmpdir(), "outpost-registry-"));

describe("secrets", () => {
  it("scrypt hashes carry their cost and verify only the right secret", async () => {
    const h = hashSecret("s3cret", DEVICE_COST);
    expect(h).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifySecret("s3cret", h)).toBe(true);
    expect(await verifySecret("s3cret!", h)).toBe(false);
    expect(hashSecret("s3cret", DEVICE_COST)).not.toBe(h); // salted
  });

  it("MalformedHash for a stored value that is not scrypt$N$r$p$salt$hash", async () => {
    await expect(verifySecret("x", "sha256$abc")).rejects.toBeInstanceOf(MalformedHash);
  });

  it("mosquitto's $7$ form is PBKDF2-SHA512 over a 12-byte salt", () => {
    const [, seven, iterations, salt, hash] = mosquittoHash("pw").split("$");
    expect([seven, iterations]).toEqual(["7", "101"]);
    expect(Buffer.from(salt, "base64")).toHaveLength(12);
    expect(pbkdf2Sync("pw", Buffer.from(salt, "base64"), 101, 64, "sha512").toString("base64")).toBe(hash);
  });
});

describe("registry", () => {
  it("stores no secret in clear: only hashes, and a credential works once rotated", async () => {
    const r = new Registry(dir());
    const { credential } = r.addDevice("d1", { a: 1 });
    const row = r.db.prepare("SELECT * FROM devices WHERE id = 'd1'").get() as Record<string, string>;
    expect(JSON.stringify(row)).not.toContain(credential);
    expect(await r.verifyDevice("d1", credential)).toBe(true);
    const fresh = r.rotateCredential("d1");
    expect(await r.verifyDevice("d1", fresh)).toBe(true);
    expect(await r.verifyDevice("d1", credential)).toBe(false);
    expect(await r.verifyDevice("nobody", fresh)).toBe(false);
    const { key } = r.createApiKey();
    // The whole secret after "opk_<16 hex>_" (it may hold "_" itself, so not a split on "_").
    expect(JSON.stringify(r.db.prepare("SELECT * FROM api_keys").all())).not.toContain(key.slice("opk_".length + 17));
    expect(await r.verifyApiKey(key)).toBe(true);
    expect(await r.verifyApiKey(key + "x")).toBe(false);
    expect(await r.verifyApiKey("opk_0000000000000000_" + key.split("_").slice(2).join("_"))).toBe(false);
    r.close();
  });

  it("InvalidDeviceId and DeviceExists", () => {
    const r = new Registry(dir());
    expect(() => r.addDevice("a/b")).toThrow(InvalidDeviceId);
    expect(() => r.rotateCredential("nobody")).toThrow(InvalidDeviceId);
    r.addDevice("d1");
    expect(() => r.addDevice("d1")).toThrow(DeviceExists);
    r.close();
  });

  it("sees devices that another connection (the CLI) adds and removes", () => {
    const d = dir();
    const server = new Registry(d);
    const cli = new Registry(d);
    cli.addDevice("from-cli");
    expect(server.getDevice("from-cli")?.id).toBe("from-cli");
    cli.removeDevice("from-cli");
    expect(server.hasDevice("from-cli")).toBe(false);
    server.close();
    cli.close();
  });
});

describe("external broker", () => {
  it("BrokerUnreachable when nothing listens at --broker", async () => {
    const port = await freePort();
    await expect(
      startBackend({ dataDir: dir(), port: await freePort(), brokerUrl: `mqtt://127.0.0.1:${port}`, host: "127.0.0.1", logger: pino({ level: "silent" }) }),
    ).rejects.toBeInstanceOf(BrokerUnreachable);
  });
});
