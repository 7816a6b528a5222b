// A plain-JS device over mqtt.js speaking the same protocol as the module: subscribe <prefix>/<ID>/rx, answer
// JSON-RPC on <prefix>/<ID>/tx (or the MQTT 5 Response Topic), retained status with an offline will.
// It is the named peer in benchmarks and a stand-in where the module is not needed.
import mqtt, { type MqttClient } from "mqtt";
import { DEFAULT_PREFIX, deviceTopics } from "../broker/acl.ts";

export type Method = (params: unknown) => unknown;

export class JsonRpcMethodError extends Error {
  override name = "JsonRpcMethodError";
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export interface JsDeviceOptions {
  id: string;
  credential: string;
  methods?: Record<string, Method>;
  prefix?: string;
  protocolVersion?: 4 | 5;
  reconnectPeriod?: number;
}

export async function startJsDevice(url: string, opts: JsDeviceOptions): Promise<MqttClient> {
  const topics = deviceTopics(opts.prefix ?? DEFAULT_PREFIX, opts.id);
  const methods: Record<string, Method> = { echo: (p) => p, ...opts.methods };
  const client = mqtt.connect(url, {
    clientId: opts.id,
    username: opts.id,
    password: opts.credential,
    protocolVersion: opts.protocolVersion ?? 4,
    reconnectPeriod: opts.reconnectPeriod ?? 200,
    will: { topic: topics.status, payload: Buffer.from('{"online":false}'), qos: 1, retain: true },
  });
  // Online only once rx is subscribed, so a caller who sees "online" can be answered.
  const ready = new Promise<void>((resolve, reject) => {
    client.on("connect", () => {
      client.subscribe(topics.rx, { qos: 0 }, () => {
        client.publish(topics.status, '{"online":true}', { qos: 1, retain: true }, () => resolve());
      });
    });
    client.once("error", reject);
  });
  client.on("message", async (_topic, payload, packet) => {
    let req: { id?: unknown; method?: unknown; params?: unknown };
    try {
      req = JSON.parse(payload.toString("utf8"));
    } catch {
      return void client.publish(topics.tx, JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }));
    }
    if (req.id === undefined) return; // notification
    let answer: object;
    const method = typeof req.method === "string" ? methods[req.method] : undefined;
    if (!method) answer = { jsonrpc: "2.0", id: req.id, error: { code: -32601, message: "Method not found" } };
    else {
      try {
        answer = { jsonrpc: "2.0", id: req.id, result: (await method(req.params)) ?? null };
      } catch (err) {
        const e = err instanceof JsonRpcMethodError ? err : new JsonRpcMethodError(-32603, (err as Error).message);
        answer = { jsonrpc: "2.0", id: req.id, error: { code: e.code, message: e.message, ...(e.data === undefined ? {} : { data: e.data }) } };
      }
    }
    const props = packet.properties;
    const to = props?.responseTopic ?? topics.tx;
    client.publish(to, JSON.stringify(answer), { properties: props?.correlationData ? { correlationData: props.correlationData } : undefined });
  });
  await ready;
  return client;
}
