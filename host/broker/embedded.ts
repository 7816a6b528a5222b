// The embedded broker: aedes served on a node:net socket, with the per-device ACL hooks.
import { Aedes } from "aedes";
import { createServer, type Server, type Socket } from "node:net";
import type { AclHooks } from "./acl.ts";

export interface EmbeddedBroker {
  aedes: Aedes;
  port: number;
  /** Drops a device's connection (used when the device is deleted). */
  disconnect(clientId: string): void;
  close(): Promise<void>;
}

/** `beforeListen` runs before the first client can connect (the backend subscribes there, so it misses nothing). */
export async function startEmbeddedBroker(opts: {
  port: number;
  host?: string;
  hooks: AclHooks;
  beforeListen?: (aedes: Aedes) => Promise<void>;
}): Promise<EmbeddedBroker> {
  const { authenticate, authorizePublish, authorizeSubscribe, authorizeForward } = opts.hooks;
  const aedes = await Aedes.createBroker({ authenticate, authorizePublish, authorizeSubscribe, authorizeForward });
  await opts.beforeListen?.(aedes);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    socket.setNoDelay(true); // small RPC packets must not wait for Nagle
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "0.0.0.0", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const clients = (aedes as unknown as { clients: Record<string, { close(): void }> }).clients;
  return {
    aedes,
    port,
    disconnect(clientId) {
      clients[clientId]?.close();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
