import fc from 'fast-check';
import t from 'tap';
import { calcFee, routeFee, type Rate } from '../../src/common/rate.js';
import { WriteGraph } from '../../src/index/graph.js';
import { carriedPerHop, defaultSearchParams, Searcher } from '../../src/index/search.js';

interface Link {
  a: number;
  b: number;
  capAB: number; // what a can push to b
  capBA: number;
  rateA: Rate; // a's rate for b
  rateB: Rate;
}

const rateArb = fc.record({ mul: fc.integer({ min: 0, max: 2 ** 30 }), add: fc.integer({ min: 0, max: 3 }) });
const graphArb = fc
  .integer({ min: 2, max: 24 })
  .chain((n) =>
    fc.record({
      n: fc.constant(n),
      links: fc.array(
        fc.record({
          a: fc.integer({ min: 0, max: n - 1 }),
          b: fc.integer({ min: 0, max: n - 1 }),
          capAB: fc.integer({ min: 0, max: 100 }),
          capBA: fc.integer({ min: 0, max: 100 }),
          rateA: rateArb,
          rateB: rateArb,
        }),
        { maxLength: 60 },
      ),
      source: fc.integer({ min: 0, max: n - 1 }),
      destination: fc.integer({ min: 0, max: n - 1 }),
      amount: fc.integer({ min: 1, max: 120 }),
      maxHops: fc.integer({ min: 1, max: 8 }),
      exclude: fc.option(fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 0, max: n - 1 }))),
    }),
  );

const key = (n: number) => {
  const k = new Uint8Array(32);
  k[31] = n;
  k[0] = 1;
  return k;
};

function build(n: number, links: Link[], zeroRates: boolean) {
  const graph = new WriteGraph();
  for (let i = 0; i < n; i++) graph.keys.intern(key(i));
  const caps = new Map<string, { cap: number; rate: Rate }>(); // "u,v" -> what u can push to v, v's rate for u
  for (const l of links) {
    if (l.a === l.b) continue;
    const rateA = zeroRates ? { mul: 0, add: 0 } : l.rateA;
    const rateB = zeroRates ? { mul: 0, add: 0 } : l.rateB;
    // a reports: b can push capBA to a; b reports: a can push capAB to b.
    graph.apply(key(l.a), [{ kind: 'update', friend: key(l.b), currency: 'X', recvCapacity: BigInt(l.capBA), rate: rateA }], 0);
    graph.apply(key(l.b), [{ kind: 'update', friend: key(l.a), currency: 'X', recvCapacity: BigInt(l.capAB), rate: rateB }], 0);
    caps.set(`${l.a},${l.b}`, { cap: l.capAB, rate: rateB });
    caps.set(`${l.b},${l.a}`, { cap: l.capBA, rate: rateA });
  }
  return { graph, caps };
}

/** Plain BFS over an adjacency map: the reference. */
function referenceShortest(n: number, caps: Map<string, { cap: number }>, s: number, d: number, amount: number, maxHops: number, ex: [number, number] | null): number | null {
  if (s === d) return null;
  const dist = new Map<number, number>([[s, 0]]);
  let frontier = [s];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const u of frontier) {
      for (let v = 0; v < n; v++) {
        const e = caps.get(`${u},${v}`);
        if (e === undefined || e.cap < amount || dist.has(v)) continue;
        if (ex !== null && ex[0] === u && ex[1] === v) continue;
        dist.set(v, dist.get(u)! + 1);
        next.push(v);
      }
    }
    frontier = next;
  }
  const found = dist.get(d);
  return found !== undefined && found <= maxHops ? found : null;
}

t.test('BFS finds a route exactly when a reference search does, of the same length', async (t) => {
  const searcher = new Searcher();
  fc.assert(
    fc.property(graphArb, (c) => {
      const { graph, caps } = build(c.n, c.links, true);
      const g = graph.snapshot().graphs.get('X');
      const ex = c.exclude ?? null;
      const expected = referenceShortest(c.n, caps, c.source, c.destination, c.amount, c.maxHops, ex);
      if (g === undefined) return expected === null;
      const outcome = searcher.search(g, {
        ...defaultSearchParams(c.source, c.destination, BigInt(c.amount)),
        maxHops: c.maxHops,
        maxRoutes: 1,
        excludeFrom: ex?.[0] ?? -1,
        excludeTo: ex?.[1] ?? -1,
      });
      if (expected === null) return !outcome.complete;
      return outcome.complete && outcome.routes.length === 1 && outcome.routes[0].nodes.length - 1 === expected;
    }),
    { numRuns: 600 },
  );
  t.pass('600 random graphs agree with the reference');
});

t.test('every returned route exists, has its capacity, respects exclusion and hop caps, and shares fit together', async (t) => {
  const searcher = new Searcher();
  fc.assert(
    fc.property(graphArb, fc.integer({ min: 1, max: 5 }), (c, maxRoutes) => {
      const { graph, caps } = build(c.n, c.links, false);
      const g = graph.snapshot().graphs.get('X');
      if (g === undefined) return true;
      const ex = c.exclude ?? null;
      const outcome = searcher.search(g, {
        ...defaultSearchParams(c.source, c.destination, BigInt(c.amount)),
        maxHops: c.maxHops,
        maxRoutes,
        excludeFrom: ex?.[0] ?? -1,
        excludeTo: ex?.[1] ?? -1,
      });
      const used = new Map<string, bigint>();
      let total = 0n;
      for (const route of outcome.routes) {
        const nodes = route.nodes;
        if (nodes[0] !== c.source || nodes[nodes.length - 1] !== c.destination) return false;
        if (nodes.length - 1 > c.maxHops || new Set(nodes).size !== nodes.length) return false;
        const hopCaps: bigint[] = [];
        const rates: Rate[] = [];
        for (let i = 0; i + 1 < nodes.length; i++) {
          const e = caps.get(`${nodes[i]},${nodes[i + 1]}`);
          if (e === undefined || caps.get(`${nodes[i + 1]},${nodes[i]}`) === undefined) return false;
          if (ex !== null && ex[0] === nodes[i] && ex[1] === nodes[i + 1]) return false;
          hopCaps.push(BigInt(e.cap));
          if (i > 0) rates.push(caps.get(`${nodes[i - 1]},${nodes[i]}`)!.rate);
        }
        if (JSON.stringify(rates) !== JSON.stringify(route.forwarderRates)) return false;
        if (route.fee !== routeFee(rates, route.amount)) return false;
        // The claimed capacity is deliverable on its own, and one more unit is not.
        const ok = (x: bigint) => carriedPerHop(rates, x).every((carried, i) => carried <= hopCaps[i]);
        if (!ok(route.capacity) || ok(route.capacity + 1n) || route.amount > route.capacity || route.amount <= 0n) return false;
        const carried = carriedPerHop(rates, route.amount);
        for (let i = 0; i + 1 < nodes.length; i++) {
          const k = `${nodes[i]},${nodes[i + 1]}`;
          used.set(k, (used.get(k) ?? 0n) + carried[i]);
        }
        total += route.amount;
        void calcFee;
      }
      for (const [k, amount] of used) if (amount > BigInt(caps.get(k)!.cap)) return false;
      if (outcome.complete !== (total === BigInt(c.amount))) return false;
      return total <= BigInt(c.amount);
    }),
    { numRuns: 600 },
  );
  t.pass('600 random graphs with random rates');
});
