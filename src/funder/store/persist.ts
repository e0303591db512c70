import { bytesEqual } from '../../common/bytes.js';
import { OffsetError } from '../../common/errors.js';
import type { ChangeSet } from '../api.js';
import { newMutualCredit, type MutualCredit, type PendingTx } from '../mutual_credit.js';
import { responseHash } from '../signing.js';
import type { Friend, FunderState, OpenInvoice, Payment, PaymentTx, QueuedOp } from '../state.js';
import type { TokenChannel } from '../token_channel.js';
import type { Commit, Receipt } from '../types.js';
import { RecordFormatError } from './binary.js';
import {
  bytesOfHex, decodeChannel, decodeDeadline, decodeDownstream, decodeFriend, decodeInvoiceHeader, decodeInvoiceStatus,
  decodeInvoiceTx, decodeMove, decodeNode, decodePaymentHeader, decodePaymentResponse, decodePaymentStatus,
  decodePaymentTx, decodeQueued, decodeReceipt, decodeTxRequest, decodeTxStage, decodeUpstream, encodeChannel,
  encodeDeadline, encodeDownstream, encodeFriend, encodeInvoiceHeader, encodeInvoiceStatus, encodeInvoiceTx, encodeMove,
  encodeNode, encodePaymentHeader, encodePaymentResponse, encodePaymentStatus, encodePaymentTx, encodeQueued,
  encodeReceipt, encodeTxRequest, encodeTxStage, encodeUpstream,
} from './records.js';
import type { BatchOp } from './rocks.js';

/**
 * Key layout. An entity is split so that what never changes is written once, and a transition
 * writes only a small record:
 *   n                          node: our key, relays
 *   f/<friend>                 friend: name, relays, status, configs, reset terms
 *   c/<friend>                 token channel: direction, counters, last incoming token, balances
 *   m/<friend>                 the last move we sent (changes only when we send one)
 *   t/<friend>/<L|R>/<req>/<cur>  a pending transaction's request (written once)
 *   s/<friend>/<L|R>/<req>/<cur>  its response stage (written once, if it gets one)
 *   q/<friend>/<seq>           one operation waiting for the token
 *   u/<req>  d/<friend>/<cur>/<req>  e/<req>   request routing and deadlines
 *   i/<inv>  j/<inv>  k/<inv>/<req>            invoice: header, status, accepted transactions
 *   p/<pay>  r/<pay>  x/<pay>/<req>  y/<pay>/<req>  w/<pay>
 *                              payment: header, status, transaction, its response, receipt parts
 * Values are the binary records of records.ts, each led by a format version byte. A `prefix`
 * lets the records share a database with others.
 *
 * The keeper remembers what is on disk (and for small changing records, their last bytes), so
 * a batch puts only records that are new or changed and deletes only records that exist: an
 * operation queued and sent before the next write never touches the disk.
 */

export class FunderCorruptRecordError extends OffsetError {
  constructor(readonly key: string, reason: string, options?: { cause?: unknown }) {
    super('ERR_FUNDER_CORRUPT_RECORD', `stored record ${JSON.stringify(key)} is unreadable: ${reason}`, options);
  }
}

/**
 * What a put is compared with: an object written once (compared by identity: the state replaces
 * such objects rather than changing them), or a small record's bytes (compared by content).
 */
type Tag = object;

interface Desired {
  readonly key: string;
  /** undefined: always write. */
  readonly tag: Tag | undefined;
  readonly encode: () => Buffer;
}

function sameTag(old: Tag | undefined, tag: Tag): boolean {
  return old === tag || (tag instanceof Buffer && old instanceof Buffer && old.equals(tag));
}

/** Kinds whose entity spans several keys; every other kind is one key per entity. */
const MULTI = new Set(['t', 's', 'i', 'j', 'k', 'p', 'r', 'w', 'x', 'y']);

export class RecordKeeper {
  /** Key -> tag of what is on disk under it. */
  private readonly disk = new Map<string, Tag | undefined>();
  /** Entity (key of its primary record) -> its keys on disk, for entities spanning several keys. */
  private readonly groups = new Map<string, Set<string>>();

  constructor(private readonly prefix = '') {}

