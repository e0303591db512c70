/**
 * npm run bench:relay [-- --quick]
 *
 * Pairs of clients forward through a real strelay process over loopback (100 B, 1 KiB and
 * 16 KiB payloads; 1 and 2 worker threads), the same framed stream goes through haproxy in TCP
 * mode as the native baseline, and 10,000 idle authenticated listen connections measure the
 * relay's RSS per connection. Load generators are separate processes writing pre-built frame
 * batches (frames.ts); their CPU is reported so a saturated generator is visible. Every line is a
 * JSON object; the last one is the summary. Numbers from a shared 2-core machine are noisy.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProgram, type RunningProgram } from '../src/apps/launcher.js';
import { Identity } from '../src/crypto/identity.js';
import { writeIdentityFile } from '../src/files/identity_file.js';
import type { WireAddress } from './relay/generator.js';
import { Generator } from './relay/harness.js';

const quick = process.argv.includes('--quick');
const warmupMs = quick ? 400 : 2_000;
const measureMs = quick ? 1_500 : 8_000;
const pairs = 4;
const sizes = [100, 1024, 16 * 1024];
const idleConnections = 10_000;
const dir = mkdtempSync(join(tmpdir(), 'bench-relay-'));

const emit = (obj: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------- relay process ----------

interface Relay {
  program: RunningProgram;
  address: WireAddress;
  metricsPort: number;
}

async function startRelay(workers: number): Promise<Relay> {
  const identity = Identity.generate();
  const idfile = join(dir, `relay-${workers}-${Date.now()}.ident`);
  writeIdentityFile(idfile, identity);
  const configFile = join(dir, 'relay.json');
  writeFileSync(configFile, JSON.stringify({
    limits: {
      connectionsPerIpMax: 50_000, acceptsPerSecond: 100_000, handshakesInProgressMax: 4_096,
      ...(process.env.BENCH_RELAY_WINDOW_BYTES ? { tunnelWindowBytes: Number(process.env.BENCH_RELAY_WINDOW_BYTES), outboundQueueBytesMax: 2 * Number(process.env.BENCH_RELAY_WINDOW_BYTES) } : {}),
    },
    timeouts: { drainGraceMs: 0 },
  }));
  const program = startProgram('strelay', ['--idfile', idfile, '--laddr', '127.0.0.1:0', '--workers', String(workers), '--metrics-addr', '127.0.0.1:0', '--config', configFile]);
  program.child.stdout?.resume();
  const port = await program.port('clients', 60_000).catch(async () => {
    await program.stop();
    throw new Error(`strelay did not start: ${program.stderrLines.join(' | ')}`);
  });
  const metricsPort = await program.port('metrics');
  return { program, metricsPort, address: { url: `ws://127.0.0.1:${port}/`, publicKey: Buffer.from(identity.publicKey).toString('base64') } };
}

async function relayStatus(relay: Relay): Promise<{ rssBytes: number; cpuMs: number }> {
  const status = (await (await fetch(`http://127.0.0.1:${relay.metricsPort}/status`)).json()) as { rssBytes: number; cpuMicros: { user: number; system: number } };
  return { rssBytes: status.rssBytes, cpuMs: (status.cpuMicros.user + status.cpuMicros.system) / 1000 };
}

// ---------- one forwarding measurement ----------

interface Measured {
  frames_per_s: number;
  mb_per_s: number;
  sender_cpu: number;
  receiver_cpu: number;
  forwarder_cpu?: number;
  frames_per_cpu_s?: number;
  mb_per_cpu_s?: number;
}

/** CPU milliseconds a process has used so far, from /proc (for haproxy). */
function procCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in USER_HZ (100)
}

