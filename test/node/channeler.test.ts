import t from 'tap';
import { toBase64Url } from '../../src/common/bytes.js';
import { Identity } from '../../src/crypto/identity.js';
import { Channeler, type RelayRef } from '../../src/node/channeler.js';
import { MemoryRelays } from './memory_relays.js';

interface Peer {
  identity: Identity;
  channeler: Channeler;
  frames: Uint8Array[];
  online: Set<string>;
  events: string[];
}

function peer(relays: MemoryRelays, identity = Identity.generate()): Peer {
  const p: Peer = { identity, frames: [], online: new Set(), events: [], channeler: null as unknown as Channeler };
  p.channeler = new Channeler({
    identity,
    network: relays.network(identity.publicKey),
    backoff: { baseMs: 5, maxMs: 20 },
    hooks: {
      onFrame: (_friend, frame) => p.frames.push(frame),
      onOnline: (friend) => { p.online.add(toBase64Url(friend)); p.events.push('online'); },
      onOffline: (friend) => { p.online.delete(toBase64Url(friend)); p.events.push('offline'); },
    },
  });
  return p;
}

const relay = (): RelayRef => ({ publicKey: Identity.generate().publicKey, address: '127.0.0.1:1' });

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Two friends where `waiter` has the lower key hash and so waits on its relays. */
function pair(relays: MemoryRelays): { waiter: Peer; dialer: Peer } {
  const a = peer(relays);
  const b = peer(relays);
  return a.channeler.dialsTo(b.identity.publicKey) ? { waiter: b, dialer: a } : { waiter: a, dialer: b };
}

/** A pair made friends: the waiter listens on one relay, which the dialer knows of. */
function friendsOnOneRelay(): { relays: MemoryRelays; waiter: Peer; dialer: Peer; r1: RelayRef } {
  const relays = new MemoryRelays();
  const { waiter, dialer } = pair(relays);
  const r1 = relay();
  waiter.channeler.setOwnRelays([r1]);
  waiter.channeler.setFriends([{ publicKey: dialer.identity.publicKey, relays: [] }]);
  dialer.channeler.setFriends([{ publicKey: waiter.identity.publicKey, relays: [r1] }]);
  return { relays, waiter, dialer, r1 };
}

t.test('exactly one side of a friendship dials', async (t) => {
  const relays = new MemoryRelays();
  const a = peer(relays);
  const b = peer(relays);
  t.not(a.channeler.dialsTo(b.identity.publicKey), b.channeler.dialsTo(a.identity.publicKey));
  a.channeler.stop();
  b.channeler.stop();
});

t.test('friends link through a relay and exchange frames end to end', async (t) => {
  const { waiter, dialer } = friendsOnOneRelay();
  await until(() => waiter.online.size === 1 && dialer.online.size === 1, 'both online');
  t.ok(dialer.channeler.send(waiter.identity.publicKey, new Uint8Array([1, 2, 3])));
  t.ok(waiter.channeler.send(dialer.identity.publicKey, new Uint8Array([4])));
  await until(() => waiter.frames.length === 1 && dialer.frames.length === 1, 'frames');
  t.same([...waiter.frames[0]], [1, 2, 3]);
  t.same([...dialer.frames[0]], [4]);
  waiter.channeler.stop();
  dialer.channeler.stop();
});

t.test('a caller that is not a friend is refused', async (t) => {
  const relays = new MemoryRelays();
  const { waiter, dialer } = pair(relays);
  const r1 = relay();
  waiter.channeler.setOwnRelays([r1]);
  waiter.channeler.setFriends([]);
  dialer.channeler.setFriends([{ publicKey: waiter.identity.publicKey, relays: [r1] }]);
  await until(() => dialer.channeler.counters.dialsFailed >= 3, 'failed dials');
  t.equal(waiter.online.size, 0);
  t.ok(waiter.channeler.counters.incomingRefused >= 3);
  waiter.channeler.stop();
  dialer.channeler.stop();
});