  /** Registers a record found on disk at start-up. */
  loaded(key: string, tag: Tag | undefined): void {
    this.disk.set(key, tag);
    if (!MULTI.has(key[0])) return;
    const group = groupOf(key);
    let set = this.groups.get(group);
    if (set === undefined) this.groups.set(group, (set = new Set()));
    set.add(key);
  }

  /** Makes the record under `key` on disk match `desired` (null: no record). */
  private syncOne(key: string, desired: Desired | null, ops: Map<string, Buffer | null>): void {
    if (desired === null) {
      if (this.disk.delete(key)) ops.set(this.prefix + key, null);
      return;
    }
    if (desired.tag !== undefined && this.disk.has(key) && sameTag(this.disk.get(key), desired.tag)) return;
    ops.set(this.prefix + key, desired.encode());
    this.disk.set(key, desired.tag);
  }

  /** Makes the group's records on disk exactly `desired`, appending the needed writes to `ops`. */
  private sync(group: string, desired: readonly Desired[], ops: Map<string, Buffer | null>): void {
    let set = this.groups.get(group);
    for (const d of desired) {
      if (d.tag !== undefined && set !== undefined && set.has(d.key) && sameTag(this.disk.get(d.key), d.tag)) continue;
      ops.set(this.prefix + d.key, d.encode());
      this.disk.set(d.key, d.tag);
      if (set === undefined) this.groups.set(group, (set = new Set()));
      set.add(d.key);
    }
    if (set === undefined) return;
    // Every desired key is in the set now; anything more is a record the entity no longer has.
    if (set.size > desired.length) {
      const keep = new Set(desired.map((d) => d.key));
      for (const key of set) {
        if (keep.has(key)) continue;
        ops.set(this.prefix + key, null);
        this.disk.delete(key);
        set.delete(key);
      }
    }
    if (set.size === 0) this.groups.delete(group);
  }

  /** The writes that make the store match `state` for every entity in `changes`. */
  changesToOps(state: FunderState, changes: ChangeSet, ops: Map<string, Buffer | null> = new Map()): Map<string, Buffer | null> {
    if (changes.node) this.syncOne('n', small(encodeNode({ publicKey: state.localPublicKey, relays: state.relays })), ops);
    for (const key of changes.friends) {
      const friend = state.friends.get(key);
      this.syncOne(`f/${key}`, friend === undefined ? null : small(encodeFriend(friend)), ops);
    }
    for (const key of changes.channels) {
      const friend = state.friends.get(key);
      this.syncOne(`c/${key}`, friend === undefined ? null : { key: '', tag: undefined, encode: () => encodeChannel(channelRecord(friend.channel)) }, ops);
      const move = friend?.channel.lastOutgoing;
      this.syncOne(`m/${key}`, move === undefined ? null : { key: '', tag: move, encode: () => encodeMove(move) }, ops);
    }
    for (const id of changes.txs) {
      const [friendKey, side, rk] = id.split('\0', 3);
      const currency = id.slice(friendKey.length + side.length + rk.length + 3);
      const mc = state.friends.get(friendKey)?.channel.mutualCredits.get(currency);
      const tx = side === 'L' ? mc?.local.get(rk) : mc?.remote.get(rk);
      const suffix = `${friendKey}/${side}/${rk}/${currency}`;
      const desired: Desired[] = [];
      if (tx !== undefined) {
        desired.push({ key: `t/${suffix}`, tag: tx.request, encode: () => encodeTxRequest(tx.request) });
        const stage = tx.stage;
        if (stage.kind === 'response') desired.push({ key: `s/${suffix}`, tag: stage, encode: () => encodeTxStage(stage) });
      }
      this.sync(`t/${suffix}`, desired, ops);
    }
    for (const [id, item] of changes.queued) {
      const [friendKey, seq] = id.split('\0');
      this.syncOne(`q/${friendKey}/${seq.padStart(12, '0')}`, item === null ? null : { key: '', tag: item, encode: () => encodeQueued(item) }, ops);
    }
    for (const rk of changes.upstream) {
      const up = state.upstream.get(rk);
      this.syncOne(`u/${rk}`, up === undefined ? null : small(encodeUpstream(up)), ops);
    }
    for (const dk of changes.downstream) {
      const down = state.downstream.get(dk);
      this.syncOne(`d/${dk}`, down === undefined ? null : small(encodeDownstream(down)), ops);
    }
    for (const rk of changes.deadlines) {
      const deadline = state.deadlines.get(rk);
      this.syncOne(`e/${rk}`, deadline === undefined ? null : small(encodeDeadline(deadline)), ops);
    }
    for (const ik of changes.invoices) {
      const invoice = state.invoices.get(ik);
      this.sync(`i/${ik}`, invoice === undefined ? [] : invoiceRecords(ik, invoice), ops);
    }
    for (const pk of changes.payments) {
      const payment = state.payments.get(pk);
      this.sync(`p/${pk}`, payment === undefined ? [] : paymentRecords(pk, payment), ops);
    }
    return ops;
  }
}

