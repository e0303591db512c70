import { MAX_ADDRESS_BYTES, MAX_CURRENCIES_PER_FRIEND, MAX_CURRENCY_BYTES, MAX_OPS_PER_MOVE, MAX_RELAYS, MAX_ROUTE_KEYS } from '../constants.js';
import type { FailureCause } from '../api.js';
import type { TxStage } from '../mutual_credit.js';
import type { LastIncomingMove } from '../token_channel.js';
import type {
  CurrencyConfig, Deadline, Downstream, Inconsistency, InvoiceCompletion, InvoiceTx, PaymentTxStatus, QueueName, QueuedOp, Upstream,
} from '../state.js';
import type { Currency, CurrencyOp, FriendTcOp, MoveToken, RelayAddress, RequestOp, ResetTerms, ResponseOp } from '../types.js';
import { RecordFormatError, RecordReader, RecordWriter } from './binary.js';

/**
 * Encoders and decoders of every stored record. Each value starts with a format version byte;
 * ids that the key already carries are not repeated in the value. A decoder either returns a
 * complete value or throws RecordFormatError; the loader turns that into an error naming the key.
 */

/** 2: moves carry time stamps, pending transactions their deadline, deadlines their give-up state. */
export const RECORD_FORMAT = 2;

// Generous bounds for the reader: they only stop a corrupt length from allocating wildly.
const MAX_TEXT_BYTES = 4096;
const MAX_LIST = 1 << 20;

function begin(sizeHint = 128): RecordWriter {
  return new RecordWriter(sizeHint).u8(RECORD_FORMAT);
}

export function openRecord(value: Buffer): RecordReader {
  if (value.length === 0) throw new RecordFormatError('empty record');
  const version = value[0];
  if (version !== RECORD_FORMAT) {
    throw new RecordFormatError(`record format ${version} is not readable by this build (it reads format ${RECORD_FORMAT}; databases of earlier formats are not migrated)`);
  }
  const r = new RecordReader(value);
  r.u8();
  return r;
}

function decodeWhole<T>(value: Buffer, read: (r: RecordReader) => T): T {
  const r = openRecord(value);
  const out = read(r);
  r.end();
  return out;
}

// --- shared pieces -------------------------------------------------------------------------

const writeCurrency = (w: RecordWriter, c: Currency): void => {
  w.string(c);
};
const readCurrency = (r: RecordReader): Currency => r.string(MAX_CURRENCY_BYTES);

function writeRelays(w: RecordWriter, relays: readonly RelayAddress[]): void {
  w.list(relays, (lw, relay) => lw.fixed(relay.publicKey, 32).string(relay.address));
}

function readRelays(r: RecordReader): RelayAddress[] {
  return r.list(MAX_RELAYS * 4, (lr) => ({ publicKey: lr.fixed(32), address: lr.string(MAX_ADDRESS_BYTES) }));
}

function writeRequestBody(w: RecordWriter, op: RequestOp): void {
  w.fixed(op.srcHashedLock, 32).list(op.route, (lw, key) => lw.fixed(key, 32));
  w.unsigned(op.destPayment).unsigned(op.totalDestPayment).fixed(op.invoiceId, 32).unsigned(op.leftFees).uint(op.ttlMs);
}

function readRequestBody(r: RecordReader, requestId: Uint8Array): RequestOp {
  const srcHashedLock = r.fixed(32);
  const route = r.list(MAX_ROUTE_KEYS, (lr) => lr.fixed(32));
  const destPayment = r.unsigned();
  const totalDestPayment = r.unsigned();
  const invoiceId = r.fixed(32);
  const leftFees = r.unsigned();
  const ttlMs = r.uint();
  return { kind: 'request', requestId, srcHashedLock, route, destPayment, totalDestPayment, invoiceId, leftFees, ttlMs };
}

function writeResponseBody(w: RecordWriter, op: { destHashedLock: Uint8Array; isComplete: boolean; randNonce: Uint8Array; signature: Uint8Array }): void {
  w.fixed(op.destHashedLock, 32).bool(op.isComplete).fixed(op.randNonce, 16).fixed(op.signature, 64);
}

function readResponseBody(r: RecordReader): { destHashedLock: Uint8Array; isComplete: boolean; randNonce: Uint8Array; signature: Uint8Array } {
  return { destHashedLock: r.fixed(32), isComplete: r.bool(), randNonce: r.fixed(16), signature: r.fixed(64) };
}

