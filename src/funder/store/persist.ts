import { bytesEqual } from '../../common/bytes.js';
import { OffsetError } from '../../common/errors.js';
import type { ChangeSet, FailureCause } from '../api.js';
import { newMutualCredit, type MutualCredit, type PendingTx } from '../mutual_credit.js';
import { responseHash } from '../signing.js';
import type { FunderState, OpenInvoice, Payment, PaymentTx, QueuedOp } from '../state.js';
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

/**
 * One record an entity should have on disk. `sub` names it inside its entity: the kind letter,
 * plus the request id for per-transaction records. No closures: this runs for every changed
 * entity of every batch.
 */
interface Desired {
  readonly sub: string;
  /** undefined: always write. */
  readonly tag: Tag | undefined;
  readonly encode: (value: unknown) => Buffer;
  readonly value: unknown;
}

function desired<T>(sub: string, tag: Tag | undefined, encode: (value: T) => Buffer, value: T): Desired {
  return { sub, tag, encode: encode as (value: unknown) => Buffer, value };
}

const asIs = (value: Buffer): Buffer => value;

/** A small record compared by content: rewritten only when its bytes change. */
function small(value: Buffer, sub = ''): Desired {
  return desired(sub, value, asIs, value);
}

function sameTag(old: Tag | undefined, tag: Tag): boolean {
  return old === tag || (tag instanceof Buffer && old instanceof Buffer && old.equals(tag));
}

/** Kinds whose entity spans several keys: member kind -> kind of the entity's primary record. */
const GROUP_OF_KIND: Readonly<Record<string, string>> = { t: 't', s: 't', i: 'i', j: 'i', k: 'i', p: 'p', r: 'p', w: 'p', x: 'p', y: 'p' };

/** The stored key of member `sub` of entity `rest` (the part of its primary key after "k/"). */
function memberKey(sub: string, rest: string): string {
  return sub.length === 1 ? `${sub}/${rest}` : `${sub[0]}/${rest}/${sub.slice(1)}`;
}

export class RecordKeeper {
  /** Key -> tag of what is on disk under it, for entities stored under one key. */
  private readonly single = new Map<string, Tag | undefined>();
  /** Entity (key of its primary record) -> member -> tag, for entities spanning several keys. */
  private readonly groups = new Map<string, Map<string, Tag | undefined>>();

  constructor(private readonly prefix = '') {}

  /** Registers a record found on disk at start-up. */
  loaded(key: string, tag: Tag | undefined): void {
    const group = GROUP_OF_KIND[key[0]];
    if (group === undefined) {
      this.single.set(key, tag);
      return;
    }
    // Per-transaction members carry a request id after the entity id.
    const rest = key.slice(2);
    const perRequest = key[0] === 'k' || key[0] === 'x' || key[0] === 'y';
    const cut = perRequest ? rest.lastIndexOf('/') : rest.length;
    const id = `${group}/${rest.slice(0, cut)}`;
    const sub = perRequest ? key[0] + rest.slice(cut + 1) : key[0];
    let members = this.groups.get(id);
    if (members === undefined) this.groups.set(id, (members = new Map()));
    members.set(sub, tag);
  }

  /** Makes the record under `key` on disk match `want` (null: no record). */
  private syncOne(key: string, want: Desired | null, ops: Map<string, Buffer | null>): void {
    if (want === null) {
      if (this.single.delete(key)) ops.set(this.prefix + key, null);
      return;
    }
    if (want.tag !== undefined && this.single.has(key) && sameTag(this.single.get(key), want.tag)) return;
    ops.set(this.prefix + key, want.encode(want.value));
    this.single.set(key, want.tag);
  }

  /** Makes the records of entity `kind/rest` on disk exactly `wanted`, appending the writes to `ops`. */
  private sync(kind: string, rest: string, wanted: readonly Desired[], ops: Map<string, Buffer | null>): void {
    const id = `${kind}/${rest}`;
    let members = this.groups.get(id);
    for (const want of wanted) {
      if (want.tag !== undefined && members !== undefined && members.has(want.sub) && sameTag(members.get(want.sub), want.tag)) continue;
      ops.set(this.prefix + memberKey(want.sub, rest), want.encode(want.value));
      if (members === undefined) this.groups.set(id, (members = new Map()));
      members.set(want.sub, want.tag);
    }
    if (members === undefined) return;
    // Every wanted member is in the map now; anything more is a record the entity no longer has.
    if (members.size > wanted.length) {
      const keep = new Set<string>();
      for (const want of wanted) keep.add(want.sub);
      for (const sub of [...members.keys()]) {
        if (keep.has(sub)) continue;
        ops.set(this.prefix + memberKey(sub, rest), null);
        members.delete(sub);
      }
    }
    if (members.size === 0) this.groups.delete(id);
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
      this.syncOne(`c/${key}`, friend === undefined ? null : desired('c', undefined, encodeChannelOf, friend.channel), ops);
      const move = friend?.channel.lastOutgoing;
      this.syncOne(`m/${key}`, move === undefined ? null : desired('m', move, encodeMove, move), ops);
    }
    const wanted: Desired[] = [];
    for (const id of changes.txs) {
      const [friendKey, side, rk] = id.split('\0', 3);
      const currency = id.slice(friendKey.length + side.length + rk.length + 3);
      const mc = state.friends.get(friendKey)?.channel.mutualCredits.get(currency);
      const tx = side === 'L' ? mc?.local.get(rk) : mc?.remote.get(rk);
      wanted.length = 0;
      if (tx !== undefined) {
        wanted.push(desired('t', tx.request, encodeTxRequest, tx));
        if (tx.stage.kind === 'response') wanted.push(desired('s', tx.stage, encodeTxStage, tx.stage));
      }
      this.sync('t', `${friendKey}/${side}/${rk}/${currency}`, wanted, ops);
    }
    for (const [id, item] of changes.queued) {
      const [friendKey, seq] = id.split('\0');
      this.syncOne(`q/${friendKey}/${seq.padStart(12, '0')}`, item === null ? null : desired('q', item, encodeQueued, item), ops);
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
      wanted.length = 0;
      if (invoice !== undefined) invoiceRecords(invoice, wanted);
      this.sync('i', ik, wanted, ops);
    }
    for (const pk of changes.payments) {
      const payment = state.payments.get(pk);
      wanted.length = 0;
      if (payment !== undefined) paymentRecords(payment, wanted);
      this.sync('p', pk, wanted, ops);
    }
    return ops;
  }
}

