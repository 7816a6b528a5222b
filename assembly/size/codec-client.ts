// Size entry (bench/size.ts): what build/device.wasm holds of the codec and the MQTT client.
export { abi_version } from "../../assembly/mqtt/exports";
export * from "../../assembly/mqtt/client_exports";
