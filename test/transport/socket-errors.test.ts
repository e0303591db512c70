import t from 'tap';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import WebSocket from 'ws';
import NoiseState from 'noise-handshake';
import { Identity } from '../../src/crypto/identity.js';
import { silentLogger } from '../../src/common/log.js';
import { SecureChannel, type ChannelOptions } from '../../src/transport/channel.js';
import { decodeEnvelope, encodeHandshakeInit, encodeHandshakePayload, encodeSealed } from '../../src/transport/codec.js';
import { purposeToWire, TRANSPORT_VERSION } from '../../src/transport/constants.js';
import { TransportError, TransportErrorCode } from '../../src/transport/errors.js';
import { noiseStatic, prologue } from '../../src/transport/handshake.js';
import { connectSecure, WsPipe } from '../../src/transport/ws-pipe.js';
import { listenSecure, type ListenParams, type SecureListener } from '../../src/transport/uws-server.js';
import { closed, collect, interpose, until } from './support.js';
import { curvePublicFromEd25519 } from '../../src/crypto/primitives.js';

const logger = silentLogger;

interface Server {
  listener: SecureListener;
  url: string;
  identity: Identity;
  channels: SecureChannel[];
  errors: TransportError[];
}

async function server(t: Tap.Test, params: Partial<ListenParams> = {}): Promise<Server> {
  const identity = params.identity ?? Identity.generate();
  const channels: SecureChannel[] = [];
  const errors: TransportError[] = [];
  const listener = await listenSecure({
    port: 0,
    identity,
    purpose: 'relay',
    onChannel: (channel) => channels.push(channel),
    onHandshakeError: (error) => errors.push(error),
    ...params,
    options: { logger, ...params.options },
  });
  t.teardown(() => listener.close());
  return { listener, url: `ws://127.0.0.1:${listener.port}/`, identity, channels, errors };
}

type Tap = typeof t;
declare namespace Tap {
  type Test = Parameters<Parameters<typeof t.test>[1]>[0];
}

function rawSocket(url: string, maxPayload = 1 << 24): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload });
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function expectFailure(t: Tap.Test, promise: Promise<unknown>, code: string): Promise<TransportError> {
  try {
    await promise;
  } catch (error) {
    t.ok(error instanceof TransportError, 'a typed transport error');
    t.equal((error as TransportError).code, code);
    return error as TransportError;
  }
  t.fail(`expected ${code}, but it succeeded`);
  throw new Error('unreachable');
}

/** Connects over a ws pipe whose outgoing messages pass through `transform`. */
async function connectInterposed(
  srv: Server,
  transform: (message: Uint8Array, index: number) => Uint8Array | Uint8Array[] | null,
  options: ChannelOptions = {},
): Promise<SecureChannel> {
  const socket = await rawSocket(srv.url);
  return SecureChannel.initiate(interpose(new WsPipe(socket), transform), {
    identity: Identity.generate(),
    expectedRemoteKey: srv.identity.publicKey,
    purpose: 'relay',
    options: { logger, ...options },
  });
}

t.test('a client that pins the wrong key fails with WRONG_KEY and the server opens no channel', async (t) => {
  const srv = await server(t);
  const error = await expectFailure(
    t,
    connectSecure(srv.url, { identity: Identity.generate(), expectedRemoteKey: Identity.generate().publicKey, purpose: 'relay', options: { logger } }),
    TransportErrorCode.WrongKey,
  );
  t.match(error.message, /does not hold the expected key/);
  await until(() => srv.errors.length === 1);
  t.equal(srv.errors[0].code, TransportErrorCode.WrongKey);
  t.equal(srv.channels.length, 0);
});

