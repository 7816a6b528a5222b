// The one import through which the module reaches methods the host provides
// (assembly/ABI.md, "JSON-RPC"). The host writes its answer at `out`.
@external("outpost", "host_call")
export declare function host_call(method: usize, methodLen: u32, params: usize, paramsLen: u32, out: usize, outCap: u32): u32;

// host_call status: kind << 24 | byte length written at out.
