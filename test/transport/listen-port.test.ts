import t from 'tap';
import uWS from '@trufflesuite/uws-js-unofficial';
import { Identity } from '../../src/crypto/identity.js';
import { silentLogger } from '../../src/common/log.js';
import type { SecureChannel } from '../../src/transport/channel.js';
import { TransportError, TransportErrorCode } from '../../src/transport/errors.js';
import { probePort } from '../../src/transport/listen-port.js';
import { connectSecure } from '../../src/transport/ws-pipe.js';
import { listenSecure, type SecureListener } from '../../src/transport/uws-server.js';
import { closed, until } from './support.js';

const logger = silentLogger;

async function listen(port: number, identity: Identity, channels: SecureChannel[]): Promise<SecureListener> {
  return listenSecure({ port, identity, purpose: 'relay', onChannel: (c) => channels.push(c), options: { logger } });
}

function dial(port: number, identity: Identity): Promise<SecureChannel> {
  return connectSecure(`ws://127.0.0.1:${port}/`, { identity: Identity.generate(), expectedRemoteKey: identity.publicKey, purpose: 'relay', options: { logger } });
}

for (const force of [false, true]) {
  t.test(`a listener on an OS-chosen port can listen there again right after a ${force ? 'forced' : 'graceful'} close with connections open`, async (t) => {
    const identity = Identity.generate();
    const channels: SecureChannel[] = [];
    const first = await listen(0, identity, channels);
    const clients = await Promise.all([dial(first.port, identity), dial(first.port, identity), dial(first.port, identity)]);
    await until(() => channels.length === 3);
    const gone = clients.map((c) => closed(c));
    first.close({ force });
    await Promise.all(gone);
    // The listener's side of each connection closed first, so the port holds its TIME_WAIT
    // sockets now; without SO_REUSEADDR on the listen socket this bind fails for a minute.
    const second = await listen(first.port, identity, channels);
    t.teardown(() => second.close());
    t.equal(second.port, first.port, 'the same port');
    const again = await dial(second.port, identity);
    await until(() => channels.length === 4);
    again.close('done');
  });
}

t.test('a listener on a port another listener holds is refused instead of sharing the port', async (t) => {
  const identity = Identity.generate();
  const channels: SecureChannel[] = [];
  // A given port, as a server's configuration names it (uWS would share it by default).
  const port = await probePort('127.0.0.1', 0);
  const first = await listen(port!, identity, channels);
  t.teardown(() => first.close());
  const error = await listen(port!, identity, channels).then(
    (listener) => {
      listener.close();
      return null;
    },
    (err: unknown) => err,
  );
  t.type(error, TransportError);
  t.equal((error as TransportError).code, TransportErrorCode.ConnectFailed);
  await dial(first.port, identity);
  await until(() => channels.length === 1);
  t.pass('the first listener still serves');
});

t.test('probing a port finds one held by SO_REUSEPORT listeners in use, and a free one free', async (t) => {
  const app = uWS.App();
  const free = await probePort('127.0.0.1', 0);
  t.type(free, 'number');
  // A listener as a relay shard has it: uWS's default for a given port sets SO_REUSEPORT.
  const token = await new Promise<uWS.us_listen_socket | false>((resolve) => app.listen('127.0.0.1', free!, resolve));
  t.not(token, false);
  t.teardown(() => {
    if (token !== false) uWS.us_listen_socket_close(token);
  });
  t.equal(await probePort('127.0.0.1', free!), null, 'in use');
  const other = await probePort('127.0.0.1', 0);
  t.not(other, free);
  t.equal(await probePort('127.0.0.1', other!), other, 'a released port probes free again');
});

t.test('a listener on an address of no local interface fails with ConnectFailed, for a given port or port 0', async (t) => {
  const identity = Identity.generate();
  for (const port of [0, 4567]) {
    // 192.0.2.0/24 is reserved for documentation: no interface has it.
    const error = await listenSecure({ host: '192.0.2.1', port, identity, purpose: 'relay', onChannel: () => {}, options: { logger } }).then(
      (listener) => {
        listener.close();
        return null;
      },
      (err: unknown) => err,
    );
    t.type(error, TransportError, `port ${port}`);
    t.equal((error as TransportError).code, TransportErrorCode.ConnectFailed);
    t.match((error as TransportError).message, `cannot listen on 192.0.2.1:${port}`);
  }
});

t.test('listeners that ask for a shared port share it; an exclusive one is then refused there', async (t) => {
  const identity = Identity.generate();
  const channels: SecureChannel[] = [];
  const port = (await probePort('127.0.0.1', 0))!;
  const shared = (): Promise<SecureListener> =>
    listenSecure({ port, identity, purpose: 'relay', sharedPort: true, onChannel: (c) => channels.push(c), options: { logger } });
  const a = await shared();
  const b = await shared();
  t.teardown(() => [a, b].forEach((l) => l.close()));
  t.equal(a.port, port);
  t.equal(b.port, port);
  await t.rejects(listen(port, identity, channels), TransportError, 'an exclusive listener does not join the shared port');
  await dial(port, identity);
  await until(() => channels.length === 1);
  a.close();
  await dial(port, identity);
  await until(() => channels.length === 2);
  t.pass('connections reach the listener left');
});
