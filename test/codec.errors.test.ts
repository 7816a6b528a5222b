// Every codec error the module names, the sticky error state, and the maximum
// packet size enforced before a packet is buffered.
import type { CodecExports } from "../host/abi-table.ts";
import { describe, expect, it } from "vitest";
import { TARGETS, codecFor, codeOf, hex } from "./codec.support.ts";
import { MqttCodecError, type Packet } from "../host/codec/index.ts";
import { codecBuild, instantiate } from "../host/engine.ts";
import { errCode } from "../host/abi.ts";

// [error, protocol version, bytes, why]
const DECODE_ERRORS: [string, 3 | 4 | 5, string, string][] = [
  ["MalformedRemainingLength", 4, "30 ff ff ff ff 01", "a 5th remaining-length byte"],
  ["MalformedRemainingLength", 4, "30 80 00", "a non-minimal remaining length"],
  ["MalformedRemainingLength", 5, "30 07 0001 74 ff ff ff ff", "a property length longer than 4 bytes"],
  ["Truncated", 4, "30 03 0005 61", "a topic length past the packet"],
  ["Truncated", 4, "40 01 00", "a packet id cut short"],
  ["Truncated", 5, "40 05 0001 00 05 1f", "a property length past the packet"],
  ["Truncated", 5, "30 07 0001 74 03 03 0005", "a property string past the property block"],
  ["Truncated", 4, "82 06 0001 0003 612f", "a filter without its options byte"],
  ["TrailingBytes", 4, "40 03 0001 00", "a 3.1.1 PUBACK with a 3rd byte"],
  ["TrailingBytes", 4, "c0 01 00", "a PINGREQ with a body"],
  ["UnknownPacketType", 4, "00 00", "type 0"],
  ["UnknownPacketType", 4, "f0 00", "AUTH in 3.1.1"],
  ["ReservedFlags", 4, "41 02 0001", "PUBACK with flag bits"],
  ["ReservedFlags", 4, "60 02 0001", "PUBREL without its 0010 flags"],
  ["ReservedFlags", 4, "80 06 0001 0001 61 00", "SUBSCRIBE without its 0010 flags"],
  ["ReservedFlags", 4, "20 02 02 00", "CONNACK acknowledge flags bits 7-1"],
  ["ReservedFlags", 4, "82 06 0001 0001 61 04", "3.1.1 subscription options bits 7-2"],
  ["ReservedFlags", 5, "82 07 0001 00 0001 61 40", "5 subscription options bits 7-6"],
  ["ReservedFlags", 5, "82 07 0001 00 0001 61 30", "retain handling 3"],
  ["ReservedFlags", 4, "38 05 0001 74 00 00", "DUP on a QoS 0 PUBLISH"],
  ["InvalidUtf8", 4, "30 04 0002 c328", "a broken 2-byte sequence in a topic"],
  ["InvalidUtf8", 4, "30 05 0003 eda080", "a UTF-16 surrogate encoded in UTF-8"],
  ["InvalidUtf8", 4, "30 04 0002 c0af", "an overlong encoding"],
  ["InvalidUtf8", 4, "10 0d 0004 4d515454 04 02 003c 0001 ff", "a client id byte 0xff"],
  ["NullCharacter", 4, "30 05 0003 61 00 62", "U+0000 in a topic"],
  ["NullCharacter", 5, "30 0a 0001 74 06 03 0003 6100 62", "U+0000 in a property string"],
  ["WildcardInTopic", 4, "30 05 0003 612f2b", "+ in a PUBLISH topic"],
  ["WildcardInTopic", 4, "30 03 0001 23", "# in a PUBLISH topic"],
  ["WildcardInTopic", 4, "10 12 0004 4d515454 04 06 003c 0001 61 0001 23 0000", "# in a will topic"],
  ["InvalidQos", 4, "36 07 0003 612f62 0001", "PUBLISH QoS 3"],
  ["InvalidQos", 4, "82 06 0001 0001 61 03", "a subscription with QoS 3"],
  ["InvalidQos", 4, "10 12 0004 4d515454 04 1c 003c 0001 61 0001 74 0000", "will QoS 3"],
  ["ZeroPacketId", 4, "40 02 0000", "PUBACK packet id 0"],
  ["ZeroPacketId", 4, "32 07 0003 612f62 0000", "QoS 1 PUBLISH packet id 0"],
  ["ZeroPacketId", 4, "82 06 0000 0001 61 00", "SUBSCRIBE packet id 0"],
  ["EmptySubscription", 4, "82 02 0001", "SUBSCRIBE with no filters"],
  ["EmptySubscription", 4, "a2 02 0001", "UNSUBSCRIBE with no filters"],
  ["EmptySubscription", 5, "82 03 0001 00", "5 SUBSCRIBE with properties only"],
  ["DuplicateProperty", 5, "30 08 0001 74 04 01 01 01 00", "Payload Format Indicator twice"],
  ["DuplicateProperty", 5, "82 0a 0001 04 0b01 0b02 0001 61 00", "two Subscription Identifiers in SUBSCRIBE"],
  ["ForbiddenProperty", 5, "40 09 0001 00 05 11 00000001", "Session Expiry Interval in PUBACK"],
  ["ForbiddenProperty", 5, "30 07 0001 74 03 21 0001", "Receive Maximum in PUBLISH"],
  ["ForbiddenProperty", 5, "10 16 0004 4d515454 05 06 003c 00 0001 61 02 2301 0001 74 0000", "Topic Alias as a will property"],
  ["UnknownProperty", 5, "30 06 0001 74 02 05 00", "property id 0x05"],
  ["UnknownProperty", 5, "30 06 0001 74 02 ff 00", "property id 0xff"],
  ["InvalidPropertyValue", 5, "30 06 0001 74 02 01 02", "Payload Format Indicator 2"],
  ["InvalidPropertyValue", 5, "20 06 00 00 03 21 0000", "Receive Maximum 0"],
  ["InvalidPropertyValue", 5, "30 07 0001 74 03 23 0000", "Topic Alias 0"],
  ["InvalidPropertyValue", 5, "30 06 0001 74 02 0b 00", "Subscription Identifier 0"],
  ["InvalidPropertyValue", 5, "20 05 00 00 02 24 02", "Maximum QoS 2"],
  ["InvalidProtocol", 4, "10 0d 0004 4d515458 04 02 003c 0001 61", "protocol name MQTX"],
  ["InvalidProtocol", 4, "10 0d 0004 4d515454 06 02 003c 0001 61", "protocol level 6"],
  ["InvalidProtocol", 4, "10 0d 0004 4d515454 03 02 003c 0001 61", "level 3 with the name MQTT"],
  ["InvalidReasonCode", 5, "40 03 0001 05", "PUBACK reason 0x05"],
  ["InvalidReasonCode", 5, "62 03 0001 10", "PUBREL reason 0x10"],
  ["InvalidReasonCode", 4, "20 02 00 06", "3.1.1 CONNACK return code 6"],
  ["InvalidReasonCode", 5, "20 03 00 01 00", "5 CONNACK reason 0x01"],
  ["InvalidReasonCode", 4, "90 03 0001 03", "3.1.1 SUBACK code 3"],
  ["InvalidReasonCode", 5, "b0 04 0001 00 02", "UNSUBACK reason 0x02"],
  ["InvalidReasonCode", 5, "e0 01 03", "DISCONNECT reason 0x03"],
  ["InvalidReasonCode", 5, "f0 01 01", "AUTH reason 0x01"],
  ["InvalidTopic", 4, "30 02 0000", "an empty 3.1.1 topic"],
  ["InvalidTopic", 5, "30 03 0000 00", "an empty 5 topic without a Topic Alias"],
  ["InvalidTopic", 4, "82 08 0001 0003 232f61 00", "a filter with # not last"],
  ["InvalidTopic", 4, "82 07 0001 0002 612b 00", "a filter with + inside a level"],
  ["InvalidTopic", 4, "a2 04 0001 0000", "an empty filter in UNSUBSCRIBE"],
  ["InvalidConnectFlags", 4, "10 0d 0004 4d515454 04 03 003c 0001 61", "reserved CONNECT flag bit 0"],
  ["InvalidConnectFlags", 4, "10 0d 0004 4d515454 04 22 003c 0001 61", "will retain without a will"],
  ["InvalidConnectFlags", 4, "10 0d 0004 4d515454 04 42 003c 0001 61", "3.1.1 password without username"],
  ["LimitExceeded", 4, "82 8601 0001" + "0001 61 00".repeat(33), "33 filters (the view holds 32)"],
];

