// The connection supervisor (assembly/link/supervisor.ts) seen through its one seam
// (assembly/link/transport.ts): the same client_* exports drive the MQTT transport and
// the WebSocket transport (chosen by device_set key 3), and for any seed and config
// both follow the same phases, backoff sequence, connect deadline and keep-alive.
// Only what the transports write differs (CONNECT/PINGREQ, the upgrade/ping frame).
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Cfg, Err, Ev } from "../host/abi-table.ts";
import { instantiate } from "../host/engine.ts";
import { ENGINES } from "./support/engines.ts";

type Transport = "mqtt" | "ws";
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

interface Cfgs {
  seed: number;
  minMs: number;
  maxMs: number;
  timeoutMs: number;
  keepaliveS: number;
}

/** A module with `transport` selected, configured from `c`, not started. */
function link(engine: (typeof ENGINES)[number], transport: Transport, c: Cfgs) {
  const m = instantiate({ engine });
  const x = m.exports;
  const mem = () => Buffer.from(m.memory.buffer);
  expect(x.client_config(Cfg.keepalive, c.keepaliveS)).toBe(0);
  expect(x.client_config(Cfg.backoffMinMs, c.minMs)).toBe(0);
  expect(x.client_config(Cfg.backoffMaxMs, c.maxMs)).toBe(0);
  expect(x.client_config(Cfg.timeoutMs, c.timeoutMs)).toBe(0);
  x.client_seed(c.seed);
  const block = x.client_init();
  expect(block).toBeGreaterThan(0);
  const word = (i: number) => new Uint32Array(m.memory.buffer, block, 8)[i];
  const toScratch = (s: string) => {
    const b = Buffer.from(s);
    mem().set(b, word(0));
    return b.length;
  };
  expect(x.client_set_str(1, toScratch("seam"))).toBe(0); // client id
  if (transport === "ws") expect(x.device_set(3, toScratch("ws://gw.example/ws"))).toBe(0);
  const takeTx = () => {
    const len = x.client_tx_len();
    const out = Buffer.from(mem().subarray(word(2), word(2) + len));
    x.client_tx_consume(len);
    return out;
  };
  const events = (now: number) => {
    const list: Array<[number, number]> = [];
    for (let ev; (ev = x.client_poll(now)); ) list.push([ev, new Uint32Array(m.memory.buffer, block + 12, 5)[1]]);
    return list;
  };
  /** One client_poll: its event and argument a (0, 0 when none). */
  const step = (now: number): [number, number] => {
    const ev = x.client_poll(now);
    return [ev, ev ? new Uint32Array(m.memory.buffer, block + 12, 5)[1] : 0];
  };
  const push = (bytes: Uint8Array) => {
    expect(x.client_rx_cap()).toBeGreaterThanOrEqual(bytes.length);
    mem().set(bytes, x.client_rx_ptr());
    expect(x.client_rx_push(bytes.length)).toBe(0);
  };
  /** The transport's handshake answer to what its hello wrote: CONNACK, or the 101 with the right accept. */
  const answer = (hello: Buffer) => {
    if (transport === "mqtt") return Buffer.from([0x20, 2, 0, 0]);
    const key = /\r\nSec-WebSocket-Key: (\S+)\r\n/.exec(hello.toString("latin1"))![1];
    const accept = createHash("sha1")
      .update(key + GUID)
      .digest("base64");
    return Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  };
  /** Whether `bytes` is exactly the transport's keep-alive probe: PINGREQ, or a masked empty ping frame. */
  const isPing = (bytes: Buffer) =>
    transport === "mqtt" ? bytes.equals(Buffer.from([0xc0, 0])) : bytes.length === 6 && bytes[0] === 0x89 && bytes[1] === 0x80;
  return { x, takeTx, events, step, push, answer, isPing };
}

const configs = fc.record({
  seed: fc.integer({ min: 1, max: 0xffffffff }),
  minMs: fc.integer({ min: 0, max: 5000 }),
  maxMs: fc.integer({ min: 0, max: 100_000 }),
  timeoutMs: fc.integer({ min: 1, max: 60_000 }),
  keepaliveS: fc.integer({ min: 1, max: 600 }),
});
const start = fc.integer({ min: 0, max: 0xffffffff }); // the host's clock may be anywhere, wraps included

/**
 * Starts, then lets `attempts` connects time out (EV_OPEN answered by nothing); returns
 * what the supervisor did: each attempt's events, its connect deadline and the backoff after it.
 */
function connectTimeouts(l: ReturnType<typeof link>, t0: number, attempts: number) {
  const trace: Array<{ open: [number, number]; connectDeadline: number; close: [number, number]; backoff: number }> = [];
  expect(l.x.client_start(t0)).toBe(0);
  let now = t0;
  for (let i = 0; i < attempts; i++) {
    const open = l.step(now);
    const connectDeadline = l.x.client_deadline(now) >>> 0;
    now = (now + connectDeadline) >>> 0;
    const close = l.step(now);
    const backoff = l.x.client_deadline(now) >>> 0;
    trace.push({ open, connectDeadline, close, backoff });
    now = (now + backoff) >>> 0;
  }
  return trace;
}

