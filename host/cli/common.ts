// Small helpers shared by the CLI commands.
import { registryDb } from "./db-options.ts";
import { InvalidArgumentError, Option } from "commander";
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { Registry, dbPath } from "../registry/registry.ts";
import { redactUrl } from "../server/log.ts";

export const dataOption = () => new Option("--data <dir>", "data directory (holds outpost.db)").default("./data");
export const jsonOption = () => new Option("--json", "machine-readable output");
export const urlOption = () =>
  new Option("--url <url>", "backend HTTP URL").env("OUTPOST_URL").default("http://127.0.0.1:8080").argParser(urlParser("http:", "https:"));

// Argument parsers throw commander's InvalidArgumentError: commander prints one line and exits 1.
export function parsePort(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`not a port (0-65535): ${value}`);
  return n;
}

export function parsePositive(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`not a positive integer: ${value}`);
  return n;
}

export function parseNonNegative(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`not a non-negative integer: ${value}`);
  return n;
}

/** Whole seconds as MQTT carries them (a four-byte integer, e.g. the Session Expiry Interval). */
export function parseSeconds32(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new InvalidArgumentError(`not whole seconds from 0 to 4294967295: ${value}`);
  return n;
}

/** A URL parser that accepts only the given schemes (e.g. "mqtt:"), so a typo fails here and not deep in a client. */
export function urlParser(...schemes: string[]): (value: string) => string {
  return (value: string) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new InvalidArgumentError(`not a URL: ${redactUrl(value)} (expected ${schemes.map((s) => `${s}//host:port`).join(" or ")})`);
    }
    if (!schemes.includes(url.protocol))
      throw new InvalidArgumentError(`unsupported URL scheme ${url.protocol} in ${redactUrl(value)} (use ${schemes.map((s) => `${s}//`).join(" or ")})`);
    return value;
  };
}

/** A failure the user caused: printed without a stack, exit code 1. */
export class CliError extends Error {
  override name = "CliError";
}

/** --data must be a directory (or not exist yet); returns its absolute path. */
export function checkDataDir(dir: string): string {
  const abs = resolve(dir);
  if (existsSync(abs) && !statSync(abs).isDirectory()) throw new CliError(`--data ${dir} is not a directory (it should hold outpost.db)`);
  return abs;
}

/**
 * Opens the registry in `dir` for a CLI command. `create: false` (read-only commands) refuses a directory without
 * outpost.db instead of making a new empty registry there (a typo in --data would otherwise list "no devices").
 */
export function openRegistry(dir: string, { create }: { create: boolean }): Registry {
  const abs = checkDataDir(dir);
  const db = registryDb();
  if (!create && !db && !existsSync(dbPath(abs)))
    throw new CliError(`no registry in ${abs} (no outpost.db): check --data, or create one with "outpost serve" or "outpost device add"`);
  try {
    return new Registry(abs, { db });
  } catch (err) {
    throw new CliError(`cannot open the registry in ${abs}: ${(err as Error).message}`);
  }
}

/** Runs fn on the registry in `dir`, then closes it. */
export function withRegistry<T>(dir: string, create: boolean, fn: (r: Registry) => T): T {
  const registry = openRegistry(dir, { create });
  try {
    return fn(registry);
  } finally {
    registry.close();
  }
}

/** Quotes a string for a POSIX shell, so a printed command runs exactly as printed. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** `url` with `password` as its userinfo password, unless the URL has one (it wins) or there is none. */
export function withPassword(url: string, password: string | undefined): string {
  const u = new URL(url);
  if (u.password || password === undefined) return url;
  u.password = encodeURIComponent(password);
  return u.toString();
}
