import { bytesEqual } from '../common/bytes.js';
import { hash, randomBytes } from '../crypto/primitives.js';
import { byteTag } from './byte-tag.js';
import { MAX_CHAIN_LINKS, MAX_LINK_HASHES, RECENT_TICK_HASHES } from './constants.js';
import type { ChainLink } from './types.js';

/**
 * The hash clock. Each tick's hash commits to a fresh random value and to the newest time hash
 * of every peer server (its expansion), so a hash that appears inside a tick's expansion is
 * proven older than that tick. A chain of expansions therefore shows that a node's time hash
 * is newer than one of the verifier's own recent ticks: "signed recently".
 *
 * hashList(L) = H(label ‖ u32 count ‖ L[0] ‖ … ‖ L[count-1]); the count prefix keeps two lists
 * from colliding.
 */
const LABEL = new Uint8Array(Buffer.from('offset-ts/v1/index.hash-clock\0', 'utf8'));

export function hashList(entries: readonly Uint8Array[]): Uint8Array {
  const count = new Uint8Array(4);
  new DataView(count.buffer).setUint32(0, entries.length);
  return hash(LABEL, count, ...entries);
}

interface Tick {
  readonly hash: Uint8Array;
  readonly expansion: ChainLink;
  readonly tag: string;
}

const tagOf = byteTag;

export type ChainVerdict =
  | { readonly ok: true; readonly appendLink: ChainLink }
  | { readonly ok: false; readonly reason: 'stale-time-hash' | 'chain-too-long' | 'bad-chain' };

export class HashClock {
  private readonly ticks: Tick[] = [];
  private readonly byTag = new Map<string, Tick>();

  constructor(
    private readonly keep = RECENT_TICK_HASHES,
    private readonly random: () => Uint8Array = () => randomBytes(16),
  ) {
    this.tick([]);
  }

  /** Starts a new tick committing to the peers' newest hashes; returns its hash. */
  tick(peerHashes: readonly Uint8Array[]): Uint8Array {
    const peers = peerHashes.slice(0, MAX_LINK_HASHES - 1);
    const expansion: ChainLink = [hash(this.random()), ...peers];
    const tickHash = hashList(expansion);
    const tick: Tick = { hash: tickHash, expansion, tag: tagOf(tickHash) };
    this.ticks.push(tick);
    this.byTag.set(tick.tag, tick);
    while (this.ticks.length > this.keep) this.byTag.delete(this.ticks.shift()!.tag);
    return tickHash;
  }

  get latest(): Uint8Array {
    return this.ticks[this.ticks.length - 1].hash;
  }

  isRecent(timeHash: Uint8Array): boolean {
    return this.byTag.has(tagOf(timeHash));
  }

  /**
   * Checks that `timeHash` with `chain` is fresh here. On success returns the link this server
   * appends before forwarding: the expansion of its own tick that the proof ended on.
   */
  verify(timeHash: Uint8Array, chain: readonly ChainLink[]): ChainVerdict {
    if (chain.length > MAX_CHAIN_LINKS) return { ok: false, reason: 'chain-too-long' };
    if (chain.length === 0) {
      const own = this.byTag.get(tagOf(timeHash));
      return own === undefined ? { ok: false, reason: 'stale-time-hash' } : { ok: true, appendLink: own.expansion };
    }
    for (const link of chain) {
      if (link.length === 0 || link.length > MAX_LINK_HASHES) return { ok: false, reason: 'bad-chain' };
    }
    if (!bytesEqual(hashList(chain[0]), timeHash)) return { ok: false, reason: 'bad-chain' };
    // Each later link must hash to an entry of the link before it.
    for (let i = 1; i < chain.length; i++) {
      const h = hashList(chain[i]);
      if (!chain[i - 1].some((entry) => bytesEqual(entry, h))) return { ok: false, reason: 'bad-chain' };
    }
    for (const entry of chain[chain.length - 1]) {
      const own = this.byTag.get(tagOf(entry));
      if (own !== undefined) return { ok: true, appendLink: own.expansion };
    }
    return { ok: false, reason: 'stale-time-hash' };
  }
}
