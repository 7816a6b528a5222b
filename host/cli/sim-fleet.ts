// The simulated fleet as a library (`outpost sim` is its command line; tests and bench/jobs.ts use it directly):
// N module devices registered over REST (ids already taken are skipped, never touched), tagged, connected over
// MQTT in this process, optionally with the simulated OTA behaviour (sim-ota.ts); removed again by remove().
import { setMaxListeners } from "node:events";
import { CliError } from "./common.ts";
import { startFleetDevice, type RunningDevice } from "./fleet.ts";
import { simFails, simOtaMethods, type SimApp } from "./sim-ota.ts";
import type { Method } from "../device.ts";

/** How many taken ids the fleet skips (beyond count) before it refuses: ids of devices it did not create. */
export const MAX_TAKEN_IDS = 1000;

export interface SimFleetOptions {
  /** The backend's HTTP URL and an API key. */
  url: string;
  key: string;
  mqttUrl: string;
  count: number;
  idPrefix?: string;
  concurrency?: number;
  /** Tags every device gets (PATCH /devices/:id). */
  tags?: string[];
  /** More methods on every device. */
  methods?: Record<string, Method>;
  /** Simulated OTA: the release keys the devices trust, and the share of devices whose new module fails (0..1). */
  ota?: { publicKeys: string[]; failFraction: number };
  connectTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?(phase: "register" | "connect", done: number, total: number): void;
}

export interface SimDevice {
  id: string;
  running: RunningDevice;
  /** The simulated module's state and how many ota.* calls reached it (with `ota`). */
  ota?: { app(): SimApp; calls(): number; fails: boolean };
}

export interface SimFleet {
  /** Registered ids, in order, and the devices that connected. */
  ids: string[];
  devices: Map<string, SimDevice>;
  credentials: Map<string, string>;
  taken: string[];
  failures: string[];
  /** Disconnects every device (they stay registered). */
  close(): Promise<void>;
  /** close(), then deletes every device this fleet registered (and nothing else). */
  remove(): Promise<void>;
}

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function startSimFleet(opts: SimFleetOptions): Promise<SimFleet> {
  const base = opts.url.replace(/\/$/, "");
  const prefix = opts.idPrefix ?? "sim";
  const concurrency = opts.concurrency ?? 32;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${base}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${opts.key}`, ...(init.body ? { "content-type": "application/json" } : {}) },
    }).catch((err: Error) => {
      throw new CliError(`cannot reach ${base}: ${(err.cause as Error)?.message ?? err.message}`);
    });
  const credentials = new Map<string, string>();
  const devices = new Map<string, SimDevice>();
  const taken: string[] = [];
  const failures: string[] = [];
  const fleet: SimFleet = {
    ids: [],
    devices,
    credentials,
    taken,
    failures,
    close: async () => {
      await Promise.all([...devices.values()].map((d) => d.running.close()));
      devices.clear();
    },
    remove: async () => {
      await fleet.close();
      await pool([...credentials.keys()], concurrency, async (id) => void (await api(`/devices/${id}`, { method: "DELETE" }).catch(() => {})));
      credentials.clear();
    },
  };
  const stopped = () => opts.signal?.aborted === true;
  // Every connection in flight listens to the signal: `concurrency` of them is expected, not a leak.
  if (opts.signal) setMaxListeners(concurrency + 16, opts.signal);
  try {
    let next = 1;
    const register = async () => {
      while (credentials.size < opts.count && !stopped()) {
        if (taken.length > MAX_TAKEN_IDS)
          throw new CliError(`more than ${MAX_TAKEN_IDS} ids ${prefix}-<n> are taken by other devices: choose another --id-prefix`);
        const id = `${prefix}-${next++}`;
        const res = await api("/devices", { method: "POST", body: JSON.stringify({ id, metadata: { sim: true } }) });
        if (res.status === 409) {
          taken.push(id); // someone else's device: left as it is
          continue;
        }
        if (res.status !== 201) throw new CliError(`registering ${id}: HTTP ${res.status} ${await res.text()}`);
        const { credential } = (await res.json()) as { credential: string };
        if (credentials.size >= opts.count) {
          await api(`/devices/${id}`, { method: "DELETE" }); // a concurrent worker filled the count first
          continue;
        }
        credentials.set(id, credential);
        if (opts.tags?.length) {
          const tagged = await api(`/devices/${id}`, { method: "PATCH", body: JSON.stringify({ tags: opts.tags }) });
          if (tagged.status !== 200) throw new CliError(`tagging ${id}: HTTP ${tagged.status} ${await tagged.text()}`);
        }
        opts.onProgress?.("register", credentials.size, opts.count);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, opts.count) }, register));
    fleet.ids = [...credentials.keys()].sort((a, b) => Number(a.slice(prefix.length + 1)) - Number(b.slice(prefix.length + 1)));

    let connected = 0;
    await pool(fleet.ids, concurrency, async (id) => {
      if (stopped()) return;
      const ota = opts.ota && {
        fails: simFails(id, opts.ota.failFraction),
        ...simOtaMethods({ publicKeys: opts.ota.publicKeys, fails: simFails(id, opts.ota.failFraction) }),
      };
      try {
        const running = await startFleetDevice(
          opts.mqttUrl,
          id,
          credentials.get(id)!,
          { ...opts.methods, ...ota?.methods },
          { timeoutMs: opts.connectTimeoutMs ?? 10_000, signal: opts.signal },
        );
        devices.set(id, { id, running, ota: ota && { app: ota.app, calls: ota.calls, fails: ota.fails } });
      } catch (err) {
        failures.push(`${id}: ${(err as Error).message}`);
      }
      opts.onProgress?.("connect", ++connected, fleet.ids.length);
    });
    return fleet;
  } catch (err) {
    await fleet.remove();
    throw err;
  }
}
