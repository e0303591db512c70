/**
 * Transport benchmark, all over loopback: handshakes/s with many concurrent clients, frames/s at
 * 100 B and MB/s at 16 KiB over one client<->server pair, plus raw sodium ChaCha20-Poly1305 MB/s
 * and a bare noise-handshake IK for comparison. Prints one JSON object per phase; the last line
 * is the summary.
 *
 * The server (uWS, benchmarks/transport-server.ts) runs in its own process, as deployed, with
 * --server-threads listener threads (only 1 for now: listenSecure binds its port for one
 * listener alone, src/transport/listen-port.ts). Handshake clients run in --client-threads
 * worker threads of this process, --clients concurrent connections in all, each loop a full new
 * connection: TCP, WebSocket upgrade, Noise IK with the server key pinned, then one sealed
 * message (a frame carrying the client's key, the key confirmation and the goodbye), close. The
 * server counts a handshake only when that frame opened and equals the key the handshake
 * proved, and the phase fails if it verified fewer than the clients completed.
 *
 * Each handshake phase starts with a warm-up counted in handshakes (3,000 per client thread, at
 * most 20 s; --quick: 1,000, 5 s): a fresh process keeps compiling for its first few thousand
 * handshakes, and that compilation ran on V8's background threads during a time-based
 * one-second warm-up's measured run, a fifth of the server's CPU per handshake. The figures are
 * a warm server's and warm clients'.
 *
 * Two load generators, both running the product SecureChannel (handshake, session, sealing)
 * over a different socket, reported side by side:
 *   handshakes_per_s            the lean load generator (benchmarks/lean-ws-pipe.ts: raw `net`
 *                               sockets with a real HTTP/1.1 upgrade, Sec-WebSocket-Accept
 *                               checked, masked frames). This is the server's handshake
 *                               capacity: client and server share this machine's cores, so the
 *                               client's CPU counts against the rate, and a server's capacity is
 *                               conventionally measured with a generator that spends as little
 *                               as it can (as wrk is for HTTP servers).
 *   handshakes_per_s_ws_client  the product client (`ws`, connectSecure), which costs about
 *                               twice the server's CPU per connection: what a machine running
 *                               both ends of product connections achieves.
 * Each comes with the CPU microseconds per handshake on each side (handshake_client_cpu_us,
 * handshake_server_cpu_us, and the same with _ws_client), which compare across runs on a busy
 * machine better than rates do, the server's handshakes per CPU second of its own
 * (server_handshakes_per_cpu_s: its rate per core were the load generated elsewhere), and handshake_cpu_over_raw_noise: both sides' CPU per
 * handshake over the bare Noise IK pair's (raw_noise_ik_cpu_us_per_pair, measured in the same
 * run), what a connection costs beyond its cryptography. --handshakes-only keeps the raw Noise
 * phase for that ratio.
 *
 * Where a handshake's CPU goes beyond the raw Noise phase (measured with per-thread CPU time):
 * Noise costs the same per side inside the flow as in a hot loop; a bare uWS connection (TCP,
 * upgrade, one message, close) costs the server ~70 µs with the kernel's share, and a raw-socket
 * client ~150 µs; the channel around Noise ~45 µs per side; the rest is V8 background work
 * (garbage collection: noise-handshake allocates ~20 KB per handshake side; and, until warm, JIT
 * compilation), about a fifth of each process's CPU.
 *
 * The machine is shared, so wall-clock rates understate what the code does when other work
 * competes for the cores. Each phase therefore also reports the CPU seconds both processes
 * spent (client side: this process; server side: the server process), and the rate per CPU
 * second, which is steadier.
 *
 *   npm run bench:transport [-- --quick] [--clients 64] [--client-threads 2] [--server-threads 1]
 *                           [--handshakes-only] [--client lean|ws|both]
 */
