// The backend's half of an update (docs/ota.md, "The backend's update"): ota.begin, the chunks (resumed after a
// dropped link), ota.finish, the wait for the device to come back on the new module, ota.confirm. One code path
// for POST /devices/:id/update and for the fleet jobs' rollouts.
import type { Redis } from "ioredis";
import { Lease, LeaseLost } from "../cluster/lease.ts";
import { deviceTopics } from "../broker/acl.ts";
import { DeviceBusy, DeviceNoAnswer, DeviceOffline, DeviceSuspect, RequestTooLarge, RpcTimeout, type RpcCorrelator } from "../rpc/correlator.ts";
import { deflateRawSync } from "node:zlib";
import { publishPacketSize } from "../rpc/device-limits.ts";
import type { PresenceTracker } from "../rpc/presence.ts";
import type { Registry } from "../registry/registry.ts";
import { FINAL_STATES, type ReleaseStore, type UpdateRecord, type UpdateState } from "../registry/releases.ts";

export type UpdateOutcome = "succeeded" | "failed" | "rejected" | "rolled_back" | "timed_out";
export interface UpdateResult {
  outcome: UpdateOutcome;
  reason?: string;
}
export interface UpdateProgress {
  state: UpdateState;
  bytesSent: number;
  total: number;
  reason?: string;
}
export interface UpdateOptions {
  /** The whole update, from ota.begin to ota.confirm (default 300 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?(p: UpdateProgress): void;
  /** Stops before ota.confirm (tests: a module that connects but is never confirmed). */
  skipConfirm?: boolean;
}

export const DEFAULT_UPDATE_TIMEOUT_MS = 300_000;
/** One call to the device during an update (a chunk is written and fsync'd / programmed in flash within it). */
const CALL_TIMEOUT_MS = 10_000;
const POLL_MS = 50;
/** The JSON-RPC envelope around a chunk's base64, with room for the correlator's id and a 10-digit offset. */
const WRITE_ENVELOPE = 160;
/** MQTT 5 request properties (response topic, correlation data) when the bus sends them. */
const PROPS_ROOM = 160;

export class UnknownDevice extends Error {
  override name = "UnknownDevice";
}
export class UnknownRelease extends Error {
  override name = "UnknownRelease";
}
export class UpdateInProgress extends Error {
  override name = "UpdateInProgress";
}

export interface UpdaterDeps {
  registry: Registry;
  correlator: RpcCorrelator;
  presence: PresenceTracker;
  releases: ReleaseStore;
  /** Topic prefix (default "devices"), for the chunk size a PUBLISH allows. */
  prefix?: string;
  /** Every state change (the device's event stream: `event: ota`). */
  onEvent?(deviceId: string, update: UpdateRecord): void;
  /**
   * The fleet event stream (GET /api/v1/events): `event: update` on each state change, and as bytes go at most
   * every PROGRESS_EVERY_MS per device (a chunk is ~1 KiB: one event each would flood a fleet-wide stream).
   */
  publish?(type: "update", data: unknown, deviceId: string): void;
  /**
   * Shared nodes: a device's update runs under a lease in this Redis (key outpost:lease:ota:<device>), so one node
   * at a time updates a device; renewed every third of `ttlMs`, and the update stops if the lease is lost.
   */
  lease?: { redis: Redis; ttlMs: number };
}

/** At most this often an `event: update` for bytes sent alone (a state change is published at once). */
export const PROGRESS_EVERY_MS = 200;

interface Answer {
  result?: any;
  error?: { code: number; message: string; data?: unknown };
}
/** The link dropped, the device was away or slow: worth waiting for it and trying again. */
const transient = (err: unknown) =>
  err instanceof DeviceOffline || err instanceof DeviceNoAnswer || err instanceof RpcTimeout || err instanceof DeviceBusy || err instanceof DeviceSuspect;

