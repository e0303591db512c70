/**
 * Encoders and decoders for the app <-> node protocol (schemas/app.fbs). Decoders take untrusted
 * bytes and return plain values or a WireError naming the field; they never throw and never hand
 * out half-read objects. Byte fields of decoded values are views into the input: copy them
 * before keeping them past the input's lifetime. Encoders take values this process built, so a
 * value outside the protocol's limits is a programmer error (assert).
 */
import * as flatbuffers from 'flatbuffers';
import { assert } from '../common/errors.js';
import type { Rate } from '../common/rate.js';
import { I128_MAX, I128_MIN, U128_MAX, U64_MAX } from '../common/bytes.js';
import {
  check, createCurrency, CURRENCY_BYTES_MAX, currencyProblem, decodeRoot, finishBytes, readHash32, readI128,
  readPublicKey, readRate, readSignature, readU128, readUid, writeHash32, writeI128, writePublicKey, writeRate,
  writeSignature, writeU128, writeUid, WireError, type DecodeResult,
} from '../wire/decode.js';
import * as A from '../wire/generated/offset/app.js';
import * as I from '../wire/generated/offset/index.js';
import type { IndexRoute as Route, RequestRoutes as RoutesQuery } from '../index/types.js';
import type { AppCommand } from '../funder/api.js';
import type { PublicKey as PublicKeyStruct } from '../wire/generated/offset/common/public-key.js';
import type { Hash32 as Hash32Struct } from '../wire/generated/offset/common/hash32.js';
import type { Uid as UidStruct } from '../wire/generated/offset/common/uid.js';
import type { Signature as SignatureStruct } from '../wire/generated/offset/common/signature.js';
import type { U128 as U128Struct } from '../wire/generated/offset/common/u128.js';
import type { I128 as I128Struct } from '../wire/generated/offset/common/i128.js';
import type { Rate as RateStruct } from '../wire/generated/offset/common/rate.js';

export { AppErrorCode, FailureReason } from '../wire/generated/offset/app.js';

// ---- limits -------------------------------------------------------------------------------

export const NAME_BYTES_MAX = 128;
export const ADDRESS_BYTES_MAX = 256;
export const MESSAGE_BYTES_MAX = 1024;
export const RELAYS_MAX = 16;
export const ROUTE_KEYS_MIN = 2;
export const ROUTE_KEYS_MAX = 32;

// ---- values -------------------------------------------------------------------------------

export interface AppPermissions {
  readonly routes: boolean;
  readonly buyer: boolean;
  readonly seller: boolean;
  readonly config: boolean;
}

export interface RelayAddress {
  readonly publicKey: Uint8Array;
  readonly address: string;
}

export interface NamedAddress extends RelayAddress {
  readonly name: string;
}

export interface AppError {
  readonly code: A.AppErrorCode;
  readonly message: string;
}

export interface Commit {
  readonly responseHash: Uint8Array;
  readonly srcPlainLock: Uint8Array;
  readonly destHashedLock: Uint8Array;
  readonly destPayment: bigint;
  readonly totalDestPayment: bigint;
  readonly invoiceId: Uint8Array;
  readonly currency: string;
  readonly signature: Uint8Array;
}

export interface Receipt {
  readonly responseHash: Uint8Array;
  readonly invoiceId: Uint8Array;
  readonly currency: string;
  readonly srcPlainLock: Uint8Array;
  readonly destPlainLock: Uint8Array;
  readonly isComplete: boolean;
  readonly destPayment: bigint;
  readonly totalDestPayment: bigint;
  readonly signature: Uint8Array;
}

export interface CurrencyConfig {
  readonly currency: string;
  readonly rate: Rate;
  readonly remoteMaxDebt: bigint;
  readonly isOpen: boolean;
}

export interface CurrencyBalance {
  readonly currency: string;
  readonly balance: bigint;
  readonly localPendingDebt: bigint;
  readonly remotePendingDebt: bigint;
}

export interface ResetTerms {
  readonly resetToken: Uint8Array;
  readonly inconsistencyCounter: bigint;
  readonly balances: readonly { readonly currency: string; readonly balance: bigint }[];
}

export type ChannelStatus =
  | { readonly kind: 'consistent'; readonly balances: readonly CurrencyBalance[] }
  | { readonly kind: 'inconsistent'; readonly localTerms: ResetTerms; readonly remoteTerms: ResetTerms | null };

export interface FriendReport {
  readonly publicKey: Uint8Array;
  readonly name: string;
  readonly relays: readonly RelayAddress[];
  readonly enabled: boolean;
  readonly online: boolean;
  readonly currencyConfigs: readonly CurrencyConfig[];
  readonly channel: ChannelStatus;
  readonly lastTokenHash: Uint8Array | null;
}

export interface NodeReport {
  readonly publicKey: Uint8Array;
  readonly relays: readonly NamedAddress[];
  readonly indexServers: readonly NamedAddress[];
  readonly connectedIndex: Uint8Array | null;
  readonly friends: readonly FriendReport[];
}

export type ReportMutation =
  | { readonly kind: 'relayAdded'; readonly relay: NamedAddress }
  | { readonly kind: 'relayRemoved'; readonly publicKey: Uint8Array }
  | { readonly kind: 'indexServerAdded'; readonly server: NamedAddress }
  | { readonly kind: 'indexServerRemoved'; readonly publicKey: Uint8Array }
  | { readonly kind: 'connectedIndexSet'; readonly publicKey: Uint8Array | null }
  | { readonly kind: 'friendAdded'; readonly friend: FriendReport }
  | { readonly kind: 'friendRemoved'; readonly publicKey: Uint8Array }
  | { readonly kind: 'friendNameSet'; readonly publicKey: Uint8Array; readonly name: string }
  | { readonly kind: 'friendRelaysSet'; readonly publicKey: Uint8Array; readonly relays: readonly RelayAddress[] }
  | { readonly kind: 'friendStatusSet'; readonly publicKey: Uint8Array; readonly enabled: boolean }
  | { readonly kind: 'friendLivenessSet'; readonly publicKey: Uint8Array; readonly online: boolean }
  | { readonly kind: 'friendCurrencyConfigSet'; readonly publicKey: Uint8Array; readonly config: CurrencyConfig }
  | { readonly kind: 'friendCurrencyConfigRemoved'; readonly publicKey: Uint8Array; readonly currency: string }
  | { readonly kind: 'friendChannelSet'; readonly publicKey: Uint8Array; readonly channel: ChannelStatus; readonly lastTokenHash: Uint8Array | null };

/** A friend's signature over its last move, with the fields it covers, from the signer's side. */
export interface SignedToken {
  readonly prefixHash: Uint8Array;
  readonly randNonce: Uint8Array;
  readonly newToken: Uint8Array;
  readonly signer: Uint8Array;
  readonly receiver: Uint8Array;
  readonly balances: readonly CurrencyBalance[];
  readonly inconsistencyCounter: bigint;
  readonly moveTokenCounter: bigint;
}

/**
 * Route requests and routes are the index protocol's own tables (schemas/app.fbs includes
 * index.fbs), so the node passes them between an app and its index server as they are.
 */
export type { ExcludedEdge as DirectedEdge, IndexRoute as Route, RequestRoutes as RoutesQuery } from '../index/types.js';

/**
 * What an app may ask: every payment-core command except `setRelays` (apps add and remove relays
 * one at a time, and the node turns that into the core's whole list), plus the node's own kinds.
 */
export type AppRequestBody =
  | Exclude<AppCommand, { readonly kind: 'setRelays' }>
  | { readonly kind: 'addRelay'; readonly relay: NamedAddress }
  | { readonly kind: 'removeRelay'; readonly publicKey: Uint8Array }
  | { readonly kind: 'addIndexServer'; readonly server: NamedAddress }
  | { readonly kind: 'removeIndexServer'; readonly publicKey: Uint8Array }
  | ({ readonly kind: 'requestRoutes' } & RoutesQuery)
  | { readonly kind: 'friendLastToken'; readonly publicKey: Uint8Array };

export type AppRequestKind = AppRequestBody['kind'];

export interface AppRequest {
  readonly appRequestId: Uint8Array;
  readonly body: AppRequestBody;
}

/** The permission a request needs. */
export function requiredPermission(kind: AppRequestKind): keyof AppPermissions {
  switch (kind) {
    case 'requestRoutes':
      return 'routes';
    case 'addInvoice': case 'cancelInvoice': case 'commitInvoice':
      return 'seller';
    case 'createPayment': case 'createTransaction': case 'requestClosePayment': case 'paymentStatus': case 'ackClosePayment':
      return 'buyer';
    default:
      return 'config';
  }
}

/** Why a transaction was not paid; `atThisNode`: the node gave up itself rather than a hop further on. */
export interface Failure {
  readonly reason: A.FailureReason;
  readonly message: string;
  readonly atThisNode: boolean;
}

export type TransactionOutcome =
  | { readonly kind: 'complete'; readonly commit: Commit }
  | { readonly kind: 'success' }
  | ({ readonly kind: 'failure' } & Failure);

