import t from 'tap';
import { connect as netConnect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { Identity } from '../../src/crypto/identity.js';
import { connectSecure, WsPipe } from '../../src/transport/ws-pipe.js';
import { RelayListener, openTunnel } from '../../src/relay/client.js';
import { RelayClosedError } from '../../src/relay/errors.js';
import { encodeTunnelData } from '../../src/relay/codec.js';
import type { RelayTunnel } from '../../src/relay/tunnel.js';
import { collect, deferred, startRelay, type TestRelay } from '../relay/helpers.js';

async function pair(relay: TestRelay, options: { callerWindowProbe?: boolean } = {}): Promise<{ a: RelayTunnel; b: RelayTunnel; listener: RelayListener }> {
  void options;
  const alice = Identity.generate();
  const bob = Identity.generate();
  const got = deferred<RelayTunnel>();
  const listener = await RelayListener.open(relay.address, { identity: bob, onTunnel: (tunnel) => got.resolve(tunnel) });
  const a = await openTunnel(relay.address, bob.publicKey, { identity: alice, timeoutMs: 15_000 });
  return { a, b: await got.promise, listener };
}

async function closesOf(relay: TestRelay): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of await relay.server.workerStats()) {
    for (const [reason, n] of Object.entries((s.closes ?? {}) as Record<string, number>)) out[reason] = (out[reason] ?? 0) + n;
  }
  return out;
}

function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(() => new Error('expected a rejection'), (err: Error) => err);
}

t.test('a connect to a key nobody listens on fails with NoListener at its deadline', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay({ timeouts: { connectMs: 300 } });
  t.teardown(() => relay.server.stop());
  const err = await rejection(openTunnel(relay.address, Identity.generate().publicKey, { identity: Identity.generate(), timeoutMs: 15_000 }));
  t.type(err, RelayClosedError);
  t.equal((err as RelayClosedError).reason, 'NoListener');
});

t.test('a listener that rejects a caller makes its connect fail with Rejected', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay();
  t.teardown(() => relay.server.stop());
  const bob = Identity.generate();
  const listener = await RelayListener.open(relay.address, { identity: bob, decide: () => 'reject', onTunnel: () => t.fail('no tunnel') });
  t.teardown(() => listener.close());
  const err = await rejection(openTunnel(relay.address, bob.publicKey, { identity: Identity.generate(), timeoutMs: 15_000 }));
  t.equal((err as RelayClosedError).reason, 'Rejected');
});

t.test('a new listen from the same key replaces the old listener, which is closed', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay();
  t.teardown(() => relay.server.stop());
  const bob = Identity.generate();
  const old = await RelayListener.open(relay.address, { identity: bob, onTunnel: () => t.fail('the old listener must not be used') });
  const got = deferred<RelayTunnel>();
  const fresh = await RelayListener.open(relay.address, { identity: bob, onTunnel: (tunnel) => got.resolve(tunnel) });
  t.teardown(() => fresh.close());
  t.ok(await old.closed, 'the old listener was closed');
  const a = await openTunnel(relay.address, bob.publicKey, { identity: Identity.generate(), timeoutMs: 15_000 });
  const b = await got.promise;
  const atB = collect(b);
  a.send(new Uint8Array([42]));
  t.same((await atB.waitFor(1))[0], new Uint8Array([42]));
  a.close('done');
});

t.test('many concurrent tunnels each deliver their own frames in order', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay({ workers: 2 });
  t.teardown(() => relay.server.stop());
  const bob = Identity.generate();
  const incoming: RelayTunnel[] = [];
  const all = deferred<void>();
  const count = 40;
  const listener = await RelayListener.open(relay.address, {
    identity: bob,
    onTunnel: (tunnel) => {
      incoming.push(tunnel);
      // Echo every message back.
      tunnel.onMessage((m) => tunnel.send(m));
      if (incoming.length === count) all.resolve();
    },
  });
  t.teardown(() => listener.close());
  const callers = await Promise.all(
    Array.from({ length: count }, () => openTunnel(relay.address, bob.publicKey, { identity: Identity.generate(), timeoutMs: 30_000 })),
  );
  await all.promise;
  const results = await Promise.all(
    callers.map(async (tunnel, i) => {
      const c = collect(tunnel);
      for (let j = 0; j < 20; j++) tunnel.send(new Uint8Array([i, j]));
      const got = await c.waitFor(20);
      return got.every((m, j) => m[0] === i && m[1] === j);
    }),
  );
  t.ok(results.every(Boolean), 'every caller got its own echoes back in order');
  for (const c of callers) c.close('done');
});

