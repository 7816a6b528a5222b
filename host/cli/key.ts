// outpost key create | list | revoke | rotate: API keys, directly on the registry (a running server on the same
// --data sees a change within a second).
import { Command, InvalidArgumentError, Option } from "commander";
import { userInfo } from "node:os";
import { DEFAULT_ROTATION_GRACE_MS, InvalidExpiry, InvalidGrace, InvalidKeyName, KeyNameTaken, UnknownKey, type ApiKeyRecord } from "../registry/api-keys.ts";
import type { Registry } from "../registry/registry.ts";
import { InvalidScope, SCOPES, SCOPE_MEANING, parseScopes, type Scope } from "../registry/scopes.ts";
import { keyViewOf } from "../server/routes/keys.ts";
import { CliError, dataOption, jsonOption, withRegistry } from "./common.ts";

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "15m", "12h", "30d" as milliseconds. */
export function parseDuration(value: string): number {
  const m = /^([0-9]{1,9})([smhd])$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`not a duration such as 90s, 15m, 12h or 30d: ${value}`);
  return Number(m[1]) * UNITS[m[2]];
}

/** --expires: a duration from now (30d) or an ISO 8601 time, as milliseconds since the epoch. */
function parseExpiry(value: string): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const at = Date.parse(value);
    if (Number.isNaN(at)) throw new InvalidArgumentError(`not an ISO 8601 time: ${value}`);
    return at;
  }
  return Date.now() + parseDuration(value);
}

function parseScopeOption(value: string): Scope[] {
  try {
    return parseScopes(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** The registry's refusals as one-line CLI errors. */
function cliError(err: unknown): unknown {
  if ([InvalidKeyName, InvalidScope, InvalidExpiry, InvalidGrace, KeyNameTaken, UnknownKey].some((c) => err instanceof c))
    return new CliError((err as Error).message);
  return err;
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? "?"}`; // no passwd entry (a container)
  }
}

/** A change made here goes into the audit log too, under the OS user who made it. */
function audited<T>(data: string, what: string, name: string, fn: (r: Registry) => T): T {
  return withRegistry(data, true, (r) => {
    try {
      const out = fn(r);
      const made = (out as { record?: ApiKeyRecord }).record ?? (out as ApiKeyRecord);
      r.audit.record({ kind: "change", actor: osUser(), actor_kind: "local", method: `cli key ${what}`, outcome: "ok", detail: made.name ?? name });
      return out;
    } catch (err) {
      throw cliError(err);
    }
  });
}

function line(r: ApiKeyRecord): string {
  const v = keyViewOf(r);
  const state = v.revoked_at ? `revoked ${v.revoked_at}` : v.expires_at ? `expires ${v.expires_at}` : "no expiry";
  const grace = v.previous_valid_until && Date.parse(v.previous_valid_until) > Date.now() ? `, old secret valid until ${v.previous_valid_until}` : "";
  return `${v.name}\t${v.id}\t${v.scopes.join(",") || "-"}\t${state}${grace}`;
}

export function keyCommand(): Command {
  const key = new Command("key").description("API keys for the REST API");
  const scopesHelp = SCOPES.map((s) => `${s} (${SCOPE_MEANING[s]})`).join("; ");
  key
    .command("create")
    .description("create an API key (shown once)")
    .addOption(new Option("--name <name>", "a name for the key, shown in the audit log (default key-<id>)"))
    .addOption(new Option("--scope <scopes>", `comma-separated scopes (default: all): ${scopesHelp}`).argParser(parseScopeOption))
    .addOption(new Option("--expires <when>", "expire after a duration (30d, 12h) or at an ISO 8601 time (default: never)").argParser(parseExpiry))
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((opts: { data: string; json?: boolean; name?: string; scope?: Scope[]; expires?: number }) => {
      const { record, key: secret } = audited(opts.data, "create", opts.name ?? "", (r) =>
        r.apiKeys.create({ name: opts.name, scopes: opts.scope, expiresAt: opts.expires ?? null }),
      );
      if (opts.json) return console.log(JSON.stringify({ key: secret, ...keyViewOf(record) }));
      console.log(`${secret}\n(shown once: store it now)\n${line(record)}`);
    });
  key
    .command("list")
    .description("list API keys: name, id, scopes, expiry or revocation (never the keys themselves)")
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((opts: { data: string; json?: boolean }) => {
      const keys = withRegistry(opts.data, false, (r) => r.apiKeys.list());
      if (opts.json) return console.log(JSON.stringify(keys.map(keyViewOf)));
      if (keys.length === 0) return console.log("no API keys");
      for (const k of keys) console.log(line(k));
    });
  key
    .command("revoke <key>")
    .description("revoke a key, by name or id, at once (a running server stops taking it within a second)")
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((name: string, opts: { data: string; json?: boolean }) => {
      const record = audited(opts.data, "revoke", name, (r) => r.apiKeys.revoke(name));
      console.log(opts.json ? JSON.stringify(keyViewOf(record)) : `revoked ${record.name} (${record.id})`);
    });
  key
    .command("rotate <key>")
    .description("give a key, by name or id, a new secret (shown once); the old one works for the grace period, then is refused")
    .addOption(
      new Option("--grace <duration>", `how long the old secret keeps working: 0s (at once: a leaked key) to 30d`)
        .argParser(parseDuration)
        .default(DEFAULT_ROTATION_GRACE_MS, "1h"),
    )
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((name: string, opts: { data: string; json?: boolean; grace: number }) => {
      const { record, key: secret } = audited(opts.data, "rotate", name, (r) => r.apiKeys.rotate(name, opts.grace));
      if (opts.json) return console.log(JSON.stringify({ key: secret, ...keyViewOf(record) }));
      console.log(`${secret}\n(shown once: store it now)\n${line(record)}`);
    });
  return key;
}
