// Secrets: random credentials, scrypt hashes compared in constant time, and mosquitto's PBKDF2 form.
import { randomBytes, scrypt, scryptSync, timingSafeEqual, pbkdf2Sync, createHash } from "node:crypto";

export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}
/** API keys: the interactive-login cost (RFC 7914 section 2 suggests N=2^14). */
export const DEFAULT_COST: ScryptCost = { N: 16384, r: 8, p: 1 };
/**
 * Device credentials: 192 random bits, so the KDF's cost adds no real protection, while every device logs in
 * again after a backend restart: 20,000 logins at N=2^14 would be ~9 CPU-minutes, at N=2^10 ~35 s.
 */
export const DEVICE_COST: ScryptCost = { N: 1024, r: 8, p: 1 };
const KEY_LEN = 32;

export function newSecret(bytes = 24): string {
  return randomBytes(bytes).toString("base64url");
}

/** "scrypt$N$r$p$salt$hash": the cost travels with the hash, so it can change later. */
export function hashSecret(secret: string, cost: ScryptCost = DEFAULT_COST): string {
  const salt = randomBytes(16);
  const hash = scryptSync(secret, salt, KEY_LEN, { ...cost, maxmem: 256 * cost.N * cost.r });
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

export class MalformedHash extends Error {
  override name = "MalformedHash";
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") throw new MalformedHash("stored hash is not scrypt$N$r$p$salt$hash");
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], "base64");
  const expected = Buffer.from(parts[5], "base64");
  const actual = await new Promise<Buffer>((resolve, reject) =>
    scrypt(secret, salt, expected.length, { N, r, p, maxmem: 256 * N * r }, (err, key) => (err ? reject(err) : resolve(key))),
  );
  return timingSafeEqual(actual, expected);
}

/** mosquitto_passwd's default "$7$" form: PBKDF2-HMAC-SHA512, 101 iterations, 12-byte salt. */
export function mosquittoHash(secret: string, iterations = 101): string {
  const salt = randomBytes(12);
  const hash = pbkdf2Sync(secret, salt, iterations, 64, "sha512");
  return `$7$${iterations}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** A fast digest for the verified-secret cache; never stored. */
export function digest(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

export function sameDigest(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
