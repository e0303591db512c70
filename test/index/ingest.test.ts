import fc from 'fast-check';
import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { IndexCore, type IngestOutcome } from '../../src/index/core.js';
import { decodeClientMessage, encodeClientMessage } from '../../src/index/codec.js';
import { IngestPipeline } from '../../src/index/ingest.js';
import { canonicalDigest, mutationsUpdateDigest, signMutationsUpdate } from '../../src/index/signing.js';
import type { MutationsUpdate } from '../../src/index/types.js';
import { InlineVerifier, VerifyPool, type BatchVerifier } from '../../src/index/verify-pool.js';

const people = Array.from({ length: 4 }, () => Identity.generate());

function update(core: IndexCore, who: number, counter: bigint, capacity = 100n): MutationsUpdate {
  return signMutationsUpdate(people[who], {
    mutations: [{ kind: 'update', friend: people[(who + 1) % people.length].publicKey, currency: 'USD', recvCapacity: capacity, rate: { mul: 1, add: 2 } }],
    timeHash: core.clock.latest,
    sessionEpoch: 1000n,
    sessionId: new Uint8Array(16).fill(who + 1),
    counter,
    randNonce: randomBytes(16),
  });
}

function forged(u: MutationsUpdate): MutationsUpdate {
  const signature = u.signature.slice();
  signature[7] ^= 0x20;
  return { ...u, signature };
}


/** Submits client updates (arrival order) and collects the outcomes in delivery order. */
async function runPipeline(core: IndexCore, verifier: BatchVerifier, items: { key: Uint8Array; update: MutationsUpdate }[], batchFramesMax = 3): Promise<{ outcomes: IngestOutcome[]; order: number[] }> {
  const pipeline = new IngestPipeline(core, verifier, { batchFramesMax });
  const outcomes: IngestOutcome[] = [];
  const order: number[] = [];
  items.forEach((item, i) =>
    pipeline.submitClient(item.key, item.update, (outcome) => {
      outcomes.push(outcome);
      order.push(i);
    }),
  );
  await pipeline.idle();
  await pipeline.close();
  return { outcomes, order };
}

function state(core: IndexCore): string {
  const counters = people.map((p) => String(core.ratchet.check(p.publicKey, 1000n, new Uint8Array(16).fill(people.indexOf(p) + 1), 2n ** 63n)));
  return JSON.stringify([core.graph.storedReports, core.graph.reporterCount, core.ratchet.size, core.updatesAccepted, core.mutationsApplied, counters, [...core.updateRejections].sort()]);
}

t.test('updates checked in parallel on worker threads are applied in arrival order', async (t) => {
  const core = new IndexCore();
  // Ten updates of one node, counters 1..10, spread over several batches in flight at once.
  const items = Array.from({ length: 10 }, (_, i) => ({ key: people[0].publicKey, update: update(core, 0, BigInt(i + 1), BigInt(100 + i)) }));
  // A copy of counter 4 arrives after it: a replay, refused although both were checked together.
  items.push({ key: people[0].publicKey, update: items[3].update });
  const pool = new VerifyPool(2);
  const { outcomes, order } = await runPipeline(core, pool, items, 2);
  t.same(order, items.map((_, i) => i), 'outcomes delivered in arrival order');
  t.same(outcomes.slice(0, 10).map((o) => o.ok), Array(10).fill(true), 'every counter in order accepted');
  t.same(outcomes[10], { ok: false, reason: 'counter-replay' });
  t.equal(core.ratchet.check(people[0].publicKey, 1000n, new Uint8Array(16).fill(1), 10n), 'counter-replay', 'the ratchet stands at the last counter');
  t.equal(core.ratchet.check(people[0].publicKey, 1000n, new Uint8Array(16).fill(1), 11n), 'ok');
});

