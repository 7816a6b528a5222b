// Prometheus metrics for /metrics.
import { Registry as PromRegistry, Counter, Gauge, Histogram, collectDefaultMetrics } from "prom-client";

export function createMetrics(sources: { devicesOnline(): number; devicesRegistered(): number; rpcInFlight(): number; answersReceived(): number }) {
  const registry = new PromRegistry();
  collectDefaultMetrics({ register: registry, prefix: "outpost_" });
  const httpRequests = new Counter({
    name: "outpost_http_requests_total",
    help: "HTTP requests by route and status code",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  const rpcDuration = new Histogram({
    name: "outpost_rpc_duration_seconds",
    help: "REST-to-device RPC time, by outcome (ok, timeout, offline, busy, suspect)",
    labelNames: ["outcome"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: "outpost_devices_online",
    help: "Devices whose status says online",
    registers: [registry],
    collect() {
      this.set(sources.devicesOnline());
    },
  });
  new Gauge({
    name: "outpost_devices_registered",
    help: "Devices in the registry",
    registers: [registry],
    collect() {
      this.set(sources.devicesRegistered());
    },
  });
  new Gauge({
    name: "outpost_rpc_in_flight",
    help: "RPC requests waiting for a device",
    registers: [registry],
    collect() {
      this.set(sources.rpcInFlight());
    },
  });
  new Counter({
    name: "outpost_device_answers_received_total",
    help: "Device answers (tx messages) this node received; with several nodes, only the answers to its own calls",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.answersReceived());
    },
  });
  // Labelled children looked up once: prom-client hashes the label object on every inc/observe otherwise.
  const requestCounters = new Map<string, { inc(): void }>();
  const outcomes = {
    ok: rpcDuration.labels("ok"),
    timeout: rpcDuration.labels("timeout"),
    offline: rpcDuration.labels("offline"),
    busy: rpcDuration.labels("busy"),
    suspect: rpcDuration.labels("suspect"),
  };
  return {
    registry,
    countRequest(method: string, route: string, status: number): void {
      const key = `${method} ${status} ${route}`;
      let counter = requestCounters.get(key);
      if (!counter) requestCounters.set(key, (counter = httpRequests.labels(method, route, String(status))));
      counter.inc();
    },
    rpcDone(outcome: keyof typeof outcomes, seconds: number): void {
      outcomes[outcome].observe(seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