import { fork } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import sodium from 'sodium-native';
import { Identity } from '../src/crypto/identity.js';
import { silentLogger } from '../src/common/log.js';
import { connectSecure, type SecureChannel } from '../src/transport/transport.js';
import { aeadSeal } from '../src/transport/keys.js';
import NoiseState from 'noise-handshake';
import { noiseStatic } from '../src/transport/handshake.js';
import type { ClientThreadData } from './transport-clients.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    clients: { type: 'string', default: '64' },
    'client-threads': { type: 'string', default: '2' },
    'server-threads': { type: 'string', default: '1' },
    // Only the handshake phases, summary line included (for comparing builds back to back).
    'handshakes-only': { type: 'boolean', default: false },
    // Which load generators run the handshake phases: lean, ws or both.
    client: { type: 'string', default: 'both' },
  },
});
const quick = args.quick;
const phaseMs = quick ? 2_000 : 6_000;
/**
 * Warm-up per client thread before each handshake phase, in handshakes (capped in time): the
 * server and the clients keep compiling hot code for their first few thousand handshakes, and
 * that compilation, on V8's background threads, would be billed to the measured handshakes (it
 * was a fifth of the server's CPU per handshake in a fresh server). --quick warms up less.
 */
const warmupHandshakesPerThread = quick ? 1_000 : 3_000;
const warmupMsMax = quick ? 5_000 : 20_000;

function emit(value: object): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

function rawAeadMbPerS(): { perS: number; perCpuS: number } {
  const key = sodium.sodium_malloc(32);
  sodium.randombytes_buf(key);
  const plaintext = Buffer.alloc(16 * 1024, 7);
  let bytes = 0;
  let counter = 0;
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  while (performance.now() - start < phaseMs / 2) {
    for (let i = 0; i < 256; i++) {
      aeadSeal(key, counter++, null, plaintext);
      bytes += plaintext.byteLength;
    }
  }
  return { perS: bytes / 1e6 / ((performance.now() - start) / 1000), perCpuS: bytes / 1e6 / cpuSeconds(cpuStart) };
}

/** Bare noise-handshake IK, both sides on this thread: the ceiling for handshakes on one core. */
function rawNoiseIkPerS(): { perS: number; perCpuS: number } {
  const a = noiseStatic(Identity.generate());
  const b = noiseStatic(Identity.generate());
  const prologue = Buffer.alloc(0);
  let done = 0;
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  while (performance.now() - start < phaseMs / 2) {
    const initiator = new NoiseState('IK', true, a);
    const responder = new NoiseState('IK', false, b);
    initiator.initialise(prologue, b.publicKey);
    responder.initialise(prologue);
    responder.recv(initiator.send());
    initiator.recv(responder.send());
    done += 1;
  }
  return { perS: done / ((performance.now() - start) / 1000), perCpuS: done / cpuSeconds(cpuStart) };
}

interface ServerProcess {
  port: number;
  /** CPU microseconds of the whole server process (every thread) so far. */
  cpu(): Promise<NodeJS.CpuUsage>;
  /** Handshakes the server verified so far (see transport-server.ts). */
  verified(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts benchmarks/transport-server.ts in its own process with `threads` listener threads. */
async function startServer(seed: Uint8Array, threads: number): Promise<ServerProcess> {
  const child = fork(fileURLToPath(new URL('./transport-server.ts', import.meta.url)), [], {
    // The child inherits this process's node options: the tsx loader (and --cpu-prof when profiling).
    env: { ...process.env, BENCH_SERVER_SEED: Buffer.from(seed).toString('hex'), BENCH_SERVER_THREADS: String(threads) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`benchmark server exited with ${code}`)));
  });
  const ask = <T>(request: 'cpu' | 'verified'): Promise<T> =>
    new Promise((resolve) => {
      const onMessage = (message: Record<string, unknown>): void => {
        if (message[request] === undefined) return;
        child.off('message', onMessage);
        resolve(message[request] as T);
      };
      child.on('message', onMessage);
      child.send({ [request]: true });
    });
  return {
    port,
    cpu: () => ask<NodeJS.CpuUsage>('cpu'),
    verified: () => ask<number>('verified'),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.send({ stop: true });
      }),
  };
}

