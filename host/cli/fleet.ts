// One place that starts a device for the CLI (the demo device and the sim fleet).
import { startJsDevice, stopJsDevice } from "../rpc/js-device.ts";

export interface RunningDevice {
  id: string;
  close(): Promise<void>;
}

export async function startFleetDevice(mqttUrl: string, id: string, credential: string): Promise<RunningDevice> {
  const client = await startJsDevice(mqttUrl, { id, credential, methods: { "sys.info": () => ({ engine: "js", board: "node" }) } });
  return { id, close: () => stopJsDevice(client, id) };
}