export type PaymentStatus =
  | { readonly kind: 'notFound' }
  /** `commit`: the seller's answer completing the invoice, once there is one (give it to the seller). */
  | { readonly kind: 'inProgress'; readonly commit: Commit | null }
  | { readonly kind: 'success'; readonly receipt: Receipt; readonly ackUid: Uint8Array }
  /** `failure`: the most telling reason among its transactions; null when none was sent. */
  | { readonly kind: 'canceled'; readonly ackUid: Uint8Array; readonly failure: Failure | null };

export type RoutesOutcome =
  | { readonly kind: 'found'; readonly routes: readonly Route[]; readonly complete: boolean; readonly truncated: boolean }
  | { readonly kind: 'failed'; readonly error: AppError };

export type NodeToApp =
  | { readonly kind: 'permissions'; readonly permissions: AppPermissions }
  | { readonly kind: 'report'; readonly report: NodeReport }
  | { readonly kind: 'mutations'; readonly appRequestId: Uint8Array | null; readonly mutations: readonly ReportMutation[] }
  | { readonly kind: 'result'; readonly appRequestId: Uint8Array; readonly error: AppError | null }
  | { readonly kind: 'transactionResult'; readonly paymentId: Uint8Array; readonly requestId: Uint8Array; readonly outcome: TransactionOutcome }
  | { readonly kind: 'closePayment'; readonly paymentId: Uint8Array; readonly status: PaymentStatus }
  | { readonly kind: 'routes'; readonly requestId: Uint8Array; readonly outcome: RoutesOutcome }
  | { readonly kind: 'friendLastToken'; readonly appRequestId: Uint8Array; readonly publicKey: Uint8Array; readonly token: SignedToken };

// ---- decoding -----------------------------------------------------------------------------

const UTF8 = flatbuffers.Encoding.UTF8_BYTES;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const appErrorCodes = new Set(Object.values(A.AppErrorCode).filter((v): v is number => typeof v === 'number'));
const failureReasons = new Set(Object.values(A.FailureReason).filter((v): v is number => typeof v === 'number'));

/** A generated table class, as a union accessor fills it in. */
type Member = { bb: flatbuffers.ByteBuffer | null; bb_pos: number };

/** Reads one message; `bb` is the verified buffer, so required fields and offsets are sound. */
class Reader {
  constructor(private readonly bb: flatbuffers.ByteBuffer) {}

  text(raw: string | Uint8Array | null, path: string, bytesMax: number, bytesMin = 0): string {
    check(raw instanceof Uint8Array, path, 'missing');
    check(raw.byteLength <= bytesMax, path, `${raw.byteLength} bytes, more than ${bytesMax}`);
    check(raw.byteLength >= bytesMin, path, `${raw.byteLength} bytes, fewer than ${bytesMin}`);
    try {
      return utf8.decode(raw);
    } catch {
      throw checkFailure(path, 'not valid UTF-8');
    }
  }

  currency(raw: string | Uint8Array | null, path: string): string {
    const name = this.text(raw, path, CURRENCY_BYTES_MAX, 1);
    const problem = currencyProblem(name);
    check(problem === null, path, problem ?? '');
    return name;
  }

  key(s: PublicKeyStruct | null, path: string): Uint8Array {
    check(s !== null, path, 'missing');
    return readPublicKey(this.bb, s.bb_pos);
  }

  optKey(s: PublicKeyStruct | null): Uint8Array | null {
    return s === null ? null : readPublicKey(this.bb, s.bb_pos);
  }

  hash(s: Hash32Struct | null, path: string): Uint8Array {
    check(s !== null, path, 'missing');
    return readHash32(this.bb, s.bb_pos);
  }

  uid(s: UidStruct | null, path: string): Uint8Array {
    check(s !== null, path, 'missing');
    return readUid(this.bb, s.bb_pos);
  }

  sig(s: SignatureStruct | null, path: string): Uint8Array {
    check(s !== null, path, 'missing');
    return readSignature(this.bb, s.bb_pos);
  }

  u128(s: U128Struct | null, path: string): bigint {
    check(s !== null, path, 'missing');
    return readU128(this.bb, s.bb_pos);
  }

  i128(s: I128Struct | null, path: string): bigint {
    check(s !== null, path, 'missing');
    return readI128(this.bb, s.bb_pos);
  }

  rate(s: RateStruct | null, path: string): Rate {
    check(s !== null, path, 'missing');
    return readRate(this.bb, s.bb_pos);
  }

  list<T>(length: number, path: string, max: number, item: (i: number, path: string) => T): T[] {
    check(length <= max, path, `${length} entries, more than ${max}`);
    const out: T[] = [];
    for (let i = 0; i < length; i++) out.push(item(i, `${path}[${i}]`));
    return out;
  }

  permissions(t: A.AppPermissions): AppPermissions {
    return { routes: t.routes(), buyer: t.buyer(), seller: t.seller(), config: t.config() };
  }

  relay(t: A.RelayAddress | null, path: string): RelayAddress {
    check(t !== null, path, 'missing');
    return { publicKey: this.key(t.publicKey(), `${path}.public_key`), address: this.text(t.address(UTF8), `${path}.address`, ADDRESS_BYTES_MAX, 1) };
  }

  relays(length: number, get: (i: number) => A.RelayAddress | null, path: string): RelayAddress[] {
    return this.list(length, path, RELAYS_MAX, (i, p) => this.relay(get(i), p));
  }

  named(t: A.NamedAddress | null, path: string): NamedAddress {
    check(t !== null, path, 'missing');
    return {
      publicKey: this.key(t.publicKey(), `${path}.public_key`),
      address: this.text(t.address(UTF8), `${path}.address`, ADDRESS_BYTES_MAX, 1),
      name: this.text(t.name(UTF8), `${path}.name`, NAME_BYTES_MAX, 1),
    };
  }

  appError(t: A.AppError | null, path: string): AppError {
    check(t !== null, path, 'missing');
    const code = t.code();
    check(appErrorCodes.has(code), `${path}.code`, `unknown error code ${code}`);
    return { code, message: this.text(t.message(UTF8), `${path}.message`, MESSAGE_BYTES_MAX) };
  }

  commit(t: A.Commit | null, path: string): Commit {
    check(t !== null, path, 'missing');
    const commit: Commit = {
      responseHash: this.hash(t.responseHash(), `${path}.response_hash`),
      srcPlainLock: this.hash(t.srcPlainLock(), `${path}.src_plain_lock`),
      destHashedLock: this.hash(t.destHashedLock(), `${path}.dest_hashed_lock`),
      destPayment: this.u128(t.destPayment(), `${path}.dest_payment`),
      totalDestPayment: this.u128(t.totalDestPayment(), `${path}.total_dest_payment`),
      invoiceId: this.hash(t.invoiceId(), `${path}.invoice_id`),
      currency: this.currency(t.currency(UTF8), `${path}.currency`),
      signature: this.sig(t.signature(), `${path}.signature`),
    };
    check(commit.destPayment <= commit.totalDestPayment, `${path}.dest_payment`, 'exceeds total_dest_payment');
    return commit;
  }

  receipt(t: A.Receipt | null, path: string): Receipt {
    check(t !== null, path, 'missing');
    const receipt: Receipt = {
      responseHash: this.hash(t.responseHash(), `${path}.response_hash`),
      invoiceId: this.hash(t.invoiceId(), `${path}.invoice_id`),
      currency: this.currency(t.currency(UTF8), `${path}.currency`),
      srcPlainLock: this.hash(t.srcPlainLock(), `${path}.src_plain_lock`),
      destPlainLock: this.hash(t.destPlainLock(), `${path}.dest_plain_lock`),
      isComplete: t.isComplete(),
      destPayment: this.u128(t.destPayment(), `${path}.dest_payment`),
      totalDestPayment: this.u128(t.totalDestPayment(), `${path}.total_dest_payment`),
      signature: this.sig(t.signature(), `${path}.signature`),
    };
    check(receipt.destPayment <= receipt.totalDestPayment, `${path}.dest_payment`, 'exceeds total_dest_payment');
    return receipt;
  }

  currencyConfig(t: A.CurrencyConfig | null, path: string): CurrencyConfig {
    check(t !== null, path, 'missing');
    return {
      currency: this.currency(t.currency(UTF8), `${path}.currency`),
      rate: this.rate(t.rate(), `${path}.rate`),
      remoteMaxDebt: this.u128(t.remoteMaxDebt(), `${path}.remote_max_debt`),
      isOpen: t.isOpen(),
    };
  }

  resetTerms(t: A.ResetTerms | null, path: string): ResetTerms {
    check(t !== null, path, 'missing');
    return {
      resetToken: this.sig(t.resetToken(), `${path}.reset_token`),
      inconsistencyCounter: t.inconsistencyCounter(),
      balances: this.list(t.balancesLength(), `${path}.balances`, Infinity, (i, p) => {
        const b = t.balances(i);
        check(b !== null, p, 'missing');
        return { currency: this.currency(b.currency(UTF8), `${p}.currency`), balance: this.i128(b.balance(), `${p}.balance`) };
      }),
    };
  }

  balances(length: number, get: (i: number) => A.CurrencyBalance | null, path: string): CurrencyBalance[] {
    return this.list(length, path, Infinity, (i, p) => {
      const b = get(i);
      check(b !== null, p, 'missing');
      return {
        currency: this.currency(b.currency(UTF8), `${p}.currency`),
        balance: this.i128(b.balance(), `${p}.balance`),
        localPendingDebt: this.u128(b.localPendingDebt(), `${p}.local_pending_debt`),
        remotePendingDebt: this.u128(b.remotePendingDebt(), `${p}.remote_pending_debt`),
      };
    });
  }

