import t from 'tap';
import { SimNet } from '../funder/sim.js';
import { idKey } from '../../src/funder/mutual_credit.js';
import { Identity } from '../../src/crypto/identity.js';

t.test('a node announces new relays to its friend whichever side holds the token', async (t) => {
  const net = new SimNet('relay-announce');
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 100n);
  for (const [x, y] of [[a, b], [b, a], [a, b]] as const) {
    const relay = { publicKey: Identity.generate().publicKey, address: '127.0.0.1:9' };
    x.app({ kind: 'setRelays', relays: [relay] });
    net.run();
    const seen = y.state.friends.get(idKey(x.pk))!.relays;
    t.same(seen.map((r) => r.address), ['127.0.0.1:9'], `${y.name} learns ${x.name}'s relays`);
    t.same(seen[0].publicKey, relay.publicKey);
  }
});
