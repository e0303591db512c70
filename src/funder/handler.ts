import { U128_MAX, bytesEqual } from '../common/bytes.js';
import { calcFee, isValidRate } from '../common/rate.js';
import { SigningDomain } from '../crypto/domains.js';
import {
  COLLECT_WINDOW_MS, DEFAULT_REQUEST_TTL_MS, GIVE_UP_AFTER_MS, HOP_TTL_MARGIN_MS, MAX_ADDRESS_BYTES, MAX_CURRENCIES_PER_FRIEND,
  MAX_NAME_BYTES, MAX_OPS_PER_MOVE, MAX_PAYMENTS_PER_INVOICE, MAX_PENDING_USER_REQUESTS, MAX_TXS_PER_INVOICE, MAX_QUEUED_REQUESTS, MAX_RELAYS, MAX_REQUEST_TTL_MS, MAX_ROUTE_KEYS,
} from './constants.js';
import {
  emptyChangeSet, type AppCommand, type AppError, type AppErrorCode, type AppMessage, type ChangeSet, type Effect,
  type FailureCause, type FunderEvent, type FunderOutput, type PaymentStatus, type PeerFault, type TransactionOutcome,
} from './api.js';
import { frozenAmount, idKey, newMutualCredit, stageDeadline, type MutualCredit, type PendingTx } from './mutual_credit.js';
import {
  hashLock, moveDigest, moveSignedBytes, prefixHash, resetTermsSignedBytes, responseHash,
  responseSignedBytes, tokenInfoHash, verifyMoveSignature, verifyResetTerms, type Signer,
} from './signing.js';
import {
  downstreamKey, newFriend, relaysKey, type Downstream, type Friend, type FunderState, type OpenInvoice, type Payment, type QueuedOp, type QueueName,
} from './state.js';
import {
  beginMove, checkMoveShape, compareCurrencies, finishMove, isValidCurrency, nextStamp, receiveMove, tokenInfo, tryAddOp,
  type MovePolicy, type TokenChannel,
} from './token_channel.js';
import {
  CancelReason, type Commit, type Currency, type CurrencyOp, type FriendMessage, type FriendTcOp, type MoveToken, type PublicKey,
  type RelayAddress, type RequestOp, type ResetTerms, type ResponseOp, type Uid,
} from './types.js';

/**
 * The payment core: (state, event, now) -> (state', effects, changed entities). No I/O. Peer
 * input that fails a check becomes a rejected move (and a detected inconsistency); app input that
 * fails a check becomes an ack carrying a typed error. Nothing a peer or app sends can throw out.
 */

export interface CoreEnv {
  readonly signer: Signer;
  /** Fresh random bytes (nonces, locks, reset tokens). Injected so tests replay exactly. */
  random(length: number): Uint8Array;
}

class Ctx {
  readonly effects: Effect[] = [];
  readonly faults: PeerFault[] = [];
  /** Friends that may have something to send once the event is handled. */
  readonly wake = new Set<string>();
  /** Friends to hand the token back to even with nothing to send (see onFriendMessage). */
  readonly handBack = new Set<string>();
  constructor(readonly state: FunderState, readonly env: CoreEnv, readonly nowMs: number, readonly changes: ChangeSet) {}

  toApp(appId: string, message: AppMessage): void {
    this.effects.push({ kind: 'toApp', appId, message });
  }
  send(friend: Friend, message: FriendMessage): void {
    this.effects.push({ kind: 'sendFriend', friend: friend.publicKey, message });
  }
  tx(friendKey: string, currency: Currency, side: 'L' | 'R', requestKey: string): void {
    // Currency last: it is the only part that may contain any byte.
    this.changes.txs.add(`${friendKey}\0${side}\0${requestKey}\0${currency}`);
  }
  upstream(key: string): void {
    this.changes.upstream.add(key);
  }
  /** Appends to one of a friend's queues; each item is its own stored record. */
  enqueue(friend: Friend, queue: QueueName, currency: Currency, op: FriendTcOp): void {
    const item: QueuedOp = { currency, op, seq: friend.nextSeq++, queue };
    friend[queue].push(item);
    this.changes.queued.set(`${friend.key}\0${item.seq}`, item);
    this.changes.friends.add(friend.key);
  }
  dequeued(friend: Friend, item: QueuedOp): void {
    this.changes.queued.set(`${friend.key}\0${item.seq}`, null);
  }
}

/**
 * `changes`, when given, receives this event's changed entities in place of a fresh set, so a
 * runtime gathering a batch over many events allocates and merges nothing per event.
 */
export function handleEvent(state: FunderState, env: CoreEnv, event: FunderEvent, nowMs: number, changes: ChangeSet = emptyChangeSet()): FunderOutput {
  const ctx = new Ctx(state, env, nowMs, changes);
  switch (event.kind) {
    case 'friendMessage':
      onFriendMessage(ctx, event.friend, event.message);
      break;
    case 'friendOnline': {
      const friend = state.friends.get(idKey(event.friend));
      if (friend !== undefined && !friend.online) {
        friend.online = true;
        friend.resendPending = true;
        friend.answeredRetransmitOf = null;
        friend.tokenRequested = false;
        ctx.wake.add(friend.key);
      }
      break;
    }
    case 'friendOffline': {
      const friend = state.friends.get(idKey(event.friend));
      if (friend !== undefined && friend.online) {
        friend.online = false;
        friend.remoteWantsToken = false;
        failQueuedRequests(ctx, friend, CancelReason.HopUnavailable);
      }
      break;
    }
    case 'app':
      onAppCommand(ctx, event.appId, event.owner, event.appRequestId, event.command);
      break;
    case 'tick':
      onTick(ctx);
      break;
  }
  for (const key of ctx.wake) {
    const friend = state.friends.get(key);
    if (friend !== undefined) flush(ctx, friend, ctx.handBack.has(key));
  }
  return { effects: ctx.effects, changes: ctx.changes, faults: ctx.faults };
}

// ---------------------------------------------------------------------------------------------
// Sending

/** The made-up genesis move ends its token with 32 zero bytes; a real signature never does in practice. */
function isGenesis(move: MoveToken): boolean {
  return move.newToken.subarray(32).every((b) => b === 0);
}

function hasWork(friend: Friend): boolean {
  return friend.backwards.length > 0 || friend.requests.length > 0 || friend.userRequests.length > 0;
}