  signedToken(t: A.SignedToken | null, path: string): SignedToken {
    check(t !== null, path, 'missing');
    return {
      prefixHash: this.hash(t.prefixHash(), `${path}.prefix_hash`),
      randNonce: this.uid(t.randNonce(), `${path}.rand_nonce`),
      newToken: this.sig(t.newToken(), `${path}.new_token`),
      signer: this.key(t.signer(), `${path}.signer`),
      receiver: this.key(t.receiver(), `${path}.receiver`),
      balances: this.balances(t.balancesLength(), (i) => t.balances(i), `${path}.balances`),
      inconsistencyCounter: t.inconsistencyCounter(),
      moveTokenCounter: t.moveTokenCounter(),
    };
  }

  channel(type: A.ChannelStatus, get: <T extends Member>(obj: T) => T | null, path: string): ChannelStatus {
    if (type === A.ChannelStatus.ChannelConsistent) {
      const t = get(new A.ChannelConsistent());
      check(t !== null, path, 'missing');
      return { kind: 'consistent', balances: this.balances(t.balancesLength(), (i) => t.balances(i), `${path}.balances`) };
    }
    check(type === A.ChannelStatus.ChannelInconsistent, path, `unknown channel status ${type}`);
    const t = get(new A.ChannelInconsistent());
    check(t !== null, path, 'missing');
    const remote = t.remoteTerms();
    return {
      kind: 'inconsistent',
      localTerms: this.resetTerms(t.localTerms(), `${path}.local_terms`),
      remoteTerms: remote === null ? null : this.resetTerms(remote, `${path}.remote_terms`),
    };
  }

  failure(reason: number, message: string | Uint8Array | null, atThisNode: boolean, path: string): Failure {
    // A reason from a newer node that this app does not know yet still fails the transaction.
    return {
      reason: failureReasons.has(reason) ? reason : A.FailureReason.Canceled,
      message: message === null ? '' : this.text(message, `${path}.message`, MESSAGE_BYTES_MAX),
      atThisNode,
    };
  }

  status(value: number, path: string): boolean {
    check(value === A.FriendStatus.Enabled || value === A.FriendStatus.Disabled, path, `unknown friend status ${value}`);
    return value === A.FriendStatus.Enabled;
  }

  liveness(value: number, path: string): boolean {
    check(value === A.Liveness.Online || value === A.Liveness.Offline, path, `unknown liveness ${value}`);
    return value === A.Liveness.Online;
  }

  friend(t: A.FriendReport | null, path: string): FriendReport {
    check(t !== null, path, 'missing');
    return {
      publicKey: this.key(t.publicKey(), `${path}.public_key`),
      name: this.text(t.name(UTF8), `${path}.name`, NAME_BYTES_MAX, 1),
      relays: this.relays(t.relaysLength(), (i) => t.relays(i), `${path}.relays`),
      enabled: this.status(t.status(), `${path}.status`),
      online: this.liveness(t.liveness(), `${path}.liveness`),
      currencyConfigs: this.list(t.currencyConfigsLength(), `${path}.currency_configs`, Infinity, (i, p) => this.currencyConfig(t.currencyConfigs(i), p)),
      channel: this.channel(t.channelType(), (obj) => t.channel(obj), `${path}.channel`),
      lastTokenHash: t.lastTokenHash() === null ? null : this.hash(t.lastTokenHash(), `${path}.last_token_hash`),
    };
  }

  report(t: A.NodeReport, path: string): NodeReport {
    return {
      publicKey: this.key(t.publicKey(), `${path}.public_key`),
      relays: this.list(t.relaysLength(), `${path}.relays`, RELAYS_MAX, (i, p) => this.named(t.relays(i), p)),
      indexServers: this.list(t.indexServersLength(), `${path}.index_servers`, Infinity, (i, p) => this.named(t.indexServers(i), p)),
      connectedIndex: this.optKey(t.connectedIndex()),
      friends: this.list(t.friendsLength(), `${path}.friends`, Infinity, (i, p) => this.friend(t.friends(i), p)),
    };
  }

  mutation(t: A.ReportMutation | null, path: string): ReportMutation {
    check(t !== null, path, 'missing');
    const type = t.bodyType();
    const B = A.ReportMutationBody;
    const body = `${path}.body`;
    const get = <T extends Member>(obj: T): T => {
      const v = t.body(obj) as T | null;
      check(v !== null, body, 'missing');
      return v;
    };
    switch (type) {
      case B.RelayAdded: return { kind: 'relayAdded', relay: this.named(get(new A.RelayAdded()).relay(), `${body}.relay`) };
      case B.RelayRemoved: return { kind: 'relayRemoved', publicKey: this.key(get(new A.RelayRemoved()).publicKey(), `${body}.public_key`) };
      case B.IndexServerAdded: return { kind: 'indexServerAdded', server: this.named(get(new A.IndexServerAdded()).server(), `${body}.server`) };
      case B.IndexServerRemoved: return { kind: 'indexServerRemoved', publicKey: this.key(get(new A.IndexServerRemoved()).publicKey(), `${body}.public_key`) };
      case B.ConnectedIndexSet: return { kind: 'connectedIndexSet', publicKey: this.optKey(get(new A.ConnectedIndexSet()).publicKey()) };
      case B.FriendAdded: return { kind: 'friendAdded', friend: this.friend(get(new A.FriendAdded()).friend(), `${body}.friend`) };
      case B.FriendRemoved: return { kind: 'friendRemoved', publicKey: this.key(get(new A.FriendRemoved()).publicKey(), `${body}.public_key`) };
      case B.FriendNameSet: {
        const m = get(new A.FriendNameSet());
        return { kind: 'friendNameSet', publicKey: this.key(m.publicKey(), `${body}.public_key`), name: this.text(m.name(UTF8), `${body}.name`, NAME_BYTES_MAX, 1) };
      }
      case B.FriendRelaysSet: {
        const m = get(new A.FriendRelaysSet());
        return { kind: 'friendRelaysSet', publicKey: this.key(m.publicKey(), `${body}.public_key`), relays: this.relays(m.relaysLength(), (i) => m.relays(i), `${body}.relays`) };
      }
      case B.FriendStatusSet: {
        const m = get(new A.FriendStatusSet());
        return { kind: 'friendStatusSet', publicKey: this.key(m.publicKey(), `${body}.public_key`), enabled: this.status(m.status(), `${body}.status`) };
      }
      case B.FriendLivenessSet: {
        const m = get(new A.FriendLivenessSet());
        return { kind: 'friendLivenessSet', publicKey: this.key(m.publicKey(), `${body}.public_key`), online: this.liveness(m.liveness(), `${body}.liveness`) };
      }
      case B.FriendCurrencyConfigSet: {
        const m = get(new A.FriendCurrencyConfigSet());
        return { kind: 'friendCurrencyConfigSet', publicKey: this.key(m.publicKey(), `${body}.public_key`), config: this.currencyConfig(m.config(), `${body}.config`) };
      }
      case B.FriendCurrencyConfigRemoved: {
        const m = get(new A.FriendCurrencyConfigRemoved());
        return { kind: 'friendCurrencyConfigRemoved', publicKey: this.key(m.publicKey(), `${body}.public_key`), currency: this.currency(m.currency(UTF8), `${body}.currency`) };
      }
      case B.FriendChannelSet: {
        const m = get(new A.FriendChannelSet());
        return {
          kind: 'friendChannelSet',
          publicKey: this.key(m.publicKey(), `${body}.public_key`),
          channel: this.channel(m.channelType(), (obj) => m.channel(obj), `${body}.channel`),
          lastTokenHash: m.lastTokenHash() === null ? null : this.hash(m.lastTokenHash(), `${body}.last_token_hash`),
        };
      }
      default:
        throw checkFailure(body, `unknown mutation ${type}`);
    }
  }

  route(t: I.Route | null, path: string): Route {
    check(t !== null, path, 'missing');
    const nodes = this.list(t.nodesLength(), `${path}.nodes`, ROUTE_KEYS_MAX, (i, p) => this.key(t.nodes(i), p));
    check(nodes.length >= ROUTE_KEYS_MIN, `${path}.nodes`, `${nodes.length} keys, fewer than ${ROUTE_KEYS_MIN}`);
    const forwarderRates = this.list(t.forwarderRatesLength(), `${path}.forwarder_rates`, ROUTE_KEYS_MAX, (i, p) => this.rate(t.forwarderRates(i), p));
    check(forwarderRates.length === nodes.length - 2, `${path}.forwarder_rates`, `${forwarderRates.length} rates for ${nodes.length - 2} forwarders`);
    return {
      nodes,
      capacity: this.u128(t.capacity(), `${path}.capacity`),
      amount: this.u128(t.amount(), `${path}.amount`),
      fee: this.u128(t.fee(), `${path}.fee`),
      forwarderRates,
    };
  }

