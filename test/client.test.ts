// The sans-IO client state machine, driven deterministically: bytes and times in,
// exact bytes and events out. Expected bytes are written from the MQTT specs
// (3.1.1 section 3, 5.0 section 3); inbound v5 packets with properties are built
// with outpost/codec.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { errCode } from "../host/abi.ts";
import { encode } from "../host/codec/index.ts";
import type { EngineName } from "../host/engine.ts";
import { ClientCore, type ClientError, type CfgKey, type ClientEvent } from "../host/mqtt/core.ts";
import { ENGINES } from "./support/engines.ts";

const hex = (...parts: (string | number[] | Buffer)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p.replace(/\s+/g, ""), "hex") : Buffer.from(p))));
/** A length-prefixed MQTT string. */
const str = (s: string) => Buffer.concat([Buffer.from([s.length >> 8, s.length & 255]), Buffer.from(s)]);

const E = (name: string) => errCode(name);

function newClient(engine: EngineName, cfg: Partial<Record<CfgKey, number>> = {}, clientId = "c"): ClientCore {
  const c = new ClientCore({ build: "debug", engine });
  for (const [k, v] of Object.entries(cfg)) c.config(k as CfgKey, v);
  c.init();
  c.setString("clientId", clientId);
  return c;
}

function drain(c: ClientCore, now: number): ClientEvent[] {
  const out: ClientEvent[] = [];
  for (let e = c.poll(now); e; e = c.poll(now)) out.push(e);
  return out;
}

/** Feeds bytes (all of them, polling as the module asks) and returns the events. */
function feed(c: ClientCore, now: number, bytes: Uint8Array, chunk = bytes.length): ClientEvent[] {
  const out: ClientEvent[] = [];
  let at = 0;
  while (at < bytes.length) {
    const n = c.feed(bytes.subarray(at, Math.min(bytes.length, at + chunk)));
    at += n;
    out.push(...drain(c, now)); // polls consume the input, making room for more
    if (n === 0 && c.mod.exports.client_rx_cap() === 0) break; // connection over: the rest is not read
  }
  out.push(...drain(c, now));
  return out;
}

const CONNACK = (session = 0, code = 0) => hex([0x20, 2, session, code]);
const CONNACK5 = (session = 0) => hex([0x20, 3, session, 0, 0]);

/** start → open → CONNECT → CONNACK; returns the CONNECT bytes and the tx after CONNACK. */
function connect(c: ClientCore, now = 0, connack: Uint8Array = CONNACK()) {
  c.start(now);
  expect(drain(c, now)).toEqual([{ type: "open" }]);
  expect(c.opened(now)).toBe(0);
  const connectBytes = c.takeTx();
  const events = feed(c, now, connack);
  return { connectBytes, events, tx: c.takeTx() };
}

