import { bytesEqual } from '../common/bytes.js';
import type { FriendReport, NodeReport, ReportMutation } from '../node/app_codec.js';
import { AppErrorCode } from '../wire/generated/offset/app/app-error-code.js';

/**
 * The app's copy of the node's state: the full report it got on connect, with every later
 * mutation applied in order. Pure, so what an app shows is exactly what the node said.
 */

function updateFriend(report: NodeReport, key: Uint8Array, change: (f: FriendReport) => FriendReport): NodeReport {
  return { ...report, friends: report.friends.map((f) => (bytesEqual(f.publicKey, key) ? change(f) : f)) };
}

export function applyMutation(report: NodeReport, m: ReportMutation): NodeReport {
  switch (m.kind) {
    case 'relayAdded':
      return { ...report, relays: [...report.relays.filter((r) => !bytesEqual(r.publicKey, m.relay.publicKey)), m.relay] };
    case 'relayRemoved':
      return { ...report, relays: report.relays.filter((r) => !bytesEqual(r.publicKey, m.publicKey)) };
    case 'indexServerAdded':
      return { ...report, indexServers: [...report.indexServers.filter((s) => !bytesEqual(s.publicKey, m.server.publicKey)), m.server] };
    case 'indexServerRemoved':
      return { ...report, indexServers: report.indexServers.filter((s) => !bytesEqual(s.publicKey, m.publicKey)) };
    case 'connectedIndexSet':
      return { ...report, connectedIndex: m.publicKey };
    case 'friendAdded':
      return { ...report, friends: [...report.friends.filter((f) => !bytesEqual(f.publicKey, m.friend.publicKey)), m.friend] };
    case 'friendRemoved':
      return { ...report, friends: report.friends.filter((f) => !bytesEqual(f.publicKey, m.publicKey)) };
    case 'friendNameSet':
      return updateFriend(report, m.publicKey, (f) => ({ ...f, name: m.name }));
    case 'friendRelaysSet':
      return updateFriend(report, m.publicKey, (f) => ({ ...f, relays: m.relays }));
    case 'friendStatusSet':
      return updateFriend(report, m.publicKey, (f) => ({ ...f, enabled: m.enabled }));
    case 'friendLivenessSet':
      return updateFriend(report, m.publicKey, (f) => ({ ...f, online: m.online }));
    case 'friendCurrencyConfigSet':
      return updateFriend(report, m.publicKey, (f) => ({
        ...f, currencyConfigs: [...f.currencyConfigs.filter((c) => c.currency !== m.config.currency), m.config],
      }));
    case 'friendCurrencyConfigRemoved':
      return updateFriend(report, m.publicKey, (f) => ({ ...f, currencyConfigs: f.currencyConfigs.filter((c) => c.currency !== m.currency) }));
    case 'friendChannelSet':
      return updateFriend(report, m.publicKey, (f) => ({ ...f, channel: m.channel, lastTokenHash: m.lastTokenHash }));
  }
}

export function applyMutations(report: NodeReport, mutations: readonly ReportMutation[]): NodeReport {
  return mutations.reduce(applyMutation, report);
}

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