/** A small record compared by content: rewritten only when its bytes change. */
function small(value: Buffer, key = ''): Desired {
  return { key, tag: value, encode: () => value };
}

/** The entity a stored key belongs to (the key of its primary record). */
function groupOf(key: string): string {
  const kind = key[0];
  const rest = key.slice(2);
  switch (kind) {
    case 's':
      return `t/${rest}`;
    case 'j':
      return `i/${rest}`;
    case 'k':
      return `i/${rest.slice(0, rest.indexOf('/'))}`;
    case 'r':
    case 'w':
      return `p/${rest}`;
    case 'x':
    case 'y':
      return `p/${rest.slice(0, rest.indexOf('/'))}`;
    default:
      return key;
  }
}

function channelRecord(ch: TokenChannel): Parameters<typeof encodeChannel>[0] {
  const balances = [];
  for (const [currency, mc] of ch.mutualCredits) balances.push({ currency, balance: mc.balance, localPending: mc.localPending, remotePending: mc.remotePending });
  return { ...ch, balances };
}

function invoiceRecords(ik: string, invoice: OpenInvoice): Desired[] {
  const out: Desired[] = [
    { key: `i/${ik}`, tag: invoice, encode: () => encodeInvoiceHeader(invoice) },
    ...(invoice.srcHashedLock === null && invoice.completedBy === null ? [] : [small(encodeInvoiceStatus(invoice), `j/${ik}`)]),
  ];
  for (const [rk, tx] of invoice.txs) out.push({ key: `k/${ik}/${rk}`, tag: tx, encode: () => encodeInvoiceTx(tx) });
  return out;
}

function bySignature(payment: Payment, signature: Uint8Array | undefined): string | null {
  if (signature === undefined) return null;
  for (const [rk, tx] of payment.txs) if (tx.response !== null && bytesEqual(tx.response.signature, signature)) return rk;
  return null;
}

function paymentRecords(pk: string, payment: Payment): Desired[] {
  const out: Desired[] = [{ key: `p/${pk}`, tag: payment, encode: () => encodePaymentHeader(payment) }];
  const txs: [string, PaymentTx['status']][] = [];
  for (const [rk, tx] of payment.txs) {
    txs.push([rk, tx.status]);
    out.push({ key: `x/${pk}/${rk}`, tag: tx, encode: () => encodePaymentTx(tx) });
    const response = tx.response;
    if (response !== null) out.push({ key: `y/${pk}/${rk}`, tag: response, encode: () => encodePaymentResponse(response) });
  }
  out.push(small(encodePaymentStatus({
    closing: payment.closing, closeWaiter: payment.closeWaiter, commitBy: bySignature(payment, payment.commit?.signature), txs,
  }), `r/${pk}`));
  const receipt = payment.receipt;
  if (receipt !== null) {
    const requestKey = bySignature(payment, receipt.signature);
    if (requestKey !== null) {
      out.push({ key: `w/${pk}`, tag: receipt, encode: () => encodeReceipt({ requestKey, srcPlainLock: receipt.srcPlainLock, destPlainLock: receipt.destPlainLock }) });
    }
  }
  return out;
}

