import { U64_MAX, bytesEqual, compareBytes, concatBytes } from '../common/bytes.js';
import { SigningDomain } from '../crypto/domains.js';
import { hash } from '../crypto/primitives.js';
import {
  MAX_CURRENCIES_PER_FRIEND, MAX_CURRENCY_BYTES, MAX_OPS_PER_MOVE, MAX_RELAYS, MAX_ADDRESS_BYTES,
} from './constants.js';
import {
  applyIncoming, applyOutgoing, cloneMutualCredit, newMutualCredit, type McError, type MutualCredit,
} from './mutual_credit.js';
import {
  moveDigest, moveSignedBytes, prefixHash, tokenInfoHash, verifyMoveSignature, type BalanceInfo, type Signer,
  type TokenInfo,
} from './signing.js';
import type { Currency, CurrencyOp, FriendTcOp, Hash, MoveToken, PublicKey, RelayAddress, Signature, Uid } from './types.js';

/**
 * The token channel between us and one friend: who holds the token, the hash chain of moves,
 * and the mutual credits the moves change. Exactly one side may send a move at a time; the
 * other verifies it completely and applies it atomically, or rejects it without any change.
 */

export interface TokenChannel {
  readonly localPublicKey: PublicKey;
  readonly remotePublicKey: PublicKey;
  /** incoming: we hold the token and may send; outgoing: we sent the last move and wait. */
  direction: 'incoming' | 'outgoing';
  /** The last move we sent (a made-up genesis move before the first one). */
  lastOutgoing: MoveToken;
  /** The token our next move chains on, while we hold it. */
  lastIncomingToken: Signature;
  /** Digest of the last move we accepted, to recognise a retransmission. */
  lastIncomingDigest: Hash | null;
  /**
   * The last move we accepted, reduced to what its signature covers (what `stctrl info
   * friend-last-token` shows): anyone holding the friend's key can check what it last agreed to.
   */
  lastIncoming: LastIncomingMove | null;
  /** new_token (hex) of the last few moves we accepted, to recognise replays of older ones. */
  recentIncoming: string[];
  /** The time stamp of the last move we accepted (0 before the first); our next one is no lower. */
  lastIncomingTimeMs: number;
  moveTokenCounter: bigint;
  inconsistencyCounter: bigint;
  mutualCredits: Map<Currency, MutualCredit>;
  /** Currency sets each side last announced, sorted. */
  localAnnounced: Currency[];
  remoteAnnounced: Currency[];
}

/**
 * A move the friend sent and we accepted, reduced to what its signature covers. The token info it
 * signed is the friend's view: keys (friend, us), `balances`, the channel's inconsistency counter
 * (a reset clears this record) and `moveTokenCounter`; `infoHash` is its hash.
 */
export interface LastIncomingMove {
  readonly prefixHash: Hash;
  readonly infoHash: Hash;
  readonly randNonce: Uid;
  readonly newToken: Signature;
  /** The move token counter the move produced. */
  readonly moveTokenCounter: bigint;
  /** The balances it signed, from the friend's side, sorted by currency. */
  readonly balances: readonly BalanceInfo[];
}

const RECENT_MOVES_KEPT = 8;

export function compareCurrencies(a: Currency, b: Currency): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function isValidCurrency(currency: unknown): currency is Currency {
  if (typeof currency !== 'string') return false;
  const bytes = Buffer.byteLength(currency, 'utf8');
  return bytes >= 1 && bytes <= MAX_CURRENCY_BYTES && Buffer.from(currency, 'utf8').toString('utf8') === currency;
}

function genesisTokens(a: PublicKey, b: PublicKey): { low: PublicKey; high: PublicKey } {
  const order = compareBytes(hash(a), hash(b));
  return order < 0 ? { low: a, high: b } : { low: b, high: a };
}

function zeroPad(key: PublicKey): Signature {
  return concatBytes([key, new Uint8Array(32)]);
}

/** A fresh channel; the side whose key hashes lower acts as if it had sent a genesis move. */
export function newTokenChannel(local: PublicKey, remote: PublicKey): TokenChannel {
  const { low, high } = genesisTokens(local, remote);
  const genesis: MoveToken = {
    oldToken: zeroPad(low),
    ops: [],
    relays: null,
    activeCurrencies: null,
    infoHash: new Uint8Array(32),
    randNonce: hash(high).subarray(0, 16),
    newToken: zeroPad(high),
    timeMs: 0,
  };
  const weAreLow = bytesEqual(low, local);
  return {
    localPublicKey: local,
    remotePublicKey: remote,
    direction: weAreLow ? 'outgoing' : 'incoming',
    lastOutgoing: genesis,
    lastIncomingToken: genesis.newToken,
    lastIncomingDigest: null,
    lastIncoming: null,
    recentIncoming: [],
    lastIncomingTimeMs: 0,
    moveTokenCounter: 0n,
    inconsistencyCounter: 0n,
    mutualCredits: new Map(),
    localAnnounced: [],
    remoteAnnounced: [],
  };
}

