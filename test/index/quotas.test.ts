import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { MAX_CURRENCIES, MAX_MUTATIONS_PER_UPDATE } from '../../src/index/constants.js';
import { IndexCore } from '../../src/index/core.js';
import { WriteGraph } from '../../src/index/graph.js';
import { DEFAULT_INDEX_LIMITS } from '../../src/index/limits.js';
import { SearchExecutor } from '../../src/index/search-executor.js';
import { Snapshot } from '../../src/index/snapshot.js';
import { signMutationsUpdate } from '../../src/index/signing.js';
import type { IndexMutation, MutationsUpdate } from '../../src/index/types.js';

/**
 * Per-node quotas of the graph, and the memory that comes back: one node cannot fill the
 * currency table or intern keys without bound, and what expired reports used is reclaimed.
 */

const session = new Uint8Array(16).fill(7);

class Signer {
  private counter = 0n;
  constructor(readonly identity = Identity.generate()) {}
  sign(core: IndexCore, mutations: IndexMutation[]): MutationsUpdate {
    return signMutationsUpdate(this.identity, { mutations, timeHash: core.clock.latest, sessionEpoch: 1n, sessionId: session, counter: ++this.counter, randNonce: randomBytes(16) });
  }
  send(core: IndexCore, mutations: IndexMutation[]) {
    return core.acceptClientUpdate(this.identity.publicKey, this.sign(core, mutations));
  }
}

const up = (friend: Uint8Array, currency = 'USD'): IndexMutation => ({ kind: 'update', friend, currency, recvCapacity: 100n, rate: { mul: 0, add: 1 } });
const down = (friend: Uint8Array, currency = 'USD'): IndexMutation => ({ kind: 'remove', friend, currency });
const currencyName = (i: number) => `X${i.toString(36).toUpperCase()}`;

t.test("index refuses a node's 65th currency and the table has room for honest nodes", async (t) => {
  const core = new IndexCore({ ttlTicks: 3 });
  const attacker = new Signer();
  const friend = Identity.generate().publicKey;
  // The attacker asks for the whole table: MAX_CURRENCIES names in full updates.
  let accepted = 0;
  const refusals = new Map<string, number>();
  for (let first = 0; first < MAX_CURRENCIES; first += MAX_MUTATIONS_PER_UPDATE / 4) {
    const mutations = Array.from({ length: MAX_MUTATIONS_PER_UPDATE / 4 }, (_, i) => up(friend, currencyName(first + i)));
    const outcome = attacker.send(core, mutations);
    if (outcome.ok) accepted += mutations.length;
    else refusals.set(outcome.reason, (refusals.get(outcome.reason) ?? 0) + 1);
  }
  t.comment(`attacker asked for ${MAX_CURRENCIES} currencies: ${core.graph.currencyCount} in the table, refusals ${JSON.stringify([...refusals])}`);
  t.equal(accepted, DEFAULT_INDEX_LIMITS.currenciesPerNodeMax, 'the attacker holds exactly its quota');
  t.equal(core.graph.currenciesOf(attacker.identity.publicKey), DEFAULT_INDEX_LIMITS.currenciesPerNodeMax);
  t.ok((refusals.get('node-currency-quota') ?? 0) > 0, 'the rest is refused as node-currency-quota');
  t.equal(core.updateRejections.get('node-currency-quota'), refusals.get('node-currency-quota'), 'and counted');

  const one = attacker.send(core, [up(friend, 'ONEMORE')]);
  t.same(one, { ok: false, reason: 'node-currency-quota' }, 'a single 65th currency is refused too');
  t.ok(attacker.send(core, [up(friend, currencyName(0))]).ok, 'a currency it already has is still accepted');

  const honest = new Signer();
  t.ok(honest.send(core, [up(friend, 'EUR'), up(friend, 'CHF')]).ok, 'an honest node opens new currencies');
  t.equal(core.graph.currencyCount, DEFAULT_INDEX_LIMITS.currenciesPerNodeMax + 2);

  // The attacker goes silent: its reports expire, and at the next compaction its currencies leave the table.
  for (let i = 0; i < 4; i++) {
    core.onTick([]);
    t.ok(honest.send(core, [up(friend, 'EUR')]).ok, 'the honest node refreshes');
  }
  core.graph.compact();
  t.equal(core.graph.currencyCount, 2, 'only the honest currencies are left');
  const snapshot = core.graph.snapshot();
  t.same([...snapshot.graphs.keys()].sort(), ['CHF', 'EUR']);
});

t.test('currency slots that no report uses come back at compaction, so turnover never fills the table', async (t) => {
  const graph = new WriteGraph({ currenciesPerNodeMax: MAX_CURRENCIES });
  const a = randomBytes(32);
  const b = randomBytes(32);
  // Far more distinct names over time than the table holds, never more than 8 at once.
  for (let round = 0; round < (MAX_CURRENCIES * 4) / 8; round++) {
    const names = Array.from({ length: 8 }, (_, i) => currencyName(round * 8 + i));
    const mutations = names.map((name) => up(b, name));
    t.equal(graph.quotaCheck(a, mutations), null);
    graph.apply(a, mutations, round);
    graph.compact();
    graph.apply(a, names.map((name) => down(b, name)), round);
  }
  graph.compact();
  t.equal(graph.currencyCount, 0, 'every slot is free again');
  t.equal(graph.quotaCheck(a, [up(b, 'USD')]), null, 'and a new currency is accepted');
});

