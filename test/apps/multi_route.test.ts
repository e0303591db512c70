import t from 'tap';
import fc from 'fast-check';
import { planPayment, totalLimit } from '../../src/apps/multi_route.js';
import { maxPayable, routeFee, type Rate } from '../../src/common/rate.js';
import type { IndexRoute } from '../../src/index/types.js';

const key = (n: number): Uint8Array => new Uint8Array(32).fill(n);
const A = key(1);
const Z = key(9);

function route(middle: number[], rates: Rate[], hopCapacity: bigint, amount = 0n): IndexRoute {
  const capacity = maxPayable(rates, hopCapacity);
  return { nodes: [A, ...middle.map(key), Z], capacity, amount, fee: amount > 0n ? routeFee(rates, amount)! : 0n, forwarderRates: rates };
}

t.test('one route that carries the whole amount is used alone, the cheapest of several', async (t) => {
  const dear = route([2], [{ mul: 0, add: 5 }], 1000n);
  const cheap = route([3], [{ mul: 0, add: 1 }], 1000n);
  const plan = planPayment([dear, cheap], 50n, A, Z);
  t.same(plan?.transactions.map((x) => [x.route[1][0], x.destPayment, x.fee]), [[3, 50n, 1n]]);
  t.equal(plan?.totalFees, 1n);
});

t.test('an amount no single route carries is split, each share paying its own forwarders', async (t) => {
  const r1 = route([2], [{ mul: 0, add: 1 }], 31n); // delivers 30
  const r2 = route([3, 4], [{ mul: 0, add: 1 }, { mul: 2 ** 31, add: 0 }], 31n); // x + 1 + x/2 <= 31: 20
  t.equal(r1.capacity, 30n);
  t.equal(r2.capacity, 20n);
  const plan = planPayment([r2, r1], 45n, A, Z)!;
  t.same(plan.transactions.map((x) => x.destPayment), [30n, 15n], 'largest first, the rest on the second');
  t.same(plan.transactions.map((x) => x.fee), [1n, 1n + 7n]);
  t.equal(plan.totalFees, 9n);
  t.equal(planPayment([r1, r2], 51n, A, Z), null, 'more than all routes carry: no plan');
  t.equal(totalLimit([r1, r2]), 50n);
});

t.test('the index server\'s own shares are kept when they add up and their fees are right', async (t) => {
  const r1 = route([2], [{ mul: 0, add: 1 }], 100n, 10n);
  const r2 = route([3], [{ mul: 0, add: 2 }], 100n, 30n);
  const plan = planPayment([r1, r2], 40n, A, Z)!;
  t.same(plan.transactions.map((x) => x.destPayment), [10n, 30n]);
  t.equal(plan.totalFees, 3n);
  const lying = { ...r2, fee: 0n };
  const replanned = planPayment([r1, lying], 40n, A, Z)!;
  t.same(replanned.transactions.map((x) => [x.destPayment, x.fee]), [[40n, 1n]], 'a wrong fee is not trusted; one route suffices');
});

t.test('routes that do not run from the buyer to the seller, or lack a rate per forwarder, are ignored', async (t) => {
  const good = route([2], [{ mul: 0, add: 0 }], 100n);
  const backwards: IndexRoute = { ...good, nodes: [Z, key(2), A] };
  const missingRate: IndexRoute = { ...good, forwarderRates: [] };
  t.equal(planPayment([backwards, missingRate], 10n, A, Z), null);
  t.equal(planPayment([backwards, good], 10n, A, Z)?.transactions.length, 1);
  t.equal(planPayment([good], 0n, A, Z), null, 'nothing to pay');
});

t.test('a plan always delivers exactly the amount within every route\'s limit, fees as the forwarders charge', async (t) => {
  const rateArb = fc.record({ mul: fc.integer({ min: 0, max: 2 ** 32 - 1 }), add: fc.integer({ min: 0, max: 1000 }) });
  const routeArb = fc.tuple(fc.array(rateArb, { maxLength: 4 }), fc.bigInt({ min: 0n, max: 10n ** 6n }))
    .map(([rates, hop], i) => route(rates.map((_, j) => 10 + j + i), rates, hop));
  fc.assert(fc.property(fc.array(routeArb, { minLength: 1, maxLength: 5 }), fc.bigInt({ min: 1n, max: 3n * 10n ** 6n }), (routes, amount) => {
    const plan = planPayment(routes, amount, A, Z);
    if (plan === null) return amount > totalLimit(routes) || routes.every((r) => r.capacity < amount);
    let sum = 0n;
    for (const tx of plan.transactions) {
      const source = routes.find((r) => r.nodes === tx.route)!;
      if (tx.destPayment <= 0n || tx.destPayment > source.capacity) return false;
      if (routeFee(source.forwarderRates, tx.destPayment) !== tx.fee) return false;
      sum += tx.destPayment;
    }
    return sum === amount;
  }), { numRuns: 500 });
  t.pass('property held');
});
