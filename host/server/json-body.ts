// The only body parser: JSON, at most the body limit, depth-checked before JSON.parse (a body 20,000 arrays deep
// would otherwise overflow the stack in validation or when written again: a 500 instead of a named 400). Every
// other Content-Type is refused by Fastify with 415, which errors.ts words as "send application/json".
import type { FastifyInstance } from "fastify";
import { parseBoundedJson } from "../rpc/json-bounds.ts";

export function jsonBodiesOnly(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, text, done) => {
    // An empty body with the JSON Content-Type counts as no body (curl -X POST -H 'Content-Type: application/json').
    if (text === "") return done(null, undefined);
    try {
      done(null, parseBoundedJson(text as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
