import t from 'tap';
import { routeFee, type Rate } from '../../src/common/rate.js';
import { WriteGraph } from '../../src/index/graph.js';
import { defaultSearchParams, Searcher } from '../../src/index/search.js';
import type { IndexMutation } from '../../src/index/types.js';

const CUR = 'USD';
function key(n: number): Uint8Array {
  const k = new Uint8Array(32);
  k[0] = 7;
  k[28] = (n >>> 24) & 0xff;
  k[29] = (n >>> 16) & 0xff;
  k[30] = (n >>> 8) & 0xff;
  k[31] = n & 0xff;
  return k;
}
const update = (friend: number, recvCapacity: bigint, rate: Rate = { mul: 0, add: 0 }): IndexMutation => ({
  kind: 'update',
  friend: key(friend),
  currency: CUR,
  recvCapacity,
  rate,
});

function search(graph: WriteGraph, from: number, to: number, amount: bigint, extra: Partial<ReturnType<typeof defaultSearchParams>> = {}) {
  const snapshot = graph.snapshot();
  const g = snapshot.graphs.get(CUR)!;
  const src = graph.keys.lookup(key(from))!;
  const dst = graph.keys.lookup(key(to))!;
  const outcome = new Searcher().search(g, { ...defaultSearchParams(src, dst, amount), ...extra });
  const names = (ids: number[]) => ids.map((id) => snapshot.keyOf(id)[31]);
  return { ...outcome, paths: outcome.routes.map((r) => names(r.nodes)) };
}

t.test('send capacity A->B is what B reports A can push, and needs both reports', async (t) => {
  const graph = new WriteGraph();
  graph.apply(key(1), [update(2, 100n)], 0); // 2 can push 100 to 1
  let snap = graph.snapshot();
  t.equal(snap.graphs.get(CUR)!.edgeCount, 0, 'one-sided report makes no edge');
  graph.apply(key(2), [update(1, 30n)], 0); // 1 can push 30 to 2
  snap = graph.snapshot();
  const g = snapshot(graph);
  const a = graph.keys.lookup(key(1))!;
  const b = graph.keys.lookup(key(2))!;
  t.equal(g.capacity[g.slotOf(a, b)], 30, '1->2 capacity comes from 2\'s report');
  t.equal(g.capacity[g.slotOf(b, a)], 100, '2->1 capacity comes from 1\'s report');
  t.ok(snap.generation > 0);
  t.equal(search(graph, 1, 2, 30n).routes.length, 1);
  t.notOk(search(graph, 1, 2, 31n).complete, '1 cannot push 31 to 2');
  t.ok(search(graph, 2, 1, 100n).complete);
});

function snapshot(graph: WriteGraph) {
  return graph.snapshot().graphs.get(CUR)!;
}

t.test('removing or expiring a node removes only its own reports', async (t) => {
  const graph = new WriteGraph();
  graph.apply(key(1), [update(2, 10n), update(3, 10n)], 0);
  graph.apply(key(2), [update(1, 10n), update(3, 10n)], 0);
  graph.apply(key(3), [update(1, 10n), update(2, 10n)], 5);
  graph.apply(key(4), [{ ...update(5, 10n), currency: 'EUR' }], 5);
  graph.apply(key(5), [{ ...update(4, 10n), currency: 'EUR' }], 5);
  t.equal(snapshot(graph).edgeCount, 6);
  t.equal(graph.expire(60, 60), 2, 'nodes 1 and 2 expire at tick 60');
  let g = snapshot(graph);
  t.equal(g.edgeCount, 0, 'edges need both ends');
  t.equal(graph.snapshot().graphs.get('EUR')!.edgeCount, 2, 'another currency keeps its graph');
  t.equal(graph.storedReports, 4, 'node 3 still holds its reports');
  graph.apply(key(1), [update(2, 10n), update(3, 10n)], 61);
  g = snapshot(graph);
  t.equal(g.edgeCount, 2, 'node 1 coming back restores 1<->3 from node 3\'s kept report');
  graph.removeNode(key(3));
  t.equal(snapshot(graph).edgeCount, 0);
  graph.apply(key(1), [{ kind: 'remove', friend: key(3), currency: CUR }], 62);
  t.equal(graph.storedReports, 3);
});

t.test('a three-hop route with asymmetric rates reports exactly the fee the forwarders charge', async (t) => {
  // Route S(1) -> F1(2) -> F2(3) -> D(4). F1 charges for payments from S, F2 for those from F1.
  const graph = new WriteGraph();
  const f1FromS: Rate = { mul: 2 ** 28, add: 3 }; // 1/16 + 3
  const f1FromF2: Rate = { mul: 2 ** 31, add: 100 }; // the other direction, much dearer
  const f2FromF1: Rate = { mul: 2 ** 27, add: 5 }; // 1/32 + 5
  const f2FromD: Rate = { mul: 2 ** 30, add: 50 };
  const sFromF1: Rate = { mul: 2 ** 30, add: 77 };
  graph.apply(key(1), [update(2, 1_000_000n, sFromF1)], 0);
  graph.apply(key(2), [update(1, 1_000_000n, f1FromS), update(3, 1_000_000n, f1FromF2)], 0);
  graph.apply(key(3), [update(2, 1_000_000n, f2FromF1), update(4, 1_000_000n, f2FromD)], 0);
  graph.apply(key(4), [update(3, 1_000_000n, { mul: 2 ** 31, add: 9 })], 0);
  const amount = 1000n;
  const result = search(graph, 1, 4, amount);
  t.same(result.paths, [[1, 2, 3, 4]]);
  const route = result.routes[0];
  t.same(route.forwarderRates, [f1FromS, f2FromF1], 'each forwarder\'s rate for the previous hop');
  const expected = routeFee([f1FromS, f2FromF1], amount)!;
  t.equal(route.fee, expected, 'fee equals routeFee over the forwarders\' rates');
  t.equal(expected, 62n + 3n + 31n + 5n);
  const wrongDirection = routeFee([sFromF1, f1FromF2], amount)!;
  t.not(route.fee, wrongDirection, 'the original\'s direction would report a different fee');
  // Capacity accounts for fees charged downstream of each hop.
  t.ok(route.capacity < 1_000_000n);
  const x = route.capacity;
  t.ok(x + routeFee([f1FromS, f2FromF1], x)! <= 1_000_000n);
  t.ok(x + 1n + routeFee([f1FromS, f2FromF1], x + 1n)! > 1_000_000n);
});

