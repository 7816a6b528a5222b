// 405 instead of 404 for a known path asked with the wrong method: every route is recorded as it is added, and
// a request no route took is matched against the paths alone, giving the methods for its Allow header.
import type { FastifyInstance } from "fastify";

interface PathRoute {
  pattern: RegExp;
  methods: Set<string>;
}

/** "/api/v1/devices/:id/rpc" -> a RegExp over a request path; "*" takes the rest of the path. */
function pathPattern(url: string): RegExp {
  const source = url
    .split("/")
    .map((level) => (level === "*" ? ".*" : level.startsWith(":") ? "[^/]+" : level.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}/?$`);
}

/** Call before any route is added; returns the methods allowed on a path (empty: no such path). */
export function recordRoutes(app: FastifyInstance): (path: string) => string[] {
  const routes = new Map<string, PathRoute>();
  app.addHook("onRoute", (route) => {
    let entry = routes.get(route.url);
    if (!entry) routes.set(route.url, (entry = { pattern: pathPattern(route.url), methods: new Set() }));
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) entry.methods.add(m);
  });
  return (path) => {
    const allowed = new Set<string>();
    for (const r of routes.values()) if (r.pattern.test(path)) for (const m of r.methods) allowed.add(m);
    return [...allowed].sort();
  };
}
