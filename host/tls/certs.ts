// Certificates for a first deployment, made with @peculiar/x509 on Node's WebCrypto (no openssl child process):
// a CA, a server certificate for given host names and IPs, and client certificates that name one device each.
// ECDSA P-256 throughout: small, fast, and what mbedTLS (the native and ESP32 boards) handles well.
import { webcrypto, randomBytes, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import "./reflect-metadata.ts"; // before @peculiar/x509: its tsyringe needs it at load
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;
/** A device certificate names its device twice: the subject CN (what mosquitto's use_identity_as_username reads) and this URI SAN. */
export const DEVICE_URI_PREFIX = "urn:outpost:device:";

export interface Pem {
  cert: string;
  key: string;
}

export interface Validity {
  /** Default: now. */
  notBefore?: Date;
  /** Default: notBefore plus `days`. */
  notAfter?: Date;
  days?: number;
}

const serial = () => {
  const b = randomBytes(16);
  b[0] &= 0x7f; // a positive INTEGER
  return b.toString("hex");
};

function period(v: Validity, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const notBefore = v.notBefore ?? new Date(Date.now() - 60_000); // a minute back: clocks differ a little
  const notAfter = v.notAfter ?? new Date(notBefore.getTime() + (v.days ?? defaultDays) * DAY_MS);
  return { notBefore, notAfter };
}

async function keyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key as webcrypto.CryptoKey), "PRIVATE KEY");
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** The CA's signing key from its PEM (PKCS#8, as written by makeCa). */
async function signingKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  return (await webcrypto.subtle.importKey("pkcs8", der, ALG, false, ["sign"])) as CryptoKey;
}

export async function makeCa(name = "outpost CA", v: Validity = {}): Promise<Pem> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${escapeDn(name)}`,
    ...period(v, 3650),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString("pem"), key: await keyPem(keys.privateKey) };
}

async function issue(ca: Pem, subject: string, sans: x509.JsonGeneralName[], usage: string, v: Validity, days: number): Promise<Pem> {
  const caCert = new x509.X509Certificate(ca.cert);
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: caCert.subject,
    ...period(v, days),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: await signingKey(ca.key),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([usage]),
      new x509.SubjectAlternativeNameExtension(sans),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { cert: cert.toString("pem"), key: await keyPem(keys.privateKey) };
}

/** A server certificate for `names`: each a host name or an IP address (the first is the CN). */
export async function makeServerCert(ca: Pem, names: string[], v: Validity = {}): Promise<Pem> {
  if (names.length === 0) throw new Error("a server certificate needs at least one host name or IP address");
  const sans = names.map((n): x509.JsonGeneralName => (isIP(n) ? { type: "ip", value: n } : { type: "dns", value: n }));
  return issue(ca, `CN=${escapeDn(names[0])}`, sans, x509.ExtendedKeyUsage.serverAuth, v, 825);
}

/** A client certificate for device `id`: CN=<id> and the SAN urn:outpost:device:<id>. */
export async function makeDeviceCert(ca: Pem, id: string, v: Validity = {}): Promise<Pem> {
  return issue(ca, `CN=${escapeDn(id)}`, [{ type: "url", value: DEVICE_URI_PREFIX + id }], x509.ExtendedKeyUsage.clientAuth, v, 825);
}

/** RFC 4514: the characters that would change a distinguished name's meaning. */
function escapeDn(value: string): string {
  return value.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`).replace(/^[ #]|[ ]$/g, (c) => `\\${c}`);
}

/** SHA-256 of the certificate's DER, lower-case hex without colons: what the registry pins. */
export function fingerprint(cert: string | Buffer | X509Certificate): string {
  const c = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  return c.fingerprint256.replaceAll(":", "").toLowerCase();
}

/** The device a client certificate names: its CN and URI SAN must agree (undefined if it names none or two). */
export function deviceIdOf(cert: X509Certificate): string | undefined {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  const uris = (cert.subjectAltName ?? "")
    .split(/,\s*/)
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
  const named = uris.filter((u) => u.startsWith(DEVICE_URI_PREFIX)).map((u) => u.slice(DEVICE_URI_PREFIX.length));
  if (named.length > 1) return undefined;
  if (named.length === 1) return cn === undefined || cn === named[0] ? named[0] : undefined;
  return cn;
}

export interface RevokedSerial {
  /** The certificate's serial number, hex. */
  serial: string;
  revokedAt: Date;
}

/**
 * A CRL signed by the CA for the revoked serials (what mosquitto's `crlfile` reads). Its nextUpdate is the CA's own
 * expiry: OpenSSL refuses every certificate once a CRL it checks has expired, and this one is rewritten at each change.
 */
export async function makeCrl(ca: Pem, revoked: RevokedSerial[], now = new Date()): Promise<string> {
  const caCert = new x509.X509Certificate(ca.cert);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subject,
    thisUpdate: new Date(now.getTime() - 60_000),
    nextUpdate: caCert.notAfter,
    signingAlgorithm: ALG,
    signingKey: await signingKey(ca.key),
    entries: revoked.map((r) => ({ serialNumber: r.serial, revocationDate: r.revokedAt, reason: x509.X509CrlReason.cessationOfOperation })),
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(caCert)],
  });
  return x509.PemConverter.encode(crl.rawData, "X509 CRL"); // OpenSSL reads this label, not the library's "CRL"
}

/** A certificate's serial number, lower-case hex (as the CRL lists it). */
export function serialOf(cert: string | X509Certificate): string {
  const c = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  return c.serialNumber.toLowerCase();
}
