// What the route plugins are given: the backend's parts, shared by every plugin in /api/v1.
import type { FastifyInstance } from "fastify";
import type { DeviceRecord, Registry } from "../../registry/registry.ts";
import type { RpcCorrelator } from "../../rpc/correlator.ts";
import type { PresenceTracker } from "../../rpc/presence.ts";
import type { Metrics } from "../metrics.ts";
import type { TelemetryStore } from "../../registry/telemetry.ts";
import type { SessionStore } from "../../registry/sessions.ts";
import type { ParamSchemas } from "../../rpc/param-schema.ts";
import type { EventHub } from "../events.ts";
import type { OtaDeps } from "./releases.ts";
import type { JobRunner } from "../../jobs/runner.ts";

export interface RouteDeps {
  registry: Registry;
  presence: PresenceTracker;
  correlator: RpcCorrelator;
  metrics: Metrics;
  /** Drops a deleted device's connection and kept session, and clears its retained status. */
  disconnectDevice(id: string): Promise<void>;
  /** A sys.info answer came back through REST: the device's announced limits may be in it. */
  onSysInfo?(id: string, answer: string): void;
  /** Telemetry history per device (GET /devices/:id/telemetry). */
  telemetry: TelemetryStore;
  /** The fleet-wide event stream (GET /events): presence, telemetry, and whatever else publishes to it. */
  events: EventHub;
  /** Each online device's rpc.list: params are checked against it before sending. */
  paramSchemas: ParamSchemas;
  /** Browser sessions (POST /session). */
  sessions: SessionStore;
  /** SSE heartbeat period in ms (default 15000). */
  sseHeartbeatMs?: number;
  /** Releases and updates (routes/releases.ts); absent: no OTA routes. */
  ota?: OtaDeps;
  /** Each device's finished updates (routes/update-history.ts). */
  updateHistory?: import("../../registry/update-history.ts").UpdateHistory;
  /** Fleet jobs (routes/jobs.ts); without it, no /jobs routes. */
  jobs?: JobRunner;
  /** A job's event stream sends a heartbeat comment this often (default 15 s). */
  jobHeartbeatMs?: number;
  /** The CAs behind device certificates (routes/credentials.ts). */
  credentials?: import("./credentials.ts").CredentialDeps;
}

/** A route plugin: registered inside /api/v1, behind the API-key check. */
export type RoutePlugin = (api: FastifyInstance, deps: RouteDeps) => Promise<void>;

export type KnownDevice = (id: string) => DeviceRecord;
