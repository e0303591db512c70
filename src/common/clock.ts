/**
 * Time is injected so state machines stay pure and tests can replay a scenario exactly.
 * `nowMs` is monotonic milliseconds; never wall-clock time for timeouts.
 */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = {
  nowMs: () => performance.now(),
};

/** A clock that only moves when a test says so. */
export class ManualClock implements Clock {
  private current: number;
  constructor(startMs = 0) {
    this.current = startMs;
  }
  nowMs(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}
