// Device exports (assembly/ABI.md, "Device"). Strings come through the client's scratch area.
import { Err } from "../abi";

import { clientScratch, clientScratchCap } from "../mqtt/client";

import { deviceInit, deviceSet, deviceConfig, deviceStart, devicePoll, deviceResume, deviceStop, deviceDeadline } from "./app";
import { wsSetUrl } from "../ws/client";

export function device_init(contextCap: u32): i32 {
  return deviceInit(contextCap);
}
/** key 1 = device id, 2 = topic prefix, 3 = WebSocket server (selects that transport); the value is at the client's scratch. */
export function device_set(key: u32, len: u32): i32 {
  if (len > clientScratchCap()) return -Err.BufferFull;
  if (!isDefined(OUTPOST_NO_WS)) if (key == 3) return wsSetUrl(clientScratch(), len);
  return deviceSet(key, clientScratch(), len);
}
export function device_config(key: u32, value: u32): i32 {
  return deviceConfig(key, value);
}
export function device_start(now: u32): i32 {
  return deviceStart(now);
}
export function device_poll(now: u32): i32 {
  return devicePoll(now);
}
export function device_resume(reqLen: u32, ctxLen: u32, now: u32): i32 {
  return deviceResume(reqLen, ctxLen, now);
}
export function device_stop(now: u32): void {
  deviceStop(now);
}
export function device_deadline(now: u32): u32 {
  return deviceDeadline(now);
}
