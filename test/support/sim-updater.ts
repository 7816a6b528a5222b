// For rollout tests: signed releases the simulated devices accept, and an Updater that drives the simulated OTA
// behaviour (host/cli/sim-ota.ts) over real RPC through the backend's correlator, following docs/ota.md's protocol:
// ota.begin, ota.write chunks, ota.finish, then the device's app state until it runs the new version (ota.confirm)
// or reports a rollback. The real one is host/ota/updater.ts (branch ota); this one is for the simulator only.
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import type { RpcCorrelator } from "../../host/rpc/correlator.ts";
import type { Updater, UpdateResult } from "../../host/jobs/types.ts";

export interface SimRelease {
  id: string;
  version: number;
  manifest: Buffer;
  signature: Buffer;
  module: Buffer;
}

/** A release key pair: the private key signs, the public key (64 hex) goes to the devices. */
export function releaseKey() {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  return { privateKey, publicHex: raw.toString("hex") };
}

export function makeRelease(privateKey: ReturnType<typeof releaseKey>["privateKey"], version: number, size = 6000): SimRelease {
  const module = Buffer.alloc(size, version & 0xff);
  const sha256 = createHash("sha256").update(module).digest("hex");
  const manifest = Buffer.from(JSON.stringify({ format: "outpost-release/1", version, size, sha256, abi: 2 }));
  return { id: `v${version}-${sha256.slice(0, 12)}`, version, manifest, signature: sign(null, manifest, privateKey), module };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SimRpcUpdater implements Updater {
  /** ota.begin calls made, per device (a test checks that devices left out got none). */
  readonly begun = new Map<string, number>();

  constructor(
    private readonly correlator: Pick<RpcCorrelator, "call">,
    private readonly releases: Map<string, SimRelease>,
  ) {}

  async update(deviceId: string, releaseId: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<UpdateResult> {
    const release = this.releases.get(releaseId);
    if (!release) return { outcome: "failed", reason: "unknown_release" };
    const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
    const call = async (method: string, params: unknown) => {
      const answer = JSON.parse(await this.correlator.call(deviceId, method, params, "sim-ota", Math.max(1, Math.min(10_000, deadline - Date.now()))));
      return answer as { result?: any; error?: { message: string } };
    };
    try {
      this.begun.set(deviceId, (this.begun.get(deviceId) ?? 0) + 1);
      const begin = await call("ota.begin", { manifest: release.manifest.toString("base64"), signature: release.signature.toString("base64") });
      if (begin.error) return { outcome: "rejected", reason: begin.error.message };
      let offset = Number(begin.result.offset);
      const chunk = Number(begin.result.chunk);
      while (offset < release.module.length) {
        const w = await call("ota.write", { offset, data: release.module.subarray(offset, offset + chunk).toString("base64") });
        if (w.error) return { outcome: "failed", reason: w.error.message };
        offset = Number(w.result.offset);
      }
      const finish = await call("ota.finish", {});
      if (finish.error) return { outcome: "failed", reason: finish.error.message };
      for (;;) {
        if (Date.now() > deadline) return { outcome: "timed_out", reason: "no outcome in time" };
        if (opts.signal?.aborted) return { outcome: "failed", reason: "aborted" };
        const { result: app } = await call("ota.status", {});
        if (app?.version === release.version) {
          const c = await call("ota.confirm", { version: release.version });
          return c.error ? { outcome: "failed", reason: c.error.message } : { outcome: "succeeded" };
        }
        if (app?.last?.version === release.version && app.last.outcome === "rolled_back") return { outcome: "rolled_back", reason: app.last.reason };
        await sleep(5);
      }
    } catch (err) {
      return { outcome: "timed_out", reason: (err as Error).message };
    }
  }
}

/** RunningRelease for the simulator: its app state is on ota.status (not yet in sys.info). */
export function simRunningRelease(correlator: Pick<RpcCorrelator, "call">, releases: Map<string, SimRelease>) {
  return async (deviceId: string, releaseId: string): Promise<boolean | undefined> => {
    const release = releases.get(releaseId);
    if (!release) return undefined;
    try {
      const { result } = JSON.parse(await correlator.call(deviceId, "ota.status", {}, "sim-check", 5000));
      return result.version === release.version && result.state === "confirmed";
    } catch {
      return undefined;
    }
  };
}
