/**
 * Load generator thread for the handshake phases of benchmarks/transport.ts: `loops` concurrent
 * clients, each repeating a full connection (TCP, WebSocket upgrade, Noise IK handshake with the
 * server key pinned, then one sealed message carrying a frame with the client's own key, its
 * goodbye and the key confirmation; close). The server counts a channel as verified when that
 * frame equals the key its handshake proved. Each loop dials as its own identity, taken in turn
 * from a pool, so the server sees many distinct clients.
 *
 * `client` picks the socket under the product SecureChannel: `ws` is the product client
 * (connectSecure, src/transport/ws-pipe.ts); `lean` is the load generator's raw-socket
 * WebSocket client (benchmarks/lean-ws-pipe.ts), which spends far less CPU per connection.
 *
 * The warm-up counts handshakes rather than time: V8 optimizes a function after enough calls, and
 * much of a handshake's code runs once per handshake, so both this thread and the server keep
 * compiling (on background threads, billed to the run) for the first few thousand handshakes.
 *
 * Parent <-> this thread:
 *   <- {ready, warmupHandshakes}     identities made, warm-up done
 *   -> {run: durationMs}             <- {done, failed}
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Identity } from '../src/crypto/identity.js';
import { silentLogger } from '../src/common/log.js';
import { connectSecure, noiseStatic, resolveChannelOptions, SecureChannel, wireBytesMax } from '../src/transport/transport.js';
import { openLeanPipe } from './lean-ws-pipe.js';

export interface ClientThreadData {
  url: string;
  serverKey: Uint8Array;
  loops: number;
  identities: number;
  /** Warm-up before 'ready': this many handshakes, or warmupMsMax, whichever comes first. */
  warmupHandshakes: number;
  warmupMsMax: number;
  client: 'ws' | 'lean';
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
const options = resolveChannelOptions({ logger: silentLogger });
const url = new URL(data.url);
const maxPayload = wireBytesMax(options.frameBytesMax);

async function connect(identity: Identity): Promise<SecureChannel> {
  if (data.client === 'ws') return connectSecure(data.url, { identity, expectedRemoteKey: serverKey, purpose: 'relay', options });
  const pipe = await openLeanPipe(url.hostname, Number(url.port), url.pathname, maxPayload, 10_000);
  return SecureChannel.initiate(pipe, { identity, expectedRemoteKey: serverKey, purpose: 'relay', options });
}

async function run(durationMs: number, handshakesMax = Infinity): Promise<{ done: number; failed: number }> {
  let done = 0;
  let failed = 0;
  const deadline = performance.now() + durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline && done + failed < handshakesMax) {
      const identity = identities[nextIdentity];
      nextIdentity = (nextIdentity + 1) % identities.length;
      try {
        const channel = await connect(identity);
        done += 1;
        channel.send(identity.publicKey);
        channel.close('bench');
      } catch {
        failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: data.loops }, loop));
  return { done, failed };
}

const warmup = await run(data.warmupMsMax, data.warmupHandshakes);
parentPort?.postMessage({ ready: true, warmupHandshakes: warmup.done });
parentPort?.on('message', (message: { run?: number }) => {
  if (message.run !== undefined) void run(message.run).then((result) => parentPort?.postMessage(result));
});
