/**
 * Benchmark server: its own process (started by benchmarks/transport.ts), as a deployment runs
 * it, with `threads` worker threads that each run listenSecure on the same port (uWS binds with
 * SO_REUSEPORT, so the kernel spreads new connections over the threads). Per channel it counts
 * frames; a frame whose first byte is 0xff is a "report" request, answered with the count of
 * frames (and bytes) received so far, excluding reports. A channel whose first frame is 32 bytes
 * equal to the key its handshake verified counts as a verified handshake (the handshake phases'
 * clients send exactly that): proof that the authenticated handshake completed and an
 * authenticated frame from the client opened.
 *
 * Parent <-> this process over the fork IPC channel:
 *   <- {port}            once every thread listens
 *   -> {cpu: true}       <- {cpu: {user, system}}  (microseconds, every thread of this process)
 *   -> {verified: true}  <- {verified: n}  (verified handshakes so far, every thread)
 *   -> {stop: true}      threads close their listeners, the process exits
 */
import { createServer } from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Identity } from '../src/crypto/identity.js';
import { listenSecure } from '../src/transport/transport.js';
import { silentLogger } from '../src/common/log.js';

interface ShardData {
  seed: Uint8Array;
  port: number;
}

async function shard(data: ShardData): Promise<void> {
  let verified = 0;
  const identity = Identity.fromSeed(new Uint8Array(data.seed));
  const listener = await listenSecure({
    port: data.port,
    identity,
    purpose: 'relay',
    limits: { handshakesConcurrentMax: 4096 },
    options: { logger: silentLogger },
    onChannel: (channel) => {
      let frames = 0;
      let bytes = 0;
      channel.onFrame((frame) => {
        if (frames === 0 && frame.byteLength === 32 && Buffer.from(frame.buffer, frame.byteOffset, 32).equals(channel.remoteKey)) {
          verified += 1;
        }
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
  parentPort?.postMessage({ listening: listener.port });
  parentPort?.on('message', (message: { stop?: boolean; verified?: boolean }) => {
    if (message.verified) parentPort?.postMessage({ verified });
    if (message.stop) {
      listener.close({ force: true }); // uWS aborts a thread that exits with open sockets
      setTimeout(() => process.exit(0), 50);
    }
  });
}

/** A port free right now: uWS shares a port between threads only when it is given explicitly. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function main(): Promise<void> {
  const seed = Buffer.from(process.env.BENCH_SERVER_SEED ?? '', 'hex');
  const threads = Number(process.env.BENCH_SERVER_THREADS ?? '1');
  if (seed.byteLength !== 32 || !(threads >= 1)) throw new Error('BENCH_SERVER_SEED (64 hex) and BENCH_SERVER_THREADS (>= 1) are required');
  // listenSecure binds its port for one listener alone (src/transport/listen-port.ts), so
  // listener threads can no longer share it.
  if (threads > 1) throw new Error('--server-threads > 1 needs listenSecure to share its port, which it no longer does');
  const port = await freePort();
  // Worker threads do not inherit tsx's loader: register it before importing this file again.
  const api = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const workers = await Promise.all(
    Array.from({ length: threads }, () => {
      const worker = new Worker(bootstrap, { eval: true, workerData: { seed: new Uint8Array(seed), port } satisfies ShardData });
      return new Promise<Worker>((resolve, reject) => {
        worker.once('message', () => resolve(worker));
        worker.once('error', reject);
      });
    }),
  );
  process.send?.({ port });
  process.on('disconnect', () => process.exit(0)); // the benchmark ended without stopping us
  process.on('message', (message: { cpu?: boolean; stop?: boolean; verified?: boolean }) => {
    if (message.cpu) process.send?.({ cpu: process.cpuUsage() });
    if (message.verified) {
      void Promise.all(
        workers.map(
          (worker) =>
            new Promise<number>((resolve) => {
              const onMessage = (reply: { verified?: number }): void => {
                if (reply.verified === undefined) return;
                worker.off('message', onMessage);
                resolve(reply.verified);
              };
              worker.on('message', onMessage);
              worker.postMessage({ verified: true });
            }),
        ),
      ).then((counts) => process.send?.({ verified: counts.reduce((sum, n) => sum + n, 0) }));
    }
    if (message.stop) {
      let left = workers.length;
      for (const worker of workers) {
        worker.once('exit', () => {
          if (--left === 0) process.exit(0);
        });
        worker.postMessage({ stop: true });
      }
    }
  });
}

if (isMainThread) await main();
else await shard(workerData as ShardData);
