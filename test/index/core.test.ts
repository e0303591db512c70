import t from 'tap';
import { SigningDomain } from '../../src/crypto/domains.js';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { decodeClientMessage, decodePeerMessage, encodeClientMessage, encodePeerMessage } from '../../src/index/codec.js';
import { MAX_CHAIN_LINKS, MAX_CURRENCIES, MAX_MUTATIONS_PER_UPDATE, MAX_ROUTE_LEN } from '../../src/index/constants.js';
import { IndexCore } from '../../src/index/core.js';
import { HashClock, hashList } from '../../src/index/hash-clock.js';
import { Ratchet } from '../../src/index/ratchet.js';
import { SearchExecutor } from '../../src/index/search-executor.js';
import { mutationsUpdateDigest, signMutationsUpdate } from '../../src/index/signing.js';
import type { IndexMutation, MutationsUpdate, RequestRoutes } from '../../src/index/types.js';

const alice = Identity.generate();
const bob = Identity.generate();

function mutation(friend: Identity, capacity = 100n, currency = 'USD'): IndexMutation {
  return { kind: 'update', friend: friend.publicKey, currency, recvCapacity: capacity, rate: { mul: 5, add: 1 } };
}

function signed(identity: Identity, core: IndexCore, over: Partial<Omit<MutationsUpdate, 'signature' | 'node'>> = {}): MutationsUpdate {
  return signMutationsUpdate(identity, {
    mutations: [mutation(identity === alice ? bob : alice)],
    timeHash: core.clock.latest,
    sessionEpoch: 1000n,
    sessionId: new Uint8Array(16).fill(1),
    counter: 1n,
    randNonce: randomBytes(16),
    ...over,
  });
}

function graphState(core: IndexCore): string {
  return JSON.stringify([core.graph.storedReports, core.graph.reporterCount, core.ratchet.size]);
}

t.test('hash clock: fresh own ticks, chains through peers, bounded window', async (t) => {
  const a = new HashClock(3);
  const b = new HashClock(3);
  const bHash = b.tick([]);
  const aHash = a.tick([bHash]); // a's tick commits to b's hash
  t.ok(a.verify(aHash, []).ok, 'a recent own tick is fresh');
  const link = a.verify(aHash, []);
  t.ok(link.ok);
  if (!link.ok) return;
  t.equal(hashList(link.appendLink).toString(), aHash.toString(), 'the appended link hashes to the time hash');
  const atB = b.verify(aHash, [link.appendLink]);
  t.ok(atB.ok, 'b accepts: a\'s tick contains one of b\'s recent hashes');
  t.same(b.verify(randomBytes(32), [link.appendLink]), { ok: false, reason: 'bad-chain' });
  t.same(a.verify(randomBytes(32), []), { ok: false, reason: 'stale-time-hash' });
  for (let i = 0; i < 3; i++) b.tick([]);
  t.same(b.verify(aHash, [link.appendLink]), { ok: false, reason: 'stale-time-hash' }, 'b forgot the hash a committed to');
  const tooLong = Array.from({ length: MAX_CHAIN_LINKS + 1 }, () => link.appendLink);
  t.same(b.verify(aHash, tooLong), { ok: false, reason: 'chain-too-long' });
});

t.test('ratchet orders sessions and counters', async (t) => {
  const r = new Ratchet();
  const s1 = new Uint8Array(16).fill(1);
  const s2 = new Uint8Array(16).fill(2);
  t.equal(r.check(alice.publicKey, 5n, s1, 0n), 'ok');
  r.commit(alice.publicKey, 5n, s1, 3n, 0);
  t.equal(r.check(alice.publicKey, 5n, s1, 3n), 'counter-replay');
  t.equal(r.check(alice.publicKey, 5n, s1, 4n), 'ok');
  t.equal(r.check(alice.publicKey, 5n, s2, 9n), 'session-conflict');
  t.equal(r.check(alice.publicKey, 4n, s2, 9n), 'old-session');
  t.equal(r.check(alice.publicKey, 6n, s2, 0n), 'ok', 'a newer session starts at any counter');
});

