import t from 'tap';
import { SimNet, pay } from '../funder/sim.js';
import { capacityEntries, diffEntries, IndexLink, type IndexClientPort } from '../../src/node/index_link.js';
import type { IndexMutation } from '../../src/index/types.js';
import { idKey } from '../../src/funder/mutual_credit.js';

t.test('index entries report what each friend can still push, and only changes are sent', async (t) => {
  const net = new SimNet('index');
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 50n);
  const before = capacityEntries(b.state);
  const entry = before.get(`${idKey(a.pk)}/FST`);
  t.equal(entry?.recvCapacity, 50n, 'b lets a owe it 50');
  pay(net, a, b, [a, b], 1, 20n, 0n);
  // The payment is pending (not yet collected): it already counts against a's room.
  const after = capacityEntries(b.state);
  t.equal(after.get(`${idKey(a.pk)}/FST`)?.recvCapacity, 30n);
  const diff = diffEntries(before, after);
  t.equal(diff.length, 1);
  t.same(diffEntries(after, after), []);
  b.handle({ kind: 'friendOffline', friend: a.pk });
  const offline = diffEntries(after, capacityEntries(b.state));
  t.same(offline.map((m) => m.kind), ['remove'], 'an offline friend is withdrawn from the index');

  const sent: IndexMutation[][] = [];
  const port: IndexClientPort = {
    start: () => undefined, close: () => undefined, ready: true,
    update: (m) => { sent.push([...m]); return true; },
    requestRoutes: () => Promise.reject(new Error('unused')),
  };
  const link = new IndexLink(() => port);
  link.setServers([{ publicKey: a.pk, address: '127.0.0.1:1', name: 'i' }]);
  b.handle({ kind: 'friendOnline', friend: a.pk });
  net.run();
  link.onFunderState(b.state);
  link.onFunderState(b.state);
  t.equal(sent.filter((m) => m.length > 0).length, 1, 'an unchanged state sends nothing');
});

t.test('without an index server nothing is sent; the first server configured gets the table as it is then', async (t) => {
  const net = new SimNet('index-late');
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 50n);
  const sent: IndexMutation[][] = [];
  let clients = 0;
  const link = new IndexLink(() => {
    clients++;
    return {
      start: () => undefined, close: () => undefined, ready: true,
      update: (m) => { sent.push([...m]); return true; },
      requestRoutes: () => Promise.reject(new Error('unused')),
    };
  });
  link.onFunderState(b.state);
  pay(net, a, b, [a, b], 1, 20n, 0n);
  link.onFunderState(b.state);
  t.equal(clients, 0);
  link.setServers([{ publicKey: a.pk, address: '127.0.0.1:1', name: 'i' }]);
  t.equal(clients, 1);
  const first = sent.flat();
  t.equal(first.length, 1, 'one entry: the friend and currency');
  t.equal(first[0].kind === 'update' && first[0].recvCapacity, 30n, 'with the room left after the pending payment');
  link.onFunderState(b.state);
  t.equal(sent.flat().length, 1, 'and nothing more while nothing changes');
  link.setServers([]);
  b.handle({ kind: 'friendOffline', friend: a.pk });
  link.onFunderState(b.state);
  link.setServers([{ publicKey: b.pk, address: '127.0.0.1:2', name: 'j' }]);
  t.equal(clients, 2);
  t.same(sent.at(-1), [], 'a server configured after the friend went offline hears of no entry');
});

t.test('with an update period, changes within it reach the index as one update holding the latest capacities', async (t) => {
  const net = new SimNet('index-coalesce');
  const a = net.add('a');
  const b = net.add('b');
  net.befriend(a, b, 'FST', 100n, 50n);
  const sent: IndexMutation[][] = [];
  let delivered: () => void = () => undefined;
  const link = new IndexLink(() => ({
    start: () => undefined, close: () => undefined, ready: true,
    update: (m) => { sent.push([...m]); if (m.length > 0) delivered(); return true; },
    requestRoutes: () => Promise.reject(new Error('unused')),
  }), undefined, 20);
  link.onFunderState(b.state);
  link.setServers([{ publicKey: a.pk, address: '127.0.0.1:1', name: 'i' }]);
  t.same(sent.flat().map((m) => m.kind === 'update' && m.recvCapacity), [50n], 'a new server gets the table at once');
  const next = new Promise<void>((resolve) => { delivered = resolve; });
  for (let n = 1; n <= 3; n++) {
    pay(net, a, b, [a, b], n, 5n, 0n);
    link.onFunderState(b.state);
  }
  t.equal(sent.length, 1, 'nothing sent while the period runs');
  await next;
  t.equal(sent.length, 2, 'then one update');
  t.same(sent[1].map((m) => m.kind === 'update' && m.recvCapacity), [35n], 'with the capacity after all three payments');
  link.close();
});
