import { WebSocket } from 'ws';
import type { Socket } from 'node:net';
import type { Identity } from '../../src/crypto/identity.js';
import { SecureChannel, WsPipe, wireBytesMax, resolveChannelOptions, type Purpose } from '../../src/transport/transport.js';

/**
 * Dials an index client port from a chosen loopback address (127.0.0.2, 127.0.0.3, ... are all
 * loopback on Linux), so per-address admission can be seen from one machine. Rejects when the
 * server refuses the upgrade or the handshake.
 */
export async function connectFrom(localAddress: string, port: number, identity: Identity, serverKey: Uint8Array, timeoutMs = 10_000): Promise<SecureChannel> {
  return (await dialFrom(localAddress, port, identity, serverKey, 'index-client', timeoutMs)).channel;
}

/** As connectFrom, for any purpose, also giving the TCP socket (a test pauses it to stop reading). */
export function dialFrom(
  localAddress: string,
  port: number,
  identity: Identity,
  serverKey: Uint8Array,
  purpose: Purpose,
  timeoutMs = 10_000,
): Promise<{ channel: SecureChannel; tcp: Socket }> {
  const options = resolveChannelOptions();
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { localAddress, maxPayload: wireBytesMax(options.frameBytesMax), perMessageDeflate: false });
    const deadline = setTimeout(() => fail(new Error('no upgrade in time')), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(deadline);
      socket.removeAllListeners('open');
      socket.on('error', () => {});
      socket.terminate();
      reject(err);
    };
    socket.once('error', fail);
    socket.once('unexpected-response', (_req, res) => fail(new Error(`refused: HTTP ${res.statusCode}`)));
    socket.once('open', () => {
      clearTimeout(deadline);
      socket.removeListener('error', fail);
      // ws keeps its TCP socket in a field its types do not declare.
      const tcp = (socket as unknown as { _socket: Socket })._socket;
      SecureChannel.initiate(new WsPipe(socket), { identity, expectedRemoteKey: serverKey, purpose, options }).then((channel) => resolve({ channel, tcp }), reject);
    });
  });
}