t.test("index refuses a node's report past its quota, and an update that removes as many as it adds passes", async (t) => {
  const core = new IndexCore();
  const attacker = new Signer();
  const quota = DEFAULT_INDEX_LIMITS.reportsPerNodeMax;
  let held = 0;
  for (;;) {
    const mutations = Array.from({ length: MAX_MUTATIONS_PER_UPDATE }, () => up(randomBytes(32)));
    const outcome = attacker.send(core, mutations);
    if (!outcome.ok) {
      t.equal(outcome.reason, 'node-report-quota');
      break;
    }
    held += mutations.length;
    if (held > quota) break;
  }
  t.equal(held, quota, 'the node holds exactly its quota');
  t.equal(core.graph.reportsOf(attacker.identity.publicKey), quota);
  t.equal(core.graph.storedReports, quota);
  // At the quota, swapping friends one for one is still allowed (remove first, then add).
  const some = randomBytes(32);
  t.same(attacker.send(core, [up(some)]), { ok: false, reason: 'node-report-quota' });
  t.ok(core.graph.quotaCheck(attacker.identity.publicKey, [up(some), down(some)]) === null, 'an add undone in the same update stays within the quota');
});

t.test('friend keys of expired reports are reclaimed: a node cycling random friends cannot grow the key table', async (t) => {
  const core = new IndexCore();
  const attacker = new Signer();
  let previous: Uint8Array[] = [];
  let peakKeys = 0;
  const rounds = 80;
  for (let round = 0; round < rounds; round++) {
    const fresh = Array.from({ length: MAX_MUTATIONS_PER_UPDATE / 2 }, () => randomBytes(32));
    const mutations = [...previous.map((k) => down(k)), ...fresh.map((k) => up(k))];
    t.ok(attacker.send(core, mutations).ok);
    previous = fresh;
    core.graph.compact(); // as the server does after every change
    peakKeys = Math.max(peakKeys, core.graph.keys.size);
  }
  const interned = rounds * (MAX_MUTATIONS_PER_UPDATE / 2) + 1;
  t.comment(`${interned} distinct keys sent, ${core.graph.storedReports} reports held: key table peaked at ${peakKeys}, now ${core.graph.keys.size}, ${core.graph.keyReclaims} reclaims`);
  t.equal(core.graph.storedReports, MAX_MUTATIONS_PER_UPDATE / 2);
  t.equal(core.graph.liveKeyCount, MAX_MUTATIONS_PER_UPDATE / 2 + 1);
  t.ok(peakKeys <= 2 * 4096 + MAX_MUTATIONS_PER_UPDATE, `the key table stays bounded (${peakKeys} keys at most)`);
  t.ok(core.graph.keyReclaims > 0, 'dead keys were reclaimed');
});

t.test('keys come back when their reports expire, and a reclaim keeps every edge and every route', async (t) => {
  const graph = new WriteGraph({ keyReclaimMinDead: 1 });
  const keys = Array.from({ length: 60 }, () => randomBytes(32));
  // A ring of 60 nodes, each reporting both neighbours; then half of them go away.
  for (let i = 0; i < keys.length; i++) {
    graph.apply(keys[i], [up(keys[(i + 1) % keys.length]), up(keys[(i + keys.length - 1) % keys.length])], i < 30 ? 0 : 10);
  }
  const executor = new SearchExecutor();
  executor.install(graph.compact().handle);
  const before = edges(graph.compact().handle);
  t.equal(graph.keys.size, 60);
  // Unrelated keys that nothing uses for long: a burst of friends, then removed.
  const burst = Array.from({ length: 100 }, () => randomBytes(32));
  graph.apply(keys[0], burst.map((k) => up(k)), 0);
  graph.compact();
  graph.apply(keys[0], burst.map((k) => down(k)), 0);
  const { handle } = graph.compact();
  t.equal(graph.keys.size, 60, 'the burst keys are gone');
  t.equal(handle.keyEpoch, 1, 'the snapshot says its ids were renumbered');
  t.same(edges(handle), before, 'every edge is as it was, under the same keys');
  executor.install(handle);
  const plan = executor.plan({ requestId: randomBytes(16), currency: 'USD', amount: 10n, source: keys[5], destination: keys[20], exclude: null, maxHops: 0, maxFee: null, maxRoutes: 1 }, { workMax: 1e6, deadlineMs: 1000 });
  t.ok(plan.ok, 'a search is planned on the renumbered snapshot');

  graph.expire(100, 60); // every node is silent now
  graph.compact();
  t.equal(graph.liveKeyCount, 0);
  t.equal(graph.keys.size, 0, 'with every report expired, no key is kept');
  t.equal(graph.currencyCount, 0);
});

function edges(handle: ReturnType<WriteGraph['compact']>['handle']): string[] {
  const snapshot = new Snapshot(handle);
  const out: string[] = [];
  for (const [name, g] of snapshot.graphs) {
    for (let u = 0; u < g.nodeCount; u++) {
      for (let s = g.offsets[u]; s < g.offsets[u + 1]; s++) {
        const v = g.targets[s];
        const mirrored = g.mirror[s] >= g.offsets[v] && g.mirror[s] < g.offsets[v + 1] && g.targets[g.mirror[s]] === u;
        out.push(`${name} ${Buffer.from(snapshot.keyOf(u)).toString('hex')} ${Buffer.from(snapshot.keyOf(v)).toString('hex')} ${g.capacity[s]} ${mirrored}`);
      }
    }
  }
  return out.sort();
}
