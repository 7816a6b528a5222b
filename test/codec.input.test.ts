// Issue 12, "Codec for Node": wrong JS types and ranges are named errors checked
// before module memory is touched, and no input leaves the shared encoder unusable.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { encode, type Packet } from "../host/codec/index.ts";
import { TARGETS, codecFor, codeOf, hex } from "./codec.support.ts";

const GOOD: Packet = { cmd: "connect", clientId: "c", username: "u", password: Buffer.from("p") };
const GOOD_HEX = Buffer.from(encode(GOOD)).toString("hex");

const BAD: [string, Packet, number][] = [
  ["InvalidField", { cmd: "connect", clientId: "c", password: 42 as any }, 4],
  ["InvalidField", { cmd: "connect", clientId: "c".repeat(3000), password: 42 as any }, 4],
  ["InvalidField", { cmd: "connect", clientId: "c", will: { topic: "w", payload: 42 as any } }, 4],
  ["InvalidPropertyValue", { cmd: "publish", topic: "t", payload: "x", properties: { correlationData: 42 as any } }, 5],
  ["InvalidField", { cmd: "publish", topic: "t", payload: 42 as any, properties: { contentType: "x" } }, 5],
  ["InvalidPropertyValue", { cmd: "connect", clientId: "c", properties: { sessionExpiryInterval: -1 } }, 5],
  ["InvalidPropertyValue", { cmd: "connect", clientId: "c", properties: { sessionExpiryInterval: 2 ** 32 } }, 5],
  ["InvalidField", { cmd: "connect", clientId: "c", keepalive: 3.14 }, 4],
  ["InvalidField", { cmd: "puback", messageId: 1.5 }, 4],
  ["InvalidField", { cmd: "connect", clientId: "c", username: 42 as any }, 4],
  ["InvalidField", { cmd: "connect", clientId: "c", protocolId: 42 as any }, 4],
  ["InvalidField", { cmd: "publish", topic: "t", payload: 42 as any }, 4],
  ["InvalidField", { cmd: "publish", topic: "t", payload: {} as any }, 4],
  ["InvalidField", { cmd: "publish", topic: "t", payload: true as any }, 4],
  ["InvalidField", { cmd: "connack", returnCode: "5" as any }, 4],
  ["InvalidField", { cmd: "connect", clientId: "c", will: 42 as any }, 4],
  ["InvalidField", { cmd: "connect", clientId: "c", will: { payload: Buffer.from("x") } as any }, 4],
  ["InvalidField", { cmd: "unsubscribe", messageId: 1, unsubscriptions: 5 as any }, 4],
  ["InvalidConnectFlags", { cmd: "connect", clientId: "", clean: false }, 4],
  ["InvalidPropertyValue", { cmd: "auth", reasonCode: 0x18 }, 5],
  ["InvalidPropertyValue", { cmd: "auth", reasonCode: 0x18, properties: { reasonString: "r" } }, 5],
];

describe("bad fields are named errors and leave the shared encoder usable", () => {
  for (const [code, p, v] of BAD) {
    it(`${code}: ${JSON.stringify(p).slice(0, 90)}`, () => {
      expect(codeOf(() => encode(p, { protocolVersion: v }))).toBe(code);
      expect(Buffer.from(encode(GOOD)).toString("hex")).toBe(GOOD_HEX);
    });
  }
  it("any non-binary password or payload is refused and the next encode is byte-exact (fast-check)", () => {
    const notBin = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.object(), fc.array(fc.integer()));
    fc.assert(
      fc.property(notBin, fc.string({ maxLength: 4000 }), (x, id) => {
        expect(codeOf(() => encode({ cmd: "connect", clientId: id, password: x as any }))).toBe("InvalidField");
        expect(codeOf(() => encode({ cmd: "publish", topic: "t", payload: x as any, properties: { contentType: "a" } }, { protocolVersion: 5 }))).toBe(
          "InvalidField",
        );
        expect(Buffer.from(encode(GOOD)).toString("hex")).toBe(GOOD_HEX);
      }),
    );
  });
  it("four-byte properties outside 0..2^32-1 or not integers are refused (fast-check)", () => {
    const out = fc.oneof(fc.integer({ max: -1 }), fc.double({ min: 2 ** 32, noNaN: true }), fc.double({ min: 0.1, max: 0.9 }));
    fc.assert(
      fc.property(out, (n) => {
        expect(codeOf(() => encode({ cmd: "connect", clientId: "c", properties: { sessionExpiryInterval: n } }, { protocolVersion: 5 }))).toBe(
          "InvalidPropertyValue",
        );
      }),
    );
  });
});

describe("a Buffer where a string belongs is UTF-8", () => {
  it("topic, client id and username as Buffers encode like the strings", () => {
    const b = (s: string) => Buffer.from(s) as any;
    expect(Buffer.from(encode({ cmd: "connect", clientId: b("cé"), username: b("u") })).toString("hex")).toBe(
      Buffer.from(encode({ cmd: "connect", clientId: "cé", username: "u" })).toString("hex"),
    );
    expect(Buffer.from(encode({ cmd: "publish", topic: b("a/b"), payload: "x" })).toString("hex")).toBe(
      Buffer.from(encode({ cmd: "publish", topic: "a/b", payload: "x" })).toString("hex"),
    );
    expect(codeOf(() => encode({ cmd: "publish", topic: Buffer.from([0xff]) as any, payload: "x" }))).toBe("InvalidUtf8");
  });
});

describe("AUTH wire forms", () => {
  for (const { build, engine } of TARGETS) {
    const codec = codecFor(build, engine);
    it(`${build}, ${engine}: f0 01 18 and an AUTH without a method are refused; the short and full forms are read`, () => {
      expect(codeOf(() => codec.decodeAll(hex("f0 01 18"), 5))).toBe("Truncated");
      expect(codeOf(() => codec.decodeAll(hex("f0 02 18 00"), 5))).toBe("InvalidPropertyValue");
      expect(codec.decodeAll(hex("f0 00"), 5)[0].cmd).toBe("auth");
      const full = codec.encode({ cmd: "auth", reasonCode: 0x18, properties: { authenticationMethod: "m" } }, 5);
      expect(full.toString("hex")).toBe("f00618041500016d");
      expect(codec.decodeAll(full, 5)[0].properties).toEqual({ authenticationMethod: "m" });
    });
  }
});
