import t from 'tap';
import { idKey } from '../../src/funder/mutual_credit.js';
import { CancelReason } from '../../src/funder/types.js';
import { Adversary, collusiveCommit, worth } from './adversary.js';
import { SimNet, mc, uid, type SimNode } from './sim.js';

/**
 * Friends who speak the protocol correctly and mean harm, against honest nodes: each attack the
 * payment core once allowed, scripted with the adversary harness. The honest node's worth (its
 * balances, or what its reset terms claim where a friend forced a dispute) must move only by
 * payments it agreed to.
 */

const CUR = 'FST';

/** mallory (buyer) - x (honest forwarder) - carol (seller, colluding with mallory). */
function forwarderBetweenColluders(seed: string) {
  const net = new SimNet(seed);
  const [m, x, carol] = ['mallory', 'x', 'carol'].map((n) => net.add(n));
  net.befriend(m, x, CUR, 100n, 100n);
  net.befriend(x, carol, CUR, 100n, 100n);
  const mallory = new Adversary(net, m);
  const invoiceId = uid(1, 32);
  carol.app({ kind: 'addInvoice', invoiceId, currency: CUR, totalDestPayment: 10n });
  m.app({ kind: 'createPayment', paymentId: uid(1), invoiceId, currency: CUR, totalDestPayment: 10n, destPublicKey: carol.pk });
  m.app({ kind: 'createTransaction', paymentId: uid(1), requestId: uid(2), route: [m.pk, x.pk, carol.pk], destPayment: 10n, fees: 0n });
  // Deliver until x holds mallory's request, then ask for the token back and keep it.
  let steps = 0;
  while ((mc(x, m, CUR)?.remote.size ?? 0) === 0 && steps++ < 100) net.deliver(net.queue.shift()!);
  mallory.replay(x, 1, { tokenWanted: true });
  mallory.withhold(x);
  net.run();
  return { net, m, x, carol, mallory, invoiceId };
}

t.test('a friend that withdraws a forwarded request after the next hop answered cannot leave the forwarder owing', async (t) => {
  for (const when of ['at the deadline', 'early, with a stamp from the future'] as const) {
    const { net, m, x, carol, mallory, invoiceId } = forwarderBetweenColluders(`withdraw-${when}`);
    t.equal(mc(x, carol, CUR)!.local.get(idKey(uid(2)))?.stage.kind, 'response', `${when}: carol answered x`);
    t.ok(x.state.friends.get(idKey(m.pk))!.backwards.some((i) => i.op.kind === 'response'), 'x waits for the token to pass the answer back');
    const [pending] = mallory.pendingTo(x, CUR);
    const stamp = pending.dueMs;
    if (when === 'at the deadline') net.nowMs = stamp;
    const forged = mallory.forge(x, [{ currency: CUR, op: { kind: 'expire', requestId: pending.requestId } }], { timeMs: stamp });
    t.type(forged, 'object', 'the withdrawal follows the shared rules');
    net.run();
    t.ok(x.faults.some((f) => f.code === 'ERR_TC_WITHDRAWAL_REFUSED'), 'x refuses the withdrawal');
    t.not(x.state.friends.get(idKey(m.pk))!.inconsistency, null, 'and disputes the channel instead');
    // Carol collects with the lock mallory shares with her.
    const commit = collusiveCommit(carol, m, invoiceId);
    t.ok(commit, 'the colluders can build the commit');
    t.equal(carol.app({ kind: 'commitInvoice', commit: commit! }), null);
    net.run();
    t.equal(mc(x, carol, CUR)!.balance, -10n, 'carol collected from x');
    t.equal(worth(x, CUR), 0n, 'x claims exactly that from mallory: nothing lost');
  }
});

t.test('a request behind a silent friend is released at the deadlines, and an answer after that is refused', async (t) => {
  const net = new SimNet('silent');
  const [a, x, m, c] = ['a', 'x', 'mallory', 'c'].map((n) => net.add(n));
  net.befriend(a, x, CUR, 100n, 100n);
  net.befriend(x, m, CUR, 100n, 100n);
  net.befriend(m, c, CUR, 100n, 100n);
  const mallory = new Adversary(net, m);
  const invoiceId = uid(3, 32);
  c.app({ kind: 'addInvoice', invoiceId, currency: CUR, totalDestPayment: 10n });
  a.app({ kind: 'createPayment', paymentId: uid(3), invoiceId, currency: CUR, totalDestPayment: 10n, destPublicKey: c.pk });
  a.app({ kind: 'createTransaction', paymentId: uid(3), requestId: uid(4), route: [a.pk, x.pk, m.pk, c.pk], destPayment: 10n, fees: 0n });
  // Mallory goes silent towards x as soon as the request is hers: she keeps x's token.
  let steps = 0;
  while ((mc(m, x, CUR)?.remote.size ?? 0) === 0 && steps++ < 100) net.deliver(net.queue.shift()!);
  mallory.withhold(x);
  net.run();
  t.equal(mc(a, x, CUR)!.localPending, 10n, 'frozen along the route');
  t.equal(mc(x, m, CUR)!.localPending, 10n);
  t.equal(mc(m, c, CUR)!.localPending, 10n, 'mallory forwarded it and the seller answered her');
  net.advance(120_000, 1_000, () => {
    for (const n of [a, x, c]) n.handle({ kind: 'tick' });
  });
  t.equal(mc(a, x, CUR)!.localPending, 0n, 'the buyer is released');
  t.equal(mc(x, a, CUR)!.remotePending, 0n, 'x no longer owes anything for it upstream');
  const result = a.appInbox.find((msg) => msg.kind === 'transactionResult');
  t.same(result?.kind === 'transactionResult' && result.outcome, { kind: 'failure', cause: { reason: CancelReason.Expired, local: false } });
  // Mallory now passes the seller's answer back, far too late, and the seller collects from her.
  mallory.release(x);
  net.run();
  t.ok(x.faults.some((f) => f.code === 'ERR_TC_LATE_ANSWER'), 'x refuses an answer after giving up');
  t.equal(worth(x, CUR), 0n, 'x owes nothing for a payment it released');
  t.equal(worth(a, CUR), 0n, 'the buyer paid nothing');
  t.same(a.faults, [], 'honest neighbours never disagree');
});

