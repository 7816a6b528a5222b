// Certificate and key files for the backend's TLS listeners and for devices. A private key others can read is not
// private: refused, as a secret file is (cli/secrets.ts). PEM files are small; anything larger is a wrong path.
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";

const MAX_PEM_BYTES = 256 * 1024;

export class TlsFileError extends Error {
  override name = "TlsFileError";
}

/** What a TLS listener or client needs, as PEM text. */
export interface TlsMaterial {
  cert: string;
  key: string;
  /** CA certificates trusted for the peer: a backend's device CA, a device's server CA. */
  ca?: string;
}

export interface TlsPaths {
  cert: string;
  key: string;
  ca?: string;
}

/** A PEM file's text; `secret` (a private key) must be readable by its owner only. */
export function readPem(path: string, what: string, secret = false): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new TlsFileError(`cannot read the ${what} ${path}: ${(err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new TlsFileError(`the ${what} ${path} is not a file`);
    if (st.size > MAX_PEM_BYTES) throw new TlsFileError(`the ${what} ${path} is larger than ${MAX_PEM_BYTES / 1024} KiB: not a PEM file`);
    if (secret && process.platform !== "win32" && (st.mode & 0o077) !== 0)
      throw new TlsFileError(`the ${what} ${path} is open to group or others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 ${path}`);
  } finally {
    closeSync(fd);
  }
  const text = readFileSync(path, "utf8");
  if (!text.includes("-----BEGIN ")) throw new TlsFileError(`the ${what} ${path} is not PEM (no -----BEGIN line)`);
  return text;
}

export function readTlsFiles(paths: TlsPaths): TlsMaterial {
  return {
    cert: readPem(paths.cert, "certificate"),
    key: readPem(paths.key, "private key", true),
    ca: paths.ca === undefined ? undefined : readPem(paths.ca, "CA certificate"),
  };
}
