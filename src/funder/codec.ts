import * as flatbuffers from 'flatbuffers';
import { I128_MAX, I128_MIN, U64_MAX } from '../common/bytes.js';
import { OffsetError } from '../common/errors.js';
import { FlatTable, readU128 } from '../wire/flat_table.js';
import { verifyBuffer } from '../wire/verify.js';
import { FriendMessageBody } from '../wire/generated/offset/funder/friend-message-body.js';
import { FriendTcOp as OpType } from '../wire/generated/offset/funder/friend-tc-op.js';
import {
  MAX_ADDRESS_BYTES, MAX_CURRENCIES_PER_FRIEND, MAX_CURRENCY_BYTES, MAX_OPS_PER_MOVE, MAX_RELAYS,
  MAX_REMAINING_ROUTE_KEYS,
} from './constants.js';
import type { CurrencyBalance, CurrencyOp, FriendMessage, FriendTcOp, MoveToken, RelayAddress, ResetTerms } from './types.js';

/**
 * FriendMessage bytes (schemas/funder.fbs) to plain values and back. Decoding takes untrusted
 * bytes, runs the shared verifier, then reads through the bounds-checked reader with the
 * protocol's limits, and returns a value or a FunderDecodeError; it never
 * throws and never hands out a half-read object. Lists are read up to one element past their
 * protocol limit so the core rejects the move itself (a counted peer fault, not a silent drop).
 */
export class FunderDecodeError extends OffsetError {
  constructor(message: string) {
    super('ERR_FUNDER_DECODE', message);
  }
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: FunderDecodeError };

class Invalid extends Error {}

function need<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Invalid(`missing ${what}`);
  return value;
}

function bytes(t: FlatTable, index: number, size: number, what: string): Uint8Array {
  return new Uint8Array(need(t.struct(index, size), what));
}

function u128(t: FlatTable, index: number, what: string): bigint {
  return readU128(need(t.struct(index, 16), what));
}

function i128(t: FlatTable, index: number, what: string): bigint {
  return BigInt.asIntN(128, readU128(need(t.struct(index, 16), what)));
}

function currency(t: FlatTable, index: number): string {
  // One byte over the limit is let through so the core reports the bad name itself.
  return need(t.string(index, MAX_CURRENCY_BYTES + 1), 'currency');
}

function readOp(t: FlatTable): CurrencyOp {
  const type = t.u8(1);
  const body = need(t.table(2), 'op');
  const requestId = bytes(body, 0, 16, 'request id');
  let op: FriendTcOp;
  switch (type) {
    case OpType.RequestSendFunds: {
      const route = need(body.structVector(2, 32, MAX_REMAINING_ROUTE_KEYS + 1), 'route');
      const keys: Uint8Array[] = [];
      for (let i = 0; i < route.length; i++) keys.push(route.bytes.slice(i * 32, i * 32 + 32));
      op = {
        kind: 'request', requestId, srcHashedLock: bytes(body, 1, 32, 'src lock'), route: keys,
        destPayment: u128(body, 3, 'dest payment'), totalDestPayment: u128(body, 4, 'total'),
        invoiceId: bytes(body, 5, 32, 'invoice id'), leftFees: u128(body, 6, 'left fees'), ttlMs: body.u32(7),
      };
      break;
    }
    case OpType.ResponseSendFunds:
      op = {
        kind: 'response', requestId, destHashedLock: bytes(body, 1, 32, 'dest lock'), isComplete: body.bool(2),
        randNonce: bytes(body, 3, 16, 'nonce'), signature: bytes(body, 4, 64, 'signature'),
      };
      break;
    case OpType.CancelSendFunds:
      op = { kind: 'cancel', requestId, reason: body.u8(1) };
      break;
    case OpType.CollectSendFunds:
      op = { kind: 'collect', requestId, srcPlainLock: bytes(body, 1, 32, 'src lock'), destPlainLock: bytes(body, 2, 32, 'dest lock') };
      break;
    case OpType.ExpireSendFunds:
      op = { kind: 'expire', requestId };
      break;
    default:
      throw new Invalid('unknown operation');
  }
  return { currency: currency(t, 0), op };
}

function readRelay(t: FlatTable): RelayAddress {
  return { publicKey: bytes(t, 0, 32, 'relay key'), address: need(t.string(1, MAX_ADDRESS_BYTES), 'address') };
}

function readMoveToken(t: FlatTable): MoveToken {
  const ops = need(t.tables(1, MAX_OPS_PER_MOVE + 1), 'operations').map(readOp);
  const relays = t.tables(2, MAX_RELAYS + 1)?.map(readRelay) ?? null;
  const activeCurrencies = t.tables(3, MAX_CURRENCIES_PER_FRIEND + 1)?.map((c) => currency(c, 0)) ?? null;
  const timeMs = t.u64(7);
  if (timeMs > BigInt(Number.MAX_SAFE_INTEGER)) throw new Invalid('time stamp out of range');
  return {
    oldToken: bytes(t, 0, 64, 'old token'), ops, relays, activeCurrencies,
    infoHash: bytes(t, 4, 32, 'info hash'), randNonce: bytes(t, 5, 16, 'nonce'), newToken: bytes(t, 6, 64, 'new token'),
    timeMs: Number(timeMs),
  };
}

