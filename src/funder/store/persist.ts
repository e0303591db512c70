import { deserialize, serialize } from 'node:v8';
import type { ChangeSet } from '../api.js';
import { newMutualCredit, type MutualCredit, type PendingTx } from '../mutual_credit.js';
import type { Friend, FunderState, QueuedOp } from '../state.js';
import type { TokenChannel } from '../token_channel.js';
import type { BatchOp } from './rocks.js';

/**
 * Key layout: one record per entity, so an event writes only what it changed.
 *   n                                  node (relays)
 *   f/<friend>                         friend: name, relays, status, configs, queues, reset terms
 *   c/<friend>                         token channel: chain tokens, counters, last move, balances
 *   t/<friend>/<L|R>/<request>/<cur>   one pending transaction of a mutual credit
 *   q/<friend>/<seq>                   one operation waiting for the token
 *   u/<request>  d/<friend/cur/req>  e/<request>  i/<invoice>  p/<payment>
 * Values are V8-serialised records. A `prefix` lets the records share a database with others.
 */

// V8's structured serialisation keeps bigints, byte arrays and maps as they are, and is several
// times faster than JSON with tagging; Node reads records written by older versions.
function encode(value: unknown): Buffer {
  return serialize(value);
}

function decode<T>(bytes: Buffer): T {
  return deserialize(bytes) as T;
}

/** The node record also names our key, so a database is never opened with another identity. */
export function nodeRecord(state: FunderState): Buffer {
  return encode({ pk: Buffer.from(state.localPublicKey).toString('hex'), relays: state.relays });
}

const VOLATILE = new Set(['online', 'remoteWantsToken', 'tokenRequested', 'resendPending', 'channel', 'backwards', 'requests', 'userRequests']);

function friendRecord(friend: Friend): Buffer {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(friend)) if (!VOLATILE.has(k)) out[k] = v;
  return encode(out);
}

function channelRecord(ch: TokenChannel): Buffer {
  const balances: [string, bigint, bigint, bigint][] = [];
  for (const [currency, mc] of ch.mutualCredits) balances.push([currency, mc.balance, mc.localPending, mc.remotePending]);
  const { mutualCredits: _omit, ...rest } = ch;
  return encode({ ...rest, balances });
}

/** The writes that make the store match `state` for every entity in `changes`. */
export function changesToOps(
  state: FunderState, changes: ChangeSet, into: Map<string, Buffer | null> = new Map(), prefix = '',
): Map<string, Buffer | null> {
  const put = (key: string, value: Buffer | null): void => {
    into.set(prefix + key, value);
  };
  if (changes.node) put('n', nodeRecord(state));
  for (const key of changes.friends) {
    const friend = state.friends.get(key);
    put(`f/${key}`, friend === undefined ? null : friendRecord(friend));
  }
  for (const key of changes.channels) {
    const friend = state.friends.get(key);
    put(`c/${key}`, friend === undefined ? null : channelRecord(friend.channel));
  }
  for (const id of changes.txs) {
    const [friendKey, side, rk] = id.split('\0', 3);
    const currency = id.slice(friendKey.length + side.length + rk.length + 3);
    const mc = state.friends.get(friendKey)?.channel.mutualCredits.get(currency);
    const tx = side === 'L' ? mc?.local.get(rk) : mc?.remote.get(rk);
    put(`t/${friendKey}/${side}/${rk}/${currency}`, tx === undefined ? null : encode(tx));
  }
  for (const [id, item] of changes.queued) {
    const [friendKey, seq] = id.split('\0');
    put(`q/${friendKey}/${seq.padStart(12, '0')}`, item === null ? null : encode(item));
  }
  for (const [kind, keys, map] of [
    ['u', changes.upstream, state.upstream],
    ['d', changes.downstream, state.downstream],
    ['e', changes.deadlines, state.deadlines],
    ['i', changes.invoices, state.invoices],
    ['p', changes.payments, state.payments],
  ] as const) {
    for (const key of keys) {
      const value = (map as Map<string, unknown>).get(key);
      put(`${kind}/${key}`, value === undefined ? null : encode(value));
    }
  }
  return into;
}

export function toBatch(ops: Map<string, Buffer | null>): BatchOp[] {
  const out: BatchOp[] = [];
  for (const [key, value] of ops) out.push(value === null ? { type: 'del', key } : { type: 'put', key, value });
  return out;
}

/** Rebuilds the state from every stored record; volatile flags start cleared (friends offline). */
export function stateFromRecords(state: FunderState, records: Map<string, Buffer>, prefix = ''): FunderState {
  const channels = new Map<string, TokenChannel>();
  const txs: [string, string, string, string, PendingTx][] = [];
  // Keys sort by zero-padded sequence, so each queue comes back in its original order.
  const queued: [string, QueuedOp][] = [];
  for (const [fullKey, value] of records) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    const slash = key.indexOf('/');
    const kind = slash < 0 ? key : key.slice(0, slash);
    const rest = key.slice(slash + 1);
    switch (kind) {
      case 'n':
        state.relays = decode<{ relays: FunderState['relays'] }>(value).relays;
        break;
      case 'f': {
        const friend = decode<Friend>(value);
        state.friends.set(rest, {
          ...friend, backwards: [], requests: [], userRequests: [], online: false, remoteWantsToken: false, tokenRequested: false, resendPending: false,
        } as Friend);
        break;
      }
      case 'c': {
        const record = decode<TokenChannel & { balances: [string, bigint, bigint, bigint][] }>(value);
        const mcs = new Map<string, MutualCredit>();
        for (const [currency, balance, localPending, remotePending] of record.balances) {
          mcs.set(currency, { ...newMutualCredit(), balance, localPending, remotePending });
        }
        const { balances: _unused, ...rest2 } = record;
        channels.set(rest, { ...rest2, mutualCredits: mcs });
        break;
      }
      case 't': {
        const [friendKey, side, rk] = rest.split('/', 3);
        const currency = rest.slice(friendKey.length + side.length + rk.length + 3);
        txs.push([friendKey, side, rk, currency, decode<PendingTx>(value)]);
        break;
      }
      case 'q':
        queued.push([rest.slice(0, rest.indexOf('/')), decode<QueuedOp>(value)]);
        break;
      case 'u':
        state.upstream.set(rest, decode(value));
        break;
      case 'd':
        state.downstream.set(rest, decode(value));
        break;
      case 'e':
        state.deadlines.set(rest, decode(value));
        break;
      case 'i':
        state.invoices.set(rest, decode(value));
        break;
      case 'p':
        state.payments.set(rest, decode(value));
        break;
    }
  }
  for (const [key, channel] of channels) {
    const friend = state.friends.get(key);
    if (friend !== undefined) friend.channel = channel;
  }
  for (const [friendKey, item] of queued) state.friends.get(friendKey)?.[item.queue].push(item);
  for (const [friendKey, side, rk, currency, tx] of txs) {
    const mc = state.friends.get(friendKey)?.channel.mutualCredits.get(currency);
    if (mc === undefined) continue;
    (side === 'L' ? mc.local : mc.remote).set(rk, tx);
  }
  return state;
}
