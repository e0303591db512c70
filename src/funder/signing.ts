import { CanonicalWriter } from '../crypto/canonical.js';
import { SigningDomain } from '../crypto/domains.js';
import { verifySignature } from '../crypto/identity.js';
import { hash } from '../crypto/primitives.js';
import type {
  Commit, Currency, CurrencyOp, Hash, MoveToken, PublicKey, Receipt, RelayAddress, ResetTerms, Signature, Uid,
} from './types.js';

/**
 * Every buffer the payment core hashes or signs, written with the length-prefixed canonical
 * encoding. Sender and receiver build these independently, so any field left out here is a
 * field a peer could change without detection.
 */

export interface Signer {
  readonly publicKey: PublicKey;
  sign(domain: SigningDomain, message: Uint8Array): Signature;
}

export interface BalanceInfo {
  readonly currency: Currency;
  readonly balance: bigint;
  readonly localPending: bigint;
  readonly remotePending: bigint;
}

export interface TokenInfo {
  readonly localPublicKey: PublicKey;
  readonly remotePublicKey: PublicKey;
  /** Sorted by currency name bytes. */
  readonly balances: readonly BalanceInfo[];
  readonly inconsistencyCounter: bigint;
  readonly moveTokenCounter: bigint;
}

function writeOp(w: CanonicalWriter, item: CurrencyOp): void {
  w.string(item.currency);
  const op = item.op;
  switch (op.kind) {
    case 'request':
      w.u8(0).fixed(op.requestId, 16).fixed(op.srcHashedLock, 32);
      w.list(op.route, (lw, key) => lw.fixed(key, 32));
      w.u128(op.destPayment).u128(op.totalDestPayment).fixed(op.invoiceId, 32).u128(op.leftFees).u32(op.ttlMs);
      break;
    case 'response':
      w.u8(1).fixed(op.requestId, 16).fixed(op.destHashedLock, 32).bool(op.isComplete);
      w.fixed(op.randNonce, 16).fixed(op.signature, 64);
      break;
    case 'cancel':
      w.u8(2).fixed(op.requestId, 16).u8(op.reason ?? 0);
      break;
    case 'collect':
      w.u8(3).fixed(op.requestId, 16).fixed(op.srcPlainLock, 32).fixed(op.destPlainLock, 32);
      break;
    case 'expire':
      w.u8(4).fixed(op.requestId, 16);
      break;
  }
}

function writeRelays(w: CanonicalWriter, relays: readonly RelayAddress[]): void {
  w.list(relays, (lw, relay) => lw.fixed(relay.publicKey, 32).string(relay.address));
}

/** Commits to the previous token, the time stamp and everything the move carries besides balances. */
export function prefixHash(move: Pick<MoveToken, 'oldToken' | 'ops' | 'relays' | 'activeCurrencies' | 'timeMs'>): Hash {
  const w = new CanonicalWriter(512);
  w.fixed(move.oldToken, 64).u64(BigInt(move.timeMs));
  w.list(move.ops, writeOp);
  w.optional(move.relays, writeRelays);
  w.optional(move.activeCurrencies, (ow, list) => ow.list(list, (lw, c) => lw.string(c)));
  return hash(w.finish());
}

export function tokenInfoHash(info: TokenInfo): Hash {
  const w = new CanonicalWriter(256);
  w.fixed(info.localPublicKey, 32).fixed(info.remotePublicKey, 32);
  w.list(info.balances, (lw, b) => lw.string(b.currency).i128(b.balance).u128(b.localPending).u128(b.remotePending));
  w.u64(info.inconsistencyCounter).u64(info.moveTokenCounter);
  return hash(w.finish());
}

export function moveSignedBytes(prefix: Hash, infoHash: Hash, randNonce: Uid): Uint8Array {
  return new CanonicalWriter(96).fixed(prefix, 32).fixed(infoHash, 32).fixed(randNonce, 16).finish();
}

/** Identifies a received move exactly, so a retransmission is recognised as a duplicate. */
export function moveDigest(move: MoveToken, prefix: Hash = prefixHash(move)): Hash {
  return hash(new CanonicalWriter(160).fixed(prefix, 32).fixed(move.infoHash, 32).fixed(move.randNonce, 16)
    .fixed(move.newToken, 64).finish());
}

export function verifyMoveSignature(signer: PublicKey, move: MoveToken, prefix: Hash): boolean {
  return verifySignature(SigningDomain.MoveToken, signer, moveSignedBytes(prefix, move.infoHash, move.randNonce), move.newToken);
}

export function responseHash(requestId: Uid, randNonce: Uid): Hash {
  return hash(new CanonicalWriter(40).fixed(requestId, 16).fixed(randNonce, 16).finish());
}

export interface ResponseSignedFields {
  readonly responseHash: Hash;
  readonly srcHashedLock: Hash;
  readonly destHashedLock: Hash;
  readonly isComplete: boolean;
  readonly destPayment: bigint;
  readonly totalDestPayment: bigint;
  readonly invoiceId: Hash;
  readonly currency: Currency;
}

/** What the seller signs in a response; the same signature is the receipt's. Binds the currency. */
export function responseSignedBytes(f: ResponseSignedFields): Uint8Array {
  return new CanonicalWriter(200).fixed(f.responseHash, 32).fixed(f.srcHashedLock, 32).fixed(f.destHashedLock, 32)
    .bool(f.isComplete).u128(f.destPayment).u128(f.totalDestPayment).fixed(f.invoiceId, 32).string(f.currency)
    .finish();
}

export function verifyResponseSignature(seller: PublicKey, f: ResponseSignedFields, signature: Signature): boolean {
  return verifySignature(SigningDomain.FundsResponse, seller, responseSignedBytes(f), signature);
}

export function hashLock(plain: Hash): Hash {
  return hash(plain);
}

export function commitSignedFields(commit: Commit): ResponseSignedFields {
  return {
    responseHash: commit.responseHash,
    srcHashedLock: hashLock(commit.srcPlainLock),
    destHashedLock: commit.destHashedLock,
    isComplete: true,
    destPayment: commit.destPayment,
    totalDestPayment: commit.totalDestPayment,
    invoiceId: commit.invoiceId,
    currency: commit.currency,
  };
}

export function receiptSignedFields(receipt: Receipt): ResponseSignedFields {
  return {
    responseHash: receipt.responseHash,
    srcHashedLock: hashLock(receipt.srcPlainLock),
    destHashedLock: hashLock(receipt.destPlainLock),
    isComplete: receipt.isComplete,
    destPayment: receipt.destPayment,
    totalDestPayment: receipt.totalDestPayment,
    invoiceId: receipt.invoiceId,
    currency: receipt.currency,
  };
}

export function resetTermsSignedBytes(proposer: PublicKey, peer: PublicKey, terms: Omit<ResetTerms, 'signature'>): Uint8Array {
  return new CanonicalWriter(256).fixed(proposer, 32).fixed(peer, 32).fixed(terms.resetToken, 64)
    .u64(terms.inconsistencyCounter)
    .list(terms.balanceForReset, (lw, b) => lw.string(b.currency).i128(b.balance))
    .finish();
}

export function verifyResetTerms(proposer: PublicKey, peer: PublicKey, terms: ResetTerms): boolean {
  return verifySignature(SigningDomain.ResetTerms, proposer, resetTermsSignedBytes(proposer, peer, terms), terms.signature);
}