/** Worker threads do not inherit tsx's loader: register it before importing the TypeScript entry. */
function tsWorker(entry: URL, data: unknown): Worker {
  const api = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: data });
}

interface HandshakeLoad {
  clients: number;
  clientThreads: number;
  serverThreads: number;
}

interface HandshakeFigures {
  rate: number;
  perCpuS: number;
  clientCpuUs: number;
  serverCpuUs: number;
}

async function handshakes(
  url: string,
  server: Identity,
  serverProcess: ServerProcess,
  load: HandshakeLoad,
  client: ClientThreadData['client'],
): Promise<HandshakeFigures> {
  const perThread = Array.from({ length: load.clientThreads }, (_, i) =>
    Math.floor(load.clients / load.clientThreads) + (i < load.clients % load.clientThreads ? 1 : 0),
  );
  const workers = perThread.map((loops) =>
    tsWorker(new URL('./transport-clients.ts', import.meta.url), {
      url,
      serverKey: server.publicKey,
      loops,
      identities: Math.max(64, loops * 8),
      warmupHandshakes: warmupHandshakesPerThread,
      warmupMsMax,
      client,
    } satisfies ClientThreadData),
  );
  const warmups = await Promise.all(
    workers.map((worker) => new Promise<number>((resolve, reject) => {
      worker.once('message', (message: { warmupHandshakes: number }) => resolve(message.warmupHandshakes));
      worker.once('error', reject);
    })),
  );
  const verifiedStart = await serverProcess.verified();
  const serverCpuStart = await serverProcess.cpu();
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const results = await Promise.all(
    workers.map((worker) => new Promise<{ done: number; failed: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.postMessage({ run: phaseMs });
    })),
  );
  const seconds = (performance.now() - start) / 1000;
  const clientCpu = cpuSeconds(cpuStart);
  const serverCpuEnd = await serverProcess.cpu();
  const serverCpu = (serverCpuEnd.user - serverCpuStart.user + serverCpuEnd.system - serverCpuStart.system) / 1e6;
  const done = results.reduce((sum, r) => sum + r.done, 0);
  const failed = results.reduce((sum, r) => sum + r.failed, 0);
  // The last clients' sealed frames may still be on their way to the server: wait for them
  // (with the client threads alive: ending one resets its sockets, which can drop unread data).
  let verified = 0;
  for (let i = 0; i < 100; i++) {
    verified = (await serverProcess.verified()) - verifiedStart;
    if (verified >= done) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await Promise.all(workers.map((worker) => worker.terminate()));
  if (verified < done) throw new Error(`${client} clients completed ${done} handshakes, the server verified only ${verified}`);
  const rate = done / seconds;
  const cpu = clientCpu + serverCpu;
  emit({
    phase: client === 'lean' ? 'handshakes, lean load generator' : 'handshakes, product ws client',
    how: `server: its own process, ${load.serverThreads} listener thread(s) on one port; clients (${client === 'lean' ? 'raw net sockets, benchmarks/lean-ws-pipe.ts' : 'ws, connectSecure'}): ${load.clients} concurrent in ${load.clientThreads} worker thread(s) of the benchmark process; each handshake a new TCP + WebSocket connection, Noise IK, one sealed message (a frame with the client key, key confirmation, goodbye) verified by the server, close`,
    clients: load.clients,
    client_threads: load.clientThreads,
    server_threads: load.serverThreads,
    warmup_handshakes: warmups.reduce((sum, n) => sum + n, 0),
    handshakes: done,
    server_verified: verified,
    failed,
    seconds: Number(seconds.toFixed(2)),
    handshakes_per_s: Math.round(rate),
    client_cpu_s: Number(clientCpu.toFixed(2)),
    server_cpu_s: Number(serverCpu.toFixed(2)),
    client_cpu_us_per_handshake: Math.round((clientCpu * 1e6) / done),
    server_cpu_us_per_handshake: Math.round((serverCpu * 1e6) / done),
    handshakes_per_cpu_s: Math.round(done / cpu),
  });
  return { rate, perCpuS: done / cpu, clientCpuUs: Math.round((clientCpu * 1e6) / done), serverCpuUs: Math.round((serverCpu * 1e6) / done) };
}

