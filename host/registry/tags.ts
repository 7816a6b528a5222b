// Device tags and editable metadata, and the one query that finds devices by them (GET /devices filters, job
// selectors). Tags are a table of their own (device_id, tag) so a tag lookup is an index scan, not a JSON scan.
import type { SqlDatabase } from "./sql.ts";

/** A tag: a short word an operator types ("pump", "building-4", "env:prod"). */
export const TAG = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
export const MAX_TAGS_PER_DEVICE = 32;
/** Tags or metadata conditions in one filter. */
export const MAX_FILTER_TERMS = 16;
/** Serialised metadata of one device, in bytes (it is shown in every device listing). */
export const MAX_METADATA_BYTES = 4096;
/** Metadata keys a filter may name: safe inside a JSON path. */
export const METADATA_KEY = /^[A-Za-z0-9_-]{1,64}$/;

export class InvalidTag extends Error {
  override name = "InvalidTag";
}
export class InvalidMetadata extends Error {
  override name = "InvalidMetadata";
}

/** A metadata value a filter compares with (equality; numbers and booleans compare as themselves). */
export type MetadataValue = string | number | boolean;

export interface DeviceFilter {
  /** Every one of these tags. */
  tags?: string[];
  /** metadata[key] equals the value, for every key. */
  metadata?: Record<string, MetadataValue>;
  /** One of these ids (job selectors). */
  ids?: string[];
  /**
   * metadata[key] written as `text` (a query string's value): a string equal to it, a number equal to it as a
   * number, or the boolean it names ("true"/"false").
   */
  metadataText?: Record<string, string>;
}

/** Checks a tag list: each a TAG, at most MAX_TAGS_PER_DEVICE; returns it de-duplicated and sorted. */
export function checkTags(tags: readonly unknown[], max = MAX_TAGS_PER_DEVICE): string[] {
  if (tags.length > max) throw new InvalidTag(`at most ${max} tags, not ${tags.length}`);
  for (const t of tags)
    if (typeof t !== "string" || !TAG.test(t))
      throw new InvalidTag(`a tag must match ${TAG} (letters, digits, _ . : -), not ${JSON.stringify(t)?.slice(0, 80)}`);
  return [...new Set(tags as string[])].sort();
}

/** RFC 7396 merge patch of a flat-or-nested JSON object: null deletes a member. */
export function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (typeof v === "object" && !Array.isArray(v) && typeof out[k] === "object" && out[k] !== null && !Array.isArray(out[k]))
      out[k] = mergePatch(out[k] as Record<string, unknown>, v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}

export class DeviceTags {
  private readonly stmt;

  constructor(private readonly db: SqlDatabase) {
    // Postgres: postgres-schema.ts makes these tables.
    if (db.dialect === "sqlite")
      db.exec(`
      CREATE TABLE IF NOT EXISTS device_tags (device_id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (device_id, tag)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS device_tags_by_tag ON device_tags (tag, device_id);
      CREATE TRIGGER IF NOT EXISTS device_tags_removed AFTER DELETE ON devices
        BEGIN DELETE FROM device_tags WHERE device_id = OLD.id; END;
    `);
    this.stmt = {
      tagsOf: db.prepare<[string], { tag: string }>("SELECT tag FROM device_tags WHERE device_id = ? ORDER BY tag"),
      clear: db.prepare("DELETE FROM device_tags WHERE device_id = ?"),
      add: db.prepare("INSERT INTO device_tags (device_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING"),
      metadata: db.prepare<[string], { metadata: string }>("SELECT metadata FROM devices WHERE id = ?"),
      setMetadata: db.prepare("UPDATE devices SET metadata = ? WHERE id = ?"),
    };
  }

  tagsOf(id: string): string[] {
    return this.stmt.tagsOf.all(id).map((r) => r.tag);
  }

