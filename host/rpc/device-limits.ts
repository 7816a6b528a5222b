// Whether a request fits the device it is for, checked before anything is sent: a request bigger than the
// device's request buffer, or an MQTT PUBLISH bigger than the Maximum Packet Size the device announced, would be
// dropped on the way (a broker must not forward it, MQTT 5 section 3.1.2.11.4) and the caller would wait for a
// 504. The limits come from the registry (declared, or announced in the device's sys.info).
import type { DeviceLimits } from "../registry/registry.ts";

/** The MQTT 5 properties a request carries (Response Topic and Correlation Data), when the link is MQTT 5. */
export interface RequestProperties {
  responseTopic: string;
  correlationData: Buffer;
}

export class RequestTooLarge extends Error {
  override name = "RequestTooLarge";
  constructor(
    message: string,
    /** The request's size in bytes, as sent to the device. */
    readonly requestBytes: number,
    /** The largest request, in the same bytes, the device takes. */
    readonly deviceMax: number,
  ) {
    super(message);
  }
}

const varintLength = (n: number) => (n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4);

/** Bytes of a PUBLISH at `qos` of `payloadBytes` on `topic` (UTF-8), with the request's MQTT 5 properties if any. */
export function publishPacketSize(topic: string, payloadBytes: number, qos: number, props?: RequestProperties): number {
  let remaining = 2 + Buffer.byteLength(topic) + (qos > 0 ? 2 : 0) + payloadBytes;
  if (props) {
    const propsLength = 3 + Buffer.byteLength(props.responseTopic) + 3 + props.correlationData.length;
    remaining += varintLength(propsLength) + propsLength;
  }
  return 1 + varintLength(remaining) + remaining;
}

/** The largest payload whose PUBLISH fits in maxPacket bytes (0 if none does). */
function largestPayload(maxPacket: number, topic: string, qos: number, props?: RequestProperties): number {
  let n = Math.max(0, maxPacket - publishPacketSize(topic, 0, qos, props) - 3); // the varint can grow by 3 at most
  while (publishPacketSize(topic, n + 1, qos, props) <= maxPacket) n++;
  return n;
}

/** Throws RequestTooLarge when `payload` (the request as sent) is over the device's limits. */
export function checkRequestFits(deviceId: string, limits: DeviceLimits, topic: string, payload: string, qos: number, props?: RequestProperties): void {
  if (limits.request_max === null && limits.max_packet === null) return;
  const bytes = Buffer.byteLength(payload);
  const byRequest = limits.request_max ?? Number.POSITIVE_INFINITY;
  const byPacket = limits.max_packet === null ? Number.POSITIVE_INFINITY : largestPayload(limits.max_packet, topic, qos, props);
  const max = Math.min(byRequest, byPacket);
  if (bytes <= max) return;
  const why = byRequest <= byPacket ? `its request_max is ${byRequest}` : `its MQTT maximum packet size is ${limits.max_packet} bytes, PUBLISH header included`;
  throw new RequestTooLarge(`the request is ${bytes} bytes as sent to device ${deviceId}, which takes at most ${max} (${why}); send less`, bytes, max);
}
