// The lean module (issue 20): build/device-mqtt311.wasm, asconfig.json's mqtt311 target
// (--use OUTPOST_NO_WS=1 OUTPOST_NO_MQTT5=1 OUTPOST_NO_QOS2=1), beside the full build/device.wasm.
// Same exports, smaller, MQTT 3.1.1 with QoS 0 and 1 only: the protocol key refuses 5 by name,
// QoS 2 publish and subscribe are -InvalidQos, and a 3.1.1 CONNECT is written as by the full
// module. Under V8 and wasm3.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Decoder, encode } from "../host/codec/index.ts";
import { Cfg, Err, Ev, Str } from "../host/abi-table.ts";
import { instantiate } from "../host/engine.ts";
import { ENGINES } from "./support/engines.ts";
import { startMosquitto } from "./support/mosquitto.ts";
import { deviceRpc } from "../boards/stm32/qemu.ts";
import { Device } from "../host/device.ts";

const build = (name: string) => readFileSync(new URL(`../build/${name}`, import.meta.url));
const lean = build("device-mqtt311.wasm");
const full = build("device.wasm");
const names = (bytes: Uint8Array) =>
  WebAssembly.Module.exports(new WebAssembly.Module(bytes as BufferSource))
    .map((e) => e.name)
    .sort();

describe("lean module build", () => {
  it("has the full module's exports and is smaller", () => {
    expect(names(lean)).toEqual(names(full));
    expect(lean.length).toBeLessThan(full.length);
  });
});

describe.each(ENGINES)("lean module under %s", (engine) => {
  const start = (bytes: Uint8Array, protocol: number) => {
    const m = instantiate({ engine, bytes });
    const x = m.exports;
    const configured = x.client_config(Cfg.protocol, protocol);
    return { m, x, configured };
  };

  it("refuses MQTT 5 by name where the full module takes it; 3.1.1 is taken by both", () => {
    expect(start(lean, 5).configured).toBe(-Err.InvalidArgument);
    expect(start(full, 5).configured).toBe(0);
    expect(start(lean, 4).configured).toBe(0);
    expect(start(lean, 6).configured).toBe(-Err.InvalidArgument);
  });

  it("writes the same MQTT 3.1.1 CONNECT as the full module", () => {
    const connect = (bytes: Uint8Array) => {
      const { m, x } = start(bytes, 4);
      const block = x.client_init();
      expect(block).toBeGreaterThan(0);
      const word = (i: number) => new Uint32Array(m.memory.buffer, block, i + 1)[i];
      const id = Buffer.from("lean-1");
      new Uint8Array(m.memory.buffer, word(0), id.length).set(id);
      expect(x.client_set_str(Str.clientId, id.length)).toBe(0);
      expect(x.client_start(1000)).toBe(0);
      while (x.client_poll(1000));
      x.client_opened(1000);
      while (x.client_poll(1000));
      return Buffer.from(new Uint8Array(m.memory.buffer, word(2), x.client_tx_len()));
    };
    const bytes = connect(lean);
    expect(bytes).toEqual(connect(full));
    expect(bytes[0]).toBe(0x10); // CONNECT
    expect(bytes.includes(Buffer.from("MQTT\x04"))).toBe(true); // protocol level 4
  });

  it("refuses QoS 2 publish and subscribe by name where the full module takes them", () => {
    const qos2 = (bytes: Uint8Array) => {
      const { m, x } = start(bytes, 4);
      const block = x.client_init();
      const scratch = new Uint32Array(m.memory.buffer, block, 1)[0];
      const topic = Buffer.from("a/b");
      new Uint8Array(m.memory.buffer, scratch, topic.length).set(topic);
      return {
        subscribe: x.client_subscribe(topic.length, 2),
        publish: Math.min(x.client_publish(topic.length, 0, 2, 0), 1),
        one: x.client_publish(topic.length, 0, 1, 0) > 0,
      };
    };
    expect(qos2(lean)).toEqual({ subscribe: -Err.InvalidQos, publish: -Err.InvalidQos, one: true }); // QoS 1 queued: its packet id
    expect(qos2(full)).toEqual({ subscribe: 0, publish: 1, one: true });
  });

  it("ends the connection by name on a QoS 2 PUBLISH (the full module acknowledges it with PUBREC)", () => {
    const run = (bytes: Uint8Array) => {
      const { m, x } = start(bytes, 4);
      const block = x.client_init();
      const word = (i: number) => new Uint32Array(m.memory.buffer, block, i + 1)[i];
      const id = Buffer.from("lean-2");
      new Uint8Array(m.memory.buffer, word(0), id.length).set(id);
      x.client_set_str(Str.clientId, id.length);
      const events: number[][] = [];
      const poll = () => {
        for (let ev; (ev = x.client_poll(1000)); ) events.push([ev, word(4)]);
      };
      const feed = (packet: Uint8Array) => {
        new Uint8Array(m.memory.buffer, x.client_rx_ptr(), packet.length).set(packet);
        x.client_rx_push(packet.length);
        poll();
      };
      x.client_start(1000);
      poll();
      x.client_opened(1000);
      poll();
      x.client_tx_consume(x.client_tx_len());
      feed(encode({ cmd: "connack", returnCode: 0, sessionPresent: false }, { protocolVersion: 4 }));
      feed(encode({ cmd: "publish", topic: "a/b", qos: 2, messageId: 5, payload: Buffer.from("x"), retain: false, dup: false }, { protocolVersion: 4 }));
      const tx = Buffer.from(new Uint8Array(m.memory.buffer, word(2), x.client_tx_len()));
      return { events: events.map(([ev]) => ev), close: events.find(([ev]) => ev === Ev.close)?.[1], pubrec: tx[0] === 0x50 };
    };
    const lean2 = run(lean);
    expect(lean2.events).toContain(Ev.connected);
    expect(lean2.close).toBe(Err.InvalidQos);
    expect(lean2.events).not.toContain(Ev.message);
    const full2 = run(full);
    expect(full2.close).toBeUndefined();
    expect(full2.events).toContain(Ev.message);
    expect(full2.pubrec).toBe(true);
  });
});

