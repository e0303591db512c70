import type { Rate } from '../common/rate.js';
import type { AppPermissions } from '../files/formats.js';
import type { Commit, Hash, PublicKey, Receipt, Uid } from '../funder/types.js';
import type { IndexRoute } from '../index/types.js';

/**
 * The node's side of the app protocol as plain values: what an app may ask, and everything the
 * node tells an app. The wire codec (app_codec.ts) maps these to and from offset.app tables.
 */

export type { AppPermissions };

export interface NamedAddress {
  readonly publicKey: PublicKey;
  readonly address: string;
  readonly name: string;
}

export type AppRequest =
  | { readonly kind: 'addRelay'; readonly relay: NamedAddress }
  | { readonly kind: 'removeRelay'; readonly publicKey: PublicKey }
  | { readonly kind: 'addIndexServer'; readonly server: NamedAddress }
  | { readonly kind: 'removeIndexServer'; readonly publicKey: PublicKey }
  | { readonly kind: 'addFriend'; readonly publicKey: PublicKey; readonly name: string; readonly relays: readonly { publicKey: PublicKey; address: string }[] }
  | { readonly kind: 'setFriendRelays'; readonly publicKey: PublicKey; readonly relays: readonly { publicKey: PublicKey; address: string }[] }
  | { readonly kind: 'setFriendName'; readonly publicKey: PublicKey; readonly name: string }
  | { readonly kind: 'removeFriend' | 'enableFriend' | 'disableFriend'; readonly publicKey: PublicKey }
  | { readonly kind: 'openFriendCurrency' | 'closeFriendCurrency' | 'removeFriendCurrency'; readonly publicKey: PublicKey; readonly currency: string }
  | { readonly kind: 'setFriendCurrencyMaxDebt'; readonly publicKey: PublicKey; readonly currency: string; readonly remoteMaxDebt: bigint }
  | { readonly kind: 'setFriendCurrencyRate'; readonly publicKey: PublicKey; readonly currency: string; readonly rate: Rate }
  | { readonly kind: 'resetFriendChannel'; readonly publicKey: PublicKey; readonly resetToken: Uint8Array }
  | { readonly kind: 'addInvoice'; readonly invoiceId: Hash; readonly currency: string; readonly totalDestPayment: bigint }
  | { readonly kind: 'cancelInvoice'; readonly invoiceId: Hash }
  | { readonly kind: 'commitInvoice'; readonly commit: Commit }
  | {
    readonly kind: 'createPayment'; readonly paymentId: Uid; readonly invoiceId: Hash; readonly currency: string;
    readonly totalDestPayment: bigint; readonly destPublicKey: PublicKey;
  }
  | {
    readonly kind: 'createTransaction'; readonly paymentId: Uid; readonly requestId: Uid; readonly route: readonly PublicKey[];
    readonly destPayment: bigint; readonly fees: bigint;
  }
  | { readonly kind: 'requestClosePayment' | 'paymentStatus'; readonly paymentId: Uid }
  | { readonly kind: 'ackClosePayment'; readonly paymentId: Uid; readonly ackUid: Uid }
  | {
    readonly kind: 'requestRoutes'; readonly currency: string; readonly amount: bigint; readonly source: PublicKey;
    readonly destination: PublicKey; readonly exclude: { readonly from: PublicKey; readonly to: PublicKey } | null;
  };

export type AppRequestKind = AppRequest['kind'];

export interface AppToNode {
  /** Chosen by the app; the node echoes it in the request's result. 16 bytes. */
  readonly requestId: Uid;
  readonly request: AppRequest;
}

export type Permission = keyof AppPermissions;

export function permissionFor(kind: AppRequestKind): Permission {
  switch (kind) {
    case 'requestRoutes':
      return 'routes';
    case 'createPayment':
    case 'createTransaction':
    case 'requestClosePayment':
    case 'paymentStatus':
    case 'ackClosePayment':
      return 'buyer';
    case 'addInvoice':
    case 'cancelInvoice':
    case 'commitInvoice':
      return 'seller';
    default:
      return 'config';
  }
}

export interface CurrencyReport {
  readonly currency: string;
  readonly rate: Rate;
  readonly remoteMaxDebt: bigint;
  readonly isOpen: boolean;
  /** null until both sides have activated the currency. */
  readonly balance: { readonly balance: bigint; readonly localPending: bigint; readonly remotePending: bigint } | null;
}

export interface FriendReport {
  readonly publicKey: PublicKey;
  readonly name: string;
  readonly relays: readonly { publicKey: PublicKey; address: string }[];
  readonly enabled: boolean;
  readonly online: boolean;
  readonly consistent: boolean;
  readonly currencies: readonly CurrencyReport[];
}

export interface NodeReport {
  readonly localPublicKey: PublicKey;
  readonly relays: readonly NamedAddress[];
  readonly indexServers: readonly NamedAddress[];
  readonly connectedIndexServer: boolean;
  readonly friends: readonly FriendReport[];
}

/** Stable codes an app request can fail with (besides the payment core's ERR_FUNDER_*). */
export const AppRequestErrorCode = {
  PermissionDenied: 'ERR_APP_PERMISSION_DENIED',
  BadRequest: 'ERR_APP_BAD_REQUEST',
  TooManyRequests: 'ERR_APP_TOO_MANY_REQUESTS',
  NoIndex: 'ERR_APP_NO_INDEX_SERVER',
  RouteFailed: 'ERR_APP_ROUTE_FAILED',
  RelayLimit: 'ERR_APP_RELAY_LIMIT',
  UnknownRelay: 'ERR_APP_UNKNOWN_RELAY',
  UnknownIndexServer: 'ERR_APP_UNKNOWN_INDEX_SERVER',
  Exists: 'ERR_APP_ALREADY_EXISTS',
  Stopping: 'ERR_APP_NODE_STOPPING',
} as const;

export interface RequestError {
  readonly code: string;
  readonly message: string;
}

export type NodeToApp =
  | { readonly kind: 'permissions'; readonly permissions: AppPermissions }
  | { readonly kind: 'report'; readonly report: NodeReport }
  /** Exactly one per request, after its effects are durable. */
  | { readonly kind: 'result'; readonly requestId: Uid; readonly error: RequestError | null }
  | { readonly kind: 'routes'; readonly requestId: Uid; readonly routes: readonly IndexRoute[]; readonly complete: boolean }
  | {
    readonly kind: 'transactionResult'; readonly paymentId: Uid; readonly requestId: Uid;
    readonly outcome: { readonly kind: 'complete'; readonly commit: Commit } | { readonly kind: 'success' } | { readonly kind: 'failure' };
  }
  | {
    readonly kind: 'paymentStatus'; readonly paymentId: Uid;
    readonly status:
      | { readonly kind: 'inProgress' }
      | { readonly kind: 'success'; readonly receipt: Receipt; readonly ackUid: Uid }
      | { readonly kind: 'canceled'; readonly ackUid: Uid }
      | { readonly kind: 'notFound' };
  };
