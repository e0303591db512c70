import { toBase64Url } from '../common/bytes.js';
import type { RelayRef } from './channeler.js';

/**
 * The relays a node listens on: the ones it is configured with, and for a grace period the ones
 * it used before a change. Friends learn of a change only with the node's next move to them, so
 * one that has not heard yet still dials the old relays, and finds the node there.
 */

export const RELAY_GRACE_MS_DEFAULT = 10 * 60_000;

const relayId = (r: RelayRef): string => `${toBase64Url(r.publicKey)}@${r.address}`;

/** An old relay and the wall-clock time (ms) its grace period ends. */
export interface RetiredRelay {
  readonly relay: RelayRef;
  readonly untilMs: number;
}

export class RelayListenSet {
  private current: RelayRef[] = [];
  /** The configured list last seen (by reference), the answer given for it, and when it next changes on its own. */
  private configuredRef: readonly RelayRef[] | null = null;
  private listening: RelayRef[] = [];
  private nextExpiryMs = Infinity;
  /** Relays given up, oldest first, with when listening on them ends. */
  private readonly retired = new Map<string, RetiredRelay>();
  /** Grows whenever the old relays change, so the owner knows when to save them. */
  private revisionCount = 0;

  /**
   * `retiredMax` bounds how many old relays are kept at once (the oldest go first). `restored`
   * are the old relays saved before a restart: a friend that has not heard of the move yet
   * still dials them, whether or not this node restarted in between.
   */
  constructor(private readonly graceMs: number, private readonly retiredMax: number, restored: readonly RetiredRelay[] = []) {
    for (const entry of restored.slice(-retiredMax)) this.retired.set(relayId(entry.relay), entry);
  }

  /**
   * The relays to listen on at `nowMs` when the node is configured with `configured`. The same
   * array as last time while nothing changed (the core replaces its relay list when it changes),
   * so a caller can tell "no change" by reference.
   */
  update(configured: readonly RelayRef[], nowMs: number): RelayRef[] {
    if (configured === this.configuredRef && nowMs < this.nextExpiryMs) return this.listening;
    const wanted = new Set(configured.map(relayId));
    const before = this.retired.size;
    let changed = false;
    for (const relay of this.current) {
      const id = relayId(relay);
      if (!wanted.has(id) && !this.retired.has(id)) {
        this.retired.set(id, { relay, untilMs: nowMs + this.graceMs });
        changed = true;
      }
    }
    for (const id of wanted) changed = this.retired.delete(id) || changed;
    for (const [id, entry] of this.retired) if (entry.untilMs <= nowMs) this.retired.delete(id);
    for (const id of this.retired.keys()) {
      if (this.retired.size <= this.retiredMax) break;
      this.retired.delete(id);
    }
    if (changed || this.retired.size !== before) this.revisionCount++;
    this.current = [...configured];
    this.configuredRef = configured;
    this.nextExpiryMs = Math.min(Infinity, ...[...this.retired.values()].map((entry) => entry.untilMs));
    this.listening = [...configured, ...[...this.retired.values()].map((entry) => entry.relay)];
    return this.listening;
  }

  /** Old relays still listened on. */
  get retiredCount(): number {
    return this.retired.size;
  }

  /** Old relays still listened on, oldest first, with when each one's grace period ends. */
  retiredRelays(): RetiredRelay[] {
    return [...this.retired.values()];
  }

  /** Changes whenever the old relays do. */
  get revision(): number {
    return this.revisionCount;
  }
}
