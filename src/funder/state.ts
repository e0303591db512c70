import type { Rate } from '../common/rate.js';
import type { FailureCause } from './api.js';
import { idKey } from './mutual_credit.js';
import { newTokenChannel, type TokenChannel } from './token_channel.js';
import type {
  Commit, Currency, FriendTcOp, Hash, PublicKey, Receipt, RelayAddress, ResetTerms, ResponseOp, Uid,
} from './types.js';

/** The whole state of one node's payment core. Everything here is persisted except `online`. */

export interface CurrencyConfig {
  rate: Rate;
  remoteMaxDebt: bigint;
  isOpen: boolean;
}

export type QueueName = 'backwards' | 'requests' | 'userRequests';

/** An operation waiting for the token. Immutable; stored under its own key by `seq`. */
export interface QueuedOp {
  readonly currency: Currency;
  readonly op: FriendTcOp;
  readonly seq: number;
  readonly queue: QueueName;
}

export interface Inconsistency {
  localTerms: ResetTerms;
  remoteTerms: ResetTerms | null;
}

export interface Friend {
  readonly publicKey: PublicKey;
  readonly key: string;
  name: string;
  relays: RelayAddress[];
  enabled: boolean;
  configs: Map<Currency, CurrencyConfig>;
  channel: TokenChannel;
  inconsistency: Inconsistency | null;
  /** Reset tokens (hex) of the terms the last reset settled; late copies of them are ignored. */
  settledResetTokens: string[];
  /** Responses, cancels, collects and expiries: they release credit, so they go first. */
  backwards: QueuedOp[];
  /** Requests forwarded from other friends. */
  requests: QueuedOp[];
  /** Requests this node's own payments started. */
  userRequests: QueuedOp[];
  /** The relay list last announced to this friend, as a comparison key. */
  sentRelaysKey: string | null;
  /** Sequence number of the next queued operation (orders the stored queue records). */
  nextSeq: number;
  // Not persisted: connection state and per-connection flags.
  online: boolean;
  remoteWantsToken: boolean;
  tokenRequested: boolean;
  resendPending: boolean;
  /**
   * Our last move as it stood when we last re-sent it because the friend re-sent the move it
   * answers. A copy of the friend's move that crossed ours in flight looks exactly like one sent
   * after ours was lost; answering each copy once at most keeps such crossings from echoing.
   */
  answeredRetransmitOf: object | null;
}

/** Where the answer to a request we sent must go. */
export type Upstream =
  | { readonly kind: 'friend'; readonly friendKey: string; readonly currency: Currency }
  | { readonly kind: 'payment'; readonly paymentKey: string }
  /** The origin is gone (removed, reset or withdrawn); answers are settled here and go no further. */
  | { readonly kind: 'orphan' };

/** What we did with a request a friend sent us. */
export type Downstream =
  | { readonly kind: 'friend'; readonly friendKey: string }
  | { readonly kind: 'invoice'; readonly invoiceKey: string };

/** A request we sent or queued, towards `friendKey`, and when we give up on it. */
export interface Deadline {
  readonly friendKey: string;
  readonly currency: Currency;
  /** Its deadline: the stamp of the move that carries it plus its ttl, both ours. */
  readonly deadlineMs: number;
  /**
   * Set once we gave up on it (withdrew it and released its origin): from then on an answer to
   * it is refused, whatever the clock says. Kept until it leaves the channel.
   */
  readonly abandoned: boolean;
}

export interface InvoiceTx {
  readonly friendKey: string;
  readonly currency: Currency;
  readonly requestId: Uid;
  readonly destPayment: bigint;
  /** The buyer's lock it carries: the transactions of one payment share it. */
  readonly srcHashedLock: Hash;
}

/** The response that completed an invoice, and the lock of the payment it completed. */
export interface InvoiceCompletion {
  readonly responseHash: Hash;
  readonly signature: Uint8Array;
  readonly destPayment: bigint;
  readonly srcHashedLock: Hash;
}

/**
 * An invoice accepts transactions of several payments (each its own source lock) until one
 * payment's transactions reach the total; the others are then cancelled. So a stranger who
 * learns the invoice id cannot block it with a payment of its own.
 */
export interface OpenInvoice {
  readonly invoiceId: Hash;
  readonly currency: Currency;
  readonly totalDestPayment: bigint;
  readonly destPlainLock: Hash;
  /** The identity of the app that created it (see FunderEvent 'app'). */
  readonly owner: string;
  txs: Map<string, InvoiceTx>;
  /** The response that completed the invoice: a commit must carry exactly it. */
  completedBy: InvoiceCompletion | null;
}

export type PaymentTxStatus = 'pending' | 'responded' | 'failed' | 'collected';

export interface PaymentTx {
  readonly requestId: Uid;
  readonly friendKey: string;
  readonly destPayment: bigint;
  readonly fees: bigint;
  status: PaymentTxStatus;
  response: ResponseOp | null;
  /** Why it failed, once it did (absent in records written before causes were kept). */
  failure?: FailureCause | null;
}

export interface Payment {
  readonly paymentId: Uid;
  readonly invoiceId: Hash;
  readonly currency: Currency;
  readonly totalDestPayment: bigint;
  readonly destPublicKey: PublicKey;
  readonly srcPlainLock: Hash;
  /** The connection of the app that created it: where transaction results go. */
  readonly appId: string;
  /** The identity of the app that created it (see FunderEvent 'app'). */
  readonly owner: string;
  closing: boolean;
  closeWaiter: string | null;
  txs: Map<string, PaymentTx>;
  commit: Commit | null;
  receipt: Receipt | null;
  readonly ackUid: Uid;
}

export interface FunderState {
  readonly localPublicKey: PublicKey;
  relays: RelayAddress[];
  friends: Map<string, Friend>;
  /** request id hex -> where its answer goes (for every request we sent). */
  upstream: Map<string, Upstream>;
  /** friendKey/currency/request id hex -> what we did with a request we received. */
  downstream: Map<string, Downstream>;
  /** request id hex -> the deadline of a request we sent or queued, and whether we gave up on it. */
  deadlines: Map<string, Deadline>;
  invoices: Map<string, OpenInvoice>;
  payments: Map<string, Payment>;
}

export function newFunderState(localPublicKey: PublicKey): FunderState {
  return {
    localPublicKey,
    relays: [],
    friends: new Map(),
    upstream: new Map(),
    downstream: new Map(),
    deadlines: new Map(),
    invoices: new Map(),
    payments: new Map(),
  };
}

export function newFriend(local: PublicKey, publicKey: PublicKey, name: string, relays: RelayAddress[]): Friend {
  return {
    publicKey,
    key: idKey(publicKey),
    name,
    relays,
    enabled: false,
    configs: new Map(),
    channel: newTokenChannel(local, publicKey),
    inconsistency: null,
    settledResetTokens: [],
    backwards: [],
    requests: [],
    userRequests: [],
    sentRelaysKey: null,
    nextSeq: 0,
    online: false,
    remoteWantsToken: false,
    tokenRequested: false,
    resendPending: false,
    answeredRetransmitOf: null,
  };
}

export function downstreamKey(friendKey: string, currency: Currency, requestKey: string): string {
  return `${friendKey}/${currency}/${requestKey}`;
}

export function relaysKey(relays: readonly RelayAddress[]): string {
  return relays.map((r) => `${idKey(r.publicKey)}@${r.address}`).join(',');
}