t.test('when the waiting friend moves to a new relay, the dialer follows', async (t) => {
  const relays = new MemoryRelays();
  const { waiter, dialer } = pair(relays);
  const r1 = relay();
  const r2 = relay();
  waiter.channeler.setOwnRelays([r1]);
  waiter.channeler.setFriends([{ publicKey: dialer.identity.publicKey, relays: [] }]);
  dialer.channeler.setFriends([{ publicKey: waiter.identity.publicKey, relays: [r1] }]);
  await until(() => dialer.online.size === 1, 'online via r1');
  waiter.channeler.setOwnRelays([r2]);
  dialer.channeler.setFriends([{ publicKey: waiter.identity.publicKey, relays: [r2] }]);
  relays.takeDown(r1);
  await until(() => dialer.events.length >= 3 && dialer.online.size === 1, 'online again via r2');
  t.same(dialer.events.slice(0, 3), ['online', 'offline', 'online']);
  t.ok(dialer.channeler.send(waiter.identity.publicKey, new Uint8Array([9])));
  await until(() => waiter.frames.length === 1, 'frame over r2');
  waiter.channeler.stop();
  dialer.channeler.stop();
});

t.test('a link lost with its relay is redialled with backoff until the relay returns elsewhere', async (t) => {
  const relays = new MemoryRelays();
  const { waiter, dialer } = pair(relays);
  const r1 = relay();
  const r2 = relay();
  waiter.channeler.setOwnRelays([r1, r2]);
  waiter.channeler.setFriends([{ publicKey: dialer.identity.publicKey, relays: [] }]);
  dialer.channeler.setFriends([{ publicKey: waiter.identity.publicKey, relays: [r1, r2] }]);
  await until(() => dialer.online.size === 1, 'online');
  relays.takeDown(r1);
  relays.takeDown(r2);
  await until(() => dialer.online.size === 0, 'offline');
  const failed = dialer.channeler.counters.dialsFailed;
  await until(() => dialer.channeler.counters.dialsFailed >= failed + 3, 'retries');
  const r3 = relay();
  waiter.channeler.setOwnRelays([r3]);
  dialer.channeler.setFriends([{ publicKey: waiter.identity.publicKey, relays: [r3] }]);
  await until(() => dialer.online.size === 1 && waiter.online.size === 1, 'online via r3');
  t.pass('recovered');
  waiter.channeler.stop();
  dialer.channeler.stop();
});

t.test('removing a friend drops its link and reports it offline', async (t) => {
  const { waiter, dialer } = friendsOnOneRelay();
  await until(() => waiter.online.size === 1, 'online');
  waiter.channeler.setFriends([]);
  t.equal(waiter.online.size, 0);
  t.notOk(waiter.channeler.send(dialer.identity.publicKey, new Uint8Array([1])));
  await until(() => dialer.online.size === 0, 'dialer sees the link end');
  waiter.channeler.stop();
  dialer.channeler.stop();
});

t.test('a newer link from the same friend replaces the old one (a restarted friend is not locked out)', async (t) => {
  const { relays, waiter, dialer, r1 } = friendsOnOneRelay();
  await until(() => waiter.online.size === 1, 'first link');
  // The same identity dials again from a fresh process while the old link still looks alive.
  const again = peer(relays, dialer.identity);
  again.channeler.setFriends([{ publicKey: waiter.identity.publicKey, relays: [r1] }]);
  await until(() => again.online.size === 1 && waiter.channeler.counters.replacedLinks === 1, 'second link');
  t.same(waiter.events, ['online', 'offline', 'online'], 'the core sees the friend reconnect, so it resends');
  t.ok(waiter.channeler.send(dialer.identity.publicKey, new Uint8Array([7])));
  await until(() => again.frames.length === 1, 'frame over the newest link');
  t.equal(dialer.frames.length, 0, 'nothing goes over the replaced link');
  waiter.channeler.stop();
  dialer.channeler.stop();
  again.channeler.stop();
});
