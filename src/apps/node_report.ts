import type { FriendReport } from '../node/app_codec.js';
import { AppErrorCode } from '../wire/generated/offset/app/app-error-code.js';

/**
 * Reading the app's copy of the node's state (the full report from connect with every later
 * mutation replayed by applyMutations in src/node/report.ts): balances and error-code names.
 */

/** A friend's balance in a currency, when the channel is consistent and the currency active. */
export function friendBalance(friend: FriendReport, currency: string): { balance: bigint; localPendingDebt: bigint; remotePendingDebt: bigint } | null {
  if (friend.channel.kind !== 'consistent') return null;
  return friend.channel.balances.find((b) => b.currency === currency) ?? null;
}

/** `ERR_APP_PERMISSION_DENIED` for AppErrorCode.PermissionDenied: the stable text form of a wire code. */
export function appErrorCodeName(code: number): string {
  const name = (AppErrorCode as unknown as Record<number, string | undefined>)[code];
  if (name === undefined) return `ERR_APP_CODE_${code}`;
  return `ERR_APP_${name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}
