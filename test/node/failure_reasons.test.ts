import t from 'tap';
import type { FailureCause } from '../../src/funder/api.js';
import { CancelReason } from '../../src/funder/types.js';
import { FailureReason, decodeNodeToApp, encodeNodeToApp } from '../../src/node/app_codec.js';
import { failureOf } from '../../src/node/failure.js';
import { failureCodeName } from '../../src/apps/node_report.js';
import { SimNet, uid, type SimNode } from '../funder/sim.js';
import {
  decodeMove, decodePaymentStatus, decodeQueued, encodeMove, encodePaymentStatus, encodeQueued,
} from '../../src/funder/store/records.js';

/** Starts one payment of `amount` over `route` and returns why its transaction failed (null: it did not). */
function failedCause(net: SimNet, buyer: SimNode, seller: SimNode, route: SimNode[], n: number, amount: bigint, fees: bigint,
  options: { invoiceAmount?: bigint } = {}): FailureCause | null {
  const invoiceId = uid(n, 32);
  for (const error of [
    seller.app({ kind: 'addInvoice', invoiceId, currency: 'FST', totalDestPayment: options.invoiceAmount ?? amount }),
    buyer.app({ kind: 'createPayment', paymentId: uid(n), invoiceId, currency: 'FST', totalDestPayment: amount, destPublicKey: seller.pk }),
    buyer.app({ kind: 'createTransaction', paymentId: uid(n), requestId: uid(n + 1000), route: route.map((r) => r.pk), destPayment: amount, fees }),
  ]) {
    if (error !== null) throw new Error(error);
  }
  net.run();
  const result = buyer.appInbox.findLast((m) => m.kind === 'transactionResult' && m.requestId[3] === uid(n + 1000)[3]);
  return result?.kind === 'transactionResult' && result.outcome.kind === 'failure' ? result.outcome.cause : null;
}

function chain(seed: string): { net: SimNet; a: SimNode; b: SimNode; c: SimNode } {
  const net = new SimNet(seed);
  const [a, b, c] = ['a', 'b', 'c'].map((n) => net.add(n));
  net.befriend(a, b, 'FST', 100n, 100n);
  net.befriend(b, c, 'FST', 100n, 20n);
  return { net, a, b, c };
}

t.test('a cancel carries the reason of the hop that gave up back to the buyer', async (t) => {
  {
    const { net, a, b, c } = chain('capacity');
    t.same(failedCause(net, a, c, [a, b, c], 1, 50n, 0n), { reason: CancelReason.InsufficientCapacity, local: false },
      'c lets b owe it only 20');
  }
  {
    const { net, a, b, c } = chain('fee');
    t.equal(b.app({ kind: 'setRate', publicKey: a.pk, currency: 'FST', rate: { mul: 0, add: 5 } }), null);
    t.same(failedCause(net, a, c, [a, b, c], 2, 10n, 1n), { reason: CancelReason.FeeTooLow, local: false }, 'b charges 5, only 1 offered');
  }
  {
    const { net, a, b, c } = chain('invoice');
    t.same(failedCause(net, a, c, [a, b, c], 3, 10n, 0n, { invoiceAmount: 11n }),
      { reason: CancelReason.InvoiceRefused, local: false }, 'the seller has no invoice for this total');
  }
  {
    const { net, a, b, c } = chain('disabled');
    t.equal(b.app({ kind: 'disableFriend', publicKey: c.pk }), null);
    t.same(failedCause(net, a, c, [a, b, c], 4, 10n, 0n), { reason: CancelReason.FriendDisabled, local: false }, 'the forwarder disabled the seller');
  }
  {
    const { net, a, b, c } = chain('offline');
    b.handle({ kind: 'friendOffline', friend: c.pk });
    t.same(failedCause(net, a, c, [a, b, c], 5, 10n, 0n), { reason: CancelReason.HopUnavailable, local: false });
  }
  {
    const { net, a, b, c } = chain('seller-cancel');
    // Half the invoice is paid and answered; the seller then cancels the invoice.
    const invoiceId = uid(6, 32);
    t.equal(c.app({ kind: 'addInvoice', invoiceId, currency: 'FST', totalDestPayment: 20n }), null);
    t.equal(a.app({ kind: 'createPayment', paymentId: uid(6), invoiceId, currency: 'FST', totalDestPayment: 20n, destPublicKey: c.pk }), null);
    t.equal(a.app({ kind: 'createTransaction', paymentId: uid(6), requestId: uid(1006), route: [a.pk, b.pk, c.pk], destPayment: 10n, fees: 0n }), null);
    net.run();
    t.equal(c.app({ kind: 'cancelInvoice', invoiceId }), null);
    net.run();
    const result = a.appInbox.findLast((m) => m.kind === 'transactionResult');
    t.same(result?.kind === 'transactionResult' && result.outcome.kind === 'failure' && result.outcome.cause,
      { reason: CancelReason.SellerCanceled, local: false });
  }
});