/** Asks the server how many frames it has; resolves with the count. */
function report(channel: SecureChannel, replies: ((frames: number) => void)[]): Promise<number> {
  return new Promise((resolve) => {
    replies.push(resolve);
    channel.send(Buffer.from([0xff]));
  });
}

async function stream(
  url: string,
  server: Identity,
  serverProcess: ServerProcess,
  frameBytes: number,
): Promise<{ framesPerS: number; mbPerS: number; framesPerCpuS: number; mbPerCpuS: number }> {
  const channel = await connectSecure(url, {
    identity: Identity.generate(),
    expectedRemoteKey: server.publicKey,
    purpose: 'relay',
    options: { logger: silentLogger },
  });
  const replies: ((frames: number) => void)[] = [];
  channel.onFrame((frame) => replies.shift()?.(Buffer.from(frame).readDoubleLE(0)));
  const frame = Buffer.alloc(frameBytes, 1);
  const baseline = await report(channel, replies);
  let sent = 0;
  const serverCpuStart = await serverProcess.cpu();
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  let drained: (() => void) | null = null;
  channel.onDrain(() => drained?.());
  while (performance.now() - start < phaseMs) {
    // Send until backpressure, then yield to I/O (on drain, or the next turn).
    let ok = true;
    for (let i = 0; i < 4096 && ok; i++) {
      ok = channel.send(frame);
      sent += 1;
    }
    if (!ok) await new Promise<void>((resolve) => (drained = resolve));
    else await new Promise((resolve) => setImmediate(resolve));
  }
  const received = (await report(channel, replies)) - baseline;
  const seconds = (performance.now() - start) / 1000;
  const clientCpu = cpuSeconds(cpuStart);
  const serverCpuEnd = await serverProcess.cpu();
  const cpu = clientCpu + (serverCpuEnd.user - serverCpuStart.user + serverCpuEnd.system - serverCpuStart.system) / 1e6;
  channel.close('bench');
  if (received !== sent) throw new Error(`server counted ${received} frames, client sent ${sent}`);
  const result = {
    framesPerS: received / seconds,
    mbPerS: (received * frameBytes) / 1e6 / seconds,
    framesPerCpuS: received / cpu,
    mbPerCpuS: (received * frameBytes) / 1e6 / cpu,
  };
  emit({
    phase: `stream ${frameBytes} B`,
    frames: received,
    seconds: Number(seconds.toFixed(2)),
    frames_per_s: Math.round(result.framesPerS),
    mb_per_s: Number(result.mbPerS.toFixed(1)),
    cpu_s: Number(cpu.toFixed(2)),
    frames_per_cpu_s: Math.round(result.framesPerCpuS),
    mb_per_cpu_s: Number(result.mbPerCpuS.toFixed(1)),
    messages_sent: channel.counters.messagesSent,
  });
  return result;
}

/**
 * Handshake figures of both load generators, as summary keys: the lean one's unsuffixed. Each
 * also as CPU per handshake (both sides) over the bare Noise IK pair's CPU measured in the same
 * run: how much the connection costs beyond its cryptography, a ratio that moves less with the
 * machine's load than the rates do.
 */
function handshakeSummary(lean: HandshakeFigures | null, ws: HandshakeFigures | null, rawNoisePairCpuUs: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [figures, suffix] of [[lean, ''], [ws, '_ws_client']] as const) {
    if (figures === null) continue;
    out[`handshakes_per_s${suffix}`] = Math.round(figures.rate);
    out[`handshakes_per_cpu_s${suffix}`] = Math.round(figures.perCpuS);
    out[`handshake_client_cpu_us${suffix}`] = figures.clientCpuUs;
    out[`handshake_server_cpu_us${suffix}`] = figures.serverCpuUs;
    // What the server alone does per CPU second: its rate with the load generated elsewhere.
    out[`server_handshakes_per_cpu_s${suffix}`] = Math.round(1e6 / figures.serverCpuUs);
    out[`handshake_cpu_over_raw_noise${suffix}`] = Number(((figures.clientCpuUs + figures.serverCpuUs) / rawNoisePairCpuUs).toFixed(2));
  }
  return out;
}

