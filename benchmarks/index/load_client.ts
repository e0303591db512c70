/**
 * Load generator for the end-to-end section, run as its own process so the clients' crypto and
 * sockets do not share the server's event loop. Args: JSON {port, serverKey (hex), pairs (hex
 * key pairs), clients, window, latencyQueries, warmupMs, durationMs, amount}, read from the file named
 * by the first argument. Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/primitives.js';
import { decodeServerMessage, encodeClientMessage } from '../../src/index/codec.js';
import { connectSecure, type SecureChannel } from '../../src/transport/transport.js';

interface Args {
  port: number;
  serverKey: string;
  pairs: [string, string][];
  clients: number;
  window: number;
  latencyQueries: number;
  warmupMs: number;
  durationMs: number;
  amount: string;
}

const args = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Args;
const pairs = args.pairs.map(([s, d]) => [Buffer.from(s, 'hex'), Buffer.from(d, 'hex')] as const);
const amount = BigInt(args.amount);

class LoadClient {
  private readonly waiting = new Map<number, (ok: boolean) => void>();
  private readonly idPrefix = randomBytes(12);
  private counter = 0;
  constructor(readonly channel: SecureChannel) {
    channel.onFrame((frame) => {
      const msg = decodeServerMessage(frame);
      if (!msg.ok || msg.value.kind !== 'routes') return;
      const rid = msg.value.response.requestId;
      if (Buffer.compare(rid.subarray(0, 12), this.idPrefix) !== 0) return;
      const id = new DataView(rid.buffer, rid.byteOffset, 16).getUint32(12, true);
      const done = this.waiting.get(id);
      if (done !== undefined) {
        this.waiting.delete(id);
        done(msg.value.response.routes.length > 0);
      }
    });
  }
  request(source: Uint8Array, destination: Uint8Array): Promise<boolean> {
    // Unique per connection: a random prefix and a counter (a random id per request would cost
    // a system call each, a tenth of this client's CPU).
    const requestId = new Uint8Array(16);
    requestId.set(this.idPrefix);
    new DataView(requestId.buffer).setUint32(12, ++this.counter, true);
    return new Promise((resolve) => {
      this.waiting.set(this.counter, resolve);
      this.channel.send(
        encodeClientMessage({
          kind: 'routes',
          request: { requestId, currency: 'USD', amount, source, destination, exclude: null, maxHops: 0, maxFee: null, maxRoutes: 1 },
        }),
      );
    });
  }
}

function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const clients: LoadClient[] = [];
for (let i = 0; i < args.clients; i++) {
  const channel = await connectSecure(`ws://127.0.0.1:${args.port}/`, {
    identity: Identity.generate(),
    expectedRemoteKey: Buffer.from(args.serverKey, 'hex'),
    purpose: 'index-client',
  });
  clients.push(new LoadClient(channel));
}
let next = 0;
/** Keeps `window` requests in flight on every client until `durationMs` has passed. */
async function saturate(durationMs: number, onDone: (ms: number) => void): Promise<void> {
  const endAt = performance.now() + durationMs;
  await Promise.all(
    clients.flatMap((client) =>
      Array.from({ length: args.window }, async () => {
        while (performance.now() < endAt) {
          const t0 = performance.now();
          await client.request(...pairs[next++ % pairs.length]);
          onDone(performance.now() - t0);
        }
      }),
    ),
  );
}

// Warm-up under load, so both phases below measure compiled code in a steady state.
for (let i = 0; i < 300; i++) await clients[0].request(...pairs[i % pairs.length]);
await saturate(args.warmupMs, () => {});
const latencies: number[] = [];
let found = 0;
for (let i = 0; i < args.latencyQueries; i++) {
  const t0 = performance.now();
  if (await clients[0].request(...pairs[i % pairs.length])) found++;
  latencies.push(performance.now() - t0);
}
// The parent samples the server's CPU between these two lines.
process.stdout.write('saturation-start\n');
const cpuStart = process.cpuUsage();
const saturated: number[] = [];
let completed = 0;
const started = performance.now();
await saturate(args.durationMs, (ms) => {
  saturated.push(ms);
  completed++;
});
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStart);
process.stdout.write('saturation-end\n');
for (const c of clients) c.channel.close();
const r = (x: number) => Math.round(x * 1000) / 1000;
process.stdout.write(
  `${JSON.stringify({
    p50_ms: r(percentile(latencies, 0.5)),
    p99_ms: r(percentile(latencies, 0.99)),
    found_ratio: r(found / args.latencyQueries),
    queries_per_s: Math.round(completed / seconds),
    saturated_p50_ms: r(percentile(saturated, 0.5)),
    saturated_p99_ms: r(percentile(saturated, 0.99)),
    clients: args.clients,
    in_flight: args.clients * args.window,
    client_cpu_us_per_query: r((cpu.user + cpu.system) / completed),
  })}\n`,
);
process.exit(0);
