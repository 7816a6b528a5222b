// Size entry (bench/size.ts): build/device.wasm's MQTT, JSON-RPC and device app (the transport chosen by --use).
export * from "./codec-client";
export * from "../rpc/exports";
export * from "../device/exports";
