// How fast a job sends executions: the ramp's rate for the counts so far (a pure function, so a test asserts the
// ramp by counts, never by the clock), and a token bucket that paces sending at that rate.
import type { JobSpec } from "./spec.ts";

/**
 * Executions per minute for a job that has notified `notified` devices and seen `succeeded` succeed: the ramp's
 * base times factor^(steps passed), capped by max_per_minute; max_per_minute alone without a ramp; undefined when
 * nothing limits the rate (only max_in_flight does).
 */
export function ratePerMinute(rate: JobSpec["rate"], notified: number, succeeded: number): number | undefined {
  const { ramp, max_per_minute: max } = rate;
  if (!ramp) return max;
  const steps = ramp.every_notified !== undefined ? Math.floor(notified / ramp.every_notified) : Math.floor(succeeded / ramp.every_succeeded!);
  const r = Math.floor(ramp.base_per_minute * ramp.factor ** Math.min(steps, 1000));
  return max === undefined ? Math.min(r, Number.MAX_SAFE_INTEGER) : Math.min(r, max);
}

/** Paces sends at a rate that may change between two sends; a tenth of a second's worth may go at once. */
export class TokenBucket {
  private tokens = 1;
  private at = performance.now();

  /** Takes one token at `perMinute` (undefined: no limit); false when none is there yet. */
  take(perMinute: number | undefined): boolean {
    if (perMinute === undefined) return true;
    this.refill(perMinute);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until take() can succeed at `perMinute`. */
  waitMs(perMinute: number): number {
    this.refill(perMinute);
    return Math.max(1, Math.ceil(((1 - this.tokens) * 60_000) / perMinute));
  }

  private refill(perMinute: number): void {
    const now = performance.now();
    const burst = Math.max(1, perMinute / 600);
    this.tokens = Math.min(burst, this.tokens + ((now - this.at) * perMinute) / 60_000);
    this.at = now;
  }
}