describe.each(ENGINES)("one supervisor, two transports, under %s", (engine) => {
  it("property: the backoff sequence and the connect deadline are the same over MQTT and WebSocket, and within bounds", () => {
    fc.assert(
      fc.property(configs, start, (c, t0) => {
        const mqtt = connectTimeouts(link(engine, "mqtt", c), t0, 6);
        const ws = connectTimeouts(link(engine, "ws", c), t0, 6);
        expect(ws).toEqual(mqtt);
        mqtt.forEach((a, i) => {
          expect(a.open).toEqual([Ev.open, 0]);
          expect(a.connectDeadline).toBe(c.timeoutMs);
          expect(a.close).toEqual([Ev.close, Err.KeepAliveTimeout]);
          // Full jitter: uniform in [0, min(max, min * 2^attempt)].
          expect(a.backoff).toBeLessThanOrEqual(Math.min(c.maxMs, c.minMs * 2 ** i));
        });
      }),
      { numRuns: 40 },
    );
  });

  it("property: connected, both ping when the keep-alive is due, and close when the answer does not come in time", () => {
    fc.assert(
      fc.property(configs, start, fc.constantFrom<Transport>("mqtt", "ws"), (c, t0, transport) => {
        const l = link(engine, transport, c);
        expect(l.x.client_start(t0)).toBe(0);
        expect(l.events(t0)).toEqual([[Ev.open, 0]]);
        expect(l.x.client_opened(t0)).toBe(0);
        l.push(l.answer(l.takeTx()));
        expect(l.events(t0)).toEqual([[Ev.connected, 0]]);
        // Nothing is due until the keep-alive (measured from the last write: the hello, at t0).
        expect(l.x.client_deadline(t0) >>> 0).toBe(c.keepaliveS * 1000);
        const pingAt = (t0 + c.keepaliveS * 1000) >>> 0;
        expect(l.events((pingAt - 1) >>> 0)).toEqual([]);
        expect(l.takeTx().length).toBe(0);
        expect(l.events(pingAt)).toEqual([]);
        expect(l.isPing(l.takeTx())).toBe(true);
        // Then the answer's deadline: the timeout from the ping.
        expect(l.x.client_deadline(pingAt) >>> 0).toBe(c.timeoutMs);
        const lateAt = (pingAt + c.timeoutMs) >>> 0;
        expect(l.events((lateAt - 1) >>> 0)).toEqual([]);
        expect(l.step(lateAt)).toEqual([Ev.close, Err.KeepAliveTimeout]);
        // A connection got through: the backoff starts from the minimum again.
        expect(l.x.client_deadline(lateAt) >>> 0).toBeLessThanOrEqual(Math.min(c.maxMs, c.minMs));
      }),
      { numRuns: 40 },
    );
  });

  it.each<Transport>(["mqtt", "ws"])("%s: a socket closed under it and a clean stop go through the same phases", (transport) => {
    const l = link(engine, transport, { seed: 7, minMs: 100, maxMs: 800, timeoutMs: 5000, keepaliveS: 60 });
    expect(l.x.client_opened(0)).toBe(-Err.ProtocolViolation); // no EV_OPEN yet
    expect(l.x.client_rx_push(1)).toBe(-Err.NotConnected);
    expect(l.x.client_start(0)).toBe(0);
    expect(l.events(0)).toEqual([[Ev.open, 0]]);
    expect(l.x.client_opened(1)).toBe(0);
    l.x.client_closed(2);
    expect(l.events(2)).toEqual([[Ev.close, Err.NotConnected]]);
    expect(l.x.client_rx_cap()).toBe(0);
    const wait = l.x.client_deadline(2) >>> 0;
    expect(wait).toBeLessThanOrEqual(100);
    expect(l.events(2 + wait)).toEqual([[Ev.open, 0]]);
    expect(l.x.client_opened(3 + wait)).toBe(0);
    l.push(l.answer(l.takeTx()));
    expect(l.events(4 + wait)).toEqual([[Ev.connected, 0]]);
    l.x.client_stop(5 + wait);
    expect(l.events(5 + wait)).toEqual([[Ev.close, 0]]);
    const goodbye = l.takeTx();
    // DISCONNECT, or a masked close frame with 1000.
    if (transport === "mqtt") expect(goodbye).toEqual(Buffer.from([0xe0, 0]));
    else expect([goodbye[0], goodbye[1], (goodbye[6] ^ goodbye[2]) * 256 + (goodbye[7] ^ goodbye[3])]).toEqual([0x88, 0x82, 1000]);
    expect(l.x.client_deadline(6 + wait) >>> 0).toBe(0xffffffff); // stopped: no timer, no reconnect
  });
});
