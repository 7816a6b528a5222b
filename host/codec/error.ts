// The codec's one error type: `code` names the error (assembly/errors.ts, or a host-side
// check such as InvalidField), `field` the packet field a host-side check refused.
import type { Packet } from "./index.ts";

/** A protocol error the module named; `code` is the name from assembly/errors.ts. */
export class MqttCodecError extends Error {
  override name = "MqttCodecError";
  /** Packets decoded from the same push() before the error. */
  packets: Packet[] = [];
  constructor(
    readonly code: string,
    readonly errno: number,
    readonly field?: string,
    why?: string,
  ) {
    super(field ? `MQTT codec: ${code} (${field}: ${why})` : `MQTT codec: ${code}`);
  }
}
