// outpost/codec: the module's MQTT 3.1.1/5 codec with mqtt-packet's object shape.
// The module does framing, validation and byte layout; the host side only moves
// strings and buffers between JS objects and the packet view (assembly/ABI.md, "Packet view"):
// module.ts (one instance and its buffers), reader.ts (view to object), writer.ts
// (object to view), types.ts, property-table.ts. This file is the public API.
import type { Build, EngineName } from "../engine.ts";
import { MqttCodecError } from "./error.ts";
import { HeldBytes } from "./held.ts";
import { CodecModule, DEFAULT_MAX_PACKET } from "./module.ts";
import type { Packet } from "./types.ts";

export { MqttCodecError };
export { CodecModule, DEFAULT_MAX_PACKET, type CodecOptions } from "./module.ts";
export type { Cmd, Packet, Properties, ProtocolVersion, Subscription, UserProperties, Will } from "./types.ts";

let shared: CodecModule | undefined;

/** Encodes one packet (mqtt-packet's `generate`). Throws MqttCodecError. */
export function encode(packet: Packet, opts: { protocolVersion?: number } = {}): Uint8Array {
  return sharedModule().encode(packet, opts.protocolVersion ?? packet.protocolVersion ?? 4);
}

/** Input buffer of the instances Decoders share: a longer chunk is fed in slices. */
const STREAM_INPUT = 65536;
/** Module instances Decoders share, by build, engine and assembly buffer size (issue 12). */
const streamModules = new Map<string, CodecModule>();

/**
 * The instance for a Decoder: created on first use and kept for the process. Its
 * assembly buffer is a power of two of at least 64 KiB that holds `maxPacket`, so a
 * few sizes cover every Decoder; each push sets the Decoder's own limit.
 */
function streamModule(build: Build, engine: EngineName | undefined, maxPacket: number): CodecModule {
  const n = maxPacket >>> 0; // as the module reads it (u32)
  // Past 1 GiB the size goes to the module as it is, which refuses it (a trap), as it always has.
  const cap = n <= STREAM_INPUT ? STREAM_INPUT : n > 0x40000000 ? n : 2 ** Math.ceil(Math.log2(n));
  const key = `${build}/${engine ?? ""}/${cap}`;
  let mod = streamModules.get(key);
  if (!mod) {
    mod = new CodecModule({ build, engine, maxPacketSize: cap, inputSize: STREAM_INPUT, bufferSize: 64 });
    streamModules.set(key, mod);
  }
  return mod;
}

/**
 * Streaming decoder: bytes in any chunking, whole packets out. Decoders share module
 * instances; what one holds between pushes is the unfinished packet's bytes (a
 * Buffer of about their size), so a Decoder costs little more than those and needs no
 * closing: drop it and the garbage collector frees everything it held.
 */
export class Decoder {
  private readonly mod: CodecModule;
  private readonly version: { v: number };
  private readonly maxPacket: number;
  private readonly slice: number;
  private readonly held = new HeldBytes();
  private error: MqttCodecError | undefined;

  constructor(opts: { protocolVersion?: 3 | 4 | 5; maxPacketSize?: number; build?: Build; engine?: EngineName; inputSize?: number } = {}) {
    this.maxPacket = opts.maxPacketSize ?? DEFAULT_MAX_PACKET;
    this.mod = streamModule(opts.build ?? "release", opts.engine, this.maxPacket);
    this.slice = opts.inputSize ?? STREAM_INPUT;
    this.version = { v: opts.protocolVersion ?? 4 };
  }

  get protocolVersion(): number {
    return this.version.v;
  }

  /**
   * Returns the whole packets completed by `chunk`. After a protocol error every
   * call throws that same error (its `.packets` holds the ones decoded before it).
   */
  push(chunk: Uint8Array): Packet[] {
    if (this.error) throw this.error;
    // A chunk that leaves the held packet still short needs no module call.
    if (this.held.absorb(chunk)) return [];
    const out: Packet[] = [];
    try {
      this.mod.decodeStream(this.held, chunk, this.version, out, this.maxPacket, this.slice);
    } catch (err) {
      if (err instanceof MqttCodecError) this.error = err;
      throw err;
    }
    return out;
  }
}

function sharedModule(): CodecModule {
  return (shared ??= new CodecModule({ inputSize: 16, maxPacketSize: 16 }));
}

/** Throws MqttCodecError unless `topic` is a valid PUBLISH topic name. */
export function validateTopicName(topic: string): void {
  sharedModule().topicCall("topic_validate_name", topic);
}

/** Throws MqttCodecError unless `filter` is a valid subscription filter. */
export function validateTopicFilter(filter: string): void {
  sharedModule().topicCall("topic_validate_filter", filter);
}

/** Whether `filter` matches `topic` (+, #, and no wildcard match for a leading $). */
export function topicMatches(filter: string, topic: string): boolean {
  return sharedModule().topicCall("topic_matches", filter, topic) !== 0;
}
