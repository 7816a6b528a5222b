// Small helpers shared by the CLI commands.
import { Option } from "commander";

export const dataOption = () => new Option("--data <dir>", "data directory (holds outpost.db)").default("./data");
export const jsonOption = () => new Option("--json", "machine-readable output");
export const urlOption = () =>
  new Option("--url <url>", "backend HTTP URL").env("OUTPOST_URL").default("http://127.0.0.1:8080");
export const keyOption = () => new Option("--key <key>", "API key").env("OUTPOST_KEY");

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`not a port: ${value}`);
  return n;
}

export function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`not a positive integer: ${value}`);
  return n;
}

/** A failure the user caused: printed without a stack, exit code 1. */
export class CliError extends Error {
  override name = "CliError";
}

/** Quotes a string for a POSIX shell, so a printed command runs exactly as printed. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
