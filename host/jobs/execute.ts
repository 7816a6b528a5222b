// One device's execution: an RPC through the correlator, or an update through the Updater, and how it ended in
// the words of an execution's state. "not_delivered" is no outcome: the device never got it, so it waits again.
import { DeviceBusy, DeviceOffline, DeviceSuspect, RequestTooLarge, RpcTimeout, type RpcCorrelator } from "../rpc/correlator.ts";
import type { JobSpec } from "./spec.ts";
import type { ExecutionState, Updater } from "./types.ts";

export type Outcome =
  | { state: Exclude<ExecutionState, "queued" | "in_progress" | "cancelled">; reason?: string; result?: string }
  | { state: "not_delivered"; offline: boolean; reason: string };

/** JSON-RPC errors that mean the device refused the request itself (it has no such method, or not these params). */
const REFUSED_CODES: Record<number, string> = { [-32601]: "method_not_found", [-32602]: "invalid_params", [-32600]: "invalid_request" };

export async function executeRpc(correlator: Pick<RpcCorrelator, "call">, jobId: string, deviceId: string, spec: JobSpec): Promise<Outcome> {
  const { method, params } = spec.rpc!;
  let text: string;
  try {
    text = await correlator.call(deviceId, method, params, jobId, spec.timeout_ms);
  } catch (err) {
    if (err instanceof DeviceOffline) return { state: "not_delivered", offline: true, reason: "offline" };
    if (err instanceof DeviceBusy || err instanceof DeviceSuspect) return { state: "not_delivered", offline: false, reason: err.name };
    if (err instanceof RequestTooLarge) return { state: "rejected", reason: `request_too_large: ${err.message}` };
    if (err instanceof RpcTimeout) return { state: "timed_out", reason: `no answer within ${spec.timeout_ms} ms` };
    // DeviceNoAnswer: handed to the link, which went before an answer came; the call may have run.
    return { state: "timed_out", reason: `${(err as Error).name}: ${(err as Error).message}` };
  }
  let answer: { result?: unknown; error?: { code?: unknown; message?: unknown } };
  try {
    answer = JSON.parse(text);
  } catch {
    return { state: "failed", reason: "the answer was not JSON" };
  }
  if (answer.error) {
    const code = Number(answer.error.code);
    const message = String(answer.error.message ?? "").slice(0, 200);
    const refused = REFUSED_CODES[code];
    return {
      state: refused ? "rejected" : "failed",
      reason: refused ? `${refused}: ${message}` : `error ${code}: ${message}`,
      result: JSON.stringify(answer.error),
    };
  }
  return { state: "succeeded", result: JSON.stringify(answer.result ?? null) };
}

/**
 * Whether the device runs the release now (confirmed), as it says itself; undefined when it cannot tell (offline,
 * no answer). A rollout asks before trusting a refusal that would contradict it (not_newer) and after a restart.
 */
export type RunningRelease = (deviceId: string, releaseId: string) => Promise<boolean | undefined>;

/** A release id names its version (docs/ota.md: `v<version>-<12 hex of sha256>`). */
export function releaseVersion(releaseId: string): number | undefined {
  const m = /^v(\d{1,10})-[0-9a-f]{12}$/.exec(releaseId);
  return m ? Number(m[1]) : undefined;
}

/** RunningRelease from the device's sys.info `app` (docs/ota.md): the release's version, confirmed. */
export function sysInfoRunningRelease(correlator: Pick<RpcCorrelator, "call">, method = "sys.info"): RunningRelease {
  return async (deviceId, releaseId) => {
    const version = releaseVersion(releaseId);
    if (version === undefined) return undefined;
    try {
      const answer = JSON.parse(await correlator.call(deviceId, method, [], "job-check", 10_000));
      const app = answer?.result?.app;
      if (!app || typeof app.version !== "number") return undefined;
      return app.version === version && app.state === "confirmed";
    } catch {
      return undefined;
    }
  };
}

export async function executeRollout(
  updater: Updater,
  runningRelease: RunningRelease,
  deviceId: string,
  spec: JobSpec,
  signal: AbortSignal,
  opts: { resumed: boolean },
): Promise<Outcome> {
  const release = spec.rollout!.release;
  // Interrupted by a restart: the device may have the release already (a second update would be refused).
  if (opts.resumed && (await runningRelease(deviceId, release)) === true)
    return { state: "succeeded", reason: "running the release (checked after a restart)" };
  const r = await updater.update(deviceId, release, { timeoutMs: spec.timeout_ms, signal });
  // A device that refuses the release as not newer may be running it: then the execution succeeded.
  if (r.outcome === "rejected" && r.reason === "not_newer" && (await runningRelease(deviceId, release)) === true)
    return { state: "succeeded", reason: "running the release already" };
  return r.reason ? { state: r.outcome, reason: r.reason } : { state: r.outcome };
}