const OP_TAGS = { request: 0, response: 1, cancel: 2, collect: 3, expire: 4 } as const;
/** A cancel with a stated reason (a byte follows); tag 2 stays a cancel without one. */
const CANCEL_WITH_REASON = 5;

function writeOp(w: RecordWriter, op: FriendTcOp): void {
  const reason = op.kind === 'cancel' ? op.reason ?? 0 : 0;
  w.u8(reason !== 0 ? CANCEL_WITH_REASON : OP_TAGS[op.kind]).fixed(op.requestId, 16);
  if (reason !== 0) w.u8(reason);
  switch (op.kind) {
    case 'request':
      writeRequestBody(w, op);
      break;
    case 'response':
      writeResponseBody(w, op);
      break;
    case 'collect':
      w.fixed(op.srcPlainLock, 32).fixed(op.destPlainLock, 32);
      break;
    case 'cancel':
    case 'expire':
      break;
  }
}

function readOp(r: RecordReader): FriendTcOp {
  const tag = r.u8();
  const requestId = r.fixed(16);
  switch (tag) {
    case 0:
      return readRequestBody(r, requestId);
    case 1:
      return { kind: 'response', requestId, ...readResponseBody(r) };
    case 2:
      return { kind: 'cancel', requestId };
    case 3:
      return { kind: 'collect', requestId, srcPlainLock: r.fixed(32), destPlainLock: r.fixed(32) };
    case 4:
      return { kind: 'expire', requestId };
    case CANCEL_WITH_REASON:
      return { kind: 'cancel', requestId, reason: r.u8() };
    default:
      throw new RecordFormatError(`unknown operation tag ${tag}`);
  }
}

function writeTerms(w: RecordWriter, t: ResetTerms): void {
  w.fixed(t.resetToken, 64).u64(t.inconsistencyCounter);
  w.list(t.balanceForReset, (lw, b) => writeCurrency(lw.signed(b.balance), b.currency));
  w.fixed(t.signature, 64);
}

function readTerms(r: RecordReader): ResetTerms {
  const resetToken = r.fixed(64);
  const inconsistencyCounter = r.u64();
  const balanceForReset = r.list(MAX_CURRENCIES_PER_FRIEND, (lr) => {
    const balance = lr.signed();
    return { currency: readCurrency(lr), balance };
  });
  return { resetToken, inconsistencyCounter, balanceForReset, signature: r.fixed(64) };
}

const hexOf = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
const bytesOfHex = (hex: string, length: number): Uint8Array => {
  const out = Buffer.from(hex, 'hex');
  if (out.length !== length) throw new RecordFormatError(`id ${JSON.stringify(hex)} is not ${length} bytes of hex`);
  return new Uint8Array(out);
};
export { bytesOfHex };

// --- node ----------------------------------------------------------------------------------

export interface NodeRecord {
  readonly publicKey: Uint8Array;
  readonly relays: RelayAddress[];
}

export function encodeNode(n: NodeRecord): Buffer {
  const w = begin().fixed(n.publicKey, 32);
  writeRelays(w, n.relays);
  return w.finish();
}

export function decodeNode(value: Buffer): NodeRecord {
  return decodeWhole(value, (r) => ({ publicKey: r.fixed(32), relays: readRelays(r) }));
}

// --- friend --------------------------------------------------------------------------------

/** The persisted part of a friend; queues, the channel and connection flags live elsewhere. */
export interface FriendRecord {
  readonly publicKey: Uint8Array;
  readonly name: string;
  readonly relays: RelayAddress[];
  readonly enabled: boolean;
  readonly configs: Map<Currency, CurrencyConfig>;
  readonly inconsistency: Inconsistency | null;
  readonly settledResetTokens: string[];
  readonly sentRelaysKey: string | null;
  readonly nextSeq: number;
}

export function encodeFriend(f: FriendRecord): Buffer {
  const w = begin(256).fixed(f.publicKey, 32).string(f.name);
  writeRelays(w, f.relays);
  w.bool(f.enabled);
  w.list([...f.configs], (lw, [currency, cfg]) => {
    writeCurrency(lw, currency);
    lw.uint(cfg.rate.mul).uint(cfg.rate.add).unsigned(cfg.remoteMaxDebt).bool(cfg.isOpen);
  });
  w.optional(f.inconsistency, (ow, inc) => {
    writeTerms(ow, inc.localTerms);
    ow.optional(inc.remoteTerms, writeTerms);
  });
  w.list(f.settledResetTokens, (lw, hex) => lw.fixed(Buffer.from(hex, 'hex'), 64));
  w.optional(f.sentRelaysKey, (ow, key) => ow.string(key));
  w.uint(f.nextSeq);
  return w.finish();
}

