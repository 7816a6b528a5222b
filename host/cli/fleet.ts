// One place that starts a module device for the CLI (the demo device and the sim fleet).
import { Device, type Method } from "../device.ts";
import { errName } from "../abi.ts";
import { redactUrl } from "../server/log.ts";

export interface RunningDevice {
  id: string;
  device: Device;
  close(): Promise<void>;
}

/** The device did not get a CONNACK in time (or was stopped first); the reason names the last connection error. */
export class DeviceConnectFailed extends Error {
  override name = "DeviceConnectFailed";
}

export interface FleetConnectOptions {
  /** Give up after this long without a CONNACK (default: keep trying, as a device does). */
  timeoutMs?: number;
  /** Aborting stops the attempt: the device is closed and the promise rejects. */
  signal?: AbortSignal;
  /** Publish sys.info as telemetry every this many ms (default 0: never). */
  telemetryMs?: number;
  /** For an mqtts:// URL: the CA and server name to check. */
  tls?: import("../device.ts").DeviceConnectOptions["tls"];
}

export async function startFleetDevice(
  mqttUrl: string,
  id: string,
  credential: string,
  methods: Record<string, Method> = {},
  opts: FleetConnectOptions = {},
): Promise<RunningDevice> {
  const device = new Device({ id, methods, board: "outpost-sim" });
  const running = { id, device, close: () => device.close() };
  const connected = device.connect(mqttUrl, { password: credential, telemetryMs: opts.telemetryMs, tls: opts.tls });
  if (opts.timeoutMs === undefined && !opts.signal) {
    await connected;
    return running;
  }
  let lastError = "";
  device.mqtt!.on("close", (info: { error: number }) => {
    if (info.error) lastError = errName(info.error);
  });
  let timer: NodeJS.Timeout | undefined;
  let onAbort = () => {};
  const failed = new Promise<never>((_, reject) => {
    const fail = (why: string) => reject(new DeviceConnectFailed(`${why}${lastError ? ` (last error: ${lastError})` : ""}`));
    if (opts.timeoutMs !== undefined) timer = setTimeout(() => fail(`no CONNACK from ${redactUrl(mqttUrl)} within ${opts.timeoutMs} ms`), opts.timeoutMs);
    onAbort = () => fail("stopped before connecting");
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    await Promise.race([connected, failed]);
    return running;
  } catch (err) {
    await device.close(); // stops reconnecting: nothing of it stays behind
    throw err;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}