t.test('a forged signature checked on a worker is refused with a counted reason and changes nothing', async (t) => {
  const core = new IndexCore();
  const good = update(core, 1, 1n);
  const items = [
    { key: people[1].publicKey, update: good },
    // Counter 2 forged: refused; the genuine counter 2 that follows must still be accepted,
    // so the forged update cannot have advanced the ratchet.
    { key: people[1].publicKey, update: forged(update(core, 1, 2n, 999n)) },
    { key: people[1].publicKey, update: update(core, 1, 2n, 7n) },
    // A forged update of a node never seen before leaves no trace at all.
    { key: people[3].publicKey, update: forged(update(core, 3, 1n)) },
  ];
  const pool = new VerifyPool(1);
  const { outcomes } = await runPipeline(core, pool, items, 1);
  t.same(outcomes.map((o) => (o.ok ? 'ok' : o.reason)), ['ok', 'bad-signature', 'ok', 'bad-signature']);
  t.equal(core.updateRejections.get('bad-signature'), 2, 'both forgeries counted');
  t.equal(core.graph.reporterCount, 1, 'the node with only a forged update is not in the graph');
  t.equal(core.graph.keys.lookup(people[3].publicKey), undefined, 'its key was not even interned');
  t.equal(core.graph.keys.lookup(people[0].publicKey), undefined, 'nor its friend');
  t.equal(core.ratchet.size, 1, 'and it has no ratchet entry');
  t.equal(core.updatesAccepted, 2);
});

t.test('updates borrowing their frames are applied from them; once applied, the graph and ratchet keep no view of the frames', async (t) => {
  const core = new IndexCore();
  const sources = [update(core, 0, 1n, 40n), update(core, 1, 1n, 50n), forged(update(core, 2, 1n))];
  const frames = sources.map((u) => encodeClientMessage({ kind: 'update', update: u }));
  const pipeline = new IngestPipeline(core, new VerifyPool(1), { batchFramesMax: 2 });
  t.teardown(() => pipeline.close());
  const got: string[] = [];
  frames.forEach((frame, i) => {
    const decoded = decodeClientMessage(frame, { borrow: true });
    if (!decoded.ok || decoded.value.kind !== 'update') throw new Error('frame does not decode');
    pipeline.submitClient(people[i].publicKey, decoded.value.update, (o) => got.push(o.ok ? 'ok' : o.reason));
  });
  await pipeline.idle();
  t.same(got, ['ok', 'ok', 'bad-signature']);
  // Overwrite every frame: whatever was kept must have been copied out of it.
  for (const frame of frames) frame.fill(0xee);
  const zero = core.graph.keys.lookup(people[0].publicKey);
  const one = core.graph.keys.lookup(people[1].publicKey);
  t.not(zero, undefined, 'node 0 interned from its own bytes');
  t.not(one, undefined, 'node 1 interned from its own bytes');
  t.equal(core.graph.keys.lookup(new Uint8Array(32).fill(0xee)), undefined);
  t.same(core.graph.keys.keyOf(zero!), people[0].publicKey, 'the key table holds its own copy of the bytes');
  t.not(core.graph.keys.lookup(people[2].publicKey), undefined, "node 1's friend interned from its own bytes");
  t.equal(core.graph.storedReports, 2, 'one report per accepted update');
  t.equal(core.ratchet.check(people[0].publicKey, 1000n, new Uint8Array(16).fill(1), 1n), 'counter-replay', 'the ratchet holds node 0 at counter 1');
  t.equal(core.ratchet.check(people[2].publicKey, 1000n, new Uint8Array(16).fill(3), 1n), 'ok', 'the forgery left no ratchet entry');
});

t.test('forwarded updates go through the same pipeline, with the trust seen on arrival', async (t) => {
  const core = new IndexCore();
  const pipeline = new IngestPipeline(core, new VerifyPool(1));
  t.teardown(() => pipeline.close());
  const u = update(core, 3, 1n);
  const bad = forged(update(core, 3, 1n));
  const got: string[] = [];
  pipeline.submitPeer(false, { update: u, chain: [] }, (o) => got.push(o.ok ? 'ok' : o.reason));
  pipeline.submitPeer(true, { update: bad, chain: [] }, (o) => got.push(o.ok ? 'ok' : o.reason));
  pipeline.submitPeer(true, { update: u, chain: [] }, (o) => got.push(o.ok ? 'ok' : o.reason));
  pipeline.submitPeer(true, { update: u, chain: [] }, (o) => got.push(o.ok ? 'ok' : o.reason));
  await pipeline.idle();
  t.same(got, ['untrusted-server', 'bad-signature', 'ok', 'counter-replay']);
});

