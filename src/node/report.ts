import { bytesEqual, toBase64Url } from '../common/bytes.js';
import type { Friend, FunderState } from '../funder/state.js';
import type { ResetTerms as FunderResetTerms } from '../funder/types.js';
import type {
  AppPermissions, ChannelStatus, FriendReport, NamedAddress, NodeReport, ReportMutation, ResetTerms, SignedToken,
} from './app_codec.js';

/**
 * The node report apps see, built from the payment core's state and the node's own settings, and
 * the list of mutations that turns one report into the next (what apps receive after the full
 * report they got on connect).
 */

export interface ReportInputs {
  readonly state: FunderState;
  readonly relayNames: ReadonlyMap<string, string>;
  readonly indexServers: readonly NamedAddress[];
  readonly connectedIndex: Uint8Array | null;
}

function resetTerms(t: FunderResetTerms): ResetTerms {
  return { resetToken: t.resetToken, inconsistencyCounter: t.inconsistencyCounter, balances: t.balanceForReset.map((b) => ({ currency: b.currency, balance: b.balance })) };
}

function channelStatus(f: Friend): ChannelStatus {
  if (f.inconsistency !== null) {
    return {
      kind: 'inconsistent', localTerms: resetTerms(f.inconsistency.localTerms),
      remoteTerms: f.inconsistency.remoteTerms === null ? null : resetTerms(f.inconsistency.remoteTerms),
    };
  }
  return {
    kind: 'consistent',
    balances: [...f.channel.mutualCredits].map(([currency, mc]) => ({
      currency, balance: mc.balance, localPendingDebt: mc.localPending, remotePendingDebt: mc.remotePending,
    })),
  };
}

export function friendReport(f: Friend): FriendReport {
  return {
    publicKey: f.publicKey,
    name: f.name,
    relays: f.relays.map((r) => ({ publicKey: r.publicKey, address: r.address })),
    enabled: f.enabled,
    online: f.online,
    currencyConfigs: [...f.configs].map(([currency, c]) => ({ currency, rate: c.rate, remoteMaxDebt: c.remoteMaxDebt, isOpen: c.isOpen })),
    channel: channelStatus(f),
    lastTokenHash: f.channel.lastIncomingDigest,
  };
}

/**
 * The friend's signature over the last move we accepted, as apps receive it; null before the
 * first one (and for channels stored before the node kept it).
 */
export function friendLastToken(f: Friend): SignedToken | null {
  const last = f.channel.lastIncoming ?? null;
  if (last === null) return null;
  // The friend signed its own view: it is the "local" side of the token info.
  return {
    prefixHash: last.prefixHash,
    randNonce: last.randNonce,
    newToken: last.newToken,
    signer: f.publicKey,
    receiver: f.channel.localPublicKey,
    balances: last.balances.map((b) => ({
      currency: b.currency, balance: b.balance, localPendingDebt: b.localPending, remotePendingDebt: b.remotePending,
    })),
    inconsistencyCounter: f.channel.inconsistencyCounter,
    moveTokenCounter: last.moveTokenCounter,
  };
}

export function buildReport(inputs: ReportInputs): NodeReport {
  const s = inputs.state;
  return {
    publicKey: s.localPublicKey,
    relays: s.relays.map((r) => ({ publicKey: r.publicKey, address: r.address, name: inputs.relayNames.get(toBase64Url(r.publicKey)) ?? '' })),
    indexServers: inputs.indexServers.map((x) => ({ publicKey: x.publicKey, address: x.address, name: x.name })),
    connectedIndex: inputs.connectedIndex,
    friends: [...s.friends.values()].map(friendReport),
  };
}

/**
 * Structural equality of plain report values (bytes and bigints included). The report is diffed
 * after every batch of the core's changes, so this walks the values instead of serialising them.
 * A missing field equals an undefined one.
 */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && bytesEqual(a, b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const k in x) if (!same(x[k], y[k])) return false;
  for (const k in y) if (!(k in x) && y[k] !== undefined) return false;
  return true;
}

function byKey<T extends { publicKey: Uint8Array }>(items: readonly T[]): Map<string, T> {
  return new Map(items.map((i) => [toBase64Url(i.publicKey), i]));
}

/**
 * What an app may see of the node. Only an app allowed to configure the node sees its friends
 * (names, trust, balances, pending debts) and its index servers; any other app sees the node's
 * key and relays, which its friend ticket gives away anyway, and nothing it could learn about
 * the node's friends from.
 */
export function reportFor(permissions: AppPermissions, report: NodeReport): NodeReport {
  if (permissions.config) return report;
  return { publicKey: report.publicKey, relays: report.relays, indexServers: [], connectedIndex: null, friends: [] };
}

/** The mutations of a report an app may see, by the same rule as reportFor. */
export function mutationsFor(permissions: AppPermissions, mutations: readonly ReportMutation[]): readonly ReportMutation[] {
  if (permissions.config) return mutations;
  return mutations.filter((m) => m.kind === 'relayAdded' || m.kind === 'relayRemoved');
}

