// Secret options. A secret given as a flag is visible to every user of the machine (ps, /proc/<pid>/cmdline), so each
// one can also come from a file (--<name>-file, readable by its owner only) or an environment variable.
// Precedence: the flag, then the file, then the variable.
import { type Command, Option } from "commander";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { CliError } from "./common.ts";

export interface SecretSpec {
  /** The option's name without dashes: `--<name>` and `--<name>-file`. */
  name: string;
  env: string;
  what: string;
  /** false: no `--<name> <value>` (the broker password's flag form is the URL's userinfo). */
  valueFlag?: boolean;
}

export const API_KEY: SecretSpec = { name: "key", env: "OUTPOST_KEY", what: "API key" };
export const DEVICE_PASSWORD: SecretSpec = { name: "password", env: "OUTPOST_PASSWORD", what: "MQTT password (the device's credential)" };
export const BROKER_PASSWORD: SecretSpec = {
  name: "broker-password",
  env: "OUTPOST_BROKER_PASSWORD",
  what: "external broker's password (when the --broker URL has none)",
  valueFlag: false,
};

export const REDIS_PASSWORD: SecretSpec = {
  name: "redis-password",
  env: "OUTPOST_REDIS_PASSWORD",
  what: "shared Redis's password (when the --redis URL has none)",
  valueFlag: false,
};

/** A secret file larger than this is a wrong path (a log, a binary), not a secret. */
const MAX_SECRET_BYTES = 64 * 1024;

/** `--<name> <value>`, which also reads the environment variable. */
export const secretOption = (s: SecretSpec) =>
  new Option(`--${s.name} <${s.name}>`, `${s.what}; other users see flags in ps: prefer --${s.name}-file or ${s.env}`).env(s.env);
/** `--<name>-file <path>`. */
export const secretFileOption = (s: SecretSpec) =>
  new Option(
    `--${s.name}-file <path>`,
    `read the ${s.what} from a one-line file only its owner may read (chmod 600)${s.valueFlag === false ? `; or set ${s.env}` : ""}`,
  );

/** The secret the user gave `cmd`: the flag's value, else the file's content, else the environment variable's. */
export function secretValue(cmd: Command, spec: SecretSpec): string | undefined {
  const opts = cmd.opts();
  if (spec.valueFlag !== false) {
    const key = secretOption(spec).attributeName();
    if (cmd.getOptionValueSource(key) === "cli") return opts[key] || undefined;
  }
  const file = opts[secretFileOption(spec).attributeName()] as string | undefined;
  if (file !== undefined) return readSecretFile(file, `--${spec.name}-file`);
  return process.env[spec.env] || undefined; // an empty variable is no secret
}

/** The secret in `path`: one line, mode 0600 or stricter (a secret others can read is not one). */
export function readSecretFile(path: string, flag: string): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new CliError(`cannot read ${flag} ${path}: ${(err as Error).message}`);
  }
  let bytes: Buffer;
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new CliError(`${flag} ${path} is a directory, not a file`);
    if (process.platform !== "win32" && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
      throw new CliError(`${flag} ${path} is open to group or others (mode ${mode}): chmod 600 ${path}`);
    }
    // Read in a loop (a pipe, <(...), returns what it has), at most one byte past the limit.
    bytes = Buffer.alloc(MAX_SECRET_BYTES + 1);
    let n = 0;
    while (n < bytes.length) {
      const got = readSync(fd, bytes, n, bytes.length - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n > MAX_SECRET_BYTES) throw new CliError(`${flag} ${path} is larger than ${MAX_SECRET_BYTES / 1024} KiB: not a secret file`);
    bytes = bytes.subarray(0, n);
  } finally {
    closeSync(fd);
  }
  const secret = bytes.toString("utf8").replace(/\r?\n$/, "");
  if (secret === "") throw new CliError(`${flag} ${path} is empty`);
  if (/[\r\n]/.test(secret)) throw new CliError(`${flag} ${path} holds more than one line (the secret is the whole file, one line)`);
  return secret;
}
