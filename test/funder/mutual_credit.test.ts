import t from 'tap';
import { U128_MAX } from '../../src/common/bytes.js';
import { Identity } from '../../src/crypto/identity.js';
import { SigningDomain } from '../../src/crypto/domains.js';
import {
  applyIncoming, applyOutgoing, cloneMutualCredit, newMutualCredit, withinTrust, type MutualCredit,
} from '../../src/funder/mutual_credit.js';
import { hashLock, responseHash, responseSignedBytes } from '../../src/funder/signing.js';
import type { RequestOp, ResponseOp } from '../../src/funder/types.js';
import { MAX_REQUEST_TTL_MS } from '../../src/funder/constants.js';

/** Each operation applied on both sides of one channel: the sender's copy and the receiver's. */

/** The stamp of the moves in these tests; requests live 10 s from it. */
const NOW = 1_000_000;
const AFTER_DEADLINE = NOW + 10_000;

const seller = Identity.generate();
const srcPlain = new Uint8Array(32).fill(1);
const destPlain = new Uint8Array(32).fill(2);
const request = (id: number, dest = 10n, fees = 2n, route: Uint8Array[] = []): RequestOp => ({
  kind: 'request', requestId: new Uint8Array(16).fill(id), srcHashedLock: hashLock(srcPlain), route, destPayment: dest,
  totalDestPayment: dest, invoiceId: new Uint8Array(32).fill(3), leftFees: fees, ttlMs: 10_000,
});
const response = (req: RequestOp, signer = seller): ResponseOp => {
  const randNonce = new Uint8Array(16).fill(4);
  const destHashedLock = hashLock(destPlain);
  const signature = signer.sign(SigningDomain.FundsResponse, responseSignedBytes({
    responseHash: responseHash(req.requestId, randNonce), srcHashedLock: req.srcHashedLock, destHashedLock, isComplete: true,
    destPayment: req.destPayment, totalDestPayment: req.totalDestPayment, invoiceId: req.invoiceId, currency: 'FST',
  }));
  return { kind: 'response', requestId: req.requestId, destHashedLock, isComplete: true, randNonce, signature };
};

function mirrored(t: { equal: (a: unknown, b: unknown, m?: string) => unknown }, sender: MutualCredit, receiver: MutualCredit): void {
  t.equal(sender.balance, -receiver.balance, 'balances opposite');
  t.equal(sender.localPending, receiver.remotePending, 'pending mirrored');
  t.equal(sender.remotePending, receiver.localPending, 'pending mirrored back');
}

t.test('request, response, collect: frozen on both sides, then balance moves by amount plus fees', async (t) => {
  const buyer = newMutualCredit();
  const sellerSide = newMutualCredit();
  const req = request(1);
  t.equal(applyOutgoing(buyer, req, NOW), null);
  t.equal(applyIncoming(sellerSide, 'FST', req, seller.publicKey, NOW), null);
  t.equal(buyer.localPending, 12n);
  mirrored(t, buyer, sellerSide);
  const resp = response(req);
  t.equal(applyOutgoing(sellerSide, resp, NOW), null);
  t.equal(applyIncoming(buyer, 'FST', resp, seller.publicKey, NOW), null);
  const collect = { kind: 'collect' as const, requestId: req.requestId, srcPlainLock: srcPlain, destPlainLock: destPlain };
  t.equal(applyOutgoing(sellerSide, collect, NOW), null);
  t.equal(applyIncoming(buyer, 'FST', collect, seller.publicKey, NOW), null);
  t.equal(buyer.balance, -12n);
  t.equal(buyer.localPending, 0n);
  t.equal(buyer.local.size, 0);
  mirrored(t, buyer, sellerSide);
});

t.test('cancel by the receiver and expiry by the sender release the frozen credit', async (t) => {
  for (const kind of ['cancel', 'expire'] as const) {
    const a = newMutualCredit();
    const b = newMutualCredit();
    const req = request(2);
    applyOutgoing(a, req, NOW);
    applyIncoming(b, 'FST', req, seller.publicKey, NOW);
    const op = { kind, requestId: req.requestId };
    if (kind === 'cancel') {
      t.equal(applyOutgoing(b, op, NOW), null);
      t.equal(applyIncoming(a, 'FST', op, seller.publicKey, NOW), null);
    } else {
      t.equal(applyOutgoing(a, op, AFTER_DEADLINE), null);
      t.equal(applyIncoming(b, 'FST', op, seller.publicKey, AFTER_DEADLINE), null);
    }
    t.equal(a.localPending + b.remotePending + a.balance, 0n, `${kind}: nothing frozen, nothing moved`);
    mirrored(t, a, b);
  }
});

