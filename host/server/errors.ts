// One shape for every REST error, whoever raises it (a route, Fastify's body parsing, schema validation, the
// router): {"error": "<snake_case name>", "message": "<what went wrong and what to send instead>"}, plus named
// members where they help (delivered, device_max, ...). Fastify's own errors are translated here.
import { RegistryUnavailable } from "../registry/postgres.ts";
import type { FastifyError } from "fastify";
import { JsonTooDeep, MAX_JSON_DEPTH } from "../rpc/json-bounds.ts";

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** More members of the body, e.g. the device's maximum for a 413. */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface ErrorAnswer {
  status: number;
  body: { error: string; message: string; [more: string]: unknown };
}

/** The body schema of an error answer (Fastify drops members a response schema does not name). */
export const errorBody = {
  type: "object",
  properties: { error: { type: "string" }, message: { type: "string" }, scope: { type: "string", description: "insufficient_scope: the scope needed" } },
  required: ["error", "message"],
} as const;

const JSON_NEEDED = "send the body as JSON with Content-Type: application/json";

/** The answer for any error a request ended with; `bodyLimit` is the configured largest body in bytes. */
export function errorAnswer(err: FastifyError | Error, bodyLimit: number): ErrorAnswer {
  if (err instanceof HttpError) return { status: err.statusCode, body: { error: err.code, message: err.message, ...err.extra } };
  if (err instanceof RegistryUnavailable)
    return {
      status: 503,
      body: {
        error: "registry_unavailable",
        delivered: false,
        message: "the registry's database did not answer: no device was called; a change may or may not have been saved, so read it back before retrying",
      },
    };
  if (err instanceof JsonTooDeep)
    return { status: 400, body: { error: "json_too_deep", message: `the body nests deeper than ${MAX_JSON_DEPTH} levels of arrays and objects` } };
  const e = err as FastifyError & { validation?: unknown };
  if (e.validation) return { status: 400, body: { error: "bad_request", message: e.message } };
  switch (e.code) {
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return { status: 415, body: { error: "unsupported_media_type", message: "this API takes JSON bodies only: send Content-Type: application/json" } };
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return { status: 413, body: { error: "body_too_large", message: `the body is over ${bodyLimit} bytes; send at most ${bodyLimit}` } };
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return { status: 400, body: { error: "bad_content_length", message: "Content-Length does not match the body sent" } };
  }
  if (err instanceof SyntaxError) return { status: 400, body: { error: "bad_json", message: `the body is not valid JSON (${err.message}); ${JSON_NEEDED}` } };
  const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  if (status >= 500) return { status, body: { error: "internal_error", message: "the backend failed on this request; see its log" } };
  return { status, body: { error: "bad_request", message: e.message } };
}

/** The part of Ajv's error used here. */
interface SchemaError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/**
 * Schema failures as one sentence naming the member and what it must be, e.g. `body.jsonrpc must be "2.0"`
 * (Fastify's schemaErrorFormatter; `part` is body, querystring or params).
 */
export function schemaErrorMessage(errors: SchemaError[], part: string): Error {
  const e = errors[0];
  const where = part + e.instancePath.replaceAll("/", ".");
  let what: string;
  switch (e.keyword) {
    case "const":
      what = `must be ${JSON.stringify(e.params.allowedValue)}`;
      break;
    case "required":
      return new Error(`${where}.${String(e.params.missingProperty)} is required`);
    case "type": {
      const types = String(e.params.type).split(",");
      what = `must be ${types.map((t) => (t === "array" || t === "object" ? `an ${t}` : `a ${t}`)).join(" or ")}`;
      if (e.instancePath === "" && part === "body") what += `: send one JSON ${types[0]} with Content-Type: application/json`;
      break;
    }
    default:
      what = e.message ?? "is not valid";
  }
  return new Error(`${where} ${what}`);
}
