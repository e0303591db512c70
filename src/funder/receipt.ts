import { bytesEqual } from '../common/bytes.js';
import { hashLock, receiptSignedFields, verifyResponseSignature, commitSignedFields } from './signing.js';
import type { Commit, Invoice, Receipt } from './types.js';

/**
 * Offline checks of what a seller signed. A receipt proves the invoice was paid in full: it must
 * name the invoice, its currency and total, be the transaction that completed it, and carry the
 * seller's signature over both revealed locks. Returns null when valid, else the reason.
 */
export type ReceiptError =
  | 'ERR_RECEIPT_INVOICE_MISMATCH'
  | 'ERR_RECEIPT_CURRENCY_MISMATCH'
  | 'ERR_RECEIPT_TOTAL_MISMATCH'
  | 'ERR_RECEIPT_NOT_COMPLETE'
  | 'ERR_RECEIPT_BAD_AMOUNT'
  | 'ERR_RECEIPT_BAD_SIGNATURE';

export function verifyReceipt(invoice: Invoice, receipt: Receipt): ReceiptError | null {
  if (!bytesEqual(invoice.invoiceId, receipt.invoiceId)) return 'ERR_RECEIPT_INVOICE_MISMATCH';
  if (invoice.currency !== receipt.currency) return 'ERR_RECEIPT_CURRENCY_MISMATCH';
  if (invoice.totalDestPayment !== receipt.totalDestPayment) return 'ERR_RECEIPT_TOTAL_MISMATCH';
  if (!receipt.isComplete) return 'ERR_RECEIPT_NOT_COMPLETE';
  if (receipt.destPayment <= 0n || receipt.destPayment > receipt.totalDestPayment) return 'ERR_RECEIPT_BAD_AMOUNT';
  if (!verifyResponseSignature(invoice.destPublicKey, receiptSignedFields(receipt), receipt.signature)) return 'ERR_RECEIPT_BAD_SIGNATURE';
  return null;
}

/** What a seller checks before collecting: the commit is for this invoice and carries its own signature. */
export function verifyCommit(invoice: Invoice, commit: Commit, expectedSrcHashedLock?: Uint8Array): ReceiptError | null {
  if (!bytesEqual(invoice.invoiceId, commit.invoiceId)) return 'ERR_RECEIPT_INVOICE_MISMATCH';
  if (invoice.currency !== commit.currency) return 'ERR_RECEIPT_CURRENCY_MISMATCH';
  if (invoice.totalDestPayment !== commit.totalDestPayment) return 'ERR_RECEIPT_TOTAL_MISMATCH';
  if (commit.destPayment <= 0n || commit.destPayment > commit.totalDestPayment) return 'ERR_RECEIPT_BAD_AMOUNT';
  if (expectedSrcHashedLock !== undefined && !bytesEqual(hashLock(commit.srcPlainLock), expectedSrcHashedLock)) return 'ERR_RECEIPT_BAD_SIGNATURE';
  if (!verifyResponseSignature(invoice.destPublicKey, commitSignedFields(commit), commit.signature)) return 'ERR_RECEIPT_BAD_SIGNATURE';
  return null;
}
