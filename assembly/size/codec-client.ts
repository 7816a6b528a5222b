// Size entry (bench/size.ts): what build/device.wasm holds of the codec and the MQTT client.
export { abi_version } from "../mqtt/exports";
export * from "../mqtt/client_exports";
