// What the route plugins are given: the backend's parts, shared by every plugin in /api/v1.
import type { FastifyInstance } from "fastify";
import type { DeviceRecord, Registry } from "../../registry/registry.ts";
import type { RpcCorrelator } from "../../rpc/correlator.ts";
import type { PresenceTracker } from "../../rpc/presence.ts";
import type { Metrics } from "../metrics.ts";

export interface RouteDeps {
  registry: Registry;
  presence: PresenceTracker;
  correlator: RpcCorrelator;
  metrics: Metrics;
  /** Drops a deleted device's connection and kept session, and clears its retained status. */
  disconnectDevice(id: string): Promise<void>;
  /** A sys.info answer came back through REST: the device's announced limits may be in it. */
  onSysInfo?(id: string, answer: string): void;
  /** The CAs behind device certificates (routes/credentials.ts). */
  credentials?: import("./credentials.ts").CredentialDeps;
}

/** A route plugin: registered inside /api/v1, behind the API-key check. */
export type RoutePlugin = (api: FastifyInstance, deps: RouteDeps) => Promise<void>;

export type KnownDevice = (id: string) => DeviceRecord;