t.test('a tunnel whose halves are on different workers forwards both ways', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay({ workers: 2 });
  t.teardown(() => relay.server.stop());
  // The kernel spreads connections over the two shards; open tunnels until one crosses shards
  // (the chance that 64 all stay on one side is 2^-64).
  const crossBatches = async (): Promise<number> =>
    (await relay.server.workerStats()).reduce((sum, s) => sum + Number(s.crossBatches ?? 0), 0);
  let crossed = false;
  for (let i = 0; i < 64 && !crossed; i++) {
    const { a, b, listener } = await pair(relay);
    const atA = collect(a);
    const atB = collect(b);
    for (let j = 0; j < 30; j++) a.send(new Uint8Array(1000).fill(j));
    for (let j = 0; j < 30; j++) b.send(new Uint8Array(10).fill(j));
    const gotB = await atB.waitFor(30);
    const gotA = await atA.waitFor(30);
    t.ok(gotB.every((m, j) => m.byteLength === 1000 && m[0] === j) && gotA.every((m, j) => m[0] === j), `tunnel ${i} delivered in order`);
    crossed = (await crossBatches()) > 0;
    a.close('done');
    listener.close();
  }
  t.ok(crossed, 'at least one tunnel crossed between workers');
});

t.test('a fast sender and a slow receiver: the sender is slowed and nothing is lost', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay({ limits: { tunnelWindowBytes: 256 * 1024, frameBytesMax: 64 * 1024 } });
  t.teardown(() => relay.server.stop());
  const { a, b, listener } = await pair(relay);
  t.teardown(() => listener.close());
  const socket = (b.pipe as WsPipe).socket;
  socket.pause();
  const atB = collect(b);
  const total = 400;
  const frame = (i: number): Uint8Array => new Uint8Array(16 * 1024).fill(i & 0xff);
  for (let i = 0; i < total; i++) a.send(frame(i));
  t.ok(a.bufferedBytes() > 0, 'the sender is held back by its window while the receiver does not read');
  socket.resume();
  const got = await atB.waitFor(total);
  t.ok(got.every((m, i) => m.byteLength === 16 * 1024 && m[0] === (i & 0xff) && m[16383] === (i & 0xff)), 'all frames arrived, in order');
  t.equal(a.bufferedBytes(), 0);
  a.close('done');
});

t.test('a receiver that stops reading is cut off once its backlog passes the queue cap', { timeout: 60_000 }, async (t) => {
  // A window far larger than the queue cap, so the cap (not the window) is what stops it.
  const relay = await startRelay({ limits: { tunnelWindowBytes: 64 * 1024 * 1024, outboundQueueBytesMax: 1024 * 1024, frameBytesMax: 64 * 1024 } });
  t.teardown(() => relay.server.stop());
  const { a, b, listener } = await pair(relay);
  t.teardown(() => listener.close());
  (b.pipe as WsPipe).socket.pause();
  const senderClosed = collect(a).closed;
  const chunk = new Uint8Array(60 * 1024);
  // Up to 60 MiB: far past the kernel buffers and the 1 MiB cap.
  for (let i = 0; i < 1000; i++) a.send(chunk);
  t.match(await senderClosed, /PeerClosed|closed/, 'the sender learns its tunnel ended');
  t.ok((await closesOf(relay)).QueueFull >= 1, 'the cut is counted as QueueFull');
});

t.test('a sender that ignores its window is cut off with WindowExceeded', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay({ limits: { tunnelWindowBytes: 128 * 1024, frameBytesMax: 64 * 1024, outboundQueueBytesMax: 256 * 1024 * 1024 } });
  t.teardown(() => relay.server.stop());
  const { a, b, listener } = await pair(relay);
  t.teardown(() => listener.close());
  (b.pipe as WsPipe).socket.pause();
  const closed = collect(a).closed;
  // Bypass the tunnel's own accounting. The relay credits bytes as they leave it, so the window
  // only runs out once the paused receiver's kernel buffers are full: send well past them.
  const frame = encodeTunnelData(new Uint8Array(60 * 1024));
  for (let i = 0; i < 600; i++) a.pipe.send(frame);
  await closed;
  t.ok((await closesOf(relay)).WindowExceeded >= 1);
});

