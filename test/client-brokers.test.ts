// The Node device's MQTT client with several brokers (issue 19): each failed or ended connection moves to the next
// broker of the list, once. With two brokers, a client whose first broker is dead must try the second next (a
// double step once took it back to the dead one every time).
import { afterAll, describe, expect, it } from "vitest";
import { createServer, type Server, type Socket } from "node:net";
import { MqttClient } from "../host/mqtt/client.ts";
import { waitFor } from "./support/api.ts";

describe("MqttClient with a list of brokers", () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  const clients: MqttClient[] = [];
  /** A TCP listener that records each connection and, if `hangUp`, closes it at once (a dead or refusing node). */
  const listener = async (name: string, hangUp: boolean, seen: string[]) => {
    const server = createServer((s) => {
      seen.push(name);
      sockets.push(s);
      s.on("error", () => {});
      if (hangUp) s.destroy();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  };

  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => {});
    for (const s of sockets) s.destroy();
    for (const server of servers) await new Promise((r) => server.close(r));
  });

  it.each([2, 3])("with %i brokers, goes down the list one broker per failed connection", async (count) => {
    const seen: string[] = [];
    // Every broker hangs up but the last, which holds the connection (it never answers the CONNECT).
    const urls = [];
    for (let i = 0; i < count; i++) urls.push(await listener(`b${i}`, i < count - 1, seen));
    const client = new MqttClient({ build: "release", reconnect: { minMs: 20, maxMs: 40 } });
    clients.push(client);
    void client.connect(urls).catch(() => {});
    await waitFor(() => seen.length >= count);
    expect(seen.slice(0, count)).toEqual(urls.map((_, i) => `b${i}`));
    expect(client.broker.port).toBe(Number(new URL(urls[count - 1]).port));
  });
});