t.test('an initiator whose claimed Ed25519 key does not match its Noise static is refused with WRONG_KEY', async (t) => {
  const srv = await server(t);
  const mallory = Identity.generate();
  const victim = Identity.generate();
  const noise = new NoiseState('IK', true, noiseStatic(mallory));
  noise.initialise(prologue(TRANSPORT_VERSION, 'relay'), curvePublicFromEd25519(srv.identity.publicKey) as Buffer);
  const message1 = noise.send(encodeHandshakePayload({ identity: victim.publicKey, frameBytesMax: 1 << 20 }));
  const socket = await rawSocket(srv.url);
  const replies: Uint8Array[] = [];
  socket.on('message', (data: Buffer) => replies.push(data));
  socket.send(encodeHandshakeInit(TRANSPORT_VERSION, purposeToWire('relay'), message1));
  await until(() => srv.errors.length === 1);
  t.equal(srv.errors[0].code, TransportErrorCode.WrongKey);
  t.equal(srv.channels.length, 0);
  await until(() => replies.length === 1);
  const reply = decodeEnvelope(replies[0], 1024);
  t.ok(reply.ok && reply.value.kind === 'reject', 'the client is told why');
  socket.terminate();
});

t.test('authorize() refusing the initiator key fails both sides with UNAUTHORIZED', async (t) => {
  const srv = await server(t, { authorize: () => false });
  await expectFailure(
    t,
    connectSecure(srv.url, { identity: Identity.generate(), expectedRemoteKey: srv.identity.publicKey, purpose: 'relay', options: { logger } }),
    TransportErrorCode.Unauthorized,
  );
  await until(() => srv.errors.length === 1);
  t.equal(srv.errors[0].code, TransportErrorCode.Unauthorized);
  t.equal(srv.channels.length, 0);
});

t.test('a version mismatch fails with a readable VERSION_MISMATCH on both sides', async (t) => {
  const srv = await server(t);
  const error = await expectFailure(
    t,
    connectSecure(srv.url, {
      identity: Identity.generate(),
      expectedRemoteKey: srv.identity.publicKey,
      purpose: 'relay',
      options: { logger, version: TRANSPORT_VERSION + 1 },
    }),
    TransportErrorCode.VersionMismatch,
  );
  t.equal(error.message, `peer speaks transport v${TRANSPORT_VERSION}, we speak v${TRANSPORT_VERSION + 1}`);
  await until(() => srv.errors.length === 1);
  t.equal(srv.errors[0].code, TransportErrorCode.VersionMismatch);
  t.equal(srv.errors[0].message, `peer speaks transport v${TRANSPORT_VERSION + 1}, we speak v${TRANSPORT_VERSION}`);
  t.equal(srv.channels.length, 0);
});

t.test('a purpose mismatch fails with PURPOSE_MISMATCH on both sides', async (t) => {
  const srv = await server(t);
  const error = await expectFailure(
    t,
    connectSecure(srv.url, { identity: Identity.generate(), expectedRemoteKey: srv.identity.publicKey, purpose: 'index-client', options: { logger } }),
    TransportErrorCode.PurposeMismatch,
  );
  t.match(error.message, /relay/);
  await until(() => srv.errors.length === 1);
  t.equal(srv.errors[0].code, TransportErrorCode.PurposeMismatch);
  t.equal(srv.channels.length, 0);
});

t.test('a tampered frame closes the channel with DECRYPT_FAILED and delivers nothing', async (t) => {
  const srv = await server(t);
  // Message 0 is the handshake, 1 the key confirmation, 2 the first batch of frames.
  const client = await connectInterposed(srv, (message, index) => {
    if (index !== 2) return message;
    const copy = new Uint8Array(message);
    copy[copy.length - 20] ^= 0x01; // inside the ciphertext
    return copy;
  });
  await until(() => srv.channels.length === 1);
  const received = collect(srv.channels[0]);
  const reason = closed(srv.channels[0]);
  client.send(Buffer.from('first'));
  const error = await reason;
  t.equal(error.code, TransportErrorCode.DecryptFailed);
  t.same(received, [], 'no frame was delivered');
  t.equal(srv.channels[0].counters.framesReceived, 0);
  const clientSide = await closed(client);
  t.equal(clientSide.code, TransportErrorCode.ConnectionLost, 'the client sees the server hang up');
  t.match(clientSide.message, /ERR_TRANSPORT_DECRYPT_FAILED/);
});

