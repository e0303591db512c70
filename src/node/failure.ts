import type { FailureCause } from '../funder/api.js';
import { CancelReason } from '../funder/types.js';
import { FailureReason, type Failure } from './app_codec.js';

/**
 * The payment core's reason a transaction was not paid, as apps see it: a stable FailureReason
 * and one sentence saying where it happened. A reason the core does not know (sent by a newer
 * peer) reads as a plain cancellation.
 */

const reasons: ReadonlyMap<number, { reason: FailureReason; text: string }> = new Map([
  [CancelReason.Unspecified, { reason: FailureReason.Canceled, text: 'cancelled without a stated reason' }],
  [CancelReason.NoRoute, { reason: FailureReason.NoRoute, text: 'the next key on the route is not a friend there, or the currency is not active with it' }],
  [CancelReason.HopUnavailable, { reason: FailureReason.HopUnavailable, text: 'the next hop is offline' }],
  [CancelReason.FriendDisabled, { reason: FailureReason.FriendDisabled, text: 'the next hop is a disabled friend' }],
  [CancelReason.InsufficientCapacity, { reason: FailureReason.InsufficientCapacity, text: 'the credit extended on a link of the route would be exceeded' }],
  [CancelReason.FeeTooLow, { reason: FailureReason.FeeTooLow, text: 'the fees left do not cover what a forwarder charges' }],
  [CancelReason.Expired, { reason: FailureReason.Expired, text: 'the request\'s deadline passed' }],
  [CancelReason.InvoiceRefused, { reason: FailureReason.InvoiceRefused, text: 'the seller has no open invoice this payment matches' }],
  [CancelReason.SellerCanceled, { reason: FailureReason.SellerCanceled, text: 'the seller cancelled the invoice' }],
  [CancelReason.Busy, { reason: FailureReason.Busy, text: 'a hop\'s queue is full or the request id is in use there' }],
  [CancelReason.ChannelInconsistent, { reason: FailureReason.ChannelInconsistent, text: 'the channel with the next hop is inconsistent' }],
  [CancelReason.FriendRemoved, { reason: FailureReason.FriendRemoved, text: 'the next hop was removed as a friend' }],
  [CancelReason.CurrencyClosed, { reason: FailureReason.CurrencyClosed, text: 'the currency was closed on a link of the route' }],
]);

export function failureOf(cause: FailureCause): Failure {
  const known = reasons.get(cause.reason) ?? reasons.get(CancelReason.Unspecified)!;
  const where = cause.local ? 'at this node' : 'reported by a hop on the route';
  return { reason: known.reason, message: `${known.text} (${where})`, atThisNode: cause.local };
}