t.test('ratchet entries set again follow the newest session and stay in refresh order', async (t) => {
  const r = new Ratchet();
  const bob = Identity.generate().publicKey;
  const s1 = new Uint8Array(16).fill(1);
  const s2 = new Uint8Array(16).fill(2);
  r.commit(alice.publicKey, 5n, s1, 3n, 1);
  r.commit(bob, 5n, s1, 1n, 2);
  r.commit(alice.publicKey, 6n, s2, 0n, 3);
  t.equal(r.check(alice.publicKey, 6n, s1, 9n), 'session-conflict', 'the new session replaced the old one');
  t.equal(r.check(alice.publicKey, 6n, s2, 0n), 'counter-replay');
  t.equal(r.check(alice.publicKey, 6n, s2, 1n), 'ok');
  t.equal(r.check(alice.publicKey, 5n, s1, 9n), 'old-session');
  // Alice was refreshed after Bob: expiring at tick 4 with 2 ticks kept drops Bob only.
  t.equal(r.expire(4, 2), 1);
  t.equal(r.size, 1);
  t.equal(r.check(bob, 5n, s1, 1n), 'ok', 'Bob forgotten');
  t.equal(r.check(alice.publicKey, 6n, s2, 0n), 'counter-replay', 'Alice kept');
});

t.test('the signed digest covers the rate and length-prefixes the currency', async (t) => {
  const base = { node: alice.publicKey, timeHash: new Uint8Array(32), sessionEpoch: 1n, sessionId: new Uint8Array(16), counter: 1n, randNonce: new Uint8Array(16) };
  const m = mutation(bob);
  const d1 = mutationsUpdateDigest({ ...base, mutations: [m] });
  const d2 = mutationsUpdateDigest({ ...base, mutations: [{ ...m, rate: { mul: 5, add: 2 } } as IndexMutation] });
  t.not(Buffer.from(d1).toString('hex'), Buffer.from(d2).toString('hex'));
});

t.test('an accepted update changes the graph and is offered for forwarding with its proof', async (t) => {
  const core = new IndexCore();
  const outcome = core.acceptClientUpdate(alice.publicKey, signed(alice, core));
  t.ok(outcome.ok);
  if (!outcome.ok) return;
  t.equal(outcome.forward?.chain.length, 1);
  t.equal(core.graph.storedReports, 1);
  t.equal(core.updatesAccepted, 1);
});

t.test('bad input is rejected with a counted reason and no change', async (t) => {
  const core = new IndexCore();
  const accepted = core.acceptClientUpdate(alice.publicKey, signed(alice, core, { counter: 5n }));
  t.ok(accepted.ok);
  const cases: [string, () => ReturnType<IndexCore['acceptClientUpdate']>][] = [
    ['bad-signature', () => {
      const u = signed(alice, core, { counter: 6n });
      const sig = u.signature.slice();
      sig[3] ^= 1;
      return core.acceptClientUpdate(alice.publicKey, { ...u, signature: sig });
    }],
    ['bad-signature', () => {
      // Wrong domain: a valid signature over the same digest, made for move tokens.
      const u = signed(alice, core, { counter: 6n });
      const sig = alice.sign(SigningDomain.MoveToken, mutationsUpdateDigest(u));
      return core.acceptClientUpdate(alice.publicKey, { ...u, signature: sig });
    }],
    ['bad-signature', () => {
      const u = signed(alice, core, { counter: 6n });
      return core.acceptClientUpdate(alice.publicKey, { ...u, mutations: [{ ...u.mutations[0], rate: { mul: 0, add: 0 } } as IndexMutation] });
    }],
    ['stale-time-hash', () => core.acceptClientUpdate(alice.publicKey, signed(alice, core, { counter: 6n, timeHash: randomBytes(32) }))],
    ['counter-replay', () => core.acceptClientUpdate(alice.publicKey, signed(alice, core, { counter: 5n }))],
    ['old-session', () => core.acceptClientUpdate(alice.publicKey, signed(alice, core, { counter: 50n, sessionEpoch: 999n }))],
    ['session-conflict', () => core.acceptClientUpdate(alice.publicKey, signed(alice, core, { counter: 50n, sessionId: new Uint8Array(16).fill(9) }))],
    ['foreign-node', () => core.acceptClientUpdate(bob.publicKey, signed(alice, core, { counter: 6n }))],
    ['too-many-mutations', () =>
      core.acceptClientUpdate(alice.publicKey, signed(alice, core, { counter: 6n, mutations: Array.from({ length: MAX_MUTATIONS_PER_UPDATE + 1 }, () => mutation(bob)) }))],
    ['invalid-mutation', () => core.acceptClientUpdate(alice.publicKey, signed(alice, core, { counter: 6n, mutations: [mutation(bob, 1n, 'bad currency')] }))],
    ['invalid-mutation', () => core.acceptClientUpdate(alice.publicKey, signed(alice, core, { counter: 6n, mutations: [mutation(alice)] }))],
    ['untrusted-server', () => core.acceptPeerUpdate(false, { update: signed(alice, core, { counter: 6n }), chain: [] })],
  ];
  for (const [reason, run] of cases) {
    const before = graphState(core);
    const counted = core.updateRejections.get(reason as never) ?? 0;
    const outcome = run();
    t.same(outcome, { ok: false, reason }, reason);
    t.equal(graphState(core), before, `${reason}: graph unchanged`);
    t.equal(core.updateRejections.get(reason as never), counted + 1, `${reason}: counted`);
  }
});