async function measure(sender: Generator, receiver: Generator, relay: Relay | null, forwarderPid?: number): Promise<Measured> {
  const cpuOf = async (): Promise<number | null> =>
    relay !== null ? (await relayStatus(relay)).cpuMs : forwarderPid !== undefined ? procCpuMs(forwarderPid) : null;
  sender.send({ cmd: 'go' });
  await sleep(warmupMs);
  await Promise.all([sender.mark(), receiver.mark()]);
  const relayBefore = await cpuOf();
  const started = performance.now();
  await sleep(measureMs);
  const [s, r] = await Promise.all([sender.mark(), receiver.mark()]);
  const relayAfter = await cpuOf();
  const wallMs = performance.now() - started;
  sender.send({ cmd: 'stop' });
  const out: Measured = {
    frames_per_s: Math.round((r.frames / r.wallMs) * 1000),
    mb_per_s: Math.round((r.bytes / r.wallMs) * 1000 / 1e6 * 10) / 10,
    sender_cpu: round2(s.cpuMs / s.wallMs),
    receiver_cpu: round2(r.cpuMs / r.wallMs),
  };
  if (relayBefore !== null && relayAfter !== null) {
    // Cores the forwarder used, and its throughput per core-second: on a shared machine the
    // second figure says more about the forwarder than the raw rate does.
    out.forwarder_cpu = round2((relayAfter - relayBefore) / wallMs);
    out.frames_per_cpu_s = Math.round(out.frames_per_s / Math.max(0.01, out.forwarder_cpu));
    out.mb_per_cpu_s = Math.round(out.mb_per_s / Math.max(0.01, out.forwarder_cpu));
  }
  return out;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

async function relayRuns(workers: number): Promise<Record<number, Measured>> {
  const relay = await startRelay(workers);
  const results: Record<number, Measured> = {};
  const receiver = new Generator('receiver');
  try {
    const seeds = Array.from({ length: pairs }, () => Identity.generate());
    receiver.send({ role: 'receiver', mode: 'relay', relay: relay.address, seeds: seeds.map((s) => Buffer.from(s.seed).toString('base64')) });
    await receiver.wait((m) => m.ready === true);
    let tunnels = 0;
    for (const size of sizes) {
      const sender = new Generator('sender');
      try {
        sender.send({ role: 'sender', mode: 'relay', relay: relay.address, targets: seeds.map((s) => Buffer.from(s.publicKey).toString('base64')), payloadBytes: size });
        await sender.wait((m) => m.ready === true);
        tunnels += pairs;
        await receiver.wait((m) => m.tunnel === tunnels);
        results[size] = await measure(sender, receiver, relay);
        emit({ run: 'relay', workers, payload_bytes: size, pairs, ...results[size] });
      } finally {
        sender.exit();
      }
    }
  } finally {
    receiver.exit();
    await relay.program.stop('SIGTERM', 10_000);
  }
  return results;
}

// ---------- haproxy baseline ----------

function haproxyAvailable(): boolean {
  return spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function haproxyRuns(): Promise<Record<number, Measured>> {
  const results: Record<number, Measured> = {};
  const receiver = new Generator('sink');
  receiver.send({ role: 'receiver', mode: 'haproxy' });
  const ready = await receiver.wait((m) => m.ready === true);
  const frontPort = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  // An explicit maxconn: haproxy derives a huge one from `ulimit -n` otherwise.
  writeFileSync(cfg, [
    'global', '  maxconn 4096', '', 'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s', '',
    'frontend relay_baseline', `  bind 127.0.0.1:${frontPort}`, '  default_backend sink', '',
    'backend sink', `  server sink 127.0.0.1:${ready.port as number}`, '',
  ].join('\n'));
  const haproxy = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await sleep(500);
    for (const size of sizes) {
      const sender = new Generator('sender');
      try {
        sender.send({ role: 'sender', mode: 'haproxy', haproxyPort: frontPort, connections: pairs, payloadBytes: size });
        await sender.wait((m) => m.ready === true);
        results[size] = await measure(sender, receiver, null, haproxy.pid);
        emit({ run: 'haproxy', payload_bytes: size, pairs, ...results[size] });
      } finally {
        sender.exit();
      }
    }
  } finally {
    haproxy.kill('SIGTERM');
    receiver.exit();
  }
  return results;
}

// ---------- idle connections ----------

async function idleRun(workers: number): Promise<{ rss_bytes_per_idle_conn: number; opened: number }> {
  const relay = await startRelay(workers);
  const gens: Generator[] = [];
  try {
    // A few connections first, so one-time allocations are not charged to the idle ones.
    const warm = new Generator('idle-warm');
    gens.push(warm);
    warm.send({ role: 'idle', relay: relay.address, count: 50, concurrency: 10 });
    await warm.wait((m) => m.ready === true);
    await sleep(500);
    const before = await relayStatus(relay);
    const perGen = idleConnections / 2;
    const idle = [new Generator('idle-a'), new Generator('idle-b')];
    gens.push(...idle);
    for (const g of idle) g.send({ role: 'idle', relay: relay.address, count: perGen, concurrency: 64 });
    const done = await Promise.all(idle.map((g) => g.wait((m) => m.ready === true, 300_000)));
    const opened = done.reduce((n, m) => n + Number(m.opened), 0);
    await sleep(1_000);
    const after = await relayStatus(relay);
    const perConn = Math.round((after.rssBytes - before.rssBytes) / opened);
    emit({ run: 'idle', workers, opened, rss_before: before.rssBytes, rss_after: after.rssBytes, rss_bytes_per_idle_conn: perConn });
    return { rss_bytes_per_idle_conn: perConn, opened };
  } finally {
    for (const g of gens) g.exit();
    await relay.program.stop('SIGTERM', 20_000);
  }
}

// ---------- main ----------

const byWorkers: Record<number, Record<number, Measured>> = {};
for (const workers of [1, 2]) byWorkers[workers] = await relayRuns(workers);
let haproxy: Record<number, Measured> | null = null;
if (haproxyAvailable()) haproxy = await haproxyRuns();
else emit({ run: 'haproxy', skipped: 'haproxy is not installed (Debian package haproxy: apt-get install -y haproxy); no baseline' });
const idle = await idleRun(2);

const best = byWorkers[2][16384].mb_per_s >= byWorkers[1][16384].mb_per_s ? 2 : 1;
const chosen = byWorkers[best];
const haproxy16 = haproxy?.[16384].mb_per_s ?? null;
emit({
  frames_per_s_100B: chosen[100].frames_per_s,
  mb_per_s_1KiB: chosen[1024].mb_per_s,
  mb_per_s_16KiB: chosen[16384].mb_per_s,
  haproxy_mb_per_s_16KiB: haproxy16,
  haproxy_frames_per_s_100B: haproxy?.[100].frames_per_s ?? null,
  ratio_vs_haproxy_16KiB: haproxy16 === null ? null : round2(chosen[16384].mb_per_s / haproxy16),
  relay_mb_per_cpu_s_16KiB: chosen[16384].mb_per_cpu_s,
  haproxy_mb_per_cpu_s_16KiB: haproxy?.[16384].mb_per_cpu_s ?? null,
  relay_frames_per_cpu_s_100B: chosen[100].frames_per_cpu_s,
  load_average_1m: loadavg()[0],
  rss_bytes_per_idle_conn: idle.rss_bytes_per_idle_conn,
  idle_connections: idle.opened,
  workers: best,
  frames_per_s_100B_by_workers: { 1: byWorkers[1][100].frames_per_s, 2: byWorkers[2][100].frames_per_s },
  mb_per_s_16KiB_by_workers: { 1: byWorkers[1][16384].mb_per_s, 2: byWorkers[2][16384].mb_per_s },
  quick,
});