t.test('every refused operation leaves the credit unchanged', async (t) => {
  const a = newMutualCredit();
  const req = request(3);
  applyIncoming(a, 'FST', req, seller.publicKey, NOW);
  const other = newMutualCredit();
  applyOutgoing(other, req, NOW);
  const snapshot = (mc: MutualCredit): string => JSON.stringify([String(mc.balance), String(mc.localPending), String(mc.remotePending), [...mc.local.keys()], [...mc.remote.keys()]]);
  const cases: [string, MutualCredit, () => string | null][] = [
    ['duplicate request id', a, () => applyIncoming(a, 'FST', req, seller.publicKey, NOW)],
    ['destination amount above the total', a, () => applyIncoming(a, 'FST', { ...request(4), destPayment: 11n, totalDestPayment: 10n }, seller.publicKey, NOW)],
    ['zero amount', a, () => applyIncoming(a, 'FST', { ...request(4), destPayment: 0n }, seller.publicKey, NOW)],
    ['amount plus fees overflows', a, () => applyIncoming(a, 'FST', request(4, U128_MAX, 1n), seller.publicKey, NOW)],
    ['route with a repeated key', a, () => applyIncoming(a, 'FST', request(4, 10n, 0n, [seller.publicKey, seller.publicKey]), seller.publicKey, NOW)],
    ['route of 32 keys', a, () => applyIncoming(a, 'FST', request(4, 10n, 0n, Array.from({ length: 32 }, () => Identity.generate().publicKey)), seller.publicKey, NOW)],
    ['response to an unknown request', other, () => applyIncoming(other, 'FST', response(request(9)), seller.publicKey, NOW)],
    ['response signed by someone else', other, () => applyIncoming(other, 'FST', response(req, Identity.generate()), seller.publicKey, NOW)],
    ['response for another currency', other, () => applyIncoming(other, 'FST2', response(req), seller.publicKey, NOW)],
    ['collect before any response', other, () => applyIncoming(other, 'FST', { kind: 'collect', requestId: req.requestId, srcPlainLock: srcPlain, destPlainLock: destPlain }, seller.publicKey, NOW)],
    ['expire of an unknown request', a, () => applyIncoming(a, 'FST', { kind: 'expire', requestId: new Uint8Array(16) }, seller.publicKey, NOW)],
  ];
  for (const [name, mc, run] of cases) {
    const before = snapshot(mc);
    t.not(run(), null, name);
    t.equal(snapshot(mc), before, `${name}: unchanged`);
  }
  // Collect with a wrong lock, and expire after a response, once the response is in.
  applyIncoming(other, 'FST', response(req), seller.publicKey, NOW);
  const before = snapshot(other);
  t.equal(applyIncoming(other, 'FST', { kind: 'collect', requestId: req.requestId, srcPlainLock: destPlain, destPlainLock: destPlain }, seller.publicKey, NOW), 'ERR_MC_BAD_LOCK');
  t.equal(applyOutgoing(other, { kind: 'expire', requestId: req.requestId }, AFTER_DEADLINE), 'ERR_MC_TOO_EARLY', 'an answered request is not withdrawn before its collect deadline');
  t.equal(snapshot(other), before);
});

t.test('a request is withdrawn no earlier than its deadline, counted from the stamp of the move that carried it', async (t) => {
  const a = newMutualCredit();
  const b = newMutualCredit();
  const req = request(6);
  t.equal(applyOutgoing(a, req, NOW), null);
  t.equal(applyIncoming(b, 'FST', req, seller.publicKey, NOW), null);
  t.equal(a.local.get([...a.local.keys()][0])!.deadlineMs, NOW + 10_000, 'both sides derive the same deadline');
  t.equal(b.remote.get([...b.remote.keys()][0])!.deadlineMs, NOW + 10_000);
  const expire = { kind: 'expire' as const, requestId: req.requestId };
  t.equal(applyOutgoing(a, expire, AFTER_DEADLINE - 1), 'ERR_MC_TOO_EARLY', 'the sender cannot withdraw early');
  t.equal(applyIncoming(b, 'FST', expire, seller.publicKey, AFTER_DEADLINE - 1), 'ERR_MC_TOO_EARLY', 'and the receiver refuses an early withdrawal');
  t.equal(b.remotePending, 12n, 'nothing released');
  t.equal(applyIncoming(b, 'FST', expire, seller.publicKey, AFTER_DEADLINE), null);
  t.equal(b.remotePending, 0n);
});

t.test('a request with a lifetime of zero or beyond the bound is refused', async (t) => {
  const mc = newMutualCredit();
  t.equal(applyIncoming(mc, 'FST', { ...request(7), ttlMs: 0 }, seller.publicKey, NOW), 'ERR_MC_BAD_TTL');
  t.equal(applyIncoming(mc, 'FST', { ...request(7), ttlMs: MAX_REQUEST_TTL_MS + 1 }, seller.publicKey, NOW), 'ERR_MC_BAD_TTL');
  t.equal(applyIncoming(mc, 'FST', { ...request(7), ttlMs: 0xffffffff }, seller.publicKey, NOW), 'ERR_MC_BAD_TTL', '49 days');
  t.equal(applyIncoming(mc, 'FST', { ...request(7), ttlMs: MAX_REQUEST_TTL_MS }, seller.publicKey, NOW), null);
});
