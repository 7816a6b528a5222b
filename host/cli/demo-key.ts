// npm start's API key: made once, kept in <data>/secrets/demo-api-key (0600), reused at every later start, so a
// curl command or a script from the first start keeps working. The key is printed only when it is made.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { PRIVATE_FILE, privateDir } from "../registry/private-files.ts";
import type { Registry } from "../registry/registry.ts";

export const DEMO_KEY_NAME = "demo";

export function demoKeyPath(dataDir: string): string {
  return join(resolve(dataDir), "secrets", "demo-api-key");
}

/**
 * The demo key: the stored one if it is still valid, else a new one (made, or the "demo" key rotated with no grace
 * period when its file was lost) written to demoKeyPath. `fresh` says whether it was made now (to be shown once).
 */
export async function demoKey(registry: Registry, dataDir: string): Promise<{ key: string; fresh: boolean; path: string }> {
  const path = demoKeyPath(dataDir);
  if (existsSync(path)) {
    const stored = readFileSync(path, "utf8").trim();
    if ((await registry.apiKeys.verify(stored)).ok) return { key: stored, fresh: false, path };
  }
  const { key } = registry.apiKeys.get(DEMO_KEY_NAME) ? registry.apiKeys.rotate(DEMO_KEY_NAME, 0) : registry.apiKeys.create({ name: DEMO_KEY_NAME });
  privateDir(join(resolve(dataDir), "secrets"));
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(tmp, `${key}\n`, { mode: PRIVATE_FILE, flag: "wx" });
  renameSync(tmp, path); // whole or not at all
  return { key, fresh: true, path };
}