function encodeChannelOf(ch: TokenChannel): Buffer {
  return encodeChannel(channelRecord(ch));
}

function channelRecord(ch: TokenChannel): Parameters<typeof encodeChannel>[0] {
  const balances = [];
  for (const [currency, mc] of ch.mutualCredits) balances.push({ currency, balance: mc.balance, localPending: mc.localPending, remotePending: mc.remotePending });
  return { ...ch, balances };
}

function invoiceRecords(invoice: OpenInvoice, out: Desired[]): void {
  out.push(desired('i', invoice, encodeInvoiceHeader, invoice));
  if (invoice.completedBy !== null) out.push(small(encodeInvoiceStatus(invoice), 'j'));
  for (const [rk, tx] of invoice.txs) out.push(desired(`k${rk}`, tx, encodeInvoiceTx, tx));
}

function bySignature(payment: Payment, signature: Uint8Array | undefined): string | null {
  if (signature === undefined) return null;
  for (const [rk, tx] of payment.txs) if (tx.response !== null && bytesEqual(tx.response.signature, signature)) return rk;
  return null;
}

function encodeReceiptOf(payment: Payment): Buffer {
  const receipt = payment.receipt!;
  return encodeReceipt({ requestKey: bySignature(payment, receipt.signature)!, srcPlainLock: receipt.srcPlainLock, destPlainLock: receipt.destPlainLock });
}

function paymentRecords(payment: Payment, out: Desired[]): void {
  out.push(desired('p', payment, encodePaymentHeader, payment));
  const txs: [string, PaymentTx['status'], FailureCause | null][] = [];
  for (const [rk, tx] of payment.txs) {
    txs.push([rk, tx.status, tx.failure ?? null]);
    out.push(desired(`x${rk}`, tx, encodePaymentTx, tx));
    if (tx.response !== null) out.push(desired(`y${rk}`, tx.response, encodePaymentResponse, tx.response));
  }
  out.push(small(encodePaymentStatus({
    closing: payment.closing, closeWaiter: payment.closeWaiter, commitBy: bySignature(payment, payment.commit?.signature), txs,
  }), 'r'));
  // The receipt's tag is the receipt object, the bytes come from the payment around it.
  if (payment.receipt !== null && bySignature(payment, payment.receipt.signature) !== null) {
    out.push({ sub: 'w', tag: payment.receipt, encode: encodeReceiptOf as (value: unknown) => Buffer, value: payment });
  }
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
  const txs = new Map<string, {
    friendKey: string; side: string; rk: string; currency: string; request?: PendingTx['request']; deadlineMs?: number; stage?: PendingTx['stage']; key: string;
  }>();
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
          if (kind === 't') ({ request: entry.request, deadlineMs: entry.deadlineMs } = decodeTxRequest(value, idBytes(rk, 16)));
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
      lastIncomingTimeMs: record.lastIncomingTimeMs,
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
    const tx: PendingTx = { request: entry.request!, stage: entry.stage ?? { kind: 'request' }, deadlineMs: entry.deadlineMs! };
    (entry.side === 'L' ? mc.local : mc.remote).set(entry.rk, tx);
    keeper.loaded(`t/${entry.key}`, tx.request);
    if (entry.stage !== undefined) keeper.loaded(`s/${entry.key}`, entry.stage);
  }
  for (const [ik, parts] of invoices) {
    if (parts.header === undefined) return corrupt(`j/${ik}`, 'invoice status without its header (i/)');
    const invoice: OpenInvoice = {
      invoiceId: idBytes(ik, 32), ...parts.header, txs: new Map(), completedBy: parts.status?.completedBy ?? null,
    };
    for (const [rk, value] of parts.txs) {
      let tx;
      try {
        tx = decodeInvoiceTx(value, idBytes(rk, 16));
      } catch (err) {
        throw new FunderCorruptRecordError(`${prefix}k/${ik}/${rk}`, err instanceof Error ? err.message : String(err), { cause: err });
      }
      invoice.txs.set(rk, tx);
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
    for (const [rk, txStatus, failure] of status.txs) {
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
      if (failure !== undefined && failure !== null) tx.failure = failure;
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