  /** Tags of many devices at once (a listing page). */
  tagsOfMany(ids: readonly string[]): Map<string, string[]> {
    const out = new Map<string, string[]>(ids.map((id) => [id, []]));
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      const rows = this.db
        .prepare<string[], { device_id: string; tag: string }>(
          `SELECT device_id, tag FROM device_tags WHERE device_id IN (${part.map(() => "?").join(",")}) ORDER BY device_id, tag`,
        )
        .all(...part);
      for (const r of rows) out.get(r.device_id)?.push(r.tag);
    }
    return out;
  }

  /**
   * Changes a device's tags (replaced when given) and metadata (merge-patched when given), in one transaction.
   * Returns false for an unknown device. Throws InvalidTag / InvalidMetadata before changing anything.
   */
  update(id: string, change: { tags?: readonly unknown[]; metadata?: Record<string, unknown> }): boolean {
    const tags = change.tags === undefined ? undefined : checkTags(change.tags);
    return this.db.transaction(() => {
      const row = this.stmt.metadata.get(id);
      if (!row) return false;
      if (change.metadata !== undefined) {
        const next = JSON.stringify(mergePatch(JSON.parse(row.metadata), change.metadata));
        if (Buffer.byteLength(next) > MAX_METADATA_BYTES)
          throw new InvalidMetadata(`metadata would be ${Buffer.byteLength(next)} bytes as JSON; at most ${MAX_METADATA_BYTES}`);
        this.stmt.setMetadata.run(next, id);
      }
      if (tags) {
        this.stmt.clear.run(id);
        for (const t of tags) this.stmt.add.run(id, t);
      }
      return true;
    })();
  }

  /**
   * Device ids matching `filter`, in id order, after `afterId` (a cursor), lazily (the caller stops when it has
   * enough). Every condition must hold; an empty filter matches every device.
   */
  *matching(filter: DeviceFilter, afterId = ""): Generator<string> {
    const where = ["d.id > ?"];
    const args: (string | number | null)[] = [afterId];
    for (const tag of filter.tags ?? []) {
      where.push("EXISTS (SELECT 1 FROM device_tags t WHERE t.device_id = d.id AND t.tag = ?)");
      args.push(tag);
    }
    const postgres = this.db.dialect === "postgres";
    for (const [key, value] of Object.entries(filter.metadata ?? {})) {
      checkFilterKey(key);
      if (postgres) {
        // jsonb equality compares numbers as numbers (1 = 1.0) and never a string with a number.
        where.push(`(d.metadata::jsonb -> '${key}') = ?::jsonb`);
        args.push(JSON.stringify(value));
        continue;
      }
      // json_extract gives SQLite's own types: 1/0 for booleans, so compare those as integers.
      where.push(`json_extract(d.metadata, '$.${key}') = ?`);
      where.push(
        `json_type(d.metadata, '$.${key}') IN (${typeof value === "string" ? "'text'" : typeof value === "boolean" ? "'true','false'" : "'integer','real'"})`,
      );
      args.push(typeof value === "boolean" ? (value ? 1 : 0) : value);
    }
    for (const [key, text] of Object.entries(filter.metadataText ?? {})) {
      checkFilterKey(key);
      const n = Number(text);
      const number = text.trim() !== "" && Number.isFinite(n) ? n : null;
      const boolean = text === "true" || text === "false" ? text : null;
      if (postgres) {
        where.push(`(d.metadata::jsonb -> '${key}') IN (?::jsonb, ?::jsonb, ?::jsonb)`);
        args.push(JSON.stringify(text), number === null ? null : JSON.stringify(number), boolean);
        continue;
      }
      const path = `'$.${key}'`;
      where.push(
        `((json_type(d.metadata, ${path}) = 'text' AND json_extract(d.metadata, ${path}) = ?) OR (json_type(d.metadata, ${path}) IN ('integer', 'real') AND json_extract(d.metadata, ${path}) = ?) OR json_type(d.metadata, ${path}) = ?)`,
      );
      args.push(text, number, boolean ?? "-");
    }
    // Ids are matched here, not in SQL (a list of thousands would pass SQLite's parameter limit).
    const ids = filter.ids ? new Set(filter.ids) : undefined;
    // In batches, not one long iterate(): the caller may use the database between two ids.
    const query = this.db.prepare<(string | number | null)[], { id: string }>(
      `SELECT d.id FROM devices d WHERE ${where.join(" AND ")} ORDER BY d.id LIMIT 500`,
    );
    for (;;) {
      const rows = query.all(...args);
      for (const row of rows) if (!ids || ids.has(row.id)) yield row.id;
      if (rows.length < 500) return;
      args[0] = rows[rows.length - 1].id;
    }
  }
}

/** Keys go into the SQL text as JSON paths, so only METADATA_KEY's characters may. */
function checkFilterKey(key: string): void {
  if (!METADATA_KEY.test(key)) throw new InvalidMetadata(`a metadata key in a filter must match ${METADATA_KEY}, not ${JSON.stringify(key).slice(0, 80)}`);
}