export function decodeFriend(value: Buffer): FriendRecord {
  return decodeWhole(value, (r) => {
    const publicKey = r.fixed(32);
    const name = r.string(MAX_TEXT_BYTES);
    const relays = readRelays(r);
    const enabled = r.bool();
    const configs = new Map<Currency, CurrencyConfig>();
    const entries = r.list(MAX_LIST, (lr) => {
      const currency = readCurrency(lr);
      const mul = lr.uint();
      const add = lr.uint();
      return [currency, { rate: { mul, add }, remoteMaxDebt: lr.unsigned(), isOpen: lr.bool() }] as const;
    });
    for (const [currency, cfg] of entries) configs.set(currency, cfg);
    const inconsistency = r.optional((or) => ({ localTerms: readTerms(or), remoteTerms: or.optional(readTerms) }));
    const settledResetTokens = r.list(8, (lr) => hexOf(lr.fixed(64)));
    const sentRelaysKey = r.optional((or) => or.string(MAX_LIST));
    const nextSeq = r.uint();
    return { publicKey, name, relays, enabled, configs, inconsistency, settledResetTokens, sentRelaysKey, nextSeq };
  });
}

// --- token channel -------------------------------------------------------------------------

/** The channel without its last outgoing move (stored apart: it changes only when we send). */
export interface ChannelRecord {
  readonly direction: 'incoming' | 'outgoing';
  readonly lastIncomingToken: Uint8Array;
  readonly lastIncomingDigest: Uint8Array | null;
  readonly lastIncoming: LastIncomingMove | null;
  readonly recentIncoming: string[];
  readonly lastIncomingTimeMs: number;
  readonly moveTokenCounter: bigint;
  readonly inconsistencyCounter: bigint;
  readonly balances: { currency: Currency; balance: bigint; localPending: bigint; remotePending: bigint }[];
  readonly localAnnounced: Currency[];
  readonly remoteAnnounced: Currency[];
}

type Balance = { currency: Currency; balance: bigint; localPending: bigint; remotePending: bigint };

function writeBalance(w: RecordWriter, b: Balance): void {
  writeCurrency(w, b.currency);
  w.signed(b.balance).unsigned(b.localPending).unsigned(b.remotePending);
}

function readBalance(r: RecordReader): Balance {
  return { currency: readCurrency(r), balance: r.signed(), localPending: r.unsigned(), remotePending: r.unsigned() };
}

export function encodeChannel(c: ChannelRecord): Buffer {
  const w = begin(256).u8(c.direction === 'incoming' ? 0 : 1).fixed(c.lastIncomingToken, 64);
  w.optional(c.lastIncomingDigest, (ow, d) => ow.fixed(d, 32));
  w.optional(c.lastIncoming, (ow, m) => {
    ow.fixed(m.prefixHash, 32).fixed(m.infoHash, 32).fixed(m.randNonce, 16).fixed(m.newToken, 64).u64(m.moveTokenCounter);
    ow.list(m.balances, writeBalance);
  });
  w.list(c.recentIncoming, (lw, hex) => lw.fixed(Buffer.from(hex, 'hex'), 64));
  w.uint(c.lastIncomingTimeMs).u64(c.moveTokenCounter).u64(c.inconsistencyCounter);
  w.list(c.balances, (lw, b) => {
    writeCurrency(lw, b.currency);
    lw.signed(b.balance).unsigned(b.localPending).unsigned(b.remotePending);
  });
  w.list(c.localAnnounced, writeCurrency).list(c.remoteAnnounced, writeCurrency);
  return w.finish();
}

export function decodeChannel(value: Buffer): ChannelRecord {
  return decodeWhole(value, (r) => {
    const d = r.u8();
    if (d > 1) throw new RecordFormatError(`bad direction ${d}`);
    return {
      direction: d === 0 ? 'incoming' : 'outgoing',
      lastIncomingToken: r.fixed(64),
      lastIncomingDigest: r.optional((or) => or.fixed(32)),
      lastIncoming: r.optional((or) => ({
        prefixHash: or.fixed(32), infoHash: or.fixed(32), randNonce: or.fixed(16), newToken: or.fixed(64), moveTokenCounter: or.u64(),
        balances: or.list(MAX_CURRENCIES_PER_FRIEND, readBalance),
      })),
      recentIncoming: r.list(64, (lr) => hexOf(lr.fixed(64))),
      lastIncomingTimeMs: r.uint(),
      moveTokenCounter: r.u64(),
      inconsistencyCounter: r.u64(),
      balances: r.list(MAX_CURRENCIES_PER_FRIEND, (lr) => ({
        currency: readCurrency(lr), balance: lr.signed(), localPending: lr.unsigned(), remotePending: lr.unsigned(),
      })),
      localAnnounced: r.list(MAX_CURRENCIES_PER_FRIEND, readCurrency),
      remoteAnnounced: r.list(MAX_CURRENCIES_PER_FRIEND, readCurrency),
    };
  });
}