function readResetTerms(t: FlatTable): ResetTerms {
  const balanceForReset: CurrencyBalance[] = need(t.tables(2, MAX_CURRENCIES_PER_FRIEND + 1), 'balances')
    .map((b) => ({ currency: currency(b, 0), balance: i128(b, 1, 'balance') }));
  return {
    resetToken: bytes(t, 0, 64, 'reset token'), inconsistencyCounter: t.u64(1), balanceForReset,
    signature: bytes(t, 3, 64, 'signature'),
  };
}

export function decodeFriendMessage(input: Uint8Array): DecodeResult<FriendMessage> {
  const invalid = verifyBuffer(input, 'offset.funder.FriendMessage');
  if (invalid !== null) return { ok: false, error: new FunderDecodeError(`FriendMessage: ${invalid.message}`) };
  try {
    const root = FlatTable.root(input);
    const type = root.u8(0);
    const body = need(root.table(1), 'body');
    if (type === FriendMessageBody.MoveTokenRequest) {
      return { ok: true, value: { kind: 'moveTokenRequest', moveToken: readMoveToken(need(body.table(0), 'move token')), tokenWanted: body.bool(1) } };
    }
    if (type === FriendMessageBody.ResetTerms) {
      return { ok: true, value: { kind: 'inconsistencyError', resetTerms: readResetTerms(body) } };
    }
    return { ok: false, error: new FunderDecodeError('FriendMessage: unknown body') };
  } catch (err) {
    return { ok: false, error: new FunderDecodeError(`FriendMessage: ${(err as Error).message}`) };
  }
}

// ---------------------------------------------------------------- encoding

const sharedBuilder = new flatbuffers.Builder(4096);

/** The builder's write position; bulk copies through it replace per-byte writes. */
interface BuilderSpace {
  space: number;
}

function fixed(b: flatbuffers.Builder, value: Uint8Array, size: number): number {
  if (value.byteLength !== size) throw new RangeError(`expected ${size} bytes`);
  b.prep(1, size);
  const inner = b as unknown as BuilderSpace;
  inner.space -= size;
  b.dataBuffer().bytes().set(value, inner.space);
  return b.offset();
}

const TWO_POW_32 = 0x1_0000_0000;

/** A 128-bit struct (high u64 first); amounts below 2^53 (nearly all) avoid bigint arithmetic. */
function wide(b: flatbuffers.Builder, value: bigint): number {
  b.prep(8, 16);
  const inner = b as unknown as BuilderSpace;
  inner.space -= 16;
  const at = inner.space;
  const bytes = b.dataBuffer().bytes();
  if (value >= 0n && value <= 0x1f_ffff_ffff_ffffn) {
    const n = Number(value);
    let lo = n % TWO_POW_32;
    let hi = Math.floor(n / TWO_POW_32);
    bytes.fill(0, at, at + 8);
    for (let i = 0; i < 4; i++) {
      bytes[at + 8 + i] = lo & 0xff;
      lo >>>= 8;
      bytes[at + 12 + i] = hi & 0xff;
      hi >>>= 8;
    }
    return b.offset();
  }
  const bits = BigInt.asUintN(128, value);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setBigUint64(at, bits >> 64n, true);
  view.setBigUint64(at + 8, bits & U64_MAX, true);
  return b.offset();
}

function offsets(b: flatbuffers.Builder, items: number[]): number {
  b.startVector(4, items.length, 4);
  for (let i = items.length - 1; i >= 0; i--) b.addOffset(items[i]);
  return b.endVector();
}

