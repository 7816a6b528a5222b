// A token bucket per WebSocket connection: what one device may send, so a device flooding frames costs the
// backend a bounded amount of work and cannot slow the other devices down. Answers to the backend's own requests
// are paid for: each request sent to the device credits it one frame.

export interface FrameRate {
  /** Frames per second a device may send on its own (telemetry, notifications, its requests). */
  perSecond: number;
  /** Frames it may send at once on top of that. */
  burst: number;
}

export const DEFAULT_FRAME_RATE: FrameRate = { perSecond: 100, burst: 200 };

/** At most this many unanswered requests' credits are kept (a device that never answers cannot bank a flood). */
const MAX_CREDIT = 1024;

export class FrameBucket {
  private tokens: number;
  private credit = 0;
  private at: number;

  constructor(
    private readonly rate: FrameRate,
    now = performance.now(),
  ) {
    this.tokens = rate.burst;
    this.at = now;
  }

  /** The backend sent the device a request: its answer frame is free. */
  owe(): void {
    if (this.credit < MAX_CREDIT) this.credit++;
  }

  /** One frame from the device: true if it may have it. */
  take(now = performance.now()): boolean {
    if (this.credit > 0) {
      this.credit--;
      return true;
    }
    this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.at) / 1000) * this.rate.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