t.test('more updates than the backlog allows are refused as overloaded, counted, with no change', async (t) => {
  const core = new IndexCore();
  const pipeline = new IngestPipeline(core, new InlineVerifier(), { backlogMax: 2 });
  const got: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const u = update(core, 0, BigInt(i));
    pipeline.submitClient(people[0].publicKey, u, (o) => got.push(o.ok ? 'ok' : o.reason));
  }
  await pipeline.idle();
  t.same(got, ['overloaded', 'ok', 'ok']);
  t.equal(core.updateRejections.get('overloaded'), 1);
  t.equal(core.updatesAccepted, 2);
});

t.test('property: the pipeline decides every update exactly as checking them one by one does', async (t) => {
  // A pool of signed updates (some forged, some repeating counters, some on the wrong
  // connection) is shuffled into random arrival orders; the outcomes and the final state must
  // equal those of the single-threaded path.
  const base = new IndexCore();
  const pool: { key: Uint8Array; update: MutationsUpdate }[] = [];
  for (let who = 0; who < 3; who++) {
    for (let c = 1; c <= 4; c++) {
      const u = update(base, who, BigInt(c), BigInt(10 * who + c));
      pool.push({ key: people[who].publicKey, update: u });
      if (c === 2) pool.push({ key: people[who].publicKey, update: forged(update(base, who, BigInt(c), 5n)) });
      if (c === 3) pool.push({ key: people[(who + 1) % 3].publicKey, update: u });
    }
  }
  const clockSeed = base.clock;
  const workers = new VerifyPool(2);
  t.teardown(() => workers.close());
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(pool.length - 1), { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 5 }), async (picks, batch) => {
      const items = picks.map((i) => pool[i]);
      const sequential = new IndexCore({ clock: clockSeed });
      const expected = items.map((item) => sequential.acceptClientUpdate(item.key, item.update));
      const parallel = new IndexCore({ clock: clockSeed });
      // Every run on real workers would be slow; every fourth uses them, the rest check inline.
      const verifier: BatchVerifier = runs++ % 4 === 0 ? { parallelism: 4, check: (b, n) => workers.check(b, n), close: async () => {} } : new InlineVerifier();
      const { outcomes } = await runPipeline(parallel, verifier, items, batch);
      const strip = (o: IngestOutcome) => (o.ok ? `ok:${o.mutations}` : o.reason);
      if (JSON.stringify(outcomes.map(strip)) !== JSON.stringify(expected.map(strip))) return false;
      return state(parallel) === state(sequential);
    }),
    { numRuns: 60 },
  );
  t.pass('pipeline and sequential path agree');
});

t.test('property: the fast signed digest is byte for byte the canonical one', async (t) => {
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const amount = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 53n + 5n }), fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }));
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('update' as const), friend: key, currency: fc.string({ minLength: 1, maxLength: 16 }), recvCapacity: amount, rate: fc.record({ mul: fc.nat(0xffffffff), add: fc.nat(0xffffffff) }) }),
    fc.record({ kind: fc.constant('remove' as const), friend: key, currency: fc.string({ minLength: 1, maxLength: 16, unit: 'grapheme' }) }),
  );
  const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  fc.assert(
    fc.property(
      fc.record({
        node: key,
        mutations: fc.array(mutation, { maxLength: 12 }),
        timeHash: key,
        sessionEpoch: u64,
        sessionId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
        counter: u64,
        randNonce: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      }),
      (u) => Buffer.from(mutationsUpdateDigest(u)).equals(Buffer.from(canonicalDigest(u))),
    ),
    { numRuns: 2000 },
  );
  t.pass('identical digests');
});