const ENCODE_ERRORS: [string, 4 | 5, Packet][] = [
  ["WildcardInTopic", 4, { cmd: "publish", topic: "a/#", payload: Buffer.alloc(0) }],
  ["InvalidTopic", 4, { cmd: "publish", topic: "", payload: Buffer.alloc(0) }],
  ["InvalidTopic", 4, { cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a/#/b", qos: 0 }] }],
  ["InvalidQos", 4, { cmd: "publish", topic: "t", qos: 3, messageId: 1, payload: Buffer.alloc(0) }],
  ["InvalidQos", 4, { cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "t", qos: 3 }] }],
  ["ZeroPacketId", 4, { cmd: "puback", messageId: 0 }],
  ["ZeroPacketId", 4, { cmd: "publish", topic: "t", qos: 1, payload: Buffer.alloc(0) }],
  ["EmptySubscription", 4, { cmd: "subscribe", messageId: 1, subscriptions: [] }],
  ["EmptySubscription", 4, { cmd: "unsubscribe", messageId: 1, unsubscriptions: [] }],
  ["DuplicateProperty", 5, { cmd: "subscribe", messageId: 1, properties: { subscriptionIdentifier: [1, 2] }, subscriptions: [{ topic: "t", qos: 0 }] }],
  ["ForbiddenProperty", 5, { cmd: "puback", messageId: 1, properties: { topicAlias: 1 } }],
  ["UnknownProperty", 5, { cmd: "puback", messageId: 1, properties: { noSuchProperty: 1 } as never }],
  ["InvalidPropertyValue", 5, { cmd: "connect", clientId: "a", protocolVersion: 5, properties: { receiveMaximum: 0 } }],
  ["InvalidReasonCode", 5, { cmd: "puback", messageId: 1, reasonCode: 5 }],
  ["InvalidReasonCode", 4, { cmd: "connack", returnCode: 6 }],
  ["UnknownPacketType", 4, { cmd: "auth", reasonCode: 0 }],
  ["UnknownPacketType", 4, { cmd: "nonsense" as never }],
  ["LimitExceeded", 4, { cmd: "unsubscribe", messageId: 1, unsubscriptions: Array.from({ length: 33 }, () => "t") }],
  ["ReservedFlags", 4, { cmd: "publish", topic: "t", dup: true, qos: 0, payload: Buffer.alloc(0) }],
  ["ReservedFlags", 5, { cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "t", qos: 0, rh: 3 }] }],
  ["InvalidQos", 4, { cmd: "connect", clientId: "a", will: { topic: "w", payload: Buffer.alloc(0), qos: 3 } }],
  ["InvalidProtocol", 4, { cmd: "connect", clientId: "a", protocolVersion: 7 }],
];

