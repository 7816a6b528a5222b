// The client core as the device app drives it: start/poll/stop/deadline go through
// the module's device_* exports, so rx requests are answered inside the module and
// MqttClient (host/mqtt/client.ts) only moves bytes and keeps time.
import { ClientCore, ClientError, type ClientEvent } from "../mqtt/core.ts";
import type { ModuleInstance } from "../engine.ts";

import { Ev } from "../abi-table.ts";

export class DeviceCore extends ClientCore {
  constructor(
    module: ModuleInstance,
    /** Runs device_poll once (with the host-call recorder armed); handles EV_RPC_PENDING itself. */
    private readonly pollOnce: (now: number) => number,
  ) {
    super({ module });
  }

  override start(now: number): void {
    const r = this.mod.exports.device_start(now >>> 0);
    if (r < 0) throw new ClientError(-r, "device start");
  }
  override stop(now: number): void {
    this.mod.exports.device_stop(now >>> 0);
  }
  override deadline(now: number): number | null {
    const d = this.mod.exports.device_deadline(now >>> 0) >>> 0;
    return d === 0xffffffff ? null : d;
  }
  override poll(now: number): ClientEvent | null {
    for (;;) {
      const code = this.pollOnce(now);
      if (code !== Ev.rpcPending && code !== Ev.yield) return this.eventOf(code); // yield: the lean module's steps
    }
  }
}