// STEPWISE (asconfig.json's mqtt311 target): device_poll stops with EV_YIELD once a request
// has arrived and again once it is answered, so that a board may drop the code its engine
// compiled for the step before (boards/stm32 DROP_CODE=2). The full module answers in the
// same poll.
describe.each(ENGINES)("lean device_poll steps under %s", (engine) => {
  const device = (bytes: Uint8Array, maxPacket = 1024) => {
    const m = instantiate({ engine, bytes });
    const x = m.exports;
    x.client_config(Cfg.maxPacket, maxPacket);
    const client = x.client_init();
    expect(x.rpc_init(1024, 1024, 64, 8, 0)).toBeGreaterThan(0);
    const word = (i: number) => new Uint32Array(m.memory.buffer, client, i + 1)[i];
    const takeTx = () => {
      const out = Buffer.from(new Uint8Array(m.memory.buffer, word(2), x.client_tx_len()));
      x.client_tx_consume(out.length);
      return out;
    };
    const feed = (packet: Uint8Array) => {
      new Uint8Array(m.memory.buffer, x.client_rx_ptr(), packet.length).set(packet);
      expect(x.client_rx_push(packet.length)).toBe(0);
    };
    const polls = (now: number) => {
      const steps: Array<{ ev: number; sent: string[] }> = [];
      for (;;) {
        const ev = x.device_poll(now);
        const sent = new Decoder({ protocolVersion: 4 })
          .push(takeTx())
          .map((p) => (p.cmd === "publish" ? `publish ${Buffer.from(p.payload as Uint8Array)}` : p.cmd));
        steps.push({ ev, sent });
        if (!ev) return steps;
      }
    };
    expect(x.device_init(256)).toBeGreaterThan(0);
    const id = Buffer.from("dev7");
    new Uint8Array(m.memory.buffer, word(0), id.length).set(id);
    expect(x.device_set(1, id.length)).toBe(0);
    expect(x.device_start(0)).toBe(0);
    polls(0);
    x.client_opened(1);
    takeTx();
    feed(encode({ cmd: "connack", sessionPresent: false, returnCode: 0 }, { protocolVersion: 4 }));
    polls(2);
    feed(encode({ cmd: "suback", messageId: 1, granted: [1] }, { protocolVersion: 4 }));
    polls(2);
    const request = (json: string, messageId: number) =>
      feed(
        encode({ cmd: "publish", topic: "devices/dev7/rx", payload: Buffer.from(json), qos: 1, messageId, retain: false, dup: false }, { protocolVersion: 4 }),
      );
    return { x, request, polls, takeTx, feed };
  };
  const echo = '{"jsonrpc":"2.0","id":1,"method":"echo","params":["x"]}';
  const answer = 'publish {"jsonrpc":"2.0","result":["x"],"id":1}';

  it("the lean module yields once the request is in (PUBACK sent) and once it is answered (queued: sent by the next poll)", () => {
    const d = device(lean);
    d.request(echo, 7);
    expect(d.polls(3)).toEqual([
      { ev: Ev.yield, sent: ["puback"] },
      { ev: Ev.yield, sent: [] },
      { ev: 0, sent: [answer] },
    ]);
  });

  it("takes no push between the steps, not even once the socket is gone: nothing overwrites the request it answers next", () => {
    const d = device(lean);
    d.request(echo, 7);
    expect(d.x.device_poll(3)).toBe(Ev.yield);
    expect(d.x.client_rx_cap()).toBe(0);
    expect(d.x.client_rx_push(1)).toBe(-Err.BufferFull);
    d.x.client_closed(3);
    expect(d.x.client_rx_cap()).toBe(0);
    expect(d.polls(4).map((s) => s.ev)).toEqual([Ev.yield, Ev.close, 0]);
    d.takeTx();
  });

  it("a device_stop between the steps answers the request first", () => {
    const d = device(lean);
    d.request(echo, 7);
    expect(d.x.device_poll(3)).toBe(Ev.yield);
    d.takeTx(); // the PUBACK
    d.x.device_stop(4);
    const sent = new Decoder({ protocolVersion: 4 })
      .push(d.takeTx())
      .map((p) => (p.cmd === "publish" ? `${p.topic} ${Buffer.from(p.payload as Uint8Array)}` : p.cmd));
    expect(sent).toEqual([`devices/dev7/tx ${answer.slice("publish ".length)}`, 'devices/dev7/status {"online":false}', "disconnect"]);
  });

  it("the full module answers in the same poll", () => {
    const d = device(full);
    d.request(echo, 7);
    expect(d.polls(3)).toEqual([{ ev: 0, sent: ["puback", answer] }]);
  });

  it("one over the packet limit: the lean module answers Request too large in the second step, and reports it (EV_TOO_LARGE) as the full one does", () => {
    const big = `{"jsonrpc":"2.0","id":2,"method":"echo","params":["${"y".repeat(300)}"]}`;
    const leanSteps = device(lean, 128);
    leanSteps.request(big, 8);
    const steps = leanSteps.polls(3);
    expect(steps.map((s) => s.ev)).toEqual([Ev.yield, Ev.tooLarge, 0]);
    expect(steps[2].sent).toEqual([
      'publish {"jsonrpc":"2.0","error":{"code":-32000,"message":"Request too large","data":{"limit":"packet","max":128}},"id":2}',
    ]);
    const fullSteps = device(full, 128);
    fullSteps.request(big, 8);
    expect(fullSteps.polls(3).map((s) => s.ev)).toEqual([Ev.tooLarge, 0]);
  });
});

describe.each(ENGINES)("the Node device host on the lean module under %s", (engine) => {
  it("answers through a real broker: EV_YIELD is a step, not an event", async () => {
    const broker = await startMosquitto();
    const id = `lean-node-${engine}`;
    const rpc = await deviceRpc(broker.url, id);
    const device = new Device({ id, engine, module: lean, methods: { add: (p: number[]) => p[0] + p[1] } });
    try {
      await device.connect(broker.url, { protocolVersion: 4 });
      await rpc.online;
      expect((await rpc.request("echo", ["lean"])).result).toEqual(["lean"]);
      expect((await rpc.request("add", [2, 3])).result).toBe(5); // a host method, between the steps
    } finally {
      await device.close();
      await rpc.end();
      await broker.stop();
    }
  }, 30_000);
});