describe.each(ENGINES)("client under %s", (engine) => {
  const makeClient = (cfg: Partial<Record<CfgKey, number>> = {}, clientId = "c") => newClient(engine, cfg, clientId);

  describe("client: CONNECT", () => {
    it("v3.1.1 carries client id, clean session, keep-alive, will (qos, retain), username and password", () => {
      const c = makeClient({ keepalive: 30, willQos: 1, willRetain: 1 }, "dev1");
      c.setString("willTopic", "devices/dev1/status");
      c.setString("willPayload", '{"online":false}');
      c.setString("username", "u");
      c.setString("password", "p");
      const { connectBytes, events } = connect(c);
      const body = hex(str("MQTT"), [4, 0xee, 0, 30], str("dev1"), str("devices/dev1/status"), str('{"online":false}'), str("u"), str("p"));
      expect(connectBytes).toEqual(hex([0x10, body.length], body));
      expect(events).toEqual([{ type: "connected", sessionPresent: false }]);
    });

    it("v3.1.1 without clean session, will, or credentials", () => {
      const c = makeClient({ clean: 0, keepalive: 0 }, "x");
      const { connectBytes } = connect(c);
      expect(connectBytes).toEqual(hex([0x10, 13], str("MQTT"), [4, 0x00, 0, 0], str("x")));
    });

    it("v5 adds session expiry, receive maximum, maximum packet size and topic alias maximum", () => {
      const c = makeClient({ protocol: 5, keepalive: 60, sessionExpiry: 3600, receiveMaximum: 10, maxPacket: 2048, topicAliasMaximum: 4 }, "d");
      c.setString("willTopic", "w");
      c.setString("willPayload", "x");
      const { connectBytes } = connect(c, 0, CONNACK5());
      const props = hex([0x11, 0, 0, 0x0e, 0x10], [0x21, 0, 10], [0x27, 0, 0, 8, 0], [0x22, 0, 4]);
      const body = hex(str("MQTT"), [5, 0x06, 0, 60], [props.length], props, str("d"), [0], str("w"), str("x"));
      expect(connectBytes).toEqual(hex([0x10, body.length], body));
    });

    it("a refused CONNACK closes with ConnectionRefused and the return code, then backs off", () => {
      const c = makeClient({ backoffMinMs: 100 });
      const { events } = connect(c, 0, CONNACK(0, 3));
      expect(events).toEqual([{ type: "close", error: E("ConnectionRefused"), reasonCode: 3 }]);
      expect(c.deadline(0)).toBeLessThanOrEqual(100);
    });

    it("a refused login is named: BadCredentials (3.1.1 code 4, MQTT 5 0x86), NotAuthorized (5, 0x87)", () => {
      const v5 = (code: number) => hex([0x20, 3, 0, code, 0]);
      for (const [protocol, connack, name] of [
        [4, CONNACK(0, 4), "BadCredentials"],
        [4, CONNACK(0, 5), "NotAuthorized"],
        [5, v5(0x86), "BadCredentials"],
        [5, v5(0x87), "NotAuthorized"],
        [5, v5(0x85), "ConnectionRefused"], // client identifier not valid: not a login matter
        [5, v5(0x8c), "ConnectionRefused"], // bad authentication method
      ] as const) {
        const { events } = connect(makeClient({ protocol }), 0, connack);
        expect(events).toEqual([{ type: "close", error: E(name), reasonCode: connack[3] }]);
      }
    });

    it("after a refused login the backoff goes straight to its maximum; other refusals start at the minimum", () => {
      // Full jitter over [0, cap]: across 16 seeds the first delay exceeds the minimum only if the cap is above it.
      const firstDelays = (connack: Uint8Array) =>
        Array.from({ length: 16 }, (_, seed) => {
          const c = makeClient({ backoffMinMs: 100, backoffMaxMs: 100_000 });
          c.seed(seed + 1);
          connect(c, 0, connack);
          return c.deadline(0)!;
        });
      for (const code of [4, 5]) {
        const delays = firstDelays(CONNACK(0, code));
        expect(Math.max(...delays)).toBeGreaterThan(10_000);
        expect(Math.max(...delays)).toBeLessThanOrEqual(100_000);
      }
      expect(Math.max(...firstDelays(CONNACK(0, 3)))).toBeLessThanOrEqual(100);
    });

    it("anything but CONNACK first is a ProtocolViolation", () => {
      const c = makeClient();
      const { events } = connect(c, 0, hex([0xd0, 0]));
      expect(events).toEqual([{ type: "close", error: E("ProtocolViolation"), reasonCode: 0 }]);
    });

    it("no CONNACK within the timeout closes with KeepAliveTimeout", () => {
      const c = makeClient({ timeoutMs: 500 });
      c.start(0);
      drain(c, 0);
      c.opened(0);
      expect(c.deadline(0)).toBe(500);
      expect(drain(c, 499)).toEqual([]);
      expect(drain(c, 500)).toEqual([{ type: "close", error: E("KeepAliveTimeout"), reasonCode: 0 }]);
    });

    it("a malformed packet closes with the decoder's named error", () => {
      const c = makeClient();
      connect(c);
      expect(feed(c, 1, hex([0x40, 2, 0]))).toEqual([]); // incomplete: waits
      const d = makeClient();
      connect(d);
      expect(feed(d, 1, hex([0x41, 2, 0, 1]))).toEqual([{ type: "close", error: E("ReservedFlags"), reasonCode: 0 }]);
    });
  });

  describe("client: subscriptions", () => {
    it("SUBSCRIBE/UNSUBSCRIBE go out once connected; SUBACK/UNSUBACK are reported with the filter", () => {
      const c = makeClient();
      c.subscribe("a/+", 1);
      const { tx } = connect(c);
      expect(tx).toEqual(hex([0x82, 8, 0, 1], str("a/+"), [1]));
      expect(feed(c, 1, hex([0x90, 3, 0, 1, 1]))).toEqual([{ type: "suback", messageId: 1, reasonCode: 1, filter: "a/+" }]);
      c.unsubscribe("a/+");
      expect(drain(c, 2)).toEqual([]);
      expect(c.takeTx()).toEqual(hex([0xa2, 7, 0, 2], str("a/+")));
      expect(feed(c, 3, hex([0xb0, 2, 0, 2]))).toEqual([{ type: "unsuback", messageId: 2, reasonCode: 0, filter: "a/+" }]);
    });

    it("re-subscribes when the session was not kept, not when it was", () => {
      const c = makeClient({ backoffMaxMs: 0, backoffMinMs: 0 });
      c.subscribe("s/1", 2);
      connect(c);
      feed(c, 1, hex([0x90, 3, 0, 1, 2]));
      c.closed(2);
      expect(drain(c, 2)).toEqual([{ type: "close", error: E("NotConnected"), reasonCode: 0 }, { type: "open" }]);
      c.opened(2);
      c.takeTx();
      expect(feed(c, 3, CONNACK(1))).toEqual([{ type: "connected", sessionPresent: true }]);
      expect(c.takeTx()).toEqual(Buffer.alloc(0));
      c.closed(4);
      drain(c, 4);
      c.opened(4);
      c.takeTx();
      expect(feed(c, 5, CONNACK(0))).toEqual([{ type: "connected", sessionPresent: false }]);
      expect(c.takeTx()).toEqual(hex([0x82, 8, 0, 2], str("s/1"), [2]));
    });

    it("a refused subscription is reported and forgotten", () => {
      const c = makeClient({ backoffMinMs: 0, backoffMaxMs: 0 });
      c.subscribe("no", 0);
      connect(c);
      expect(feed(c, 1, hex([0x90, 3, 0, 1, 0x80]))).toEqual([{ type: "suback", messageId: 1, reasonCode: 0x80, filter: "no" }]);
      c.closed(2);
      drain(c, 2);
      c.opened(2);
      c.takeTx();
      feed(c, 3, CONNACK(0));
      expect(c.takeTx()).toEqual(Buffer.alloc(0));
    });

    it("rejects bad filters and a full table with named errors", () => {
      const c = makeClient({ subsBytes: 16 });
      expect(() => c.subscribe("a/#/b", 0)).toThrow(expect.objectContaining({ code: E("InvalidTopic") }));
      expect(() => c.subscribe("a", 3)).toThrow(expect.objectContaining({ code: E("InvalidQos") }));
      c.subscribe("0123456789", 0);
      expect(() => c.subscribe("x", 0)).toThrow(expect.objectContaining({ code: E("LimitExceeded") }));
    });

    it("rejects subscription options with bits the configured protocol reserves (ReservedFlags)", () => {
      const reserved = expect.objectContaining({ code: E("ReservedFlags") });
      const v311 = makeClient();
      expect(() => v311.subscribe("a", 0x04)).toThrow(reserved); // No Local is MQTT 5 only
      const v5 = makeClient({ protocol: 5 });
      expect(() => v5.subscribe("a", 0x40)).toThrow(reserved); // bits 6-7 reserved in MQTT 5 too
      expect(() => v5.subscribe("a", 0x30)).toThrow(reserved); // Retain Handling 3 is reserved
      v5.subscribe("a", 0x2d); // QoS 1, No Local, Retain As Published, Retain Handling 2
    });
  });

  describe("client: publishing", () => {
    it("QoS 0, 1 and 2 outbound with PUBACK and PUBREC/PUBREL/PUBCOMP", () => {
      const c = makeClient();
      connect(c);
      expect(c.publish("t", "a", 0)).toBe(0);
      expect(c.publish("t", "b", 1, true)).toBe(1);
      expect(c.publish("t", "c", 2)).toBe(2);
      expect(drain(c, 1)).toEqual([]);
      expect(c.takeTx()).toEqual(hex([0x30, 4], str("t"), "61", [0x33, 6], str("t"), [0, 1], "62", [0x34, 6], str("t"), [0, 2], "63"));
      expect(feed(c, 2, hex([0x40, 2, 0, 1]))).toEqual([{ type: "published", messageId: 1, reasonCode: 0 }]);
      expect(feed(c, 2, hex([0x50, 2, 0, 2]))).toEqual([]);
      expect(c.takeTx()).toEqual(hex([0x62, 2, 0, 2]));
      expect(feed(c, 3, hex([0x70, 2, 0, 2]))).toEqual([{ type: "published", messageId: 2, reasonCode: 0 }]);
      expect(c.outboxLength()).toBe(0);
    });

    it("v5: a PUBACK with a failure reason completes the message with that reason", () => {
      const c = makeClient({ protocol: 5 });
      connect(c, 0, CONNACK5());
      c.publish("t", "x", 1);
      drain(c, 1);
      expect(c.takeTx()).toEqual(hex([0x32, 7], str("t"), [0, 1, 0], "78"));
      expect(feed(c, 2, hex([0x40, 3, 0, 1, 0x87]))).toEqual([{ type: "published", messageId: 1, reasonCode: 0x87 }]);
    });

    it("keeps to the in-flight window, and to a smaller v5 receive maximum from the server", () => {
      const c = makeClient({ inflightWindow: 2 });
      connect(c);
      for (let i = 0; i < 3; i++) c.publish("t", `${i}`, 1);
      drain(c, 1);
      expect(c.takeTx()).toEqual(hex([0x32, 6], str("t"), [0, 1], "30", [0x32, 6], str("t"), [0, 2], "31"));
      feed(c, 2, hex([0x40, 2, 0, 1]));
      expect(c.takeTx()).toEqual(hex([0x32, 6], str("t"), [0, 3], "32"));

      const d = makeClient({ protocol: 5, inflightWindow: 8 });
      connect(
        d,
        0,
        Buffer.from(
          encode({ cmd: "connack", returnCode: 0, sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 1 } } as any, { protocolVersion: 5 }),
        ),
      );
      d.publish("t", "a", 1);
      d.publish("t", "b", 1);
      drain(d, 1);
      expect(d.takeTx()).toEqual(hex([0x32, 7], str("t"), [0, 1, 0], "61"));
    });

    it("retransmits unacknowledged messages with DUP and PUBREL after reconnecting to a kept session", () => {
      const c = makeClient({ backoffMinMs: 0, backoffMaxMs: 0 });
      connect(c);
      c.publish("t", "1", 1);
      c.publish("t", "2", 2);
      drain(c, 1);
      c.takeTx();
      feed(c, 2, hex([0x50, 2, 0, 2])); // PUBREC: message 2 now waits for PUBCOMP
      c.takeTx();
      c.closed(3);
      drain(c, 3);
      c.opened(3);
      c.takeTx();
      expect(feed(c, 4, CONNACK(1))).toEqual([{ type: "connected", sessionPresent: true }]);
      expect(c.takeTx()).toEqual(hex([0x3a, 6], str("t"), [0, 1], "31", [0x62, 2, 0, 2]));
      expect(feed(c, 5, hex([0x40, 2, 0, 1, 0x70, 2, 0, 2]))).toEqual([
        { type: "published", messageId: 1, reasonCode: 0 },
        { type: "published", messageId: 2, reasonCode: 0 },
      ]);
    });

    it("sends unacknowledged messages again without DUP when the session was not kept", () => {
      const c = makeClient({ backoffMinMs: 0, backoffMaxMs: 0 });
      connect(c);
      c.publish("t", "1", 1);
      drain(c, 1);
      c.takeTx();
      c.closed(2);
      drain(c, 2);
      c.opened(2);
      c.takeTx();
      feed(c, 3, CONNACK(0));
      expect(c.takeTx()).toEqual(hex([0x32, 6], str("t"), [0, 1], "31"));
    });

    it("queues while offline and sends in order on connect", () => {
      const c = makeClient();
      c.publish("t", "a", 1);
      c.publish("t", "b", 0);
      const { tx } = connect(c);
      expect(tx).toEqual(hex([0x32, 6], str("t"), [0, 1], "61", [0x30, 4], str("t"), "62"));
    });

    it("full outbox: drops the oldest QoS 0 first (reported), then refuses with OutboxFull", () => {
      // Each QoS 0 record: 8 bytes of header + 6 bytes of packet; QoS 1: 8 + 8.
      const c = makeClient({ outboxBytes: 48 });
      c.publish("t", "0", 0);
      c.publish("t", "1", 1);
      c.publish("t", "2", 0);
      expect(c.outboxLength()).toBe(44);
      c.publish("t", "3", 0); // no room: "0" goes
      expect(drain(c, 0)).toEqual([{ type: "dropped", count: 1 }]);
      c.publish("t", "4", 1); // "2" goes
      expect(drain(c, 0)).toEqual([{ type: "dropped", count: 1 }]);
      c.publish("t", "5", 1); // "3" goes
      expect(drain(c, 0)).toEqual([{ type: "dropped", count: 1 }]);
      expect(c.outboxLength()).toBe(48);
      // Only QoS 1 left: new messages are refused, whatever their QoS.
      expect(() => c.publish("t", "6", 0)).toThrow(expect.objectContaining({ code: E("OutboxFull") }));
      expect(() => c.publish("t", "x".repeat(64), 1)).toThrow(expect.objectContaining({ code: E("OutboxFull") }));
      const { tx } = connect(c);
      expect(tx).toEqual(hex([0x32, 6], str("t"), [0, 1], "31", [0x32, 6], str("t"), [0, 2], "34", [0x32, 6], str("t"), [0, 3], "35"));
    });

    it("rejects bad publishes with named errors", () => {
      const c = makeClient({ txBytes: 16, outboxBytes: 256 });
      expect(() => c.publish("a/+", "x", 0)).toThrow(expect.objectContaining({ code: E("WildcardInTopic") }));
      expect(() => c.publish("", "x", 0)).toThrow(expect.objectContaining({ code: E("InvalidTopic") }));
      expect(() => c.publish("t", "x", 3)).toThrow(expect.objectContaining({ code: E("InvalidQos") }));
      expect(() => c.publish("t", "x".repeat(20), 0)).toThrow(expect.objectContaining({ code: E("PacketTooLarge") }));
      expect(c.outboxLength()).toBe(0);
    });

    it("refuses a message over the server's v5 maximum packet size at once (PacketTooLarge)", () => {
      const c = makeClient({ protocol: 5 });
      connect(
        c,
        0,
        Buffer.from(encode({ cmd: "connack", sessionPresent: false, reasonCode: 0, properties: { maximumPacketSize: 10 } } as any, { protocolVersion: 5 })),
      );
      for (const qos of [0, 1]) expect(() => c.publish("t", "0123456789", qos)).toThrow(expect.objectContaining({ code: E("PacketTooLarge") }));
      expect(c.outboxLength()).toBe(0);
      c.publish("t", "0", 1); // 9 bytes: within the limit
      drain(c, 1);
      expect(c.takeTx()).toEqual(hex([0x32, 7], str("t"), [0, 2, 0], "30")); // id 1 went to the refused one
    });

    it("drops a message queued before the server's v5 maximum packet size was known, reporting it", () => {
      const c = makeClient({ protocol: 5 });
      c.publish("t", "0123456789", 1);
      c.publish("t", "0123456789", 0);
      const { events } = connect(
        c,
        0,
        Buffer.from(encode({ cmd: "connack", sessionPresent: false, reasonCode: 0, properties: { maximumPacketSize: 10 } } as any, { protocolVersion: 5 })),
      );
      expect([...events, ...drain(c, 1), ...drain(c, 1)]).toEqual([
        { type: "connected", sessionPresent: false },
        { type: "published", messageId: 1, reasonCode: 0x95 },
        { type: "dropped", count: 1 },
      ]);
      expect(c.takeTx()).toEqual(Buffer.alloc(0));
    });
  });

  describe("client: receiving", () => {
    it("QoS 0, 1 and 2 inbound, acknowledged; the view holds topic and payload", () => {
      const c = makeClient();
      connect(c);
      const events = feed(c, 1, hex([0x30, 5], str("a"), "7878", [0x33, 7], str("b"), [0, 7], "7979", [0x34, 7], str("c"), [0, 8], "7a7a"));
      expect(events).toEqual([
        { type: "message", message: { topic: "a", payload: Buffer.from("xx"), qos: 0, retain: false, dup: false, messageId: 0 } },
        { type: "message", message: { topic: "b", payload: Buffer.from("yy"), qos: 1, retain: true, dup: false, messageId: 7 } },
        { type: "message", message: { topic: "c", payload: Buffer.from("zz"), qos: 2, retain: false, dup: false, messageId: 8 } },
      ]);
      expect(c.takeTx()).toEqual(hex([0x40, 2, 0, 7, 0x50, 2, 0, 8]));
      expect(feed(c, 2, hex([0x62, 2, 0, 8]))).toEqual([]);
      expect(c.takeTx()).toEqual(hex([0x70, 2, 0, 8]));
    });

    it("a QoS 2 message delivered twice reaches the application once", () => {
      const c = makeClient({ backoffMinMs: 0, backoffMaxMs: 0 });
      connect(c);
      const pub = hex([0x34, 7], str("c"), [0, 9], "2121");
      const dup = hex([0x3c, 7], str("c"), [0, 9], "2121");
      expect(feed(c, 1, pub)).toHaveLength(1);
      expect(feed(c, 1, dup)).toEqual([]);
      // Also across a reconnect to the kept session.
      c.closed(2);
      drain(c, 2);
      c.opened(2);
      c.takeTx();
      feed(c, 3, CONNACK(1));
      expect(feed(c, 3, dup)).toEqual([]);
      expect(c.takeTx()).toEqual(hex([0x50, 2, 0, 9]));
      feed(c, 4, hex([0x62, 2, 0, 9]));
      expect(c.takeTx()).toEqual(hex([0x70, 2, 0, 9]));
      // After PUBREL the id is free: the same id is a new message.
      expect(feed(c, 5, pub)).toHaveLength(1);
    });

    it("a QoS 2 message past a full receive table is left unacknowledged, not a lost link; once a PUBREL frees a slot it is taken", () => {
      const c = makeClient({ receiveMaximum: 1 });
      connect(c);
      c.takeTx();
      expect(feed(c, 1, hex([0x34, 6], str("c"), [0, 1], "21"))).toHaveLength(1);
      expect(c.takeTx()).toEqual(hex([0x50, 2, 0, 1])); // PUBREC 1
      // No room for id 2: no event, no PUBREC (the broker keeps it for a redelivery), and the connection stays.
      expect(feed(c, 2, hex([0x34, 6], str("c"), [0, 2], "22"))).toEqual([]);
      expect(c.takeTx().length).toBe(0);
      // A duplicate of id 1 is still acknowledged, not delivered twice.
      expect(feed(c, 3, hex([0x3c, 6], str("c"), [0, 1], "21"))).toEqual([]);
      expect(c.takeTx()).toEqual(hex([0x50, 2, 0, 1]));
      feed(c, 4, hex([0x62, 2, 0, 1])); // PUBREL 1 -> PUBCOMP, slot free
      expect(c.takeTx()).toEqual(hex([0x70, 2, 0, 1]));
      expect(feed(c, 5, hex([0x3c, 6], str("c"), [0, 2], "22"))).toHaveLength(1); // the redelivery of 2
      expect(c.takeTx()).toEqual(hex([0x50, 2, 0, 2]));
    });

    it("any chunking of the input gives the same events and output", () => {
      const stream = hex([0x30, 5], str("a"), "7878", [0x33, 7], str("b"), [0, 7], "7979", [0x90, 3, 0, 1, 1], [0xd0, 0]);
      fc.assert(
        fc.property(fc.integer({ min: 1, max: stream.length }), (chunk) => {
          const c = makeClient({ rxBytes: 16 });
          c.subscribe("x", 1);
          connect(c);
          const events = feed(c, 1, stream, chunk);
          expect(events.map((e) => e.type)).toEqual(["message", "message", "suback"]);
          expect(c.takeTx()).toEqual(hex([0x40, 2, 0, 7]));
        }),
        { numRuns: 30 },
      );
    });

    it("skips a PUBLISH over the maximum packet size, acknowledges it and reports what it kept; any chunking alike", () => {
      // 40-byte limit: a 106-byte QoS 1 PUBLISH, a 105-byte QoS 2 one, then a small one. The connection stays.
      const big1 = hex([0x32, 104], str("a"), [0, 7], Buffer.alloc(99, 0x41));
      const big2 = hex([0x34, 103], str("b"), [0, 8], Buffer.alloc(98, 0x42));
      const small = hex([0x30, 5], str("c"), "7878");
      const stream = Buffer.concat([big1, big2, small]);
      const kept = (topic: string, qos: number, id: number, fill: number) => ({
        topic,
        payload: Buffer.alloc(40 - 7, fill), // 40 minus fixed header (2), topic (3) and packet id (2)
        qos,
        retain: false,
        dup: false,
        messageId: id,
      });
      fc.assert(
        fc.property(fc.integer({ min: 1, max: stream.length }), (chunk) => {
          const c = makeClient({ maxPacket: 40, rxBytes: 16 });
          connect(c);
          expect(feed(c, 1, stream, chunk)).toEqual([
            { type: "tooLarge", message: kept("a", 1, 7, 0x41), size: 106 },
            { type: "tooLarge", message: kept("b", 2, 8, 0x42), size: 105 },
            { type: "message", message: { topic: "c", payload: Buffer.from("xx"), qos: 0, retain: false, dup: false, messageId: 0 } },
          ]);
          expect(c.takeTx()).toEqual(hex([0x40, 2, 0, 7, 0x50, 2, 0, 8])); // PUBACK, PUBREC
          // The QoS 2 one is remembered: redelivered, it is acknowledged and not reported again.
          expect(feed(c, 2, hex([0x3c, 103], str("b"), [0, 8], Buffer.alloc(98, 0x42)), chunk)).toEqual([]);
          expect(c.takeTx()).toEqual(hex([0x50, 2, 0, 8]));
        }),
        { numRuns: 40 },
      );
    });

    it("v5: skips a PUBLISH over the limit the server did not keep to; its properties are decoded from the bytes kept", () => {
      const c = makeClient({ protocol: 5, maxPacket: 64 });
      connect(c, 0, CONNACK5());
      const props = hex([0x08], str("r/t"), [0x09, 0, 2], "0102"); // Response Topic "r/t", Correlation Data 01 02
      const body = hex(str("a"), [0, 3], [props.length], props, Buffer.alloc(200, 0x7a));
      const events = feed(c, 1, hex([0x32, 0x80 | (body.length & 0x7f), body.length >> 7], body));
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: "tooLarge", size: body.length + 3, message: { topic: "a", qos: 1, messageId: 3 } });
      expect((events[0] as { message: { payload: Buffer } }).message.payload).toEqual(Buffer.alloc(64 - 3 - 3 - 2 - 1 - props.length, 0x7a));
      expect(c.takeTx()).toEqual(hex([0x40, 2, 0, 3]));
    });

    it("a PUBLISH over the limit whose topic does not fit in it, or any other packet over it, closes with PacketTooLarge", () => {
      const c = makeClient({ maxPacket: 16 });
      connect(c);
      expect(feed(c, 1, hex([0x30, 30], str("t".repeat(20)), "7878787878787878"))).toEqual([{ type: "close", error: E("PacketTooLarge"), reasonCode: 0 }]);
      const d = makeClient({ maxPacket: 16 });
      d.subscribe("x", 1);
      connect(d);
      expect(feed(d, 1, hex([0x90, 20, 0, 1], Buffer.alloc(18, 1)))).toEqual([{ type: "close", error: E("PacketTooLarge"), reasonCode: 0 }]);
    });

    it("v5: resolves inbound topic aliases", () => {
      const c = makeClient({ protocol: 5, topicAliasMaximum: 2 });
      connect(c, 0, CONNACK5());
      const first = encode(
        { cmd: "publish", topic: "long/topic", payload: Buffer.from("1"), qos: 0, dup: false, retain: false, properties: { topicAlias: 2 } } as any,
        { protocolVersion: 5 },
      );
      const second = encode({ cmd: "publish", topic: "", payload: Buffer.from("2"), qos: 0, dup: false, retain: false, properties: { topicAlias: 2 } } as any, {
        protocolVersion: 5,
      });
      const events = feed(c, 1, hex(Buffer.from(first), Buffer.from(second)));
      expect(events.map((e) => e.type === "message" && [e.message.topic, e.message.payload.toString()])).toEqual([
        ["long/topic", "1"],
        ["long/topic", "2"],
      ]);
      const bad = encode({ cmd: "publish", topic: "x", payload: Buffer.from("3"), qos: 0, dup: false, retain: false, properties: { topicAlias: 3 } } as any, {
        protocolVersion: 5,
      });
      expect(feed(c, 2, Buffer.from(bad))).toEqual([{ type: "close", error: E("ProtocolViolation"), reasonCode: 0x94 }]);
    });

    it("v5: a server DISCONNECT closes with NotConnected and its reason code", () => {
      const c = makeClient({ protocol: 5 });
      connect(c, 0, CONNACK5());
      expect(feed(c, 1, hex([0xe0, 1, 0x8b]))).toEqual([{ type: "close", error: E("NotConnected"), reasonCode: 0x8b }]);
    });
  });

  describe("client: keep-alive and time", () => {
    it("sends PINGREQ after keep-alive idle time and closes when PINGRESP is late", () => {
      const c = makeClient({ keepalive: 10, timeoutMs: 3000 });
      connect(c, 1000);
      expect(c.deadline(1000)).toBe(10_000);
      expect(drain(c, 10_999)).toEqual([]);
      expect(c.takeTx()).toEqual(Buffer.alloc(0));
      drain(c, 11_000);
      expect(c.takeTx()).toEqual(hex([0xc0, 0]));
      expect(c.deadline(11_000)).toBe(3000);
      feed(c, 12_000, hex([0xd0, 0]));
      expect(c.deadline(12_000)).toBe(9000); // idle since the PINGREQ at 11 000
      drain(c, 21_000);
      expect(c.takeTx()).toEqual(hex([0xc0, 0]));
      expect(drain(c, 23_999)).toEqual([]);
      expect(drain(c, 24_000)).toEqual([{ type: "close", error: E("KeepAliveTimeout"), reasonCode: 0 }]);
    });

    it("PINGREQ after keep-alive without sending or without receiving, whichever comes first; time may wrap around 2^32", () => {
      const t0 = 0xffff_f000;
      const c = makeClient({ keepalive: 5 });
      connect(c, t0);
      // Publishing alone does not postpone it: a device that only sends (QoS 0 telemetry)
      // still learns that its peer is gone.
      c.publish("t", "x", 0);
      drain(c, (t0 + 4000) >>> 0);
      c.takeTx();
      expect(c.deadline((t0 + 4000) >>> 0)).toBe(1000);
      expect(drain(c, (t0 + 4999) >>> 0)).toEqual([]);
      drain(c, (t0 + 5000) >>> 0);
      expect(c.takeTx()).toEqual(hex([0xc0, 0]));
      // Sending and receiving both postpone it: the PINGRESP at +6000, a publish at +8000.
      feed(c, (t0 + 6000) >>> 0, hex([0xd0, 0]));
      c.publish("t", "y", 0);
      drain(c, (t0 + 8000) >>> 0);
      c.takeTx();
      expect(c.deadline((t0 + 8000) >>> 0)).toBe(3000); // 5 s after the PINGRESP
      expect(drain(c, (t0 + 10_999) >>> 0)).toEqual([]);
      drain(c, (t0 + 11_000) >>> 0);
      expect(c.takeTx()).toEqual(hex([0xc0, 0]));
    });

    it("v5: the server keep-alive replaces ours", () => {
      const c = makeClient({ protocol: 5, keepalive: 60 });
      connect(
        c,
        0,
        Buffer.from(encode({ cmd: "connack", sessionPresent: false, reasonCode: 0, properties: { serverKeepAlive: 2 } } as any, { protocolVersion: 5 })),
      );
      expect(c.deadline(0)).toBe(2000);
    });

    it("reconnect delays use full jitter within [0, min(max, min * 2^attempt)] and reset after a CONNACK", () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 0xffffffff }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 0, max: 100_000 }), (seed, min, extra) => {
          const max = min + extra;
          const c = makeClient({ backoffMinMs: min, backoffMaxMs: max });
          c.seed(seed);
          c.start(0);
          let now = 0;
          const delays: number[] = [];
          for (let attempt = 0; attempt < 12; attempt++) {
            expect(drain(c, now)).toEqual([{ type: "open" }]);
            c.closed(now);
            expect(c.poll(now)).toEqual({ type: "close", error: E("NotConnected"), reasonCode: 0 });
            const d = c.deadline(now)!;
            expect(d).toBeLessThanOrEqual(Math.min(max, min * 2 ** attempt));
            delays.push(d);
            now += d;
          }
          // A success resets the exponent.
          drain(c, now);
          c.opened(now);
          feed(c, now, CONNACK());
          c.closed(now);
          c.poll(now);
          expect(c.deadline(now)).toBeLessThanOrEqual(min);
        }),
        { numRuns: 20 },
      );
    });

    it("delays grow exponentially: over 64 seeds, attempt 6 averages near min * 2^6 / 2", () => {
      let sum = 0;
      for (let seed = 1; seed <= 64; seed++) {
        const c = makeClient({ backoffMinMs: 100, backoffMaxMs: 1_000_000 });
        c.seed(seed * 7919);
        c.start(0);
        let now = 0;
        for (let attempt = 0; attempt <= 6; attempt++) {
          drain(c, now);
          c.closed(now);
          c.poll(now);
          const d = c.deadline(now)!;
          if (attempt === 6) sum += d;
          now += d;
        }
      }
      const mean = sum / 64;
      expect(mean).toBeGreaterThan(100 * 2 ** 6 * 0.35);
      expect(mean).toBeLessThan(100 * 2 ** 6 * 0.65);
    });

    it("the same seed gives the same delays, another seed others", () => {
      const run = (seed: number) => {
        const c = makeClient({ backoffMinMs: 1000, backoffMaxMs: 60_000 });
        c.seed(seed);
        c.start(0);
        const out: number[] = [];
        let now = 0;
        for (let i = 0; i < 8; i++) {
          drain(c, now);
          c.closed(now);
          c.poll(now);
          out.push(c.deadline(now)!);
          now += out[i];
        }
        return out;
      };
      expect(run(7)).toEqual(run(7));
      expect(run(7)).not.toEqual(run(8));
    });
  });

  describe("client: lifecycle and config", () => {
    it("stop sends DISCONNECT, closes with error 0 and does not reconnect", () => {
      const c = makeClient();
      connect(c);
      c.stop(1);
      expect(drain(c, 1)).toEqual([{ type: "close", error: 0, reasonCode: 0 }]);
      expect(c.takeTx()).toEqual(hex([0xe0, 0]));
      expect(c.deadline(1)).toBeNull();
      expect(drain(c, 1_000_000)).toEqual([]);
    });

    it("the host may write tx out in pieces", () => {
      const c = makeClient();
      connect(c);
      c.publish("t", "abc", 0);
      drain(c, 1);
      const ex = c.mod.exports;
      const ptr = new Uint32Array(c.mod.memory.buffer, c.infoBlock, 3)[2]; // tx, word 2 of client_init's block
      expect(ex.client_tx_len()).toBe(8);
      ex.client_tx_consume(3);
      expect(Buffer.from(new Uint8Array(c.mod.memory.buffer, ptr, ex.client_tx_len()))).toEqual(hex([1], "74616263"));
    });

    it("input is refused by name when no socket is open or it exceeds client_rx_cap", () => {
      const c = makeClient({ rxBytes: 8 });
      const ex = c.mod.exports;
      expect(ex.client_rx_push(1)).toBe(-E("NotConnected"));
      connect(c);
      expect(ex.client_rx_cap()).toBe(8);
      expect(ex.client_rx_push(9)).toBe(-E("BufferFull"));
      new Uint8Array(c.mod.memory.buffer, ex.client_rx_ptr(), 2).set([0xd0, 0]);
      expect(ex.client_rx_push(2)).toBe(0);
      expect(ex.client_rx_cap()).toBe(0); // until polls consumed the push
      expect(ex.client_rx_push(1)).toBe(-E("BufferFull"));
      drain(c, 1);
      expect(ex.client_rx_cap()).toBe(8);
    });

    it("a closed socket is reported as NotConnected; socket calls out of turn are ProtocolViolation", () => {
      const c = makeClient();
      expect(c.opened(0)).toBe(-E("ProtocolViolation"));
      connect(c);
      c.closed(1);
      expect(drain(c, 1)).toEqual([{ type: "close", error: E("NotConnected"), reasonCode: 0 }]);
    });

    it("config and init errors are named", () => {
      const c = new ClientCore({ build: "debug", engine });
      const code = (f: () => void) => {
        try {
          f();
        } catch (e) {
          return (e as ClientError).errName;
        }
        return "ok";
      };
      expect(code(() => c.start(0))).toBe("NotInitialized");
      expect(code(() => c.publish("t", "x", 0))).toBe("NotInitialized");
      expect(code(() => c.setString("clientId", "x"))).toBe("NotInitialized");
      expect(code(() => c.config("protocol", 3))).toBe("InvalidArgument");
      expect(code(() => c.config("willQos", 3))).toBe("InvalidQos");
      expect(code(() => c.config("inflightWindow", 0))).toBe("InvalidArgument");
      expect(c.mod.exports.client_config(99, 1)).toBe(-E("UnknownKey"));
      c.config("stringsBytes", 8);
      c.init();
      expect(code(() => c.init())).toBe("AlreadyInitialized");
      expect(code(() => c.config("outboxBytes", 1))).toBe("AlreadyInitialized");
      expect(c.mod.exports.client_set_str(9, 1)).toBe(-E("UnknownKey"));
      expect(code(() => c.config("keepalive", 5))).toBe("ok");
      c.setString("clientId", "12345");
      expect(code(() => c.setString("username", "1234"))).toBe("BufferFull");
      c.setString("clientId", "1"); // replacing frees the old bytes
      c.setString("username", "1234");
      c.setString("password", "123");
      c.setString("clientId", "a");
      expect(code(() => c.setString("clientId", "ab"))).toBe("BufferFull");
    });
  });
});