function announcedFor(friend: Friend): Currency[] {
  return [...friend.configs.keys()].sort(compareCurrencies);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Sends whatever this friend is owed: a move if we hold the token, else a request for it. */
function flush(ctx: Ctx, friend: Friend, handBack = false): void {
  if (!friend.enabled || !friend.online) return;
  if (friend.inconsistency !== null) {
    if (friend.resendPending) {
      friend.resendPending = false;
      ctx.send(friend, { kind: 'inconsistencyError', resetTerms: friend.inconsistency.localTerms });
    }
    return;
  }
  const ch = friend.channel;
  if (ch.direction === 'outgoing') {
    // A changed relay list or currency set also needs the token: a friend that never moves would
    // otherwise keep dialling relays this node has left, or never see a currency this node opened.
    const work = hasWork(friend) || friend.sentRelaysKey !== relaysKey(ctx.state.relays)
      || !sameList(announcedFor(friend), ch.localAnnounced);
    if (friend.resendPending || (work && !friend.tokenRequested)) {
      friend.resendPending = false;
      if (work) friend.tokenRequested = true;
      if (!isGenesis(ch.lastOutgoing)) {
        ctx.send(friend, { kind: 'moveTokenRequest', moveToken: ch.lastOutgoing, tokenWanted: work });
      }
    }
    return;
  }
  const announced = announcedFor(friend);
  const announce = sameList(announced, ch.localAnnounced) ? null : announced;
  const relaysChanged = friend.sentRelaysKey !== relaysKey(ctx.state.relays);
  if (!hasWork(friend) && announce === null && !relaysChanged && !friend.remoteWantsToken && !friend.resendPending && !handBack) return;
  const draft = beginMove(ch, announce, ctx.nowMs);
  if (draft === null) return;
  const sent: QueuedOp[] = [];
  const fill = (queue: QueuedOp[], isRequest: boolean): void => {
    while (queue.length > 0 && draft.ops.length < MAX_OPS_PER_MOVE) {
      const item = queue[0];
      let op = item.op;
      if (op.kind === 'request') {
        // The ttl on the wire counts from this move's stamp to the deadline fixed when it was queued.
        const ttlMs = ttlAt(ctx, op.requestId, draft.timeMs);
        if (ttlMs === null) {
          queue.shift();
          ctx.dequeued(friend, item);
          failRequest(ctx, op.requestId, CancelReason.Expired);
          continue;
        }
        if (ttlMs !== op.ttlMs) op = { ...op, ttlMs };
      }
      const err = tryAddOp(draft, item.currency, op);
      if (err === 'ERR_TC_BATCH_FULL') return;
      queue.shift();
      ctx.dequeued(friend, item);
      if (err === null) sent.push(op === item.op ? item : { ...item, op });
      else if (isRequest) {
        failRequest(ctx, item.op.requestId, err === 'ERR_TC_NO_CURRENCY' ? CancelReason.NoRoute : CancelReason.InsufficientCapacity);
      }
    }
  };
  fill(friend.backwards, false);
  fill(friend.requests, true);
  fill(friend.userRequests, true);
  const relays = relaysChanged ? ctx.state.relays : null;
  const move = finishMove(draft, relays, ctx.env.signer, ctx.env.random(16));
  if (relaysChanged) {
    friend.sentRelaysKey = relaysKey(ctx.state.relays);
    ctx.changes.friends.add(friend.key);
  }
  ctx.changes.channels.add(friend.key);
  for (const item of sent) afterSent(ctx, friend, item);
  const work = hasWork(friend);
  friend.remoteWantsToken = false;
  friend.resendPending = false;
  friend.tokenRequested = work;
  ctx.send(friend, { kind: 'moveTokenRequest', moveToken: move, tokenWanted: work || relays !== null });
}

/** Bookkeeping once an operation has entered the channel. */
function afterSent(ctx: Ctx, friend: Friend, item: QueuedOp): void {
  const op = item.op;
  const rk = idKey(op.requestId);
  switch (op.kind) {
    case 'request':
    case 'expire':
      ctx.tx(friend.key, item.currency, 'L', rk);
      break;
    default:
      ctx.tx(friend.key, item.currency, 'R', rk);
  }
  if (op.kind === 'expire') {
    // Withdrawn in-channel; its origin was released when we gave up on it.
    deleteDeadline(ctx, rk);
  } else if (op.kind === 'cancel' || op.kind === 'collect') {
    const dk = downstreamKey(friend.key, item.currency, rk);
    if (ctx.state.downstream.delete(dk)) ctx.changes.downstream.add(dk);
  }
}

// ---------------------------------------------------------------------------------------------
// Receiving from friends

function onFriendMessage(ctx: Ctx, friendPk: PublicKey, message: FriendMessage): void {
  const friend = ctx.state.friends.get(idKey(friendPk));
  if (friend === undefined || !friend.enabled) {
    ctx.faults.push({ friend: friendPk, code: 'ERR_FUNDER_UNKNOWN_SENDER' });
    return;
  }
  if (message.kind === 'inconsistencyError') {
    onInconsistencyError(ctx, friend, message.resetTerms);
    return;
  }
  if (friend.inconsistency !== null) {
    if (!tryAcceptReset(ctx, friend, message.moveToken)) {
      friend.resendPending = true;
      ctx.wake.add(friend.key);
    }
    return;
  }
  const result = receiveMove(friend.channel, message.moveToken, movePolicy(ctx, friend));
  switch (result.kind) {
    case 'duplicate':
      if (message.tokenWanted) friend.remoteWantsToken = true;
      ctx.wake.add(friend.key);
      return;
    case 'retransmit':
      if (friend.answeredRetransmitOf !== friend.channel.lastOutgoing) {
        friend.answeredRetransmitOf = friend.channel.lastOutgoing;
        friend.resendPending = true;
        ctx.wake.add(friend.key);
      }
      return;
    case 'ignored':
      ctx.faults.push({ friend: friendPk, code: result.error });
      return;
    case 'rejected':
      ctx.faults.push({ friend: friendPk, code: result.error });
      detectInconsistency(ctx, friend);
      return;
    case 'applied':
      break;
  }
  ctx.changes.channels.add(friend.key);
  friend.tokenRequested = false;
  if (message.tokenWanted) friend.remoteWantsToken = true;
  if (result.relays !== null) {
    friend.relays = [...result.relays];
    ctx.changes.friends.add(friend.key);
  }
  processAppliedOps(ctx, friend, result.ops);
  // A friend that sent responses will soon send the collects that settle them (once its seller
  // commits): hand it the token now, even empty, so those need no token request and no wait for
  // our next move. A move that carried no responses is kept, so an idle pair does not ping-pong.
  if (result.ops.some((o) => o.op.kind === 'response')) ctx.handBack.add(friend.key);
  ctx.wake.add(friend.key);
}

function processAppliedOps(ctx: Ctx, friend: Friend, ops: readonly CurrencyOp[]): void {
  // Trust is checked request by request in order, against what the friend already owed before
  // this move plus the requests of this move accepted so far.
  const running = new Map<Currency, bigint>();
  for (const { currency, op } of ops) {
    if (op.kind === 'request') {
      const mc = friend.channel.mutualCredits.get(currency)!;
      if (!running.has(currency)) {
        let inMove = 0n;
        for (const o of ops) if (o.currency === currency && o.op.kind === 'request' && mc.remote.has(idKey(o.op.requestId))) inMove += frozenAmount(o.op);
        running.set(currency, mc.remotePending - inMove);
      }
    }
  }
  for (const { currency, op } of ops) {
    const rk = idKey(op.requestId);
    switch (op.kind) {
      case 'request': {
        ctx.tx(friend.key, currency, 'R', rk);
        const mc = friend.channel.mutualCredits.get(currency)!;
        const maxDebt = friend.configs.get(currency)?.remoteMaxDebt ?? 0n;
        const pending = running.get(currency)! + frozenAmount(op);
        if (mc.balance + pending > maxDebt) {
          queueBackwards(ctx, friend, currency, { kind: 'cancel', requestId: op.requestId, reason: CancelReason.InsufficientCapacity });
          break;
        }
        running.set(currency, pending);
        onIncomingRequest(ctx, friend, currency, op);
        break;
      }
      case 'response':
        ctx.tx(friend.key, currency, 'L', rk);
        onResponse(ctx, friend, currency, op);
        break;
      case 'cancel':
        ctx.tx(friend.key, currency, 'L', rk);
        deleteDeadline(ctx, rk);
        releaseUpstream(ctx, op.requestId, { reason: op.reason ?? CancelReason.Unspecified, local: false });
        break;
      case 'collect': {
        ctx.tx(friend.key, currency, 'L', rk);
        deleteDeadline(ctx, rk);
        onCollect(ctx, op.requestId, op.srcPlainLock, op.destPlainLock);
        break;
      }
      case 'expire':
        ctx.tx(friend.key, currency, 'R', rk);
        onExpired(ctx, friend, currency, op.requestId);
        break;
    }
  }
}

/**
 * What we refuse although the shared rules allow it, so that we never owe downstream what we
 * cannot collect upstream: an answer to a request we gave up on (we released its origin), and
 * the withdrawal of a request whose forwarded copy can still be, or was, answered downstream.
 * The friend's move is then rejected; our reset terms count the disputed request in our favour.
 */
function movePolicy(ctx: Ctx, friend: Friend): MovePolicy {
  return (ops) => {
    for (const { currency, op } of ops) {
      const rk = idKey(op.requestId);
      if (op.kind === 'response' || op.kind === 'collect') {
        // Refused once we acted on giving up (released the origin); an answer that beats our
        // next tick is still taken, as nothing was released yet.
        const deadline = ctx.state.deadlines.get(rk);
        if (deadline !== undefined && deadline.friendKey === friend.key && deadline.abandoned) return 'ERR_TC_LATE_ANSWER';
      } else if (op.kind === 'expire' && !withdrawalAllowed(ctx, friend, currency, rk)) {
        return 'ERR_TC_WITHDRAWAL_REFUSED';
      }
    }
    return null;
  };
}

/** When we give up on a request we sent, in the given stage: half a margin past that stage's deadline. */
function giveUpTime(tx: PendingTx, stage: 'request' | 'response'): number {
  return tx.deadlineMs + (stage === 'response' ? COLLECT_WINDOW_MS : 0) + GIVE_UP_AFTER_MS;
}

/** Whether we have given up, or may by now give up, on a request we sent to `friend`. */
function gaveUpOn(ctx: Ctx, rk: string, friend: Friend, tx: PendingTx): boolean {
  const deadline = ctx.state.deadlines.get(rk);
  if (deadline !== undefined && deadline.friendKey === friend.key && deadline.abandoned) return true;
  return ctx.nowMs >= giveUpTime(tx, tx.stage.kind);
}

/**
 * Whether `friend` may withdraw a request it sent us: only while nothing we did with it can
 * still make us owe: it went to one of our invoices, it is still queued here, its forwarded copy
 * was given up, or it was cancelled downstream (the cancel still queued to `friend`).
 */
function withdrawalAllowed(ctx: Ctx, friend: Friend, currency: Currency, rk: string): boolean {
  const down = ctx.state.downstream.get(downstreamKey(friend.key, currency, rk));
  if (down === undefined || down.kind === 'invoice') return true;
  const next = ctx.state.friends.get(down.friendKey);
  if (next === undefined) return false;
  const tx = next.channel.mutualCredits.get(currency)?.local.get(rk);
  if (tx !== undefined) return gaveUpOn(ctx, rk, next, tx);
  if (next.requests.some((item) => idKey(item.op.requestId) === rk)) return true;
  // Gone from the next channel: cancelled there (nothing owed), or collected (we paid, and the
  // collect towards `friend` is what is queued).
  return friend.backwards.some((item) => item.op.kind === 'cancel' && idKey(item.op.requestId) === rk);
}

/** The ttl a queued request gets in a move stamped `timeMs`; null when too little time is left. */
function ttlAt(ctx: Ctx, requestId: Uid, timeMs: number): number | null {
  const deadline = ctx.state.deadlines.get(idKey(requestId));
  if (deadline === undefined) return null;
  const ttlMs = deadline.deadlineMs - timeMs;
  return ttlMs >= HOP_TTL_MARGIN_MS ? Math.min(ttlMs, MAX_REQUEST_TTL_MS) : null;
}

function queueBackwards(ctx: Ctx, friend: Friend, currency: Currency, op: QueuedOp['op']): void {
  ctx.enqueue(friend, 'backwards', currency, op);
  ctx.wake.add(friend.key);
}

function canCarry(friend: Friend, currency: Currency): boolean {
  return whyCannotCarry(friend, currency) === null;
}

/** Why a request cannot go to this friend in this currency now; null when it can. */
function whyCannotCarry(friend: Friend, currency: Currency): number | null {
  if (!friend.enabled) return CancelReason.FriendDisabled;
  if (!friend.online) return CancelReason.HopUnavailable;
  if (friend.inconsistency !== null) return CancelReason.ChannelInconsistent;
  if (!friend.channel.mutualCredits.has(currency)) return CancelReason.NoRoute;
  return null;
}

function onIncomingRequest(ctx: Ctx, from: Friend, currency: Currency, op: RequestOp): void {
  const rk = idKey(op.requestId);
  const cancel = (reason: number): void => queueBackwards(ctx, from, currency, { kind: 'cancel', requestId: op.requestId, reason });
  // The deadline both sides derived from the sender's stamp, but never later than our own clock
  // allows: a stamp from the future must not buy a longer freeze downstream.
  const deadlineMs = Math.min(from.channel.mutualCredits.get(currency)!.remote.get(rk)!.deadlineMs, ctx.nowMs + op.ttlMs);
  if (op.route.length === 0) {
    // An answer this late could arrive after the sender gave up, and would then be refused.
    if (ctx.nowMs >= deadlineMs - GIVE_UP_AFTER_MS) cancel(CancelReason.Expired);
    else acceptAtDestination(ctx, from, currency, op, () => cancel(CancelReason.InvoiceRefused));
    return;
  }
  const inCfg = from.configs.get(currency);
  const next = ctx.state.friends.get(idKey(op.route[0]));
  const outCfg = next?.configs.get(currency);
  if (next === undefined || outCfg === undefined) {
    cancel(CancelReason.NoRoute);
    return;
  }
  if (inCfg === undefined || !inCfg.isOpen || !outCfg.isOpen) {
    cancel(CancelReason.CurrencyClosed);
    return;
  }
  const unusable = whyCannotCarry(next, currency);
  if (unusable !== null) {
    cancel(unusable);
    return;
  }
  const fee = calcFee(inCfg.rate, op.destPayment);
  if (fee === null || fee > op.leftFees) {
    cancel(CancelReason.FeeTooLow);
    return;
  }
  // The next hop must answer one margin before we must, so its answer can still reach the sender.
  const nextDeadlineMs = deadlineMs - HOP_TTL_MARGIN_MS;
  if (nextDeadlineMs - ctx.nowMs < HOP_TTL_MARGIN_MS) {
    cancel(CancelReason.Expired);
    return;
  }
  // A request id is forwarded at most once, whoever sends it: a second copy would make the next
  // hop reject our whole move.
  if (ctx.state.upstream.has(rk) || next.requests.length >= MAX_QUEUED_REQUESTS) {
    cancel(CancelReason.Busy);
    return;
  }
  const forwarded: RequestOp = { ...op, route: op.route.slice(1), leftFees: op.leftFees - fee, ttlMs: nextDeadlineMs - ctx.nowMs };
  ctx.enqueue(next, 'requests', currency, forwarded);
  ctx.wake.add(next.key);
  ctx.state.upstream.set(rk, { kind: 'friend', friendKey: from.key, currency });
  ctx.upstream(rk);
  const dk = downstreamKey(from.key, currency, rk);
  ctx.state.downstream.set(dk, { kind: 'friend', friendKey: next.key });
  ctx.changes.downstream.add(dk);
  ctx.state.deadlines.set(rk, { friendKey: next.key, currency, deadlineMs: nextDeadlineMs, abandoned: false });
  ctx.changes.deadlines.add(rk);
}

/** What the transactions with this source lock add up to. */
function acceptedFor(invoice: OpenInvoice, srcHashedLock: Uint8Array): bigint {
  let sum = 0n;
  for (const tx of invoice.txs.values()) if (bytesEqual(tx.srcHashedLock, srcHashedLock)) sum += tx.destPayment;
  return sum;
}

function paymentsOf(invoice: OpenInvoice): number {
  return new Set([...invoice.txs.values()].map((tx) => idKey(tx.srcHashedLock))).size;
}

function acceptAtDestination(ctx: Ctx, from: Friend, currency: Currency, op: RequestOp, cancel: () => void): void {
  const invoice = ctx.state.invoices.get(idKey(op.invoiceId));
  const rk = idKey(op.requestId);
  if (invoice === undefined || invoice.completedBy !== null || invoice.currency !== currency
    || invoice.totalDestPayment !== op.totalDestPayment || invoice.txs.has(rk) || invoice.txs.size >= MAX_TXS_PER_INVOICE) {
    cancel();
    return;
  }
  const accepted = acceptedFor(invoice, op.srcHashedLock);
  if (accepted + op.destPayment > invoice.totalDestPayment || (accepted === 0n && paymentsOf(invoice) >= MAX_PAYMENTS_PER_INVOICE)) {
    cancel();
    return;
  }
  invoice.txs.set(rk, { friendKey: from.key, currency, requestId: op.requestId, destPayment: op.destPayment, srcHashedLock: op.srcHashedLock });
  ctx.changes.invoices.add(idKey(invoice.invoiceId));
  const dk = downstreamKey(from.key, currency, rk);
  ctx.state.downstream.set(dk, { kind: 'invoice', invoiceKey: idKey(invoice.invoiceId) });
  ctx.changes.downstream.add(dk);
  const randNonce = ctx.env.random(16);
  const destHashedLock = hashLock(invoice.destPlainLock);
  const isComplete = accepted + op.destPayment === invoice.totalDestPayment;
  const rHash = responseHash(op.requestId, randNonce);
  const signature = ctx.env.signer.sign(SigningDomain.FundsResponse, responseSignedBytes({
    responseHash: rHash,
    srcHashedLock: op.srcHashedLock,
    destHashedLock,
    isComplete,
    destPayment: op.destPayment,
    totalDestPayment: op.totalDestPayment,
    invoiceId: op.invoiceId,
    currency,
  }));
  queueBackwards(ctx, from, currency, { kind: 'response', requestId: op.requestId, destHashedLock, isComplete, randNonce, signature });
  if (isComplete) {
    invoice.completedBy = { responseHash: rHash, signature, destPayment: op.destPayment, srcHashedLock: op.srcHashedLock };
    // Paid by one payment: the others' shares can never complete it any more.
    for (const [otherKey, other] of invoice.txs) {
      if (bytesEqual(other.srcHashedLock, op.srcHashedLock)) continue;
      invoice.txs.delete(otherKey);
      const friend = ctx.state.friends.get(other.friendKey);
      if (friend !== undefined) queueBackwards(ctx, friend, other.currency, { kind: 'cancel', requestId: other.requestId, reason: CancelReason.InvoiceRefused });
    }
  }
}

function onResponse(ctx: Ctx, _from: Friend, _currency: Currency, op: ResponseOp): void {
  const rk = idKey(op.requestId);
  // The deadline stays: answered, the request must now be collected in time.
  const up = ctx.state.upstream.get(rk);
  if (up === undefined || up.kind === 'orphan') return;
  if (up.kind === 'friend') {
    const origin = ctx.state.friends.get(up.friendKey);
    if (origin !== undefined) queueBackwards(ctx, origin, up.currency, op);
    return;
  }
  const payment = ctx.state.payments.get(up.paymentKey);
  const ptx = payment?.txs.get(rk);
  if (payment === undefined || ptx === undefined) return;
  ptx.status = 'responded';
  ptx.response = op;
  ctx.changes.payments.add(up.paymentKey);
  let outcome: TransactionOutcome = { kind: 'success' };
  if (op.isComplete) {
    const commit: Commit = {
      responseHash: responseHash(op.requestId, op.randNonce),
      srcPlainLock: payment.srcPlainLock,
      destHashedLock: op.destHashedLock,
      destPayment: ptx.destPayment,
      totalDestPayment: payment.totalDestPayment,
      invoiceId: payment.invoiceId,
      currency: payment.currency,
      signature: op.signature,
    };
    payment.commit = commit;
    outcome = { kind: 'complete', commit };
  }
  ctx.toApp(payment.appId, { kind: 'transactionResult', paymentId: payment.paymentId, requestId: op.requestId, outcome });
}

function onCollect(ctx: Ctx, requestId: Uid, srcPlainLock: Uint8Array, destPlainLock: Uint8Array): void {
  const rk = idKey(requestId);
  const up = ctx.state.upstream.get(rk);
  if (up === undefined) return;
  ctx.state.upstream.delete(rk);
  ctx.upstream(rk);
  if (up.kind === 'orphan') return;
  if (up.kind === 'friend') {
    const origin = ctx.state.friends.get(up.friendKey);
    if (origin !== undefined) queueBackwards(ctx, origin, up.currency, { kind: 'collect', requestId, srcPlainLock, destPlainLock });
    return;
  }
  const payment = ctx.state.payments.get(up.paymentKey);
  const ptx = payment?.txs.get(rk);
  if (payment === undefined || ptx === undefined) return;
  ptx.status = 'collected';
  ctx.changes.payments.add(up.paymentKey);
  if (ptx.response !== null && ptx.response.isComplete && payment.receipt === null) {
    payment.receipt = {
      responseHash: responseHash(requestId, ptx.response.randNonce),
      invoiceId: payment.invoiceId,
      currency: payment.currency,
      srcPlainLock,
      destPlainLock,
      isComplete: true,
      destPayment: ptx.destPayment,
      totalDestPayment: payment.totalDestPayment,
      signature: ptx.response.signature,
    };
  }
  settlePayment(ctx, payment);
}

/**
 * The friend withdrew a request it had sent us. The move policy let it through only if nothing
 * downstream can still make us owe for it (withdrawalAllowed).
 */
function onExpired(ctx: Ctx, friend: Friend, currency: Currency, requestId: Uid): void {
  const rk = idKey(requestId);
  const down = detachDownstream(ctx, friend, currency, rk);
  if (down === null) return;
  const next = ctx.state.friends.get(down.friendKey);
  if (next === undefined) return;
  if (removeQueuedRequest(ctx, next, rk) !== null) {
    ctx.changes.friends.add(next.key);
    ctx.state.upstream.delete(rk);
    ctx.upstream(rk);
    deleteDeadline(ctx, rk);
    return;
  }
  // The forwarded copy was given up on: the origin is gone, so giving it up (if the tick has not
  // yet) only withdraws it downstream.
  if (ctx.state.upstream.delete(rk)) ctx.upstream(rk);
  const tx = next.channel.mutualCredits.get(currency)?.local.get(rk);
  if (tx !== undefined) giveUp(ctx, rk, next, currency, requestId);
}

/**
 * Forgets what we did with a request the friend sent us. A share of one of our invoices is
 * withdrawn here; a request we forwarded is returned, because what it leaves us liable for
 * differs between the callers.
 */
function detachDownstream(ctx: Ctx, friend: Friend, currency: Currency, rk: string): Extract<Downstream, { kind: 'friend' }> | null {
  const dk = downstreamKey(friend.key, currency, rk);
  const down = ctx.state.downstream.get(dk);
  if (down === undefined) return null;
  ctx.state.downstream.delete(dk);
  ctx.changes.downstream.add(dk);
  if (down.kind === 'friend') return down;
  const invoice = ctx.state.invoices.get(down.invoiceKey);
  const itx = invoice?.txs.get(rk);
  if (invoice !== undefined && itx !== undefined) {
    invoice.txs.delete(rk);
    if (invoice.completedBy !== null && bytesEqual(invoice.completedBy.srcHashedLock, itx.srcHashedLock)) invoice.completedBy = null;
    ctx.changes.invoices.add(down.invoiceKey);
  }
  return null;
}

function removeQueuedRequest(ctx: Ctx, friend: Friend, rk: string): QueuedOp | null {
  for (const queue of [friend.requests, friend.userRequests]) {
    const index = queue.findIndex((item) => idKey(item.op.requestId) === rk);
    if (index >= 0) {
      const [item] = queue.splice(index, 1);
      ctx.dequeued(friend, item);
      return item;
    }
  }
  return null;
}

function deleteDeadline(ctx: Ctx, rk: string): void {
  if (ctx.state.deadlines.delete(rk)) ctx.changes.deadlines.add(rk);
}

/**
 * A request we sent (or queued) will never be paid: tell whoever sent it to us, or the buyer.
 * Called only once nobody downstream can still answer it.
 */
function releaseUpstream(ctx: Ctx, requestId: Uid, cause: FailureCause): void {
  const rk = idKey(requestId);
  const up = ctx.state.upstream.get(rk);
  if (up === undefined) return;
  ctx.state.upstream.delete(rk);
  ctx.upstream(rk);
  if (up.kind === 'friend') {
    const origin = ctx.state.friends.get(up.friendKey);
    if (origin !== undefined && origin.inconsistency === null) {
      queueBackwards(ctx, origin, up.currency, { kind: 'cancel', requestId, reason: cause.reason });
    }
  } else if (up.kind === 'payment') {
    failPaymentTx(ctx, up.paymentKey, requestId, cause);
  }
}

/** This node gives up on a request it sent or queued, for `reason`. */
function failRequest(ctx: Ctx, requestId: Uid, reason: number): void {
  deleteDeadline(ctx, idKey(requestId));
  releaseUpstream(ctx, requestId, { reason, local: true });
}

function failPaymentTx(ctx: Ctx, paymentKey: string, requestId: Uid, cause: FailureCause): void {
  const payment = ctx.state.payments.get(paymentKey);
  const ptx = payment?.txs.get(idKey(requestId));
  if (payment === undefined || ptx === undefined || ptx.status === 'failed') return;
  ptx.status = 'failed';
  ptx.failure = cause;
  ctx.changes.payments.add(paymentKey);
  ctx.toApp(payment.appId, { kind: 'transactionResult', paymentId: payment.paymentId, requestId, outcome: { kind: 'failure', cause } });
  settlePayment(ctx, payment);
}

function failQueuedRequests(ctx: Ctx, friend: Friend, reason: number): void {
  const queued = [...friend.requests, ...friend.userRequests];
  if (queued.length === 0) return;
  for (const item of queued) ctx.dequeued(friend, item);
  friend.requests = [];
  friend.userRequests = [];
  ctx.changes.friends.add(friend.key);
  for (const item of queued) failRequest(ctx, item.op.requestId, reason);
}

// ---------------------------------------------------------------------------------------------
// Payments (buyer side)

function paymentStatus(payment: Payment | undefined): PaymentStatus {
  if (payment === undefined) return { kind: 'notFound' };
  if (payment.receipt !== null) return { kind: 'success', receipt: payment.receipt, ackUid: payment.ackUid };
  const open = [...payment.txs.values()].some((tx) => tx.status === 'pending' || tx.status === 'responded');
  if (payment.closing && !open) return { kind: 'canceled', ackUid: payment.ackUid, cause: paymentFailure(payment) };
  return { kind: 'inProgress', commit: payment.commit };
}

/** The most telling cause among a payment's failed transactions: a stated reason beats an unstated one. */
function paymentFailure(payment: Payment): FailureCause | null {
  let best: FailureCause | null = null;
  for (const tx of payment.txs.values()) {
    const cause = tx.failure ?? null;
    if (cause !== null && (best === null || (best.reason === CancelReason.Unspecified && cause.reason !== CancelReason.Unspecified))) best = cause;
  }
  return best;
}

function settlePayment(ctx: Ctx, payment: Payment): void {
  if (payment.closeWaiter === null) return;
  const status = paymentStatus(payment);
  if (status.kind === 'inProgress') return;
  ctx.toApp(payment.closeWaiter, { kind: 'paymentStatus', paymentId: payment.paymentId, status });
  payment.closeWaiter = null;
  ctx.changes.payments.add(idKey(payment.paymentId));
}

// ---------------------------------------------------------------------------------------------
// Deadlines
//
// Every request carries a deadline that is one margin earlier at each hop, so the hop furthest
// along gives up first. A hop gives up on a request it sent half a margin past its deadline (past
// its collect deadline once answered): it withdraws it downstream (Expire), releases its origin
// (Cancel upstream, or a failed transaction for our own payment), and from then on refuses any
// answer to it (movePolicy). Its origin's deadline is one margin later, so every hop has given up
// on its forwarded copy before its own sender may withdraw. Credit behind a silent hop is thus
// released hop by hop, and no hop is left owing downstream what it can no longer collect.

function onTick(ctx: Ctx): void {
  const due: string[] = [];
  for (const [rk, deadline] of ctx.state.deadlines) {
    if (!deadline.abandoned && ctx.nowMs >= deadline.deadlineMs - HOP_TTL_MARGIN_MS) due.push(rk);
  }
  for (const rk of due) {
    const deadline = ctx.state.deadlines.get(rk);
    if (deadline === undefined) continue;
    const friend = ctx.state.friends.get(deadline.friendKey);
    if (friend === undefined) {
      deleteDeadline(ctx, rk);
      continue;
    }
    const tx = friend.channel.mutualCredits.get(deadline.currency)?.local.get(rk);
    if (tx === undefined) {
      // Not sent yet: one margin before its deadline the next hop could not forward it any more.
      const queued = removeQueuedRequest(ctx, friend, rk);
      if (queued !== null) {
        ctx.changes.friends.add(friend.key);
        failRequest(ctx, queued.op.requestId, CancelReason.Expired);
      } else if (ctx.nowMs >= deadline.deadlineMs) {
        deleteDeadline(ctx, rk);
      }
      continue;
    }
    if (ctx.nowMs >= giveUpTime(tx, tx.stage.kind)) giveUp(ctx, rk, friend, deadline.currency, tx.request.requestId);
  }
}

/** We stop waiting for an answer to a request we sent `friend`: see the section comment. */
function giveUp(ctx: Ctx, rk: string, friend: Friend, currency: Currency, requestId: Uid): void {
  const deadline = ctx.state.deadlines.get(rk);
  if (deadline === undefined || deadline.abandoned) return;
  ctx.state.deadlines.set(rk, { ...deadline, abandoned: true });
  ctx.changes.deadlines.add(rk);
  if (friend.inconsistency === null) queueBackwards(ctx, friend, currency, { kind: 'expire', requestId });
  releaseUpstream(ctx, requestId, { reason: CancelReason.Expired, local: true });
}

// ---------------------------------------------------------------------------------------------
// Inconsistency and reset

function makeTerms(ctx: Ctx, friend: Friend): ResetTerms {
  const ch = friend.channel;
  const balanceForReset = [...ch.mutualCredits.entries()]
    .sort(([a], [b]) => compareCurrencies(a, b))
    .map(([currency, mc]) => ({ currency, balance: mc.balance + mc.remotePending }));
  const unsigned = { resetToken: ctx.env.random(64), inconsistencyCounter: (ch.inconsistencyCounter + 1n) & ((1n << 64n) - 1n), balanceForReset };
  const signature = ctx.env.signer.sign(SigningDomain.ResetTerms, resetTermsSignedBytes(ctx.state.localPublicKey, friend.publicKey, unsigned));
  return { ...unsigned, signature };
}

/**
 * Freezes the channel. Our terms count the friend's requests to us as paid and ours to it as
 * cancelled, so every request we sent it is released upstream and nothing more moves until a
 * reset both sides signed.
 */
function enterInconsistent(ctx: Ctx, friend: Friend, remoteTerms: ResetTerms | null): void {
  friend.inconsistency = { localTerms: makeTerms(ctx, friend), remoteTerms };
  for (const item of friend.backwards) ctx.dequeued(friend, item);
  friend.backwards = [];
  failQueuedRequests(ctx, friend, CancelReason.ChannelInconsistent);
  for (const [currency, mc] of friend.channel.mutualCredits) {
    for (const [rk, tx] of mc.local) {
      deleteDeadline(ctx, rk);
      releaseUpstream(ctx, tx.request.requestId, { reason: CancelReason.ChannelInconsistent, local: true });
    }
    for (const rk of mc.remote.keys()) orphanDownstream(ctx, friend, currency, rk);
  }
  friend.resendPending = true;
  ctx.changes.friends.add(friend.key);
  ctx.wake.add(friend.key);
}

/** A request the friend sent us can no longer be answered to it; whatever we forwarded stays liable to us. */
function orphanDownstream(ctx: Ctx, friend: Friend, currency: Currency, rk: string): void {
  const down = detachDownstream(ctx, friend, currency, rk);
  if (down === null) return;
  const next = ctx.state.friends.get(down.friendKey);
  if (next !== undefined && removeQueuedRequest(ctx, next, rk) !== null) {
    ctx.changes.friends.add(next.key);
    ctx.state.upstream.delete(rk);
    deleteDeadline(ctx, rk);
  } else {
    ctx.state.upstream.set(rk, { kind: 'orphan' });
  }
  ctx.upstream(rk);
}

function detectInconsistency(ctx: Ctx, friend: Friend): void {
  if (friend.inconsistency === null) enterInconsistent(ctx, friend, null);
  else {
    friend.resendPending = true;
    ctx.wake.add(friend.key);
  }
}

function validTerms(terms: ResetTerms): boolean {
  if (terms.resetToken.byteLength !== 64 || terms.signature.byteLength !== 64) return false;
  if (terms.balanceForReset.length > MAX_CURRENCIES_PER_FRIEND) return false;
  const seen = new Set<string>();
  for (const b of terms.balanceForReset) {
    if (!isValidCurrency(b.currency) || seen.has(b.currency)) return false;
    if (b.balance < -(1n << 127n) || b.balance >= 1n << 127n) return false;
    seen.add(b.currency);
  }
  return true;
}

function onInconsistencyError(ctx: Ctx, friend: Friend, terms: ResetTerms): void {
  if (!validTerms(terms) || !verifyResetTerms(friend.publicKey, ctx.state.localPublicKey, terms)) {
    ctx.faults.push({ friend: friend.publicKey, code: 'ERR_FUNDER_BAD_RESET_TERMS' });
    return;
  }
  if (friend.inconsistency === null) {
    // Terms of the episode the last reset settled can still be on their way; they are stale.
    if (friend.settledResetTokens.includes(Buffer.from(terms.resetToken).toString('hex'))) return;
    enterInconsistent(ctx, friend, terms);
  } else {
    friend.inconsistency.remoteTerms = terms;
    ctx.changes.friends.add(friend.key);
  }
}

function resetChannel(friend: Friend, balances: readonly { currency: Currency; balance: bigint }[], inconsistencyCounter: bigint): TokenChannel {
  const ch = friend.channel;
  const mcs = new Map<Currency, MutualCredit>();
  for (const b of balances) mcs.set(b.currency, { ...newMutualCredit(), balance: b.balance });
  const currencies = balances.map((b) => b.currency).sort(compareCurrencies);
  return {
    ...ch,
    mutualCredits: mcs,
    localAnnounced: currencies,
    remoteAnnounced: currencies,
    inconsistencyCounter,
    moveTokenCounter: 0n,
    lastIncomingDigest: null,
    lastIncoming: null,
    recentIncoming: [],
  };
}

function ensureConfigs(ctx: Ctx, friend: Friend, currencies: readonly Currency[]): void {
  for (const currency of currencies) {
    if (!friend.configs.has(currency)) friend.configs.set(currency, { rate: { mul: 0, add: 0 }, remoteMaxDebt: 0n, isOpen: false });
  }
  ctx.changes.friends.add(friend.key);
}

function clearChannelTxs(ctx: Ctx, friend: Friend): void {
  for (const [currency, mc] of friend.channel.mutualCredits) {
    for (const rk of mc.local.keys()) ctx.tx(friend.key, currency, 'L', rk);
    for (const rk of mc.remote.keys()) ctx.tx(friend.key, currency, 'R', rk);
  }
}

function settledTokens(episode: { localTerms: ResetTerms; remoteTerms: ResetTerms | null } | null): string[] {
  if (episode === null) return [];
  const tokens = [episode.localTerms, episode.remoteTerms].filter((x): x is ResetTerms => x !== null);
  return tokens.map((terms) => Buffer.from(terms.resetToken).toString('hex'));
}

/** The app accepts the friend's terms: we sign a move that starts the channel again from them. */
function proposeReset(ctx: Ctx, friend: Friend, resetToken: Uint8Array): AppError | null {
  const remote = friend.inconsistency?.remoteTerms ?? null;
  if (friend.inconsistency === null || remote === null) return err('ERR_FUNDER_NOT_INCONSISTENT', 'no reset terms from this friend');
  if (!bytesEqual(remote.resetToken, resetToken)) return err('ERR_FUNDER_BAD_RESET_TOKEN', 'reset token does not match the terms');
  clearChannelTxs(ctx, friend);
  const balances = remote.balanceForReset.map((b) => ({ currency: b.currency, balance: -b.balance }));
  const ch = resetChannel(friend, balances, remote.inconsistencyCounter);
  const info = tokenInfo(ch, ch.mutualCredits, 0n, 'local');
  const base = { oldToken: remote.resetToken, ops: [], relays: ctx.state.relays, activeCurrencies: null, timeMs: nextStamp(friend.channel, ctx.nowMs) };
  const prefix = prefixHash(base);
  const infoHash = tokenInfoHash(info);
  const randNonce = ctx.env.random(16);
  const newToken = ctx.env.signer.sign(SigningDomain.MoveToken, moveSignedBytes(prefix, infoHash, randNonce));
  const move: MoveToken = { ...base, infoHash, randNonce, newToken };
  friend.channel = { ...ch, direction: 'outgoing', lastOutgoing: move, lastIncomingToken: remote.resetToken };
  friend.settledResetTokens = settledTokens(friend.inconsistency);
  friend.inconsistency = null;
  friend.sentRelaysKey = relaysKey(ctx.state.relays);
  ensureConfigs(ctx, friend, balances.map((b) => b.currency));
  friend.tokenRequested = true;
  ctx.changes.channels.add(friend.key);
  if (friend.online && friend.enabled) ctx.send(friend, { kind: 'moveTokenRequest', moveToken: move, tokenWanted: true });
  return null;
}

/** While inconsistent, the only move we accept is a reset built on our own signed terms. */
function tryAcceptReset(ctx: Ctx, friend: Friend, move: MoveToken): boolean {
  const local = friend.inconsistency!.localTerms;
  if (checkMoveShape(move) !== null || move.ops.length !== 0 || !bytesEqual(move.oldToken, local.resetToken)) return false;
  const prefix = prefixHash(move);
  if (!verifyMoveSignature(friend.publicKey, move, prefix)) return false;
  const ch = resetChannel(friend, local.balanceForReset, local.inconsistencyCounter);
  const info = tokenInfo(ch, ch.mutualCredits, 0n, 'remote');
  if (!bytesEqual(tokenInfoHash(info), move.infoHash)) return false;
  clearChannelTxs(ctx, friend);
  friend.channel = {
    ...ch,
    direction: 'incoming',
    lastIncomingToken: move.newToken,
    lastIncomingTimeMs: Math.max(ch.lastIncomingTimeMs, move.timeMs),
    lastIncomingDigest: moveDigest(move, prefix),
    lastIncoming: {
      prefixHash: prefix, infoHash: move.infoHash, randNonce: move.randNonce, newToken: move.newToken, moveTokenCounter: 0n, balances: info.balances,
    },
  };
  if (move.relays !== null) friend.relays = [...move.relays];
  friend.settledResetTokens = settledTokens(friend.inconsistency);
  friend.inconsistency = null;
  ensureConfigs(ctx, friend, local.balanceForReset.map((b) => b.currency));
  friend.remoteWantsToken = true;
  friend.sentRelaysKey = null;
  ctx.changes.channels.add(friend.key);
  ctx.wake.add(friend.key);
  return true;
}

// ---------------------------------------------------------------------------------------------
// App commands

function err(code: AppErrorCode, message: string): AppError {
  return { code, message };
}

const isKey = (v: unknown): v is Uint8Array => v instanceof Uint8Array && v.byteLength === 32;
const isUid = (v: unknown): v is Uint8Array => v instanceof Uint8Array && v.byteLength === 16;
const isAmount = (v: unknown): v is bigint => typeof v === 'bigint' && v >= 0n && v <= U128_MAX;
const isName = (v: unknown): v is string => typeof v === 'string' && Buffer.byteLength(v, 'utf8') <= MAX_NAME_BYTES;

function validRelays(relays: unknown): relays is RelayAddress[] {
  return Array.isArray(relays) && relays.length <= MAX_RELAYS && relays.every((r: RelayAddress) =>
    typeof r === 'object' && r !== null && isKey(r.publicKey) && typeof r.address === 'string'
    && Buffer.byteLength(r.address, 'utf8') <= MAX_ADDRESS_BYTES);
}

function onAppCommand(ctx: Ctx, appId: string, owner: string, appRequestId: string, command: AppCommand): void {
  let error: AppError | null;
  try {
    error = runCommand(ctx, appId, owner, command);
  } catch (cause) {
    // Malformed values from the node's mapping (wrong types) end here; state checks come first
    // in every command, so nothing was changed yet.
    error = err('ERR_FUNDER_BAD_ARGUMENT', cause instanceof Error ? cause.message : 'malformed command');
  }
  ctx.effects.unshift({ kind: 'toApp', appId, message: { kind: 'ack', appRequestId, error } });
}

function friendOf(ctx: Ctx, key: unknown): Friend | AppError {
  if (!isKey(key)) return err('ERR_FUNDER_BAD_ARGUMENT', 'public key must be 32 bytes');
  return ctx.state.friends.get(idKey(key)) ?? err('ERR_FUNDER_UNKNOWN_FRIEND', 'no such friend');
}

function isError(v: unknown): v is AppError {
  return typeof v === 'object' && v !== null && 'code' in v && 'message' in v && !('publicKey' in v);
}

/** A payment or invoice of this owner's; another owner's is as good as absent. */
function owned<T extends { readonly owner: string }>(entity: T | undefined, owner: string): T | undefined {
  return entity !== undefined && entity.owner === owner ? entity : undefined;
}

function runCommand(ctx: Ctx, appId: string, owner: string, c: AppCommand): AppError | null {
  const s = ctx.state;
  switch (c.kind) {
    case 'setRelays': {
      if (!validRelays(c.relays)) return err('ERR_FUNDER_BAD_ARGUMENT', 'invalid relays');
      s.relays = [...c.relays];
      ctx.changes.node = true;
      for (const friend of s.friends.values()) ctx.wake.add(friend.key);
      return null;
    }
    case 'addFriend': {
      if (!isKey(c.publicKey) || !isName(c.name) || !validRelays(c.relays)) return err('ERR_FUNDER_BAD_ARGUMENT', 'invalid friend');
      if (bytesEqual(c.publicKey, s.localPublicKey)) return err('ERR_FUNDER_SELF', 'cannot befriend ourselves');
      const key = idKey(c.publicKey);
      if (s.friends.has(key)) return err('ERR_FUNDER_FRIEND_EXISTS', 'friend already added');
      s.friends.set(key, newFriend(s.localPublicKey, new Uint8Array(c.publicKey), c.name, [...c.relays]));
      ctx.changes.friends.add(key);
      ctx.changes.channels.add(key);
      return null;
    }
    case 'removeFriend': {
      const friend = friendOf(ctx, c.publicKey);
      if (isError(friend)) return friend;
      removeFriend(ctx, friend);
      return null;
    }
    case 'enableFriend':
    case 'disableFriend': {
      const friend = friendOf(ctx, c.publicKey);
      if (isError(friend)) return friend;
      friend.enabled = c.kind === 'enableFriend';
      if (!friend.enabled) failQueuedRequests(ctx, friend, CancelReason.FriendDisabled);
      else ctx.wake.add(friend.key);
      ctx.changes.friends.add(friend.key);
      return null;
    }
    case 'setFriendName': {
      const friend = friendOf(ctx, c.publicKey);
      if (isError(friend)) return friend;
      if (!isName(c.name)) return err('ERR_FUNDER_BAD_ARGUMENT', 'name too long');
      friend.name = c.name;
      ctx.changes.friends.add(friend.key);
      return null;
    }
    case 'setFriendRelays': {
      const friend = friendOf(ctx, c.publicKey);
      if (isError(friend)) return friend;
      if (!validRelays(c.relays)) return err('ERR_FUNDER_BAD_ARGUMENT', 'invalid relays');
      friend.relays = [...c.relays];
      ctx.changes.friends.add(friend.key);
      return null;
    }
    case 'openCurrency':
    case 'closeCurrency':
    case 'setMaxDebt':
    case 'setRate': {
      const friend = friendOf(ctx, c.publicKey);
      if (isError(friend)) return friend;
      if (!isValidCurrency(c.currency)) return err('ERR_FUNDER_BAD_ARGUMENT', 'currency must be 1-16 bytes of UTF-8');
      if (c.kind === 'setMaxDebt' && !isAmount(c.remoteMaxDebt)) return err('ERR_FUNDER_BAD_ARGUMENT', 'max debt out of range');
      if (c.kind === 'setRate' && !isValidRate(c.rate)) return err('ERR_FUNDER_BAD_ARGUMENT', 'rate out of range');
      let cfg = friend.configs.get(c.currency);
      if (cfg === undefined) {
        if (friend.configs.size >= MAX_CURRENCIES_PER_FRIEND) return err('ERR_FUNDER_CURRENCY_LIMIT', 'too many currencies');
        cfg = { rate: { mul: 0, add: 0 }, remoteMaxDebt: 0n, isOpen: false };
        friend.configs.set(c.currency, cfg);
        ctx.wake.add(friend.key);
      }
      if (c.kind === 'openCurrency') cfg.isOpen = true;
      else if (c.kind === 'closeCurrency') {
        cfg.isOpen = false;
        const keep = friend.requests.filter((item) => item.currency !== c.currency);
        const drop = friend.requests.filter((item) => item.currency === c.currency);
        friend.requests = keep;
        for (const item of drop) {
          ctx.dequeued(friend, item);
          failRequest(ctx, item.op.requestId, CancelReason.CurrencyClosed);
        }
      } else if (c.kind === 'setMaxDebt') cfg.remoteMaxDebt = c.remoteMaxDebt;
      else cfg.rate = { mul: c.rate.mul, add: c.rate.add };
      ctx.changes.friends.add(friend.key);
      return null;
    }
    case 'removeCurrency': {
      const friend = friendOf(ctx, c.publicKey);
      if (isError(friend)) return friend;
      if (!isValidCurrency(c.currency)) return err('ERR_FUNDER_BAD_ARGUMENT', 'invalid currency');
      if (friend.channel.mutualCredits.has(c.currency)) return err('ERR_FUNDER_CURRENCY_ACTIVE', 'currency is active with this friend');
      friend.configs.delete(c.currency);
      ctx.changes.friends.add(friend.key);
      ctx.wake.add(friend.key);
      return null;
    }
    case 'resetFriendChannel': {
      const friend = friendOf(ctx, c.publicKey);
      if (isError(friend)) return friend;
      if (!(c.resetToken instanceof Uint8Array)) return err('ERR_FUNDER_BAD_ARGUMENT', 'reset token must be bytes');
      return proposeReset(ctx, friend, c.resetToken);
    }
    case 'addInvoice': {
      if (!isKey(c.invoiceId) || !isValidCurrency(c.currency) || !isAmount(c.totalDestPayment) || c.totalDestPayment === 0n) {
        return err('ERR_FUNDER_BAD_ARGUMENT', 'invalid invoice');
      }
      const key = idKey(c.invoiceId);
      if (s.invoices.has(key)) return err('ERR_FUNDER_INVOICE_EXISTS', 'invoice exists');
      s.invoices.set(key, {
        invoiceId: new Uint8Array(c.invoiceId), currency: c.currency, totalDestPayment: c.totalDestPayment,
        destPlainLock: ctx.env.random(32), owner, txs: new Map(), completedBy: null,
      });
      ctx.changes.invoices.add(key);
      return null;
    }
    case 'cancelInvoice': {
      if (!isKey(c.invoiceId)) return err('ERR_FUNDER_BAD_ARGUMENT', 'invalid invoice id');
      const key = idKey(c.invoiceId);
      const invoice = owned(s.invoices.get(key), owner);
      if (invoice === undefined) return err('ERR_FUNDER_UNKNOWN_INVOICE', 'no such invoice');
      // Only the seller may cancel after responding; this is that seller.
      for (const [rk, tx] of invoice.txs) {
        const friend = s.friends.get(tx.friendKey);
        if (friend !== undefined) queueBackwards(ctx, friend, tx.currency, { kind: 'cancel', requestId: tx.requestId, reason: CancelReason.SellerCanceled });
        void rk;
      }
      s.invoices.delete(key);
      ctx.changes.invoices.add(key);
      return null;
    }
    case 'commitInvoice':
      return commitInvoice(ctx, owner, c.commit);
    case 'createPayment': {
      if (!isUid(c.paymentId) || !isKey(c.invoiceId) || !isValidCurrency(c.currency) || !isAmount(c.totalDestPayment)
        || c.totalDestPayment === 0n || !isKey(c.destPublicKey)) {
        return err('ERR_FUNDER_BAD_ARGUMENT', 'invalid payment');
      }
      const key = idKey(c.paymentId);
      if (s.payments.has(key)) return err('ERR_FUNDER_PAYMENT_EXISTS', 'payment exists');
      s.payments.set(key, {
        paymentId: new Uint8Array(c.paymentId), invoiceId: new Uint8Array(c.invoiceId), currency: c.currency,
        totalDestPayment: c.totalDestPayment, destPublicKey: new Uint8Array(c.destPublicKey), srcPlainLock: ctx.env.random(32),
        appId, owner, closing: false, closeWaiter: null, txs: new Map(), commit: null, receipt: null, ackUid: ctx.env.random(16),
      });
      ctx.changes.payments.add(key);
      return null;
    }
    case 'createTransaction':
      return createTransaction(ctx, owner, c);
    case 'requestClosePayment':
    case 'paymentStatus': {
      if (!isUid(c.paymentId)) return err('ERR_FUNDER_BAD_ARGUMENT', 'invalid payment id');
      const key = idKey(c.paymentId);
      const payment = owned(s.payments.get(key), owner);
      if (c.kind === 'requestClosePayment' && payment !== undefined) {
        payment.closing = true;
        payment.closeWaiter = appId;
        ctx.changes.payments.add(key);
        settlePayment(ctx, payment);
        return null;
      }
      ctx.toApp(appId, { kind: 'paymentStatus', paymentId: c.paymentId, status: paymentStatus(payment) });
      return null;
    }
    case 'ackClosePayment': {
      if (!isUid(c.paymentId) || !isUid(c.ackUid)) return err('ERR_FUNDER_BAD_ARGUMENT', 'invalid ids');
      const key = idKey(c.paymentId);
      const payment = owned(s.payments.get(key), owner);
      if (payment === undefined) return err('ERR_FUNDER_UNKNOWN_PAYMENT', 'no such payment');
      if (paymentStatus(payment).kind === 'inProgress' || !payment.closing && payment.receipt === null) {
        return err('ERR_FUNDER_NOT_RESOLVED', 'payment not resolved');
      }
      if (!bytesEqual(payment.ackUid, c.ackUid)) return err('ERR_FUNDER_BAD_ACK', 'ack uid does not match');
      // Later answers for its transactions find no payment and are settled as orphans.
      for (const rk of payment.txs.keys()) {
        const up = s.upstream.get(rk);
        if (up !== undefined && up.kind === 'payment') {
          s.upstream.set(rk, { kind: 'orphan' });
          ctx.upstream(rk);
        }
      }
      s.payments.delete(key);
      ctx.changes.payments.add(key);
      return null;
    }
    default:
      return err('ERR_FUNDER_BAD_ARGUMENT', 'unknown command');
  }
}

function validRoute(route: readonly PublicKey[]): boolean {
  if (!Array.isArray(route) || route.length < 2 || route.length > MAX_ROUTE_KEYS || !route.every(isKey)) return false;
  const isLoop = route.length >= 4 && bytesEqual(route[0], route[route.length - 1]);
  const body = isLoop ? route.slice(0, -1) : route;
  return new Set(body.map(idKey)).size === body.length;
}

/** Enough time for every hop of a route of `keys` keys to take its margin, and the seller its own. */
function buyerTtl(keys: number): number {
  return Math.min(MAX_REQUEST_TTL_MS, Math.max(DEFAULT_REQUEST_TTL_MS, (keys + 1) * HOP_TTL_MARGIN_MS));
}

function createTransaction(ctx: Ctx, owner: string, c: Extract<AppCommand, { kind: 'createTransaction' }>): AppError | null {
  const s = ctx.state;
  if (!isUid(c.paymentId) || !isUid(c.requestId) || !isAmount(c.destPayment) || !isAmount(c.fees)) {
    return err('ERR_FUNDER_BAD_ARGUMENT', 'invalid transaction');
  }
  const payment = owned(s.payments.get(idKey(c.paymentId)), owner);
  if (payment === undefined) return err('ERR_FUNDER_UNKNOWN_PAYMENT', 'no such payment');
  if (payment.closing) return err('ERR_FUNDER_PAYMENT_CLOSED', 'payment accepts no more transactions');
  if (c.destPayment === 0n || c.destPayment > payment.totalDestPayment) return err('ERR_FUNDER_BAD_ARGUMENT', 'destination amount must be 1..total');
  if (c.destPayment + c.fees > U128_MAX) return err('ERR_FUNDER_BAD_ARGUMENT', 'amount plus fees overflows');
  let inFlight = 0n;
  for (const tx of payment.txs.values()) if (tx.status !== 'failed') inFlight += tx.destPayment;
  if (inFlight + c.destPayment > payment.totalDestPayment) return err('ERR_FUNDER_OVERPAY', 'transactions would exceed the total');
  if (!validRoute(c.route)) return err('ERR_FUNDER_BAD_ROUTE', 'route must be 2-32 distinct keys');
  if (!bytesEqual(c.route[0], s.localPublicKey) || !bytesEqual(c.route[c.route.length - 1], payment.destPublicKey)) {
    return err('ERR_FUNDER_BAD_ROUTE', 'route must start here and end at the seller');
  }
  const friend = s.friends.get(idKey(c.route[1]));
  if (friend === undefined) return err('ERR_FUNDER_BAD_ROUTE', 'first hop is not a friend');
  if (!canCarry(friend, payment.currency)) return err('ERR_FUNDER_FRIEND_NOT_READY', 'first hop is offline, disabled, inconsistent or lacks the currency');
  const rk = idKey(c.requestId);
  if (s.upstream.has(rk) || payment.txs.has(rk)) return err('ERR_FUNDER_DUPLICATE_REQUEST', 'request id in use');
  if (friend.userRequests.length >= MAX_PENDING_USER_REQUESTS) return err('ERR_FUNDER_QUEUE_FULL', 'too many queued requests to this friend');
  const requestId = new Uint8Array(c.requestId);
  const op: RequestOp = {
    kind: 'request', requestId, srcHashedLock: hashLock(payment.srcPlainLock), route: c.route.slice(2).map((k) => new Uint8Array(k)),
    destPayment: c.destPayment, totalDestPayment: payment.totalDestPayment, invoiceId: payment.invoiceId, leftFees: c.fees,
    ttlMs: buyerTtl(c.route.length),
  };
  ctx.enqueue(friend, 'userRequests', payment.currency, op);
  payment.txs.set(rk, { requestId, friendKey: friend.key, destPayment: c.destPayment, fees: c.fees, status: 'pending', response: null });
  s.upstream.set(rk, { kind: 'payment', paymentKey: idKey(payment.paymentId) });
  s.deadlines.set(rk, { friendKey: friend.key, currency: payment.currency, deadlineMs: ctx.nowMs + op.ttlMs, abandoned: false });
  ctx.upstream(rk);
  ctx.changes.deadlines.add(rk);
  ctx.changes.payments.add(idKey(payment.paymentId));
  ctx.changes.friends.add(friend.key);
  ctx.wake.add(friend.key);
  return null;
}

function commitInvoice(ctx: Ctx, owner: string, commit: Commit): AppError | null {
  if (typeof commit !== 'object' || commit === null || !isKey(commit.invoiceId) || !isKey(commit.srcPlainLock)
    || !isKey(commit.destHashedLock) || !isKey(commit.responseHash) || !isAmount(commit.destPayment)
    || !isAmount(commit.totalDestPayment) || !isValidCurrency(commit.currency)
    || !(commit.signature instanceof Uint8Array) || commit.signature.byteLength !== 64) {
    return err('ERR_FUNDER_BAD_ARGUMENT', 'malformed commit');
  }
  const key = idKey(commit.invoiceId);
  const invoice = owned(ctx.state.invoices.get(key), owner);
  if (invoice === undefined) return err('ERR_FUNDER_UNKNOWN_INVOICE', 'no such invoice');
  if (!commitMatchesInvoice(ctx, invoice, commit)) return err('ERR_FUNDER_BAD_COMMIT', 'commit does not match the invoice');
  const lock = invoice.completedBy!.srcHashedLock;
  if (acceptedFor(invoice, lock) !== invoice.totalDestPayment) return err('ERR_FUNDER_INVOICE_INCOMPLETE', 'accepted transactions do not reach the total');
  for (const tx of invoice.txs.values()) {
    const pending = ctx.state.friends.get(tx.friendKey)?.channel.mutualCredits.get(tx.currency)?.remote.get(idKey(tx.requestId));
    // A collect this late could reach the hop before us after it gave up, and be refused.
    if (pending !== undefined && ctx.nowMs >= stageDeadline(pending) - GIVE_UP_AFTER_MS) {
      return err('ERR_FUNDER_COMMIT_EXPIRED', 'too late to collect: the buyer\'s transactions are being given up on');
    }
  }
  for (const tx of invoice.txs.values()) {
    if (!bytesEqual(tx.srcHashedLock, lock)) continue;
    const friend = ctx.state.friends.get(tx.friendKey);
    if (friend !== undefined) {
      queueBackwards(ctx, friend, tx.currency, { kind: 'collect', requestId: tx.requestId, srcPlainLock: commit.srcPlainLock, destPlainLock: invoice.destPlainLock });
    }
  }
  ctx.state.invoices.delete(key);
  ctx.changes.invoices.add(key);
  return null;
}

/**
 * The commit must carry the very response we signed when the invoice completed; comparing with
 * what we stored is as strong as verifying our own signature again, and much cheaper.
 */
function commitMatchesInvoice(_ctx: Ctx, invoice: OpenInvoice, commit: Commit): boolean {
  const done = invoice.completedBy;
  return done !== null
    && bytesEqual(commit.signature, done.signature)
    && bytesEqual(commit.responseHash, done.responseHash)
    && commit.destPayment === done.destPayment
    && commit.currency === invoice.currency
    && commit.totalDestPayment === invoice.totalDestPayment
    && commit.destPayment <= commit.totalDestPayment
    && bytesEqual(hashLock(commit.srcPlainLock), done.srcHashedLock)
    && bytesEqual(commit.destHashedLock, hashLock(invoice.destPlainLock));
}

function removeFriend(ctx: Ctx, friend: Friend): void {
  failQueuedRequests(ctx, friend, CancelReason.FriendRemoved);
  for (const item of friend.backwards) ctx.dequeued(friend, item);
  friend.backwards = [];
  for (const [currency, mc] of friend.channel.mutualCredits) {
    for (const [rk, tx] of mc.local) {
      ctx.tx(friend.key, currency, 'L', rk);
      deleteDeadline(ctx, rk);
      releaseUpstream(ctx, tx.request.requestId, { reason: CancelReason.FriendRemoved, local: true });
    }
    for (const rk of mc.remote.keys()) {
      ctx.tx(friend.key, currency, 'R', rk);
      orphanDownstream(ctx, friend, currency, rk);
    }
  }
  ctx.state.friends.delete(friend.key);
  ctx.changes.friends.add(friend.key);
  ctx.changes.channels.add(friend.key);
}

