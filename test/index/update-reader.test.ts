import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { decodeClientMessage, encodeClientMessage, type ClientMsg } from '../../src/index/codec.js';
import { signMutationsUpdate } from '../../src/index/signing.js';
import type { IndexMutation, MutationsUpdate } from '../../src/index/types.js';

const signer = Identity.generate();

function frameOf(currencies: string[], amounts: bigint[] = currencies.map((_, i) => BigInt(i))): { update: MutationsUpdate; frame: Uint8Array } {
  const mutations: IndexMutation[] = currencies.map((currency, i) => ({ kind: 'update', friend: randomBytes(32), currency, recvCapacity: amounts[i], rate: { mul: i, add: 1 } }));
  const update = signMutationsUpdate(signer, { mutations, timeHash: randomBytes(32), sessionEpoch: 3n, sessionId: randomBytes(16), counter: 9n, randNonce: randomBytes(16) });
  return { update, frame: encodeClientMessage({ kind: 'update', update }) };
}

function updateOf(decoded: ReturnType<typeof decodeClientMessage>): MutationsUpdate {
  if (!decoded.ok || decoded.value.kind !== 'update') throw new Error('not an update');
  return (decoded.value as Extract<ClientMsg, { kind: 'update' }>).update;
}

t.test('by default a decoded update owns its bytes: overwriting the frame changes nothing', async (t) => {
  const { update, frame } = frameOf(['USD', 'EUR']);
  const decoded = updateOf(decodeClientMessage(frame));
  frame.fill(0);
  t.same(decoded, update, 'every field as signed');
  t.not(decoded.node.buffer, frame.buffer, 'keys are not views of the frame');
});

t.test('a borrowing decode hands out views of the frame, valid while the frame is left alone', async (t) => {
  const { update, frame } = frameOf(['USD']);
  const decoded = updateOf(decodeClientMessage(frame, { borrow: true }));
  t.same(decoded, update, 'every field as signed');
  for (const view of [decoded.node, decoded.timeHash, decoded.sessionId, decoded.randNonce, decoded.signature]) {
    t.equal(view.buffer, frame.buffer, 'a view of the frame, not a copy');
  }
  t.not(decoded.mutations[0].friend.buffer, frame.buffer, 'friend keys are shared copies, never views');
  // Which is why only the owner of a frame may borrow: a reused frame rewrites the update.
  frame.fill(0);
  t.same([...decoded.node], new Array(32).fill(0));
});

t.test('currency names are interned: equal names are one string, colliding names stay apart', async (t) => {
  // "Aa" and "BB" have the same 31-multiplier hash, so they share a cache slot.
  const first = updateOf(decodeClientMessage(frameOf(['Aa', 'BB', 'Aa']).frame));
  const second = updateOf(decodeClientMessage(frameOf(['BB', 'Aa']).frame));
  t.same(
    first.mutations.map((m) => m.currency),
    ['Aa', 'BB', 'Aa'],
  );
  t.same(
    second.mutations.map((m) => m.currency),
    ['BB', 'Aa'],
  );
  // Thousands of distinct names (past the cache bound) still decode to themselves.
  const names = Array.from({ length: 5000 }, (_, i) => `C${i}`);
  for (let i = 0; i < names.length; i += 250) {
    const batch = names.slice(i, i + 250);
    t.same(
      updateOf(decodeClientMessage(frameOf(batch).frame)).mutations.map((m) => m.currency),
      batch,
    );
  }
  const again = updateOf(decodeClientMessage(frameOf(['USD', 'USD']).frame));
  t.equal(again.mutations[0].currency, 'USD');
});

t.test('names that are not 1-16 printable ASCII bytes make the frame malformed', async (t) => {
  for (const bad of ['', ' ', 'a b', 'x'.repeat(17), 'é', '\x7f']) {
    const { frame } = frameOf([bad]);
    t.notOk(decodeClientMessage(frame).ok, JSON.stringify(bad));
  }
  t.ok(decodeClientMessage(frameOf(['x'.repeat(16), '!', '~']).frame).ok, 'the extremes pass');
});

t.test('amounts on both sides of the 2^53, 2^64 and 2^128 boundaries read back exactly', async (t) => {
  const amounts = [0n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 64n - 1n, 2n ** 64n, 2n ** 64n + 2n ** 53n, 2n ** 128n - 1n];
  const { update, frame } = frameOf(
    amounts.map(() => 'USD'),
    amounts,
  );
  t.same(
    updateOf(decodeClientMessage(frame, { borrow: true })).mutations.map((m) => (m.kind === 'update' ? m.recvCapacity : null)),
    update.mutations.map((m) => (m.kind === 'update' ? m.recvCapacity : null)),
  );
});

t.test('friend keys seen again are handed out as one shared copy; a new key in the same slot replaces it', async (t) => {
  const friend = randomBytes(32);
  const mutation = (f: Uint8Array): IndexMutation => ({ kind: 'update', friend: f, currency: 'USD', recvCapacity: 1n, rate: { mul: 0, add: 0 } });
  const frame = (f: Uint8Array[]) =>
    encodeClientMessage({ kind: 'update', update: signMutationsUpdate(signer, { mutations: f.map(mutation), timeHash: randomBytes(32), sessionEpoch: 1n, sessionId: randomBytes(16), counter: 1n, randNonce: randomBytes(16) }) });
  const first = updateOf(decodeClientMessage(frame([friend]), { borrow: true })).mutations[0].friend;
  const again = updateOf(decodeClientMessage(frame([friend]), { borrow: true })).mutations[0].friend;
  t.equal(again, first, 'one object for one key');
  t.same([...first], [...friend]);
  // Thousands of other keys (more than the cache holds) never hand out a wrong key.
  const others = Array.from({ length: 6000 }, () => randomBytes(32));
  for (let i = 0; i < others.length; i += 200) {
    const got = updateOf(decodeClientMessage(frame(others.slice(i, i + 200)), { borrow: true })).mutations.map((m) => Buffer.from(m.friend).toString('hex'));
    t.same(got, others.slice(i, i + 200).map((k) => Buffer.from(k).toString('hex')));
  }
  t.same([...updateOf(decodeClientMessage(frame([friend]), { borrow: true })).mutations[0].friend], [...friend], 'still right after the churn');
});

t.test('rates read from frames are shared frozen objects, one per distinct rate, always the value sent', async (t) => {
  const rates = [{ mul: 0, add: 0 }, { mul: 7, add: 1 }, { mul: 0xffffffff, add: 0xffffffff }, { mul: 7, add: 1 }];
  const update = signMutationsUpdate(signer, {
    mutations: rates.map((rate): IndexMutation => ({ kind: 'update', friend: randomBytes(32), currency: 'USD', recvCapacity: 1n, rate })),
    timeHash: randomBytes(32), sessionEpoch: 1n, sessionId: randomBytes(16), counter: 1n, randNonce: randomBytes(16),
  });
  const read = updateOf(decodeClientMessage(encodeClientMessage({ kind: 'update', update }))).mutations;
  const got = read.map((m) => (m.kind === 'update' ? m.rate : null));
  t.same(got, rates);
  t.equal(got[1], got[3], 'equal rates are one object');
  t.ok(got.every((r) => r !== null && Object.isFrozen(r)), 'nobody can change a shared rate');
});
