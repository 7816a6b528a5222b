// A job as the caller describes it (POST /jobs), checked member by member: every wrong, missing, out-of-range or
// unknown member is one JobSpecError with its own name (the REST answer's `error`), before anything is stored.
import { MAX_FILTER_TERMS, METADATA_KEY, TAG, type MetadataValue } from "../registry/tags.ts";
import { isValidDeviceId } from "../registry/registry.ts";
import { FAILURE_KINDS, type FailureKind } from "./types.ts";

export const MAX_SELECTED_IDS = 10_000;
/** A job's params go to every device in one request: a device takes 8 KiB requests by default. */
export const MAX_PARAMS_BYTES = 8192;
export const MAX_RATE_PER_MINUTE = 1_000_000;
export const MAX_RAMP_FACTOR = 10;
export const MAX_ABORT_RULES = 8;
export const MAX_RETRIES = 10;
export const DEFAULT_TIMEOUT_MS = 10_000;
/** A rollout's whole update (docs/ota.md: 300 s by default). */
export const DEFAULT_ROLLOUT_TIMEOUT_MS = 300_000;
export const MAX_TIMEOUT_MS = 3_600_000;
export const DEFAULT_EXPIRES_IN_S = 86_400;
export const MAX_EXPIRES_IN_S = 30 * 86_400;
export const DEFAULT_MAX_IN_FLIGHT = 64;
export const MAX_IN_FLIGHT = 1000;
const METHOD = /^[A-Za-z0-9_.:-]{1,128}$/;
const RELEASE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export interface Selector {
  ids?: string[];
  tags?: string[];
  metadata?: Record<string, MetadataValue>;
}
export interface Ramp {
  base_per_minute: number;
  factor: number;
  /** The rate goes up by `factor` after each so many devices were notified (sent their execution)... */
  every_notified?: number;
  /** ...or after each so many succeeded. Exactly one of the two. */
  every_succeeded?: number;
}
export interface AbortRule {
  /** The final states that count as failures for this rule. */
  on: FailureKind[];
  /** Abort once failures / executed * 100 reaches this. */
  threshold_pct: number;
  /** Only once this many executions are final (succeeded or a failure). */
  min_executed: number;
}
export type RetryKind = "failed" | "timed_out";
export interface JobSpec {
  selector: Selector;
  rpc?: { method: string; params?: unknown[] | Record<string, unknown> };
  rollout?: { release: string };
  rate: { max_per_minute?: number; ramp?: Ramp };
  abort: AbortRule[];
  /** Per device: an RPC's answer, or a rollout's whole update. */
  timeout_ms: number;
  retries: { max: number; on: RetryKind[] };
  /** Devices still queued (offline) then are cancelled with reason "expired". */
  expires_in_s: number;
  /** Executions in progress at once. */
  max_in_flight: number;
  description?: string;
}

export class JobSpecError extends Error {
  override name = "JobSpecError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Obj = Record<string, unknown>;
const show = (v: unknown) => (JSON.stringify(v) ?? String(v)).slice(0, 80);

function object(v: unknown, where: string, code: string, keys: readonly string[]): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new JobSpecError(code, `${where} must be an object`);
  for (const k of Object.keys(v))
    if (!keys.includes(k)) throw new JobSpecError("unknown_field", `${where}.${k.slice(0, 64)} is not a member of a job (members: ${keys.join(", ")})`);
  return v as Obj;
}

function integer(v: unknown, where: string, code: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    throw new JobSpecError(code, `${where} must be a whole number from ${min} to ${max}, not ${show(v)}`);
  return v;
}

function stringList(v: unknown, where: string, code: string, max: number, test: (s: string) => boolean, what: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > max) throw new JobSpecError(code, `${where} must be a list of 1 to ${max} ${what}`);
  for (const s of v) if (typeof s !== "string" || !test(s)) throw new JobSpecError(code, `${where} holds ${show(s)}, not ${what}`);
  return [...new Set(v as string[])];
}