  request(t: A.AppRequest): AppRequest {
    const appRequestId = this.uid(t.appRequestId(), 'offset.app.AppRequest.app_request_id');
    const type = t.bodyType();
    const B = A.AppRequestBody;
    const body = 'offset.app.AppRequest.body';
    const get = <T extends Member>(obj: T): T => {
      const v = t.body(obj) as T | null;
      check(v !== null, body, 'missing');
      return v;
    };
    const pk = (m: { publicKey(): PublicKeyStruct | null }): Uint8Array => this.key(m.publicKey(), `${body}.public_key`);
    const cur = (m: { currency(e: flatbuffers.Encoding): string | Uint8Array | null }): string => this.currency(m.currency(UTF8), `${body}.currency`);
    let value: AppRequestBody;
    switch (type) {
      case B.AddRelay: value = { kind: 'addRelay', relay: this.named(get(new A.AddRelay()).relay(), `${body}.relay`) }; break;
      case B.RemoveRelay: value = { kind: 'removeRelay', publicKey: pk(get(new A.RemoveRelay())) }; break;
      case B.AddIndexServer: value = { kind: 'addIndexServer', server: this.named(get(new A.AddIndexServer()).server(), `${body}.server`) }; break;
      case B.RemoveIndexServer: value = { kind: 'removeIndexServer', publicKey: pk(get(new A.RemoveIndexServer())) }; break;
      case B.AddFriend: {
        const m = get(new A.AddFriend());
        value = { kind: 'addFriend', publicKey: pk(m), name: this.text(m.name(UTF8), `${body}.name`, NAME_BYTES_MAX, 1), relays: this.relays(m.relaysLength(), (i) => m.relays(i), `${body}.relays`) };
        break;
      }
      case B.RemoveFriend: value = { kind: 'removeFriend', publicKey: pk(get(new A.RemoveFriend())) }; break;
      case B.EnableFriend: value = { kind: 'enableFriend', publicKey: pk(get(new A.EnableFriend())) }; break;
      case B.DisableFriend: value = { kind: 'disableFriend', publicKey: pk(get(new A.DisableFriend())) }; break;
      case B.SetFriendRelays: {
        const m = get(new A.SetFriendRelays());
        value = { kind: 'setFriendRelays', publicKey: pk(m), relays: this.relays(m.relaysLength(), (i) => m.relays(i), `${body}.relays`) };
        break;
      }
      case B.SetFriendName: {
        const m = get(new A.SetFriendName());
        value = { kind: 'setFriendName', publicKey: pk(m), name: this.text(m.name(UTF8), `${body}.name`, NAME_BYTES_MAX, 1) };
        break;
      }
      case B.OpenFriendCurrency: { const m = get(new A.OpenFriendCurrency()); value = { kind: 'openCurrency', publicKey: pk(m), currency: cur(m) }; break; }
      case B.CloseFriendCurrency: { const m = get(new A.CloseFriendCurrency()); value = { kind: 'closeCurrency', publicKey: pk(m), currency: cur(m) }; break; }
      case B.RemoveFriendCurrency: { const m = get(new A.RemoveFriendCurrency()); value = { kind: 'removeCurrency', publicKey: pk(m), currency: cur(m) }; break; }
      case B.SetFriendCurrencyMaxDebt: {
        const m = get(new A.SetFriendCurrencyMaxDebt());
        value = { kind: 'setMaxDebt', publicKey: pk(m), currency: cur(m), remoteMaxDebt: this.u128(m.remoteMaxDebt(), `${body}.remote_max_debt`) };
        break;
      }
      case B.SetFriendCurrencyRate: {
        const m = get(new A.SetFriendCurrencyRate());
        value = { kind: 'setRate', publicKey: pk(m), currency: cur(m), rate: this.rate(m.rate(), `${body}.rate`) };
        break;
      }
      case B.ResetFriendChannel: {
        const m = get(new A.ResetFriendChannel());
        value = { kind: 'resetFriendChannel', publicKey: pk(m), resetToken: this.sig(m.resetToken(), `${body}.reset_token`) };
        break;
      }
      case B.AddInvoice: {
        const m = get(new A.AddInvoice());
        value = { kind: 'addInvoice', invoiceId: this.hash(m.invoiceId(), `${body}.invoice_id`), currency: cur(m), totalDestPayment: this.u128(m.totalDestPayment(), `${body}.total_dest_payment`) };
        break;
      }
      case B.CancelInvoice: value = { kind: 'cancelInvoice', invoiceId: this.hash(get(new A.CancelInvoice()).invoiceId(), `${body}.invoice_id`) }; break;
      case B.CommitInvoice: value = { kind: 'commitInvoice', commit: this.commit(get(new A.CommitInvoice()).commit(), `${body}.commit`) }; break;
      case B.CreatePayment: {
        const m = get(new A.CreatePayment());
        value = {
          kind: 'createPayment',
          paymentId: this.uid(m.paymentId(), `${body}.payment_id`),
          invoiceId: this.hash(m.invoiceId(), `${body}.invoice_id`),
          currency: cur(m),
          totalDestPayment: this.u128(m.totalDestPayment(), `${body}.total_dest_payment`),
          destPublicKey: this.key(m.destPublicKey(), `${body}.dest_public_key`),
        };
        break;
      }
      case B.CreateTransaction: {
        const m = get(new A.CreateTransaction());
        const route = this.list(m.routeLength(), `${body}.route`, ROUTE_KEYS_MAX, (i, p) => this.key(m.route(i), p));
        check(route.length >= ROUTE_KEYS_MIN, `${body}.route`, `${route.length} keys, fewer than ${ROUTE_KEYS_MIN}`);
        const destPayment = this.u128(m.destPayment(), `${body}.dest_payment`);
        const fees = this.u128(m.fees(), `${body}.fees`);
        check(destPayment + fees <= U128_MAX, `${body}.fees`, 'dest_payment + fees overflows u128');
        value = { kind: 'createTransaction', paymentId: this.uid(m.paymentId(), `${body}.payment_id`), requestId: this.uid(m.requestId(), `${body}.request_id`), route, destPayment, fees };
        break;
      }
      case B.RequestClosePayment: value = { kind: 'requestClosePayment', paymentId: this.uid(get(new A.RequestClosePayment()).paymentId(), `${body}.payment_id`) }; break;
      case B.QueryPayment: value = { kind: 'paymentStatus', paymentId: this.uid(get(new A.QueryPayment()).paymentId(), `${body}.payment_id`) }; break;
      case B.AckClosePayment: {
        const m = get(new A.AckClosePayment());
        value = { kind: 'ackClosePayment', paymentId: this.uid(m.paymentId(), `${body}.payment_id`), ackUid: this.uid(m.ackUid(), `${body}.ack_uid`) };
        break;
      }
      case B.offset_index_RequestRoutes: {
        const m = get(new I.RequestRoutes());
        const exclude = m.exclude();
        value = {
          kind: 'requestRoutes',
          requestId: this.uid(m.requestId(), `${body}.request_id`),
          currency: cur(m),
          amount: this.u128(m.amount(), `${body}.amount`),
          source: this.key(m.source(), `${body}.source`),
          destination: this.key(m.destination(), `${body}.destination`),
          exclude: exclude === null ? null : { from: readPublicKey(this.bb, exclude.bb_pos), to: readPublicKey(this.bb, exclude.bb_pos + 32) },
          maxHops: m.maxHops(),
          maxFee: m.maxFee() === null ? null : this.u128(m.maxFee(), `${body}.max_fee`),
          maxRoutes: m.maxRoutes(),
        };
        break;
      }
      case B.QueryFriendLastToken: value = { kind: 'friendLastToken', publicKey: pk(get(new A.QueryFriendLastToken())) }; break;
      default:
        throw checkFailure(body, `unknown request type ${type}`);
    }
    return { appRequestId, body: value };
  }

