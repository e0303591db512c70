import { z } from 'zod';
import { I128_MAX, I128_MIN, U128_MAX, U64_MAX, parseDecimal } from '../common/bytes.js';
import type { BalanceInfo, TokenInfo } from '../funder/signing.js';
import { MAX_CURRENCY_BYTES } from '../funder/constants.js';
import type { Commit, Hash, Invoice, Receipt, Signature, Uid } from '../funder/types.js';
import { FileKind, fixedBytes, readFileOfKind, writeNewFile } from './formats.js';

/**
 * The files a payment leaves behind: the seller's invoice, the buyer's payment handle, the commit
 * the buyer hands the seller, the receipt the buyer keeps, and a friend's last signed token.
 * One convention for all of them: camelCase names, base64url bytes, and decimal strings for
 * every 64- and 128-bit value.
 */

function decimal(min: bigint, max: bigint, what: string) {
  return z.string().transform((text, ctx) => {
    const value = parseDecimal(text, min, max);
    if (value === null) {
      ctx.addIssue({ code: 'custom', message: `must be a decimal string, ${what}` });
      return z.NEVER;
    }
    return value;
  });
}

const u128 = decimal(0n, U128_MAX, 'an integer from 0 to 2^128-1');
const positiveU128 = decimal(1n, U128_MAX, 'an integer from 1 to 2^128-1');
const i128 = decimal(I128_MIN, I128_MAX, 'a signed 128-bit integer');
const u64 = decimal(0n, U64_MAX, 'an integer from 0 to 2^64-1');

export function isValidCurrencyName(currency: string): boolean {
  const bytes = Buffer.byteLength(currency, 'utf8');
  return bytes >= 1 && bytes <= MAX_CURRENCY_BYTES && !/[\u0000-\u001f]/.test(currency);
}

const currency = z.string().refine(isValidCurrencyName, { message: `must be 1-${MAX_CURRENCY_BYTES} bytes of UTF-8` });
const key = fixedBytes(32);
const hash32 = fixedBytes(32);
const uid = fixedBytes(16);
const signature = fixedBytes(64);

export const InvoiceFileSchema = z.strictObject({
  invoiceId: hash32,
  currency,
  destPublicKey: key,
  totalDestPayment: positiveU128,
});

export const PaymentFileSchema = z.strictObject({
  paymentId: uid,
  invoiceId: hash32,
  currency,
  totalDestPayment: positiveU128,
  destPublicKey: key,
});

export const CommitFileSchema = z.strictObject({
  responseHash: hash32,
  srcPlainLock: hash32,
  destHashedLock: hash32,
  destPayment: positiveU128,
  totalDestPayment: positiveU128,
  invoiceId: hash32,
  currency,
  signature,
});

export const ReceiptFileSchema = z.strictObject({
  responseHash: hash32,
  invoiceId: hash32,
  currency,
  srcPlainLock: hash32,
  destPlainLock: hash32,
  isComplete: z.boolean(),
  destPayment: positiveU128,
  totalDestPayment: positiveU128,
  signature,
});

export const TokenFileSchema = z.strictObject({
  prefixHash: hash32,
  randNonce: uid,
  newToken: signature,
  tokenInfo: z.strictObject({
    /** The signer: the friend whose token this is. */
    localPublicKey: key,
    remotePublicKey: key,
    balances: z.array(z.strictObject({
      currency,
      balance: i128,
      localPendingDebt: u128,
      remotePendingDebt: u128,
    })).max(64),
    inconsistencyCounter: u64,
    moveTokenCounter: u64,
  }),
});

/** A payment a buyer started: enough to ask the node for its status, and to know what it was for. */
export interface PaymentFile {
  readonly paymentId: Uid;
  readonly invoiceId: Hash;
  readonly currency: string;
  readonly totalDestPayment: bigint;
  readonly destPublicKey: Uint8Array;
}

/** A move token as the friend signed it, with the balances it commits to (from the signer's side). */
export interface TokenFile {
  readonly prefixHash: Hash;
  readonly randNonce: Uid;
  readonly newToken: Signature;
  readonly tokenInfo: TokenInfo;
}

export function readInvoiceFile(path: string): Invoice {
  return readFileOfKind(path, FileKind.Invoice, InvoiceFileSchema);
}

export function writeInvoiceFile(path: string, invoice: Invoice): void {
  writeNewFile(path, FileKind.Invoice, {
    invoiceId: invoice.invoiceId, currency: invoice.currency, destPublicKey: invoice.destPublicKey,
    totalDestPayment: invoice.totalDestPayment,
  });
}

export function readPaymentFile(path: string): PaymentFile {
  return readFileOfKind(path, FileKind.Payment, PaymentFileSchema);
}

export function writePaymentFile(path: string, payment: PaymentFile): void {
  writeNewFile(path, FileKind.Payment, {
    paymentId: payment.paymentId, invoiceId: payment.invoiceId, currency: payment.currency,
    totalDestPayment: payment.totalDestPayment, destPublicKey: payment.destPublicKey,
  });
}

export function readCommitFile(path: string): Commit {
  return readFileOfKind(path, FileKind.Commit, CommitFileSchema);
}

export function writeCommitFile(path: string, commit: Commit): void {
  writeNewFile(path, FileKind.Commit, {
    responseHash: commit.responseHash, srcPlainLock: commit.srcPlainLock, destHashedLock: commit.destHashedLock,
    destPayment: commit.destPayment, totalDestPayment: commit.totalDestPayment, invoiceId: commit.invoiceId,
    currency: commit.currency, signature: commit.signature,
  });
}

export function readReceiptFile(path: string): Receipt {
  return readFileOfKind(path, FileKind.Receipt, ReceiptFileSchema);
}

export function writeReceiptFile(path: string, receipt: Receipt): void {
  writeNewFile(path, FileKind.Receipt, {
    responseHash: receipt.responseHash, invoiceId: receipt.invoiceId, currency: receipt.currency,
    srcPlainLock: receipt.srcPlainLock, destPlainLock: receipt.destPlainLock, isComplete: receipt.isComplete,
    destPayment: receipt.destPayment, totalDestPayment: receipt.totalDestPayment, signature: receipt.signature,
  });
}

export function readTokenFile(path: string): TokenFile {
  const file = readFileOfKind(path, FileKind.Token, TokenFileSchema);
  const info = file.tokenInfo;
  const balances: BalanceInfo[] = info.balances.map((b) => ({
    currency: b.currency, balance: b.balance, localPending: b.localPendingDebt, remotePending: b.remotePendingDebt,
  }));
  return {
    prefixHash: file.prefixHash, randNonce: file.randNonce, newToken: file.newToken,
    tokenInfo: {
      localPublicKey: info.localPublicKey, remotePublicKey: info.remotePublicKey, balances,
      inconsistencyCounter: info.inconsistencyCounter, moveTokenCounter: info.moveTokenCounter,
    },
  };
}

export function writeTokenFile(path: string, token: TokenFile): void {
  const info = token.tokenInfo;
  writeNewFile(path, FileKind.Token, {
    prefixHash: token.prefixHash, randNonce: token.randNonce, newToken: token.newToken,
    tokenInfo: {
      localPublicKey: info.localPublicKey, remotePublicKey: info.remotePublicKey,
      balances: info.balances.map((b) => ({
        currency: b.currency, balance: b.balance, localPendingDebt: b.localPending, remotePendingDebt: b.remotePending,
      })),
      inconsistencyCounter: info.inconsistencyCounter, moveTokenCounter: info.moveTokenCounter,
    },
  });
}