export function encodeMove(m: MoveToken): Buffer {
  const w = begin(256 + m.ops.length * 160).fixed(m.oldToken, 64);
  w.list(m.ops, (lw, item) => {
    writeCurrency(lw, item.currency);
    writeOp(lw, item.op);
  });
  w.optional(m.relays, writeRelays);
  w.optional(m.activeCurrencies, (ow, list) => ow.list(list, writeCurrency));
  w.fixed(m.infoHash, 32).fixed(m.randNonce, 16).fixed(m.newToken, 64).uint(m.timeMs);
  return w.finish();
}

export function decodeMove(value: Buffer): MoveToken {
  return decodeWhole(value, (r) => {
    const oldToken = r.fixed(64);
    const ops = r.list(MAX_OPS_PER_MOVE, (lr): CurrencyOp => ({ currency: readCurrency(lr), op: readOp(lr) }));
    const relays = r.optional(readRelays);
    const activeCurrencies = r.optional((or) => or.list(MAX_CURRENCIES_PER_FRIEND, readCurrency));
    return { oldToken, ops, relays, activeCurrencies, infoHash: r.fixed(32), randNonce: r.fixed(16), newToken: r.fixed(64), timeMs: r.uint() };
  });
}

// --- pending transactions of a mutual credit -------------------------------------------------

/** The request of a pending transaction and its deadline; written once, as neither changes. */
export function encodeTxRequest(tx: { readonly request: RequestOp; readonly deadlineMs: number }): Buffer {
  const w = begin(168 + tx.request.route.length * 32);
  writeRequestBody(w, tx.request);
  return w.uint(tx.deadlineMs).finish();
}

export function decodeTxRequest(value: Buffer, requestId: Uint8Array): { request: RequestOp; deadlineMs: number } {
  return decodeWhole(value, (r) => ({ request: readRequestBody(r, requestId), deadlineMs: r.uint() }));
}

/** The response stage a pending transaction reaches at most once. */
export function encodeTxStage(stage: Extract<TxStage, { kind: 'response' }>): Buffer {
  const w = begin(120);
  writeResponseBody(w, stage);
  return w.finish();
}

export function decodeTxStage(value: Buffer): Extract<TxStage, { kind: 'response' }> {
  return decodeWhole(value, (r) => ({ kind: 'response', ...readResponseBody(r) }));
}

// --- queued operations, request routing, deadlines --------------------------------------------

const QUEUES: readonly QueueName[] = ['backwards', 'requests', 'userRequests'];

export function encodeQueued(item: QueuedOp): Buffer {
  const w = begin(200).u8(QUEUES.indexOf(item.queue));
  writeCurrency(w, item.currency);
  writeOp(w, item.op);
  return w.finish();
}

export function decodeQueued(value: Buffer, seq: number): QueuedOp {
  return decodeWhole(value, (r) => {
    const q = r.u8();
    const queue = QUEUES[q];
    if (queue === undefined) throw new RecordFormatError(`unknown queue ${q}`);
    const currency = readCurrency(r);
    return { queue, currency, op: readOp(r), seq };
  });
}

export function encodeUpstream(u: Upstream): Buffer {
  const w = begin(64);
  switch (u.kind) {
    case 'friend':
      return writeCurrency(w.u8(0).fixed(Buffer.from(u.friendKey, 'hex'), 32), u.currency), w.finish();
    case 'payment':
      return w.u8(1).fixed(Buffer.from(u.paymentKey, 'hex'), 16).finish();
    case 'orphan':
      return w.u8(2).finish();
  }
}

export function decodeUpstream(value: Buffer): Upstream {
  return decodeWhole(value, (r): Upstream => {
    const kind = r.u8();
    if (kind === 0) return { kind: 'friend', friendKey: hexOf(r.fixed(32)), currency: readCurrency(r) };
    if (kind === 1) return { kind: 'payment', paymentKey: hexOf(r.fixed(16)) };
    if (kind === 2) return { kind: 'orphan' };
    throw new RecordFormatError(`unknown upstream kind ${kind}`);
  });
}