t.test('failures at the buyer\'s own node say so', async (t) => {
  const { net, a, b, c } = chain('local');
  t.equal(failedCause(net, a, c, [a, b, c], 7, 10n, 0n), null, 'the route works');
  // a sends a move (its relays changed) and so waits for the token: the next request stays queued at a.
  t.equal(a.app({ kind: 'setRelays', relays: [{ publicKey: c.pk, address: 'relay.example:1' }] }), null);
  const invoiceId = uid(8, 32);
  t.equal(c.app({ kind: 'addInvoice', invoiceId, currency: 'FST', totalDestPayment: 10n }), null);
  t.equal(a.app({ kind: 'createPayment', paymentId: uid(8), invoiceId, currency: 'FST', totalDestPayment: 10n, destPublicKey: c.pk }), null);
  t.equal(a.app({ kind: 'createTransaction', paymentId: uid(8), requestId: uid(1008), route: [a.pk, b.pk, c.pk], destPayment: 10n, fees: 0n }), null);
  // Disabled while the request is still queued: a gives up on it itself.
  t.equal(a.app({ kind: 'disableFriend', publicKey: b.pk }), null);
  const result = a.appInbox.findLast((m) => m.kind === 'transactionResult');
  t.same(result?.kind === 'transactionResult' && result.outcome.kind === 'failure' && result.outcome.cause,
    { reason: CancelReason.FriendDisabled, local: true });
  t.equal(a.app({ kind: 'requestClosePayment', paymentId: uid(8) }), null);
  const status = a.appInbox.findLast((m) => m.kind === 'paymentStatus');
  t.same(status?.kind === 'paymentStatus' && status.status.kind === 'canceled' && status.status.cause,
    { reason: CancelReason.FriendDisabled, local: true }, 'the canceled payment tells why');
  net.run();
});

t.test('apps get a stable reason and a sentence; unknown reasons read as a plain cancellation', async (t) => {
  t.same(failureOf({ reason: CancelReason.InsufficientCapacity, local: false }), {
    reason: FailureReason.InsufficientCapacity, atThisNode: false,
    message: 'the credit extended on a link of the route would be exceeded (reported by a hop on the route)',
  });
  t.equal(failureOf({ reason: CancelReason.Expired, local: true }).reason, FailureReason.Expired);
  t.match(failureOf({ reason: CancelReason.Expired, local: true }).message, /at this node/);
  t.equal(failureOf({ reason: 200, local: false }).reason, FailureReason.Canceled);
  for (const value of Object.values(CancelReason).filter((v): v is number => typeof v === 'number')) {
    t.not(failureOf({ reason: value, local: false }).reason, undefined, `cancel reason ${value} has an app reason`);
  }
  t.equal(failureCodeName(FailureReason.SellerCanceled), 'ERR_PAY_SELLER_CANCELED');
  t.equal(failureCodeName(FailureReason.InsufficientCapacity), 'ERR_PAY_INSUFFICIENT_CAPACITY');
  // An app decoding a reason from a newer node still sees a failure.
  const encoded = encodeNodeToApp({
    kind: 'transactionResult', paymentId: uid(1), requestId: uid(2),
    outcome: { kind: 'failure', reason: 250 as FailureReason, message: 'new', atThisNode: false },
  });
  const decoded = decodeNodeToApp(encoded);
  t.ok(decoded.ok);
  if (decoded.ok && decoded.value.kind === 'transactionResult' && decoded.value.outcome.kind === 'failure') {
    t.equal(decoded.value.outcome.reason, FailureReason.Canceled);
  }
});

t.test('a cancel\'s reason and a transaction\'s cause survive the store (signed moves must be resent byte for byte)', async (t) => {
  const queued = { queue: 'backwards' as const, currency: 'FST', seq: 3, op: { kind: 'cancel' as const, requestId: uid(5), reason: CancelReason.SellerCanceled } };
  t.same(decodeQueued(encodeQueued(queued), 3), queued);
  const plain = { ...queued, op: { kind: 'cancel' as const, requestId: uid(6) } };
  t.same(decodeQueued(encodeQueued(plain), 3), plain, 'a cancel without a reason keeps the old layout');
  const move = {
    oldToken: new Uint8Array(64).fill(1), ops: [{ currency: 'FST', op: queued.op }], relays: null, activeCurrencies: null,
    infoHash: new Uint8Array(32).fill(2), randNonce: new Uint8Array(16).fill(3), newToken: new Uint8Array(64).fill(4), timeMs: 1_700_000_000_000,
  };
  t.same(decodeMove(encodeMove(move)), move);
  const status = {
    closing: true, closeWaiter: null, commitBy: null,
    txs: [['00'.repeat(16), 'failed', { reason: CancelReason.InsufficientCapacity, local: false }], ['01'.repeat(16), 'failed'], ['02'.repeat(16), 'pending']] as const,
  };
  t.same(decodePaymentStatus(encodePaymentStatus(status)), status);
});
