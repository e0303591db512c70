/**
 * Benchmark server, run in a worker thread so client and server each get a core. It listens
 * with listenSecure and, per channel, counts frames; a frame whose first byte is 0xff is a
 * "report" request, answered with the count of frames received so far (excluding reports).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Identity } from '../src/crypto/identity.js';
import { listenSecure } from '../src/transport/transport.js';
import { silentLogger } from '../src/common/log.js';

const identity = Identity.fromSeed(new Uint8Array(workerData.seed as Uint8Array));
const listener = await listenSecure({
  port: 0,
  identity,
  purpose: 'relay',
  limits: { handshakesConcurrentMax: 4096 },
  options: { logger: silentLogger },
  onChannel: (channel) => {
    let frames = 0;
    let bytes = 0;
    channel.onFrame((frame) => {
      if (frame.byteLength > 0 && frame[0] === 0xff) {
        const reply = Buffer.alloc(16);
        reply.writeDoubleLE(frames, 0);
        reply.writeDoubleLE(bytes, 8);
        channel.send(reply);
        return;
      }
      frames += 1;
      bytes += frame.byteLength;
    });
  },
});
parentPort?.postMessage({ port: listener.port });
parentPort?.on('message', (message: { stop?: boolean }) => {
  if (message.stop) {
    listener.close({ force: true }); // uWS aborts a worker that exits with open sockets
    setTimeout(() => process.exit(0), 50);
  }
});