export function encodeDownstream(d: Downstream): Buffer {
  const w = begin(40);
  return d.kind === 'friend'
    ? w.u8(0).fixed(Buffer.from(d.friendKey, 'hex'), 32).finish()
    : w.u8(1).fixed(Buffer.from(d.invoiceKey, 'hex'), 32).finish();
}

export function decodeDownstream(value: Buffer): Downstream {
  return decodeWhole(value, (r): Downstream => {
    const kind = r.u8();
    if (kind === 0) return { kind: 'friend', friendKey: hexOf(r.fixed(32)) };
    if (kind === 1) return { kind: 'invoice', invoiceKey: hexOf(r.fixed(32)) };
    throw new RecordFormatError(`unknown downstream kind ${kind}`);
  });
}

export function encodeDeadline(d: Deadline): Buffer {
  const w = begin(64).fixed(Buffer.from(d.friendKey, 'hex'), 32);
  writeCurrency(w, d.currency);
  return w.uint(d.deadlineMs).bool(d.abandoned).finish();
}

export function decodeDeadline(value: Buffer): Deadline {
  return decodeWhole(value, (r) => ({ friendKey: hexOf(r.fixed(32)), currency: readCurrency(r), deadlineMs: r.uint(), abandoned: r.bool() }));
}

// --- invoices (seller) -------------------------------------------------------------------------

/** What an invoice is: fixed at creation. */
export interface InvoiceHeader {
  readonly currency: Currency;
  readonly totalDestPayment: bigint;
  readonly destPlainLock: Uint8Array;
  readonly owner: string;
}

export function encodeInvoiceHeader(i: InvoiceHeader): Buffer {
  const w = begin(128);
  writeCurrency(w, i.currency);
  return w.unsigned(i.totalDestPayment).fixed(i.destPlainLock, 32).string(i.owner).finish();
}

export function decodeInvoiceHeader(value: Buffer): InvoiceHeader {
  return decodeWhole(value, (r) => ({ currency: readCurrency(r), totalDestPayment: r.unsigned(), destPlainLock: r.fixed(32), owner: r.string(MAX_TEXT_BYTES) }));
}

export interface InvoiceStatus {
  readonly completedBy: InvoiceCompletion | null;
}

export function encodeInvoiceStatus(s: InvoiceStatus): Buffer {
  const w = begin(168);
  w.optional(s.completedBy, (ow, c) => ow.fixed(c.responseHash, 32).fixed(c.signature, 64).unsigned(c.destPayment).fixed(c.srcHashedLock, 32));
  return w.finish();
}

export function decodeInvoiceStatus(value: Buffer): InvoiceStatus {
  return decodeWhole(value, (r) => ({
    completedBy: r.optional((or) => ({ responseHash: or.fixed(32), signature: or.fixed(64), destPayment: or.unsigned(), srcHashedLock: or.fixed(32) })),
  }));
}

export function encodeInvoiceTx(t: InvoiceTx): Buffer {
  const w = begin(96).fixed(Buffer.from(t.friendKey, 'hex'), 32);
  writeCurrency(w, t.currency);
  return w.unsigned(t.destPayment).fixed(t.srcHashedLock, 32).finish();
}

export function decodeInvoiceTx(value: Buffer, requestId: Uint8Array): InvoiceTx {
  return decodeWhole(value, (r) => ({
    friendKey: hexOf(r.fixed(32)), currency: readCurrency(r), requestId, destPayment: r.unsigned(), srcHashedLock: r.fixed(32),
  }));
}

// --- payments (buyer) --------------------------------------------------------------------------

/** What a payment is: fixed at creation. */
export interface PaymentHeader {
  readonly invoiceId: Uint8Array;
  readonly currency: Currency;
  readonly totalDestPayment: bigint;
  readonly destPublicKey: Uint8Array;
  readonly srcPlainLock: Uint8Array;
  readonly appId: string;
  readonly owner: string;
  readonly ackUid: Uint8Array;
}

export function encodePaymentHeader(p: PaymentHeader): Buffer {
  const w = begin(192).fixed(p.invoiceId, 32);
  writeCurrency(w, p.currency);
  return w.unsigned(p.totalDestPayment).fixed(p.destPublicKey, 32).fixed(p.srcPlainLock, 32).string(p.appId).string(p.owner).fixed(p.ackUid, 16).finish();
}

