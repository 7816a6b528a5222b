// The Node device with OTA (docs/ota.md): a Device on whatever module the agent says is verified, restarted on the
// new module after ota.finish (the V8 instance or the wasm3 runtime torn down, the new one loaded, reconnected with
// the same id and credential), and rolled back when the new one traps at start, never connects, or is not
// confirmed within the window.
import { Device, type DeviceConnectOptions, type DeviceOptions } from "../device.ts";
import { wasmBytes } from "../engine.ts";
import { OtaAgent, type AgentOptions } from "./agent.ts";
import { publicKeyFromHex } from "./manifest.ts";
import { FileSlotStore } from "./slot-store.ts";

export interface OtaOptions {
  /** Where the slots and the state record live (0700). */
  dir: string;
  /** The release public keys, 64 hex digits each, set at provisioning. */
  publicKeys: readonly string[];
  confirmWindowMs?: number;
  slotMax?: number;
  chunk?: number;
  /** Module bytes a compressed chunk may inflate to (0: raw chunks only). */
  deflate?: number;
}

export interface OtaDeviceOptions extends Omit<DeviceOptions, "module" | "info"> {
  ota: OtaOptions;
}

export class OtaDevice {
  readonly agent: OtaAgent;
  readonly store: FileSlotStore;
  /** The Device on the running module (a new one after every restart). */
  device!: Device;
  private url: string | readonly string[] | undefined;
  private connectOpts: DeviceConnectOptions = {};
  private window: NodeJS.Timeout | undefined;
  private connected = false;
  private closed = false;
  private restarting: Promise<void> | undefined;
  /** Module restarts so far (tests and the bench wait on it). */
  restarts = 0;

  constructor(private readonly opts: OtaDeviceOptions) {
    this.store = new FileSlotStore(opts.ota.dir);
    const agentOpts: AgentOptions = {
      publicKeys: opts.ota.publicKeys.map(publicKeyFromHex),
      builtin: wasmBytes(opts.build),
      slotMax: opts.ota.slotMax,
      memoryLimit: opts.memoryLimit,
      chunk: opts.ota.chunk,
      deflate: opts.ota.deflate,
      confirmWindowMs: opts.ota.confirmWindowMs,
    };
    this.agent = new OtaAgent(this.store, agentOpts);
    this.agent.onFinished = () => void this.restart();
    this.agent.onConfirmed = () => this.clearWindow();
    this.load();
  }

  get id(): string {
    return this.opts.id;
  }

  /** Starts the module the agent picks; one that traps at start is rolled back and the previous one started. */
  private load(): void {
    for (;;) {
      const boot = this.agent.boot();
      try {
        this.device = new Device({
          ...this.opts,
          methods: { ...this.opts.methods, ...this.agent.methods() },
          module: boot.bytes,
          info: () => this.agent.app(),
        });
        return;
      } catch (err) {
        if (!boot.pending) throw err; // the confirmed module (verified) failing is the engine's fault, not an update's
        this.opts.log?.(3, `module version ${boot.version} failed at start (${(err as Error).message}): rolling back`);
        this.agent.markRolledBack("trap_at_start");
      }
    }
  }

  /** Connects as Device.connect does (resolves on the first CONNACK); after a restart it reconnects by itself. */
  async connect(url: string | readonly string[], opts: DeviceConnectOptions = {}): Promise<void> {
    this.url = url;
    this.connectOpts = opts;
    await this.connectCurrent();
  }

  private connectCurrent(): Promise<void> {
    this.connected = false;
    const pending = this.agent.running?.pending === true;
    let connecting: Promise<void>;
    try {
      connecting = this.device.connect(this.url!, this.connectOpts);
    } catch (err) {
      connecting = Promise.reject(err);
    }
    this.device.mqtt?.on("connect", () => {
      this.connected = true;
    });
    if (pending) this.armWindow();
    return connecting.catch(async (err) => {
      if (!pending) throw err;
      this.opts.log?.(3, `module failed to start its connection (${(err as Error).message}): rolling back`);
      this.agent.markRolledBack("trap_at_start");
      await this.restart(false);
    });
  }

  private armWindow(): void {
    this.clearWindow();
    this.window = setTimeout(() => {
      this.window = undefined;
      if (!this.agent.running?.pending) return;
      const reason = this.connected ? "not_confirmed" : "no_connection";
      this.opts.log?.(2, `module version ${this.agent.running.version} ${reason}: rolling back`);
      this.agent.markRolledBack(reason);
      void this.restart(false);
    }, this.agent.confirmWindowMs);
    this.window.unref?.();
  }

  private clearWindow(): void {
    if (this.window) clearTimeout(this.window);
    this.window = undefined;
  }

  /** Tears the module down, starts the one the agent picks, reconnects (without waiting for the CONNACK). */
  private restart(graceful = true): Promise<void> {
    const run = async () => {
      this.clearWindow();
      const old = this.device;
      if (graceful) await old.close();
      else {
        old.mqtt?.destroySocket();
        await old.close();
      }
      if (this.closed) return;
      this.load();
      this.restarts++;
      if (this.url) void this.connectCurrent().catch(() => {});
    };
    const p = (this.restarting ?? Promise.resolve()).then(run, run);
    this.restarting = p;
    return p;
  }

  /** Publishes the offline status, disconnects cleanly and stops. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearWindow();
    await this.restarting?.catch(() => {});
    await this.device.close();
  }

  /** A power cut: the socket dropped without DISCONNECT, nothing more written; a new OtaDevice on the same dir is the reboot. */
  async powerCut(): Promise<void> {
    this.closed = true;
    this.clearWindow();
    this.device.mqtt?.destroySocket();
    await new Promise((r) => setImmediate(r)); // out of a host call first: the engine may not be re-entered
    await this.device.close();
  }
}
