// Per-device access control: a device subscribes only to its own rx and publishes only to its own tx, status
// and telemetry. The backend's own client is privileged. Pure rules first, then the aedes hooks built on them.
import type { Client, AuthenticateError, PublishPacket, Subscription, AedesPublishPacket } from "aedes";
import { BACKEND_USERNAME, isValidDeviceId, type Registry } from "../registry/registry.ts";
import { digest, sameDigest } from "../registry/secrets.ts";
import { MAX_DEVICE_RETAINED } from "./packet-limits.ts";
import type { CertCheck } from "../tls/device-identity.ts";
import { LOGIN_REFUSALS, type LoginRefusal } from "../registry/login-refusals.ts";

export const DEFAULT_PREFIX = "devices";

export function deviceTopics(prefix: string, id: string) {
  const base = `${prefix}/${id}`;
  return { rx: `${base}/rx`, tx: `${base}/tx`, status: `${base}/status`, telemetry: `${base}/telemetry` };
}

/** A device may publish (including retained messages and its will) only to its own tx, status and telemetry. */
export function devicePublishAllowed(prefix: string, id: string, topic: string): boolean {
  // Compared in place: this runs for every message a device sends.
  const leaf = prefix.length + id.length + 2;
  return (
    topic.startsWith(prefix) &&
    topic.charCodeAt(prefix.length) === SLASH &&
    topic.startsWith(id, prefix.length + 1) &&
    topic.charCodeAt(leaf - 1) === SLASH &&
    DEVICE_PUBLISH_LEAVES.has(topic.slice(leaf))
  );
}
const SLASH = 0x2f;
const DEVICE_PUBLISH_LEAVES = new Set(["tx", "status", "telemetry"]);

/** A device may subscribe to exactly its own rx: no wildcards, no other device, no $SYS. */
export function deviceSubscribeAllowed(prefix: string, id: string, filter: string): boolean {
  return filter === deviceTopics(prefix, id).rx;
}

export type Identity = { kind: "backend" } | { kind: "device"; id: string };

export interface AclContext {
  prefix: string;
  /** Checks a device's credential (the registry's verifyDevice). */
  verifyDevice(id: string, credential: string): Promise<boolean>;
  /** The backend's own password, for its privileged client (benchmarks and external tools use it too). */
  backendPassword: string;
  /** Told when a device has logged in, so presence can record the transport. */
  onDeviceLogin?(id: string): void;
  /** Whether the credential a device logged in with (its digest) is still its credential (see Registry.stillValid). */
  stillValid?(id: string, credentialDigest: Buffer): boolean;
  /** Largest retained message (or will) payload a device may publish, in bytes (default MAX_DEVICE_RETAINED). */
  maxRetained?: number;
  /**
   * A login without a password over TLS: whether the connection's client certificate may act as `claimed` (the
   * username, if any). Absent: certificates are not accepted (tls/device-identity.ts checkDeviceCertificate).
   */
  checkCertificate?(socket: unknown, claimed: string | undefined): CertCheck;
  /** Whether a certificate a device logged in with (its fingerprint) is still pinned for it. */
  certStillValid?(id: string, fingerprint: string): boolean;
  /** A device login was refused: the id it claimed, the reason (registry/login-refusals.ts), why, the peer. */
  onLoginRefused?(id: string | undefined, reason: LoginRefusal, message: string, peer: string | undefined): void;
}

export class AclRefused extends Error {
  override name = "AclRefused";
}

/** A device's retained message or will over the limit: refused, and its connection closed, so nobody stores it. */
export class RetainedTooLarge extends Error {
  override name = "RetainedTooLarge";
}

/** A refused login: the CONNACK's return code is the reason's (LOGIN_REFUSALS), its message names the reason. */
class LoginRefused extends Error {
  override name = "LoginRefused";
  readonly returnCode: number;
  constructor(
    readonly reason: LoginRefusal,
    detail: string,
  ) {
    super(`${reason}: ${detail}`);
    this.returnCode = LOGIN_REFUSALS[reason].connack;
  }
}