t.test('a replayed frame closes the channel with REPLAYED after the original was delivered once', async (t) => {
  const srv = await server(t);
  const client = await connectInterposed(srv, (message, index) => (index === 2 ? [message, message] : message));
  await until(() => srv.channels.length === 1);
  const received = collect(srv.channels[0]);
  const reason = closed(srv.channels[0]);
  client.send(Buffer.from('once'));
  const error = await reason;
  t.equal(error.code, TransportErrorCode.Replayed);
  t.same(received, ['once'], 'the original only');
  t.equal(srv.channels[0].counters.framesReceived, 1);
});

t.test('a message over the limit closes the server channel with FRAME_TOO_LARGE before it is buffered', async (t) => {
  const frameBytesMax = 4096;
  const srv = await server(t, { options: { frameBytesMax } });
  const socket = await rawSocket(srv.url);
  const client = await SecureChannel.initiate(new WsPipe(socket), {
    identity: Identity.generate(),
    expectedRemoteKey: srv.identity.publicKey,
    purpose: 'relay',
    options: { logger, frameBytesMax },
  });
  await until(() => srv.channels.length === 1);
  const received = collect(srv.channels[0]);
  const reason = closed(srv.channels[0]);
  t.throws(() => client.send(new Uint8Array(frameBytesMax + 1)), { code: TransportErrorCode.FrameTooLarge }, 'the sender refuses too');
  socket.send(new Uint8Array(frameBytesMax + 1024 + 1)); // one byte over the wire limit
  const error = await reason;
  t.equal(error.code, TransportErrorCode.FrameTooLarge);
  t.same(received, []);
});

t.test('a client refuses an oversized message from the server with FRAME_TOO_LARGE', async (t) => {
  const frameBytesMax = 4096;
  const srv = await server(t, { options: { frameBytesMax } });
  const client = await connectSecure(srv.url, {
    identity: Identity.generate(),
    expectedRemoteKey: srv.identity.publicKey,
    purpose: 'relay',
    options: { logger, frameBytesMax },
  });
  await until(() => srv.channels.length === 1);
  const received = collect(client);
  const reason = closed(client);
  srv.channels[0].pipe.send(encodeSealed(0, new Uint8Array(frameBytesMax + 2048)));
  const error = await reason;
  t.equal(error.code, TransportErrorCode.FrameTooLarge);
  t.same(received, []);
});

t.test('a silent peer is closed with DEAD_PEER', async (t) => {
  const srv = await server(t, { options: { deadPeerMs: 150, keepaliveIntervalMs: 50 } });
  const client = await connectSecure(srv.url, {
    identity: Identity.generate(),
    expectedRemoteKey: srv.identity.publicKey,
    purpose: 'relay',
    options: { logger, keepaliveIntervalMs: 0 }, // never sends a keepalive
  });
  await until(() => srv.channels.length === 1);
  const error = await closed(srv.channels[0]);
  t.equal(error.code, TransportErrorCode.DeadPeer);
  t.equal(srv.channels[0].counters.framesReceived, 0);
  await closed(client);
});

t.test('keepalives keep an idle channel open past the dead-peer timeout', async (t) => {
  const srv = await server(t, { options: { deadPeerMs: 200, keepaliveIntervalMs: 40 } });
  const client = await connectSecure(srv.url, {
    identity: Identity.generate(),
    expectedRemoteKey: srv.identity.publicKey,
    purpose: 'relay',
    options: { logger, deadPeerMs: 200, keepaliveIntervalMs: 40 },
  });
  await until(() => srv.channels.length === 1);
  // Wait for several keepalives each way rather than for a duration.
  await until(() => client.counters.keepalivesSent >= 8 && srv.channels[0].counters.keepalivesSent >= 8);
  t.ok(client.isOpen && srv.channels[0].isOpen);
  client.close();
});