/** TokenInfo from our point of view, over the given credits and counter. */
export function tokenInfo(ch: TokenChannel, mcs: Map<Currency, MutualCredit>, counter: bigint, view: 'local' | 'remote'): TokenInfo {
  const names = [...mcs.keys()].sort(compareCurrencies);
  const balances: BalanceInfo[] = names.map((currency) => {
    const mc = mcs.get(currency)!;
    return view === 'local'
      ? { currency, balance: mc.balance, localPending: mc.localPending, remotePending: mc.remotePending }
      : { currency, balance: -mc.balance, localPending: mc.remotePending, remotePending: mc.localPending };
  });
  return view === 'local'
    ? { localPublicKey: ch.localPublicKey, remotePublicKey: ch.remotePublicKey, balances, inconsistencyCounter: ch.inconsistencyCounter, moveTokenCounter: counter }
    : { localPublicKey: ch.remotePublicKey, remotePublicKey: ch.localPublicKey, balances, inconsistencyCounter: ch.inconsistencyCounter, moveTokenCounter: counter };
}

function sortedUnique(list: readonly Currency[]): Currency[] {
  return [...new Set(list)].sort(compareCurrencies);
}

function withNewCurrencies(mcs: Map<Currency, MutualCredit>, a: readonly Currency[], b: readonly Currency[]): Map<Currency, MutualCredit> {
  const inB = new Set(b);
  let out = mcs;
  for (const currency of a) {
    if (inB.has(currency) && !out.has(currency)) {
      if (out === mcs) out = new Map(mcs);
      out.set(currency, newMutualCredit());
    }
  }
  return out;
}

/** A move being assembled: operations are tried one by one on copies of the credits. */
export interface MoveDraft {
  readonly channel: TokenChannel;
  readonly mcs: Map<Currency, MutualCredit>;
  readonly cloned: Set<Currency>;
  readonly ops: CurrencyOp[];
  readonly announce: Currency[] | null;
  /** The move's stamp: the clock, but never below a stamp already in the chain. */
  readonly timeMs: number;
}

/** The stamp of a move we build now: our clock, or the chain's latest stamp if our clock is behind it. */
export function nextStamp(ch: TokenChannel, nowMs: number): number {
  return Math.max(Math.floor(nowMs), ch.lastIncomingTimeMs, ch.lastOutgoing.timeMs);
}

/**
 * Starts a move; null when we do not hold the token, or the counter is exhausted (the channel
 * then refuses to move rather than wrap, and both sides check this).
 */
export function beginMove(ch: TokenChannel, announce: readonly Currency[] | null, nowMs: number): MoveDraft | null {
  if (ch.direction !== 'incoming' || ch.moveTokenCounter >= U64_MAX) return null;
  const sorted = announce === null ? null : sortedUnique(announce);
  if (sorted !== null) {
    for (const currency of ch.mutualCredits.keys()) if (!sorted.includes(currency)) return null;
  }
  const mcs = sorted === null ? ch.mutualCredits : withNewCurrencies(ch.mutualCredits, sorted, ch.remoteAnnounced);
  return {
    channel: ch, mcs: mcs === ch.mutualCredits ? new Map(mcs) : mcs, cloned: new Set(), ops: [], announce: sorted,
    timeMs: nextStamp(ch, nowMs),
  };
}

export function draftCredit(draft: MoveDraft, currency: Currency): MutualCredit | undefined {
  const mc = draft.mcs.get(currency);
  if (mc === undefined) return undefined;
  if (draft.cloned.has(currency)) return mc;
  const copy = cloneMutualCredit(mc);
  draft.mcs.set(currency, copy);
  draft.cloned.add(currency);
  return copy;
}

/** Adds one operation if it applies; otherwise the draft is unchanged and the reason returned. */
export function tryAddOp(draft: MoveDraft, currency: Currency, op: FriendTcOp): McError | 'ERR_TC_NO_CURRENCY' | 'ERR_TC_BATCH_FULL' | null {
  if (draft.ops.length >= MAX_OPS_PER_MOVE) return 'ERR_TC_BATCH_FULL';
  const original = draft.mcs.get(currency);
  if (original === undefined) return 'ERR_TC_NO_CURRENCY';
  // applyOutgoing checks everything before it changes anything, so a refused op leaves the draft as it was.
  const err = applyOutgoing(draftCredit(draft, currency)!, op, draft.timeMs);
  if (err !== null) return err;
  draft.ops.push({ currency, op });
  return null;
}

