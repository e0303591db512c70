import fc from 'fast-check';
import t from 'tap';
import { WriteGraph } from '../../src/index/graph.js';
import type { IndexMutation } from '../../src/index/types.js';

const key = (n: number) => {
  const k = new Uint8Array(32);
  k[0] = 9;
  k[31] = n;
  return k;
};

type Op =
  | { op: 'update'; node: number; friend: number; currency: string; capacity: bigint; mul: number; add: number }
  | { op: 'remove'; node: number; friend: number; currency: string }
  | { op: 'removeNode'; node: number }
  | { op: 'tick' }
  | { op: 'compact' };

const NODES = 40;
const node = fc.nat(NODES - 1);
const currency = fc.constantFrom('USD', 'EUR');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ op: fc.constant('update' as const), node, friend: node, currency, capacity: fc.bigInt({ min: 0n, max: 2n ** 70n }), mul: fc.nat(1000), add: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('remove' as const), node, friend: node, currency }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removeNode' as const), node }) },
  { weight: 1, arbitrary: fc.constant({ op: 'tick' as const }) },
  { weight: 3, arbitrary: fc.constant({ op: 'compact' as const }) },
);

function arrays(graph: WriteGraph): string {
  const snapshot = graph.snapshot();
  const out: Record<string, unknown> = {};
  for (const [name, g] of [...snapshot.graphs].sort((a, b) => a[0].localeCompare(b[0]))) {
    out[name] = {
      nodes: g.nodeCount,
      edges: g.edgeCount,
      offsets: [...g.offsets],
      targets: [...g.targets],
      mirror: [...g.mirror],
      rateMul: [...g.rateMul],
      rateAdd: [...g.rateAdd],
      capacity: [...g.capacity],
    };
  }
  return JSON.stringify(out);
}

t.test('property: incremental compaction yields exactly the arrays of a full rebuild', async (t) => {
  let compactions = 0;
  // A random base graph, then rounds of a few changes, each round followed by a compaction:
  // most rows are kept and shifted, a few redone.
  const base = fc.array(fc.tuple(node, node, fc.bigInt({ min: 0n, max: 1000n })), { minLength: 20, maxLength: 150 });
  const round = fc.array(opArb.filter((o) => o.op !== 'compact'), { minLength: 1, maxLength: 4 });
  fc.assert(
    fc.property(base, fc.array(round, { minLength: 1, maxLength: 12 }), (edges, rounds) => {
      // Same operations on both; one always reuses its previous snapshot, one always rebuilds.
      const incremental = new WriteGraph({ fullRebuildShare: 1 });
      const full = new WriteGraph({ fullRebuildShare: 0 });
      const both = (run: (g: WriteGraph) => void) => {
        run(incremental);
        run(full);
      };
      for (const [a, b, capacity] of edges) {
        if (a === b) continue;
        both((g) => g.apply(key(a), [{ kind: 'update', friend: key(b), currency: 'USD', recvCapacity: capacity, rate: { mul: 1, add: 1 } }], 0));
        both((g) => g.apply(key(b), [{ kind: 'update', friend: key(a), currency: 'USD', recvCapacity: capacity + 1n, rate: { mul: 2, add: 0 } }], 0));
      }
      both((g) => g.compact());
      let tick = 0;
      for (const ops of rounds) {
        for (const op of ops) {
          if (op.op === 'update' || op.op === 'remove') {
            if (op.node === op.friend) continue;
            const m: IndexMutation =
              op.op === 'update'
                ? { kind: 'update', friend: key(op.friend), currency: op.currency, recvCapacity: op.capacity, rate: { mul: op.mul, add: op.add } }
                : { kind: 'remove', friend: key(op.friend), currency: op.currency };
            both((g) => g.apply(key(op.node), [m], tick));
          } else if (op.op === 'removeNode') both((g) => g.removeNode(key(op.node)));
          else if (op.op === 'tick') {
            tick++;
            both((g) => g.expire(tick, 3));
          }
        }
        compactions++;
        if (arrays(incremental) !== arrays(full)) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.ok(compactions > 300, `compared after ${compactions} incremental compactions`);
});

t.test('a change to a few nodes of a large graph rebuilds only their rows and keeps the mirrors right', async (t) => {
  const graph = new WriteGraph();
  const n = 2000;
  for (let i = 0; i < n; i++) {
    const friends = [(i + 1) % n, (i + n - 1) % n, (i * 7 + 3) % n].filter((f) => f !== i);
    graph.apply(
      bigKey(i),
      friends.map((f) => ({ kind: 'update', friend: bigKey(f), currency: 'USD', recvCapacity: BigInt(i * 10 + f), rate: { mul: 1, add: i % 5 } })),
      0,
    );
  }
  graph.compact();
  graph.apply(bigKey(5), [{ kind: 'remove', friend: bigKey(6), currency: 'USD' }], 1);
  graph.apply(bigKey(1500), [{ kind: 'update', friend: bigKey(5), currency: 'USD', recvCapacity: 77n, rate: { mul: 0, add: 0 } }], 1);
  graph.apply(bigKey(5), [{ kind: 'update', friend: bigKey(1500), currency: 'USD', recvCapacity: 88n, rate: { mul: 0, add: 0 } }], 1);
  const g = graph.snapshot().graphs.get('USD')!;
  const id = (i: number) => graph.keys.lookup(bigKey(i))!;
  t.equal(g.slotOf(id(5), id(6)), -1, 'the removed report removed the edge 5->6');
  t.equal(g.slotOf(id(6), id(5)), -1, 'and 6->5');
  t.equal(g.capacity[g.slotOf(id(5), id(1500))], 77, 'new edge 5->1500 carries what 1500 reports 5 can push');
  t.equal(g.capacity[g.slotOf(id(1500), id(5))], 88);
  for (let s = 0; s < g.edgeCount; s++) {
    if (g.mirror[g.mirror[s]] !== s) {
      t.fail(`mirror of slot ${s} is not an involution`);
      return;
    }
  }
  t.pass('every mirror points back');
});

function bigKey(i: number): Uint8Array {
  const k = new Uint8Array(32);
  k[0] = 3;
  k[30] = i >>> 8;
  k[31] = i & 0xff;
  return k;
}