t.test('a stranger who learns an invoice id cannot block it with a payment of its own', async (t) => {
  const net = new SimNet('invoice-lock');
  const [a, m, x, c] = ['a', 'mallory', 'x', 'c'].map((n) => net.add(n));
  net.befriend(a, x, CUR, 100n, 100n);
  net.befriend(m, x, CUR, 100n, 100n);
  net.befriend(x, c, CUR, 100n, 100n);
  const invoiceId = uid(5, 32);
  t.equal(c.app({ kind: 'addInvoice', invoiceId, currency: CUR, totalDestPayment: 10n }), null);
  // Mallory pays 1 of the 10 with her own lock, and never completes.
  m.app({ kind: 'createPayment', paymentId: uid(5), invoiceId, currency: CUR, totalDestPayment: 10n, destPublicKey: c.pk });
  m.app({ kind: 'createTransaction', paymentId: uid(5), requestId: uid(6), route: [m.pk, x.pk, c.pk], destPayment: 1n, fees: 0n });
  net.run();
  t.equal(mc(c, x, CUR)!.remote.size, 1, 'the seller accepted her share');
  a.app({ kind: 'createPayment', paymentId: uid(7), invoiceId, currency: CUR, totalDestPayment: 10n, destPublicKey: c.pk });
  a.app({ kind: 'createTransaction', paymentId: uid(7), requestId: uid(8), route: [a.pk, x.pk, c.pk], destPayment: 10n, fees: 0n });
  net.run();
  const result = a.appInbox.find((msg) => msg.kind === 'transactionResult');
  t.equal(result?.kind === 'transactionResult' && result.outcome.kind, 'complete', 'the honest buyer completes the invoice');
  const hers = m.appInbox.filter((msg) => msg.kind === 'transactionResult');
  t.same(hers.map((r) => r.kind === 'transactionResult' && r.outcome), [{ kind: 'success' }, { kind: 'failure', cause: { reason: CancelReason.InvoiceRefused, local: false } }],
    'her share is answered, then cancelled once another payment completed the invoice');
  t.equal(mc(m, x, CUR)!.localPending, 0n, 'her frozen credit is released');
  const commit = result?.kind === 'transactionResult' && result.outcome.kind === 'complete' ? result.outcome.commit : null;
  t.equal(c.app({ kind: 'commitInvoice', commit: commit! }), null);
  net.run();
  t.equal(mc(a, x, CUR)!.balance, -10n, 'the buyer paid');
  t.equal(mc(c, x, CUR)!.balance, 10n, 'the seller was paid once');
});

t.test('an app cannot act on another app\'s payment or invoice by its id', async (t) => {
  const net = new SimNet('owners');
  const [a, c] = ['a', 'c'].map((n) => net.add(n));
  net.befriend(a, c, CUR, 100n, 100n);
  const invoiceId = uid(9, 32);
  t.equal(c.app({ kind: 'addInvoice', invoiceId, currency: CUR, totalDestPayment: 10n }, 'shop'), null);
  t.equal(a.app({ kind: 'createPayment', paymentId: uid(9), invoiceId, currency: CUR, totalDestPayment: 10n, destPublicKey: c.pk }, 'wallet'), null);
  const tx = { kind: 'createTransaction' as const, paymentId: uid(9), requestId: uid(10), route: [a.pk, c.pk], destPayment: 10n, fees: 0n };
  t.equal(a.app(tx, 'other-app'), 'ERR_FUNDER_UNKNOWN_PAYMENT', 'another buyer app cannot spend through it');
  t.equal(a.app({ kind: 'requestClosePayment', paymentId: uid(9) }, 'other-app'), null, 'nor close it (it is unknown to it)');
  t.equal(a.state.payments.get(idKey(uid(9)))!.closing, false, 'the payment is untouched');
  t.equal(c.app({ kind: 'cancelInvoice', invoiceId }, 'other-shop'), 'ERR_FUNDER_UNKNOWN_INVOICE', 'another seller app cannot cancel the invoice');
  t.equal(a.app(tx, 'wallet'), null, 'its own app can');
  net.run();
  const result = a.appInbox.find((msg) => msg.kind === 'transactionResult');
  const commit = result?.kind === 'transactionResult' && result.outcome.kind === 'complete' ? result.outcome.commit : null;
  t.ok(commit);
  t.equal(c.app({ kind: 'commitInvoice', commit: commit! }, 'other-shop'), 'ERR_FUNDER_UNKNOWN_INVOICE', 'nor commit it');
  t.equal(c.app({ kind: 'commitInvoice', commit: commit! }, 'shop'), null);
  t.equal(a.app({ kind: 'paymentStatus', paymentId: uid(9) }, 'other-app'), null);
  const status = a.appInbox.findLast((msg) => msg.kind === 'paymentStatus');
  t.same(status?.kind === 'paymentStatus' && status.status, { kind: 'notFound' }, 'its status is not shown to other apps');
});
