// The release manifest (docs/ota.md, "The release"): a flat JSON object kept as the exact bytes that were signed,
// and its Ed25519 signature. One parser for the backend (upload) and the Node device (ota.begin), so both refuse
// the same manifests with the same names.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { ABI_VERSION } from "../abi.ts";
import { OTA_ERROR_CODES } from "../abi-table.ts";

export const MANIFEST_FORMAT = "outpost-release/1";
export const MANIFEST_MAX = 512;
export const SIGNATURE_BYTES = 64;
const U32_MAX = 0xffffffff;
const HEX64 = /^[0-9a-f]{64}$/;
/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the raw 32-byte key follows. */
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: number;
  size: number;
  sha256: string;
  abi: number;
  label?: string;
}

/** A refusal with the protocol's error name (docs/ota.md, "Error names"). */
export class OtaError extends Error {
  override name = "OtaError";
  constructor(
    readonly code: OtaErrorName,
    message: string,
  ) {
    super(message);
  }
}

/** Each name's JSON-RPC code (docs/ota.md), generated from assembly/abi.json (otaErrors), as the boards' OUTPOST_OTA_ERR_* are. */
export { OTA_ERROR_CODES };
export type OtaErrorName = keyof typeof OTA_ERROR_CODES;

const isWhole = (v: unknown, min: number, max: number): v is number => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/** Parses the manifest bytes; throws OtaError bad_manifest naming what is wrong. */
export function parseManifest(bytes: Uint8Array): Manifest {
  const bad = (why: string) => new OtaError("bad_manifest", why);
  if (bytes.length > MANIFEST_MAX) throw bad(`the manifest is ${bytes.length} bytes, over ${MANIFEST_MAX}`);
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw bad("the manifest is not JSON");
  }
  if (typeof m !== "object" || m === null || Array.isArray(m)) throw bad("the manifest is not a JSON object");
  for (const v of Object.values(m)) if (typeof v === "object" && v !== null) throw bad("the manifest is not flat (a value is an object or array)");
  if (m.format !== MANIFEST_FORMAT) throw bad(`format must be "${MANIFEST_FORMAT}"`);
  if (!isWhole(m.version, 1, U32_MAX)) throw bad("version must be a whole number from 1 to 4294967295");
  if (!isWhole(m.size, 1, U32_MAX)) throw bad("size must be a whole number of bytes from 1");
  if (typeof m.sha256 !== "string" || !HEX64.test(m.sha256)) throw bad("sha256 must be 64 lowercase hex digits");
  if (!isWhole(m.abi, 1, U32_MAX)) throw bad("abi must be a whole number from 1");
  if (m.label !== undefined && typeof m.label !== "string") throw bad("label must be a string");
  const out: Manifest = { format: MANIFEST_FORMAT, version: m.version, size: m.size, sha256: m.sha256, abi: m.abi };
  if (typeof m.label === "string") out.label = m.label;
  return out;
}

/** The manifest's bytes for a module: what `outpost release create` signs. */
export function manifestFor(module: Uint8Array, version: number, opts: { label?: string; abi?: number } = {}): Buffer {
  const m: Manifest = { format: MANIFEST_FORMAT, version, size: module.length, sha256: sha256Hex(module), abi: opts.abi ?? ABI_VERSION };
  if (opts.label !== undefined) m.label = opts.label;
  return Buffer.from(JSON.stringify(m), "utf8");
}

export const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** A public key from its 64 hex digits (the raw 32 bytes). */
export function publicKeyFromHex(hex: string): KeyObject {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new RangeError("an Ed25519 public key is 64 hex digits (32 bytes)");
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(hex, "hex")]), format: "der", type: "spki" });
}

export function publicKeyHex(key: KeyObject): string {
  const der = (key.type === "private" ? createPublicKey(key) : key).export({ format: "der", type: "spki" });
  return der.subarray(SPKI_PREFIX.length).toString("hex");
}

/** The first 8 bytes of SHA-256 of the raw public key, in hex. */
export const keyId = (publicHex: string): string => createHash("sha256").update(Buffer.from(publicHex, "hex")).digest("hex").slice(0, 16);

/** A new key pair; the private key as one line (base64 of its PKCS#8 DER), fit for a 0600 secret file. */
export function generateSigningKey(): { privateKey: string; publicKey: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const pub = publicKeyHex(publicKey);
  return { privateKey: privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"), publicKey: pub, keyId: keyId(pub) };
}

/** The private key from its one-line form (or a PEM, if someone has one). */
export function signingKey(text: string): KeyObject {
  const t = text.trim();
  const key = t.startsWith("-----") ? createPrivateKey(t) : createPrivateKey({ key: Buffer.from(t, "base64"), format: "der", type: "pkcs8" });
  if (key.asymmetricKeyType !== "ed25519") throw new RangeError(`the signing key is ${key.asymmetricKeyType}, not Ed25519`);
  return key;
}

export const signManifest = (manifest: Uint8Array, key: KeyObject): Buffer => sign(null, manifest, key);

/** Whether any of `keys` verifies `signature` over the exact manifest bytes. */
export function signatureValid(manifest: Uint8Array, signature: Uint8Array, keys: readonly KeyObject[]): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  return keys.some((k) => verify(null, manifest, k, signature));
}

/** Strict base64 (RFC 4648 section 4, padded): Buffer.from would skip junk silently. */
export function decodeBase64(text: unknown, what: string, code: OtaErrorName = "bad_params"): Buffer {
  if (typeof text !== "string" || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text))
    throw new OtaError(code, `${what} must be base64 (RFC 4648, padded)`);
  return Buffer.from(text, "base64");
}
