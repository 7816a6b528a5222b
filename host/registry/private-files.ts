// The data directory holds credentials' hashes and the backend's broker password: only its owner may read it.
// Modes are set explicitly (not through the umask, which is the whole process's) on create, and repaired on
// open, so a directory made by an older version (0755, files 0644) is closed up the next time it is used.
import { chmodSync, closeSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";

export const PRIVATE_DIR = 0o700;
export const PRIVATE_FILE = 0o600;

/** chmod, except that a path owned by someone else which is already private enough is left as it is. */
function restrict(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EPERM" && (statSync(path).mode & 0o077) === 0) return;
    throw err;
  }
}

export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  restrict(dir, PRIVATE_DIR);
}

/** Creates the file empty with mode 0600 if it is missing (SQLite then gives its -wal and -shm the same mode). */
export function privateFile(path: string): void {
  if (existsSync(path)) return restrict(path, PRIVATE_FILE);
  closeSync(openSync(path, "a", PRIVATE_FILE));
  restrict(path, PRIVATE_FILE);
}

/** Repairs the mode of each path that exists. */
export function restrictExisting(paths: string[]): void {
  for (const p of paths) if (existsSync(p)) restrict(p, PRIVATE_FILE);
}

/**
 * A secret kept in its own 0600 file: read if it exists, else (with `make`) created exactly once even when
 * several processes race: written under a temporary name, then linked into place, which fails if another won.
 */
export function secretFile(path: string, make?: () => string): string | undefined {
  if (existsSync(path)) {
    restrict(path, PRIVATE_FILE);
    return readFileSync(path, "utf8").trim() || undefined;
  }
  if (!make) return undefined;
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(tmp, make() + "\n", { mode: PRIVATE_FILE, flag: "wx" });
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    unlinkSync(tmp);
  }
  return readFileSync(path, "utf8").trim();
}
