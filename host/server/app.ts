// The HTTP side: Fastify with its error answers and docs; the REST routes are plugins under /api/v1
// (host/server/routes/), behind the API-key check (auth.ts).
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { Logger } from "pino";
import { recordRoutes } from "./allowed-methods.ts";
import { auditRequests } from "./audit-hook.ts";
import { requireCaller, type SessionAuth } from "./auth.ts";
import { errorAnswer, schemaErrorMessage } from "./errors.ts";
import { jsonBodiesOnly } from "./json-body.ts";
import type { JwtVerifier } from "./jwt.ts";
import type { KnownDevice, RouteDeps, RoutePlugin } from "./routes/deps.ts";
import { auditRoutes } from "./routes/audit.ts";
import { deviceRoutes, knownDevice } from "./routes/devices.ts";
import { keyRoutes } from "./routes/keys.ts";
import { rpcRoutes } from "./routes/rpc.ts";
import cookie from "@fastify/cookie";
import { serveDashboard } from "./dashboard.ts";
import { documentRoute } from "./openapi.ts";
import { deviceOpenapiRoutes, serverUrl } from "./routes/device-openapi.ts";
import { eventRoutes } from "./routes/events.ts";
import { sessionRoutes } from "./routes/session.ts";
import { telemetryRoutes } from "./routes/telemetry.ts";
import { updateHistoryRoutes } from "./routes/update-history.ts";
import { releasesRoutes } from "./routes/releases.ts";
import { jobRoutes } from "./routes/jobs.ts";

export { HttpError } from "./errors.ts";
export { DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS } from "./routes/rpc.ts";

/** Devices have small bounded buffers; a bigger request could never be delivered. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;

export interface AppDeps extends RouteDeps {
  logger: Logger;
  /** More routes inside the API-key-protected /api/v1 scope (the WebSocket gateway's event streams); `known` 404s unknown ids. */
  moreRoutes?(api: FastifyInstance, known: KnownDevice): void;
  /** More route plugins for /api/v1, after the built-in ones. */
  plugins?: RoutePlugin[];
  bodyLimit?: number;
  logRequests?: boolean;
  /** JWTs from the configured issuer are accepted besides API keys. */
  jwt?: JwtVerifier;
  /** The dashboard's browser sessions: a third way in (auth.ts, SessionAuth). */
  session?: SessionAuth;
  /** Serve HTTPS with these options (tls/listener.ts serverTlsOptions) instead of HTTP. */
  https?: import("node:https").ServerOptions;
}

/** The built-in REST routes, in the order the docs list them. */
const ROUTES: RoutePlugin[] = [
  deviceRoutes,
  rpcRoutes,
  telemetryRoutes,
  deviceOpenapiRoutes,
  eventRoutes,
  sessionRoutes,
  releasesRoutes,
  updateHistoryRoutes,
  keyRoutes,
  jobRoutes,
  auditRoutes,
];

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { registry, metrics } = deps;
  const bodyLimit = deps.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = Fastify({
    ...(deps.https ? { https: deps.https } : {}),
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit,
    logController: new LogController({ disableRequestLogging: !deps.logRequests }),
    // No coercion: {"id": true} or {"method": 5} is a 400, not the string "true" or "5".
    ajv: { customOptions: { coerceTypes: false, allowUnionTypes: true } },
    schemaErrorFormatter: (errors, part) => schemaErrorMessage(errors, part),
  });
  jsonBodiesOnly(app);
  const allowedMethods = recordRoutes(app);

  app.setErrorHandler((err: Error, req, reply) => {
    const { status, body } = errorAnswer(err, bodyLimit);
    if (status >= 500) req.log.error({ err }, "request failed");
    if (status === 401) reply.header("www-authenticate", 'Bearer realm="outpost"'); // RFC 6750
    reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split("?")[0];
    const allowed = allowedMethods(path);
    if (allowed.length === 0)
      return reply.code(404).send({ error: "not_found", message: `no route ${req.method} ${path}; the API is under /api/v1, described at /docs` });
    reply
      .code(405)
      .header("allow", allowed.join(", "))
      .send({ error: "method_not_allowed", message: `${req.method} is not allowed on ${path}; use ${allowed.join(", ")}` });
  });
  // Callback-style hooks on the hot path: an async hook costs a promise per request.
  app.addHook("onResponse", (req, reply, done) => {
    metrics.countRequest(req.method, req.routeOptions.url ?? "unmatched", reply.statusCode);
    done();
  });

  await app.register(cookie);
  await app.register(swagger, {
    transform: documentRoute as never,
    openapi: {
      servers: [{ url: "/", description: "this backend (GET /openapi.json names its absolute URL)" }],
      info: { title: "outpost", version: "1", description: "REST in, JSON-RPC out: call devices behind NAT." },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "an API key from `outpost key create`, or a JWT from the configured issuer" },
        },
      },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, async (req) => ({ ...app.swagger(), servers: [{ url: serverUrl(req) }] }));
  await serveDashboard(app);
  app.get("/metrics", { schema: { hide: true } }, async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  await app.register(
    async (api) => {
      requireCaller(api, { registry, jwt: deps.jwt, session: deps.session, audit: registry.audit });
      auditRequests(api, registry.audit);
      for (const plugin of [...ROUTES, ...(deps.plugins ?? [])]) await api.register(async (scope) => plugin(scope, deps));
      deps.moreRoutes?.(api, knownDevice(deps));
    },
    { prefix: "/api/v1" },
  );
  return app;
}