for (const { build, engine } of TARGETS) {
  describe(`codec errors (${build} build, ${engine})`, () => {
    const codec = codecFor(build, engine);
    for (const [name, v, bytes, why] of DECODE_ERRORS) {
      it(`decode: ${name} for ${why}`, () => {
        expect(codeOf(() => codec.decodeAll(hex(bytes), v))).toBe(name);
      });
    }
    for (const [name, v, packet] of ENCODE_ERRORS) {
      it(`encode: ${name} for ${packet.cmd} ${JSON.stringify(packet).slice(0, 80)}`, () => {
        expect(codeOf(() => codec.encode(packet, v))).toBe(name);
      });
    }

    it("PacketTooLarge as soon as the remaining length is known, before the body arrives", () => {
      const dec = codec.decoder(4, 100);
      // Remaining length 16383: only the 3 header bytes are pushed.
      const err = (() => {
        try {
          dec.push(hex("30 ff 7f"));
        } catch (e) {
          return e as MqttCodecError;
        }
      })();
      expect(err?.code).toBe("PacketTooLarge");
    });

    it("accepts a packet of exactly the maximum size, fixed header included", () => {
      const packet = hex("30 62 0001 74" + "00".repeat(95)); // 2 + 98 = 100 bytes
      expect(codec.decoder(4, 100).push(packet)).toHaveLength(1);
      expect(codeOf(() => codec.decoder(4, 99).push(packet))).toBe("PacketTooLarge");
    });

    it("MalformedRemainingLength on the 4th length byte's continuation bit, without waiting for a 5th", () => {
      expect(codeOf(() => codec.decoder(4).push(hex("30 ff ff ff ff")))).toBe("MalformedRemainingLength");
    });

    it("stays in the error state: later valid bytes are never decoded", () => {
      const dec = codec.decoder(4);
      const before = hex("c0 00 d0 00");
      let first: MqttCodecError | undefined;
      try {
        dec.push(Buffer.concat([before, hex("40 02 0000"), hex("c0 00")]));
      } catch (e) {
        first = e as MqttCodecError;
      }
      expect(first?.code).toBe("ZeroPacketId");
      expect(first?.packets.map((p) => p.cmd)).toEqual(["pingreq", "pingresp"]);
      for (const more of [hex("c0 00"), hex("d0 00 c0 00"), new Uint8Array(0)]) {
        let again: unknown;
        try {
          dec.push(more);
        } catch (e) {
          again = e;
        }
        expect(again).toBe(first);
      }
    });

    it("the module's own stream state is sticky too, until reset", () => {
      const mod = codec.mod;
      const version = { v: 4 };
      expect(() => mod.decode(hex("00 00"), version, [])).toThrow(MqttCodecError);
      expect(codeOf(() => mod.decode(hex("c0 00"), version, []))).toBe("UnknownPacketType");
      mod.reset();
      const out: Packet[] = [];
      mod.decode(hex("c0 00"), version, out);
      expect(out.map((p) => p.cmd)).toEqual(["pingreq"]);
    });

    it("BufferFull when the output buffer cannot hold the packet", () => {
      const { exports: ex, memory } = instantiate<CodecExports>({ build: codecBuild(build), engine });
      const info = new Uint32Array(memory.buffer, ex.codec_init(16, 16, 64) >>> 0, 6);
      const v = new Uint32Array(memory.buffer, info[0], 32);
      v[0] = 3; // PUBLISH
      v[2] = 4;
      v[11] = info[3]; // topic "t" in scratch
      v[12] = 1;
      new Uint8Array(memory.buffer)[v[11]] = 0x74;
      v[13] = 0; // 100 payload bytes from address 0
      v[14] = 100;
      expect(ex.codec_encode()).toBe(-errCode("BufferFull"));
      v[14] = 10;
      expect(ex.codec_encode()).toBe(2 + 3 + 10);
    });

    it("AlreadyInitialized when codec_init runs twice", () => {
      const { exports: ex } = instantiate<CodecExports>({ build: codecBuild(build), engine });
      expect(ex.codec_init(16, 16, 64)).toBeGreaterThan(0);
      expect(ex.codec_init(16, 16, 64)).toBe(-errCode("AlreadyInitialized"));
    });
  });
}

