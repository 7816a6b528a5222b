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
    seen = now;
    onChange();
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
