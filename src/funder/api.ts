import type { Rate } from '../common/rate.js';
import type { Commit, Currency, FriendMessage, Hash, PublicKey, Receipt, RelayAddress, Uid } from './types.js';

/**
 * The payment core's boundary with the node: events in, effects out. Apps' commands and the
 * core's replies are plain values the node maps to and from its app protocol.
 */

export type AppCommand =
  | { readonly kind: 'setRelays'; readonly relays: readonly RelayAddress[] }
  | { readonly kind: 'addFriend'; readonly publicKey: PublicKey; readonly name: string; readonly relays: readonly RelayAddress[] }
  | { readonly kind: 'removeFriend'; readonly publicKey: PublicKey }
  | { readonly kind: 'enableFriend'; readonly publicKey: PublicKey }
  | { readonly kind: 'disableFriend'; readonly publicKey: PublicKey }
  | { readonly kind: 'setFriendName'; readonly publicKey: PublicKey; readonly name: string }
  | { readonly kind: 'setFriendRelays'; readonly publicKey: PublicKey; readonly relays: readonly RelayAddress[] }
  | { readonly kind: 'openCurrency'; readonly publicKey: PublicKey; readonly currency: Currency }
  | { readonly kind: 'closeCurrency'; readonly publicKey: PublicKey; readonly currency: Currency }
  | { readonly kind: 'removeCurrency'; readonly publicKey: PublicKey; readonly currency: Currency }
  | { readonly kind: 'setMaxDebt'; readonly publicKey: PublicKey; readonly currency: Currency; readonly remoteMaxDebt: bigint }
  | { readonly kind: 'setRate'; readonly publicKey: PublicKey; readonly currency: Currency; readonly rate: Rate }
  | { readonly kind: 'resetFriendChannel'; readonly publicKey: PublicKey; readonly resetToken: Uint8Array }
  | { readonly kind: 'addInvoice'; readonly invoiceId: Hash; readonly currency: Currency; readonly totalDestPayment: bigint }
  | { readonly kind: 'cancelInvoice'; readonly invoiceId: Hash }
  | { readonly kind: 'commitInvoice'; readonly commit: Commit }
  | {
    readonly kind: 'createPayment'; readonly paymentId: Uid; readonly invoiceId: Hash; readonly currency: Currency;
    readonly totalDestPayment: bigint; readonly destPublicKey: PublicKey;
  }
  | {
    readonly kind: 'createTransaction'; readonly paymentId: Uid; readonly requestId: Uid;
    readonly route: readonly PublicKey[]; readonly destPayment: bigint; readonly fees: bigint;
  }
  /** Stops new transactions; the status is sent once the payment is resolved. */
  | { readonly kind: 'requestClosePayment'; readonly paymentId: Uid }
  /** The payment's status now, whatever its stage. */
  | { readonly kind: 'paymentStatus'; readonly paymentId: Uid }
  | { readonly kind: 'ackClosePayment'; readonly paymentId: Uid; readonly ackUid: Uid };

export type AppErrorCode =
  | 'ERR_FUNDER_BAD_ARGUMENT'
  | 'ERR_FUNDER_UNKNOWN_FRIEND'
  | 'ERR_FUNDER_FRIEND_EXISTS'
  | 'ERR_FUNDER_SELF'
  | 'ERR_FUNDER_CURRENCY_ACTIVE'
  | 'ERR_FUNDER_CURRENCY_LIMIT'
  | 'ERR_FUNDER_NOT_INCONSISTENT'
  | 'ERR_FUNDER_BAD_RESET_TOKEN'
  | 'ERR_FUNDER_INVOICE_EXISTS'
  | 'ERR_FUNDER_UNKNOWN_INVOICE'
  | 'ERR_FUNDER_BAD_COMMIT'
  | 'ERR_FUNDER_INVOICE_INCOMPLETE'
  | 'ERR_FUNDER_COMMIT_EXPIRED'
  | 'ERR_FUNDER_PAYMENT_EXISTS'
  | 'ERR_FUNDER_UNKNOWN_PAYMENT'
  | 'ERR_FUNDER_PAYMENT_CLOSED'
  | 'ERR_FUNDER_BAD_ROUTE'
  | 'ERR_FUNDER_FRIEND_NOT_READY'
  | 'ERR_FUNDER_DUPLICATE_REQUEST'
  | 'ERR_FUNDER_QUEUE_FULL'
  | 'ERR_FUNDER_OVERPAY'
  | 'ERR_FUNDER_NOT_RESOLVED'
  | 'ERR_FUNDER_BAD_ACK';

