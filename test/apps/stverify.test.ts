import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimNet, pay, uid, type SimNode } from '../funder/sim.js';
import { idKey } from '../../src/funder/mutual_credit.js';
import { prefixHash } from '../../src/funder/signing.js';
import { bytesEqual } from '../../src/common/bytes.js';
import { tokenInfo } from '../../src/funder/token_channel.js';
import { writeInvoiceFile, writeReceiptFile, writeTokenFile, type TokenFile } from '../../src/files/payment_files.js';
import { runProgramToEnd } from '../../src/apps/launcher.js';
import type { Receipt } from '../../src/funder/types.js';

const dir = mkdtempSync(join(tmpdir(), 'offset-stverify-'));
let counter = 0;
const fresh = (name: string): string => join(dir, `${counter++}-${name}`);

/** Delivers everything, keeping the last move `from` sent `to` that `to` accepted, as a token file would carry it. */
function runKeepingToken(net: SimNet, from: SimNode, to: SimNode): TokenFile | null {
  let token: TokenFile | null = null;
  while (net.queue.length > 0) {
    const item = net.queue.shift()!;
    net.deliver(item);
    if (item.from !== from || !bytesEqual(item.to, to.pk) || item.message.kind !== 'moveTokenRequest') continue;
    const move = item.message.moveToken;
    const ch = to.state.friends.get(idKey(from.pk))!.channel;
    if (!bytesEqual(ch.lastIncomingToken, move.newToken)) continue;
    token = {
      prefixHash: prefixHash(move), randNonce: move.randNonce, newToken: move.newToken,
      tokenInfo: tokenInfo(ch, ch.mutualCredits, ch.moveTokenCounter, 'remote'),
    };
  }
  return token;
}

// One real payment through the pure payment core: the seller b is paid 50 by a.
const net = new SimNet('stverify');
const a = net.add('a');
const b = net.add('b');
net.befriend(a, b, 'FST', 100n, 100n);
const { commit } = pay(net, a, b, [a, b], 1, 50n, 0n);
if (commit === null) throw new Error('payment did not complete');
if (b.app({ kind: 'commitInvoice', commit }) !== null) throw new Error('commit refused');
const token = runKeepingToken(net, b, a);
if (a.app({ kind: 'paymentStatus', paymentId: uid(1) }) !== null) throw new Error('status refused');
const status = a.appInbox.findLast((m) => m.kind === 'paymentStatus');
if (status?.kind !== 'paymentStatus' || status.status.kind !== 'success') throw new Error('no receipt');
const receipt: Receipt = status.status.receipt;
const invoice = { invoiceId: uid(1, 32), currency: 'FST', destPublicKey: b.pk, totalDestPayment: 50n };

t.test('verify-receipt accepts the receipt of a real payment and prints what it proves', async (t) => {
  const invoicePath = fresh('invoice');
  const receiptPath = fresh('receipt');
  writeInvoiceFile(invoicePath, invoice);
  writeReceiptFile(receiptPath, receipt);
  const human = await runProgramToEnd('stverify', ['verify-receipt', '--invoice', invoicePath, '--receipt', receiptPath]);
  t.equal(human.code, 0, human.stderr);
  t.match(human.stdout, /^Receipt is valid!/);
  t.match(human.stdout, /paid: 50 FST/);
  const json = await runProgramToEnd('stverify', ['verify-receipt', '-i', invoicePath, '-r', receiptPath, '--json']);
  t.equal(json.code, 0);
  t.match(JSON.parse(json.stdout), { valid: true, currency: 'FST', totalDestPayment: '50' });
});

t.test('verify-receipt refuses a receipt that does not pay the invoice, with exit 1 and one line', async (t) => {
  const receiptPath = fresh('receipt');
  writeReceiptFile(receiptPath, receipt);
  const variants: Array<[string, typeof invoice, RegExp]> = [
    ['another currency', { ...invoice, currency: 'FSU' }, /currency differs.*ERR_RECEIPT_CURRENCY_MISMATCH/],
    ['another amount', { ...invoice, totalDestPayment: 51n }, /total differs.*ERR_RECEIPT_TOTAL_MISMATCH/],
    ['another seller', { ...invoice, destPublicKey: a.pk }, /signature does not verify/],
    ['another invoice', { ...invoice, invoiceId: uid(2, 32) }, /different invoice/],
  ];
  for (const [name, variant, problem] of variants) {
    const invoicePath = fresh('invoice');
    writeInvoiceFile(invoicePath, variant);
    const result = await runProgramToEnd('stverify', ['verify-receipt', '--invoice', invoicePath, '--receipt', receiptPath]);
    t.equal(result.code, 1, `${name}: exit 1`);
    t.match(result.stderr, problem, name);
    t.equal(result.stderr.trim().split('\n').length, 1, `${name}: one line`);
    t.equal(result.stdout, '', `${name}: nothing claimed valid`);
  }
  // A forged amount: the signature covers it.
  const forged = fresh('forged');
  writeReceiptFile(forged, { ...receipt, destPayment: 49n });
  const invoicePath = fresh('invoice');
  writeInvoiceFile(invoicePath, invoice);
  const result = await runProgramToEnd('stverify', ['verify-receipt', '-i', invoicePath, '-r', forged]);
  t.equal(result.code, 1);
  t.match(result.stderr, /^stverify: error: receipt is not valid: the seller's signature does not verify/);
});

t.test('verify-token accepts the last token the seller signed and shows its balance', async (t) => {
  t.ok(token, 'the seller moved the token after collecting');
  const tokenPath = fresh('token');
  writeTokenFile(tokenPath, token!);
  const human = await runProgramToEnd('stverify', ['verify-token', '--token', tokenPath]);
  t.equal(human.code, 0, human.stderr);
  t.match(human.stdout, /^Token is valid!/);
  t.match(human.stdout, /- FST: balance=50, lpd=0, rpd=0/);
  const json = await runProgramToEnd('stverify', ['--json', 'verify-token', '--token', tokenPath]);
  t.match(JSON.parse(json.stdout), { valid: true, balances: [{ currency: 'FST', balance: '50' }] });

  const tampered = fresh('tampered');
  const info = token!.tokenInfo;
  writeTokenFile(tampered, { ...token!, tokenInfo: { ...info, balances: info.balances.map((x) => ({ ...x, balance: 500n })) } });
  const bad = await runProgramToEnd('stverify', ['verify-token', '--token', tampered]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /token is not valid/);
});

t.test('stverify reports missing and mistaken files and bad usage distinctly', async (t) => {
  const missing = await runProgramToEnd('stverify', ['verify-token', '--token', join(dir, 'nope')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /nope: no such file/);
  const invoicePath = fresh('invoice');
  writeInvoiceFile(invoicePath, invoice);
  const wrongKind = await runProgramToEnd('stverify', ['verify-token', '--token', invoicePath]);
  t.equal(wrongKind.code, 1);
  t.match(wrongKind.stderr, /is an invoice, expected a token file/);
  const corrupt = fresh('corrupt');
  writeFileSync(corrupt, readFileSync(invoicePath, 'utf8').slice(0, 20));
  const corruptResult = await runProgramToEnd('stverify', ['verify-receipt', '-i', corrupt, '-r', corrupt]);
  t.equal(corruptResult.code, 1);
  t.match(corruptResult.stderr, /not valid JSON/);
  const usage = await runProgramToEnd('stverify', ['verify-receipt', '--invoice', invoicePath]);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--receipt/);
  const help = await runProgramToEnd('stverify', ['verify-receipt', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /--invoice <file>/);
});
