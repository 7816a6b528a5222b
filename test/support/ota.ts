// OTA test helpers: a release key, signed releases as POST /releases bodies, and the bad modules the rollback
// tests need, assembled with wat2wasm (wabt): one that traps at start, one that starts but never connects.
import { execFileSync } from "node:child_process";
import { inflateRawSync } from "node:zlib";
import { compressedChunk } from "../../host/ota/updater.ts";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import abi from "../../assembly/abi.json" with { type: "json" };
import { generateSigningKey, manifestFor, signManifest, signingKey } from "../../host/ota/manifest.ts";
import { expect } from "vitest";
import { type apiClient, waitFor } from "./api.ts";

export const releaseKey = generateSigningKey();
export const otherKey = generateSigningKey();

export interface ReleaseBody {
  manifest: string;
  signature: string;
  module: string;
}

/** A release of `module` at `version`, signed with `key` (default releaseKey); `tamper` changes it after signing. */
export function release(module: Uint8Array, version: number, opts: { key?: string; label?: string; abi?: number } = {}): ReleaseBody {
  const manifest = manifestFor(module, version, { label: opts.label, abi: opts.abi });
  const signature = signManifest(manifest, signingKey(opts.key ?? releaseKey.privateKey));
  return { manifest: manifest.toString("base64"), signature: signature.toString("base64"), module: Buffer.from(module).toString("base64") };
}

function wat2wasm(name: string, text: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), "outpost-wat-"));
  writeFileSync(join(dir, `${name}.wat`), text);
  execFileSync("wat2wasm", [join(dir, `${name}.wat`), "-o", join(dir, `${name}.wasm`)]);
  return readFileSync(join(dir, `${name}.wasm`));
}

/** A module whose start function traps: instantiating it fails (a release that cannot come up at all). */
export const trapAtStartModule = (): Buffer =>
  wat2wasm(
    "trap",
    `(module (memory (export "memory") 1) (func $start unreachable) (start $start) (func (export "abi_version") (result i32) i32.const ${abi.version}))`,
  );

/** A module that declares `pages` pages of linear memory and nothing else (a board with less memory refuses it). */
export const memoryHungryModule = (pages: number): Buffer =>
  wat2wasm("hungry", `(module (memory (export "memory") ${pages}) (func (export "abi_version") (result i32) i32.const ${abi.version}))`);

/**
 * A module with every export of the device build (assembly/abi.json) that does nothing: it instantiates and
 * answers no request, and its client never asks for a socket, so it never connects.
 */
export function neverConnectsModule(): Buffer {
  const blocks: Record<string, number> = { rpc_init: 64, client_init: 256, device_init: 512 };
  const funcs: string[] = [];
  for (const group of ["core", "client", "rpc", "device"] as const)
    for (const e of abi.exports[group] as { name: string; kind?: string; params?: string[]; result?: string }[]) {
      if (e.kind === "memory") continue;
      const params = (e.params ?? []).map(() => "(param i32)").join(" ");
      const value = e.name === "abi_version" ? abi.version : (blocks[e.name] ?? 0);
      funcs.push(e.result === "void" ? `(func (export "${e.name}") ${params})` : `(func (export "${e.name}") ${params} (result i32) i32.const ${value})`);
    }
  // rpc_init's block: the request buffer at 1024, the response buffer at 4096; client_init's: scratch at 8192, 1 KiB.
  const data = `(data (i32.const 64) "\\00\\04\\00\\00\\00\\10\\00\\00") (data (i32.const 256) "\\00\\20\\00\\00\\00\\04\\00\\00")`;
  return wat2wasm("silent", `(module (memory (export "memory") 1) ${data} ${funcs.join(" ")})`);
}

/** How many ota.write calls the updater makes for `module` to a device announcing `chunk` and `deflate` (0: raw). */
export function otaWrites(bytes: Uint8Array, chunk: number, deflate: number): number {
  const module = Buffer.from(bytes);
  let writes = 0;
  for (let offset = 0; offset < module.length; writes++) {
    if (!deflate) offset += chunk;
    else {
      const c = compressedChunk(module, offset, deflate, chunk);
      offset += inflateRawSync(Buffer.from(c.data, "base64"), offset ? { dictionary: module.subarray(Math.max(0, offset - 32_768), offset) } : {}).length;
    }
  }
  return writes;
}

type Api = ReturnType<typeof apiClient>;

/**
 * The REST side of an OTA test (releases uploaded, a device's sys.info and calls, updates over REST followed to
 * their outcome). Versions count up from `firstVersion`; `rpcTimeoutMs` bounds each call to the device.
 */
export function otaRest(api: Api, opts: { firstVersion: number; rpcTimeoutMs?: number; updateTimeoutMs?: number }) {
  let version = opts.firstVersion;
  const rpc = (id: string) => `/api/v1/devices/${id}/rpc${opts.rpcTimeoutMs ? `?timeout_ms=${opts.rpcTimeoutMs}` : ""}`;
  const rest = {
    /** The version the last release made here got. */
    get version() {
      return version;
    },
    nextVersion: () => ++version,
    /** Uploads a release; one uploaded already (the same bytes and version, by another engine's run) is reused. */
    async upload(body: ReleaseBody): Promise<string> {
      const r = await api("/api/v1/releases", { method: "POST", json: body });
      if (r.status === 409) {
        const m = JSON.parse(Buffer.from(body.manifest, "base64").toString());
        return `v${m.version}-${m.sha256.slice(0, 12)}`;
      }
      expect(r.status).toBe(201);
      return r.body.id;
    },
    releaseOf: (module: Uint8Array, o: { key?: string; abi?: number; version?: number; label?: string } = {}) =>
      rest.upload(release(module, o.version ?? ++version, o)),
    async info(id: string) {
      const r = await api(rpc(id), { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "sys.info" } });
      if (!r.body?.result) throw new Error(`sys.info: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.result;
    },
    call: async (id: string, method: string, params: unknown) => (await api(rpc(id), { method: "POST", json: { jsonrpc: "2.0", id: 1, method, params } })).body,
    /** POST /devices/:id/update, then GET it until it has an outcome. */
    async updateOverRest(id: string, releaseId: string): Promise<Record<string, any>> {
      const r = await api(`/api/v1/devices/${id}/update`, { method: "POST", json: { release: releaseId, timeout_ms: opts.updateTimeoutMs ?? 30_000 } });
      expect(r.status).toBe(202);
      let u: Record<string, any> = {};
      await waitFor(async () => {
        u = (await api(`/api/v1/devices/${id}/update`)).body;
        return u.outcome !== null;
      });
      return u;
    },
  };
  return rest;
}
