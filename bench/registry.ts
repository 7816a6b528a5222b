// The registry's calls on Postgres (libpq, synchronous: each one holds the node's event loop for its round trip)
// against SQLite, the embedded default and this bench's peer, in the same run on this machine: a device read
// (what a cache miss costs), a batch of presence rows (written each second), a batch of audit rows, a credential
// check's lookup, and a tag filter over the fleet. Postgres is a private one on loopback (test/support/postgres.ts),
// so its figures are a floor: a Postgres across a network adds its round trip to every query.
// Last line: a JSON object of the figures.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "../host/registry/registry.ts";
import { startPostgres } from "../test/support/postgres.ts";

const DEVICES = Number(process.env.REGISTRY_DEVICES ?? 2000);
const ROUNDS = Number(process.env.REGISTRY_ROUNDS ?? 2000);
const BATCH = 100;
const FAST = { keyCost: { N: 1024, r: 8, p: 1 }, deviceCost: { N: 1024, r: 8, p: 1 } };

/** Microseconds per call of `fn`, best of three runs of `n` calls. */
function timeUs(n: number, fn: (i: number) => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 3; run++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1000 / n);
  }
  return best;
}

function measure(r: Registry): Record<string, number> {
  r.db.transaction(() => {
    for (let i = 0; i < DEVICES; i++) {
      r.db
        .prepare("INSERT INTO devices (id, secret_hash, mosquitto_hash, metadata, created_at) VALUES (?, 'h', 'm', ?, ?)")
        .run(`d${i}`, JSON.stringify({ site: i % 10 }), Date.now());
      if (i % 4 === 0) r.db.prepare("INSERT INTO device_tags (device_id, tag) VALUES (?, 'canary')").run(`d${i}`);
    }
  })();
  const now = Date.now();
  return {
    device_read_us: timeUs(ROUNDS, (i) => r.getDevice(`d${i % DEVICES}`)),
    credential_lookup_us: timeUs(ROUNDS, (i) => r.hasDevice(`d${i % DEVICES}`)),
    presence_batch_us: timeUs(ROUNDS / 20, (i) =>
      r.savePresence(
        Array.from({ length: BATCH }, (_, k) => ({
          id: `d${(i * BATCH + k) % DEVICES}`,
          online: true,
          last_seen: now,
          connected_since: now,
          transport: "mqtt",
        })),
      ),
    ),
    audit_batch_us: timeUs(ROUNDS / 20, () => {
      for (let k = 0; k < BATCH; k++) r.audit.record({ kind: "call", actor: "bench", device: "d1", method: "echo", status: 200, outcome: "ok" });
      r.audit.flush();
    }),
    tag_filter_us: timeUs(20, () => [...r.tags.matching({ tags: ["canary"], metadata: { site: 0 } })]),
  };
}

const sqlite = new Registry(mkdtempSync(join(tmpdir(), "outpost-bench-registry-")), FAST);
const sqliteFigures = measure(sqlite);
sqlite.close();
const pg = await startPostgres();
let pgFigures: Record<string, number>;
try {
  const r = new Registry(mkdtempSync(join(tmpdir(), "outpost-bench-registry-")), { ...FAST, db: pg.urlWithPassword });
  pgFigures = measure(r);
  r.close();
} finally {
  await pg.close();
}

console.log(`registry calls, ${DEVICES} devices, µs per call (batches: ${BATCH} rows), best of 3; peer: SQLite`);
console.log("call                  sqlite µs   postgres µs   postgres/sqlite");
const figures: Record<string, number> = { devices: DEVICES };
for (const name of Object.keys(sqliteFigures)) {
  const ratio = pgFigures[name] / sqliteFigures[name];
  console.log(`${name.padEnd(22)}${sqliteFigures[name].toFixed(1).padStart(9)}${pgFigures[name].toFixed(1).padStart(14)}${ratio.toFixed(2).padStart(18)}`);
  figures[`sqlite_${name}`] = Number(sqliteFigures[name].toFixed(1));
  figures[`postgres_${name}`] = Number(pgFigures[name].toFixed(1));
  figures[`ratio_${name}`] = Number(ratio.toFixed(2));
}
console.log(JSON.stringify(figures));
