// The host's half of the method table: what the module reaches through
// `outpost.host_call` (assembly/ABI.md, "JSON-RPC"). Built-ins (rpc.list's
// host part, sys.info's host part, config.get, config.set) plus the user's.
import type { HostCallResult } from "../engine.ts";

export type MethodHandler = (params: any) => unknown;
export interface MethodSpec {
  handler: MethodHandler;
  description?: string;
  /** JSON Schema of `params`; {} accepts anything. */
  params?: object;
}
export type Method = MethodHandler | MethodSpec;

/**
 * A method failure with a JSON-RPC code: the same error class the plain-JS device
 * uses. Any thrown object with an integer `code` and a string `message` is answered
 * the same way; anything else becomes -32000 with its message.
 */
export { JsonRpcMethodError as RpcError } from "../rpc/js-device.ts";
import { JsonRpcMethodError as RpcError } from "../rpc/js-device.ts";

export const SERVER_ERROR = -32000;
export const INVALID_PARAMS = -32602;

export interface HostInfo {
  engine: string;
  board: string;
  memoryLimit: number;
  /** The device's limits in bytes, announced so the backend refuses what would not fit (413) instead of sending it. */
  requestMax: number;
  responseMax: number;
  /** The MQTT Maximum Packet Size it connected with (absent over WebSocket or before connecting). */
  maxPacket?: number;
  /** More members (the OTA agent's `app`). */
  extra?: Record<string, unknown>;
}

function errorAnswer(err: unknown): HostCallResult {
  const e = err as { code?: unknown; message?: unknown; data?: unknown } | null;
  const coded = e && Number.isInteger(e.code) && typeof e.message === "string";
  const body: { code: number; message: string; data?: unknown } = coded
    ? { code: e.code as number, message: e.message as string }
    : { code: SERVER_ERROR, message: e instanceof Error ? e.message : String(err) };
  if (coded && e.data !== undefined) body.data = e.data;
  try {
    return { error: JSON.stringify(body) };
  } catch {
    return { error: JSON.stringify({ code: body.code, message: body.message }) };
  }
}

function resultAnswer(value: unknown): HostCallResult {
  try {
    return { result: JSON.stringify(value) ?? "null" };
  } catch (err) {
    return errorAnswer(err); // BigInt, cycles
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export class HostMethods {
  private readonly table = new Map<string, MethodSpec>();
  readonly config: Record<string, unknown>;

  constructor(
    user: Record<string, Method>,
    private readonly info: () => HostInfo,
    initialConfig: Record<string, unknown> = {},
  ) {
    // No prototype: a "__proto__" key from a request stays an ordinary key.
    this.config = Object.assign(Object.create(null), initialConfig);
    this.table.set("config.get", {
      handler: (p) => this.configGet(p),
      description: "The device config, or one key of it",
      params: { type: ["array", "object"], maxItems: 1, properties: { key: { type: "string" } } },
    });
    this.table.set("config.set", {
      handler: (p) => this.configSet(p),
      description: "Merges the given keys into the config; returns it",
      params: { type: "object" },
    });
    for (const [name, m] of Object.entries(user)) {
      if (name.startsWith("rpc.")) throw new Error(`method names starting with "rpc." are reserved: ${name}`);
      this.table.set(name, typeof m === "function" ? { handler: m } : m);
    }
  }

  /** rpc.list's host part: every host method with its description and params schema. */
  list(): object[] {
    return [...this.table].map(([name, m]) => ({ name, description: m.description ?? "", params: m.params ?? {} }));
  }

  /**
   * Answers one host_call. A handler that returns a promise gives a promise of
   * the answer; the caller turns that into "pending" for this pass.
   */
  call(method: string, paramsText: string | null): HostCallResult | Promise<HostCallResult> {
    if (method === "rpc.list") return resultAnswer(this.list());
    if (method === "sys.info") {
      const { engine, board, memoryLimit, requestMax, responseMax, maxPacket, extra } = this.info();
      return resultAnswer({ engine, board, memory_limit: memoryLimit, request_max: requestMax, response_max: responseMax, max_packet: maxPacket, ...extra });
    }
    const spec = this.table.get(method);
    if (!spec) return "not_found";
    try {
      const out = spec.handler(paramsText === null ? undefined : JSON.parse(paramsText));
      if (out && typeof (out as PromiseLike<unknown>).then === "function") {
        return Promise.resolve(out).then(resultAnswer, errorAnswer);
      }
      return resultAnswer(out);
    } catch (err) {
      return errorAnswer(err);
    }
  }

  private configGet(p: unknown): unknown {
    if (p === undefined || (Array.isArray(p) && p.length === 0)) return this.config;
    const key = Array.isArray(p) ? p[0] : isPlainObject(p) ? p.key : undefined;
    if (typeof key !== "string") throw new RpcError(INVALID_PARAMS, "Invalid params", "expected [key] or {key}");
    return Object.hasOwn(this.config, key) ? this.config[key] : null;
  }

  private configSet(p: unknown): unknown {
    if (!isPlainObject(p)) throw new RpcError(INVALID_PARAMS, "Invalid params", "expected an object of keys to set");
    Object.assign(this.config, p);
    return this.config;
  }
}