class Stop extends Error {
  constructor(
    readonly outcome: UpdateOutcome,
    readonly reason?: string,
  ) {
    super(reason ?? outcome);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Updater {
  private readonly active = new Map<string, UpdateRecord>();
  /** Per device: the state and time of the last `event: update` (the throttle). */
  private readonly published = new Map<string, { state: UpdateState; at: number }>();
  private seq = 0;

  constructor(private readonly deps: UpdaterDeps) {}

  /** The update running for the device now, if any. */
  current(deviceId: string): UpdateRecord | undefined {
    return this.active.get(deviceId);
  }

  /**
   * Checks the device and the release (throws UnknownDevice, UnknownRelease, UpdateInProgress) and returns the update
   * running; the promise settles with its outcome and never rejects for the device's sake.
   */
  start(deviceId: string, releaseId: string, opts: UpdateOptions = {}): { update: UpdateRecord; done: Promise<UpdateResult> } {
    const { registry, releases } = this.deps;
    if (!registry.getDevice(deviceId)) throw new UnknownDevice(`no device ${deviceId}`);
    const release = releases.get(releaseId);
    const module = release && releases.module(releaseId);
    if (!release || !module) throw new UnknownRelease(`no release ${releaseId}`);
    if (this.active.has(deviceId)) throw new UpdateInProgress(`device ${deviceId} is being updated already`);
    const now = Date.now();
    const u: UpdateRecord = {
      device: deviceId,
      release: releaseId,
      version: release.version,
      state: "queued",
      bytes_sent: 0,
      total: module.length,
      reason: null,
      started_at: now,
      updated_at: now,
    };
    this.active.set(deviceId, u);
    this.report(u, opts);
    const done = this.run(u, release.manifest, release.signature, module, opts).finally(() => this.active.delete(deviceId));
    return { update: u, done };
  }

  /**
   * start(), once across nodes: with a lease configured, throws UpdateInProgress when another node updates the
   * device now; the update stops (failed, "aborted") if this node loses the lease meanwhile.
   */
  async begin(deviceId: string, releaseId: string, opts: UpdateOptions = {}): Promise<{ update: UpdateRecord; done: Promise<UpdateResult> }> {
    const cfg = this.deps.lease;
    if (!cfg) return this.start(deviceId, releaseId, opts);
    if (this.active.has(deviceId)) throw new UpdateInProgress(`device ${deviceId} is being updated already`);
    const lease = new Lease(cfg.redis, `ota:${deviceId}`, { ttlMs: cfg.ttlMs });
    if ((await lease.acquire()) === undefined) throw new UpdateInProgress(`device ${deviceId} is being updated by another node`);
    const lost = new AbortController();
    const renewal = setInterval(
      () => {
        lease.renew().then(
          (ok) => ok || lost.abort(new LeaseLost(`update lease of ${deviceId} lost`)),
          (err: Error) => lost.abort(new LeaseLost(`update lease of ${deviceId}: ${err.message}`)),
        );
      },
      Math.max(1, Math.floor(cfg.ttlMs / 3)),
    );
    const signal = opts.signal ? AbortSignal.any([opts.signal, lost.signal]) : lost.signal;
    let started: { update: UpdateRecord; done: Promise<UpdateResult> };
    try {
      started = this.start(deviceId, releaseId, { ...opts, signal });
    } catch (err) {
      clearInterval(renewal);
      await lease.release().catch(() => false);
      throw err;
    }
    const done = started.done.finally(() => {
      clearInterval(renewal);
      lease.release().catch(() => false); // expires by itself if Redis is away
    });
    return { update: started.update, done };
  }

  /** The whole update; resolves with its outcome (the jobs engine's entry point). */
  async update(deviceId: string, releaseId: string, opts: UpdateOptions = {}): Promise<UpdateResult> {
    return (await this.begin(deviceId, releaseId, opts)).done;
  }

  private report(u: UpdateRecord, opts: UpdateOptions, state?: UpdateState, reason?: string): void {
    if (state) u.state = state;
    if (reason !== undefined) u.reason = reason;
    u.updated_at = Date.now();
    this.deps.releases.saveUpdate(u);
    opts.onProgress?.({ state: u.state, bytesSent: u.bytes_sent, total: u.total, ...(u.reason ? { reason: u.reason } : {}) });
    this.deps.onEvent?.(u.device, { ...u });
    this.publish(u);
  }

  private publish(u: UpdateRecord): void {
    if (!this.deps.publish) return;
    const last = this.published.get(u.device);
    const final = FINAL_STATES.has(u.state);
    if (last && last.state === u.state && u.updated_at - last.at < PROGRESS_EVERY_MS) return;
    if (final) this.published.delete(u.device);
    else this.published.set(u.device, { state: u.state, at: u.updated_at });
    const { device, release, version, state, bytes_sent, total, reason } = u;
    this.deps.publish("update", { device, release, version, state, bytes_sent, total, reason, outcome: final ? state : null }, device);
  }

  private async run(u: UpdateRecord, manifest: Buffer, signature: Buffer, module: Buffer, opts: UpdateOptions): Promise<UpdateResult> {
    const deadline = performance.now() + (opts.timeoutMs ?? DEFAULT_UPDATE_TIMEOUT_MS);
    const left = () => deadline - performance.now();
    const check = () => {
      if (opts.signal?.aborted) throw new Stop("failed", "aborted");
      if (left() <= 0) throw new Stop("timed_out", `no outcome within ${opts.timeoutMs ?? DEFAULT_UPDATE_TIMEOUT_MS} ms (last state ${u.state})`);
    };
    const id = u.device;
    const call = async (method: string, params: unknown): Promise<Answer> => {
      check();
      const text = await this.deps.correlator.call(id, method, params, `ota-${++this.seq}`, Math.max(1, Math.min(CALL_TIMEOUT_MS, left())));
      return JSON.parse(text) as Answer;
    };
    const waitOnline = async () => {
      while (!this.deps.presence.isOnline(id)) {
        check();
        await sleep(POLL_MS);
      }
    };
    /** The device's refusal name, or undefined for a result. */
    const refusal = (a: Answer): string | undefined => (a.error ? String(a.error.message) : undefined);

    /** The device's sys.info `app` (recorded), or undefined when the call did not get through. */
    const appNow = async (): Promise<any> => {
      await waitOnline();
      let info: any;
      try {
        info = (await call("sys.info", [])).result;
      } catch (err) {
        if (!transient(err)) throw err;
      }
      const app = info?.app;
      if (app) this.deps.releases.setApp(id, { version: app.version ?? null, previous: app.previous ?? null, state: app.state ?? null });
      return app;
    };
    /** Until the device confirms this version (ota.confirm) or says it went back to another one. */
    const settle = async (): Promise<UpdateResult> => {
      for (;;) {
        const app = await appNow();
        if (app?.version === u.version) {
          if (app.state === "confirmed") return this.finish(u, opts, "succeeded");
          if (u.state !== "confirming") this.report(u, opts, "confirming");
          if (opts.skipConfirm) {
            await sleep(POLL_MS * 4);
            continue;
          }
          const c = await call("ota.confirm", { version: u.version }).catch((err) => {
            if (transient(err)) return undefined;
            throw err;
          });
          if (c && !c.error) {
            this.deps.releases.setApp(id, { version: u.version, previous: app.previous ?? null, state: "confirmed" });
            return this.finish(u, opts, "succeeded");
          }
          if (c) throw new Stop("failed", refusal(c));
        } else if (app?.last?.version === u.version && app.last.outcome !== "succeeded" && app.transfer === null) {
          // The device is on another version and says what happened to this one.
          if (app.last.outcome === "rolled_back") throw new Stop("rolled_back", app.last.reason ?? undefined);
          if (app.last.outcome === "failed") throw new Stop("failed", app.last.reason ?? undefined);
        }
        await sleep(POLL_MS);
      }
    };

    try {
      // Interrupted after ota.finish (a backend restart, an aborted call): the device runs this version already,
      // pending its confirmation, and would refuse a new transfer (busy). Confirmed from where it stands instead.
      // (One that runs it confirmed refuses it as not_newer below: nothing was done, and the caller is told so.)
      const running = await appNow();
      const sha256 = (JSON.parse(manifest.toString("utf8")) as { sha256?: unknown }).sha256;
      if (running?.version === u.version && running.sha256 === sha256 && running.state === "pending") {
        this.report(u, opts, "confirming");
        return await settle();
      }
      const begin = { manifest: manifest.toString("base64"), signature: signature.toString("base64") };
      let chunk = 0;
      /** Module bytes one compressed chunk may carry, if the device announced it takes them (0: raw chunks). */
      let deflateMax = 0;
      /** ota.begin: where to resume. A refusal there is the release's: rejected. */
      const resume = async (): Promise<number> => {
        const a = await call("ota.begin", begin);
        const why = refusal(a);
        if (why) throw new Stop("rejected", why);
        chunk = Math.max(1, Math.min(Number(a.result.chunk) || 1, this.fittingChunk(id)));
        deflateMax = Number.isInteger(a.result.deflate) && a.result.deflate > 0 ? a.result.deflate : 0;
        return Number(a.result.offset) || 0;
      };
      const send = async () => {
        let offset = await resume();
        this.report(u, opts, "sending");
        while (offset < module.length) {
          u.bytes_sent = offset;
          let a: Answer;
          try {
            a = await call(
              "ota.write",
              deflateMax ? compressedChunk(module, offset, deflateMax, chunk) : { offset, data: module.subarray(offset, offset + chunk).toString("base64") },
            );
          } catch (err) {
            if (err instanceof RequestTooLarge && chunk > 64) {
              chunk = Math.floor(chunk / 2);
              continue;
            }
            if (!transient(err)) throw err;
            await sleep(POLL_MS);
            await waitOnline();
            offset = await resume();
            continue;
          }
          const why = refusal(a);
          if (why === "bad_offset") {
            offset = await resume();
            continue;
          }
          if (why) throw new Stop("failed", why);
          offset = Number(a.result.offset);
          u.bytes_sent = offset;
          this.report(u, opts);
        }
      };

      await send();
      // ota.finish: the device verifies, marks pending and restarts on the new module.
      for (;;) {
        this.report(u, opts, "verifying");
        let a: Answer | undefined;
        try {
          a = await call("ota.finish", {});
        } catch (err) {
          if (!transient(err)) throw err;
        }
        if (a) {
          const why = refusal(a);
          if (why === "incomplete" || why === "no_transfer") {
            await send();
            continue;
          }
          if (why) throw new Stop(why === "abi_unsupported" || why === "too_big" ? "rejected" : "failed", why);
        }
        break;
      }

      // Back on the new version (then confirm), or on the old one after a rollback.
      this.report(u, opts, "restarting");
      return await settle();
    } catch (err) {
      if (err instanceof Stop) {
        if (err.outcome === "failed" && err.reason === "aborted") await this.deps.correlator.call(id, "ota.abort", {}, "ota-abort", 1000).catch(() => {});
        return this.finish(u, opts, err.outcome, err.reason);
      }
      return this.finish(u, opts, "failed", (err as Error).message);
    }
  }

  private finish(u: UpdateRecord, opts: UpdateOptions, outcome: UpdateOutcome, reason?: string): UpdateResult {
    this.report(u, opts, outcome, reason ?? undefined);
    return reason ? { outcome, reason } : { outcome };
  }

  /** The largest raw chunk whose ota.write fits the device's announced request_max and MQTT packet size. */
  private fittingChunk(id: string): number {
    const limits = this.deps.registry.limitsRecent(id);
    const topic = deviceTopics(this.deps.prefix ?? "devices", id).rx;
    const byPacket = limits.max_packet === null ? Number.POSITIVE_INFINITY : limits.max_packet - publishPacketSize(topic, 0, 2) - PROPS_ROOM - 3;
    const max = Math.min(limits.request_max ?? Number.POSITIVE_INFINITY, byPacket) - WRITE_ENVELOPE;
    return Number.isFinite(max) ? Math.max(3, Math.floor(max / 4) * 3) : Number.POSITIVE_INFINITY;
  }
}

export { FINAL_STATES };

/**
 * ota.write params for the module bytes from offset as raw deflate (docs/ota.md, "Compressed chunks"), with the
 * 32 KiB before them as the dictionary (the device has them in its slot): as many bytes as inflate to at most
 * maxRaw and compress to at most maxCompressed, a multiple of 4 but for the module's last chunk.
 */
export function compressedChunk(module: Buffer, offset: number, maxRaw: number, maxCompressed: number) {
  const dictionary = module.subarray(Math.max(0, offset - 32_768), offset);
  // Whole 4-byte words but for the module's tail: flash is programmed a word at a time (boards/stm32/slots_flash.c).
  const words = (n: number) => (offset + n >= module.length ? module.length - offset : Math.max(4, n - (n % 4)));
  let n = words(Math.min(maxRaw, module.length - offset));
  for (;;) {
    const data = deflateRawSync(module.subarray(offset, offset + n), { level: 9, ...(offset > 0 ? { dictionary } : {}) });
    if (data.length <= maxCompressed || n <= 4) return { offset, data: data.toString("base64"), encoding: "deflate" };
    n = words(Math.max(4, Math.min(n - 4, Math.floor((n * maxCompressed) / data.length) - 8)));
  }
}
