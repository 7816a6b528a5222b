// GET /devices: its filters (tag, online, metadata.<key>) and its cursor, read from the query string by hand so
// that each mistake is named (a repeated `online`, an unknown filter, a cursor from nowhere).
import type { DeviceRecord } from "../../registry/registry.ts";
import { InvalidMetadata, MAX_FILTER_TERMS, METADATA_KEY, TAG, type DeviceFilter } from "../../registry/tags.ts";
import { HttpError } from "../errors.ts";
import type { RouteDeps } from "./deps.ts";

export const MAX_PAGE = 1000;
export const deviceListQuery = { type: "object", additionalProperties: { type: ["string", "array"] } } as const;

type Query = Record<string, string | string[]>;

function one(q: Query, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) throw new HttpError(400, "bad_filter", `${name} may be given once`);
  return v;
}

/** An opaque cursor: the last id of the page, so a device added or removed meanwhile does not shift the pages. */
const encodeCursor = (lastId: string) => Buffer.from(JSON.stringify({ after: lastId })).toString("base64url");
function decodeCursor(cursor: string): string {
  try {
    const { after } = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { after?: unknown };
    if (typeof after === "string" && after.length <= 64) return after;
  } catch {
    // named below
  }
  throw new HttpError(400, "bad_cursor", "cursor is not one this API gave out: take it from the Link header of the previous page");
}

export function parseDeviceFilter(q: Query): { filter: DeviceFilter; online?: boolean; limit?: number; after: string } {
  const filter: DeviceFilter = {};
  let online: boolean | undefined;
  let limit: number | undefined;
  let after = "";
  for (const name of Object.keys(q)) {
    if (name === "tag") {
      const tags = ([] as string[]).concat(q.tag);
      if (tags.length > MAX_FILTER_TERMS) throw new HttpError(400, "bad_filter", `at most ${MAX_FILTER_TERMS} tag filters`);
      for (const t of tags) if (!TAG.test(t)) throw new HttpError(400, "bad_tag", `tag ${JSON.stringify(t).slice(0, 80)} must match ${TAG}`);
      filter.tags = tags;
    } else if (name === "online") {
      const v = one(q, name);
      if (v !== "true" && v !== "false") throw new HttpError(400, "bad_filter", `online must be true or false, not ${JSON.stringify(v)}`);
      online = v === "true";
    } else if (name === "limit") {
      const v = one(q, name) ?? "";
      const n = /^[0-9]{1,4}$/.test(v) ? Number(v) : 0;
      if (n < 1 || n > MAX_PAGE)
        throw new HttpError(400, "bad_limit", `limit must be a whole number from 1 to ${MAX_PAGE}, not ${JSON.stringify(v).slice(0, 20)}`);
      limit = n;
    } else if (name === "cursor") after = decodeCursor(one(q, name) ?? "");
    else if (name.startsWith("metadata.")) {
      const key = name.slice("metadata.".length);
      if (!METADATA_KEY.test(key)) throw new HttpError(400, "bad_filter", `metadata key ${JSON.stringify(key).slice(0, 80)} must match ${METADATA_KEY}`);
      filter.metadataText ??= {};
      if (Object.keys(filter.metadataText).length >= MAX_FILTER_TERMS) throw new HttpError(400, "bad_filter", `at most ${MAX_FILTER_TERMS} metadata filters`);
      filter.metadataText[key] = one(q, name) ?? "";
    } else throw new HttpError(400, "unknown_filter", `${name.slice(0, 64)} is not a filter: use tag, online, metadata.<key>, limit, cursor`);
  }
  return { filter, online, limit, after };
}

/** One page of devices (every match without a limit) and the URL of the next page, if there is one. */
export function listDevicePage(deps: RouteDeps, q: Query): { devices: DeviceRecord[]; next?: string } {
  const { filter, online, limit, after } = parseDeviceFilter(q);
  const { registry, presence } = deps;
  const devices: DeviceRecord[] = [];
  let more = false;
  try {
    for (const id of registry.tags.matching(filter, after)) {
      if (online !== undefined && presence.isOnline(id) !== online) continue;
      if (limit !== undefined && devices.length === limit) {
        more = true;
        break;
      }
      const d = registry.getDevice(id);
      if (d) devices.push(d);
    }
  } catch (err) {
    if (err instanceof InvalidMetadata) throw new HttpError(400, "bad_filter", err.message);
    throw err;
  }
  if (!more) return { devices };
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (k !== "cursor") for (const x of ([] as string[]).concat(v)) params.append(k, x);
  params.set("cursor", encodeCursor(devices.at(-1)!.id));
  return { devices, next: `/api/v1/devices?${params}` };
}