export interface AppError {
  readonly code: AppErrorCode;
  readonly message: string;
}

/**
 * Why a transaction was not paid: a CancelReason, and whether this node gave up on it itself
 * (its first hop was unusable, its deadline passed) or a hop further on cancelled it.
 */
export interface FailureCause {
  readonly reason: number;
  readonly local: boolean;
}

export type TransactionOutcome =
  | { readonly kind: 'complete'; readonly commit: Commit }
  | { readonly kind: 'success' }
  | { readonly kind: 'failure'; readonly cause: FailureCause };

export type PaymentStatus =
  /**
   * `commit`: the seller's answer that completes the invoice, once there is one. It stays with the
   * payment until the payment is acknowledged, so a buyer whose app missed it can fetch it again.
   */
  | { readonly kind: 'inProgress'; readonly commit: Commit | null }
  | { readonly kind: 'success'; readonly receipt: Receipt; readonly ackUid: Uid }
  /** `cause`: why its transactions failed (the most telling one), or null when none was sent. */
  | { readonly kind: 'canceled'; readonly ackUid: Uid; readonly cause: FailureCause | null }
  | { readonly kind: 'notFound' };

export type AppMessage =
  /** Exactly one per command, after the command's effects are durable; `error` null on success. */
  | { readonly kind: 'ack'; readonly appRequestId: string; readonly error: AppError | null }
  | { readonly kind: 'transactionResult'; readonly paymentId: Uid; readonly requestId: Uid; readonly outcome: TransactionOutcome }
  | { readonly kind: 'paymentStatus'; readonly paymentId: Uid; readonly status: PaymentStatus };

export type FunderEvent =
  | { readonly kind: 'friendMessage'; readonly friend: PublicKey; readonly message: FriendMessage }
  | { readonly kind: 'friendOnline'; readonly friend: PublicKey }
  | { readonly kind: 'friendOffline'; readonly friend: PublicKey }
  /**
   * `appId` names the connection replies go to; `owner` is the app's identity (its key, hex). The
   * payments and invoices an app creates answer only to the same owner: another app, even with
   * the same permission, sees them as unknown.
   */
  | { readonly kind: 'app'; readonly appId: string; readonly owner: string; readonly appRequestId: string; readonly command: AppCommand }
  | { readonly kind: 'tick' };

export type Effect =
  | { readonly kind: 'sendFriend'; readonly friend: PublicKey; readonly message: FriendMessage }
  | { readonly kind: 'toApp'; readonly appId: string; readonly message: AppMessage };

/** A friend's peer fault, counted by the node; it never changes state other than a detected inconsistency. */
export interface PeerFault {
  readonly friend: PublicKey;
  readonly code: string;
}

/** Entities an event changed; the store turns them into one atomic write. */
export interface ChangeSet {
  node: boolean;
  friends: Set<string>;
  channels: Set<string>;
  /** friendKey \0 L|R \0 request id hex \0 currency */
  txs: Set<string>;
  upstream: Set<string>;
  downstream: Set<string>;
  deadlines: Set<string>;
  invoices: Set<string>;
  payments: Set<string>;
  /** Queued operations added (the item) or removed (null), by friendKey \0 seq. */
  queued: Map<string, import('./state.js').QueuedOp | null>;
}

export function emptyChangeSet(): ChangeSet {
  return {
    node: false, friends: new Set(), channels: new Set(), txs: new Set(), upstream: new Set(),
    downstream: new Set(), deadlines: new Set(), invoices: new Set(), payments: new Set(), queued: new Map(),
  };
}

export function isEmptyChangeSet(c: ChangeSet): boolean {
  return !c.node && c.friends.size === 0 && c.channels.size === 0 && c.txs.size === 0 && c.upstream.size === 0
    && c.downstream.size === 0 && c.deadlines.size === 0 && c.invoices.size === 0 && c.payments.size === 0 && c.queued.size === 0;
}

export interface FunderOutput {
  readonly effects: Effect[];
  readonly changes: ChangeSet;
  readonly faults: PeerFault[];
}
