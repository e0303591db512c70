import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  readCommitFile, readInvoiceFile, readPaymentFile, readReceiptFile, readTokenFile, writeCommitFile, writeInvoiceFile,
  writePaymentFile, writeReceiptFile, writeTokenFile,
} from '../../src/files/payment_files.js';
import { U128_MAX } from '../../src/common/bytes.js';

const dir = mkdtempSync(join(tmpdir(), 'offset-payfiles-'));
let counter = 0;
const fresh = (name: string): string => join(dir, `${counter++}-${name}`);
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

t.test('invoice, payment, commit, receipt and token files round-trip exactly, 128-bit values included', async (t) => {
  const invoice = { invoiceId: bytes(32), currency: 'FST', destPublicKey: bytes(32), totalDestPayment: U128_MAX };
  const invoicePath = fresh('invoice');
  writeInvoiceFile(invoicePath, invoice);
  t.same(readInvoiceFile(invoicePath), invoice);
  const json = JSON.parse(readFileSync(invoicePath, 'utf8')) as Record<string, unknown>;
  t.equal(json.kind, 'invoice');
  t.equal(json.totalDestPayment, U128_MAX.toString(), 'amount is a decimal string');

  const payment = { paymentId: bytes(16), invoiceId: invoice.invoiceId, currency: 'FST', totalDestPayment: 7n, destPublicKey: bytes(32) };
  const paymentPath = fresh('payment');
  writePaymentFile(paymentPath, payment);
  t.same(readPaymentFile(paymentPath), payment);

  const commit = {
    responseHash: bytes(32), srcPlainLock: bytes(32), destHashedLock: bytes(32), destPayment: 3n, totalDestPayment: 7n,
    invoiceId: bytes(32), currency: 'ÄB', signature: bytes(64),
  };
  const commitPath = fresh('commit');
  writeCommitFile(commitPath, commit);
  t.same(readCommitFile(commitPath), commit);

  const receipt = {
    responseHash: bytes(32), invoiceId: bytes(32), currency: 'FST', srcPlainLock: bytes(32), destPlainLock: bytes(32),
    isComplete: true, destPayment: 7n, totalDestPayment: 7n, signature: bytes(64),
  };
  const receiptPath = fresh('receipt');
  writeReceiptFile(receiptPath, receipt);
  t.same(readReceiptFile(receiptPath), receipt);

  const token = {
    prefixHash: bytes(32), randNonce: bytes(16), newToken: bytes(64),
    tokenInfo: {
      localPublicKey: bytes(32), remotePublicKey: bytes(32),
      balances: [{ currency: 'FST', balance: -(1n << 127n), localPending: U128_MAX, remotePending: 0n }],
      inconsistencyCounter: (1n << 64n) - 1n, moveTokenCounter: 12n,
    },
  };
  const tokenPath = fresh('token');
  writeTokenFile(tokenPath, token);
  t.same(readTokenFile(tokenPath), token);
  const tokenJson = JSON.parse(readFileSync(tokenPath, 'utf8')) as { tokenInfo: { moveTokenCounter: unknown } };
  t.equal(tokenJson.tokenInfo.moveTokenCounter, '12', '64-bit counters are decimal strings too');
  t.throws(() => writeTokenFile(tokenPath, token), { code: 'ERR_FILE_EXISTS' }, 'never overwrites');
});

t.test('payment files with bad values are refused with the field named', async (t) => {
  const good = { invoiceId: bytes(32), currency: 'FST', destPublicKey: bytes(32), totalDestPayment: 5n };
  const path = fresh('invoice');
  writeInvoiceFile(path, good);
  const base = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['amount as a number', { totalDestPayment: 5 }, /totalDestPayment/],
    ['negative amount', { totalDestPayment: '-5' }, /totalDestPayment/],
    ['zero amount', { totalDestPayment: '0' }, /totalDestPayment/],
    ['amount above u128', { totalDestPayment: (U128_MAX + 1n).toString() }, /totalDestPayment/],
    ['leading zero', { totalDestPayment: '05' }, /totalDestPayment/],
    ['empty currency', { currency: '' }, /currency/],
    ['long currency', { currency: 'ABCDEFGHIJKLMNOPQ' }, /currency/],
    ['short invoice id', { invoiceId: 'AAAA' }, /invoiceId/],
    ['snake_case name', { dest_public_key: base.destPublicKey }, /dest_public_key/],
  ];
  for (const [name, change, field] of cases) {
    const bad = fresh(name.replaceAll(' ', '-'));
    writeFileSync(bad, JSON.stringify({ ...base, ...change }));
    t.throws(() => readInvoiceFile(bad), { code: 'ERR_FILE_INVALID', message: field }, name);
  }
  const receiptPath = fresh('not-a-receipt');
  writeFileSync(receiptPath, readFileSync(path));
  t.throws(() => readReceiptFile(receiptPath), { code: 'ERR_FILE_WRONG_KIND', message: /is an invoice, expected a receipt/ });
});
