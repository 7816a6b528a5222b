// The module's whole ABI surface: every export the hosts may call.
// assembly/ABI.md documents each one; keep the two in step.
// The codec-alone exports (codec_*, topic_*) are in build/codec.wasm only (ABI.md, "Codec").
export { abi_version } from "./mqtt/exports";
export * from "./rpc/exports";
export * from "./mqtt/client_exports";
export * from "./device/exports";
