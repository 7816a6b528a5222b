// A route's scope (`config: { scope }`): what an API key must be allowed to do to use it. The API-key check
// (auth.ts) enforces it; routes declare it here once.
export type RouteScope = "read" | "call" | "admin" | "ota";

declare module "fastify" {
  interface FastifyContextConfig {
    scope?: RouteScope;
  }
}
