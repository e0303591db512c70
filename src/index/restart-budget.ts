/**
 * When to restart something that failed: after `baseMs`, doubled for every restart already
 * made in the last minute, and not at all once `perMinute` restarts were made in it. Pure (the
 * caller passes the time).
 */
export class RestartBudget {
  private readonly recent: number[] = [];

  constructor(
    private readonly perMinute: number,
    private readonly baseMs: number,
  ) {}

  /** The delay before the next restart, or null when the minute's budget is spent (nothing is recorded then). */
  next(nowMs: number): number | null {
    while (this.recent.length > 0 && nowMs - this.recent[0] >= 60_000) this.recent.shift();
    if (this.recent.length >= this.perMinute) return null;
    const delay = this.baseMs * 2 ** this.recent.length;
    this.recent.push(nowMs + delay);
    return delay;
  }
}