const load: HandshakeLoad = {
  clients: Number(args.clients),
  clientThreads: Number(args['client-threads']),
  serverThreads: Number(args['server-threads']),
};
for (const [name, value] of Object.entries(load)) if (!(Number.isInteger(value) && value >= 1)) throw new RangeError(`--${name} must be a positive integer`);
const clientKinds = args.client;
if (clientKinds !== 'both' && clientKinds !== 'lean' && clientKinds !== 'ws') throw new RangeError('--client must be lean, ws or both');
const serverIdentity = Identity.generate();
const server = await startServer(serverIdentity.seed, load.serverThreads);
const url = `ws://127.0.0.1:${server.port}/`;

async function handshakePhases(rawNoise: { perCpuS: number }): Promise<Record<string, number>> {
  const lean = clientKinds === 'ws' ? null : await handshakes(url, serverIdentity, server, load, 'lean');
  const ws = clientKinds === 'lean' ? null : await handshakes(url, serverIdentity, server, load, 'ws');
  return handshakeSummary(lean, ws, 1e6 / rawNoise.perCpuS);
}

function emitRawNoise(): { perS: number; perCpuS: number } {
  const rawNoise = rawNoiseIkPerS();
  emit({
    phase: 'raw noise-handshake IK, both sides on one thread',
    handshakes_per_s: Math.round(rawNoise.perS),
    handshakes_per_cpu_s: Math.round(rawNoise.perCpuS),
    cpu_us_per_handshake_pair: Math.round(1e6 / rawNoise.perCpuS),
  });
  return rawNoise;
}

try {
  if (args['handshakes-only']) {
    const rawNoise = emitRawNoise();
    emit({
      ...(await handshakePhases(rawNoise)),
      raw_noise_ik_cpu_us_per_pair: Math.round(1e6 / rawNoise.perCpuS),
      load_average_1m: Number(loadavg()[0].toFixed(2)),
    });
  } else {
    await allPhases();
  }
} finally {
  await server.stop();
}

async function allPhases(): Promise<void> {
  const raw = rawAeadMbPerS();
  emit({ phase: 'raw sodium chacha20-poly1305 16 KiB', mb_per_s: Number(raw.perS.toFixed(1)), mb_per_cpu_s: Number(raw.perCpuS.toFixed(1)) });
  const rawNoise = emitRawNoise();
  const handshake = await handshakePhases(rawNoise);
  const small = await stream(url, serverIdentity, server, 100);
  const large = await stream(url, serverIdentity, server, 16 * 1024);
  emit({
    ...handshake,
    frames_per_s_100B: Math.round(small.framesPerS),
    mb_per_s_16KiB: Number(large.mbPerS.toFixed(1)),
    raw_sodium_chacha20poly1305_mb_per_s: Number(raw.perS.toFixed(1)),
    raw_noise_ik_handshakes_per_s: Math.round(rawNoise.perS),
    raw_noise_ik_handshakes_per_cpu_s: Math.round(rawNoise.perCpuS),
    raw_noise_ik_cpu_us_per_pair: Math.round(1e6 / rawNoise.perCpuS),
    handshake_clients: load.clients,
    handshake_client_threads: load.clientThreads,
    handshake_server_threads: load.serverThreads,
    frames_per_cpu_s_100B: Math.round(small.framesPerCpuS),
    mb_per_cpu_s_16KiB: Number(large.mbPerCpuS.toFixed(1)),
    raw_sodium_chacha20poly1305_mb_per_cpu_s: Number(raw.perCpuS.toFixed(1)),
    quick,
    cores: availableParallelism(),
    load_average_1m: Number(loadavg()[0].toFixed(2)),
  });
}