/** Signs the draft and commits it to the channel; the channel now waits for the friend. */
export function finishMove(draft: MoveDraft, relays: readonly RelayAddress[] | null, signer: Signer, randNonce: Uid): MoveToken {
  const ch = draft.channel;
  const counter = ch.moveTokenCounter + 1n;
  const info = tokenInfo(ch, draft.mcs, counter, 'local');
  const infoHash = tokenInfoHash(info);
  const base = { oldToken: ch.lastIncomingToken, ops: draft.ops, relays, activeCurrencies: draft.announce, timeMs: draft.timeMs };
  const prefix = prefixHash(base);
  const newToken = signer.sign(SigningDomain.MoveToken, moveSignedBytes(prefix, infoHash, randNonce));
  const move: MoveToken = { ...base, infoHash, randNonce, newToken };
  ch.mutualCredits = draft.mcs;
  if (draft.announce !== null) ch.localAnnounced = draft.announce;
  ch.moveTokenCounter = counter;
  ch.lastOutgoing = move;
  ch.direction = 'outgoing';
  return move;
}

export type ReceiveError =
  | 'ERR_TC_UNEXPECTED_MOVE'
  | 'ERR_TC_TOO_MANY_OPS'
  | 'ERR_TC_BAD_RELAYS'
  | 'ERR_TC_BAD_CURRENCY'
  | 'ERR_TC_BAD_SIGNATURE'
  | 'ERR_TC_COUNTER_EXHAUSTED'
  | 'ERR_TC_CURRENCY_DROPPED'
  | 'ERR_TC_NO_CURRENCY'
  | 'ERR_TC_BAD_INFO_HASH'
  | 'ERR_TC_TIME_REVERSED'
  | MovePolicyError
  | McError;

/**
 * Refusals of the receiver's own policy, on top of the rules both sides share: the move is
 * valid, but accepting it would leave us owing what we cannot collect.
 */
export type MovePolicyError =
  /** A withdrawal of a request whose copy we forwarded is still live or answered downstream. */
  | 'ERR_TC_WITHDRAWAL_REFUSED'
  /** An answer to a request we had already given up on (and released upstream). */
  | 'ERR_TC_LATE_ANSWER';

/** Looks at a valid move's operations before it is committed; an error rejects the move. */
export type MovePolicy = (ops: readonly CurrencyOp[]) => MovePolicyError | null;

export type ReceiveResult =
  | { readonly kind: 'applied'; readonly ops: readonly CurrencyOp[]; readonly relays: readonly RelayAddress[] | null }
  /** A retransmission of the move we already accepted. */
  | { readonly kind: 'duplicate' }
  /** The friend re-sent its previous move: it missed ours, which must be sent again. */
  | { readonly kind: 'retransmit' }
  /** A replay of an older move, or one not signed by the friend: ignored, nothing changes. */
  | { readonly kind: 'ignored'; readonly error: ReceiveError }
  | { readonly kind: 'rejected'; readonly error: ReceiveError; readonly detail?: string };

/** Checks what is cheap to check before any hashing or signature work. */
export function checkMoveShape(move: MoveToken): ReceiveError | null {
  if (move.ops.length > MAX_OPS_PER_MOVE) return 'ERR_TC_TOO_MANY_OPS';
  if (move.relays !== null) {
    if (move.relays.length > MAX_RELAYS) return 'ERR_TC_BAD_RELAYS';
    for (const relay of move.relays) if (Buffer.byteLength(relay.address, 'utf8') > MAX_ADDRESS_BYTES) return 'ERR_TC_BAD_RELAYS';
  }
  if (move.activeCurrencies !== null) {
    if (move.activeCurrencies.length > MAX_CURRENCIES_PER_FRIEND) return 'ERR_TC_BAD_CURRENCY';
    const seen = new Set<string>();
    for (const currency of move.activeCurrencies) {
      if (!isValidCurrency(currency) || seen.has(currency)) return 'ERR_TC_BAD_CURRENCY';
      seen.add(currency);
    }
  }
  for (const { currency } of move.ops) if (!isValidCurrency(currency)) return 'ERR_TC_BAD_CURRENCY';
  return null;
}

