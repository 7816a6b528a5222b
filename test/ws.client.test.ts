// The module's WebSocket client driven sans-IO through the device exports: the test plays the server
// byte for byte (handshake responses and frames it builds itself), under V8 and wasm3. Every named
// framing error, each close code, ping/pong, fragments, keep-alive, backoff and a clean stop.
import { describe, expect, it } from "vitest";
import { ABI_VERSION } from "../host/abi.ts";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { errCode, wsCloseName } from "../host/abi.ts";
import { instantiate, type HostImports } from "../host/engine.ts";
import { ENGINES } from "./support/engines.ts";
import { Ev } from "../host/abi-table.ts";

const { open: EV_OPEN, close: EV_CLOSE, connected: EV_CONNECTED, rpcPending: EV_RPC_PENDING } = Ev;
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX = 2048; // client_config 8: the largest frame / message

/** A server frame (never masked unless asked). */
function frame(op: number, payload: Uint8Array | string, o: { fin?: boolean; mask?: boolean; rsv?: number; len127?: boolean; len?: number } = {}): Buffer {
  const body = Buffer.from(payload);
  const n = o.len ?? body.length;
  const head: number[] = [((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | op];
  const maskBit = o.mask ? 0x80 : 0;
  if (o.len127 || n > 65535) head.push(maskBit | 127, 0, 0, 0, 0, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  else if (n > 125) head.push(maskBit | 126, n >> 8, n & 255);
  else head.push(maskBit | n);
  if (o.mask) {
    const key = [1, 2, 3, 4];
    return Buffer.concat([Buffer.from(head), Buffer.from(key), Buffer.from(body.map((b, i) => b ^ key[i & 3]))]);
  }
  return Buffer.concat([Buffer.from(head), body]);
}
const closeFrame = (code: number, reason: Uint8Array | string = "") => frame(8, Buffer.concat([Buffer.from([code >> 8, code & 255]), Buffer.from(reason)]));

interface ClientFrame {
  fin: boolean;
  op: number;
  masked: boolean;
  payload: Buffer;
}
/** Parses (and unmasks) what the client wrote. */
function parseFrames(bytes: Buffer): ClientFrame[] {
  const out: ClientFrame[] = [];
  let p = 0;
  while (p < bytes.length) {
    const b0 = bytes[p],
      b1 = bytes[p + 1];
    let n = b1 & 127;
    let at = p + 2;
    if (n === 126) (n = bytes.readUInt16BE(at)), (at += 2);
    else if (n === 127) (n = Number(bytes.readBigUInt64BE(at))), (at += 8);
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? bytes.subarray(at, at + 4) : Buffer.alloc(4);
    if (masked) at += 4;
    const payload = Buffer.from(bytes.subarray(at, at + n).map((b, i) => b ^ key[i & 3]));
    out.push({ fin: (b0 & 0x80) !== 0, op: b0 & 15, masked, payload });
    p = at + n;
  }
  return out;
}

describe.each(ENGINES)("WebSocket client under %s", (engine) => {
  const setup = (o: { seed?: number; keepalive?: number; url?: string; password?: string; hostCall?: HostImports["hostCall"] } = {}) => {
    const m = instantiate({ engine, imports: o.hostCall ? { hostCall: o.hostCall } : {} });
    const x = m.exports;
    const mem = () => Buffer.from(m.memory.buffer);
    // The blocks the init exports return (assembly/ABI.md): client (scratch, its capacity, tx, event), rpc (request, response), device (event).
    const blocks = { client: 0, rpc: 0, device: 0 };
    const word = (block: number, i: number) => new Uint32Array(m.memory.buffer, block, i + 1)[i];
    const toScratch = (s: string) => {
      const b = Buffer.from(s);
      mem().set(b, word(blocks.client, 0));
      return b.length;
    };
    expect(x.client_config(8, MAX)).toBe(0);
    expect(x.client_config(1, o.keepalive ?? 0)).toBe(0);
    expect(x.client_config(10, 100)).toBe(0); // backoff 100 ms ..
    expect(x.client_config(11, 800)).toBe(0); // .. 800 ms
    expect(x.client_config(17, 5000)).toBe(0); // timeout
    x.client_seed(o.seed ?? 12345);
    expect((blocks.client = x.client_init())).toBeGreaterThan(0);
    expect(x.client_set_str(2, toScratch("dev7"))).toBe(0);
    if (o.password !== "") expect(x.client_set_str(3, toScratch(o.password ?? "s3cret"))).toBe(0);
    expect((blocks.rpc = x.rpc_init(1024, 1024, 64, 8, 0))).toBeGreaterThan(0);
    expect((blocks.device = x.device_init(64))).toBeGreaterThan(0);
    expect(x.device_set(1, toScratch("dev7"))).toBe(0);
    expect(x.device_set(3, toScratch(o.url ?? "ws://gw.example:8080/api/v1/devices/ws"))).toBe(0);
    const takeTx = () => {
      const len = x.client_tx_len();
      const tx = word(blocks.client, 2);
      const out = Buffer.from(mem().subarray(tx, tx + len));
      x.client_tx_consume(len);
      return out;
    };
    const events = (now: number) => {
      const list: Array<{ code: number; a: number; b: number }> = [];
      for (let ev; (ev = x.device_poll(now)); ) {
        const e = new Uint32Array(m.memory.buffer, blocks.client + 12, 5);
        list.push({ code: ev, a: e[1], b: e[2] });
      }
      return list;
    };
    /** Feeds bytes as the socket would (in chunks of client_rx_cap), polling in between; returns the events. */
    const feed = (bytes: Uint8Array, now = 10, chunk = Infinity) => {
      const list: ReturnType<typeof events> = [];
      let at = 0;
      while (at < bytes.length) {
        const cap = x.client_rx_cap();
        if (!cap) break;
        const n = Math.min(cap, bytes.length - at, chunk);
        mem().set(bytes.subarray(at, at + n), x.client_rx_ptr());
        expect(x.client_rx_push(n)).toBe(0);
        at += n;
        list.push(...events(now));
      }
      return list;
    };
    /** Starts and opens the socket; returns the upgrade request text. */
    const open = (now = 0) => {
      expect(x.device_start(now)).toBe(0);
      expect(events(now).map((e) => e.code)).toEqual([EV_OPEN]);
      expect(x.client_opened(now + 1)).toBe(0);
      return takeTx().toString("latin1");
    };
    const acceptFor = (request: string) => {
      const key = /\r\nSec-WebSocket-Key: (\S+)\r\n/.exec(request)![1];
      return createHash("sha1")
        .update(key + GUID)
        .digest("base64");
    };
    const response = (accept: string, extra = "") =>
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${extra}\r\n`;
    /** open() and a correct 101: the client is connected. */
    const connect = (now = 0) => {
      const req = open(now);
      expect(feed(Buffer.from(response(acceptFor(req))), now + 2).map((e) => e.code)).toEqual([EV_CONNECTED]);
      return req;
    };
    /** The close the client reports, and the close frame it wrote. */
    const failWith = (bytes: Uint8Array) => {
      const evs = feed(bytes);
      const close = evs.find((e) => e.code === EV_CLOSE);
      const frames = parseFrames(takeTx());
      const sent = frames.find((f) => f.op === 8);
      return { close, sentCode: sent && sent.payload.length >= 2 ? sent.payload.readUInt16BE(0) : undefined };
    };
    return { m, x, blocks, word, mem, toScratch, takeTx, events, feed, open, connect, acceptFor, response, failWith };
  };

  it("writes the upgrade request: path, Host, Upgrade, Connection, version 13, a 16-byte key, Bearer <username>:<password>", () => {
    const req = setup().open();
    expect(req).toMatch(
      /^GET \/api\/v1\/devices\/ws HTTP\/1\.1\r\nHost: gw\.example:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: [A-Za-z0-9+/]{22}==\r\nAuthorization: Bearer dev7:s3cret\r\n\r\n$/,
    );
    const key = /Key: (\S+)/.exec(req)![1];
    expect(Buffer.from(key, "base64")).toHaveLength(16);
    // The key comes from the host's seed: another seed, another key; the same seed, the same key.
    expect(/Key: (\S+)/.exec(setup({ seed: 777 }).open())![1]).not.toBe(key);
    expect(/Key: (\S+)/.exec(setup().open())![1]).toBe(key);
  });

  it("takes a URL without scheme or path (path /), and leaves Authorization out without a password", () => {
    const req = setup({ url: "10.0.0.2:81", password: "" }).open();
    expect(req).toMatch(/^GET \/ HTTP\/1\.1\r\nHost: 10\.0\.0\.2:81\r\n/);
    expect(req).not.toContain("Authorization");
  });

  it("device_set 3 refuses an empty host (InvalidTopic) and a URL over 256 bytes (BufferFull)", () => {
    const t = setup();
    expect(t.x.device_set(3, t.toScratch("ws://"))).toBe(-errCode("InvalidTopic"));
    expect(t.x.device_set(3, t.toScratch("/path"))).toBe(-errCode("InvalidTopic"));
    expect(t.x.device_set(3, t.toScratch("h".repeat(257)))).toBe(-errCode("BufferFull"));
  });

  it("checks Sec-WebSocket-Accept against SHA-1 of the key (many seeds), case-insensitive header names and values", () => {
    for (let seed = 1; seed < 40; seed++) {
      const t = setup({ seed: seed * 2654435761 });
      const req = t.open();
      const reply = `HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, Upgrade\r\nsec-websocket-accept:   ${t.acceptFor(req)}  \r\nX-Other: 1\r\n\r\n`;
      expect(t.feed(Buffer.from(reply)).map((e) => e.code)).toEqual([EV_CONNECTED]);
    }
  });

  it("names every handshake failure: status (401, 403, 500), bad or missing accept, missing Upgrade or Connection, a malformed or oversize response", () => {
    for (const status of [401, 403, 500, 200]) {
      const t = setup();
      t.open();
      const evs = t.feed(Buffer.from(`HTTP/1.1 ${status} No\r\nContent-Length: 0\r\n\r\n`));
      expect(evs).toEqual([{ code: EV_CLOSE, a: errCode("WsHandshakeRejected"), b: status }]);
    }
    const cases: Array<[string, (accept: string) => string]> = [
      ["WsBadAccept", () => "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"],
      ["WsBadAccept", () => "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"],
      ["WsBadAccept", (a) => `HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${a.toLowerCase()}\r\n\r\n`],
      ["WsBadHandshake", (a) => `HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${a}\r\n\r\n`],
      ["WsBadHandshake", (a) => `HTTP/1.1 101 OK\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${a}\r\n\r\n`],
      ["WsBadHandshake", (a) => `HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${a}\r\n\r\n`],
      ["WsBadHandshake", () => "SSH-2.0-OpenSSH_9.2\r\n\r\n"],
      ["WsBadHandshake", () => `HTTP/1.1 101 OK\r\nX-Padding: ${"x".repeat(MAX + 300)}\r\n\r\n`],
    ];
    for (const [name, reply] of cases) {
      const t = setup();
      const req = t.open();
      const evs = t.feed(Buffer.from(reply(t.acceptFor(req))));
      expect(evs, reply("A")).toEqual([{ code: EV_CLOSE, a: errCode(name), b: 0 }]);
    }
  });

  it("answers a request in a text frame with a masked text frame; frames may follow the 101 in the same read", () => {
    const t = setup();
    const req = t.open();
    const bytes = Buffer.concat([Buffer.from(t.response(t.acceptFor(req))), frame(1, '{"jsonrpc":"2.0","id":1,"method":"echo","params":["hi"]}')]);
    expect(t.feed(bytes).map((e) => e.code)).toEqual([EV_CONNECTED]);
    const frames = parseFrames(t.takeTx());
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ fin: true, op: 1, masked: true });
    expect(frames[0].payload.toString()).toBe('{"jsonrpc":"2.0","result":["hi"],"id":1}');
  });

  it("masks every frame with a fresh key (and the masked bytes differ from the payload)", () => {
    const t = setup();
    t.connect();
    const masks = new Set<string>();
    for (let i = 0; i < 8; i++) {
      t.feed(frame(1, `{"jsonrpc":"2.0","id":${i},"method":"echo","params":[${i}]}`));
      const raw = t.takeTx();
      masks.add(raw.subarray(2, 6).toString("hex"));
      expect(raw.subarray(6).toString()).not.toContain("jsonrpc");
    }
    expect(masks.size).toBe(8);
  });

  it("uses the 16-bit and 64-bit length forms on both sides", () => {
    const t = setup();
    t.connect();
    const big = "x".repeat(300);
    t.feed(frame(1, `{"jsonrpc":"2.0","id":1,"method":"echo","params":["${big}"]}`, { len127: true }));
    const raw = t.takeTx();
    expect(raw[1]).toBe(0x80 | 126);
    const [f] = parseFrames(raw);
    expect(f.payload.toString()).toBe(`{"jsonrpc":"2.0","result":["${big}"],"id":1}`);
  });

  it("reassembles a fragmented message, answering pings between fragments with pongs of the same payload", () => {
    const t = setup();
    t.connect();
    const msg = '{"jsonrpc":"2.0","id":"f","method":"echo","params":{"a":"ü€😀"}}';
    const b = Buffer.from(msg);
    const parts = [b.subarray(0, 10), b.subarray(10, 40), b.subarray(40)];
    const bytes = Buffer.concat([frame(1, parts[0], { fin: false }), frame(9, "p1"), frame(0, parts[1], { fin: false }), frame(9, ""), frame(0, parts[2])]);
    for (let i = 0; i < bytes.length; i++) t.feed(bytes.subarray(i, i + 1)); // one byte at a time
    const frames = parseFrames(t.takeTx());
    expect(frames.map((f) => [f.op, f.payload.toString()])).toEqual([
      [10, "p1"],
      [10, ""],
      [1, '{"jsonrpc":"2.0","result":{"a":"ü€😀"},"id":"f"}'],
    ]);
  });

  it("dispatches binary messages too, and answers notifications with nothing", () => {
    const t = setup();
    t.connect();
    t.feed(frame(2, '{"jsonrpc":"2.0","id":2,"method":"echo"}'));
    t.feed(frame(1, '{"jsonrpc":"2.0","method":"echo"}'));
    expect(parseFrames(t.takeTx()).map((f) => f.payload.toString())).toEqual(['{"jsonrpc":"2.0","result":null,"id":2}']);
  });

  it("takes a text frame with U+0000 (valid UTF-8: the JSON-RPC layer answers it)", () => {
    const t = setup();
    t.connect();
    const evs = t.feed(frame(1, '{"jsonrpc":"2.0","id":1,"method":"echo","params":["\u0000"]}'));
    expect(evs).toEqual([]);
    expect(parseFrames(t.takeTx())[0].payload.toString()).toContain('"error"');
  });

  const framingErrors: Array<[string, string, number, () => Buffer]> = [
    ["a masked frame from the server", "WsMaskedFrame", 1002, () => frame(1, "{}", { mask: true })],
    ["an oversize frame (refused from its header)", "WsFrameTooLarge", 1009, () => frame(1, "", { len: MAX + 1 }).subarray(0, 4)],
    [
      "an oversize message (fragments adding up)",
      "WsFrameTooLarge",
      1009,
      () => Buffer.concat([frame(1, "a".repeat(1500), { fin: false }), frame(0, "b".repeat(600))]),
    ],
    ["a length over 4 GiB", "WsFrameTooLarge", 1009, () => Buffer.from([0x81, 127, 0, 0, 0, 1, 0, 0, 0, 0])],
    ["opcode 3", "WsBadOpcode", 1002, () => frame(3, "")],
    ["opcode 7", "WsBadOpcode", 1002, () => frame(7, "")],
    ["opcode 11", "WsBadOpcode", 1002, () => frame(11, "")],
    ["opcode 15", "WsBadOpcode", 1002, () => frame(15, "")],
    ["RSV1", "WsReservedBits", 1002, () => frame(1, "{}", { rsv: 4 })],
    ["RSV3", "WsReservedBits", 1002, () => frame(1, "{}", { rsv: 1 })],
    ["a fragmented ping", "WsBadControlFrame", 1002, () => frame(9, "", { fin: false })],
    ["a 126-byte pong", "WsBadControlFrame", 1002, () => frame(10, "p".repeat(126))],
    ["a continuation with no message", "WsBadContinuation", 1002, () => frame(0, "x")],
    ["a new message inside a fragmented one", "WsBadContinuation", 1002, () => Buffer.concat([frame(1, "a", { fin: false }), frame(1, "b")])],
    ["bad UTF-8 in a text frame", "InvalidUtf8", 1007, () => frame(1, Buffer.from([0x22, 0xc3, 0x28, 0x22]))],
    ["a surrogate in a text frame", "InvalidUtf8", 1007, () => frame(1, Buffer.from([0xed, 0xa0, 0x80]))],
    [
      "bad UTF-8 split across fragments",
      "InvalidUtf8",
      1007,
      () => Buffer.concat([frame(1, Buffer.from([0x61, 0xe2, 0x82]), { fin: false }), frame(0, Buffer.from([0x28]))]),
    ],
    ["bad UTF-8 in a close reason", "InvalidUtf8", 1007, () => closeFrame(1000, Buffer.from([0xff]))],
    ["a close frame with a 1-byte body", "WsBadCloseCode", 1002, () => frame(8, Buffer.from([3]))],
  ];
  it.each(framingErrors)("names %s (%s) and sends close %i", (_what, name, code, bytes) => {
    const t = setup();
    t.connect();
    const { close, sentCode } = t.failWith(bytes());
    expect(close).toEqual({ code: EV_CLOSE, a: errCode(name), b: code });
    expect(sentCode).toBe(code);
  });

  it("reports each close code the server may send (WsClosed, b = code) and echoes it", () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4001, 4999]) {
      const t = setup();
      t.connect();
      const { close, sentCode } = t.failWith(closeFrame(code, "bye"));
      expect(close, String(code)).toEqual({ code: EV_CLOSE, a: errCode("WsClosed"), b: code });
      expect(sentCode).toBe(code);
      expect(wsCloseName(code)).toMatch(/^[A-Z][A-Za-z]+\d*$/);
    }
    expect([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 4000, 4001].map(wsCloseName)).toEqual([
      "NormalClosure",
      "GoingAway",
      "ProtocolError",
      "UnsupportedData",
      "InvalidPayloadData",
      "PolicyViolation",
      "MessageTooBig",
      "MandatoryExtension",
      "InternalError",
      "ServiceRestart",
      "TryAgainLater",
      "BadGateway",
      "ReplacedByNewerConnection",
      "DeviceRemoved",
    ]);
    expect([1005, 1006, 3000, 4999].map(wsCloseName)).toEqual(["NoStatusReceived", "AbnormalClosure", "Application3000", "Application4999"]);
    const t = setup();
    t.connect();
    const { close, sentCode } = t.failWith(frame(8, "")); // no code at all: 1005 reported, 1000 echoed
    expect(close).toEqual({ code: EV_CLOSE, a: errCode("WsClosed"), b: 1005 });
    expect(sentCode).toBe(1000);
  });

  it("refuses close codes that must not be on the wire (WsBadCloseCode, 1002)", () => {
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
      const t = setup();
      t.connect();
      const { close, sentCode } = t.failWith(closeFrame(code));
      expect(close, String(code)).toEqual({ code: EV_CLOSE, a: errCode("WsBadCloseCode"), b: 1002 });
      expect(sentCode).toBe(1002);
    }
  });

  it("property: any fragmentation, interleaved pings and any chunking give the same answers, in order", () => {
    const request = fc.record({ id: fc.nat({ max: 1e6 }), text: fc.string({ unit: "grapheme", maxLength: 40 }) });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(request, fc.array(fc.nat({ max: 200 }), { maxLength: 3 }), fc.boolean()), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 300 }),
        (messages, chunk) => {
          const t = setup();
          t.connect();
          const wire: Buffer[] = [];
          const pings: string[] = [];
          for (const [{ id, text }, cuts, ping] of messages) {
            const body = Buffer.from(JSON.stringify({ jsonrpc: "2.0", id, method: "echo", params: [text] }));
            const at = [...new Set(cuts.map((c) => c % body.length))].sort((a, b) => a - b).filter((c) => c > 0);
            const parts = [0, ...at].map((from, i) => body.subarray(from, [...at, body.length][i]));
            parts.forEach((part, i) => {
              wire.push(frame(i ? 0 : 1, part, { fin: i === parts.length - 1 }));
              if (ping && i === 0) {
                pings.push(`p${id}`);
                wire.push(frame(9, `p${id}`));
              }
            });
          }
          expect(t.feed(Buffer.concat(wire), 10, chunk)).toEqual([]);
          const out = parseFrames(t.takeTx());
          expect(out.filter((f) => f.op === 10).map((f) => f.payload.toString())).toEqual(pings);
          expect(out.filter((f) => f.op === 1).map((f) => JSON.parse(f.payload.toString()))).toEqual(
            messages.map(([{ id, text }]) => ({ jsonrpc: "2.0", result: [text], id })),
          );
          expect(out.every((f) => f.masked && f.fin)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("property: arbitrary bytes after the upgrade end in a named close or nothing, never a trap", () => {
    const named = new Set(
      [
        "WsMaskedFrame",
        "WsFrameTooLarge",
        "WsBadOpcode",
        "WsReservedBits",
        "WsBadControlFrame",
        "WsBadContinuation",
        "WsBadCloseCode",
        "WsClosed",
        "InvalidUtf8",
      ].map(errCode),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 64 }), (bytes, chunk) => {
        const t = setup();
        t.connect();
        const evs = t.feed(bytes, 10, chunk);
        for (const e of evs) {
          expect(e.code).toBe(EV_CLOSE);
          expect(named.has(e.a)).toBe(true);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("device_stop sends close 1000 and reports EV_CLOSE with error 0; no reconnect", () => {
    const t = setup();
    t.connect();
    t.x.device_stop(50);
    expect(t.events(50)).toEqual([{ code: EV_CLOSE, a: 0, b: 0 }]);
    const [f] = parseFrames(t.takeTx());
    expect([f.op, f.payload.readUInt16BE(0), f.masked]).toEqual([8, 1000, true]);
    expect(t.x.device_deadline(50) >>> 0).toBe(0xffffffff);
    expect(t.events(100_000)).toEqual([]);
  });

  it("a closed socket is NotConnected with 1006; reconnects after the client's backoff (full jitter), which a good upgrade resets", () => {
    const t = setup();
    t.connect(0);
    t.x.client_closed(100);
    expect(t.events(100)).toEqual([{ code: EV_CLOSE, a: errCode("NotConnected"), b: 1006 }]);
    expect(t.x.client_rx_cap()).toBe(0);
    expect(t.x.client_rx_push(1)).toBe(-errCode("NotConnected"));
    // Each failed attempt may wait up to min * 2^attempt (100, 200, 400, 800 = max, 800).
    let now = 100;
    for (const cap of [100, 200, 400, 800, 800]) {
      const d = t.x.device_deadline(now) >>> 0;
      expect(d).toBeLessThanOrEqual(cap);
      now += d;
      expect(t.events(now).map((e) => e.code)).toEqual([EV_OPEN]);
      t.x.client_closed(now);
      expect(t.events(now).map((e) => e.code)).toEqual([EV_CLOSE]);
    }
    now += t.x.device_deadline(now) >>> 0;
    expect(t.events(now).map((e) => e.code)).toEqual([EV_OPEN]);
    expect(t.x.client_opened(now)).toBe(0);
    const req = t.takeTx().toString("latin1");
    expect(t.feed(Buffer.from(t.response(t.acceptFor(req))), now).map((e) => e.code)).toEqual([EV_CONNECTED]);
    t.x.client_closed(now);
    t.events(now);
    expect(t.x.device_deadline(now) >>> 0).toBeLessThanOrEqual(100); // attempt 0 again
  });

  it("times out an upgrade that gets no answer (KeepAliveTimeout)", () => {
    const t = setup();
    t.open(0);
    expect(t.x.device_deadline(10) >>> 0).toBe(4991);
    expect(t.events(5001)).toEqual([{ code: EV_CLOSE, a: errCode("KeepAliveTimeout"), b: 0 }]);
  });

  it("pings after keepalive seconds without sending; a pong clears it, none within the timeout closes with 1001", () => {
    const t = setup({ keepalive: 2 });
    t.connect(0); // upgraded at 2
    expect(t.x.device_deadline(2) >>> 0).toBe(2000);
    expect(t.events(2002)).toEqual([]);
    let [ping] = parseFrames(t.takeTx());
    expect([ping.op, ping.payload.length, ping.masked]).toEqual([9, 0, true]);
    t.feed(frame(10, ""), 2100);
    expect(t.x.device_deadline(2100) >>> 0).toBe(1902); // the next ping, not the timeout
    t.events(4002);
    [ping] = parseFrames(t.takeTx());
    expect(ping.op).toBe(9);
    expect(t.events(9001)).toEqual([]);
    expect(t.events(9002)).toEqual([{ code: EV_CLOSE, a: errCode("KeepAliveTimeout"), b: 1001 }]);
    expect(parseFrames(t.takeTx()).map((f) => [f.op, f.payload.readUInt16BE(0)])).toEqual([[8, 1001]]);
  });

  it("pings keepalive seconds after the last frame in even while it sends telemetry, and closes when no pong comes", () => {
    const t = setup({ keepalive: 2 });
    expect(t.x.device_config(1, 500)).toBe(0); // telemetry every 500 ms: it never stops sending
    t.connect(0); // upgraded at 2
    const sent: number[] = [];
    for (let now = 502; now <= 2002; now += 500) {
      t.events(now);
      sent.push(...parseFrames(t.takeTx()).map((f) => f.op));
    }
    expect(sent).toEqual([1, 1, 1, 1, 9]); // telemetry (text) at 502, 1002, 1502 and 2002, then the ping
    expect(t.events(7001)).toEqual([]); // the timeout is 5 s
    expect(t.events(7002)).toEqual([{ code: EV_CLOSE, a: errCode("KeepAliveTimeout"), b: 1001 }]);
  });

  it("holds a request waiting on an asynchronous host method (EV_RPC_PENDING) and answers it on device_resume", () => {
    let pending = true;
    const t = setup({ hostCall: (method) => (method !== "slow" ? "not_found" : pending ? "pending" : { result: '"done"' }) });
    t.connect();
    const req = '{"jsonrpc":"2.0","id":9,"method":"slow"}';
    const evs = t.feed(frame(1, req));
    expect(evs.map((e) => e.code)).toEqual([EV_RPC_PENDING]);
    expect(t.takeTx()).toHaveLength(0);
    const ev = new Uint32Array(t.m.memory.buffer, t.blocks.device, 2);
    expect([ev[0], ev[1]]).toEqual([req.length, 5]);
    pending = false;
    t.mem().set(Buffer.from(req), t.word(t.blocks.rpc, 0));
    expect(t.x.device_resume(req.length, 5, 20)).toBe(0);
    expect(parseFrames(t.takeTx())[0].payload.toString()).toBe('{"jsonrpc":"2.0","result":"done","id":9}');
  });

  it("sends telemetry as a JSON-RPC notification carrying sys.info", () => {
    const t = setup();
    expect(t.x.device_config(1, 1000)).toBe(0);
    t.connect(0); // upgraded at 2
    expect(t.x.device_deadline(5) >>> 0).toBe(997);
    t.events(1002);
    const [f] = parseFrames(t.takeTx());
    const note = JSON.parse(f.payload.toString());
    expect(note).toMatchObject({ jsonrpc: "2.0", method: "telemetry", params: { version: "0.1.0", abi: ABI_VERSION } });
    expect(note).not.toHaveProperty("id");
  });
});