  nodeToApp(t: A.NodeToApp): NodeToApp {
    const type = t.bodyType();
    const B = A.NodeToAppBody;
    const body = 'offset.app.NodeToApp.body';
    const get = <T extends Member>(obj: T): T => {
      const v = t.body(obj) as T | null;
      check(v !== null, body, 'missing');
      return v;
    };
    switch (type) {
      case B.AppPermissions: return { kind: 'permissions', permissions: this.permissions(get(new A.AppPermissions())) };
      case B.NodeReport: return { kind: 'report', report: this.report(get(new A.NodeReport()), body) };
      case B.ReportMutations: {
        const m = get(new A.ReportMutations());
        const id = m.appRequestId();
        return {
          kind: 'mutations',
          appRequestId: id === null ? null : readUid(this.bb, id.bb_pos),
          mutations: this.list(m.mutationsLength(), `${body}.mutations`, Infinity, (i, p) => this.mutation(m.mutations(i), p)),
        };
      }
      case B.RequestResult: {
        const m = get(new A.RequestResult());
        const error = m.error();
        return { kind: 'result', appRequestId: this.uid(m.appRequestId(), `${body}.app_request_id`), error: error === null ? null : this.appError(error, `${body}.error`) };
      }
      case B.TransactionResult: {
        const m = get(new A.TransactionResult());
        const O = A.TransactionOutcome;
        const outcomeType = m.outcomeType();
        const path = `${body}.outcome`;
        let outcome: TransactionOutcome;
        if (outcomeType === O.TransactionComplete) {
          const o = m.outcome(new A.TransactionComplete()) as A.TransactionComplete | null;
          check(o !== null, path, 'missing');
          outcome = { kind: 'complete', commit: this.commit(o.commit(), `${path}.commit`) };
        } else if (outcomeType === O.TransactionSuccess) {
          outcome = { kind: 'success' };
        } else {
          check(outcomeType === O.TransactionFailure, path, `unknown outcome ${outcomeType}`);
          const o = m.outcome(new A.TransactionFailure()) as A.TransactionFailure | null;
          check(o !== null, path, 'missing');
          outcome = { kind: 'failure', ...this.failure(o.reason(), o.message(UTF8), o.atThisNode(), path) };
        }
        return { kind: 'transactionResult', paymentId: this.uid(m.paymentId(), `${body}.payment_id`), requestId: this.uid(m.requestId(), `${body}.request_id`), outcome };
      }
      case B.ClosePaymentResponse: {
        const m = get(new A.ClosePaymentResponse());
        const S = A.PaymentStatus;
        const statusType = m.statusType();
        const path = `${body}.status`;
        let status: PaymentStatus;
        if (statusType === S.PaymentNotFound) status = { kind: 'notFound' };
        else if (statusType === S.PaymentInProgress) {
          const s = m.status(new A.PaymentInProgress()) as A.PaymentInProgress | null;
          check(s !== null, path, 'missing');
          const commit = s.commit();
          status = { kind: 'inProgress', commit: commit === null ? null : this.commit(commit, `${path}.commit`) };
        }
        else if (statusType === S.PaymentSucceeded) {
          const s = m.status(new A.PaymentSucceeded()) as A.PaymentSucceeded | null;
          check(s !== null, path, 'missing');
          status = { kind: 'success', receipt: this.receipt(s.receipt(), `${path}.receipt`), ackUid: this.uid(s.ackUid(), `${path}.ack_uid`) };
        } else {
          check(statusType === S.PaymentCanceled, path, `unknown payment status ${statusType}`);
          const s = m.status(new A.PaymentCanceled()) as A.PaymentCanceled | null;
          check(s !== null, path, 'missing');
          const message = s.message(UTF8);
          status = {
            kind: 'canceled', ackUid: this.uid(s.ackUid(), `${path}.ack_uid`),
            failure: message === null ? null : this.failure(s.reason(), message, s.atThisNode(), path),
          };
        }
        return { kind: 'closePayment', paymentId: this.uid(m.paymentId(), `${body}.payment_id`), status };
      }
      case B.RoutesResponse: {
        const m = get(new A.RoutesResponse());
        const O = A.RoutesOutcome;
        const outcomeType = m.outcomeType();
        const path = `${body}.outcome`;
        let outcome: RoutesOutcome;
        if (outcomeType === O.RoutesFound) {
          const o = m.outcome(new A.RoutesFound()) as A.RoutesFound | null;
          check(o !== null, path, 'missing');
          outcome = {
            kind: 'found',
            routes: this.list(o.routesLength(), `${path}.routes`, Infinity, (i, p) => this.route(o.routes(i), p)),
            complete: o.complete(),
            truncated: o.truncated(),
          };
        } else {
          check(outcomeType === O.RoutesFailed, path, `unknown outcome ${outcomeType}`);
          const o = m.outcome(new A.RoutesFailed()) as A.RoutesFailed | null;
          check(o !== null, path, 'missing');
          outcome = { kind: 'failed', error: this.appError(o.error(), `${path}.error`) };
        }
        return { kind: 'routes', requestId: this.uid(m.requestId(), `${body}.request_id`), outcome };
      }
      case B.FriendLastToken: {
        const m = get(new A.FriendLastToken());
        return {
          kind: 'friendLastToken',
          appRequestId: this.uid(m.appRequestId(), `${body}.app_request_id`),
          publicKey: this.key(m.publicKey(), `${body}.public_key`),
          token: this.signedToken(m.token(), `${body}.token`),
        };
      }
      default:
        throw checkFailure(body, `unknown message type ${type}`);
    }
  }
}

function checkFailure(path: string, problem: string): WireError {
  return new WireError(path, problem);
}

export function decodeAppRequest(bytes: Uint8Array): DecodeResult<AppRequest> {
  return decodeRoot(bytes, 'offset.app.AppRequest', (bb, pos) => new Reader(bb).request(new A.AppRequest().__init(pos, bb)));
}

export function decodeNodeToApp(bytes: Uint8Array): DecodeResult<NodeToApp> {
  return decodeRoot(bytes, 'offset.app.NodeToApp', (bb, pos) => new Reader(bb).nodeToApp(new A.NodeToApp().__init(pos, bb)));
}

// ---- encoding -----------------------------------------------------------------------------

type B = flatbuffers.Builder;
type Off = flatbuffers.Offset;

function text(b: B, value: string, bytesMax: number, bytesMin = 0): Off {
  const length = Buffer.byteLength(value, 'utf8');
  assert(length <= bytesMax && length >= bytesMin, `text of ${length} bytes outside ${bytesMin}..${bytesMax}`);
  return b.createString(value);
}

function u128(value: bigint): bigint {
  assert(value >= 0n && value <= U128_MAX, `u128 out of range: ${value}`);
  return value;
}

function i128(value: bigint): bigint {
  assert(value >= I128_MIN && value <= I128_MAX, `i128 out of range: ${value}`);
  return value;
}

function offsets(b: B, items: readonly Off[]): Off {
  b.startVector(4, items.length, 4);
  for (let i = items.length - 1; i >= 0; i--) b.addOffset(items[i]);
  return b.endVector();
}

function keyVector(b: B, keys: readonly Uint8Array[]): Off {
  b.startVector(32, keys.length, 1);
  for (let i = keys.length - 1; i >= 0; i--) writePublicKey(b, keys[i]);
  return b.endVector();
}

function rateVector(b: B, rates: readonly Rate[]): Off {
  b.startVector(8, rates.length, 4);
  for (let i = rates.length - 1; i >= 0; i--) writeRate(b, rates[i]);
  return b.endVector();
}

function encRelay(b: B, r: RelayAddress): Off {
  const address = text(b, r.address, ADDRESS_BYTES_MAX, 1);
  A.RelayAddress.startRelayAddress(b);
  A.RelayAddress.addPublicKey(b, writePublicKey(b, r.publicKey));
  A.RelayAddress.addAddress(b, address);
  return A.RelayAddress.endRelayAddress(b);
}

function encRelays(b: B, relays: readonly RelayAddress[]): Off {
  assert(relays.length <= RELAYS_MAX, 'too many relays');
  return offsets(b, relays.map((r) => encRelay(b, r)));
}

function encNamed(b: B, n: NamedAddress): Off {
  const address = text(b, n.address, ADDRESS_BYTES_MAX, 1);
  const name = text(b, n.name, NAME_BYTES_MAX, 1);
  A.NamedAddress.startNamedAddress(b);
  A.NamedAddress.addPublicKey(b, writePublicKey(b, n.publicKey));
  A.NamedAddress.addAddress(b, address);
  A.NamedAddress.addName(b, name);
  return A.NamedAddress.endNamedAddress(b);
}

function encAppError(b: B, e: AppError): Off {
  const message = text(b, e.message, MESSAGE_BYTES_MAX);
  A.AppError.startAppError(b);
  A.AppError.addCode(b, e.code);
  A.AppError.addMessage(b, message);
  return A.AppError.endAppError(b);
}

function encCommit(b: B, c: Commit): Off {
  const currency = createCurrency(b, c.currency);
  A.Commit.startCommit(b);
  A.Commit.addResponseHash(b, writeHash32(b, c.responseHash));
  A.Commit.addSrcPlainLock(b, writeHash32(b, c.srcPlainLock));
  A.Commit.addDestHashedLock(b, writeHash32(b, c.destHashedLock));
  A.Commit.addDestPayment(b, writeU128(b, u128(c.destPayment)));
  A.Commit.addTotalDestPayment(b, writeU128(b, u128(c.totalDestPayment)));
  A.Commit.addInvoiceId(b, writeHash32(b, c.invoiceId));
  A.Commit.addCurrency(b, currency);
  A.Commit.addSignature(b, writeSignature(b, c.signature));
  return A.Commit.endCommit(b);
}

function encReceipt(b: B, r: Receipt): Off {
  const currency = createCurrency(b, r.currency);
  A.Receipt.startReceipt(b);
  A.Receipt.addResponseHash(b, writeHash32(b, r.responseHash));
  A.Receipt.addInvoiceId(b, writeHash32(b, r.invoiceId));
  A.Receipt.addCurrency(b, currency);
  A.Receipt.addSrcPlainLock(b, writeHash32(b, r.srcPlainLock));
  A.Receipt.addDestPlainLock(b, writeHash32(b, r.destPlainLock));
  A.Receipt.addIsComplete(b, r.isComplete);
  A.Receipt.addDestPayment(b, writeU128(b, u128(r.destPayment)));
  A.Receipt.addTotalDestPayment(b, writeU128(b, u128(r.totalDestPayment)));
  A.Receipt.addSignature(b, writeSignature(b, r.signature));
  return A.Receipt.endReceipt(b);
}

function encCurrencyConfig(b: B, c: CurrencyConfig): Off {
  const currency = createCurrency(b, c.currency);
  A.CurrencyConfig.startCurrencyConfig(b);
  A.CurrencyConfig.addCurrency(b, currency);
  A.CurrencyConfig.addRate(b, writeRate(b, c.rate));
  A.CurrencyConfig.addRemoteMaxDebt(b, writeU128(b, u128(c.remoteMaxDebt)));
  A.CurrencyConfig.addIsOpen(b, c.isOpen);
  return A.CurrencyConfig.endCurrencyConfig(b);
}

