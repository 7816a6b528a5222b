// The device build holds the client side of the codec only, reached through the
// client; build/codec.wasm holds both halves behind the codec exports (assembly/ABI.md, "Codec").
import type { CodecExports } from "../host/abi-table.ts";
import { describe, expect, it } from "vitest";
import { errCode } from "../host/abi.ts";
import { instantiate, type Build } from "../host/engine.ts";
import { ClientCore, type ClientEvent } from "../host/mqtt/core.ts";
import { hex } from "./codec.support.ts";

const UNKNOWN_CODE = errCode("UnknownPacketType");
const UNKNOWN = -UNKNOWN_CODE;

function rawCodec(build: Build) {
  const { exports: ex, memory } = instantiate<CodecExports>({ build });
  const [view, input] = new Uint32Array(memory.buffer, ex.codec_init(64, 64, 64) >>> 0, 2);
  return {
    decode(bytes: Buffer): number {
      ex.codec_reset();
      new Uint8Array(memory.buffer).set(bytes, input);
      ex.codec_push(bytes.length);
      return ex.codec_next(4);
    },
    /** Encodes a packet of `type` whose view holds only its type and version 4 (the rest 0). */
    encode(type: number): number {
      const slots = new Uint32Array(memory.buffer, view, 368);
      slots.fill(0);
      slots[0] = type;
      slots[2] = 4;
      return ex.codec_encode();
    },
  };
}

// What only a broker receives, and what only a broker sends.
const BROKER_BOUND: [string, string][] = [
  ["CONNECT", "10 0c 0004 4d515454 04 02 003c 0000"],
  ["SUBSCRIBE", "82 06 0001 0001 61 00"],
  ["UNSUBSCRIBE", "a2 05 0001 0001 61"],
  ["PINGREQ", "c0 00"],
];
const CLIENT_BOUND: [string, string][] = [
  ["CONNACK", "20 02 00 00"],
  ["SUBACK", "90 03 0001 00"],
  ["UNSUBACK", "b0 02 0001"],
  ["PINGRESP", "d0 00"],
];
const BROKER_SENT: [string, number][] = [
  ["CONNACK", 2],
  ["SUBACK", 9],
  ["UNSUBACK", 11],
  ["PINGRESP", 13],
];

/** A device-build client connected over v3.1.1; returns the events after feeding `bytes`. */
function clientAfter(build: Build, bytes: Buffer): ClientEvent[] {
  const c = new ClientCore({ build });
  c.init();
  c.setString("clientId", "c");
  c.start(0);
  const drain = () => {
    const out: ClientEvent[] = [];
    for (let e = c.poll(0); e; e = c.poll(0)) out.push(e);
    return out;
  };
  drain();
  expect(c.opened(0)).toBe(0);
  expect(c.feed(hex("20 02 00 00"))).toBe(4);
  expect(drain()).toEqual([{ type: "connected", sessionPresent: false }]);
  c.feed(bytes);
  return drain();
}

describe.each(["release", "debug"] as const)("device build (%s): the client side of the codec", (build) => {
  it("exports no codec-alone functions (they are in build/codec.wasm)", () => {
    const names = Object.keys(instantiate<CodecExports>({ build }).exports);
    expect(names).toContain("abi_version");
    expect(names.filter((n) => n.startsWith("codec_") || n.startsWith("topic_"))).toEqual([]);
  });
  it.each(BROKER_BOUND)("a %s reaching the client is UnknownPacketType", (_name, bytes) => {
    expect(clientAfter(build, hex(bytes))).toEqual([{ type: "close", error: UNKNOWN_CODE, reasonCode: 0 }]);
  });
  it("a PINGRESP reaching the client is read", () => {
    expect(clientAfter(build, hex("d0 00"))).toEqual([]);
  });
});

describe.each(["codec", "codec-debug"] as const)("codec build (%s): both halves", (build) => {
  const codec = rawCodec(build);
  it.each([...BROKER_BOUND, ...CLIENT_BOUND])("decodes %s", (_name, bytes) => {
    expect(codec.decode(hex(bytes))).toBe(1);
  });
  it.each(BROKER_SENT)("encoding %s is not refused by type", (_name, type) => {
    expect(codec.encode(type)).not.toBe(UNKNOWN);
  });
  it("encodes CONNACK and PINGRESP", () => {
    expect(codec.encode(2)).toBe(4);
    expect(codec.encode(13)).toBe(2);
  });
});
