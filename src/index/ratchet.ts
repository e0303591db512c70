import { byteTag } from './byte-tag.js';

/**
 * Per-node replay protection. Sessions are ordered by a signed epoch: a newer epoch replaces
 * the session, an older one is refused, and a different session id under the same epoch is
 * refused too (the original adopted any new session id, so an older session's updates could be
 * replayed over a newer one). Within a session the counter must grow. The same check makes
 * federation flooding idempotent: a copy that arrives by a second path repeats (session,
 * counter) and is refused.
 */
export type RatchetVerdict = 'ok' | 'old-session' | 'session-conflict' | 'counter-replay';

interface Entry {
  epoch: bigint;
  sessionTag: string;
  counter: bigint;
  tick: number;
}

export class Ratchet {
  private readonly entries = new Map<string, Entry>();

  get size(): number {
    return this.entries.size;
  }

  static tag(bytes: Uint8Array): string {
    return byteTag(bytes);
  }

  check(node: Uint8Array, epoch: bigint, sessionId: Uint8Array, counter: bigint): RatchetVerdict {
    const entry = this.entries.get(Ratchet.tag(node));
    if (entry === undefined || epoch > entry.epoch) return 'ok';
    if (epoch < entry.epoch) return 'old-session';
    if (Ratchet.tag(sessionId) !== entry.sessionTag) return 'session-conflict';
    return counter > entry.counter ? 'ok' : 'counter-replay';
  }

  /** Records an accepted update; call only after `check` said ok and every other check passed. */
  commit(node: Uint8Array, epoch: bigint, sessionId: Uint8Array, counter: bigint, tick: number): void {
    const tag = Ratchet.tag(node);
    const entry = this.entries.get(tag);
    if (entry === undefined) {
      this.entries.set(tag, { epoch, sessionTag: Ratchet.tag(sessionId), counter, tick });
      return;
    }
    // Updated in place (entries are long-lived; a new one per update is old-generation
    // garbage), and moved to the end: insertion order is refresh order, which expire relies on.
    this.entries.delete(tag);
    const sessionTag = Ratchet.tag(sessionId);
    if (sessionTag !== entry.sessionTag) entry.sessionTag = sessionTag;
    entry.epoch = epoch;
    entry.counter = counter;
    entry.tick = tick;
    this.entries.set(tag, entry);
  }

  /** Forgets nodes silent for `keepTicks`; by then no copy of their updates can be fresh. */
  expire(nowTick: number, keepTicks: number): number {
    let removed = 0;
    for (const [tag, entry] of this.entries) {
      if (nowTick - entry.tick < keepTicks) break;
      this.entries.delete(tag);
      removed++;
    }
    return removed;
  }
}
