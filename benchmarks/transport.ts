/**
 * Transport benchmark: handshakes/s with many concurrent clients, frames/s at 100 B and MB/s at
 * 16 KiB over one client<->server pair, all over loopback with the server (uWS) in a worker
 * thread and the clients (ws) in this thread; plus raw sodium ChaCha20-Poly1305 MB/s for
 * comparison. Prints one JSON object per phase; the last line is the summary.
 *
 * The machine is shared, so wall-clock rates understate what the code does when other work
 * competes for the two cores. Each phase therefore also reports the CPU seconds this process
 * (client thread + server worker) spent, and the rate per CPU second, which is steadier.
 *
 *   npm run bench:transport [-- --quick]
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import sodium from 'sodium-native';
import { Identity } from '../src/crypto/identity.js';
import { silentLogger } from '../src/common/log.js';
import { connectSecure, type SecureChannel } from '../src/transport/transport.js';
import { aeadSeal } from '../src/transport/keys.js';
import NoiseState from 'noise-handshake';
import { noiseStatic } from '../src/transport/handshake.js';

const quick = process.argv.includes('--quick');
const phaseMs = quick ? 2_000 : 6_000;

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

async function startServer(seed: Uint8Array): Promise<{ port: number; stop: () => Promise<void> }> {
  // Worker threads do not inherit tsx's loader: register it before importing the TypeScript entry.
  const entry = new URL('./transport-server.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
  const worker = new Worker(bootstrap, { eval: true, workerData: { seed } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (message: { port: number }) => resolve(message.port));
    worker.once('error', reject);
  });
  return {
    port,
    stop: () =>
      new Promise((resolve) => {
        worker.once('exit', () => resolve());
        worker.postMessage({ stop: true });
      }),
  };
}

async function handshakes(url: string, server: Identity, concurrency: number): Promise<{ rate: number; perCpuS: number }> {
  const client = Identity.generate();
  let done = 0;
  let failed = 0;
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const deadline = start + phaseMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      try {
        const channel = await connectSecure(url, {
          identity: client,
          expectedRemoteKey: server.publicKey,
          purpose: 'relay',
          options: { logger: silentLogger },
        });
        done += 1;
        channel.close('bench');
      } catch {
        failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const rate = done / ((performance.now() - start) / 1000);
  const cpu = cpuSeconds(cpuStart);
  emit({
    phase: 'handshakes',
    concurrency,
    handshakes: done,
    failed,
    handshakes_per_s: Math.round(rate),
    cpu_s: Number(cpu.toFixed(2)),
    handshakes_per_cpu_s: Math.round(done / cpu),
  });
  return { rate, perCpuS: done / cpu };
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
  const cpu = cpuSeconds(cpuStart);
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

const serverIdentity = Identity.generate();
const server = await startServer(serverIdentity.seed);
const url = `ws://127.0.0.1:${server.port}/`;
try {
  const raw = rawAeadMbPerS();
  emit({ phase: 'raw sodium chacha20-poly1305 16 KiB', mb_per_s: Number(raw.perS.toFixed(1)), mb_per_cpu_s: Number(raw.perCpuS.toFixed(1)) });
  const rawNoise = rawNoiseIkPerS();
  emit({
    phase: 'raw noise-handshake IK, both sides on one thread',
    handshakes_per_s: Math.round(rawNoise.perS),
    handshakes_per_cpu_s: Math.round(rawNoise.perCpuS),
  });
  const handshake = await handshakes(url, serverIdentity, quick ? 32 : 64);
  const small = await stream(url, serverIdentity, 100);
  const large = await stream(url, serverIdentity, 16 * 1024);
  const os = await import('node:os');
  emit({
    handshakes_per_s: Math.round(handshake.rate),
    frames_per_s_100B: Math.round(small.framesPerS),
    mb_per_s_16KiB: Number(large.mbPerS.toFixed(1)),
    raw_sodium_chacha20poly1305_mb_per_s: Number(raw.perS.toFixed(1)),
    raw_noise_ik_handshakes_per_s: Math.round(rawNoise.perS),
    handshakes_per_cpu_s: Math.round(handshake.perCpuS),
    frames_per_cpu_s_100B: Math.round(small.framesPerCpuS),
    mb_per_cpu_s_16KiB: Number(large.mbPerCpuS.toFixed(1)),
    raw_sodium_chacha20poly1305_mb_per_cpu_s: Number(raw.perCpuS.toFixed(1)),
    raw_noise_ik_handshakes_per_cpu_s: Math.round(rawNoise.perCpuS),
    quick,
    cores: os.availableParallelism(),
    load_average_1m: Number(os.loadavg()[0].toFixed(2)),
  });
} finally {
  await server.stop();
}
