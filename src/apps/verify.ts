import { OffsetError } from '../common/errors.js';
import { toBase64Url } from '../common/bytes.js';
import { SigningDomain } from '../crypto/domains.js';
import { verifySignature } from '../crypto/identity.js';
import { verifyReceipt, type ReceiptError } from '../funder/receipt.js';
import { moveSignedBytes, tokenInfoHash } from '../funder/signing.js';
import type { Invoice, Receipt } from '../funder/types.js';
import type { TokenFile } from '../files/payment_files.js';

/**
 * Offline checks behind stverify. A receipt is checked against the invoice it claims to pay
 * (same invoice, currency and total, the completing transaction, the seller's signature). A token
 * is checked against the key embedded in it, so it proves only that the file is what that key
 * signed; whoever relies on it must know that key belongs to the friend they mean.
 */

export const VerifyErrorCode = {
  BadReceipt: 'ERR_VERIFY_BAD_RECEIPT',
  BadToken: 'ERR_VERIFY_BAD_TOKEN',
} as const;

const receiptProblems: Record<ReceiptError, string> = {
  ERR_RECEIPT_INVOICE_MISMATCH: 'it is for a different invoice',
  ERR_RECEIPT_CURRENCY_MISMATCH: 'its currency differs from the invoice\'s',
  ERR_RECEIPT_TOTAL_MISMATCH: 'its total differs from the invoice\'s amount',
  ERR_RECEIPT_NOT_COMPLETE: 'it is not for the transaction that completed the payment',
  ERR_RECEIPT_BAD_AMOUNT: 'its amount is zero or above the total',
  ERR_RECEIPT_BAD_SIGNATURE: 'the seller\'s signature does not verify',
};

export class VerifyError extends OffsetError {
  readonly reason: string;
  constructor(code: string, reason: string, message: string) {
    super(code, message);
    this.name = 'VerifyError';
    this.reason = reason;
  }
}

/** Throws a VerifyError (code ERR_VERIFY_BAD_RECEIPT, reason the receipt check's code) unless valid. */
export function checkReceipt(invoice: Invoice, receipt: Receipt): void {
  const problem = verifyReceipt(invoice, receipt);
  if (problem !== null) {
    throw new VerifyError(VerifyErrorCode.BadReceipt, problem, `receipt is not valid: ${receiptProblems[problem]} (${problem})`);
  }
}

export function tokenSignatureValid(token: TokenFile): boolean {
  const signed = moveSignedBytes(token.prefixHash, tokenInfoHash(token.tokenInfo), token.randNonce);
  return verifySignature(SigningDomain.MoveToken, token.tokenInfo.localPublicKey, signed, token.newToken);
}

export function checkToken(token: TokenFile): void {
  if (!tokenSignatureValid(token)) {
    throw new VerifyError(VerifyErrorCode.BadToken, 'ERR_TOKEN_BAD_SIGNATURE',
      'token is not valid: the signature does not verify with the key in the file (ERR_TOKEN_BAD_SIGNATURE)');
  }
}

/** A token's content in JSON-ready form: decimal strings and base64url keys. */
export function describeToken(token: TokenFile): Record<string, unknown> {
  const info = token.tokenInfo;
  return {
    signer: toBase64Url(info.localPublicKey),
    friend: toBase64Url(info.remotePublicKey),
    inconsistencyCounter: info.inconsistencyCounter.toString(),
    moveTokenCounter: info.moveTokenCounter.toString(),
    balances: info.balances.map((b) => ({
      currency: b.currency, balance: b.balance.toString(),
      localPendingDebt: b.localPending.toString(), remotePendingDebt: b.remotePending.toString(),
    })),
  };
}
