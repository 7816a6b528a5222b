// The call being dispatched: its method name, its time and what the host answered.
// The dispatcher (dispatch.ts) sets it per request; the built-ins (methods.ts) read it
// and call the host through it, so neither of those two files imports the other's caller.
import { HOST_ERROR, HOST_NOT_FOUND, HOST_PENDING, HOST_RESULT, HOST_TOO_LARGE, INTERNAL_ERROR, METHOD_NOT_FOUND, RESPONSE_TOO_LARGE } from "../abi";

import { tokTextEnd, tokTextStart } from "../json/tokenizer";
import { bytesAre, jsonDecodeString } from "../json/value";
import { wAdvance, wPos, wRoom, wText } from "../json/writer";
import * as T from "../json/text";
import { host_call } from "./host";

// A method returned this: the host wrote a whole error object (at rawErrorPtr).
export const RAW_ERROR: i32 = 1;

/** Longest method name the module decodes; longer names are "Method not found". */
export const NAME_MAX: u32 = 64;

const nameBuf = memory.data(NAME_MAX);
let nameLen: i32 = 0;
export let rawErrorPtr: usize = 0;
export let rawErrorLen: u32 = 0;
/** Milliseconds the dispatcher was initialised at (sys.info uptime). */
export let startedAt: u32 = 0;
/** `now` of the request being handled. */
export let nowMs: u32 = 0;
/** The last dispatch got a "pending" answer from the host: its response is a placeholder. */
export let rpcPending = false;
/** host_call count of the last dispatch (a host records answers per call, in order). */
export let rpcHostCalls: u32 = 0;

export function startClock(now: u32): void {
  startedAt = now;
}

/** A new request at `now`: no host answers yet. */
export function beginRequest(now: u32): void {
  nowMs = now;
  rpcPending = false;
  rpcHostCalls = 0;
}

/** A built-in run on its own (telemetry): its host calls count with the poll's others. */
export function setNow(now: u32): void {
  nowMs = now;
}

/** Decodes the method name of string token `method`; its length, or < 0 when it is too long or not text. */
export function decodeMethodName(method: u32): i32 {
  return (nameLen = jsonDecodeString(method, nameBuf, NAME_MAX));
}

/**
 * Calls the host's method named in nameBuf with the params token (0: none; token 0 is
 * the request itself, never params), writing its result at the writer.
 * Returns 0, a JSON-RPC error code, or RAW_ERROR (error object at rawError*).
 */
export function callHost(params: u32): i32 {
  let pp: usize = 0;
  let pl: u32 = 0;
  if (params) {
    pp = tokTextStart(params);
    pl = <u32>(tokTextEnd(params) - pp);
  }
  let out = wPos();
  rpcHostCalls++;
  let status = host_call(nameBuf, <u32>nameLen, pp, pl, out, wRoom());
  let kind = status >>> 24;
  let len = status & 0xffffff;
  if (kind == HOST_NOT_FOUND) return METHOD_NOT_FOUND;
  if (kind == HOST_TOO_LARGE) return RESPONSE_TOO_LARGE;
  if (kind == HOST_PENDING) {
    rpcPending = true;
    wText(T.T_NULL); // placeholder: the host discards this pass and re-runs the request
    return 0;
  }
  if (len > wRoom()) return INTERNAL_ERROR; // a host that overran its space
  if (kind == HOST_RESULT) {
    wAdvance(len);
    return 0;
  }
  if (kind != HOST_ERROR) return INTERNAL_ERROR;
  rawErrorPtr = out;
  rawErrorLen = len;
  return RAW_ERROR;
}

/** True when the current method name is text t (assembly/json/text.ts). */
export function nameIs(t: usize): bool {
  return nameLen >= 0 && bytesAre(nameBuf, nameLen, t);
}

/** Names the method for callHost (built-ins that merge in the host's part). */
export function setMethodName(t: usize): void {
  nameLen = load<u16>(t);
  memory.copy(nameBuf, t + 2, nameLen);
}

