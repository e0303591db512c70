import type { Rate } from '../common/rate.js';
import { CancelReason } from '../wire/generated/offset/funder/cancel-reason.js';

export { CancelReason };

/** Plain values exchanged between friends and with apps. Byte fields are fixed-size Uint8Arrays. */

export type PublicKey = Uint8Array; // 32
export type Uid = Uint8Array; // 16
export type Hash = Uint8Array; // 32
export type Signature = Uint8Array; // 64
export type Currency = string;

export interface RelayAddress {
  readonly publicKey: PublicKey;
  readonly address: string;
}

export interface RequestOp {
  readonly kind: 'request';
  readonly requestId: Uid;
  readonly srcHashedLock: Hash;
  /** Keys still to go after the receiver; empty when the receiver is the destination. */
  readonly route: readonly PublicKey[];
  readonly destPayment: bigint;
  readonly totalDestPayment: bigint;
  readonly invoiceId: Hash;
  readonly leftFees: bigint;
  /**
   * Milliseconds, from the stamp of the move that carries the request, that the receiver has to
   * answer it (1..MAX_REQUEST_TTL_MS). Stamp plus ttl is the request's deadline on both sides.
   */
  readonly ttlMs: number;
}

export interface ResponseOp {
  readonly kind: 'response';
  readonly requestId: Uid;
  readonly destHashedLock: Hash;
  readonly isComplete: boolean;
  readonly randNonce: Uid;
  readonly signature: Signature;
}

/** Sent by the receiver of a request: it will not be paid. */
export interface CancelOp {
  readonly kind: 'cancel';
  readonly requestId: Uid;
  /**
   * A CancelReason as the hop that gave up saw it, kept as the byte received (a newer peer's
   * value we do not know is still signed over and passed on unchanged). Absent in older records.
   */
  readonly reason?: number;
}

/** Sent by the receiver of a request once the buyer's commit revealed the source lock. */
export interface CollectOp {
  readonly kind: 'collect';
  readonly requestId: Uid;
  readonly srcPlainLock: Hash;
  readonly destPlainLock: Hash;
}

/**
 * Sent by the sender of a request once its deadline has passed (the collect deadline, once it
 * was answered): it is withdrawn. The receiver accepts it only while it owes nothing downstream.
 */
export interface ExpireOp {
  readonly kind: 'expire';
  readonly requestId: Uid;
}

export type FriendTcOp = RequestOp | ResponseOp | CancelOp | CollectOp | ExpireOp;

export interface CurrencyOp {
  readonly currency: Currency;
  readonly op: FriendTcOp;
}

export interface MoveToken {
  readonly oldToken: Signature;
  readonly ops: readonly CurrencyOp[];
  readonly relays: readonly RelayAddress[] | null;
  readonly activeCurrencies: readonly Currency[] | null;
  readonly infoHash: Hash;
  readonly randNonce: Uid;
  readonly newToken: Signature;
  /**
   * The sender's wall clock in milliseconds when it signed the move, never below the stamp of
   * the move it answers. Request deadlines count from it, so both sides derive the same ones.
   */
  readonly timeMs: number;
}

export interface CurrencyBalance {
  readonly currency: Currency;
  readonly balance: bigint;
}

export interface ResetTerms {
  readonly resetToken: Signature;
  readonly inconsistencyCounter: bigint;
  readonly balanceForReset: readonly CurrencyBalance[];
  /** The proposer's signature over its terms, bound to both keys. */
  readonly signature: Signature;
}

export type FriendMessage =
  | { readonly kind: 'moveTokenRequest'; readonly moveToken: MoveToken; readonly tokenWanted: boolean }
  | { readonly kind: 'inconsistencyError'; readonly resetTerms: ResetTerms };

export interface Commit {
  readonly responseHash: Hash;
  readonly srcPlainLock: Hash;
  readonly destHashedLock: Hash;
  readonly destPayment: bigint;
  readonly totalDestPayment: bigint;
  readonly invoiceId: Hash;
  readonly currency: Currency;
  readonly signature: Signature;
}

export interface Receipt {
  readonly responseHash: Hash;
  readonly invoiceId: Hash;
  readonly currency: Currency;
  readonly srcPlainLock: Hash;
  readonly destPlainLock: Hash;
  readonly isComplete: boolean;
  readonly destPayment: bigint;
  readonly totalDestPayment: bigint;
  readonly signature: Signature;
}

export interface Invoice {
  readonly invoiceId: Hash;
  readonly currency: Currency;
  readonly destPublicKey: PublicKey;
  readonly totalDestPayment: bigint;
}

export type { Rate };