t.test('a connection that never sends a handshake is dropped with HANDSHAKE_TIMEOUT', async (t) => {
  const srv = await server(t, { options: { handshakeTimeoutMs: 100 } });
  const socket = await rawSocket(srv.url);
  const messages: Uint8Array[] = [];
  socket.on('message', (data: Buffer) => messages.push(data));
  const closeReason = new Promise<string>((resolve) => socket.once('close', (_code: number, reason: Buffer) => resolve(reason.toString())));
  await until(() => srv.errors.length === 1);
  t.equal(srv.errors[0].code, TransportErrorCode.HandshakeTimeout);
  t.match(await closeReason, /ERR_TRANSPORT_HANDSHAKE_TIMEOUT/);
  const reject = decodeEnvelope(messages[0], 1024);
  t.ok(reject.ok && reject.value.kind === 'reject', 'a reject explains the close');
  t.equal(srv.channels.length, 0);
});

t.test('an initiator whose responder never answers fails with HANDSHAKE_TIMEOUT', async (t) => {
  const srv = await server(t);
  const socket = await rawSocket(srv.url);
  // A pipe that swallows everything we send, so the server never answers.
  const pipe = interpose(new WsPipe(socket), () => null);
  await expectFailure(
    t,
    SecureChannel.initiate(pipe, {
      identity: Identity.generate(),
      expectedRemoteKey: srv.identity.publicKey,
      purpose: 'relay',
      options: { logger, handshakeTimeoutMs: 100 },
    }),
    TransportErrorCode.HandshakeTimeout,
  );
});

t.test('a server that accepts the TCP connection but never answers the upgrade fails the connect with CONNECT_FAILED', async (t) => {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const port = (silent.address() as AddressInfo).port;
  const error = await expectFailure(
    t,
    connectSecure(`ws://127.0.0.1:${port}/`, {
      identity: Identity.generate(),
      expectedRemoteKey: Identity.generate().publicKey,
      purpose: 'relay',
      connectTimeoutMs: 100,
      options: { logger },
    }),
    TransportErrorCode.ConnectFailed,
  );
  t.match(error.message, /no WebSocket upgrade within 100 ms/);
  t.equal(sockets.length, 1, 'the TCP connection was made');
});

t.test('a server at its handshake cap refuses new connections with BUSY', async (t) => {
  // A long handshake timeout keeps the idle socket in the only slot however slow the machine is.
  const srv = await server(t, { limits: { handshakesConcurrentMax: 1 }, options: { logger, handshakeTimeoutMs: 600_000 } });
  const idle = await rawSocket(srv.url); // occupies the only handshake slot
  await until(() => srv.listener.handshakesInProgress() === 1);
  await expectFailure(
    t,
    connectSecure(srv.url, { identity: Identity.generate(), expectedRemoteKey: srv.identity.publicKey, purpose: 'relay', options: { logger } }),
    TransportErrorCode.Busy,
  );
  t.equal(srv.channels.length, 0);
  idle.terminate();
});

t.test('a handshake message replayed on another connection never yields a channel', async (t) => {
  const srv = await server(t, { options: { handshakeTimeoutMs: 150 } });
  let captured: Uint8Array | null = null;
  const client = await connectInterposed(srv, (message, index) => {
    if (index === 0) captured = new Uint8Array(message);
    return message;
  });
  await until(() => srv.channels.length === 1);
  const attacker = await rawSocket(srv.url);
  attacker.send(captured as unknown as Uint8Array);
  await until(() => srv.errors.length === 1);
  t.equal(srv.errors[0].code, TransportErrorCode.HandshakeTimeout, 'no key confirmation ever arrives');
  t.equal(srv.channels.length, 1, 'only the genuine connection produced a channel');
  client.close();
  attacker.terminate();
});

