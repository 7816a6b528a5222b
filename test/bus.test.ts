// The backend's bus, in-process on aedes and as an mqtt.js client of mosquitto: subscriptions by exact topic and by
// wildcard, and unsubscribing one subscribe() call's handler without touching the others on the same filter.
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { afterAll, describe, expect, it } from "vitest";
import { AedesBus, MqttBus, type Bus, type BusMessage } from "../host/rpc/bus.ts";
import { startMosquitto, type Mosquitto } from "./support/mosquitto.ts";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** What reached one handler, by payload. */
function recorder() {
  const got: string[] = [];
  return { got, handler: (m: BusMessage) => got.push(`${m.topic} ${m.payload.toString()}`) };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}

let mosquitto: Mosquitto | undefined;
const buses: [string, () => Promise<{ bus: Bus; brokerMessages?: () => string[] }>][] = [
  [
    "AedesBus",
    async () => {
      const aedes = await Aedes.createBroker();
      cleanups.push(() => new Promise<void>((r) => aedes.close(() => r())));
      return { bus: new AedesBus(aedes) };
    },
  ],
  [
    "MqttBus",
    async () => {
      mosquitto ??= await startMosquitto();
      const broker = mosquitto;
      const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: `bus-test-${Date.now()}` });
      // Everything the broker sends this client, whether a handler wants it or not.
      const seen: string[] = [];
      client.on("message", (topic, payload) => seen.push(`${topic} ${payload.toString()}`));
      const bus = new MqttBus(client);
      cleanups.push(async () => {
        await bus.close();
        await broker.stop();
      });
      return { bus, brokerMessages: () => seen };
    },
  ],
];

describe.each(buses)("%s", (_name, make) => {
  it("hands each message to the handlers of its exact topic and of matching wildcard filters, and to no others", async () => {
    const { bus } = await make();
    const tx = recorder();
    const rxA = recorder();
    const rxB = recorder();
    await bus.subscribe(["devices/+/tx"], tx.handler);
    await bus.subscribe(["devices/d1/rx"], rxA.handler);
    await bus.subscribe(["devices/d1/rx"], rxB.handler);
    bus.publish("devices/d1/rx", "request");
    bus.publish("devices/d2/rx", "not for d1");
    bus.publish("devices/d2/tx", "answer");
    await until(() => tx.got.length === 1 && rxA.got.length === 1 && rxB.got.length === 1);
    expect(tx.got).toEqual(["devices/d2/tx answer"]);
    expect(rxA.got).toEqual(["devices/d1/rx request"]);
    expect(rxB.got).toEqual(["devices/d1/rx request"]);
  });

  it("unsubscribes one subscribe() call: the other handlers of the same filter still get it; with the last one gone, so is the filter", async () => {
    const { bus, brokerMessages } = await make();
    const tx = recorder();
    const rxA = recorder();
    const rxB = recorder();
    await bus.subscribe(["devices/+/tx"], tx.handler);
    const dropA = await bus.subscribe(["devices/d3/rx"], rxA.handler);
    const dropB = await bus.subscribe(["devices/d3/rx"], rxB.handler);
    await dropA();
    bus.publish("devices/d3/rx", "one");
    bus.publish("devices/d3/tx", "marker 1"); // in order after "one": once it is here, "one" was handed out
    await until(() => tx.got.length === 1);
    expect(rxA.got).toEqual([]);
    expect(rxB.got).toEqual(["devices/d3/rx one"]);

    await dropB();
    bus.publish("devices/d3/rx", "two");
    bus.publish("devices/d3/tx", "marker 2");
    await until(() => tx.got.length === 2);
    expect(rxB.got).toEqual(["devices/d3/rx one"]);
    // The external broker was told too: it no longer sends d3's rx to this backend at all.
    if (brokerMessages) expect(brokerMessages().filter((m) => m.startsWith("devices/d3/rx"))).toEqual(["devices/d3/rx one"]);
  });
});
