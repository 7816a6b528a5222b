// The dashboard: static files built by tools/build-dashboard.mjs into build/dashboard/ (dist/build/dashboard/ in the
// package), served at / with no CDN, so it works offline. A strict Content-Security-Policy: only its own scripts and
// styles, and API calls to this origin.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import fastifyStatic from "@fastify/static";

/** Where the built dashboard is, from host/server/ or dist/host/server/ alike (as host/engine.ts finds build/). */
export const DASHBOARD_DIR = join(import.meta.dirname, "../../build/dashboard");

const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

export async function serveDashboard(app: FastifyInstance, dir = DASHBOARD_DIR): Promise<void> {
  if (!existsSync(join(dir, "index.html"))) {
    app.get("/", { schema: { hide: true } }, async (_req, reply) =>
      reply.code(404).send({ error: "dashboard_not_built", message: "the dashboard is not built: run `npm run build:dashboard`" }),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root: dir,
    wildcard: false, // one route per built file: other paths stay 404/405 (allowed-methods.ts)
    setHeaders: (res, path) => {
      res.header("content-security-policy", CSP);
      res.header("x-content-type-options", "nosniff");
      res.header("referrer-policy", "no-referrer");
      // index.html names the bundle; both are rebuilt together, so nothing is cached for long.
      res.header("cache-control", path.endsWith(".html") ? "no-cache" : "public, max-age=300");
    },
  });
}