function encResetTerms(b: B, t: ResetTerms): Off {
  const balances = offsets(b, t.balances.map((x) => {
    const currency = createCurrency(b, x.currency);
    A.ResetBalance.startResetBalance(b);
    A.ResetBalance.addCurrency(b, currency);
    A.ResetBalance.addBalance(b, writeI128(b, i128(x.balance)));
    return A.ResetBalance.endResetBalance(b);
  }));
  A.ResetTerms.startResetTerms(b);
  A.ResetTerms.addResetToken(b, writeSignature(b, t.resetToken));
  A.ResetTerms.addInconsistencyCounter(b, t.inconsistencyCounter);
  A.ResetTerms.addBalances(b, balances);
  return A.ResetTerms.endResetTerms(b);
}

function encBalances(b: B, balances: readonly CurrencyBalance[]): Off {
  return offsets(b, balances.map((x) => {
    const currency = createCurrency(b, x.currency);
    A.CurrencyBalance.startCurrencyBalance(b);
    A.CurrencyBalance.addCurrency(b, currency);
    A.CurrencyBalance.addBalance(b, writeI128(b, i128(x.balance)));
    A.CurrencyBalance.addLocalPendingDebt(b, writeU128(b, u128(x.localPendingDebt)));
    A.CurrencyBalance.addRemotePendingDebt(b, writeU128(b, u128(x.remotePendingDebt)));
    return A.CurrencyBalance.endCurrencyBalance(b);
  }));
}

function encSignedToken(b: B, t: SignedToken): Off {
  assert(t.inconsistencyCounter >= 0n && t.inconsistencyCounter <= U64_MAX && t.moveTokenCounter >= 0n && t.moveTokenCounter <= U64_MAX, 'u64 out of range');
  const balances = encBalances(b, t.balances);
  A.SignedToken.startSignedToken(b);
  A.SignedToken.addPrefixHash(b, writeHash32(b, t.prefixHash));
  A.SignedToken.addRandNonce(b, writeUid(b, t.randNonce));
  A.SignedToken.addNewToken(b, writeSignature(b, t.newToken));
  A.SignedToken.addSigner(b, writePublicKey(b, t.signer));
  A.SignedToken.addReceiver(b, writePublicKey(b, t.receiver));
  A.SignedToken.addBalances(b, balances);
  A.SignedToken.addInconsistencyCounter(b, t.inconsistencyCounter);
  A.SignedToken.addMoveTokenCounter(b, t.moveTokenCounter);
  return A.SignedToken.endSignedToken(b);
}

function encChannel(b: B, c: ChannelStatus): { type: A.ChannelStatus; offset: Off } {
  if (c.kind === 'consistent') {
    const balances = encBalances(b, c.balances);
    return { type: A.ChannelStatus.ChannelConsistent, offset: A.ChannelConsistent.createChannelConsistent(b, balances) };
  }
  const local = encResetTerms(b, c.localTerms);
  const remote = c.remoteTerms === null ? 0 : encResetTerms(b, c.remoteTerms);
  A.ChannelInconsistent.startChannelInconsistent(b);
  A.ChannelInconsistent.addLocalTerms(b, local);
  if (remote) A.ChannelInconsistent.addRemoteTerms(b, remote);
  return { type: A.ChannelStatus.ChannelInconsistent, offset: A.ChannelInconsistent.endChannelInconsistent(b) };
}

function encFriend(b: B, f: FriendReport): Off {
  const name = text(b, f.name, NAME_BYTES_MAX, 1);
  const relays = encRelays(b, f.relays);
  const configs = offsets(b, f.currencyConfigs.map((c) => encCurrencyConfig(b, c)));
  const channel = encChannel(b, f.channel);
  A.FriendReport.startFriendReport(b);
  A.FriendReport.addPublicKey(b, writePublicKey(b, f.publicKey));
  A.FriendReport.addName(b, name);
  A.FriendReport.addRelays(b, relays);
  A.FriendReport.addStatus(b, f.enabled ? A.FriendStatus.Enabled : A.FriendStatus.Disabled);
  A.FriendReport.addLiveness(b, f.online ? A.Liveness.Online : A.Liveness.Offline);
  A.FriendReport.addCurrencyConfigs(b, configs);
  A.FriendReport.addChannelType(b, channel.type);
  A.FriendReport.addChannel(b, channel.offset);
  if (f.lastTokenHash !== null) A.FriendReport.addLastTokenHash(b, writeHash32(b, f.lastTokenHash));
  return A.FriendReport.endFriendReport(b);
}

function encReport(b: B, r: NodeReport): Off {
  assert(r.relays.length <= RELAYS_MAX, 'too many relays');
  const relays = offsets(b, r.relays.map((x) => encNamed(b, x)));
  const servers = offsets(b, r.indexServers.map((x) => encNamed(b, x)));
  const friends = offsets(b, r.friends.map((f) => encFriend(b, f)));
  A.NodeReport.startNodeReport(b);
  A.NodeReport.addPublicKey(b, writePublicKey(b, r.publicKey));
  A.NodeReport.addRelays(b, relays);
  A.NodeReport.addIndexServers(b, servers);
  if (r.connectedIndex !== null) A.NodeReport.addConnectedIndex(b, writePublicKey(b, r.connectedIndex));
  A.NodeReport.addFriends(b, friends);
  return A.NodeReport.endNodeReport(b);
}

/** A table holding just `public_key` (they all put it at slot 4). */
function keyOnly(b: B, key: Uint8Array): Off {
  b.startObject(1);
  b.addFieldStruct(0, writePublicKey(b, key), 0);
  return b.endObject();
}

function encMutation(b: B, m: ReportMutation): Off {
  const M = A.ReportMutationBody;
  let type: A.ReportMutationBody;
  let body: Off;
  switch (m.kind) {
    case 'relayAdded': type = M.RelayAdded; body = A.RelayAdded.createRelayAdded(b, encNamed(b, m.relay)); break;
    case 'relayRemoved': type = M.RelayRemoved; body = keyOnly(b, m.publicKey); break;
    case 'indexServerAdded': type = M.IndexServerAdded; body = A.IndexServerAdded.createIndexServerAdded(b, encNamed(b, m.server)); break;
    case 'indexServerRemoved': type = M.IndexServerRemoved; body = keyOnly(b, m.publicKey); break;
    case 'connectedIndexSet':
      type = M.ConnectedIndexSet;
      if (m.publicKey === null) {
        b.startObject(1);
        body = b.endObject();
      } else {
        body = keyOnly(b, m.publicKey);
      }
      break;
    case 'friendAdded': type = M.FriendAdded; body = A.FriendAdded.createFriendAdded(b, encFriend(b, m.friend)); break;
    case 'friendRemoved': type = M.FriendRemoved; body = keyOnly(b, m.publicKey); break;
    case 'friendNameSet': {
      type = M.FriendNameSet;
      const name = text(b, m.name, NAME_BYTES_MAX, 1);
      A.FriendNameSet.startFriendNameSet(b);
      A.FriendNameSet.addPublicKey(b, writePublicKey(b, m.publicKey));
      A.FriendNameSet.addName(b, name);
      body = A.FriendNameSet.endFriendNameSet(b);
      break;
    }
    case 'friendRelaysSet': {
      type = M.FriendRelaysSet;
      const relays = encRelays(b, m.relays);
      A.FriendRelaysSet.startFriendRelaysSet(b);
      A.FriendRelaysSet.addPublicKey(b, writePublicKey(b, m.publicKey));
      A.FriendRelaysSet.addRelays(b, relays);
      body = A.FriendRelaysSet.endFriendRelaysSet(b);
      break;
    }
    case 'friendStatusSet':
      type = M.FriendStatusSet;
      A.FriendStatusSet.startFriendStatusSet(b);
      A.FriendStatusSet.addPublicKey(b, writePublicKey(b, m.publicKey));
      A.FriendStatusSet.addStatus(b, m.enabled ? A.FriendStatus.Enabled : A.FriendStatus.Disabled);
      body = A.FriendStatusSet.endFriendStatusSet(b);
      break;
    case 'friendLivenessSet':
      type = M.FriendLivenessSet;
      A.FriendLivenessSet.startFriendLivenessSet(b);
      A.FriendLivenessSet.addPublicKey(b, writePublicKey(b, m.publicKey));
      A.FriendLivenessSet.addLiveness(b, m.online ? A.Liveness.Online : A.Liveness.Offline);
      body = A.FriendLivenessSet.endFriendLivenessSet(b);
      break;
    case 'friendCurrencyConfigSet': {
      type = M.FriendCurrencyConfigSet;
      const config = encCurrencyConfig(b, m.config);
      A.FriendCurrencyConfigSet.startFriendCurrencyConfigSet(b);
      A.FriendCurrencyConfigSet.addPublicKey(b, writePublicKey(b, m.publicKey));
      A.FriendCurrencyConfigSet.addConfig(b, config);
      body = A.FriendCurrencyConfigSet.endFriendCurrencyConfigSet(b);
      break;
    }
    case 'friendCurrencyConfigRemoved': {
      type = M.FriendCurrencyConfigRemoved;
      const currency = createCurrency(b, m.currency);
      A.FriendCurrencyConfigRemoved.startFriendCurrencyConfigRemoved(b);
      A.FriendCurrencyConfigRemoved.addPublicKey(b, writePublicKey(b, m.publicKey));
      A.FriendCurrencyConfigRemoved.addCurrency(b, currency);
      body = A.FriendCurrencyConfigRemoved.endFriendCurrencyConfigRemoved(b);
      break;
    }
    case 'friendChannelSet': {
      type = M.FriendChannelSet;
      const channel = encChannel(b, m.channel);
      A.FriendChannelSet.startFriendChannelSet(b);
      A.FriendChannelSet.addPublicKey(b, writePublicKey(b, m.publicKey));
      A.FriendChannelSet.addChannelType(b, channel.type);
      A.FriendChannelSet.addChannel(b, channel.offset);
      if (m.lastTokenHash !== null) A.FriendChannelSet.addLastTokenHash(b, writeHash32(b, m.lastTokenHash));
      body = A.FriendChannelSet.endFriendChannelSet(b);
      break;
    }
  }
  return A.ReportMutation.createReportMutation(b, type, body);
}

