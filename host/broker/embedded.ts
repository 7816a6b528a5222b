// The embedded broker: aedes served on a node:net socket, with the per-device ACL hooks. The backend sees it
// through EmbeddedBroker, which the broker cluster (cluster.ts) implements too.
import { Aedes, type AedesPublishPacket } from "aedes";
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import { deviceTopics, type AclHooks } from "./acl.ts";
import { limitPacketSize, MAX_DEVICE_PACKET, MAX_PACKET_BEFORE_LOGIN } from "./packet-limits.ts";
import { AedesBus, type Bus } from "../rpc/bus.ts";
import { DEFAULT_OUTBOUND_LIMITS, type OutboundLimits } from "../rpc/outbound.ts";
import type { SharedBrokerState } from "./redis.ts";

export interface EmbeddedBroker {
  /** The plaintext MQTT port (0 when TLS only). */
  port: number;
  /** The MQTT over TLS port, if it listens. */
  tlsPort?: number;
  /** The backend's own connection to the broker, in-process. */
  bus: Bus;
  /** Whether device `id` is connected with its rx subscription in place. */
  receives(id: string): boolean;
  /**
   * Whether another node may hold device `id` (shared through Redis, and not connected here): then its retained
   * status decides, since a node lets a device's "online" through only once its rx subscription is in place.
   */
  elsewhere(id: string): boolean;
  /**
   * Whether device `id`'s connection has as much queued as it may (it does not read its socket): a request now
   * would wait behind the rest, so it is refused instead. False where the sockets are in other processes.
   */
  busy(id: string): boolean;
  /**
   * Drops a device's connection (it was deleted, or connected over another transport) and forgets its kept
   * session, so a device registered later under the same id starts fresh. What the connection still publishes, its
   * will included, is dropped, so its retained status is not overwritten by the connection that is going.
   */
  disconnect(id: string): Promise<void>;
  /** Drops every device connection whose credential is no longer the registry's (removed or re-credited meanwhile). */
  revalidate(): void;
  /** The processes holding MQTT connections, with how many devices and clients on the backend's credentials each holds. */
  processes(): { pid: number; devices: number; privileged: number }[];
  close(): Promise<void>;
}

export interface DeviceEvents {
  /** A device logged in, with its will if it set one (the cluster closes its older connection in another process). */
  onDeviceConnected?(id: string, will: Will | undefined): void;
  /** A device has subscribed its rx (a status that overtook the SUBSCRIBE counts from now). */
  onDeviceSubscribed?(id: string): void;
  /** A device's connection ended and no newer connection of the same device replaced it. */
  onDeviceGone?(id: string): void;
  /** A device sent PINGREQ: its link and its loop are alive. */
  onDevicePing?(id: string): void;
}

export interface EmbeddedBrokerOptions extends DeviceEvents {
  port: number;
  host?: string;
  prefix: string;
  hooks: AclHooks;
  /**
   * Whether a client that asks for a kept session gets one (default true). The cluster's workers say false: a
   * reconnect may land in another process, and a session left in the first would later deliver stale requests.
   */
  keepSessions?: boolean;
  /** Runs before the first client can connect (the backend subscribes there, so it misses nothing). */
  beforeListen?: (bus: Bus) => Promise<void>;
  /** Every message a client published and the ACL let through (the cluster forwards them to its other processes). */
  onClientPublish?(packet: AedesPublishPacket, deviceId: string | undefined): void;
  /** A connection closed for a named reason of ours (PacketTooLarge, RetainedTooLarge, AclRefused), to be logged. */
  onRefused?(err: Error, deviceId: string | undefined): void;
  /** Largest packet before login and a device's largest packet, in bytes (defaults in packet-limits.ts). */
  limits?: { beforeLogin?: number; device?: number };
  /** A client with the backend's credentials came or went; unlike a device, it may subscribe to anything. */
  onPrivilegedClient?(connected: boolean): void;
  /** What may wait for one device's socket (default DEFAULT_OUTBOUND_LIMITS). */
  outbound?: OutboundLimits;
  /** Pub/sub and state shared with the other nodes through Redis (host/broker/redis.ts); in memory when absent. */
  shared?: SharedBrokerState;
  /** Shared: how often this node tells the others it is alive, in ms; a dead node's wills fire after 3 to 7 of these. */
  heartbeatMs?: number;
  /** false: no MQTT listener (a node that only publishes and subscribes, like the primary of --mqtt-workers). */
  listen?: boolean;
  /** MQTT over TLS on `tls.port` (tls/listener.ts serverTlsOptions); the plaintext `port` too only if `plaintext`. */
  tls?: { port: number; options: TlsOptions; plaintext?: boolean };
}