/**
 * Verifies and applies a move from the friend. On anything but `applied` the channel is
 * unchanged. `policy` sees the operations of a move that passed every shared rule, before it is
 * committed.
 */
export function receiveMove(ch: TokenChannel, move: MoveToken, policy?: MovePolicy): ReceiveResult {
  // Limits are checked before any hashing; an over-limit move is refused without a state change.
  const shape = checkMoveShape(move);
  if (shape !== null) return { kind: 'ignored', error: shape };
  const prefix = prefixHash(move);
  const unexpected = (): ReceiveResult => {
    // Replays and forgeries change nothing. A move the friend really signed that does not
    // continue our chain means the two sides disagree.
    if (ch.recentIncoming.includes(Buffer.from(move.newToken).toString('hex'))) return { kind: 'ignored', error: 'ERR_TC_UNEXPECTED_MOVE' };
    if (!verifyMoveSignature(ch.remotePublicKey, move, prefix)) return { kind: 'ignored', error: 'ERR_TC_BAD_SIGNATURE' };
    return { kind: 'rejected', error: 'ERR_TC_UNEXPECTED_MOVE' };
  };
  if (ch.direction === 'incoming') {
    if (ch.lastIncomingDigest !== null && bytesEqual(moveDigest(move, prefix), ch.lastIncomingDigest)) return { kind: 'duplicate' };
    return unexpected();
  }
  if (!bytesEqual(move.oldToken, ch.lastOutgoing.newToken)) {
    if (bytesEqual(move.newToken, ch.lastOutgoing.oldToken) && ch.lastIncomingDigest !== null
      && bytesEqual(moveDigest(move, prefix), ch.lastIncomingDigest)) {
      return { kind: 'retransmit' };
    }
    return unexpected();
  }
  if (!verifyMoveSignature(ch.remotePublicKey, move, prefix)) return { kind: 'ignored', error: 'ERR_TC_BAD_SIGNATURE' };
  if (ch.moveTokenCounter >= U64_MAX) return { kind: 'rejected', error: 'ERR_TC_COUNTER_EXHAUSTED' };
  // Deadlines count from stamps, so a stamp below the one it answers would move them back.
  if (move.timeMs < ch.lastOutgoing.timeMs) return { kind: 'rejected', error: 'ERR_TC_TIME_REVERSED' };

  let remoteAnnounced = ch.remoteAnnounced;
  let mcs = new Map(ch.mutualCredits);
  if (move.activeCurrencies !== null) {
    remoteAnnounced = sortedUnique(move.activeCurrencies);
    for (const currency of mcs.keys()) {
      if (!remoteAnnounced.includes(currency)) return { kind: 'rejected', error: 'ERR_TC_CURRENCY_DROPPED' };
    }
    mcs = withNewCurrencies(mcs, remoteAnnounced, ch.localAnnounced);
  }
  const cloned = new Set<Currency>();
  for (const { currency, op } of move.ops) {
    let mc = mcs.get(currency);
    if (mc === undefined) return { kind: 'rejected', error: 'ERR_TC_NO_CURRENCY', detail: currency };
    if (!cloned.has(currency)) {
      mc = cloneMutualCredit(mc);
      mcs.set(currency, mc);
      cloned.add(currency);
    }
    const err = applyIncoming(mc, currency, op, ch.remotePublicKey, move.timeMs);
    if (err !== null) return { kind: 'rejected', error: err };
  }
  const counter = ch.moveTokenCounter + 1n;
  const info = tokenInfo(ch, mcs, counter, 'remote');
  if (!bytesEqual(tokenInfoHash(info), move.infoHash)) {
    return { kind: 'rejected', error: 'ERR_TC_BAD_INFO_HASH' };
  }
  const refused = policy?.(move.ops) ?? null;
  if (refused !== null) return { kind: 'rejected', error: refused };
  ch.mutualCredits = mcs;
  ch.lastIncomingTimeMs = move.timeMs;
  ch.remoteAnnounced = remoteAnnounced;
  ch.moveTokenCounter = counter;
  ch.lastIncomingToken = move.newToken;
  ch.lastIncomingDigest = moveDigest(move, prefix);
  ch.lastIncoming = {
    prefixHash: prefix, infoHash: move.infoHash, randNonce: move.randNonce, newToken: move.newToken, moveTokenCounter: counter, balances: info.balances,
  };
  ch.recentIncoming = [Buffer.from(move.newToken).toString('hex'), ...ch.recentIncoming].slice(0, RECENT_MOVES_KEPT);
  ch.direction = 'incoming';
  return { kind: 'applied', ops: move.ops, relays: move.relays };
}
