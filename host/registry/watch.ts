// Notices device removals and new credentials made by any process sharing the registry (the CLI, another backend):
// one read of the credentials revision per period. What to do about them (disconnect) is the caller's.
import type { Registry } from "./registry.ts";

/** How often the revision is read: a removed or re-credited device is disconnected within about this long. */
export const CREDENTIALS_POLL_MS = 250;

/** Calls `onChange` after each period in which the revision moved; returns the stopper. */
export function watchCredentials(registry: Registry, onChange: () => void, periodMs = CREDENTIALS_POLL_MS): () => void {
  let seen = registry.credentialsRevision();
  const timer = setInterval(() => {
    let now: number;
    try {
      now = registry.credentialsRevision();
    } catch {
      return; // closed or busy: the next period asks again
    }
    if (now === seen) return;
    try {
      onChange();
      seen = now;
    } catch {
      // the registry's database went away while the change was looked at: the next period tries it again
    }
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Calls `onEnd` when a pinned certificate's rotation grace period or validity has ended (nothing in the registry
 * changes then, so the revision does not move); checked once per period. Returns the stopper.
 */
export function watchCredentialEnds(ends: { nextEnd(after: number): number | undefined }, onEnd: () => void, periodMs = CREDENTIALS_POLL_MS): () => void {
  let since = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    let next: number | undefined;
    try {
      next = ends.nextEnd(since);
    } catch {
      return; // closed or busy: the next period asks again
    }
    if (next !== undefined && next <= now) onEnd();
    since = now;
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
