import t from 'tap';
import { IndexCore } from '../../src/index/core.js';
import type { IndexMutation } from '../../src/index/types.js';

const key = (n: number) => {
  const k = new Uint8Array(32);
  k[0] = 5;
  k[31] = n;
  return k;
};
const report = (friend: number, capacity = 100n): IndexMutation => ({ kind: 'update', friend: key(friend), currency: 'USD', recvCapacity: capacity, rate: { mul: 0, add: 0 } });

function edge(core: IndexCore, from: number, to: number): boolean {
  const g = core.graph.snapshot().graphs.get('USD');
  const [a, b] = [core.graph.keys.lookup(key(from)), core.graph.keys.lookup(key(to))];
  return g !== undefined && a !== undefined && b !== undefined && g.slotOf(a, b) >= 0;
}

t.test('a report not set again within the report TTL is dropped while its node stays alive', async (t) => {
  const ttl = 5;
  const core = new IndexCore({ ttlTicks: 1000, reportTtlTicks: ttl });
  // 1 reports 2 and 3; both report 1 back.
  core.graph.apply(key(1), [report(2), report(3)], core.tick);
  core.graph.apply(key(2), [report(1)], core.tick);
  core.graph.apply(key(3), [report(1)], core.tick);
  t.ok(edge(core, 2, 1) && edge(core, 3, 1), 'both lines start in the graph');
  let droppedAt = -1;
  for (let i = 0; i < 3 * ttl; i++) {
    // 1 keeps itself alive by refreshing its report of 2 only; 2 and 3 refresh theirs.
    core.graph.apply(key(1), [report(2)], core.tick);
    core.graph.apply(key(2), [report(1)], core.tick);
    core.graph.apply(key(3), [report(1)], core.tick);
    core.onTick([]);
    if (droppedAt < 0 && !edge(core, 3, 1)) droppedAt = core.tick;
  }
  t.ok(droppedAt > 0, "1's stale report of 3 was dropped");
  t.ok(droppedAt >= ttl && droppedAt <= 2 * ttl, `dropped at tick ${droppedAt}, within [${ttl}, ${2 * ttl}]`);
  t.ok(edge(core, 2, 1) && edge(core, 1, 2), 'the refreshed line stays');
  t.ok(core.graph.isReporting(core.graph.keys.lookup(key(1))!), 'node 1 itself is alive');
  t.equal(core.graph.storedReports, 3, "of the four reports only 1's report of 3 went (3 still reports 1)");
});

t.test('report ageing visits a bounded number of reporters per call and still reaches every one', async (t) => {
  const core = new IndexCore({ ttlTicks: 1000, reportTtlTicks: 3 });
  for (let n = 1; n <= 40; n++) core.graph.apply(key(n), [report(n === 40 ? 1 : n + 1)], 0);
  t.equal(core.graph.storedReports, 40);
  // 4 reporters per call: ten calls cover all 40.
  let dropped = 0;
  for (let i = 0; i < 10; i++) dropped += core.graph.ageReports(10, 3, 4);
  t.equal(dropped, 40, 'every stale report found, 4 reporters at a time');
  t.equal(core.graph.storedReports, 0);
  t.equal(core.graph.ageReports(11, 3, 4), 0, 'nothing left');
});
