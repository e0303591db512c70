import { I128_MAX, I128_MIN, U128_MAX, bytesEqual } from '../common/bytes.js';
import { COLLECT_WINDOW_MS, MAX_REMAINING_ROUTE_KEYS, MAX_REQUEST_TTL_MS } from './constants.js';
import { hashLock, responseHash, verifyResponseSignature } from './signing.js';
import type { Currency, FriendTcOp, Hash, PublicKey, RequestOp, ResponseOp, Uid } from './types.js';

/**
 * Shared credit state of one currency between us and one friend, and the rules for applying an
 * operation in either direction. Both sides apply the same operations in the same order, so
 * the two states stay exact mirrors (balance negated, local and remote swapped).
 *
 * Sign convention: a positive balance means the friend owes us.
 */

export type TxStage =
  | { readonly kind: 'request' }
  | { readonly kind: 'response'; readonly destHashedLock: Hash; readonly isComplete: boolean; readonly randNonce: Uid; readonly signature: Uint8Array };

export interface PendingTx {
  readonly request: RequestOp;
  readonly stage: TxStage;
  /** The stamp of the move that carried the request plus its ttl: the same on both sides. */
  readonly deadlineMs: number;
}

/** Until when a pending transaction may still be answered (request stage) or collected (response stage). */
export function stageDeadline(tx: PendingTx): number {
  return tx.stage.kind === 'request' ? tx.deadlineMs : tx.deadlineMs + COLLECT_WINDOW_MS;
}

export interface MutualCredit {
  balance: bigint;
  localPending: bigint;
  remotePending: bigint;
  /** Requests we sent, by request id hex. */
  local: Map<string, PendingTx>;
  /** Requests the friend sent, by request id hex. */
  remote: Map<string, PendingTx>;
}

export function newMutualCredit(): MutualCredit {
  return { balance: 0n, localPending: 0n, remotePending: 0n, local: new Map(), remote: new Map() };
}

export function cloneMutualCredit(mc: MutualCredit): MutualCredit {
  return { ...mc, local: new Map(mc.local), remote: new Map(mc.remote) };
}

