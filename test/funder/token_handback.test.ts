import t from 'tap';
import { idKey } from '../../src/funder/mutual_credit.js';
import { SimNet, mc, pay, type SimNode } from './sim.js';

/** Whether `x` holds the token of its channel with `y`. */
const holds = (x: SimNode, y: SimNode): boolean => x.state.friends.get(idKey(y.pk))!.channel.direction === 'incoming';

t.test('a side that received responses hands the token back, so the collects leave at commit without a token request', async (t) => {
  const net = new SimNet('handback');
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => net.add(n));
  net.befriend(a, b, 'FST', 1000n, 1000n);
  net.befriend(b, c, 'FST', 1000n, 1000n);
  net.befriend(c, d, 'FST', 1000n, 1000n);

  const direct = pay(net, a, b, [a, b], 1, 10n, 0n).commit;
  t.ok(direct, 'direct payment answered');
  t.ok(holds(b, a), 'the seller holds the token once the buyer has the response');
  t.equal(b.app({ kind: 'commitInvoice', commit: direct! }), null);
  const sent = net.queue.filter((m) => m.from === b);
  t.equal(sent.length, 1, 'the commit sends one message');
  t.ok(sent[0].message.kind === 'moveTokenRequest' && sent[0].message.moveToken.ops.some((o) => o.op.kind === 'collect'), 'and it is the move carrying the collect');
  net.run();
  t.equal(mc(a, b, 'FST')!.balance, -10n, 'settled');
  t.ok(holds(a, b), 'a move of collects is kept: the buyer holds the token for its next request');
  t.equal(net.run(), 0, 'an idle pair does not pass the token back and forth');

  const chained = pay(net, a, d, [a, b, c, d], 2, 10n, 0n).commit;
  t.ok(chained, 'three-hop payment answered');
  t.ok(holds(d, c) && holds(c, b) && holds(b, a), 'every hop towards the seller holds the token for the collects');
  const before = net.delivered;
  t.equal(d.app({ kind: 'commitInvoice', commit: chained! }), null);
  net.run();
  t.equal(net.delivered - before, 3, 'one move per hop settles the payment');
  t.equal(mc(a, b, 'FST')!.balance, -20n);
  t.equal(mc(c, d, 'FST')!.balance, -10n);
});
