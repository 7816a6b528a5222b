// The package's entry ("." in package.json's exports): the Node pieces README's Layout names.
// The codec alone is "outpost/codec" (host/codec/index.ts).
export { Device, RpcError, type DeviceConnectOptions, type DeviceLimits, type DeviceOptions, type Method, type MethodSpec } from "./device.ts";
export {
  defaultEngine,
  instantiate,
  ModuleTrap,
  wasmPath,
  type Build,
  type EngineName,
  type HostCallResult,
  type HostImports,
  type ModuleInstance,
} from "./engine.ts";
export { connectMqtt, MqttClient, type CloseInfo, type ConnectOptions } from "./mqtt/client.ts";
export { startBackend, type Backend, type BackendOptions } from "./server/backend.ts";
