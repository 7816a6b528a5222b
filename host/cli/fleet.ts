// One place that starts a module device for the CLI (the demo device and the sim fleet).
import { Device, type Method } from "../device.ts";

export interface RunningDevice {
  id: string;
  device: Device;
  close(): Promise<void>;
}

export async function startFleetDevice(mqttUrl: string, id: string, credential: string, methods: Record<string, Method> = {}): Promise<RunningDevice> {
  const device = new Device({ id, methods, board: "outpost-sim" });
  await device.connect(mqttUrl, { password: credential });
  return { id, device, close: () => device.close() };
}