export function decodePaymentHeader(value: Buffer): PaymentHeader {
  return decodeWhole(value, (r) => ({
    invoiceId: r.fixed(32), currency: readCurrency(r), totalDestPayment: r.unsigned(), destPublicKey: r.fixed(32),
    srcPlainLock: r.fixed(32), appId: r.string(MAX_TEXT_BYTES), owner: r.string(MAX_TEXT_BYTES), ackUid: r.fixed(16),
  }));
}

const TX_STATUSES: readonly PaymentTxStatus[] = ['pending', 'responded', 'failed', 'collected'];
/** 'failed' with its cause (reason byte, local flag) following; plain 'failed' has none. */
const FAILED_WITH_CAUSE = 4;

/** The small, changing part of a payment: rewritten on each transition, a few dozen bytes. */
export interface PaymentStatusRecord {
  readonly closing: boolean;
  readonly closeWaiter: string | null;
  /** Request id (hex) of the transaction whose response made the commit. */
  readonly commitBy: string | null;
  /** Each transaction's status, in creation order, and why it failed if it did. */
  readonly txs: readonly (readonly [string, PaymentTxStatus, (FailureCause | null)?])[];
}

export function encodePaymentStatus(s: PaymentStatusRecord): Buffer {
  const w = begin(48 + s.txs.length * 17).bool(s.closing);
  w.optional(s.closeWaiter, (ow, v) => ow.string(v));
  w.optional(s.commitBy, (ow, rk) => ow.fixed(Buffer.from(rk, 'hex'), 16));
  w.list(s.txs, (lw, [rk, status, failure]) => {
    lw.fixed(Buffer.from(rk, 'hex'), 16);
    if (status === 'failed' && failure !== undefined && failure !== null) lw.u8(FAILED_WITH_CAUSE).u8(failure.reason).bool(failure.local);
    else lw.u8(TX_STATUSES.indexOf(status));
  });
  return w.finish();
}

export function decodePaymentStatus(value: Buffer): PaymentStatusRecord {
  return decodeWhole(value, (r) => ({
    closing: r.bool(),
    closeWaiter: r.optional((or) => or.string(MAX_TEXT_BYTES)),
    commitBy: r.optional((or) => hexOf(or.fixed(16))),
    txs: r.list(MAX_LIST, (lr) => {
      const rk = hexOf(lr.fixed(16));
      const s = lr.u8();
      if (s === FAILED_WITH_CAUSE) return [rk, 'failed', { reason: lr.u8(), local: lr.bool() }] as const;
      const status = TX_STATUSES[s];
      if (status === undefined) throw new RecordFormatError(`unknown transaction status ${s}`);
      return [rk, status] as const;
    }),
  }));
}

/** A payment transaction's fixed part. */
export function encodePaymentTx(t: { friendKey: string; destPayment: bigint; fees: bigint }): Buffer {
  return begin(48).fixed(Buffer.from(t.friendKey, 'hex'), 32).unsigned(t.destPayment).unsigned(t.fees).finish();
}

export function decodePaymentTx(value: Buffer): { friendKey: string; destPayment: bigint; fees: bigint } {
  return decodeWhole(value, (r) => ({ friendKey: hexOf(r.fixed(32)), destPayment: r.unsigned(), fees: r.unsigned() }));
}

export function encodePaymentResponse(op: ResponseOp): Buffer {
  const w = begin(120);
  writeResponseBody(w, op);
  return w.finish();
}

export function decodePaymentResponse(value: Buffer, requestId: Uint8Array): ResponseOp {
  return decodeWhole(value, (r) => ({ kind: 'response', requestId, ...readResponseBody(r) }));
}

/** The receipt's own parts; the rest comes from the payment and the transaction's response. */
export interface ReceiptRecord {
  readonly requestKey: string;
  readonly srcPlainLock: Uint8Array;
  readonly destPlainLock: Uint8Array;
}

export function encodeReceipt(r: ReceiptRecord): Buffer {
  return begin(96).fixed(Buffer.from(r.requestKey, 'hex'), 16).fixed(r.srcPlainLock, 32).fixed(r.destPlainLock, 32).finish();
}

export function decodeReceipt(value: Buffer): ReceiptRecord {
  return decodeWhole(value, (r) => ({ requestKey: hexOf(r.fixed(16)), srcPlainLock: r.fixed(32), destPlainLock: r.fixed(32) }));
}
