// A device announces its limits in sys.info: request_max, response_max and, over MQTT, max_packet (its MQTT 5
// CONNECT Maximum Packet Size), in bytes. The backend reads them from the telemetry a device publishes (sys.info)
// and from sys.info answers that pass through REST, and keeps them in the registry.
import type { DeviceLimits } from "../registry/registry.ts";
import { parseBoundedJson } from "./json-bounds.ts";

const NAMES = ["request_max", "response_max", "max_packet"] as const;
/** MQTT's largest packet (256 MiB): anything bigger is not a real limit. */
const LARGEST = 2 ** 28;

/** The limits named in a sys.info result; undefined when it names none (an older device, or not sys.info). */
export function announcedLimits(info: unknown): Partial<DeviceLimits> | undefined {
  if (!info || typeof info !== "object" || Array.isArray(info)) return undefined;
  const found: Partial<DeviceLimits> = {};
  let any = false;
  for (const name of NAMES) {
    const v = (info as Record<string, unknown>)[name];
    if (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= LARGEST) {
      found[name] = v as number;
      any = true;
    }
  }
  return any ? found : undefined;
}

/** The same, from JSON text: a telemetry payload (the sys.info object), or a JSON-RPC answer with it as result. */
export function announcedLimitsIn(text: string, answer: boolean): Partial<DeviceLimits> | undefined {
  if (!text.includes('"request_max"') && !text.includes('"max_packet"') && !text.includes('"response_max"')) return undefined; // most telemetry: no parse
  try {
    const value = parseBoundedJson(text) as { result?: unknown } | null;
    return announcedLimits(answer ? value?.result : value);
  } catch {
    return undefined;
  }
}
