// The RPC correlator: every backend on a broker sees every answer on a device's tx, so one backend's answer must
// never settle another backend's call, even when both have made the same number of calls.
import { Aedes } from "aedes";
import { afterAll, expect, it } from "vitest";
import { AedesBus, type BusMessage } from "../host/rpc/bus.ts";
import { RpcCorrelator } from "../host/rpc/correlator.ts";

let aedes: Aedes;
afterAll(() => new Promise<void>((r) => aedes.close(() => r())));

it("settles each backend's calls with that backend's answers only, answers crossing on one tx topic", async () => {
  aedes = await Aedes.createBroker();
  const bus = new AedesBus(aedes);
  const backends = [new RpcCorrelator(bus, "devices"), new RpcCorrelator(bus, "devices")];
  for (const c of backends) await bus.subscribe(["devices/+/tx"], (m: BusMessage) => c.onResponse(m.topic.split("/")[1], m.payload));
  // The device collects the requests, then answers them in reverse order.
  const requests: { id: unknown; params: unknown }[] = [];
  await bus.subscribe(["devices/d/rx"], (m) => requests.push(JSON.parse(m.payload.toString())));

  const calls = backends.map((c, i) => c.call("d", "echo", [`from backend ${i}`], `caller-${i}`, 5000));
  await new Promise((r) => setTimeout(r, 20));
  expect(requests).toHaveLength(2);
  expect(requests[0].id).not.toEqual(requests[1].id);
  for (const r of [...requests].reverse()) bus.publish("devices/d/tx", JSON.stringify({ jsonrpc: "2.0", id: r.id, result: r.params }));

  expect((await Promise.all(calls)).map((a) => JSON.parse(a))).toEqual([
    { jsonrpc: "2.0", id: "caller-0", result: ["from backend 0"] },
    { jsonrpc: "2.0", id: "caller-1", result: ["from backend 1"] },
  ]);
  for (const c of backends) expect(c.inFlight).toBe(0);
});