function keyAndCurrency(b: B, key: Uint8Array, currency: string): Off {
  const c = createCurrency(b, currency);
  b.startObject(2);
  b.addFieldStruct(0, writePublicKey(b, key), 0);
  b.addFieldOffset(1, c, 0);
  return b.endObject();
}

function encRequestBody(b: B, r: AppRequestBody): { type: A.AppRequestBody; offset: Off } {
  const T = A.AppRequestBody;
  switch (r.kind) {
    case 'addRelay': return { type: T.AddRelay, offset: A.AddRelay.createAddRelay(b, encNamed(b, r.relay)) };
    case 'removeRelay': return { type: T.RemoveRelay, offset: keyOnly(b, r.publicKey) };
    case 'addIndexServer': return { type: T.AddIndexServer, offset: A.AddIndexServer.createAddIndexServer(b, encNamed(b, r.server)) };
    case 'removeIndexServer': return { type: T.RemoveIndexServer, offset: keyOnly(b, r.publicKey) };
    case 'addFriend': {
      const name = text(b, r.name, NAME_BYTES_MAX, 1);
      const relays = encRelays(b, r.relays);
      A.AddFriend.startAddFriend(b);
      A.AddFriend.addPublicKey(b, writePublicKey(b, r.publicKey));
      A.AddFriend.addName(b, name);
      A.AddFriend.addRelays(b, relays);
      return { type: T.AddFriend, offset: A.AddFriend.endAddFriend(b) };
    }
    case 'removeFriend': return { type: T.RemoveFriend, offset: keyOnly(b, r.publicKey) };
    case 'enableFriend': return { type: T.EnableFriend, offset: keyOnly(b, r.publicKey) };
    case 'disableFriend': return { type: T.DisableFriend, offset: keyOnly(b, r.publicKey) };
    case 'setFriendRelays': {
      const relays = encRelays(b, r.relays);
      A.SetFriendRelays.startSetFriendRelays(b);
      A.SetFriendRelays.addPublicKey(b, writePublicKey(b, r.publicKey));
      A.SetFriendRelays.addRelays(b, relays);
      return { type: T.SetFriendRelays, offset: A.SetFriendRelays.endSetFriendRelays(b) };
    }
    case 'setFriendName': {
      const name = text(b, r.name, NAME_BYTES_MAX, 1);
      A.SetFriendName.startSetFriendName(b);
      A.SetFriendName.addPublicKey(b, writePublicKey(b, r.publicKey));
      A.SetFriendName.addName(b, name);
      return { type: T.SetFriendName, offset: A.SetFriendName.endSetFriendName(b) };
    }
    case 'openCurrency': return { type: T.OpenFriendCurrency, offset: keyAndCurrency(b, r.publicKey, r.currency) };
    case 'closeCurrency': return { type: T.CloseFriendCurrency, offset: keyAndCurrency(b, r.publicKey, r.currency) };
    case 'removeCurrency': return { type: T.RemoveFriendCurrency, offset: keyAndCurrency(b, r.publicKey, r.currency) };
    case 'setMaxDebt': {
      const currency = createCurrency(b, r.currency);
      A.SetFriendCurrencyMaxDebt.startSetFriendCurrencyMaxDebt(b);
      A.SetFriendCurrencyMaxDebt.addPublicKey(b, writePublicKey(b, r.publicKey));
      A.SetFriendCurrencyMaxDebt.addCurrency(b, currency);
      A.SetFriendCurrencyMaxDebt.addRemoteMaxDebt(b, writeU128(b, u128(r.remoteMaxDebt)));
      return { type: T.SetFriendCurrencyMaxDebt, offset: A.SetFriendCurrencyMaxDebt.endSetFriendCurrencyMaxDebt(b) };
    }
    case 'setRate': {
      const currency = createCurrency(b, r.currency);
      A.SetFriendCurrencyRate.startSetFriendCurrencyRate(b);
      A.SetFriendCurrencyRate.addPublicKey(b, writePublicKey(b, r.publicKey));
      A.SetFriendCurrencyRate.addCurrency(b, currency);
      A.SetFriendCurrencyRate.addRate(b, writeRate(b, r.rate));
      return { type: T.SetFriendCurrencyRate, offset: A.SetFriendCurrencyRate.endSetFriendCurrencyRate(b) };
    }
    case 'resetFriendChannel':
      A.ResetFriendChannel.startResetFriendChannel(b);
      A.ResetFriendChannel.addPublicKey(b, writePublicKey(b, r.publicKey));
      A.ResetFriendChannel.addResetToken(b, writeSignature(b, r.resetToken));
      return { type: T.ResetFriendChannel, offset: A.ResetFriendChannel.endResetFriendChannel(b) };
    case 'addInvoice': {
      const currency = createCurrency(b, r.currency);
      A.AddInvoice.startAddInvoice(b);
      A.AddInvoice.addInvoiceId(b, writeHash32(b, r.invoiceId));
      A.AddInvoice.addCurrency(b, currency);
      A.AddInvoice.addTotalDestPayment(b, writeU128(b, u128(r.totalDestPayment)));
      return { type: T.AddInvoice, offset: A.AddInvoice.endAddInvoice(b) };
    }
    case 'cancelInvoice':
      A.CancelInvoice.startCancelInvoice(b);
      A.CancelInvoice.addInvoiceId(b, writeHash32(b, r.invoiceId));
      return { type: T.CancelInvoice, offset: A.CancelInvoice.endCancelInvoice(b) };
    case 'commitInvoice': return { type: T.CommitInvoice, offset: A.CommitInvoice.createCommitInvoice(b, encCommit(b, r.commit)) };
    case 'createPayment': {
      const currency = createCurrency(b, r.currency);
      A.CreatePayment.startCreatePayment(b);
      A.CreatePayment.addPaymentId(b, writeUid(b, r.paymentId));
      A.CreatePayment.addInvoiceId(b, writeHash32(b, r.invoiceId));
      A.CreatePayment.addCurrency(b, currency);
      A.CreatePayment.addTotalDestPayment(b, writeU128(b, u128(r.totalDestPayment)));
      A.CreatePayment.addDestPublicKey(b, writePublicKey(b, r.destPublicKey));
      return { type: T.CreatePayment, offset: A.CreatePayment.endCreatePayment(b) };
    }
    case 'createTransaction': {
      assert(r.route.length >= ROUTE_KEYS_MIN && r.route.length <= ROUTE_KEYS_MAX, 'route length out of range');
      const route = keyVector(b, r.route);
      A.CreateTransaction.startCreateTransaction(b);
      A.CreateTransaction.addPaymentId(b, writeUid(b, r.paymentId));
      A.CreateTransaction.addRequestId(b, writeUid(b, r.requestId));
      A.CreateTransaction.addRoute(b, route);
      A.CreateTransaction.addDestPayment(b, writeU128(b, u128(r.destPayment)));
      A.CreateTransaction.addFees(b, writeU128(b, u128(r.fees)));
      return { type: T.CreateTransaction, offset: A.CreateTransaction.endCreateTransaction(b) };
    }
    case 'requestClosePayment':
      A.RequestClosePayment.startRequestClosePayment(b);
      A.RequestClosePayment.addPaymentId(b, writeUid(b, r.paymentId));
      return { type: T.RequestClosePayment, offset: A.RequestClosePayment.endRequestClosePayment(b) };
    case 'paymentStatus':
      A.QueryPayment.startQueryPayment(b);
      A.QueryPayment.addPaymentId(b, writeUid(b, r.paymentId));
      return { type: T.QueryPayment, offset: A.QueryPayment.endQueryPayment(b) };
    case 'ackClosePayment':
      A.AckClosePayment.startAckClosePayment(b);
      A.AckClosePayment.addPaymentId(b, writeUid(b, r.paymentId));
      A.AckClosePayment.addAckUid(b, writeUid(b, r.ackUid));
      return { type: T.AckClosePayment, offset: A.AckClosePayment.endAckClosePayment(b) };
    case 'requestRoutes': {
      assert(Number.isInteger(r.maxHops) && r.maxHops >= 0 && r.maxHops <= 255, 'maxHops out of range');
      assert(Number.isInteger(r.maxRoutes) && r.maxRoutes >= 0 && r.maxRoutes <= 255, 'maxRoutes out of range');
      const currency = createCurrency(b, r.currency);
      I.RequestRoutes.startRequestRoutes(b);
      I.RequestRoutes.addRequestId(b, writeUid(b, r.requestId));
      I.RequestRoutes.addCurrency(b, currency);
      I.RequestRoutes.addAmount(b, writeU128(b, u128(r.amount)));
      I.RequestRoutes.addSource(b, writePublicKey(b, r.source));
      I.RequestRoutes.addDestination(b, writePublicKey(b, r.destination));
      if (r.exclude !== null) {
        // DirectedEdge: from then to, written back to front.
        writePublicKey(b, r.exclude.to);
        I.RequestRoutes.addExclude(b, writePublicKey(b, r.exclude.from));
      }
      I.RequestRoutes.addMaxHops(b, r.maxHops);
      if (r.maxFee !== null) I.RequestRoutes.addMaxFee(b, writeU128(b, u128(r.maxFee)));
      I.RequestRoutes.addMaxRoutes(b, r.maxRoutes);
      return { type: T.offset_index_RequestRoutes, offset: I.RequestRoutes.endRequestRoutes(b) };
    }
    case 'friendLastToken': return { type: T.QueryFriendLastToken, offset: keyOnly(b, r.publicKey) };
  }
}

