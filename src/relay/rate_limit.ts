/**
 * A token bucket over an injected clock: `ratePerSecond` tokens a second, holding at most
 * `burst`. Used per connection (frames and bytes a second) and per worker (accepts a second).
 */
export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.lastMs = nowMs;
  }

  /** Takes `amount` tokens if available; false (and nothing taken) otherwise. */
  take(amount: number, nowMs: number): boolean {
    const elapsedMs = nowMs - this.lastMs;
    if (elapsedMs > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsedMs * this.ratePerSecond) / 1000);
      this.lastMs = nowMs;
    }
    if (this.tokens < amount) return false;
    this.tokens -= amount;
    return true;
  }
}