/** A node's heartbeat period when shared (aedes's default is a minute: wills of a dead node would wait minutes). */
export const DEFAULT_HEARTBEAT_MS = 2000;

/**
 * Deliveries aedes may run at once (its default is 100). A device whose socket is full holds one slot per message
 * until it drains; with the bus's per-device bound, many such devices fit before anyone else waits for a slot.
 */
const DELIVERY_SLOTS = 65_536;
/** The refusals of ours that close a connection, logged by name. */
const NAMED_REFUSALS = new Set(["PacketTooLarge", "RetainedTooLarge", "AclRefused"]);

export type SingleBroker = EmbeddedBroker & { aedes: Aedes };
export type Will = Pick<AedesPublishPacket, "topic" | "payload" | "qos" | "retain">;

export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<SingleBroker> {
  const { authenticate, authorizePublish, authorizeSubscribe, authorizeForward, identity, stillValid, revoke } = opts.hooks;
  const beforeLogin = opts.limits?.beforeLogin ?? MAX_PACKET_BEFORE_LOGIN;
  const devicePacket = opts.limits?.device ?? MAX_DEVICE_PACKET;
  const shared = opts.shared;
  const heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const keep = opts.keepSessions ?? true;
  const limits = opts.outbound ?? DEFAULT_OUTBOUND_LIMITS;
  /** Bytes waiting in a client's socket (written, not yet taken by the kernel: the peer does not read). */
  const queuedBytes = (client: unknown) => (client as { conn?: { writableLength?: number } } | undefined)?.conn?.writableLength ?? 0;
  // Whatever its origin (the bus, another worker, a session), nothing more is queued for a device whose socket is full.
  const forward: typeof authorizeForward = (client, packet) => {
    if (queuedBytes(client) >= limits.maxBytes) return null;
    // Shared: a connection that restores its session while requests keep coming gets a queued message twice, once
    // from its stored queue and once live (aedes dedupes only the live path). Each message goes to it once.
    if (shared && packet.qos > 0 && client && deliveredBefore(client, packet)) return null;
    return authorizeForward(client, packet);
  };
  /**
   * Shared: "online" statuses waiting for their connection's rx subscription, by connection. One that never
   * subscribes never shows online anywhere (as on one node, where presence asks for the subscription too).
   */
  const holding = new Map<object, (() => void)[]>();
  /** The connection subscribed its rx (the held statuses go out) or ended (they are dropped, never published). */
  const release = (client: object, publish: boolean) => {
    const held = holding.get(client);
    holding.delete(client);
    if (publish) held?.forEach((go) => go());
  };
  const claimsOnline = (payload: unknown) => {
    try {
      return JSON.parse(String(payload))?.online === true;
    } catch {
      return false; // the ACL decides about the rest
    }
  };
  /** Shared: the last status each connection here published itself (what it reasserts over a stale "offline"). */
  const ownStatus = new WeakMap<object, AedesPublishPacket["payload"]>();
  // Shared: every node trusts a device's retained status, so "online" must not overtake the rx subscription.
  const publishGate: typeof authorizePublish = shared
    ? (client, packet, authorized) => {
        const id = client ? deviceOf(client) : undefined;
        const status = client !== null && id !== undefined && packet.topic === deviceTopics(opts.prefix, id).status;
        if (!status) return authorizePublish(client, packet, authorized);
        // A stored will (it carries the node that stored it) is not what the connection said, even when aedes
        // fires a dead node's will with the device's live connection here as its client.
        const done: typeof authorized =
          "brokerId" in packet
            ? authorized
            : (err) => {
                if (!err) ownStatus.set(client, packet.payload);
                authorized(err);
              };
        if (receives(id) || !claimsOnline(packet.payload)) return authorizePublish(client, packet, done);
        holding.set(client, [...(holding.get(client) ?? []), () => authorizePublish(client, packet, done)]);
      }
    : authorizePublish;
  /** Set once aedes exists (a takeover message from another node may arrive while it starts). */
  let started: Aedes | undefined;
  if (shared) {
    // Registered before aedes's own listener, which closes the connection a device replaced through another node:
    // what that connection still publishes (its will, "offline") must not overwrite the new connection's status.
    (shared.mq as { on(topic: string, listener: (packet: AedesPublishPacket, done: () => void) => void): void }).on("$SYS/+/new/clients", (packet, done) => {
      const table = (started as unknown as { clients: Record<string, object | undefined> } | undefined)?.clients;
      const replaced = started && packet.topic.split("/")[1] !== started.id ? table?.[packet.payload.toString()] : undefined;
      if (replaced) revoke(replaced as unknown as Parameters<typeof revoke>[0]);
      done();
    });
  }
  const aedes = await Aedes.createBroker({
    authenticate,
    authorizePublish: publishGate,
    ...(shared ? { mq: shared.mq, persistence: shared.persistence, heartbeatInterval: heartbeatMs } : {}),
    authorizeSubscribe,
    authorizeForward: forward,
    concurrency: DELIVERY_SLOTS,
    // Read after this hook: a clean session starts fresh and ends with the connection, whatever the client asked.
    preConnect: (client, packet, done) => {
      if (!keep) packet.clean = true;
      // aedes pauses reading at its authenticate step, a tick later: a packet that arrives in between in a read of
      // its own (a TLS record after the CONNECT's) would be handled before the login and refused. Paused from here.
      (client as unknown as { pause(): void }).pause();
      done(null, true);
    },
  });
  started = aedes;
  const bus = new AedesBus(aedes);
  /** aedes's own table of connected clients by id (a device's client id is its device id). */
  const clients = (aedes as unknown as { clients: Record<string, { close(done?: () => void): void; subscriptions?: Record<string, unknown> } | undefined> })
    .clients;
  const receives = (id: string) => clients[id]?.subscriptions?.[deviceTopics(opts.prefix, id).rx] !== undefined;
  const busy = (id: string) => queuedBytes(clients[id]) >= limits.maxBytes || bus.inFlight.messages(deviceTopics(opts.prefix, id).rx) >= limits.maxMessages;
  const deviceOf = (client: Parameters<typeof identity>[0]) => {
    const who = identity(client);
    return who?.kind === "device" ? who.id : undefined;
  };

  const privileged = (client: Parameters<typeof identity>[0]) => client !== null && identity(client)?.kind === "backend";
  /**
   * Shared: when each node was last heard from. aedes forgets a dead node at once, but its wills stay stored until
   * some node streams them, within 7 heartbeats; kept for 20.
   */
  const brokersHeard = new Map<string, number>();
  const otherBrokers = () => {
    for (const [id, at] of brokersHeard) if (Date.now() - at > 20 * heartbeatMs) brokersHeard.delete(id);
    return [...new Set([...brokersHeard.keys(), ...Object.keys((aedes as unknown as { brokers: Record<string, number> }).brokers)])].filter(
      (id) => id !== aedes.id,
    );
  };
  aedes.on("client", (client) => {
    const id = deviceOf(client);
    if (id && shared) void dropWillsElsewhere(aedes, id, otherBrokers());
    if (id) opts.onDeviceConnected?.(id, (client as { will?: Will | null }).will ?? undefined);
    else if (privileged(client)) opts.onPrivilegedClient?.(true);
  });
  aedes.on("subscribe", (_subs, client) => {
    const id = deviceOf(client);
    if (id && client && receives(id) && clients[id] === (client as object)) {
      release(client, true);
      opts.onDeviceSubscribed?.(id);
    }
  });
  if (opts.onDevicePing) {
    const ping = opts.onDevicePing;
    aedes.on("ping", (_packet, client) => {
      const id = deviceOf(client);
      if (id) ping(id);
    });
  }
  // A device that leaves without its will firing (clean DISCONNECT, no offline status) is still gone.
  aedes.on("clientDisconnect", (client) => {
    release(client, false);
    const id = deviceOf(client);
    if (!id) {
      if (privileged(client)) opts.onPrivilegedClient?.(false);
    } else if (!clients[id] || clients[id] === (client as object)) opts.onDeviceGone?.(id);
  });
  if (opts.onClientPublish) {
    const forward = opts.onClientPublish;
    // A null client is the broker's own publish ($SYS, the bus, or a message another process forwarded).
    aedes.on("publish", (packet, client) => {
      if (client) forward(packet, deviceOf(client));
    });
  }

  const refused = (client: Parameters<typeof identity>[0], err: Error) => {
    if (NAMED_REFUSALS.has(err.name)) opts.onRefused?.(err, deviceOf(client));
  };
  aedes.on("clientError", refused);
  aedes.on("connectionError", refused);
  const kick = (client: { close(): void } | undefined) => {
    if (!client) return;
    revoke(client as Parameters<typeof revoke>[0]);
    client.close();
  };

  if (shared) {
    const subscribe = (topic: string, handler: (packet: AedesPublishPacket) => void) =>
      new Promise<void>((resolve) =>
        aedes.subscribe(
          topic,
          (packet: AedesPublishPacket, done: () => void) => {
            handler(packet);
            done();
          },
          resolve,
        ),
      );
    await subscribe("$SYS/+/heartbeat", (packet) => brokersHeard.set(packet.payload.toString(), Date.now()));
    // A will of a dead node may still fire after its device came back here (aedes streams the wills of nodes it
    // stopped hearing from, and another node may be doing so right now): the live connection reasserts its status.
    const depth = opts.prefix.split("/").length;
    await subscribe(`${opts.prefix}/+/status`, (packet) => {
      const id = packet.topic.split("/")[depth];
      const client = clients[id];
      const own = client && !(client as { closed?: boolean }).closed && ownStatus.get(client);
      if (!own || !receives(id) || claimsOnline(packet.payload) || !claimsOnline(own)) return;
      aedes.publish({ cmd: "publish", topic: packet.topic, payload: own, qos: 1, retain: true, dup: false }, () => {});
    });
    // aedes tells every node of each login (its takeover message): a device that logs in through another node
    // replaces its connections here, the WebSocket one included.
    const connected = opts.onDeviceConnected;
    if (connected)
      await subscribe("$SYS/+/new/clients", (packet) => {
        if (packet.topic.split("/")[1] !== aedes.id) connected(packet.payload.toString(), undefined);
      });
  }
  await opts.beforeListen?.(bus);
  const sockets = new Set<Socket>();
  const listening = opts.listen ?? true;
  const onSocket = (socket: Socket) => {
    socket.setNoDelay(true); // small RPC packets must not wait for Nagle
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    const client = aedes.handle(socket);
    // The backend's own clients may send what they need; a device only up to its limit; anyone else a CONNECT.
    limitPacketSize(client, () => {
      const who = identity(client);
      return who === undefined ? beforeLogin : who.kind === "device" ? devicePacket : Number.POSITIVE_INFINITY;
    });
  };
  const listen = async (server: Server, port: number) => {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, opts.host ?? "127.0.0.1", () => resolve());
    });
    servers.push(server);
    return (server.address() as { port: number }).port;
  };
  const servers: Server[] = [];
  let port = 0;
  let tlsPort: number | undefined;
  try {
    // A handshake that never finishes holds no aedes client: only a secure connection is handed over.
    if (listening && opts.tls)
      tlsPort = await listen(
        createTlsServer(opts.tls.options, onSocket).on("tlsClientError", () => {}),
        opts.tls.port,
      );
    if (!listening) port = opts.port;
    else if (!opts.tls || opts.tls.plaintext) port = await listen(createServer(onSocket), opts.port);
  } catch (err) {
    for (const s of servers) s.close();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw err;
  }
  return {
    aedes,
    port,
    tlsPort,
    bus,
    receives,
    elsewhere: (id) => shared !== undefined && !clients[id],
    busy,
    async disconnect(id) {
      // Shared: aedes's own takeover message makes whichever node holds the device close its connection.
      if (shared)
        aedes.publish({ cmd: "publish", topic: `$SYS/${aedes.id}/new/clients`, payload: Buffer.from(id), qos: 0, retain: false, dup: false }, () => {});
      const client = clients[id];
      if (client) {
        revoke(client as unknown as Parameters<typeof revoke>[0]);
        await new Promise<void>((resolve) => client.close(resolve));
      }
      await forgetSession(aedes, id);
    },
    revalidate() {
      for (const client of Object.values(clients) as Parameters<typeof identity>[0][])
        if (client && !stillValid(client)) {
          const id = deviceOf(client);
          kick(client as unknown as { close(): void });
          if (id) void forgetSession(aedes, id); // a device added again under this id starts fresh
        }
    },
    processes() {
      const all = Object.values(clients) as Parameters<typeof identity>[0][];
      return [{ pid: process.pid, devices: all.filter((c) => deviceOf(c)).length, privileged: all.filter(privileged).length }];
    },
    async close() {
      await bus.close();
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await shared?.close();
    },
  };
}

