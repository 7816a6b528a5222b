// What an RPC failure tells the caller about delivery. 503 means "not delivered": a retry cannot run it twice.
// 504 means "handed to the device, no answer": it may have run; retry only with the same Idempotency-Key, or
// when the method is safe to run twice.
import { ClusterUnavailable, DeviceBusy, DeviceNoAnswer, DeviceOffline, DeviceSuspect, RpcTimeout } from "./correlator.ts";

export interface RpcFailure {
  status: 503 | 504;
  body: { error: string; message: string; delivered: boolean };
}

/** The answer for a correlator error, or undefined for an error that is not about delivery. */
export function rpcFailure(err: unknown): RpcFailure | undefined {
  if (err instanceof DeviceOffline) return { status: 503, body: { error: "device_offline", message: err.message, delivered: false } };
  if (err instanceof DeviceBusy) return { status: 503, body: { error: "device_busy", message: err.message, delivered: false } };
  if (err instanceof DeviceSuspect) return { status: 503, body: { error: "device_suspect", message: err.message, delivered: false } };
  if (err instanceof ClusterUnavailable) return { status: 503, body: { error: "cluster_unavailable", message: err.message, delivered: false } };
  if (err instanceof DeviceNoAnswer) return { status: 504, body: { error: "device_no_answer", message: err.message, delivered: true } };
  if (err instanceof RpcTimeout) return { status: 504, body: { error: "device_timeout", message: err.message, delivered: true } };
  return undefined;
}

/** Response schema of 503 and 504 (fastify drops members a schema does not name). */
export const deliveryErrorBody = {
  type: "object",
  properties: { error: { type: "string" }, message: { type: "string" }, delivered: { type: "boolean" } },
  required: ["error", "message", "delivered"],
} as const;
