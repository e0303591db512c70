import type { Rate } from '../common/rate.js';

/** Plain values of the index protocol (decoded, validated; never half-read wire objects). */

export interface UpdateFriendCurrency {
  readonly kind: 'update';
  readonly friend: Uint8Array; // 32-byte public key
  readonly currency: string;
  /** What `friend` can still push to the reporting node in this currency. */
  readonly recvCapacity: bigint;
  /** What the reporting node charges to forward payments that arrive from `friend`. */
  readonly rate: Rate;
}

export interface RemoveFriendCurrency {
  readonly kind: 'remove';
  readonly friend: Uint8Array;
  readonly currency: string;
}

export type IndexMutation = UpdateFriendCurrency | RemoveFriendCurrency;

export interface MutationsUpdate {
  readonly node: Uint8Array;
  readonly mutations: readonly IndexMutation[];
  readonly timeHash: Uint8Array; // 32
  /**
   * Sessions are ordered by `sessionEpoch` (the client takes its wall-clock milliseconds at
   * session start, kept above any epoch it used before); `sessionId` tells two sessions with the
   * same epoch apart, which the ratchet refuses.
   */
  readonly sessionEpoch: bigint;
  readonly sessionId: Uint8Array; // 16
  readonly counter: bigint;
  readonly randNonce: Uint8Array; // 16
  readonly signature: Uint8Array; // 64
}

export interface ExcludedEdge {
  readonly from: Uint8Array;
  readonly to: Uint8Array;
}

export interface RequestRoutes {
  readonly requestId: Uint8Array; // 16
  readonly currency: string;
  readonly amount: bigint;
  readonly source: Uint8Array;
  readonly destination: Uint8Array;
  readonly exclude: ExcludedEdge | null;
  /** Longest route in hops (edges); 0 means the protocol maximum. */
  readonly maxHops: number;
  /** Largest total fee a single route may charge for its share; null for no cap. */
  readonly maxFee: bigint | null;
  /** Most routes wanted; 0 means the server default. */
  readonly maxRoutes: number;
}

export interface IndexRoute {
  /** Public keys from source to destination. */
  readonly nodes: readonly Uint8Array[];
  /** Largest destination amount this route can deliver on its own, fees included per hop. */
  readonly capacity: bigint;
  /** The share of the requested amount assigned to this route. */
  readonly amount: bigint;
  /** Exactly what the forwarders charge for `amount` (routeFee over `forwarderRates`). */
  readonly fee: bigint;
  /** Rate of each forwarder r_1 … r_(n-2), the one it set for the previous hop. */
  readonly forwarderRates: readonly Rate[];
}

export interface ResponseRoutes {
  readonly requestId: Uint8Array;
  readonly routes: readonly IndexRoute[];
  /** The routes' amounts add up to the requested amount. */
  readonly complete: boolean;
  /** The search stopped at its work or time bound. */
  readonly truncated: boolean;
}

/** One link of a time proof chain: the expansion of one tick of one server. */
export type ChainLink = readonly Uint8Array[];

export interface ForwardMutationsUpdate {
  readonly update: MutationsUpdate;
  readonly chain: readonly ChainLink[];
}
