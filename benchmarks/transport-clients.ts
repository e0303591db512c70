/**
 * Load generator thread for the handshake phase of benchmarks/transport.ts: `loops` concurrent
 * clients, each repeating a full connection (TCP, WebSocket upgrade, Noise IK handshake with the
 * server key pinned, key confirmation, goodbye, close). Each loop dials as its own identity,
 * taken in turn from a pool, so the server sees many distinct clients.
 *
 * Parent <-> this thread:
 *   <- {ready}                       identities made, warm-up done
 *   -> {run: durationMs}             <- {done, failed}
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Identity } from '../src/crypto/identity.js';
import { silentLogger } from '../src/common/log.js';
import { connectSecure, noiseStatic } from '../src/transport/transport.js';

export interface ClientThreadData {
  url: string;
  serverKey: Uint8Array;
  loops: number;
  identities: number;
  warmupMs: number;
}

const data = workerData as ClientThreadData;
const serverKey = new Uint8Array(data.serverKey);
// A client converts its identity to its Noise static once, when it starts: do that here too.
const identities = Array.from({ length: data.identities }, () => {
  const identity = Identity.generate();
  noiseStatic(identity);
  return identity;
});
let nextIdentity = 0;

async function run(durationMs: number): Promise<{ done: number; failed: number }> {
  let done = 0;
  let failed = 0;
  const deadline = performance.now() + durationMs;
  const options = { logger: silentLogger };
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const identity = identities[nextIdentity];
      nextIdentity = (nextIdentity + 1) % identities.length;
      try {
        const channel = await connectSecure(data.url, { identity, expectedRemoteKey: serverKey, purpose: 'relay', options });
        done += 1;
        channel.close('bench');
      } catch {
        failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: data.loops }, loop));
  return { done, failed };
}

await run(data.warmupMs);
parentPort?.postMessage({ ready: true });
parentPort?.on('message', (message: { run?: number }) => {
  if (message.run !== undefined) void run(message.run).then((result) => parentPort?.postMessage(result));
});
