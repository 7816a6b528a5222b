// Each device's methods, as its rpc.list names them, with the JSON Schema of their params: the backend checks a
// call's params against it before sending, so `valve.open {"n":"x"}` with n an integer is a 400 naming `n` and
// never runs. The list is asked at the device's first call after each connect (a device nobody calls gets no
// extra request) and learnt from any rpc.list answer that passes through REST; forgotten when the device connects
// again or goes. Validators come from Ajv (the library Fastify
// validates with), compiled once per distinct schema text: devices running the same firmware share them.
// A device's schemas are its own input, so they are bounded (sizes below); one Ajv cannot compile is not enforced.
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";

/** The largest rpc.list answer taken, in bytes of JSON text. */
export const MAX_LIST_BYTES = 64 * 1024;
/** Methods taken from one device's list. */
export const MAX_METHODS = 256;
/** A params schema bigger than this (bytes of JSON text) is listed but not enforced. */
export const MAX_SCHEMA_BYTES = 8 * 1024;
/** Distinct compiled schemas kept (across devices); past it the oldest go. */
const MAX_COMPILED = 1024;
/** A call waits at most this long (or its own timeout, if shorter) for the device's rpc.list, then goes unchecked. */
export const LIST_WAIT_MS = 1000;
/** The rpc.list question itself waits longer (a slow link): an answer that comes late still checks later calls. */
export const LIST_FETCH_TIMEOUT_MS = 30_000;

export interface MethodInfo {
  name: string;
  description: string;
  /** The params' JSON Schema ({}: anything). */
  params: object;
}

