import t from 'tap';
import { idKey } from '../../src/funder/mutual_credit.js';
import { SimNet, uid, type SimNode } from './sim.js';

/**
 * A node that gets new work while it waits re-sends its last move to ask for the token. When
 * that copy crosses the friend's answer in flight, the friend sees it as a retransmission; if
 * every such copy were answered by re-sending, the copies would echo back and forth and grow
 * with every round. Each copy is answered once at most, so the copies per move stay bounded.
 */
t.test('token requests crossing moves in flight do not echo: copies per move stay bounded', async (t) => {
  const net = new SimNet();
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 10n ** 9n, 10n ** 9n);
  const counter = (): bigint => a.state.friends.get(idKey(b.pk))!.channel.moveTokenCounter;
  const movesBefore = counter();
  const deliveredBefore = net.delivered;
  let n = 0;
  const start = (buyer: SimNode, seller: SimNode): void => {
    n++;
    seller.app({ kind: 'addInvoice', invoiceId: uid(n, 32), currency: 'FST', totalDestPayment: 3n });
    buyer.app({ kind: 'createPayment', paymentId: uid(n), invoiceId: uid(n, 32), currency: 'FST', totalDestPayment: 3n, destPublicKey: seller.pk });
    buyer.app({ kind: 'createTransaction', paymentId: uid(n), requestId: uid(n + 500_000), route: [buyer.pk, seller.pk], destPayment: 3n, fees: 0n });
  };
  for (let round = 0; round < 300; round++) {
    start(a, b);
    start(b, a);
    // One message per round: new work keeps arriving while moves are in flight both ways.
    if (net.queue.length > 0) net.deliver(net.queue.shift()!);
  }
  net.run();
  const moves = Number(counter() - movesBefore);
  const messages = net.delivered - deliveredBefore;
  t.ok(moves > 10, `the payments took ${moves} moves`);
  t.ok(messages <= 3 * moves, `${messages} messages for ${moves} moves`);
  t.equal(a.faults.length + b.faults.length, 0);
});