export function diffReports(prev: NodeReport, next: NodeReport): ReportMutation[] {
  const out: ReportMutation[] = [];
  const listDiff = (
    a: readonly NamedAddress[], b: readonly NamedAddress[],
    removed: (k: Uint8Array) => ReportMutation, added: (x: NamedAddress) => ReportMutation,
  ): void => {
    const am = byKey(a);
    const bm = byKey(b);
    for (const [k, x] of am) if (!bm.has(k) || !same(x, bm.get(k))) out.push(removed(x.publicKey));
    for (const [k, x] of bm) if (!am.has(k) || !same(x, am.get(k))) out.push(added(x));
  };
  listDiff(prev.relays, next.relays, (publicKey) => ({ kind: 'relayRemoved', publicKey }), (relay) => ({ kind: 'relayAdded', relay }));
  listDiff(prev.indexServers, next.indexServers, (publicKey) => ({ kind: 'indexServerRemoved', publicKey }), (server) => ({ kind: 'indexServerAdded', server }));
  if (!same(prev.connectedIndex, next.connectedIndex)) out.push({ kind: 'connectedIndexSet', publicKey: next.connectedIndex });
  const pf = byKey(prev.friends);
  const nf = byKey(next.friends);
  for (const [k, f] of pf) if (!nf.has(k)) out.push({ kind: 'friendRemoved', publicKey: f.publicKey });
  for (const [k, f] of nf) {
    const p = pf.get(k);
    if (p === undefined) {
      out.push({ kind: 'friendAdded', friend: f });
      continue;
    }
    const publicKey = f.publicKey;
    if (p.name !== f.name) out.push({ kind: 'friendNameSet', publicKey, name: f.name });
    if (!same(p.relays, f.relays)) out.push({ kind: 'friendRelaysSet', publicKey, relays: f.relays });
    if (p.enabled !== f.enabled) out.push({ kind: 'friendStatusSet', publicKey, enabled: f.enabled });
    if (p.online !== f.online) out.push({ kind: 'friendLivenessSet', publicKey, online: f.online });
    const pc = new Map(p.currencyConfigs.map((c) => [c.currency, c]));
    const nc = new Map(f.currencyConfigs.map((c) => [c.currency, c]));
    for (const [currency] of pc) if (!nc.has(currency)) out.push({ kind: 'friendCurrencyConfigRemoved', publicKey, currency });
    for (const [currency, c] of nc) if (!same(pc.get(currency), c)) out.push({ kind: 'friendCurrencyConfigSet', publicKey, config: c });
    if (!same(p.channel, f.channel) || !same(p.lastTokenHash, f.lastTokenHash)) {
      out.push({ kind: 'friendChannelSet', publicKey, channel: f.channel, lastTokenHash: f.lastTokenHash });
    }
  }
  return out;
}

/** Replaces the entry with the same key in place, or appends: a repeated add never duplicates. */
function upsert<T extends { readonly publicKey: Uint8Array }>(list: readonly T[], item: T): T[] {
  const key = toBase64Url(item.publicKey);
  const index = list.findIndex((entry) => toBase64Url(entry.publicKey) === key);
  if (index < 0) return [...list, item];
  const out = [...list];
  out[index] = item;
  return out;
}

/**
 * Replays mutations onto a report, keeping every entry's position. Apps keep their copy of the
 * node's state with it, and the node's tests use it to check that a diff is complete, so both
 * sides agree on what a list of mutations means.
 */
export function applyMutations(report: NodeReport, mutations: readonly ReportMutation[]): NodeReport {
  let relays = [...report.relays];
  let indexServers = [...report.indexServers];
  let connectedIndex = report.connectedIndex;
  const friends = new Map(report.friends.map((f) => [toBase64Url(f.publicKey), f]));
  const k = (key: Uint8Array): string => toBase64Url(key);
  const update = (key: Uint8Array, change: (f: FriendReport) => FriendReport): void => {
    const f = friends.get(k(key));
    if (f !== undefined) friends.set(k(key), change(f));
  };
  for (const m of mutations) {
    switch (m.kind) {
      case 'relayAdded': relays = upsert(relays, m.relay); break;
      case 'relayRemoved': relays = relays.filter((r) => k(r.publicKey) !== k(m.publicKey)); break;
      case 'indexServerAdded': indexServers = upsert(indexServers, m.server); break;
      case 'indexServerRemoved': indexServers = indexServers.filter((r) => k(r.publicKey) !== k(m.publicKey)); break;
      case 'connectedIndexSet': connectedIndex = m.publicKey; break;
      case 'friendAdded': friends.set(k(m.friend.publicKey), m.friend); break;
      case 'friendRemoved': friends.delete(k(m.publicKey)); break;
      case 'friendNameSet': update(m.publicKey, (f) => ({ ...f, name: m.name })); break;
      case 'friendRelaysSet': update(m.publicKey, (f) => ({ ...f, relays: m.relays })); break;
      case 'friendStatusSet': update(m.publicKey, (f) => ({ ...f, enabled: m.enabled })); break;
      case 'friendLivenessSet': update(m.publicKey, (f) => ({ ...f, online: m.online })); break;
      case 'friendCurrencyConfigSet': update(m.publicKey, (f) => {
        const rest = f.currencyConfigs.filter((c) => c.currency !== m.config.currency);
        const index = f.currencyConfigs.findIndex((c) => c.currency === m.config.currency);
        const configs = [...rest];
        configs.splice(index < 0 ? configs.length : index, 0, m.config);
        return { ...f, currencyConfigs: configs };
      }); break;
      case 'friendCurrencyConfigRemoved': update(m.publicKey, (f) => ({ ...f, currencyConfigs: f.currencyConfigs.filter((c) => c.currency !== m.currency) })); break;
      case 'friendChannelSet': update(m.publicKey, (f) => ({ ...f, channel: m.channel, lastTokenHash: m.lastTokenHash })); break;
    }
  }
  return { publicKey: report.publicKey, relays, indexServers, connectedIndex, friends: [...friends.values()] };
}
