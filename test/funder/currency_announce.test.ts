import t from 'tap';
import { SimNet, mc } from './sim.js';
import { idKey } from '../../src/funder/mutual_credit.js';

t.test('a friend hears a currency opened at once and it becomes active, whichever side holds the token', async (t) => {
  const net = new SimNet('currency-announce');
  const a = net.add('a');
  const b = net.add('b');
  for (const [x, y] of [[a, b], [b, a]] as const) {
    x.app({ kind: 'addFriend', publicKey: y.pk, name: y.name, relays: [] });
    x.app({ kind: 'enableFriend', publicKey: y.pk });
  }
  a.handle({ kind: 'friendOnline', friend: b.pk });
  b.handle({ kind: 'friendOnline', friend: a.pk });
  net.run();
  // Each round opens a new currency on one side, lets the network settle, then on the other.
  // Across the rounds each side is first and second while holding and while not holding the token.
  const rounds = [[a, b], [b, a], [a, b], [b, a]] as const;
  for (const [index, [first, second]] of rounds.entries()) {
    const currency = `C${index}`;
    first.app({ kind: 'openCurrency', publicKey: second.pk, currency });
    net.run();
    const heard = second.state.friends.get(idKey(first.pk))!.channel.remoteAnnounced;
    t.ok(heard.includes(currency), `${second.name} hears ${first.name} open ${currency} at once`);
    second.app({ kind: 'openCurrency', publicKey: first.pk, currency });
    net.run();
    t.ok(mc(a, b, currency), `${currency} active at a (${first.name} opened first)`);
    t.ok(mc(b, a, currency), `${currency} active at b (${first.name} opened first)`);
  }
});
