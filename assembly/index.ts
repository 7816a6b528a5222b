// The module's whole ABI surface: every export the hosts may call.
// assembly/ABI.md documents each one; keep the two in step.
export * from "./mqtt/exports";
export * from "./rpc/exports";
export * from "./mqtt/client_exports";
export * from "./device/exports";
