// The native device under MQTT 5 against mosquitto: a request's Response Topic and
// Correlation Data are kept whole, however long (up to the board's maximum packet), and
// the answer goes there; it is never moved to devices/<id>/tx instead.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startMosquitto, type Mosquitto } from "./support/mosquitto.ts";

const program = fileURLToPath(new URL("../boards/posix/build/outpost-device", import.meta.url));

let broker: Mosquitto;
let device: ChildProcess;
let stderr = "";

beforeAll(async () => {
  broker = await startMosquitto();
  device = spawn(program, ["--id", "posix-long-ctx", "--url", broker.url, "--mqtt-version", "5"], { stdio: ["ignore", "ignore", "pipe"] });
  device.stderr!.on("data", (d) => (stderr += d));
  const deadline = Date.now() + 10_000;
  while (!stderr.includes("connected to")) {
    if (Date.now() > deadline) throw new Error(`the device did not connect:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  device?.kill("SIGKILL");
  await broker?.stop();
});

it("answers on a 300-byte Response Topic with 300 bytes of Correlation Data, and nothing on tx", async () => {
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: "posix-long-ctx-caller" });
  try {
    const responseTopic = `replies/${"r".repeat(292)}`;
    expect(Buffer.byteLength(responseTopic)).toBe(300);
    const correlationData = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
    const replies: { topic: string; payload: string; correlation?: Buffer }[] = [];
    client.on("message", (topic, payload, packet) =>
      replies.push({ topic, payload: String(payload), correlation: packet.properties?.correlationData as Buffer | undefined }),
    );
    await client.subscribeAsync([responseTopic, "devices/posix-long-ctx/tx"], { qos: 1 });
    await client.publishAsync("devices/posix-long-ctx/rx", JSON.stringify({ jsonrpc: "2.0", id: 21, method: "echo", params: ["long"] }), {
      qos: 1,
      properties: { responseTopic, correlationData },
    });
    const deadline = Date.now() + 5000;
    while (!replies.some((r) => r.topic === responseTopic) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const [long, ...others] = replies;
    expect(long?.topic).toBe(responseTopic);
    expect(JSON.parse(long.payload)).toEqual({ jsonrpc: "2.0", result: ["long"], id: 21 });
    expect(long.correlation).toEqual(correlationData);
    expect(others).toEqual([]); // one request, one answer: none on tx
  } finally {
    await client.endAsync();
  }
});

it("holds those buffers inside the board's linear memory limit", async () => {
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: "posix-long-ctx-info" });
  try {
    await client.subscribeAsync("replies/info", { qos: 1 });
    const reply = new Promise<string>((resolve) => client.once("message", (_t, payload) => resolve(String(payload))));
    await client.publishAsync("devices/posix-long-ctx/rx", JSON.stringify({ jsonrpc: "2.0", id: 1, method: "sys.info" }), {
      qos: 1,
      properties: { responseTopic: "replies/info" },
    });
    const info = JSON.parse(await reply).result;
    console.log(`posix device, MQTT 5: memory_used ${info.memory_used} of memory_limit ${info.memory_limit} B`);
    expect(info.memory_used).toBeLessThan(info.memory_limit);
  } finally {
    await client.endAsync();
  }
});