export function idKey(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

/** The credit a request freezes on its hop: what the next hop will be paid if it collects. */
export function frozenAmount(request: RequestOp): bigint {
  return request.destPayment + request.leftFees;
}

export type McError =
  | 'ERR_MC_DUPLICATE_REQUEST'
  | 'ERR_MC_BAD_ROUTE'
  | 'ERR_MC_BAD_AMOUNT'
  | 'ERR_MC_OVERFLOW'
  | 'ERR_MC_UNKNOWN_REQUEST'
  | 'ERR_MC_WRONG_STAGE'
  | 'ERR_MC_BAD_SIGNATURE'
  | 'ERR_MC_BAD_LOCK'
  | 'ERR_MC_BAD_TTL'
  | 'ERR_MC_TOO_EARLY';

/** Checks a request's own fields (shape, route, amounts), whoever created it. */
export function checkRequestFields(op: RequestOp): McError | null {
  if (op.route.length > MAX_REMAINING_ROUTE_KEYS) return 'ERR_MC_BAD_ROUTE';
  const seen = new Set<string>();
  for (const key of op.route) {
    const k = idKey(key);
    if (seen.has(k)) return 'ERR_MC_BAD_ROUTE';
    seen.add(k);
  }
  if (op.destPayment < 0n || op.totalDestPayment < 0n || op.leftFees < 0n) return 'ERR_MC_BAD_AMOUNT';
  if (op.destPayment > U128_MAX || op.totalDestPayment > U128_MAX || op.leftFees > U128_MAX) return 'ERR_MC_BAD_AMOUNT';
  if (op.destPayment === 0n || op.destPayment > op.totalDestPayment) return 'ERR_MC_BAD_AMOUNT';
  if (frozenAmount(op) > U128_MAX) return 'ERR_MC_OVERFLOW';
  if (!Number.isInteger(op.ttlMs) || op.ttlMs < 1 || op.ttlMs > MAX_REQUEST_TTL_MS) return 'ERR_MC_BAD_TTL';
  return null;
}

/**
 * A request is withdrawn by its sender only once the stage it is in has run out of time; before
 * that only its receiver may give it up.
 */
function expireError(tx: PendingTx, timeMs: number): McError | null {
  return timeMs >= stageDeadline(tx) ? null : 'ERR_MC_TOO_EARLY';
}

/** The key whose signature a response to `request`, sent by `friend`, must carry. */
function destinationOf(request: RequestOp, friend: PublicKey): PublicKey {
  return request.route.length === 0 ? friend : request.route[request.route.length - 1];
}

function checkResponse(tx: PendingTx, op: ResponseOp, currency: Currency, responder: PublicKey): McError | null {
  if (tx.stage.kind !== 'request') return 'ERR_MC_WRONG_STAGE';
  const ok = verifyResponseSignature(destinationOf(tx.request, responder), {
    responseHash: responseHash(op.requestId, op.randNonce),
    srcHashedLock: tx.request.srcHashedLock,
    destHashedLock: op.destHashedLock,
    isComplete: op.isComplete,
    destPayment: tx.request.destPayment,
    totalDestPayment: tx.request.totalDestPayment,
    invoiceId: tx.request.invoiceId,
    currency,
  }, op.signature);
  return ok ? null : 'ERR_MC_BAD_SIGNATURE';
}

function responseStage(op: ResponseOp): TxStage {
  return { kind: 'response', destHashedLock: op.destHashedLock, isComplete: op.isComplete, randNonce: op.randNonce, signature: op.signature };
}

function checkedBalance(value: bigint): bigint | null {
  return value < I128_MIN || value > I128_MAX ? null : value;
}

/**
 * Applies an operation the friend sent us in a move stamped `timeMs`. On error `mc` is left
 * untouched. `friend` is the friend's key (a response from it must be signed by the destination
 * of the stored route).
 */
export function applyIncoming(mc: MutualCredit, currency: Currency, op: FriendTcOp, friend: PublicKey, timeMs: number): McError | null {
  const key = idKey(op.requestId);
  switch (op.kind) {
    case 'request': {
      const err = checkRequestFields(op);
      if (err !== null) return err;
      if (mc.remote.has(key)) return 'ERR_MC_DUPLICATE_REQUEST';
      const pending = mc.remotePending + frozenAmount(op);
      if (pending > U128_MAX) return 'ERR_MC_OVERFLOW';
      mc.remote.set(key, { request: op, stage: { kind: 'request' }, deadlineMs: timeMs + op.ttlMs });
      mc.remotePending = pending;
      return null;
    }
    case 'response': {
      const tx = mc.local.get(key);
      if (tx === undefined) return 'ERR_MC_UNKNOWN_REQUEST';
      const err = checkResponse(tx, op, currency, friend);
      if (err !== null) return err;
      mc.local.set(key, { request: tx.request, stage: responseStage(op), deadlineMs: tx.deadlineMs });
      return null;
    }
    case 'cancel': {
      const tx = mc.local.get(key);
      if (tx === undefined) return 'ERR_MC_UNKNOWN_REQUEST';
      mc.local.delete(key);
      mc.localPending -= frozenAmount(tx.request);
      return null;
    }
    case 'collect': {
      const tx = mc.local.get(key);
      if (tx === undefined) return 'ERR_MC_UNKNOWN_REQUEST';
      if (tx.stage.kind !== 'response') return 'ERR_MC_WRONG_STAGE';
      if (!bytesEqual(hashLock(op.srcPlainLock), tx.request.srcHashedLock)) return 'ERR_MC_BAD_LOCK';
      if (!bytesEqual(hashLock(op.destPlainLock), tx.stage.destHashedLock)) return 'ERR_MC_BAD_LOCK';
      const amount = frozenAmount(tx.request);
      const balance = checkedBalance(mc.balance - amount);
      if (balance === null) return 'ERR_MC_OVERFLOW';
      mc.local.delete(key);
      mc.localPending -= amount;
      mc.balance = balance;
      return null;
    }
    case 'expire': {
      const tx = mc.remote.get(key);
      if (tx === undefined) return 'ERR_MC_UNKNOWN_REQUEST';
      const err = expireError(tx, timeMs);
      if (err !== null) return err;
      mc.remote.delete(key);
      mc.remotePending -= frozenAmount(tx.request);
      return null;
    }
  }
}

/**
 * Applies an operation we are about to send in a move stamped `timeMs`. The same checks as on
 * receipt (except signatures and locks we produced ourselves), so we never send what the friend
 * must reject.
 */
export function applyOutgoing(mc: MutualCredit, op: FriendTcOp, timeMs: number): McError | null {
  const key = idKey(op.requestId);
  switch (op.kind) {
    case 'request': {
      const err = checkRequestFields(op);
      if (err !== null) return err;
      if (mc.local.has(key)) return 'ERR_MC_DUPLICATE_REQUEST';
      const pending = mc.localPending + frozenAmount(op);
      if (pending > U128_MAX) return 'ERR_MC_OVERFLOW';
      mc.local.set(key, { request: op, stage: { kind: 'request' }, deadlineMs: timeMs + op.ttlMs });
      mc.localPending = pending;
      return null;
    }
    case 'response': {
      const tx = mc.remote.get(key);
      if (tx === undefined) return 'ERR_MC_UNKNOWN_REQUEST';
      if (tx.stage.kind !== 'request') return 'ERR_MC_WRONG_STAGE';
      mc.remote.set(key, { request: tx.request, stage: responseStage(op), deadlineMs: tx.deadlineMs });
      return null;
    }
    case 'cancel': {
      const tx = mc.remote.get(key);
      if (tx === undefined) return 'ERR_MC_UNKNOWN_REQUEST';
      mc.remote.delete(key);
      mc.remotePending -= frozenAmount(tx.request);
      return null;
    }
    case 'collect': {
      const tx = mc.remote.get(key);
      if (tx === undefined) return 'ERR_MC_UNKNOWN_REQUEST';
      if (tx.stage.kind !== 'response') return 'ERR_MC_WRONG_STAGE';
      if (!bytesEqual(hashLock(op.srcPlainLock), tx.request.srcHashedLock)) return 'ERR_MC_BAD_LOCK';
      if (!bytesEqual(hashLock(op.destPlainLock), tx.stage.destHashedLock)) return 'ERR_MC_BAD_LOCK';
      const amount = frozenAmount(tx.request);
      const balance = checkedBalance(mc.balance + amount);
      if (balance === null) return 'ERR_MC_OVERFLOW';
      mc.remote.delete(key);
      mc.remotePending -= amount;
      mc.balance = balance;
      return null;
    }
    case 'expire': {
      const tx = mc.local.get(key);
      if (tx === undefined) return 'ERR_MC_UNKNOWN_REQUEST';
      const err = expireError(tx, timeMs);
      if (err !== null) return err;
      mc.local.delete(key);
      mc.localPending -= frozenAmount(tx.request);
      return null;
    }
  }
}

/** Whether the friend stays within the debt we allow after a request it just sent. */
export function withinTrust(mc: MutualCredit, remoteMaxDebt: bigint): boolean {
  // Once every request the friend sent is collected it owes us balance + remotePending.
  return mc.balance + mc.remotePending <= remoteMaxDebt;
}