function selector(v: unknown): Selector {
  if (v === undefined) throw new JobSpecError("bad_selector", "selector is required: {ids?, tags?, metadata?}, at least one of them");
  const s = object(v, "selector", "bad_selector", ["ids", "tags", "metadata"]);
  const out: Selector = {};
  if (s.ids !== undefined) out.ids = stringList(s.ids, "selector.ids", "bad_selector", MAX_SELECTED_IDS, isValidDeviceId, "device ids");
  if (s.tags !== undefined) out.tags = stringList(s.tags, "selector.tags", "bad_selector", MAX_FILTER_TERMS, (t) => TAG.test(t), `tags (${TAG})`);
  if (s.metadata !== undefined) {
    if (typeof s.metadata !== "object" || s.metadata === null || Array.isArray(s.metadata))
      throw new JobSpecError("bad_selector", "selector.metadata must be an object");
    const entries = Object.entries(s.metadata);
    if (entries.length === 0 || entries.length > MAX_FILTER_TERMS)
      throw new JobSpecError("bad_selector", `selector.metadata must have 1 to ${MAX_FILTER_TERMS} members`);
    for (const [k, val] of entries) {
      if (!METADATA_KEY.test(k)) throw new JobSpecError("bad_selector", `selector.metadata key ${show(k)} must match ${METADATA_KEY}`);
      if (!["string", "number", "boolean"].includes(typeof val) || (typeof val === "number" && !Number.isFinite(val)))
        throw new JobSpecError("bad_selector", `selector.metadata.${k} must be a string, a finite number or a boolean (equality)`);
    }
    out.metadata = s.metadata as Record<string, MetadataValue>;
  }
  if (!out.ids && !out.tags && !out.metadata)
    throw new JobSpecError("bad_selector", "selector must name ids, tags or metadata (a job for every device says so with a tag)");
  return out;
}

function rate(v: unknown): JobSpec["rate"] {
  if (v === undefined) return {};
  const r = object(v, "rate", "bad_rate", ["max_per_minute", "ramp"]);
  const out: JobSpec["rate"] = {};
  if (r.max_per_minute !== undefined) out.max_per_minute = integer(r.max_per_minute, "rate.max_per_minute", "bad_rate", 1, MAX_RATE_PER_MINUTE);
  if (r.ramp !== undefined) {
    const p = object(r.ramp, "rate.ramp", "bad_rate", ["base_per_minute", "factor", "every_notified", "every_succeeded"]);
    const base = integer(p.base_per_minute, "rate.ramp.base_per_minute", "bad_rate", 1, MAX_RATE_PER_MINUTE);
    if (typeof p.factor !== "number" || !Number.isFinite(p.factor) || p.factor <= 1 || p.factor > MAX_RAMP_FACTOR)
      throw new JobSpecError("bad_rate", `rate.ramp.factor must be a number above 1 and at most ${MAX_RAMP_FACTOR}, not ${show(p.factor)}`);
    if ((p.every_notified === undefined) === (p.every_succeeded === undefined))
      throw new JobSpecError("bad_rate", "rate.ramp needs exactly one of every_notified and every_succeeded");
    const ramp: Ramp = { base_per_minute: base, factor: p.factor };
    if (p.every_notified !== undefined) ramp.every_notified = integer(p.every_notified, "rate.ramp.every_notified", "bad_rate", 1, MAX_SELECTED_IDS * 10);
    else ramp.every_succeeded = integer(p.every_succeeded, "rate.ramp.every_succeeded", "bad_rate", 1, MAX_SELECTED_IDS * 10);
    if (out.max_per_minute !== undefined && base > out.max_per_minute)
      throw new JobSpecError("bad_rate", `rate.ramp.base_per_minute (${base}) is above rate.max_per_minute (${out.max_per_minute})`);
    out.ramp = ramp;
  }
  return out;
}

