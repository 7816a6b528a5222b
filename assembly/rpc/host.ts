// The one import through which the module reaches methods the host provides
// (assembly/ABI.md, "JSON-RPC"). The host writes its answer at `out`.
@external("outpost", "host_call")
export declare function host_call(method: usize, methodLen: u32, params: usize, paramsLen: u32, out: usize, outCap: u32): u32;

// host_call status: kind << 24 | byte length written at out.
export const HOST_RESULT: u32 = 0; // a JSON value
export const HOST_ERROR: u32 = 1; // a JSON-RPC error object {"code":..,"message":..}
export const HOST_NOT_FOUND: u32 = 2; // the host has no such method
export const HOST_PENDING: u32 = 3; // asynchronous: the host re-runs the request later
export const HOST_TOO_LARGE: u32 = 4; // the answer does not fit in outCap