t.test('an oversized frame closes only its own connection', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay({ limits: { frameBytesMax: 64 * 1024, tunnelWindowBytes: 256 * 1024 } });
  t.teardown(() => relay.server.stop());
  const { a, b, listener } = await pair(relay);
  t.teardown(() => listener.close());
  const closed = collect(a).closed;
  // One byte over the 64 KiB limit.
  a.pipe.send(encodeTunnelData(new Uint8Array(64 * 1024 + 1 - 44)));
  await closed;
  t.ok((await closesOf(relay)).FrameTooLarge >= 1, 'counted as FrameTooLarge');
  const again = await pair(relay);
  const atB = collect(again.b);
  again.a.send(new Uint8Array([7]));
  t.same((await atB.waitFor(1))[0], new Uint8Array([7]), 'the relay still serves others');
  again.a.close('done');
  again.listener.close();
  void b;
});

function rawWebSocket(relay: TestRelay): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(relay.address.url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

t.test('an unauthenticated or malformed first message closes that connection only', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay();
  t.teardown(() => relay.server.stop());
  // Garbage instead of a handshake.
  const raw = await rawWebSocket(relay);
  const rawClosed = new Promise((resolve) => raw.once('close', resolve));
  raw.send(Buffer.from('hello, relay'));
  await rawClosed;
  // A valid handshake, then a first message that is not a relay message.
  const channel = await connectSecure(relay.address.url, { identity: Identity.generate(), expectedRemoteKey: relay.identity.publicKey, purpose: 'relay' });
  const channelClosed = new Promise((resolve) => channel.onClose(resolve));
  channel.send(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
  await channelClosed;
  // The wrong purpose fails the handshake.
  await rejection(connectSecure(relay.address.url, { identity: Identity.generate(), expectedRemoteKey: relay.identity.publicKey, purpose: 'index-client' }));
  const { a, b, listener } = await pair(relay);
  const atB = collect(b);
  a.send(new Uint8Array([1]));
  t.same((await atB.waitFor(1))[0], new Uint8Array([1]), 'others are served');
  t.ok((await closesOf(relay)).HandshakeFailed >= 1, 'the bad handshake is counted');
  t.ok((await closesOf(relay)).Malformed >= 1, 'the malformed message is counted');
  a.close('done');
  listener.close();
});

t.test('garbage bytes, half-open TCP connections and a silent client leave the relay serving others', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay({ timeouts: { initMs: 300 } });
  t.teardown(() => relay.server.stop());
  const port = relay.server.port;
  const sockets: Socket[] = [];
  for (let i = 0; i < 5; i++) {
    const s = netConnect(port, '127.0.0.1');
    s.on('error', () => {});
    sockets.push(s);
  }
  const garbage = netConnect(port, '127.0.0.1', () => garbage.write(Buffer.alloc(4096, 0xab)));
  garbage.on('error', () => {});
  sockets.push(garbage);
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  // Authenticated but silent: must not delay anyone, and is dropped at its deadline.
  const silent = await connectSecure(relay.address.url, { identity: Identity.generate(), expectedRemoteKey: relay.identity.publicKey, purpose: 'relay' });
  const silentClosed = new Promise((resolve) => silent.onClose(resolve));
  const { a, b, listener } = await pair(relay);
  const atB = collect(b);
  a.send(new Uint8Array([5]));
  t.same((await atB.waitFor(1))[0], new Uint8Array([5]), 'a tunnel works alongside them');
  await silentClosed;
  t.ok((await closesOf(relay)).Idle >= 1, 'the silent client was dropped as Idle');
  a.close('done');
  listener.close();
});