function writeOp(b: flatbuffers.Builder, item: CurrencyOp): number {
  // Every op names its currency; one copy per message serves them all.
  const name = b.createSharedString(item.currency);
  const op = item.op;
  let type: OpType;
  let body: number;
  switch (op.kind) {
    case 'request': {
      b.startVector(32, op.route.length, 1);
      for (let i = op.route.length - 1; i >= 0; i--) fixed(b, op.route[i], 32);
      const route = b.endVector();
      b.startObject(8);
      b.addFieldStruct(3, wide(b, op.destPayment), 0);
      b.addFieldStruct(4, wide(b, op.totalDestPayment), 0);
      b.addFieldStruct(6, wide(b, op.leftFees), 0);
      b.addFieldOffset(2, route, 0);
      b.addFieldInt32(7, op.ttlMs | 0, 0);
      b.addFieldStruct(0, fixed(b, op.requestId, 16), 0);
      b.addFieldStruct(1, fixed(b, op.srcHashedLock, 32), 0);
      b.addFieldStruct(5, fixed(b, op.invoiceId, 32), 0);
      body = b.endObject();
      type = OpType.RequestSendFunds;
      break;
    }
    case 'response':
      b.startObject(5);
      b.addFieldStruct(0, fixed(b, op.requestId, 16), 0);
      b.addFieldStruct(1, fixed(b, op.destHashedLock, 32), 0);
      b.addFieldStruct(3, fixed(b, op.randNonce, 16), 0);
      b.addFieldStruct(4, fixed(b, op.signature, 64), 0);
      b.addFieldInt8(2, op.isComplete ? 1 : 0, 0);
      body = b.endObject();
      type = OpType.ResponseSendFunds;
      break;
    case 'collect':
      b.startObject(3);
      b.addFieldStruct(0, fixed(b, op.requestId, 16), 0);
      b.addFieldStruct(1, fixed(b, op.srcPlainLock, 32), 0);
      b.addFieldStruct(2, fixed(b, op.destPlainLock, 32), 0);
      body = b.endObject();
      type = OpType.CollectSendFunds;
      break;
    case 'cancel':
      b.startObject(2);
      b.addFieldStruct(0, fixed(b, op.requestId, 16), 0);
      b.addFieldInt8(1, op.reason ?? 0, 0);
      body = b.endObject();
      type = OpType.CancelSendFunds;
      break;
    case 'expire':
      b.startObject(1);
      b.addFieldStruct(0, fixed(b, op.requestId, 16), 0);
      body = b.endObject();
      type = OpType.ExpireSendFunds;
      break;
  }
  b.startObject(3);
  b.addFieldOffset(0, name, 0);
  b.addFieldOffset(2, body, 0);
  b.addFieldInt8(1, type, 0);
  return b.endObject();
}

function writeMoveToken(b: flatbuffers.Builder, move: MoveToken): number {
  const ops = offsets(b, move.ops.map((op) => writeOp(b, op)));
  let relays = 0;
  if (move.relays !== null) {
    relays = offsets(b, move.relays.map((r) => {
      const address = b.createString(r.address);
      b.startObject(2);
      b.addFieldStruct(0, fixed(b, r.publicKey, 32), 0);
      b.addFieldOffset(1, address, 0);
      return b.endObject();
    }));
  }
  let currencies = 0;
  if (move.activeCurrencies !== null) {
    currencies = offsets(b, move.activeCurrencies.map((c) => {
      const name = b.createString(c);
      b.startObject(1);
      b.addFieldOffset(0, name, 0);
      return b.endObject();
    }));
  }
  if (!Number.isSafeInteger(move.timeMs) || move.timeMs < 0) throw new RangeError('time stamp out of range');
  b.startObject(8);
  b.addFieldInt64(7, BigInt(move.timeMs), 0n);
  b.addFieldStruct(0, fixed(b, move.oldToken, 64), 0);
  b.addFieldOffset(1, ops, 0);
  if (move.relays !== null) b.addFieldOffset(2, relays, 0);
  if (move.activeCurrencies !== null) b.addFieldOffset(3, currencies, 0);
  b.addFieldStruct(4, fixed(b, move.infoHash, 32), 0);
  b.addFieldStruct(5, fixed(b, move.randNonce, 16), 0);
  b.addFieldStruct(6, fixed(b, move.newToken, 64), 0);
  return b.endObject();
}

function writeResetTerms(b: flatbuffers.Builder, terms: ResetTerms): number {
  const balances = offsets(b, terms.balanceForReset.map((bal) => {
    if (bal.balance < I128_MIN || bal.balance > I128_MAX) throw new RangeError('balance out of i128 range');
    const name = b.createString(bal.currency);
    b.startObject(2);
    b.addFieldStruct(1, wide(b, bal.balance), 0);
    b.addFieldOffset(0, name, 0);
    return b.endObject();
  }));
  b.startObject(4);
  b.addFieldInt64(1, BigInt.asIntN(64, terms.inconsistencyCounter), 0n);
  b.addFieldOffset(2, balances, 0);
  b.addFieldStruct(0, fixed(b, terms.resetToken, 64), 0);
  b.addFieldStruct(3, fixed(b, terms.signature, 64), 0);
  return b.endObject();
}

export function encodeFriendMessage(message: FriendMessage): Uint8Array {
  const b = sharedBuilder;
  b.clear();
  let body: number;
  let type: FriendMessageBody;
  if (message.kind === 'moveTokenRequest') {
    const move = writeMoveToken(b, message.moveToken);
    b.startObject(2);
    b.addFieldOffset(0, move, 0);
    b.addFieldInt8(1, message.tokenWanted ? 1 : 0, 0);
    body = b.endObject();
    type = FriendMessageBody.MoveTokenRequest;
  } else {
    body = writeResetTerms(b, message.resetTerms);
    type = FriendMessageBody.ResetTerms;
  }
  b.startObject(2);
  b.addFieldOffset(1, body, 0);
  b.addFieldInt8(0, type, 0);
  b.finish(b.endObject());
  return b.asUint8Array().slice();
}
