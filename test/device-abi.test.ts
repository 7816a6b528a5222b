// The device exports driven directly, sans-IO: bytes and times chosen by the test,
// packets built with outpost/codec. Covers the named errors of the device layer and
// the warning for a reply that cannot be queued.
import { describe, expect, it } from "vitest";
import { Decoder, encode } from "../host/codec/index.ts";
import { instantiate, type HostImports } from "../host/engine.ts";
import { ENGINES } from "./support/engines.ts";
import { Ev } from "../host/abi-table.ts";

const { open: EV_OPEN, connected: EV_CONNECTED, suback: EV_SUBACK, tooLarge: EV_TOO_LARGE } = Ev;
const suback = (reason: number) => encode({ cmd: "suback", messageId: 1, granted: [reason] }, { protocolVersion: 4 });

describe.each(ENGINES)("device exports under %s", (engine) => {
  const setup = (
    opts: { outbox?: number; maxPacket?: number; protocol?: 4 | 5; initRpc?: boolean; initClient?: boolean; hostCall?: HostImports["hostCall"] } = {},
  ) => {
    const logs: Array<[number, string]> = [];
    const m = instantiate({ engine, imports: { log: (level, text) => logs.push([level, text]), ...(opts.hostCall && { hostCall: opts.hostCall }) } });
    const x = m.exports;
    if (opts.outbox) x.client_config(12, opts.outbox);
    if (opts.maxPacket) x.client_config(8, opts.maxPacket);
    const protocolVersion = opts.protocol ?? 4;
    x.client_config(3, protocolVersion);
    // The blocks the init exports return (assembly/ABI.md): client (scratch, its capacity, tx, event), rpc (request, response), device (event).
    const blocks = { client: 0, rpc: 0, device: 0 };
    const word = (block: number, i: number) => new Uint32Array(m.memory.buffer, block, i + 1)[i];
    if (opts.initClient !== false) expect((blocks.client = x.client_init())).toBeGreaterThan(0);
    if (opts.initRpc !== false) expect((blocks.rpc = x.rpc_init(1024, 1024, 64, 8, 0))).toBeGreaterThan(0);
    const set = (key: number, value: string) => {
      const bytes = Buffer.from(value);
      new Uint8Array(m.memory.buffer, word(blocks.client, 0), bytes.length).set(bytes);
      return x.device_set(key, bytes.length);
    };
    const takeTx = () => {
      const len = x.client_tx_len();
      const out = Buffer.from(new Uint8Array(m.memory.buffer, word(blocks.client, 2), len));
      x.client_tx_consume(len);
      return out;
    };
    const feed = (bytes: Uint8Array) => {
      new Uint8Array(m.memory.buffer, x.client_rx_ptr(), bytes.length).set(bytes);
      x.client_rx_push(bytes.length);
    };
    const drain = (now: number) => {
      const events: number[] = [];
      for (let ev; (ev = x.device_poll(now)); ) events.push(ev);
      return events;
    };
    /** Connects as dev7 with the broker granting the rx subscription `granted`; returns what the device sent after the SUBACK. */
    const connect = (granted = 1, connackProperties?: Record<string, number>) => {
      expect((blocks.device = x.device_init(256))).toBeGreaterThan(0);
      expect(set(1, "dev7")).toBe(0);
      expect(x.device_start(0)).toBe(0);
      expect(drain(0)).toEqual([EV_OPEN]);
      expect(x.client_opened(1)).toBe(0);
      takeTx();
      const connack = protocolVersion === 5 ? { reasonCode: 0, properties: connackProperties } : { returnCode: 0 };
      feed(encode({ cmd: "connack", sessionPresent: false, ...connack } as any, { protocolVersion }));
      expect(drain(2)).toEqual([EV_CONNECTED]);
      takeTx();
      feed(encode({ cmd: "suback", messageId: 1, granted: [granted] }, { protocolVersion }));
      expect(drain(2)).toEqual([EV_SUBACK]);
      return takeTx();
    };
    const publish = (json: string | Buffer, qos: 0 | 1 = 0, messageId = 1, properties?: object) =>
      encode({ cmd: "publish", topic: "devices/dev7/rx", payload: Buffer.from(json), qos, messageId, properties } as any, { protocolVersion });
    const request = (json: string) => feed(publish(json));
    /** The PUBLISHes in `bytes` (what the device sent), decoded. */
    const sent = (bytes: Buffer) => new Decoder({ protocolVersion }).push(bytes);
    const payloads = (bytes: Buffer) => sent(bytes).flatMap((p) => (p.cmd === "publish" ? [Buffer.from(p.payload as Uint8Array).toString()] : []));
    return { m, x, logs, blocks, word, set, takeTx, feed, drain, connect, request, publish, sent, payloads };
  };

  it("device_init needs rpc_init and client_init first (NotInitialized, -40)", () => {
    expect(setup({ initRpc: false }).x.device_init(256)).toBe(-40);
    expect(setup({ initClient: false }).x.device_init(256)).toBe(-40);
  });
  it("device_init twice is AlreadyInitialized (-41)", () => {
    const { x } = setup();
    expect(x.device_init(256)).toBeGreaterThan(0);
    expect(x.device_init(256)).toBe(-41);
  });
  it("device_set and device_start before device_init are NotInitialized (-40)", () => {
    const { x, set } = setup();
    expect(set(1, "dev")).toBe(-40);
    expect(x.device_start(0)).toBe(-40);
    expect(x.device_resume(0, 5, 0)).toBe(-40);
  });
  it("refuses ids that are not one topic level (InvalidTopic, -19), long ones (BufferFull, -22), unknown keys (UnknownKey, -42)", () => {
    const { x, set } = setup();
    x.device_init(256);
    for (const id of ["a/b", "a+", "#", ""]) expect(set(1, id)).toBe(-19);
    expect(set(2, "fleet/+")).toBe(-19);
    expect(set(1, "x".repeat(113))).toBe(-22);
    expect(set(4, "x")).toBe(-42);
    expect(x.device_config(2, 1)).toBe(-42);
  });
  it("device_start without an id is InvalidTopic (-19)", () => {
    const { x } = setup();
    x.device_init(256);
    expect(x.device_start(0)).toBe(-19);
  });
  it("device_start refuses a reply-context buffer smaller than the tx topic and its two lengths (BufferFull, -22)", () => {
    const { x, set } = setup();
    x.device_init(16); // "devices/abcd/tx" is 15 bytes: 20 with the lengths
    set(1, "abcd");
    expect(x.device_start(0)).toBe(-22);
    const ok = setup();
    ok.x.device_init(20);
    ok.set(1, "abcd");
    expect(ok.x.device_start(0)).toBe(0);
  });
  it("device_resume refuses a context length it cannot hold (InvalidArgument, -43)", () => {
    const { x, set } = setup();
    x.device_init(64);
    set(1, "dev");
    expect(x.device_resume(10, 4, 0)).toBe(-43);
    expect(x.device_resume(10, 65, 0)).toBe(-43);
  });

  it("a key device_set or device_config does not define is UnknownKey (-42), not a value error", () => {
    const { x, set } = setup();
    x.device_init(64);
    expect(set(9, "x")).toBe(-42);
    expect(x.device_config(7, 1)).toBe(-42);
  });

  it("connects with the will, subscribes rx, answers a request, and names a reply it cannot queue", () => {
    const { x, logs, set, takeTx, feed, drain } = setup({ outbox: 80 });
    expect(x.device_init(256)).toBeGreaterThan(0);
    expect(set(1, "dev7")).toBe(0);
    expect(x.device_start(0)).toBe(0);
    expect(drain(0)).toEqual([EV_OPEN]);
    expect(x.client_opened(1)).toBe(0);
    const connect = takeTx();
    expect(connect.includes(Buffer.from("devices/dev7/status"))).toBe(true); // the will topic
    expect(connect.includes(Buffer.from('{"online":false}'))).toBe(true);
    feed(encode({ cmd: "connack", returnCode: 0, sessionPresent: false }, { protocolVersion: 4 }));
    expect(drain(2)).toEqual([EV_CONNECTED]);
    const subscribe = takeTx();
    expect(subscribe.includes(Buffer.from("devices/dev7/rx"))).toBe(true); // SUBSCRIBE
    expect(subscribe.includes(Buffer.from('"online":true'))).toBe(false); // not before the SUBACK
    feed(suback(1));
    expect(drain(2)).toEqual([EV_SUBACK]);
    expect(takeTx().includes(Buffer.from('{"online":true,"version":"0.1.0"}'))).toBe(true); // the status
    // The status (QoS 1, unacknowledged) fills the 80-byte outbox: the reply cannot go.
    const request = '{"jsonrpc":"2.0","id":1,"method":"echo","params":["hello"]}';
    feed(encode({ cmd: "publish", topic: "devices/dev7/rx", payload: Buffer.from(request), qos: 0 }, { protocolVersion: 4 }));
    expect(drain(3)).toEqual([]);
    expect(logs).toEqual([[2, "reply not queued, error 25"]]); // OutboxFull
  });

  it("a request waiting on the host is EV_RPC_PENDING (16), and device_resume answers it", () => {
    const answers: Array<ReturnType<HostImports["hostCall"]>> = ["pending", { result: '"late"' }];
    const calls: string[] = [];
    const { m, x, blocks, word, takeTx, drain, connect, request } = setup({
      hostCall: (method, params) => (calls.push(`${method} ${params}`), answers.shift()!),
    });
    connect();
    const json = '{"jsonrpc":"2.0","id":9,"method":"slow","params":[1]}';
    request(json);
    expect(drain(3)).toEqual([16]);
    const [reqLen, ctxLen, , contextPtr] = new Uint32Array(m.memory.buffer, blocks.device, 4);
    expect(reqLen).toBe(json.length);
    const requestBuffer = word(blocks.rpc, 0);
    expect(Buffer.from(new Uint8Array(m.memory.buffer, requestBuffer, reqLen)).toString()).toBe(json);
    const context = Buffer.from(new Uint8Array(m.memory.buffer, contextPtr, ctxLen));
    expect(takeTx().length).toBe(0); // nothing answered yet
    // The host settles, then puts request and context back and resumes.
    new Uint8Array(m.memory.buffer, requestBuffer, json.length).set(Buffer.from(json));
    new Uint8Array(m.memory.buffer, contextPtr, ctxLen).set(context);
    expect(x.device_resume(reqLen, ctxLen, 4)).toBe(0);
    expect(drain(4)).toEqual([]);
    const out = takeTx();
    expect(out.includes(Buffer.from("devices/dev7/tx"))).toBe(true);
    expect(out.includes(Buffer.from('{"jsonrpc":"2.0","result":"late","id":9}'))).toBe(true);
    expect(calls).toEqual(["slow [1]", "slow [1]"]); // the raw ABI re-asks; Device serves the replay from its record
  });

  it("counts the pending request's own host calls when one poll answered another request first", () => {
    const answers: Array<ReturnType<HostImports["hostCall"]>> = [{ result: "1" }, "pending"];
    const { m, blocks, feed, drain, connect } = setup({ hostCall: () => answers.shift()! });
    connect();
    const publish = (json: string) => encode({ cmd: "publish", topic: "devices/dev7/rx", payload: Buffer.from(json), qos: 0 }, { protocolVersion: 4 });
    // Both packets in one push: one device_poll answers the first and stops at the second.
    feed(Buffer.concat([publish('{"jsonrpc":"2.0","id":1,"method":"now"}'), publish('{"jsonrpc":"2.0","id":2,"method":"slow"}')]));
    expect(drain(3)).toEqual([16]);
    expect([...new Uint32Array(m.memory.buffer, blocks.device, 3)].slice(2)).toEqual([1]);
  });

  it("stays without online status when the broker refuses the rx subscription, and says why", () => {
    const { logs, connect } = setup();
    expect(connect(0x80).length).toBe(0); // no online status
    expect(logs).toEqual([[2, "rx subscription refused, reason 128"]]);
  });

  const tooLarge = (limit: string, max: number, id: string) =>
    `{"jsonrpc":"2.0","error":{"code":-32000,"message":"Request too large","data":{"limit":"${limit}","max":${max}}},"id":${id}}`;

  it("answers a request over the packet limit 'Request too large' with its id, acknowledges it, and stays connected", () => {
    const { x, blocks, word, feed, drain, connect, publish, sent, payloads, takeTx } = setup({ maxPacket: 256 });
    connect();
    const big = `{"jsonrpc":"2.0","id":"req-1","method":"echo","params":["${"x".repeat(1000)}"]}`;
    const packet = publish(big, 1, 7);
    // In pieces the size of the socket reads, as a board would get them.
    for (let at = 0; at < packet.length; at += 100) {
      feed(packet.subarray(at, at + 100));
      const last = at + 100 >= packet.length;
      const ev = x.device_poll(3);
      expect(ev).toBe(last ? EV_TOO_LARGE : 0);
      // The event record (client block +12: code, a, b, c, d): packet id, QoS, the whole PUBLISH's length.
      if (last) expect([5, 6, 7].map((i) => word(blocks.client, i))).toEqual([7, 1, packet.length]);
      expect(drain(3)).toEqual([]);
    }
    const out = takeTx();
    expect(sent(out).map((p) => p.cmd)).toEqual(["puback", "publish"]);
    expect(sent(out)[0].messageId).toBe(7);
    expect(sent(out)[1].topic).toBe("devices/dev7/tx");
    expect(payloads(out)).toEqual([tooLarge("packet", 256, '"req-1"')]);
    // The link is still up: the next request is answered.
    feed(publish('{"jsonrpc":"2.0","id":2,"method":"echo","params":[1]}'));
    expect(drain(4)).toEqual([]);
    expect(payloads(takeTx())).toEqual(['{"jsonrpc":"2.0","result":[1],"id":2}']);
  });

  it("answers id null when the id lies past the bytes kept, or is cut by the limit", () => {
    const { feed, drain, connect, publish, payloads, takeTx } = setup({ maxPacket: 128 });
    connect();
    const pad = "x".repeat(200);
    feed(publish(`{"jsonrpc":"2.0","method":"echo","params":["${pad}"],"id":1}`));
    expect(drain(3)).toEqual([EV_TOO_LARGE]);
    expect(payloads(takeTx())).toEqual([tooLarge("packet", 128, "null")]);
    // 128 - 2 (fixed header) - 17 (topic) leaves 109 payload bytes: the id's digits run past them.
    const head = '{"jsonrpc":"2.0","method":"echo","id":';
    const id = "1".repeat(109 - head.length + 3);
    feed(publish(`${head}${id},"params":["${pad}"]}`));
    expect(drain(3)).toEqual([EV_TOO_LARGE]);
    expect(payloads(takeTx())).toEqual([tooLarge("packet", 128, "null")]);
  });

  it("answers a request over the request buffer (but within the packet limit) with its id", () => {
    const { feed, drain, connect, publish, payloads, takeTx } = setup({ maxPacket: 4096 });
    connect();
    const packet = publish(`{"jsonrpc":"2.0","id":77,"method":"echo","params":["${"x".repeat(2000)}"]}`);
    for (let at = 0; at < packet.length; at += 1000) {
      feed(packet.subarray(at, at + 1000)); // the rx buffer takes 1024 bytes at a time
      expect(drain(3)).toEqual([]);
    }
    expect(payloads(takeTx())).toEqual([tooLarge("bytes", 1024, "77")]);
  });

  it("MQTT 5: a reply over the broker's Maximum Packet Size is answered with a short error naming it, and logged", () => {
    const { logs, feed, drain, connect, publish, sent, takeTx } = setup({ protocol: 5 });
    connect(1, { maximumPacketSize: 200 });
    takeTx(); // the online status
    const properties = { responseTopic: "app/replies", correlationData: Buffer.from("c1") };
    feed(publish(`{"jsonrpc":"2.0","id":5,"method":"echo","params":["${"y".repeat(150)}"]}`, 1, 9, properties));
    expect(drain(3)).toEqual([]);
    const out = sent(takeTx());
    expect(out.map((p) => p.cmd)).toEqual(["puback", "publish"]);
    expect(out[1]).toMatchObject({ topic: "app/replies", properties: { correlationData: Buffer.from("c1") } });
    expect(Buffer.from(out[1].payload as Uint8Array).toString()).toBe(
      '{"jsonrpc":"2.0","error":{"code":-32001,"message":"Response too large","data":{"limit":"packet","max":200}},"id":5}',
    );
    expect(logs).toEqual([[2, "reply over packet limit 200"]]);
    // A reply within the limit goes as it is.
    feed(publish('{"jsonrpc":"2.0","id":6,"method":"echo","params":["z"]}', 1, 10, properties));
    drain(4);
    expect(Buffer.from(sent(takeTx())[1].payload as Uint8Array).toString()).toBe('{"jsonrpc":"2.0","result":["z"],"id":6}');
  });

  it("announces online at once when the broker kept the session (and so the subscription)", () => {
    const { x, set, takeTx, feed, drain } = setup();
    x.device_init(256);
    set(1, "dev7");
    x.device_start(0);
    drain(0);
    x.client_opened(1);
    takeTx();
    feed(encode({ cmd: "connack", returnCode: 0, sessionPresent: true }, { protocolVersion: 4 }));
    expect(drain(2)).toEqual([EV_CONNECTED]);
    expect(takeTx().includes(Buffer.from('{"online":true,"version":"0.1.0"}'))).toBe(true);
  });
});
