import t from 'tap';
import { Identity } from '../../src/crypto/identity.js';
import { RelayListener, openTunnel } from '../../src/relay/client.js';
import type { RelayTunnel } from '../../src/relay/tunnel.js';
import { collect, deferred, startRelay } from '../relay/helpers.js';

t.test('a caller and a listener are spliced and frames flow both ways in order', async (t) => {
  const relay = await startRelay();
  t.teardown(() => relay.server.stop());
  const alice = Identity.generate();
  const bob = Identity.generate();
  const bobTunnel = deferred<RelayTunnel>();
  const listener = await RelayListener.open(relay.address, { identity: bob, onTunnel: (tunnel) => bobTunnel.resolve(tunnel) });
  t.teardown(() => listener.close());
  const aliceTunnel = await openTunnel(relay.address, bob.publicKey, { identity: alice, timeoutMs: 10_000 });
  const bobSide = await bobTunnel.promise;
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
