import t, { type Test } from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { RelayListener, openTunnel } from '../../src/relay/client.js';
import type { RelayTunnel } from '../../src/relay/tunnel.js';
import { collect, deferred, startRelay } from '../relay/helpers.js';

/** A relay where bob listens and alice has opened a tunnel to him; bob's end arrives as `bobTunnel`. */
async function callerAndListener(t: Test, relayOptions: Record<string, unknown>, timeoutMs: number) {
  const relay = await startRelay(relayOptions);
  t.teardown(() => relay.server.stop());
  const alice = Identity.generate();
  const bob = Identity.generate();
  const bobTunnel = deferred<RelayTunnel>();
  const listener = await RelayListener.open(relay.address, { identity: bob, onTunnel: (tunnel) => bobTunnel.resolve(tunnel) });
  t.teardown(() => listener.close());
  const aliceTunnel = await openTunnel(relay.address, bob.publicKey, { identity: alice, timeoutMs });
  return { alice, bob, aliceTunnel, bobTunnel: bobTunnel.promise };
}

t.test('a caller and a listener are spliced and frames flow both ways in order', async (t) => {
  const { alice, bob, aliceTunnel, bobTunnel } = await callerAndListener(t, {}, 10_000);
  const bobSide = await bobTunnel;
  t.same(aliceTunnel.peerKey, bob.publicKey, 'the caller learns the listener key');
  t.same(bobSide.peerKey, alice.publicKey, 'the listener learns the caller key');
  const atBob = collect(bobSide);
  const atAlice = collect(aliceTunnel);
  for (let i = 0; i < 100; i++) aliceTunnel.send(new Uint8Array([i, 1, 2, 3]));
  for (let i = 0; i < 50; i++) bobSide.send(new Uint8Array([i, 9]));
  const got = await atBob.waitFor(100);
  t.same(got.map((m) => m[0]), Array.from({ length: 100 }, (_, i) => i));
  const back = await atAlice.waitFor(50);
  t.same(back.map((m) => m[0]), Array.from({ length: 50 }, (_, i) => i));
  aliceTunnel.close('done');
  t.match(await atBob.closed, /closed/, 'closing one side closes the other');
});

t.test('a listen pool reconnects after its listener is dropped and stays reachable', { timeout: 60_000 }, async (t) => {
  const { RelayListenPool } = await import('../../src/relay/client.js');
  const relay = await startRelay();
  t.teardown(() => relay.server.stop());
  const bob = Identity.generate();
  const tunnels: RelayTunnel[] = [];
  const gotTunnel = deferred<void>();
  let listenings = 0;
  const listening = [deferred<void>(), deferred<void>()];
  const pool = new RelayListenPool({
    identity: bob,
    backoff: { baseMs: 20, maxMs: 100 },
    onListening: () => listening[Math.min(listenings++, 1)].resolve(),
    onTunnel: (tunnel) => {
      tunnels.push(tunnel);
      gotTunnel.resolve();
    },
  });
  t.teardown(() => pool.stop());
  pool.setRelays([relay.address]);
  await listening[0].promise;
  // Another listen from bob's key replaces the pool's listener; the pool reconnects (and in turn
  // replaces the intruder).
  const intruder = await RelayListener.open(relay.address, { identity: bob, onTunnel: () => {} });
  await listening[1].promise;
  await intruder.closed;
  const alice = Identity.generate();
  const a = await openTunnel(relay.address, bob.publicKey, { identity: alice, timeoutMs: 15_000 });
  await gotTunnel.promise;
  const atBob = collect(tunnels[0]);
  a.send(new Uint8Array([9]));
  t.same((await atBob.waitFor(1))[0], new Uint8Array([9]));
  t.same(tunnels[0].peerKey, alice.publicKey);
  a.close('done');
});

t.test('connecting through a friend\'s relays moves on from a relay where the friend is absent', { timeout: 60_000 }, async (t) => {
  const { connectViaRelays } = await import('../../src/relay/client.js');
  const empty = await startRelay({ timeouts: { connectMs: 200 } });
  const used = await startRelay();
  t.teardown(() => Promise.all([empty.server.stop(), used.server.stop()]));
  const bob = Identity.generate();
  const got = deferred<RelayTunnel>();
  const listener = await RelayListener.open(used.address, { identity: bob, onTunnel: (tunnel) => got.resolve(tunnel) });
  t.teardown(() => listener.close());
  const a = await connectViaRelays([empty.address, used.address], bob.publicKey, { identity: Identity.generate(), timeoutMs: 20_000 });
  const b = await got.promise;
  const atB = collect(b);
  a.send(new Uint8Array([3]));
  t.same((await atB.waitFor(1))[0], new Uint8Array([3]));
  a.close('done');
});

t.test('two nodes run their end-to-end secure channel through the tunnel', { timeout: 60_000 }, async (t) => {
  const { SecureChannel } = await import('../../src/transport/channel.js');
  const { alice, bob, aliceTunnel, bobTunnel } = await callerAndListener(t, { workers: 2 }, 15_000);
  // The caller initiates, pinning the listener's key; the listener responds, expecting the caller.
  const [aliceChannel, bobChannel] = await Promise.all([
    SecureChannel.initiate(aliceTunnel, { identity: alice, expectedRemoteKey: bob.publicKey, purpose: 'node-to-node' }),
    bobTunnel.then((tunnel) =>
      SecureChannel.respond(tunnel, { identity: bob, purpose: 'node-to-node', authorize: (key) => Buffer.from(key).equals(alice.publicKey) })),
  ]);
  const received: number[] = [];
  const done = deferred<void>();
  bobChannel.onFrame((frame) => {
    received.push(frame.byteLength);
    if (received.length === 200) done.resolve();
  });
  for (let i = 0; i < 200; i++) aliceChannel.send(new Uint8Array(1 + i * 100));
  await done.promise;
  t.same(received, Array.from({ length: 200 }, (_, i) => 1 + i * 100), 'every frame arrived, authenticated, in order');
  t.same(bobChannel.remoteKey, alice.publicKey);
  aliceChannel.close('done');
  bobChannel.close('done');
});