t.test('a new currency past the table limit is refused, even when each node is within its own quota', async (t) => {
  const core = new IndexCore();
  const friends = Identity.generate();
  const perNode = 64;
  for (let n = 0; n < MAX_CURRENCIES / perNode; n++) {
    const node = Identity.generate();
    const mutations = Array.from({ length: perNode }, (_, j) => mutation(friends, 1n, `C${n * perNode + j}`));
    t.ok(core.acceptClientUpdate(node.publicKey, signed(node, core, { mutations })).ok);
  }
  t.equal(core.graph.currencyCount, MAX_CURRENCIES);
  t.same(core.acceptClientUpdate(alice.publicKey, signed(alice, core, { mutations: [mutation(friends, 1n, 'ONE-MORE')] })), {
    ok: false,
    reason: 'too-many-currencies',
  });
});

t.test('route requests planned on the snapshot of accepted updates: unknown currency, absent nodes and bad amounts are refused', async (t) => {
  const core = new IndexCore();
  t.ok(core.acceptClientUpdate(alice.publicKey, signed(alice, core)).ok);
  t.ok(core.acceptClientUpdate(bob.publicKey, signed(bob, core)).ok);
  const executor = new SearchExecutor();
  executor.install(core.graph.compact().handle);
  const plan = (r: RequestRoutes) => executor.plan(r, core.searchBounds);
  const request = { requestId: randomBytes(16), currency: 'USD', amount: 10n, source: alice.publicKey, destination: bob.publicKey, exclude: null, maxHops: 0, maxFee: null, maxRoutes: 0 };
  const planned = plan(request);
  t.ok(planned.ok);
  if (planned.ok) t.same([planned.search.maxHops, planned.search.workMax], [MAX_ROUTE_LEN - 1, core.searchBounds.workMax], 'the protocol hop cap and the core bounds');
  t.same(plan({ ...request, currency: 'EUR' }), { ok: false, reason: 'unknown-currency' });
  t.same(plan({ ...request, destination: randomBytes(32) }), { ok: false, reason: 'absent-node' });
  t.same(plan({ ...request, amount: 0n }), { ok: false, reason: 'bad-amount' });
});

t.test('codec round-trips client and peer messages and refuses garbage', async (t) => {
  const core = new IndexCore();
  const update = signed(alice, core, { mutations: [mutation(bob, (1n << 127n) + 5n), { kind: 'remove', friend: bob.publicKey, currency: 'EUR' }] });
  const decoded = decodeClientMessage(encodeClientMessage({ kind: 'update', update }));
  t.ok(decoded.ok);
  if (decoded.ok && decoded.value.kind === 'update') {
    t.same(decoded.value.update, update);
    t.ok(core.acceptClientUpdate(alice.publicKey, decoded.value.update).ok, 'the signature survives the round trip');
  }
  const forward = { update, chain: [[randomBytes(32), randomBytes(32)]] };
  const peer = decodePeerMessage(encodePeerMessage({ kind: 'forward', forward }));
  t.ok(peer.ok && peer.value.kind === 'forward' && peer.value.forward.chain[0][1].toString() === forward.chain[0][1].toString());
  t.notOk(decodeClientMessage(randomBytes(64)).ok);
  t.notOk(decodeClientMessage(new Uint8Array(3)).ok);
});