/** The part of aedes's persistence (untyped in its declarations) that holds a client's session. */
interface SessionStore {
  cleanSubscriptions(client: { id: string }): Promise<void>;
  outgoingStream(client: { id: string }): AsyncIterable<AedesPublishPacket>;
  outgoingClearMessageId(client: { id: string }, packet: AedesPublishPacket): Promise<unknown>;
  cleanIncoming?(client: { id: string }): Promise<void>;
  delWill(client: { id: string }): Promise<unknown>;
}

/** Per connection, the last QoS 1/2 messages forwarded to it, by origin broker and counter (bounded). */
const forwarded = new WeakMap<object, Set<string>>();
const FORWARDED_KEPT = 1024;
function deliveredBefore(client: object, packet: AedesPublishPacket): boolean {
  const p = packet as AedesPublishPacket & { brokerId?: string; brokerCounter?: number };
  if (!p.brokerId) return false;
  const key = `${p.brokerId}:${p.brokerCounter}`;
  let seen = forwarded.get(client);
  if (!seen) forwarded.set(client, (seen = new Set()));
  if (seen.has(key)) return true;
  seen.add(key);
  if (seen.size > FORWARDED_KEPT) seen.delete(seen.values().next().value!);
  return false;
}

/**
 * Shared: a device that connects here leaves the wills its connections through other nodes stored, so a dead
 * node's will ("offline") cannot fire after the device came back through this one.
 */
async function dropWillsElsewhere(aedes: Aedes, id: string, brokers: string[]): Promise<void> {
  const store = (aedes as unknown as { persistence: SessionStore }).persistence;
  for (const brokerId of brokers) await store.delWill({ id, brokerId } as { id: string }).catch(() => {});
}

/** Removes what aedes keeps of client `id` between connections: subscriptions, queued messages, QoS 2 state, will. */
async function forgetSession(aedes: Aedes, id: string): Promise<void> {
  const store = (aedes as unknown as { persistence: SessionStore }).persistence;
  const client = { id };
  await store.cleanSubscriptions(client);
  const queued: AedesPublishPacket[] = [];
  for await (const packet of store.outgoingStream(client)) queued.push(packet); // a copy: clearing edits the queue
  for (const packet of queued) await store.outgoingClearMessageId(client, packet);
  await store.cleanIncoming?.(client);
  await store.delWill(client);
}