t.test('frames cross a real socket in both directions and the server exposes the client key', async (t) => {
  const srv = await server(t);
  const identity = Identity.generate();
  const client = await connectSecure(srv.url, { identity, expectedRemoteKey: srv.identity.publicKey, purpose: 'relay', options: { logger } });
  await until(() => srv.channels.length === 1);
  t.same(Buffer.from(srv.channels[0].remoteKey), Buffer.from(identity.publicKey));
  srv.channels[0].onFrame((frame) => srv.channels[0].send(frame));
  const echoed = collect(client);
  const sent = Array.from({ length: 500 }, (_, i) => `frame ${i}`);
  for (const frame of sent) client.send(Buffer.from(frame));
  await until(() => echoed.length === sent.length);
  t.same(echoed, sent);
  client.close('done');
  const serverSide = await closed(srv.channels[0]);
  t.equal(serverSide.code, TransportErrorCode.PeerClosed);
});

t.test('a client that sends and closes in the turn it connected delivers its frames, its key confirmation and its goodbye in one message', async (t) => {
  const frames: string[] = [];
  let messagesReceived = -1;
  const closes: TransportError[] = [];
  const srv = await server(t, {
    onChannel: (channel) => {
      channel.onFrame((frame) => frames.push(Buffer.from(frame).toString('utf8')));
      channel.onClose((reason) => {
        messagesReceived = channel.counters.messagesReceived;
        closes.push(reason);
      });
    },
  });
  const client = await connectSecure(srv.url, { identity: Identity.generate(), expectedRemoteKey: srv.identity.publicKey, purpose: 'relay', options: { logger } });
  client.send(Buffer.from('only'));
  client.close('short visit');
  await until(() => closes.length === 1);
  t.same(frames, ['only']);
  t.equal(closes[0].code, TransportErrorCode.PeerClosed);
  t.match(closes[0].message, /short visit/);
  t.equal(messagesReceived, 1, 'one sealed message did it all');
  t.equal(srv.errors.length, 0);
});

t.test('closing a listener says goodbye on open channels and stops accepting', async (t) => {
  const identity = Identity.generate();
  const channels: SecureChannel[] = [];
  const listener = await listenSecure({ port: 0, identity, purpose: 'relay', onChannel: (c) => channels.push(c), options: { logger } });
  const url = `ws://127.0.0.1:${listener.port}/`;
  const client = await connectSecure(url, { identity: Identity.generate(), expectedRemoteKey: identity.publicKey, purpose: 'relay', options: { logger } });
  await until(() => channels.length === 1);
  const reason = closed(client);
  listener.close();
  const error = await reason;
  t.equal(error.code, TransportErrorCode.PeerClosed);
  t.match(error.message, /server closing/);
  await expectFailure(
    t,
    connectSecure(url, { identity: Identity.generate(), expectedRemoteKey: identity.publicKey, purpose: 'relay', options: { logger } }),
    TransportErrorCode.ConnectFailed,
  );
});

t.test('a forced listener close drops every socket at once', async (t) => {
  const identity = Identity.generate();
  const channels: SecureChannel[] = [];
  const listener = await listenSecure({ port: 0, identity, purpose: 'relay', onChannel: (c) => channels.push(c), options: { logger } });
  const client = await connectSecure(`ws://127.0.0.1:${listener.port}/`, {
    identity: Identity.generate(),
    expectedRemoteKey: identity.publicKey,
    purpose: 'relay',
    options: { logger },
  });
  await until(() => channels.length === 1);
  const serverSide = closed(channels[0]);
  const clientSide = closed(client);
  listener.close({ force: true });
  t.equal((await serverSide).code, TransportErrorCode.ConnectionLost);
  t.equal((await clientSide).code, TransportErrorCode.ConnectionLost);
});