export function toBatch(ops: Map<string, Buffer | null>): BatchOp[] {
  const out: BatchOp[] = [];
  for (const [key, value] of ops) out.push(value === null ? { type: 'del', key } : { type: 'put', key, value });
  return out;
}

/** The node record's key, read before anything else to check the identity. */
export function readNodeRecord(value: Buffer): ReturnType<typeof decodeNode> {
  try {
    return decodeNode(value);
  } catch (err) {
    throw new FunderCorruptRecordError('n', err instanceof Error ? err.message : String(err), { cause: err });
  }
}

function idBytes(hex: string, length: number): Uint8Array {
  return bytesOfHex(hex, length);
}

interface PaymentParts {
  header?: ReturnType<typeof decodePaymentHeader>;
  status?: ReturnType<typeof decodePaymentStatus>;
  txs: Map<string, { friendKey: string; destPayment: bigint; fees: bigint }>;
  responses: Map<string, Buffer>;
  receipt?: ReturnType<typeof decodeReceipt>;
}

/**
 * Rebuilds the state from every stored record; volatile flags start cleared (friends offline).
 * A record that cannot be read stops the load with an error naming its key.
 */
export function stateFromRecords(state: FunderState, records: Map<string, Buffer>, keeper: RecordKeeper, prefix = ''): FunderState {
  const channels = new Map<string, ReturnType<typeof decodeChannel>>();
  const moves = new Map<string, TokenChannel['lastOutgoing']>();
  const txs = new Map<string, { friendKey: string; side: string; rk: string; currency: string; request?: PendingTx['request']; stage?: PendingTx['stage']; key: string }>();
  // Keys sort by zero-padded sequence, so each queue comes back in its original order.
  const queued: [string, QueuedOp, string][] = [];
  const invoices = new Map<string, { header?: ReturnType<typeof decodeInvoiceHeader>; status?: ReturnType<typeof decodeInvoiceStatus>; txs: Map<string, Buffer> }>();
  const payments = new Map<string, PaymentParts>();
  const invoiceOf = (ik: string) => {
    let v = invoices.get(ik);
    if (v === undefined) invoices.set(ik, (v = { txs: new Map() }));
    return v;
  };
  const paymentOf = (pk: string): PaymentParts => {
    let v = payments.get(pk);
    if (v === undefined) payments.set(pk, (v = { txs: new Map(), responses: new Map() }));
    return v;
  };
  for (const [fullKey, value] of records) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    try {
      const slash = key.indexOf('/');
      const kind = slash < 0 ? key : key.slice(0, slash);
      const rest = key.slice(slash + 1);
      switch (kind) {
        case 'n':
          state.relays = decodeNode(value).relays;
          keeper.loaded(key, value);
          break;
        case 'f': {
          const record = decodeFriend(value);
          state.friends.set(rest, {
            // The channel is attached once its records are read, below.
            ...record, key: rest, channel: undefined as unknown as TokenChannel,
            backwards: [], requests: [], userRequests: [], online: false, remoteWantsToken: false, tokenRequested: false, resendPending: false,
            answeredRetransmitOf: null,
          });
          keeper.loaded(key, value);
          break;
        }
        case 'c':
          channels.set(rest, decodeChannel(value));
          keeper.loaded(key, undefined);
          break;
        case 'm': {
          const move = decodeMove(value);
          moves.set(rest, move);
          keeper.loaded(key, move);
          break;
        }
        case 't':
        case 's': {
          const [friendKey, side, rk] = rest.split('/', 3);
          if (side !== 'L' && side !== 'R') throw new RecordFormatError(`bad side ${JSON.stringify(side)}`);
          const currency = rest.slice(friendKey.length + side.length + rk.length + 3);
          let entry = txs.get(rest);
          if (entry === undefined) txs.set(rest, (entry = { friendKey, side, rk, currency, key: rest }));
          if (kind === 't') entry.request = decodeTxRequest(value, idBytes(rk, 16));
          else entry.stage = decodeTxStage(value);
          break;
        }
        case 'q': {
          const friendKey = rest.slice(0, rest.indexOf('/'));
          const seq = Number(rest.slice(rest.indexOf('/') + 1));
          if (!Number.isSafeInteger(seq)) throw new RecordFormatError('bad sequence number');
          queued.push([friendKey, decodeQueued(value, seq), key]);
          break;
        }
        case 'u':
          state.upstream.set(rest, decodeUpstream(value));
          keeper.loaded(key, value);
          break;
        case 'd':
          state.downstream.set(rest, decodeDownstream(value));
          keeper.loaded(key, value);
          break;
        case 'e':
          state.deadlines.set(rest, decodeDeadline(value));
          keeper.loaded(key, value);
          break;
        case 'i':
          invoiceOf(rest).header = decodeInvoiceHeader(value);
          break;
        case 'j':
          invoiceOf(rest).status = decodeInvoiceStatus(value);
          keeper.loaded(key, value);
          break;
        case 'k':
          invoiceOf(rest.slice(0, rest.indexOf('/'))).txs.set(rest.slice(rest.indexOf('/') + 1), value);
          break;
        case 'p':
          paymentOf(rest).header = decodePaymentHeader(value);
          break;
        case 'r':
          paymentOf(rest).status = decodePaymentStatus(value);
          keeper.loaded(key, value);
          break;
        case 'x':
          paymentOf(rest.slice(0, rest.indexOf('/'))).txs.set(rest.slice(rest.indexOf('/') + 1), decodePaymentTx(value));
          break;
        case 'y':
          paymentOf(rest.slice(0, rest.indexOf('/'))).responses.set(rest.slice(rest.indexOf('/') + 1), value);
          break;
        case 'w':
          paymentOf(rest).receipt = decodeReceipt(value);
          break;
        default:
          throw new RecordFormatError(`unknown record kind ${JSON.stringify(kind)}`);
      }
    } catch (err) {
      if (err instanceof FunderCorruptRecordError) throw err;
      throw new FunderCorruptRecordError(fullKey, err instanceof Error ? err.message : String(err), { cause: err });
    }
  }
  const corrupt = (key: string, reason: string): never => {
    throw new FunderCorruptRecordError(prefix + key, reason);
  };

  for (const [key, friend] of state.friends) {
    const record = channels.get(key);
    const move = moves.get(key);
    if (record === undefined || move === undefined) return corrupt(`f/${key}`, 'friend without its channel records (c/, m/)');
    const mcs = new Map<string, MutualCredit>();
    for (const b of record.balances) mcs.set(b.currency, { ...newMutualCredit(), balance: b.balance, localPending: b.localPending, remotePending: b.remotePending });
    friend.channel = {
      localPublicKey: state.localPublicKey,
      remotePublicKey: friend.publicKey,
      direction: record.direction,
      lastOutgoing: move,
      lastIncomingToken: record.lastIncomingToken,
      lastIncomingDigest: record.lastIncomingDigest,
      lastIncoming: record.lastIncoming,
      recentIncoming: record.recentIncoming,
      moveTokenCounter: record.moveTokenCounter,
      inconsistencyCounter: record.inconsistencyCounter,
      mutualCredits: mcs,
      localAnnounced: record.localAnnounced,
      remoteAnnounced: record.remoteAnnounced,
    };
  }
  for (const [friendKey, item, key] of queued) {
    const friend = state.friends.get(friendKey);
    if (friend === undefined) continue;
    friend[item.queue].push(item);
    keeper.loaded(key, item);
  }
  for (const entry of txs.values()) {
    if (entry.request === undefined) corrupt(`s/${entry.key}`, 'response stage without its request record');
    const mc = state.friends.get(entry.friendKey)?.channel.mutualCredits.get(entry.currency);
    if (mc === undefined) continue;
    const tx: PendingTx = { request: entry.request!, stage: entry.stage ?? { kind: 'request' } };
    (entry.side === 'L' ? mc.local : mc.remote).set(entry.rk, tx);
    keeper.loaded(`t/${entry.key}`, tx.request);
    if (entry.stage !== undefined) keeper.loaded(`s/${entry.key}`, entry.stage);
  }
  for (const [ik, parts] of invoices) {
    if (parts.header === undefined) return corrupt(`j/${ik}`, 'invoice status without its header (i/)');
    const invoice: OpenInvoice = {
      invoiceId: idBytes(ik, 32), ...parts.header, srcHashedLock: parts.status?.srcHashedLock ?? null, txs: new Map(), accepted: 0n,
      completedBy: parts.status?.completedBy ?? null,
    };
    for (const [rk, value] of parts.txs) {
      let tx;
      try {
        tx = decodeInvoiceTx(value, idBytes(rk, 16));
      } catch (err) {
        throw new FunderCorruptRecordError(`${prefix}k/${ik}/${rk}`, err instanceof Error ? err.message : String(err), { cause: err });
      }
      invoice.txs.set(rk, tx);
      invoice.accepted += tx.destPayment;
      keeper.loaded(`k/${ik}/${rk}`, tx);
    }
    state.invoices.set(ik, invoice);
    keeper.loaded(`i/${ik}`, invoice);
  }
  for (const [pk, parts] of payments) {
    if (parts.header === undefined || parts.status === undefined) corrupt(`p/${pk}`, 'payment records incomplete (p/, r/)');
    const header = parts.header!;
    const status = parts.status!;
    const payment: Payment = {
      paymentId: idBytes(pk, 16), ...header, closing: status.closing, closeWaiter: status.closeWaiter, txs: new Map(), commit: null, receipt: null,
    };
    for (const [rk, txStatus] of status.txs) {
      const fixed = parts.txs.get(rk);
      if (fixed === undefined) corrupt(`r/${pk}`, `names transaction ${rk} without its record`);
      const requestId = idBytes(rk, 16);
      const responseValue = parts.responses.get(rk);
      let response = null;
      if (responseValue !== undefined) {
        try {
          response = decodePaymentResponse(responseValue, requestId);
        } catch (err) {
          throw new FunderCorruptRecordError(`${prefix}y/${pk}/${rk}`, err instanceof Error ? err.message : String(err), { cause: err });
        }
      }
      const tx: PaymentTx = { requestId, ...fixed!, status: txStatus, response };
      payment.txs.set(rk, tx);
      keeper.loaded(`x/${pk}/${rk}`, tx);
      if (response !== null) keeper.loaded(`y/${pk}/${rk}`, response);
    }
    if (status.commitBy !== null) {
      const tx = payment.txs.get(status.commitBy);
      if (tx?.response == null) corrupt(`r/${pk}`, 'commit names a transaction without a response');
      payment.commit = commitOf(payment, tx!, tx!.response!);
    }
    if (parts.receipt !== undefined) {
      const tx = payment.txs.get(parts.receipt.requestKey);
      if (tx?.response == null) corrupt(`w/${pk}`, 'receipt names a transaction without a response');
      payment.receipt = receiptOf(payment, tx!, tx!.response!, parts.receipt.srcPlainLock, parts.receipt.destPlainLock);
      keeper.loaded(`w/${pk}`, payment.receipt);
    }
    state.payments.set(pk, payment);
    keeper.loaded(`p/${pk}`, payment);
    keeper.loaded(`r/${pk}`, records.get(`${prefix}r/${pk}`)!);
  }
  return state;
}

/** The commit a complete response gives the buyer (the handler builds the same one). */
export function commitOf(payment: Payment, tx: PaymentTx, response: NonNullable<PaymentTx['response']>): Commit {
  return {
    responseHash: responseHash(tx.requestId, response.randNonce),
    srcPlainLock: payment.srcPlainLock,
    destHashedLock: response.destHashedLock,
    destPayment: tx.destPayment,
    totalDestPayment: payment.totalDestPayment,
    invoiceId: payment.invoiceId,
    currency: payment.currency,
    signature: response.signature,
  };
}

export function receiptOf(
  payment: Payment, tx: PaymentTx, response: NonNullable<PaymentTx['response']>, srcPlainLock: Uint8Array, destPlainLock: Uint8Array,
): Receipt {
  return {
    responseHash: responseHash(tx.requestId, response.randNonce),
    invoiceId: payment.invoiceId,
    currency: payment.currency,
    srcPlainLock,
    destPlainLock,
    isComplete: true,
    destPayment: tx.destPayment,
    totalDestPayment: payment.totalDestPayment,
    signature: response.signature,
  };
}
