import t from 'tap';
import { SimNet, mc, pay, uid } from './sim.js';
import { verifyReceipt } from '../../src/funder/receipt.js';
import { idKey } from '../../src/funder/mutual_credit.js';
import { moveDigest, prefixHash } from '../../src/funder/signing.js';

t.test('a direct payment moves amount plus fees and yields a receipt that verifies', async (t) => {
  const net = new SimNet();
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 100n);
  t.ok(mc(a, b, 'FST'), 'currency active on both sides');
  const { commit } = pay(net, a, b, [a, b], 1, 4n, 1n);
  t.ok(commit, 'buyer got a commit');
  t.equal(mc(a, b, 'FST')!.localPending, 5n);
  t.equal(b.app({ kind: 'commitInvoice', commit: commit! }), null);
  net.run();
  t.equal(mc(a, b, 'FST')!.balance, -5n);
  t.equal(mc(b, a, 'FST')!.balance, 5n);
  t.equal(mc(a, b, 'FST')!.localPending, 0n);
  t.equal(a.app({ kind: 'paymentStatus', paymentId: uid(1) }), null);
  const status = a.appInbox.findLast((m) => m.kind === 'paymentStatus');
  t.equal(status?.kind === 'paymentStatus' && status.status.kind, 'success');
  if (status?.kind === 'paymentStatus' && status.status.kind === 'success') {
    const receipt = status.status.receipt;
    const invoice = { invoiceId: uid(1, 32), currency: 'FST', destPublicKey: b.pk, totalDestPayment: 4n };
    t.equal(verifyReceipt(invoice, receipt), null);
    t.not(verifyReceipt({ ...invoice, currency: 'FSU' }, receipt), null, 'the currency is bound');
    t.not(verifyReceipt({ ...invoice, totalDestPayment: 5n }, receipt), null);
    t.not(verifyReceipt({ ...invoice, destPublicKey: a.pk }, receipt), null);
  }
});

t.test('three hops: each forwarder earns its fee and leftover fees go to the seller', async (t) => {
  const net = new SimNet();
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => net.add(n));
  net.befriend(a, b, 'FST', 100n, 100n);
  net.befriend(b, c, 'FST', 100n, 100n);
  net.befriend(c, d, 'FST', 100n, 100n);
  t.equal(b.app({ kind: 'setRate', publicKey: a.pk, currency: 'FST', rate: { mul: 0, add: 1 } }), null);
  t.equal(c.app({ kind: 'setRate', publicKey: b.pk, currency: 'FST', rate: { mul: 2 ** 31, add: 0 } }), null);
  // fees: b charges 1, c charges 10/2 = 5; the buyer offers 8, so 2 are left over for the seller.
  const { commit } = pay(net, a, d, [a, b, c, d], 1, 10n, 8n);
  t.ok(commit);
  t.equal(mc(a, b, 'FST')!.localPending, 18n);
  t.equal(mc(b, c, 'FST')!.localPending, 17n);
  t.equal(mc(c, d, 'FST')!.localPending, 12n);
  t.equal(d.app({ kind: 'commitInvoice', commit: commit! }), null);
  net.run();
  t.equal(mc(a, b, 'FST')!.balance, -18n);
  t.equal(mc(b, a, 'FST')!.balance, 18n);
  t.equal(mc(b, c, 'FST')!.balance, -17n);
  t.equal(mc(c, d, 'FST')!.balance, -12n);
  t.equal(mc(d, c, 'FST')!.balance, 12n, 'seller gets amount plus leftover fees');
  for (const [x, y] of [[a, b], [b, c], [c, d]] as const) {
    t.equal(mc(x, y, 'FST')!.localPending + mc(x, y, 'FST')!.remotePending, 0n);
  }
});

t.test('a request beyond the trust of the next hop is cancelled and the buyer told', async (t) => {
  const net = new SimNet();
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 3n);
  const { commit } = pay(net, a, b, [a, b], 1, 4n, 0n);
  t.equal(commit, null);
  const failure = a.appInbox.find((m) => m.kind === 'transactionResult' && m.outcome.kind === 'failure');
  t.ok(failure, 'failure reported');
  t.equal(mc(a, b, 'FST')!.localPending, 0n);
  t.equal(mc(b, a, 'FST')!.remotePending, 0n);
  t.equal(mc(a, b, 'FST')!.balance, 0n);
});

t.test('the last move accepted from a friend is kept in hashed form (for friend-last-token)', async (t) => {
  const net = new SimNet();
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 100n);
  pay(net, a, b, [a, b], 1, 4n, 0n);
  const [x, y] = [a, b].map((n, i) => n.state.friends.get(idKey([b, a][i].pk))!.channel);
  // Whoever holds the token accepted the other's last move.
  const [holder, sender] = x.direction === 'incoming' ? [x, y] : [y, x];
  const last = holder.lastIncoming!;
  t.ok(last, 'kept');
  t.same(last.prefixHash, prefixHash(sender.lastOutgoing));
  t.same(last.infoHash, sender.lastOutgoing.infoHash);
  t.same(last.randNonce, sender.lastOutgoing.randNonce);
  t.same(last.newToken, sender.lastOutgoing.newToken);
  t.equal(last.moveTokenCounter, holder.moveTokenCounter);
  t.same(holder.lastIncomingDigest, moveDigest(sender.lastOutgoing));
});