t.test('connections beyond the per-IP cap are refused', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay({ limits: { connectionsPerIpMax: 2 } });
  t.teardown(() => relay.server.stop());
  const id = Identity.generate();
  const open = () => connectSecure(relay.address.url, { identity: id, expectedRemoteKey: relay.identity.publicKey, purpose: 'relay' });
  const first = await open();
  const second = await open();
  await rejection(open());
  const stats = await relay.server.workerStats();
  t.equal(stats.reduce((n, s) => n + Number(((s.refusals ?? {}) as Record<string, number>).per_ip ?? 0), 0), 1, 'one refusal, counted as per_ip');
  first.close();
  second.close();
});

t.test('a listener that sends nothing is dropped after the idle limit', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay({ timeouts: { listenerIdleMs: 400 } });
  t.teardown(() => relay.server.stop());
  const listener = await RelayListener.open(relay.address, {
    identity: Identity.generate(), onTunnel: () => {}, channelOptions: { keepaliveIntervalMs: 0 },
  });
  t.ok(await listener.closed);
  t.ok((await closesOf(relay)).Idle >= 1);
});

t.test('a waiting caller may keep its channel alive; a relay message while waiting is refused', { timeout: 60_000 }, async (t) => {
  const relay = await startRelay({ timeouts: { connectMs: 10_000 } });
  t.teardown(() => relay.server.stop());
  const bob = Identity.generate();
  // The caller's channel sends keepalives every 20 ms while its connect waits for bob.
  const pending = openTunnel(relay.address, bob.publicKey, { identity: Identity.generate(), timeoutMs: 20_000, channelOptions: { keepaliveIntervalMs: 20 } });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const got = deferred<RelayTunnel>();
  const listener = await RelayListener.open(relay.address, { identity: bob, onTunnel: (tunnel) => got.resolve(tunnel) });
  t.teardown(() => listener.close());
  const a = await pending;
  const atB = collect(await got.promise);
  a.send(new Uint8Array([4]));
  t.same((await atB.waitFor(1))[0], new Uint8Array([4]), 'the tunnel works after the wait');
  a.close('done');
  // A second relay message on a connect that is still waiting ends it.
  const channel = await connectSecure(relay.address.url, { identity: Identity.generate(), expectedRemoteKey: relay.identity.publicKey, purpose: 'relay' });
  const closed = new Promise((resolve) => channel.onClose(resolve));
  const { encodeClientMessage } = await import('../../src/relay/codec.js');
  channel.send(encodeClientMessage({ kind: 'connect', target: Identity.generate().publicKey }));
  channel.send(encodeClientMessage({ kind: 'keepalive' }));
  await closed;
  t.ok((await closesOf(relay)).Malformed >= 1);
});

t.test('handshakes in progress and the accept rate are capped', { timeout: 60_000 }, async (t) => {
  const refusals = async (relay: TestRelay, reason: string): Promise<number> =>
    (await relay.server.workerStats()).reduce((n, s) => n + Number(((s.refusals ?? {}) as Record<string, number>)[reason] ?? 0), 0);
  const relay = await startRelay({ limits: { handshakesInProgressMax: 1 } });
  t.teardown(() => relay.server.stop());
  const open = () => connectSecure(relay.address.url, { identity: Identity.generate(), expectedRemoteKey: relay.identity.publicKey, purpose: 'relay' });
  // A WebSocket that never starts its handshake holds the only slot.
  const stalled = await rawWebSocket(relay);
  await rejection(open());
  t.equal(await refusals(relay, 'handshakes_max'), 1, 'refused while the slot is taken');
  const stalledClosed = new Promise((resolve) => stalled.once('close', resolve));
  stalled.close();
  await stalledClosed;
  // The relay sees the close shortly after; retry until the slot is free (bounded).
  let channel = null;
  for (let i = 0; i < 50 && channel === null; i++) channel = await open().catch(() => null);
  t.ok(channel !== null, 'the slot is free again after the stalled connection closed');
  channel?.close();

  const slow = await startRelay({ limits: { acceptsPerSecond: 0.01 } });
  t.teardown(() => slow.server.stop());
  const first = await connectSecure(slow.address.url, { identity: Identity.generate(), expectedRemoteKey: slow.identity.publicKey, purpose: 'relay' });
  await rejection(connectSecure(slow.address.url, { identity: Identity.generate(), expectedRemoteKey: slow.identity.publicKey, purpose: 'relay' }));
  t.equal(await refusals(slow, 'accept_rate'), 1, 'the second connection within the rate is refused');
  first.close();
});
