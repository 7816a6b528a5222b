// JSON-RPC exports (assembly/ABI.md, "JSON-RPC").
import { Err } from "../abi";

import { rpcInit, rpcDispatch, rpcRequestBuffer } from "./dispatch";

/**
 * Allocates the request/response buffers and the token table, once. Returns the address
 * of u32 request buffer, u32 response buffer, or -Err.AlreadyInitialized.
 */
export function rpc_init(requestMax: u32, responseMax: u32, maxTokens: u32, maxDepth: u32, now: u32): i32 {
  return rpcInit(requestMax, responseMax, maxTokens, maxDepth, now);
}
/**
 * Handles the len request bytes in the request buffer. Returns the response
 * length (0: no response) or -Err.NotInitialized. A len above the capacity
 * (nothing written) answers "Request too large".
 */
export function rpc_handle(len: u32, now: u32): i32 {
  if (!rpcRequestBuffer()) return -Err.NotInitialized;
  return rpcDispatch(rpcRequestBuffer(), len, now);
}