function abortRules(v: unknown): AbortRule[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_ABORT_RULES) throw new JobSpecError("bad_abort_rule", `abort must be a list of at most ${MAX_ABORT_RULES} rules`);
  return v.map((rule, i) => {
    const r = object(rule, `abort[${i}]`, "bad_abort_rule", ["on", "threshold_pct", "min_executed"]);
    const on = stringList(
      r.on,
      `abort[${i}].on`,
      "bad_abort_rule",
      FAILURE_KINDS.length,
      (k) => (FAILURE_KINDS as readonly string[]).includes(k),
      FAILURE_KINDS.join("/"),
    );
    if (typeof r.threshold_pct !== "number" || !Number.isFinite(r.threshold_pct) || r.threshold_pct <= 0 || r.threshold_pct > 100)
      throw new JobSpecError("bad_abort_rule", `abort[${i}].threshold_pct must be a number above 0 and at most 100, not ${show(r.threshold_pct)}`);
    const min = r.min_executed === undefined ? 1 : integer(r.min_executed, `abort[${i}].min_executed`, "bad_abort_rule", 1, MAX_SELECTED_IDS * 10);
    return { on: on as FailureKind[], threshold_pct: r.threshold_pct, min_executed: min };
  });
}

function retries(v: unknown): JobSpec["retries"] {
  if (v === undefined) return { max: 0, on: [] };
  const r = object(v, "retries", "bad_retries", ["max", "on"]);
  const max = integer(r.max, "retries.max", "bad_retries", 0, MAX_RETRIES);
  const on = r.on === undefined ? ["failed"] : stringList(r.on, "retries.on", "bad_retries", 2, (k) => k === "failed" || k === "timed_out", "failed/timed_out");
  return { max, on: on as RetryKind[] };
}

/** The job as given, checked, with every default filled in (this is what is stored and shown). */
export function parseJobSpec(body: unknown): JobSpec {
  const keys = ["selector", "rpc", "rollout", "rate", "abort", "timeout_ms", "retries", "expires_in_s", "max_in_flight", "description"];
  const b = object(body, "body", "bad_request", keys);
  const spec: JobSpec = {
    selector: selector(b.selector),
    rate: rate(b.rate),
    abort: abortRules(b.abort),
    timeout_ms: 0,
    retries: retries(b.retries),
    expires_in_s: b.expires_in_s === undefined ? DEFAULT_EXPIRES_IN_S : integer(b.expires_in_s, "expires_in_s", "bad_expiry", 1, MAX_EXPIRES_IN_S),
    max_in_flight: b.max_in_flight === undefined ? DEFAULT_MAX_IN_FLIGHT : integer(b.max_in_flight, "max_in_flight", "bad_max_in_flight", 1, MAX_IN_FLIGHT),
  };
  if ((b.rpc === undefined) === (b.rollout === undefined))
    throw new JobSpecError("bad_job_kind", "a job has exactly one of rpc {method, params} and rollout {release}");
  if (b.rpc !== undefined) {
    const r = object(b.rpc, "rpc", "bad_rpc", ["method", "params"]);
    if (typeof r.method !== "string" || !METHOD.test(r.method))
      throw new JobSpecError("bad_rpc", `rpc.method must be a method name (${METHOD}), not ${show(r.method)}`);
    if (r.params !== undefined) {
      if (typeof r.params !== "object" || r.params === null) throw new JobSpecError("bad_rpc", "rpc.params must be an array or an object");
      const bytes = Buffer.byteLength(JSON.stringify(r.params));
      if (bytes > MAX_PARAMS_BYTES)
        throw new JobSpecError("params_too_large", `rpc.params is ${bytes} bytes as JSON; a job's params are at most ${MAX_PARAMS_BYTES}`);
    }
    spec.rpc = r.params === undefined ? { method: r.method } : { method: r.method, params: r.params as unknown[] | Record<string, unknown> };
  } else {
    const r = object(b.rollout, "rollout", "bad_rollout", ["release"]);
    if (typeof r.release !== "string" || !RELEASE.test(r.release))
      throw new JobSpecError("bad_rollout", `rollout.release must be a release id, not ${show(r.release)}`);
    spec.rollout = { release: r.release };
  }
  const defaultTimeout = spec.rollout ? DEFAULT_ROLLOUT_TIMEOUT_MS : DEFAULT_TIMEOUT_MS;
  spec.timeout_ms = b.timeout_ms === undefined ? defaultTimeout : integer(b.timeout_ms, "timeout_ms", "bad_timeout", 1, MAX_TIMEOUT_MS);
  if (b.description !== undefined) {
    if (typeof b.description !== "string" || b.description.length > 256)
      throw new JobSpecError("bad_request", "description must be a string of at most 256 characters");
    spec.description = b.description;
  }
  return spec;
}
