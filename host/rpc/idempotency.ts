// Idempotency-Key: a retried call with the same key (same API key, same device) gets the first call's answer, or
// waits for it while it runs, instead of running again. Kept for a window and a bounded count; an answer that
// says "not delivered" (503) is not kept, so its retry runs.
import { createHash } from "node:crypto";

export const IDEMPOTENCY_WINDOW_MS = 10 * 60_000;
export const IDEMPOTENCY_MAX_ENTRIES = 10_000;
/** Printable ASCII, as an HTTP header token; long enough for a UUID or a caller's own scheme. */
const KEY = /^[\x21-\x7e]{1,128}$/;

export interface Outcome {
  status: number;
  /** JSON text, or empty (202). */
  body: string;
}

export class IdempotencyKeyInvalid extends Error {
  override name = "IdempotencyKeyInvalid";
}
/** The same key came with another method or other params: it names another call. */
export class IdempotencyKeyReused extends Error {
  override name = "IdempotencyKeyReused";
}

interface Entry {
  fingerprint: string;
  outcome: Promise<Outcome>;
  expires: number;
}

export class IdempotencyStore {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly windowMs = IDEMPOTENCY_WINDOW_MS,
    private readonly maxEntries = IDEMPOTENCY_MAX_ENTRIES,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * Runs `run` once per (caller, device, key): a repeat within the window gets the same outcome. `caller` is the
   * caller's credential (hashed here, never kept as is), so two API keys never share answers.
   */
  run(caller: string, deviceId: string, key: string, method: string, params: unknown, run: () => Promise<Outcome>): Promise<Outcome> {
    if (!KEY.test(key)) throw new IdempotencyKeyInvalid("Idempotency-Key must be 1 to 128 printable ASCII characters");
    const now = Date.now();
    this.expire(now);
    const id = createHash("sha256").update(caller).update("\0").update(deviceId).update("\0").update(key).digest("base64url");
    const fingerprint = createHash("sha256")
      .update(method)
      .update("\0")
      .update(JSON.stringify(params ?? null))
      .digest("base64url");
    const seen = this.entries.get(id);
    if (seen) {
      if (seen.fingerprint !== fingerprint) throw new IdempotencyKeyReused("this Idempotency-Key was used for another method or other params");
      return seen.outcome;
    }
    const outcome = run().then((o) => {
      if (o.status === 503 && this.entries.get(id)?.outcome === outcome) this.entries.delete(id); // not delivered: the retry may run
      return o;
    });
    // A thrown error is not an answer the device gave: forget it, so a retry runs.
    outcome.catch(() => this.entries.get(id)?.outcome === outcome && this.entries.delete(id));
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!); // oldest first
    this.entries.set(id, { fingerprint, outcome, expires: now + this.windowMs });
    return outcome;
  }

  /** Insertion order is expiry order (one window for all), so the expired ones are at the front. */
  private expire(now: number): void {
    for (const [id, e] of this.entries) {
      if (e.expires > now) break;
      this.entries.delete(id);
    }
  }
}