t.test('search honours the excluded edge and the hop cap', async (t) => {
  // Two paths 1->2->5 and 1->3->4->5.
  const graph = new WriteGraph();
  const link = (a: number, b: number) => {
    graph.apply(key(a), [update(b, 50n)], 0);
    graph.apply(key(b), [update(a, 50n)], 0);
  };
  link(1, 2);
  link(2, 5);
  link(1, 3);
  link(3, 4);
  link(4, 5);
  t.same(search(graph, 1, 5, 10n).paths, [[1, 2, 5]]);
  const ex = { excludeFrom: graph.keys.lookup(key(2))!, excludeTo: graph.keys.lookup(key(5))! };
  t.same(search(graph, 1, 5, 10n, ex).paths, [[1, 3, 4, 5]]);
  t.same(search(graph, 1, 5, 10n, { ...ex, maxHops: 2 }).paths, [], 'the detour is over the cap');
  t.same(search(graph, 1, 1, 10n).paths, [], 'source = destination never matches');
  // A cycle through 1 via friend 2: ask 2 -> 1 excluding the direct edge.
  const cycle = search(graph, 2, 1, 10n, { excludeFrom: graph.keys.lookup(key(2))!, excludeTo: graph.keys.lookup(key(1))! });
  t.same(cycle.paths, [[2, 5, 4, 3, 1]]);
});

t.test('several routes cover an amount no single route carries, ordered by rate, feasible together', async (t) => {
  const graph = new WriteGraph();
  const link = (a: number, b: number, cap: bigint, rate: Rate = { mul: 0, add: 0 }) => {
    graph.apply(key(a), [update(b, cap, rate)], 0);
    graph.apply(key(b), [update(a, cap, rate)], 0);
  };
  // 1 -> {2,3,4} -> 9, each 40 wide; the middle ones charge different flat fees.
  link(1, 2, 40n, { mul: 0, add: 1 });
  link(2, 9, 40n);
  link(1, 3, 40n, { mul: 0, add: 3 });
  link(3, 9, 40n);
  link(1, 4, 40n, { mul: 0, add: 2 });
  link(4, 9, 40n);
  const result = search(graph, 1, 9, 100n, { maxRoutes: 4 });
  t.ok(result.complete);
  t.equal(result.routes.reduce((sum, r) => sum + r.amount, 0n), 100n);
  t.same(result.paths.map((p) => p[1]), [2, 4, 3], 'cheapest forwarder first');
  for (const r of result.routes) t.ok(r.amount + r.fee <= 40n);
  const capped = search(graph, 1, 9, 100n, { maxRoutes: 4, maxFee: 2n });
  t.notOk(capped.complete, 'the fee cap leaves out the dearest forwarder');
  t.ok(capped.routes.every((r) => r.fee <= 2n));
  const two = search(graph, 1, 9, 100n, { maxRoutes: 2 });
  t.notOk(two.complete, 'two routes cannot carry 100');
  t.equal(two.routes.length, 2);
});

t.test('a search that hits its work bound answers what it has', async (t) => {
  const graph = new WriteGraph();
  for (let i = 1; i < 200; i++) {
    graph.apply(key(i), [update(i + 1, 10n), ...(i > 1 ? [update(i - 1, 10n)] : [])], 0);
  }
  graph.apply(key(200), [update(199, 10n)], 0);
  const result = search(graph, 1, 200, 5n, { workMax: 20 });
  t.ok(result.truncated);
  t.same(result.routes, []);
  t.ok(search(graph, 1, 200, 5n, { maxHops: 31 }).routes.length === 0, 'a 199-hop route is over the protocol maximum');
  t.equal(search(graph, 1, 32, 5n).paths[0].length, 32, 'a 31-hop route is found');
});

t.test('a report set again replaces capacity, rate and age in place; a held snapshot keeps its values', async (t) => {
  const graph = new WriteGraph();
  graph.apply(key(1), [update(2, 100n, { mul: 1, add: 2 })], 0);
  graph.apply(key(2), [update(1, 30n)], 0);
  const before = snapshot(graph);
  const a = graph.keys.lookup(key(1))!;
  const b = graph.keys.lookup(key(2))!;
  graph.apply(key(1), [update(2, 2n ** 70n, { mul: 9, add: 8 })], 5);
  t.equal(graph.storedReports, 2, 'still one report per pair');
  const after = snapshot(graph);
  t.equal(after.capacity[after.slotOf(b, a)], 2 ** 70, 'new capacity');
  t.equal(after.rateMul[after.slotOf(b, a)], 9, 'new rate');
  t.equal(after.rateAdd[after.slotOf(b, a)], 8);
  t.equal(before.capacity[before.slotOf(b, a)], 100, 'the earlier snapshot is unchanged');
  // The report's age moved with it: ageing at tick 6 with a TTL of 3 keeps it, drops the other.
  t.equal(graph.ageReports(6, 3, 100), 1, 'only the report not set again is dropped');
  t.equal(graph.storedReports, 1);
});