/** A call's params do not match the method's schema: `field` is where (a path such as "n" or "items.0"), "" the whole. */
export class ParamsInvalid extends Error {
  override name = "ParamsInvalid";
  constructor(
    readonly method: string,
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** The methods in an rpc.list answer (a JSON-RPC response, or its result array), bounded; undefined if it is not one. */
export function methodsIn(text: string): MethodInfo[] | undefined {
  if (text.length > MAX_LIST_BYTES) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const list = Array.isArray(value) ? value : (value as { result?: unknown } | null)?.result;
  if (!Array.isArray(list)) return undefined;
  const out: MethodInfo[] = [];
  for (const m of list.slice(0, MAX_METHODS)) {
    if (!m || typeof m !== "object" || typeof m.name !== "string") continue;
    const params = m.params && typeof m.params === "object" && !Array.isArray(m.params) ? m.params : {};
    out.push({ name: m.name, description: typeof m.description === "string" ? m.description : "", params });
  }
  return out;
}

/** Where an Ajv error points, as a dotted path into params ("" for params itself). */
function fieldOf(e: ErrorObject): string {
  const path = e.instancePath
    .split("/")
    .slice(1)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
  if (e.keyword === "required") path.push(String((e.params as { missingProperty: string }).missingProperty));
  if (e.keyword === "additionalProperties") path.push(String((e.params as { additionalProperty: string }).additionalProperty));
  return path.join(".");
}

function describe(e: ErrorObject, field: string): string {
  if (e.keyword === "required") return `params.${field} is required`;
  if (e.keyword === "additionalProperties") return `params.${field} is not a parameter of this method`;
  return `${field ? `params.${field}` : "params"} ${e.message ?? "is not valid"}`;
}

export class ParamSchemas {
  private readonly ajv = new Ajv({ strict: false, allErrors: false, coerceTypes: false, allowUnionTypes: true, validateFormats: false, addUsedSchema: false });
  /** Each device's methods since it connected; "unknown": it did not answer rpc.list (its calls go unchecked). */
  private readonly devices = new Map<string, Map<string, MethodInfo> | "unknown">();
  private readonly fetching = new Map<string, Promise<void>>();
  /** Schema text -> its validator (null: Ajv refused it, so it is not enforced). */
  private readonly compiled = new Map<string, ValidateFunction | null>();

  /** `fetchList(id)`: asks the device for rpc.list (outside its pending-call limits), resolving with the answer text. */
  constructor(private readonly fetchList: (id: string) => Promise<string>) {}

  /** An rpc.list answer for the device (fetched here, or passing through REST). */
  learn(id: string, answer: string): void {
    const methods = methodsIn(answer);
    if (methods) this.devices.set(id, new Map(methods.map((m) => [m.name, m])));
  }

  /** The device connected or went: its list is asked again at its next call (its firmware may have changed). */
  forget(id: string): void {
    this.devices.delete(id);
    this.fetching.delete(id);
  }

  /** The device's list, asked once per connection (waiting at most `waitMs` for it); undefined when not known. */
  private async known(id: string, waitMs: number): Promise<Map<string, MethodInfo> | undefined> {
    if (!this.devices.has(id)) {
      let pending = this.fetching.get(id);
      if (!pending) {
        const started: Promise<void> = this.fetchList(id).then(
          (answer) => {
            if (this.fetching.get(id) !== started) return; // forgotten meanwhile (reconnected)
            this.learn(id, answer);
            if (!this.devices.has(id)) this.devices.set(id, "unknown"); // answered, but not with a list
          },
          () => {
            if (this.fetching.get(id) === started) this.devices.set(id, "unknown"); // unanswered: unchecked until it reconnects
          },
        );
        started.finally(() => {
          if (this.fetching.get(id) === started) this.fetching.delete(id);
        });
        this.fetching.set(id, started);
        pending = started;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([pending, new Promise((r) => (timer = setTimeout(r, Math.min(waitMs, LIST_WAIT_MS))))]);
      clearTimeout(timer);
      // Not answered in time: later calls do not wait again (a late answer still teaches the list).
      if (!this.devices.has(id) && this.fetching.get(id) === pending) this.devices.set(id, "unknown");
    }
    const known = this.devices.get(id);
    return known === "unknown" ? undefined : known;
  }

  /** The device's methods, from its rpc.list (asked now if not known since it connected). */
  async methods(id: string, waitMs = LIST_WAIT_MS): Promise<MethodInfo[] | undefined> {
    const known = await this.known(id, waitMs);
    return known && [...known.values()];
  }

  /**
   * Throws ParamsInvalid when the device's rpc.list gives `method` a schema that `params` fails. A method the list
   * does not name, or a device whose list is not known, is not checked here (the device answers for itself).
   * The list is asked at the device's first call after it connects, waiting at most `waitMs`.
   */
  async check(id: string, method: string, params: unknown, waitMs = LIST_WAIT_MS): Promise<void> {
    if (method === "rpc.list" && !this.devices.has(id)) return; // its answer teaches the list
    const info = (await this.known(id, waitMs))?.get(method);
    if (!info) return;
    if (params === undefined) {
      // No params: only a schema that requires members refuses that (a list's {maxItems: 0} means "none").
      const required = (info.params as { required?: unknown }).required;
      if (Array.isArray(required) && required.length > 0)
        throw new ParamsInvalid(method, String(required[0]), `params.${String(required[0])} is required (${method} takes params; none were sent)`);
      return;
    }
    const validate = this.validator(info.params);
    if (!validate || validate(params)) return;
    const err = validate.errors![0];
    const field = fieldOf(err);
    throw new ParamsInvalid(method, field, `${describe(err, field)} (${method}'s params schema, from the device's rpc.list)`);
  }

  private validator(schema: object): ValidateFunction | null {
    const text = JSON.stringify(schema);
    let v = this.compiled.get(text);
    if (v !== undefined) return v;
    v = null;
    if (text.length <= MAX_SCHEMA_BYTES) {
      try {
        v = this.ajv.compile(schema);
      } catch {
        v = null; // not a schema Ajv takes ($ref to nowhere, a bad keyword value): the device checks its own params
      }
    }
    if (this.compiled.size >= MAX_COMPILED) {
      this.compiled.delete(this.compiled.keys().next().value!);
      this.ajv.removeSchema(); // frees what Ajv cached for the compiled ones
    }
    this.compiled.set(text, v);
    return v;
  }
}