/** The aedes hooks, as named functions that tests call directly. */
export function createAclHooks(ctx: AclContext) {
  const identities = new WeakMap<Client, Identity>();
  /** The digest of the credential each device connection logged in with, to check it again when the registry changes. */
  const credentials = new WeakMap<Client, Buffer>();
  /** The fingerprint of the client certificate each device connection logged in with, instead of a password. */
  const certificates = new WeakMap<Client, string>();
  /** Connections the broker is closing (replaced, removed, re-credited): nothing more they publish counts, their will neither. */
  const revoked = new WeakSet<Client>();
  const backendDigest = digest(ctx.backendPassword);
  const maxRetained = ctx.maxRetained ?? MAX_DEVICE_RETAINED;

  function identity(client: Client | null): Identity | undefined {
    return client ? identities.get(client) : { kind: "backend" }; // null client: the broker's own publish
  }

  function authenticate(
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    accept: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const peer = (client as { conn?: { remoteAddress?: string } }).conn?.remoteAddress;
    // Every refusal is told once, by its name, with the id it claimed.
    const refuse = (claimed: string | undefined, reason: LoginRefusal, detail: string) => {
      const error = new LoginRefused(reason, detail);
      ctx.onLoginRefused?.(claimed, reason, detail, peer);
      accept(error as unknown as AuthenticateError, false);
    };
    if (username === BACKEND_USERNAME) {
      if (!password || !sameDigest(digest(password.toString("utf8")), backendDigest)) return refuse(username, "BadBackendPassword", "bad backend password");
      identities.set(client, { kind: "backend" });
      return accept(null, true);
    }
    if (!password && ctx.checkCertificate) return certificateLogin(client, username || undefined, refuse, accept);
    if (!username || !password) return refuse(username || undefined, "CredentialMissing", "username and password required");
    const secret = password.toString("utf8");
    if (!isValidDeviceId(username)) return refuse(username, "InvalidDeviceId", "invalid device id");
    const will = willRefusal(client, username);
    if (will) return refuse(username, will.reason, will.detail);
    ctx.verifyDevice(username, secret).then(
      (ok) => {
        if (!ok) return refuse(username, "BadCredential", "bad username or password");
        credentials.set(client, digest(secret));
        loggedIn(client, username, accept);
      },
      () => refuse(username, "CredentialCheckFailed", "credential check failed"),
    );
  }

  /** The will is checked at login, so a forbidden one refuses the connection instead of waiting for the disconnect. */
  function willRefusal(client: Client, id: string): { reason: LoginRefusal; detail: string } | undefined {
    const will = (client as unknown as { _will?: { topic: string; payload?: Buffer } })._will;
    if (will && !devicePublishAllowed(ctx.prefix, id, will.topic)) return { reason: "WillRefused", detail: `will on ${will.topic} not allowed for ${id}` };
    if (will && (will.payload?.length ?? 0) > maxRetained)
      return { reason: "WillTooLarge", detail: `will of ${will.payload?.length} bytes refused for ${id}: at most ${maxRetained}` };
    return undefined;
  }

  function loggedIn(client: Client, id: string, done: (error: AuthenticateError | null, success: boolean | null) => void): void {
    identities.set(client, { kind: "device", id });
    // Like mosquitto's use_username_as_clientid: a device cannot take over another's session by its client id.
    (client as { id: string }).id = id;
    ctx.onDeviceLogin?.(id);
    done(null, true);
  }

  /** A login by client certificate: the certificate names the device (the username, if sent, must be the same). */
  function certificateLogin(
    client: Client,
    claimed: string | undefined,
    refuse: (claimed: string | undefined, reason: LoginRefusal, detail: string) => void,
    accept: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const check = ctx.checkCertificate!((client as unknown as { conn?: unknown }).conn, claimed);
    if (!check.ok) return refuse(check.id, check.reason, check.message);
    const will = willRefusal(client, check.id);
    if (will) return refuse(check.id, will.reason, will.detail); // another device's will: it claims that device
    certificates.set(client, check.fingerprint);
    loggedIn(client, check.id, accept);
  }

  function authorizePublish(client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void {
    if (client && revoked.has(client)) return callback(new AclRefused(`publish to ${packet.topic} refused: the connection is being closed`));
    const who = identity(client);
    if (who?.kind === "backend") return callback(null);
    if (who?.kind === "device" && devicePublishAllowed(ctx.prefix, who.id, packet.topic)) {
      if (packet.retain && packet.payload.length > maxRetained)
        return callback(
          new RetainedTooLarge(`retained message of ${packet.payload.length} bytes on ${packet.topic} refused for ${who.id}: at most ${maxRetained}`),
        );
      return callback(null);
    }
    callback(new AclRefused(`publish to ${packet.topic} refused for ${who?.kind === "device" ? who.id : "unauthenticated client"}`));
  }

  function authorizeSubscribe(client: Client, subscription: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void): void {
    const who = identity(client);
    if (who?.kind === "backend") return callback(null, subscription);
    if (who?.kind === "device" && deviceSubscribeAllowed(ctx.prefix, who.id, subscription.topic)) return callback(null, subscription);
    callback(null, null); // SUBACK 0x80: refused, the connection stays
  }

  /** Last line of defence: whatever a session restored, a device only ever receives its own rx. */
  function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const who = identity(client);
    if (who?.kind === "backend") return packet;
    if (who?.kind === "device" && packet.topic === deviceTopics(ctx.prefix, who.id).rx) return packet;
    return null;
  }

  /**
   * Whether a logged-in device's credential is still the registry's (false once the device is removed or given a
   * new credential, by any process sharing the registry). Clients that are not devices are always still valid.
   */
  function stillValid(client: Client): boolean {
    const who = identities.get(client);
    const cert = certificates.get(client);
    if (who?.kind === "device" && cert !== undefined) return ctx.certStillValid?.(who.id, cert) ?? true;
    const presented = credentials.get(client);
    if (who?.kind !== "device" || !presented || !ctx.stillValid) return true;
    return ctx.stillValid(who.id, presented);
  }

  /** Marks a connection the broker is about to close: its will and anything it still sends are dropped. */
  function revoke(client: Client): void {
    revoked.add(client);
  }

  return { authenticate, authorizePublish, authorizeSubscribe, authorizeForward, identity, stillValid, revoke };
}

export type AclHooks = ReturnType<typeof createAclHooks>;

/** The hooks for a broker whose devices and backend password are those of `registry`. */
export function registryAclHooks(
  registry: Registry,
  prefix: string,
  backendPassword = registry.backendPassword(),
  more: Partial<Pick<AclContext, "checkCertificate" | "certStillValid" | "onLoginRefused" | "verifyDevice" | "stillValid">> = {},
): AclHooks {
  return createAclHooks({
    prefix,
    verifyDevice: (id, credential) => registry.verifyDevice(id, credential),
    stillValid: (id, credentialDigest) => registry.stillValid(id, credentialDigest),
    backendPassword,
    ...more,
    onLoginRefused: (id, reason, message, peer) => {
      registry.audit.record({ kind: "login_refused", actor: id ?? null, actor_kind: "device", device: id ?? null, outcome: reason, peer, detail: "mqtt" });
      more.onLoginRefused?.(id, reason, message, peer);
    },
  });
}
