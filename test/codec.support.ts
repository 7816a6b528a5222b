// Shared by the codec tests: both builds, hex helpers, mqtt-packet as the shape oracle.
import mqttPacket from "mqtt-packet";
import { CodecModule, Decoder, MqttCodecError, type Packet } from "../host/codec/index.ts";
import type { Build, EngineName } from "../host/engine.ts";
import { ENGINES } from "./support/engines.ts";

export const BUILDS: Build[] = ["debug", "release"];

/** Every codec vector runs under each build and each engine, with identical expectations. */
export const TARGETS: { build: Build; engine: EngineName }[] = BUILDS.flatMap((build) => ENGINES.map((engine) => ({ build, engine })));

export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ""), "hex");
}

/** The codec of one build: encode() and fresh Decoders. */
export function codecFor(build: Build, engine?: EngineName) {
  const mod = new CodecModule({ build, engine, inputSize: 64, maxPacketSize: 64 });
  return {
    build,
    mod,
    encode: (p: Packet, protocolVersion = 4) => Buffer.from(mod.encode(p, protocolVersion)),
    decoder: (protocolVersion: 3 | 4 | 5 = 4, maxPacketSize?: number, inputSize?: number) =>
      new Decoder({ build, engine, protocolVersion, maxPacketSize, inputSize }),
    decodeAll: (bytes: Uint8Array, protocolVersion: 3 | 4 | 5 = 4) => new Decoder({ build, engine, protocolVersion }).push(bytes),
  };
}

/** The error code name a call throws. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof MqttCodecError) return err.code;
    throw err;
  }
  return "no error";
}

/** mqtt-packet's parse of one whole packet (a fresh parser each time). */
export function theirParse(bytes: Uint8Array, protocolVersion: number): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion });
  const out: Packet[] = [];
  parser.on("packet", (p: any) => out.push({ ...p }));
  parser.on("error", (e: Error) => {
    throw e;
  });
  parser.parse(Buffer.from(bytes));
  return out;
}

/** A decoded packet's fixed fields as mqtt-packet's Packet constructor sets them. */
export function base(cmd: string, length: number, flags = 0): Record<string, unknown> {
  return { cmd, retain: (flags & 1) !== 0, qos: (flags >> 1) & 3, dup: (flags & 8) !== 0, length, topic: null, payload: null };
}

export function userProps(entries: Record<string, string | string[]>) {
  return Object.assign(Object.create(null), entries);
}
