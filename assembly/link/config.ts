// The connection's settings: the integer config keys (client_config) and the string
// keys (client_set_str) every transport reads. "init" keys size buffers: set them before client_init.
import { CFG_INFLIGHT_WINDOW, CFG_KEYS, CFG_PROTOCOL, CFG_RECEIVE_MAXIMUM, CFG_SIZING_KEYS, CFG_STRINGS_BYTES, CFG_WILL_QOS, Err, STR_KEYS, cfgValues } from "../abi";

import { alloc } from "../mem";
import { setPair } from "../mqtt/packet";
import { linkInited } from "./supervisor";
import { MQTT5 } from "../features";

export function C(key: u32): u32 {
  return load<u32>(cfgValues() + (<usize>key << 2));
}

/** Sets an integer config key. 0, -UnknownKey, -AlreadyInitialized (a sizing key after init), -InvalidArgument or -InvalidQos. */
export function clientConfig(key: u32, value: u32): i32 {
  // Unsigned ranges: key - 1 wraps for key 0, value - 4 for 0..3, value - 1 for 0.
  if (key - 1 >= CFG_KEYS - 1) return -Err.UnknownKey;
  if (linkInited() && (CFG_SIZING_KEYS >> key) & 1) return -Err.AlreadyInitialized;
  if (key == CFG_PROTOCOL && value - 4 > <u32>MQTT5) return -Err.InvalidArgument; // 4 or 5 (4 only without MQTT 5)
  if (key == CFG_WILL_QOS && value > 2) return -Err.InvalidQos;
  if ((((1 << CFG_INFLIGHT_WINDOW) | (1 << CFG_RECEIVE_MAXIMUM)) >> key) & 1 && value - 1 >= 0xffff) return -Err.InvalidArgument; // 1..65535
  store<u32>(cfgValues() + (<usize>key << 2), value);
  return 0;
}

// Per string key: u32 offset in strs, u32 length.
const strTab = memory.data(STR_KEYS * 8);
let strs: usize = 0, strsUsed: u32 = 0;

/** Allocates the strings area (client_init). */
export function stringsInit(): void {
  strs = alloc(C(CFG_STRINGS_BYTES));
}

/**
 * Sets a string key (client id, username, password, will topic, will payload) from
 * [ptr, ptr+len); length 0 unsets it. 0, -UnknownKey or -BufferFull.
 */
export function clientSetString(key: u32, ptr: usize, len: u32): i32 {
  if (!linkInited()) return -Err.NotInitialized;
  if (key == 0 || key >= STR_KEYS) return -Err.UnknownKey;
  let at = strTab + (<usize>key << 3);
  let oldOff = load<u32>(at);
  let oldLen = load<u32>(at, 4);
  if (oldLen) {
    // Close the gap; later strings move down.
    memory.copy(strs + oldOff, strs + oldOff + oldLen, strsUsed - oldOff - oldLen);
    strsUsed -= oldLen;
    for (let k: u32 = 1; k < STR_KEYS; k++) {
      let o = strTab + (<usize>k << 3);
      if (load<u32>(o) > oldOff) store<u32>(o, load<u32>(o) - oldLen);
    }
    store<u32>(at, 0, 4);
  }
  if (len > C(CFG_STRINGS_BYTES) - strsUsed) return -Err.BufferFull;
  memory.copy(strs + strsUsed, ptr, len);
  store<u32>(at, strsUsed);
  store<u32>(at, len, 4);
  strsUsed += len;
  return 0;
}

/** String key `key`'s bytes: their address (stringLen of them). */
@inline export function stringPtr(key: u32): usize {
  return strs + load<u32>(strTab + (<usize>key << 3));
}
/** String key `key`'s length (0: unset). */
@inline export function stringLen(key: u32): u32 {
  return load<u32>(strTab + (<usize>key << 3), 4);
}

/** Puts string key `key` in a view's slot pair `slot`; its length (0: unset). */
export function setStringSlot(view: usize, slot: u32, key: u32): u32 {
  let len = stringLen(key);
  setPair(view, slot, stringPtr(key), len);
  return len;
}