it("names every codec error (1..22) in at least one test above", () => {
  const named = new Set([...DECODE_ERRORS.map((e) => e[0]), ...ENCODE_ERRORS.map((e) => e[0]), "PacketTooLarge", "BufferFull"]);
  for (let code = 1; code <= 22; code++) {
    expect([...named].map(errCode)).toContain(code);
  }
});

describe("encode takes the protocol version from the options when the CONNECT has none", () => {
  const codec = codecFor("release");
  it("writes will properties for protocolVersion 5 given only in the options", () => {
    const bytes = codec.encode({ cmd: "connect", clientId: "a", will: { topic: "w", payload: Buffer.from("x"), properties: { willDelayInterval: 1 } } }, 5);
    const [p] = codec.decodeAll(bytes, 5);
    expect(p.protocolVersion).toBe(5);
    expect(p.will?.properties).toEqual({ willDelayInterval: 1 });
  });
  it("LimitExceeded for a keep-alive over 65535", () => {
    expect(codeOf(() => codec.encode({ cmd: "connect", clientId: "a", keepalive: 70000 }, 4))).toBe("LimitExceeded");
  });
});

it("3.1.1 SUBSCRIBE ignores the MQTT 5 subscription options, as mqtt-packet does", () => {
  const codec = codecFor("release");
  const p = { cmd: "subscribe" as const, messageId: 1, subscriptions: [{ topic: "a", qos: 1, nl: true, rap: true, rh: 2 }] };
  expect(codec.encode(p, 4).toString("hex")).toBe("8206000100016101");
});

describe("NotInitialized before codec_init", () => {
  for (const { build, engine } of TARGETS) {
    it(`${build} build, ${engine}: codec_next and codec_encode name the error, the void exports do nothing`, () => {
      const { exports: ex } = instantiate<CodecExports>({ build: codecBuild(build), engine });
      expect(ex.codec_next(4)).toBe(-errCode("NotInitialized"));
      expect(ex.codec_encode()).toBe(-errCode("NotInitialized"));
      ex.codec_push(10);
      ex.codec_reset();
      ex.codec_set_max_packet(10);
      expect(ex.codec_init(16, 16, 64)).toBeGreaterThan(0);
      expect(ex.codec_next(4)).toBe(0);
    });
  }
});
