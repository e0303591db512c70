import t from 'tap';
import { decodeServerMessage } from '../../src/index/codec.js';
import { WriteGraph } from '../../src/index/graph.js';
import { SearchPool } from '../../src/index/search-pool.js';

const key = (i: number) => {
  const k = new Uint8Array(32);
  k[0] = i;
  k[5] = 3;
  return k;
};

t.test('search workers answer from a newer snapshot as soon as it is published, under a steady stream of queries', async (t) => {
  const graph = new WriteGraph();
  const up = (a: number, b: number) => graph.apply(key(a), [{ kind: 'update', friend: key(b), currency: 'USD', recvCapacity: 100n, rate: { mul: 0, add: 0 } }], 0);
  up(1, 2);
  up(2, 1);
  up(2, 3);
  const pool = new SearchPool(1);
  t.teardown(() => pool.close());
  pool.publish(graph.compact().handle);
  const ids = [key(1), key(3)].map((k) => graph.keys.lookup(k)!);
  const request = {
    requestId: new Uint8Array(16),
    currency: 'USD',
    amount: 10n,
    source: ids[0],
    destination: ids[1],
    excludeFrom: -1,
    excludeTo: -1,
    maxHops: 31,
    maxFee: null,
    maxRoutes: 1,
    workMax: 10_000,
    deadlineUs: 1_000_000,
  };
  const routes = async () => {
    const response = await pool.search(request);
    const message = decodeServerMessage(response.clientFrame);
    return message.ok && message.value.kind === 'routes' ? message.value.response.routes.length : -1;
  };
  t.equal(await routes(), 0, 'no edge 2<->3 yet: node 3 has not reported');
  // Keep the worker busy, then publish the snapshot that completes the route.
  const busy = Array.from({ length: 200 }, () => routes());
  up(3, 2);
  pool.publish(graph.compact().handle);
  await Promise.all(busy);
  t.equal(await routes(), 1, 'the first query after publishing sees the new snapshot');
});
