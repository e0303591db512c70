import type { Failure, FriendReport } from '../node/app_codec.js';
import { AppErrorCode } from '../wire/generated/offset/app/app-error-code.js';
import { FailureReason } from '../wire/generated/offset/app/failure-reason.js';

/**
 * Reading the app's copy of the node's state (the full report from connect with every later
 * mutation replayed by applyMutations in src/node/report.ts): balances and error-code names.
 */

/** A friend's balance in a currency, when the channel is consistent and the currency active. */
export function friendBalance(friend: FriendReport, currency: string): { balance: bigint; localPendingDebt: bigint; remotePendingDebt: bigint } | null {
  if (friend.channel.kind !== 'consistent') return null;
  return friend.channel.balances.find((b) => b.currency === currency) ?? null;
}

function codeName(prefix: string, names: Record<number, string | undefined>, code: number): string {
  const name = names[code];
  if (name === undefined) return `${prefix}_CODE_${code}`;
  return `${prefix}_${name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/** `ERR_APP_PERMISSION_DENIED` for AppErrorCode.PermissionDenied: the stable text form of a wire code. */
export function appErrorCodeName(code: number): string {
  return codeName('ERR_APP', AppErrorCode as unknown as Record<number, string | undefined>, code);
}

/** `ERR_PAY_INSUFFICIENT_CAPACITY` for FailureReason.InsufficientCapacity: why a payment failed, as a stable code. */
export function failureCodeName(reason: number): string {
  return codeName('ERR_PAY', FailureReason as unknown as Record<number, string | undefined>, reason);
}

/** One line for a failure: the node's explanation and its stable code. */
export function failureText(failure: Failure): string {
  const message = failure.message === '' ? 'no reason given' : failure.message;
  return `${message} (${failureCodeName(failure.reason)})`;
}

/** Of several failures, the one that says the most: a stated reason beats a bare cancellation. */
export function mostTelling(failures: readonly Failure[]): Failure | null {
  return failures.find((f) => f.reason !== FailureReason.Canceled) ?? failures[0] ?? null;
}