export function encodeAppRequest(request: AppRequest): Uint8Array {
  const b = new flatbuffers.Builder(256);
  const body = encRequestBody(b, request.body);
  A.AppRequest.startAppRequest(b);
  A.AppRequest.addAppRequestId(b, writeUid(b, request.appRequestId));
  A.AppRequest.addBodyType(b, body.type);
  A.AppRequest.addBody(b, body.offset);
  return finishBytes(b, A.AppRequest.endAppRequest(b));
}

function encNodeToAppBody(b: B, m: NodeToApp): { type: A.NodeToAppBody; offset: Off } {
  const T = A.NodeToAppBody;
  switch (m.kind) {
    case 'permissions': {
      const p = m.permissions;
      return { type: T.AppPermissions, offset: A.AppPermissions.createAppPermissions(b, p.routes, p.buyer, p.seller, p.config) };
    }
    case 'report': return { type: T.NodeReport, offset: encReport(b, m.report) };
    case 'mutations': {
      const mutations = offsets(b, m.mutations.map((x) => encMutation(b, x)));
      A.ReportMutations.startReportMutations(b);
      if (m.appRequestId !== null) A.ReportMutations.addAppRequestId(b, writeUid(b, m.appRequestId));
      A.ReportMutations.addMutations(b, mutations);
      return { type: T.ReportMutations, offset: A.ReportMutations.endReportMutations(b) };
    }
    case 'result': {
      const error = m.error === null ? 0 : encAppError(b, m.error);
      A.RequestResult.startRequestResult(b);
      A.RequestResult.addAppRequestId(b, writeUid(b, m.appRequestId));
      if (error) A.RequestResult.addError(b, error);
      return { type: T.RequestResult, offset: A.RequestResult.endRequestResult(b) };
    }
    case 'transactionResult': {
      const O = A.TransactionOutcome;
      const o = m.outcome;
      let outcomeType: A.TransactionOutcome;
      let outcome: Off;
      if (o.kind === 'complete') {
        outcomeType = O.TransactionComplete;
        outcome = A.TransactionComplete.createTransactionComplete(b, encCommit(b, o.commit));
      } else if (o.kind === 'success') {
        outcomeType = O.TransactionSuccess;
        A.TransactionSuccess.startTransactionSuccess(b);
        outcome = A.TransactionSuccess.endTransactionSuccess(b);
      } else {
        outcomeType = O.TransactionFailure;
        const message = text(b, o.message, MESSAGE_BYTES_MAX);
        A.TransactionFailure.startTransactionFailure(b);
        A.TransactionFailure.addReason(b, o.reason);
        A.TransactionFailure.addMessage(b, message);
        A.TransactionFailure.addAtThisNode(b, o.atThisNode);
        outcome = A.TransactionFailure.endTransactionFailure(b);
      }
      A.TransactionResult.startTransactionResult(b);
      A.TransactionResult.addPaymentId(b, writeUid(b, m.paymentId));
      A.TransactionResult.addRequestId(b, writeUid(b, m.requestId));
      A.TransactionResult.addOutcomeType(b, outcomeType);
      A.TransactionResult.addOutcome(b, outcome);
      return { type: T.TransactionResult, offset: A.TransactionResult.endTransactionResult(b) };
    }
    case 'closePayment': {
      const S = A.PaymentStatus;
      const s = m.status;
      let statusType: A.PaymentStatus;
      let status: Off;
      if (s.kind === 'notFound') {
        statusType = S.PaymentNotFound;
        A.PaymentNotFound.startPaymentNotFound(b);
        status = A.PaymentNotFound.endPaymentNotFound(b);
      } else if (s.kind === 'inProgress') {
        statusType = S.PaymentInProgress;
        const commit = s.commit === null ? 0 : encCommit(b, s.commit);
        A.PaymentInProgress.startPaymentInProgress(b);
        if (commit) A.PaymentInProgress.addCommit(b, commit);
        status = A.PaymentInProgress.endPaymentInProgress(b);
      } else if (s.kind === 'success') {
        statusType = S.PaymentSucceeded;
        const receipt = encReceipt(b, s.receipt);
        A.PaymentSucceeded.startPaymentSucceeded(b);
        A.PaymentSucceeded.addReceipt(b, receipt);
        A.PaymentSucceeded.addAckUid(b, writeUid(b, s.ackUid));
        status = A.PaymentSucceeded.endPaymentSucceeded(b);
      } else {
        statusType = S.PaymentCanceled;
        const message = s.failure === null ? 0 : text(b, s.failure.message, MESSAGE_BYTES_MAX);
        A.PaymentCanceled.startPaymentCanceled(b);
        A.PaymentCanceled.addAckUid(b, writeUid(b, s.ackUid));
        if (s.failure !== null) {
          A.PaymentCanceled.addReason(b, s.failure.reason);
          A.PaymentCanceled.addMessage(b, message);
          A.PaymentCanceled.addAtThisNode(b, s.failure.atThisNode);
        }
        status = A.PaymentCanceled.endPaymentCanceled(b);
      }
      A.ClosePaymentResponse.startClosePaymentResponse(b);
      A.ClosePaymentResponse.addPaymentId(b, writeUid(b, m.paymentId));
      A.ClosePaymentResponse.addStatusType(b, statusType);
      A.ClosePaymentResponse.addStatus(b, status);
      return { type: T.ClosePaymentResponse, offset: A.ClosePaymentResponse.endClosePaymentResponse(b) };
    }
    case 'routes': {
      const O = A.RoutesOutcome;
      const o = m.outcome;
      let outcomeType: A.RoutesOutcome;
      let outcome: Off;
      if (o.kind === 'found') {
        outcomeType = O.RoutesFound;
        const routes = offsets(b, o.routes.map((r) => {
          assert(r.nodes.length >= ROUTE_KEYS_MIN && r.nodes.length <= ROUTE_KEYS_MAX, 'route length out of range');
          assert(r.forwarderRates.length === r.nodes.length - 2, 'one rate per forwarder');
          const nodes = keyVector(b, r.nodes);
          const rates = rateVector(b, r.forwarderRates);
          I.Route.startRoute(b);
          I.Route.addNodes(b, nodes);
          I.Route.addCapacity(b, writeU128(b, u128(r.capacity)));
          I.Route.addAmount(b, writeU128(b, u128(r.amount)));
          I.Route.addFee(b, writeU128(b, u128(r.fee)));
          I.Route.addForwarderRates(b, rates);
          return I.Route.endRoute(b);
        }));
        outcome = A.RoutesFound.createRoutesFound(b, routes, o.complete, o.truncated);
      } else {
        outcomeType = O.RoutesFailed;
        outcome = A.RoutesFailed.createRoutesFailed(b, encAppError(b, o.error));
      }
      A.RoutesResponse.startRoutesResponse(b);
      A.RoutesResponse.addRequestId(b, writeUid(b, m.requestId));
      A.RoutesResponse.addOutcomeType(b, outcomeType);
      A.RoutesResponse.addOutcome(b, outcome);
      return { type: T.RoutesResponse, offset: A.RoutesResponse.endRoutesResponse(b) };
    }
    case 'friendLastToken': {
      const token = encSignedToken(b, m.token);
      A.FriendLastToken.startFriendLastToken(b);
      A.FriendLastToken.addAppRequestId(b, writeUid(b, m.appRequestId));
      A.FriendLastToken.addPublicKey(b, writePublicKey(b, m.publicKey));
      A.FriendLastToken.addToken(b, token);
      return { type: T.FriendLastToken, offset: A.FriendLastToken.endFriendLastToken(b) };
    }
  }
}

export function encodeNodeToApp(message: NodeToApp): Uint8Array {
  const b = new flatbuffers.Builder(256);
  const body = encNodeToAppBody(b, message);
  return finishBytes(b, A.NodeToApp.createNodeToApp(b, body.type, body.offset));
}

/** Checks a currency name the way the decoder will, for callers validating user input early. */
export { currencyProblem };
