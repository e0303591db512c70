import { toBase64Url } from '../common/bytes.js';
import type { RelayRef } from './channeler.js';

/**
 * The relays a node listens on: the ones it is configured with, and for a grace period the ones
 * it used before a change. Friends learn of a change only with the node's next move to them, so
 * one that has not heard yet still dials the old relays, and finds the node there.
 */

export const RELAY_GRACE_MS_DEFAULT = 10 * 60_000;

const relayId = (r: RelayRef): string => `${toBase64Url(r.publicKey)}@${r.address}`;

export class RelayListenSet {
  private current: RelayRef[] = [];
  /** The configured list last seen (by reference), the answer given for it, and when it next changes on its own. */
  private configuredRef: readonly RelayRef[] | null = null;
  private listening: RelayRef[] = [];
  private nextExpiryMs = Infinity;
  /** Relays given up, oldest first, with when listening on them ends. */
  private readonly retired = new Map<string, { readonly relay: RelayRef; readonly untilMs: number }>();

  /** `retiredMax` bounds how many old relays are kept at once (the oldest go first). */
  constructor(private readonly graceMs: number, private readonly retiredMax: number) {}

  /**
   * The relays to listen on at `nowMs` when the node is configured with `configured`. The same
   * array as last time while nothing changed (the core replaces its relay list when it changes),
   * so a caller can tell "no change" by reference.
   */
  update(configured: readonly RelayRef[], nowMs: number): RelayRef[] {
    if (configured === this.configuredRef && nowMs < this.nextExpiryMs) return this.listening;
    const wanted = new Set(configured.map(relayId));
    for (const relay of this.current) {
      const id = relayId(relay);
      if (!wanted.has(id) && !this.retired.has(id)) this.retired.set(id, { relay, untilMs: nowMs + this.graceMs });
    }
    for (const id of wanted) this.retired.delete(id);
    for (const [id, entry] of this.retired) if (entry.untilMs <= nowMs) this.retired.delete(id);
    for (const id of this.retired.keys()) {
      if (this.retired.size <= this.retiredMax) break;
      this.retired.delete(id);
    }
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
}
