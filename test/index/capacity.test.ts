import t from 'tap';
import { WriteGraph } from '../../src/index/graph.js';
import { defaultSearchParams, Searcher } from '../../src/index/search.js';
import { floorToDouble } from '../../src/index/snapshot.js';

/**
 * Capacities are u128 on the wire and doubles in the snapshot. Above 2^53 a double cannot hold
 * every integer, so the snapshot keeps the largest double not above the reported capacity: the
 * index may under-state a huge capacity by less than one part in 2^52, and never over-states it.
 */
const key = (n: number) => {
  const k = new Uint8Array(32);
  k[0] = 11;
  k[31] = n;
  return k;
};

const huge = [2n ** 53n + 1n, 2n ** 64n - 1n, 2n ** 100n + 12345n, 2n ** 128n - 1n];

t.test('capacities above 2^53 are stored rounded down, within one part in 2^52', async (t) => {
  for (const capacity of huge) {
    const graph = new WriteGraph();
    graph.apply(key(1), [{ kind: 'update', friend: key(2), currency: 'USD', recvCapacity: capacity, rate: { mul: 0, add: 0 } }], 0);
    graph.apply(key(2), [{ kind: 'update', friend: key(1), currency: 'USD', recvCapacity: capacity, rate: { mul: 0, add: 0 } }], 0);
    const g = graph.snapshot().graphs.get('USD')!;
    const stored = g.capacity[g.slotOf(graph.keys.lookup(key(2))!, graph.keys.lookup(key(1))!)];
    t.equal(stored, floorToDouble(capacity), `${capacity}: the floor double`);
    t.ok(BigInt(stored) <= capacity, `${capacity}: never above the report`);
    t.ok((capacity - BigInt(stored)) * 2n ** 52n <= capacity, `${capacity}: within one part in 2^52`);
  }
});

t.test('a route over huge capacities carries the stored amount and never claims more than reported', async (t) => {
  for (const capacity of huge) {
    const graph = new WriteGraph();
    // 1 - 2 - 3, zero fees, every line `capacity` both ways.
    const both = (a: number, b: number) => {
      graph.apply(key(a), [{ kind: 'update', friend: key(b), currency: 'USD', recvCapacity: capacity, rate: { mul: 0, add: 0 } }], 0);
      graph.apply(key(b), [{ kind: 'update', friend: key(a), currency: 'USD', recvCapacity: capacity, rate: { mul: 0, add: 0 } }], 0);
    };
    both(1, 2);
    both(2, 3);
    const snapshot = graph.snapshot();
    const g = snapshot.graphs.get('USD')!;
    const [s, d] = [graph.keys.lookup(key(1))!, graph.keys.lookup(key(3))!];
    const floor = BigInt(floorToDouble(capacity));
    const found = new Searcher().search(g, { ...defaultSearchParams(s, d, floor), maxRoutes: 1 });
    t.ok(found.complete, `${capacity}: the rounded-down amount is routed`);
    for (const route of found.routes) t.ok(route.capacity <= capacity, `${capacity}: route capacity ${route.capacity} is not above the reports`);
    if (floor < capacity) {
      const exact = new Searcher().search(g, { ...defaultSearchParams(s, d, capacity), maxRoutes: 1 });
      t.notOk(exact.complete, `${capacity}: the part lost to rounding is not offered`);
    }
  }
});
