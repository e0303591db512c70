/**
 * Network benchmark: durable payments end to end between real stnode processes over a real
 * relay (strelay), each node on its own RocksDB database, driven by apps (src/apps/app_client.ts)
 * over the app protocol.
 *
 *   phase 2nodes   A pays B directly, `--window` payments in flight (closed loop): throughput, and
 *                  latency at saturation;
 *   phase latency  the same pair with `--latency-window` payments in flight: latency at a stated,
 *                  lower load (the summary's p50_ms/p99_ms, with the rate reached);
 *   phase 3hop     A pays D through B and C (both forward and earn their fee);
 *   phase load     N nodes (default 20) with random friendships (a ring plus random chords) pay
 *                  between random pairs for a fixed time, along routes their apps ask the index
 *                  server for (every node reports its capacities to it).
 *
 * A payment counts once its receipt is in the buyer's hands (invoice, payment and transaction,
 * transaction result, commit and close, closed). Each phase reports CPU microseconds per payment
 * per process (from /proc) and, per node taking part, synced writes, friend messages and app
 * requests per payment (from the nodes' /metrics). Writes results/network.json and
 * results/network.svg (latency histogram) and prints one JSON summary as the last line.
 *
 *   npm run bench:network [-- --quick] [-- --nodes N] [-- --seconds S] [-- --window W]
 *                         [-- --latency-window L] [-- --phases 2nodes,latency,3hop,load]
 *                         [-- --profile DIR]
 *
 * --profile DIR starts every child process (relay, nodes) with --cpu-prof into DIR (through
 * OFFSET_NODE_FLAGS, which the launcher honours) and prints each phase's window on the monotonic
 * clock V8 profiles use, so samples can be cut per phase.
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import cliProgress from 'cli-progress';
import type { Answer } from '../src/apps/app_client.js';
import { bytesEqual } from '../src/common/bytes.js';
import { Identity } from '../src/crypto/identity.js';
import { randomBytes } from '../src/crypto/primitives.js';
import { IndexServer } from '../src/index/server.js';
import { AppErrorCode } from '../src/node/app_codec.js';
import { AppRequestError } from '../src/apps/app_client.js';
import { startRelay, tempDir } from '../test/node/app_helper.js';
import { CURRENCY, emit, link, must, payOnce, percentile, startNodes, type Node } from './network/nodes.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const arg = (name: string, fallback: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? Number(argv[i + 1]) : fallback;
};
const phaseSeconds = arg('--seconds', quick ? 5 : 20);
const loadNodes = arg('--nodes', quick ? 6 : 20);
/**
 * Payments in flight in the throughput phases (closed loop). 128 saturates two nodes on two
 * cores: at 64 the token holder's moves carry fewer operations, so each payment costs more CPU
 * and throughput swings between runs (idle machine: 825–1,042/s at 64, 1,172–1,508/s at 128).
 * Latency at a lower, stated load comes from the latency phase.
 */
const windowSize = arg('--window', 128);
/** Payments in flight in the latency phase: the load at which p50/p99 are stated. */
const latencyWindow = arg('--latency-window', 16);
const strArg = (name: string): string | null => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : null;
};
const phases = new Set((strArg('--phases') ?? '2nodes,latency,3hop,load').split(','));
const profileDir = strArg('--profile');
if (profileDir !== null) {
  mkdirSync(profileDir, { recursive: true });
  process.env.OFFSET_NODE_FLAGS = `--cpu-prof --cpu-prof-dir=${profileDir}`;
}
/** Microseconds on the monotonic clock (the time base of V8 CPU profiles). */
const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);

interface PhaseResult {
  name: string;
  window: number;
  payments: number;
  failures: number;
  seconds: number;
  paymentsPerS: number;
  latenciesMs: number[];
  /** CPU microseconds per payment, per process. */
  cpuUsPerPayment: Record<string, number>;
  /** Per node taking part: counters per payment (synced writes, friend messages, ...). */
  perPayment: Record<string, Record<string, number>>;
}


const CLOCK_TICKS_PER_S = 100;

/** CPU microseconds used so far by a child process (Linux /proc), or NaN where unavailable. */
function processCpuUs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line (11 and 12 after the name).
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_S;
  } catch {
    return NaN;
  }
}

type CpuSample = Map<string, number>;

function sampleCpu(processes: ReadonlyMap<string, number | undefined>): CpuSample {
  const out: CpuSample = new Map();
  const own = process.cpuUsage();
  out.set('driver', own.user + own.system);
  for (const [name, pid] of processes) out.set(name, processCpuUs(pid));
  return out;
}

const COUNTERS: Record<string, string> = {
  offset_node_db_commits_total: 'synced_writes',
  offset_node_funder_events_total: 'core_events',
  offset_node_friend_frames_sent_total: 'friend_messages_sent',
  offset_node_friend_bytes_sent_total: 'friend_bytes_sent',
  offset_node_app_requests_total: 'app_requests',
  offset_node_report_mutations_total: 'report_mutations',
};

async function scrape(node: Node): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const text = await (await fetch(`http://127.0.0.1:${node.metricsPort}/metrics`)).text();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m === null || COUNTERS[m[1]] === undefined) continue;
    out[COUNTERS[m[1]]] = (out[COUNTERS[m[1]]] ?? 0) + Number(m[3]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Nodes and friendships, driven through the app library (src/apps/app_client.ts)


async function runPhase(
  name: string, window: number, participants: Node[], processes: ReadonlyMap<string, number | undefined>,
  pickRoute: () => Node[] | Promise<Node[] | null>, seconds: number,
): Promise<PhaseResult> {
  const bar = new cliProgress.SingleBar({
    format: `${name.padEnd(7)} [{bar}] {percentage}% | {payments} payments | {rate}/s`, stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  bar.start(seconds, 0, { payments: 0, rate: 0 });
  const latenciesMs: number[] = [];
  let failures = 0;
  const countersBefore = await Promise.all(participants.map(scrape));
  const cpuBefore = sampleCpu(processes);
  const monoStartUs = monoUs();
  const start = performance.now();
  const endMs = start + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < endMs) {
      const t0 = performance.now();
      const route = await pickRoute();
      const ok = route !== null && await payOnce(route, 1000n).catch(() => false);
      if (ok) latenciesMs.push(performance.now() - t0);
      else failures++;
    }
  };
  const ticker = setInterval(() => {
    const elapsed = (performance.now() - start) / 1000;
    bar.update(Math.min(seconds, elapsed), { payments: latenciesMs.length, rate: Math.round(latenciesMs.length / Math.max(elapsed, 0.001)) });
  }, 250);
  await Promise.all(Array.from({ length: window }, () => worker()));
  clearInterval(ticker);
  const elapsedS = (performance.now() - start) / 1000;
  const cpuAfter = sampleCpu(processes);
  const countersAfter = await Promise.all(participants.map(scrape));
  bar.update(seconds, { payments: latenciesMs.length, rate: Math.round(latenciesMs.length / seconds) });
  bar.stop();
  if (profileDir !== null) process.stderr.write(`${JSON.stringify({ phase: name, mono_start_us: monoStartUs, mono_end_us: monoUs(), payments: latenciesMs.length })}\n`);
  const n = Math.max(1, latenciesMs.length);
  const cpuUsPerPayment: Record<string, number> = {};
  for (const [proc, after] of cpuAfter) {
    const used = after - (cpuBefore.get(proc) ?? NaN);
    // Nodes that took no part are left out unless they used CPU.
    if (Number.isFinite(used) && used > 0) cpuUsPerPayment[proc] = Math.round(used / n);
  }
  const perPayment: Record<string, Record<string, number>> = {};
  participants.forEach((node, i) => {
    perPayment[node.name] = Object.fromEntries(Object.entries(countersAfter[i]).map(([k, v]) => [k, Number(((v - (countersBefore[i][k] ?? 0)) / n).toFixed(2))]));
  });
  return { name, window, payments: latenciesMs.length, failures, seconds: elapsedS, paymentsPerS: latenciesMs.length / elapsedS, latenciesMs, cpuUsPerPayment, perPayment };
}

function summarize(r: PhaseResult): Record<string, unknown> {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const cpuTotal = Object.values(r.cpuUsPerPayment).reduce((a, b) => a + b, 0);
  return {
    phase: r.name, window: r.window, payments: r.payments, failures: r.failures, seconds: Number(r.seconds.toFixed(2)),
    payments_per_s: Number(r.paymentsPerS.toFixed(1)),
    p50_ms: Number(percentile(sorted, 50).toFixed(1)), p99_ms: Number(percentile(sorted, 99).toFixed(1)),
    success_rate: r.payments + r.failures === 0 ? 0 : Number((r.payments / (r.payments + r.failures)).toFixed(4)),
    cpu_us_per_payment: { ...r.cpuUsPerPayment, total: cpuTotal },
    per_payment: r.perPayment,
  };
}

function histogram(latencies: number[]): { fromMs: number; toMs: number; count: number }[] {
  const edges = [0, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, Infinity];
  return edges.slice(0, -1).map((from, i) => ({ fromMs: from, toMs: edges[i + 1], count: latencies.filter((l) => l >= from && l < edges[i + 1]).length }));
}

function svgChart(title: string, bins: { fromMs: number; toMs: number; count: number }[]): string {
  const width = 640;
  const height = 320;
  const pad = 40;
  const max = Math.max(1, ...bins.map((b) => b.count));
  const barW = (width - 2 * pad) / bins.length;
  const bars = bins.map((b, i) => {
    const h = ((height - 2 * pad) * b.count) / max;
    const x = pad + i * barW;
    const label = b.toMs === Infinity ? `${b.fromMs}+` : `<${b.toMs}`;
    return `<rect x="${x + 2}" y="${height - pad - h}" width="${barW - 4}" height="${h}" fill="#4a7ab5"/>`
      + `<text x="${x + barW / 2}" y="${height - pad + 14}" font-size="10" text-anchor="middle">${label}</text>`
      + `<text x="${x + barW / 2}" y="${height - pad - h - 3}" font-size="10" text-anchor="middle">${b.count}</text>`;
  }).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`
    + `<rect width="100%" height="100%" fill="white"/><text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${title}</text>`
    + `${bars}<text x="${width / 2}" y="${height - 6}" text-anchor="middle" font-size="11">latency (ms)</text></svg>\n`;
}

/** Asks the buyer's node for a route to the seller (through the index server). */
async function indexRoute(nodes: Node[], buyer: Node, seller: Node, amount: bigint): Promise<Node[] | null> {
  // A node keeps at most 8 route requests open; beyond that it answers TooManyRouteRequests,
  // which is back-pressure for the app, not a failed payment: wait and ask again.
  for (let attempt = 0; attempt < 200; attempt++) {
    const requestId = randomBytes(16);
    const answer = buyer.app.waitForAnswer((m): m is Extract<Answer, { kind: 'routes' }> => m.kind === 'routes' && bytesEqual(m.requestId, requestId), 60_000, 'routes');
    let code: number | null = null;
    try {
      await must(buyer, {
        kind: 'requestRoutes', requestId, currency: CURRENCY, amount, source: buyer.key, destination: seller.key,
        exclude: null, maxHops: 0, maxFee: null, maxRoutes: 1,
      });
    } catch (err) {
      code = err instanceof AppRequestError ? err.wireCode : -1;
    }
    // The routes answer comes before the request's result, failed or not.
    const m = await answer.catch(() => null);
    if (code === AppErrorCode.TooManyRouteRequests) {
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
      continue;
    }
    if (code !== null || m === null || m.outcome.kind !== 'found' || m.outcome.routes.length === 0) {
      routeFailures++;
      return null;
    }
    const route = m.outcome.routes[0].nodes.map((key) => nodes.find((n) => bytesEqual(n.key, key)));
    return route.every((n) => n !== undefined) ? route as Node[] : null;
  }
  routeFailures++;
  return null;
}

let routeFailures = 0;

async function main(): Promise<void> {
  const dir = tempDir('bench-network');
  const relay = await startRelay(dir);
  const relays = [{ publicKey: relay.identity.publicKey, address: relay.address }];
  const indexId = Identity.generate();
  const index = await IndexServer.start({ identity: indexId, clientPort: 0, serverPort: 0, workers: 1, tickMs: 1000 });
  index.setTrusted([]);
  const indexServer = { publicKey: indexId.publicKey, address: `127.0.0.1:${index.clientPort}`, name: 'index' };
  const all: Node[] = [];
  const results: Record<string, unknown>[] = [];
  const processes = new Map<string, number | undefined>([['relay', relay.program.child.pid]]);
  const skipped = (name: string, window: number): PhaseResult => ({
    name, window, payments: 0, failures: 0, seconds: 0, paymentsPerS: 0, latenciesMs: [], cpuUsPerPayment: {}, perPayment: {},
  });
  const record = (r: PhaseResult, extra: Record<string, unknown> = {}): void => {
    const s = { ...summarize(r), ...extra };
    results.push(s);
    emit(s);
  };
  try {
    const chain = await startNodes(0, 4, relay);
    all.push(...chain);
    for (const n of chain) processes.set(n.name, n.fixture.program?.child.pid);
    if (profileDir !== null) process.stderr.write(`${JSON.stringify({ pids: { driver: process.pid, ...Object.fromEntries(processes) } })}\n`);
    for (let i = 0; i + 1 < chain.length; i++) await link(chain[i], chain[i + 1], relays);
    const pair = [chain[0], chain[1]];
    const two = phases.has('2nodes') ? await runPhase('2nodes', windowSize, pair, processes, () => pair, phaseSeconds) : skipped('2nodes', windowSize);
    record(two);
    const latency = phases.has('latency') ? await runPhase('latency', latencyWindow, pair, processes, () => pair, phaseSeconds) : skipped('latency', latencyWindow);
    record(latency);
    const three = phases.has('3hop') ? await runPhase('3hop', windowSize, chain, processes, () => chain, phaseSeconds) : skipped('3hop', windowSize);
    record(three);

    let load = skipped('load', windowSize);
    const nodes = [...chain];
    if (phases.has('load')) {
      const extra = await startNodes(chain.length, Math.max(0, loadNodes - chain.length), relay);
      all.push(...extra);
      nodes.push(...extra);
      for (const n of extra) processes.set(n.name, n.fixture.program?.child.pid);
      for (const n of nodes) await must(n, { kind: 'addIndexServer', server: indexServer });
      const adj = new Map<number, number[]>(nodes.map((_, i) => [i, []]));
      const edge = async (i: number, j: number): Promise<void> => {
        if (i === j || adj.get(i)!.includes(j)) return;
        adj.get(i)!.push(j);
        adj.get(j)!.push(i);
        if (!(Math.abs(i - j) === 1 && Math.max(i, j) < chain.length)) await link(nodes[i], nodes[j], relays);
      };
      for (let i = 0; i < nodes.length; i++) await edge(i, (i + 1) % nodes.length);
      for (let k = 0; k < nodes.length / 2; k++) await edge(Math.floor(Math.random() * nodes.length), Math.floor(Math.random() * nodes.length));
      // Every node must have reported its links before the index can route between any pair.
      routeFailures = 0;
      const deadline = performance.now() + 60_000;
      while (performance.now() < deadline && await indexRoute(nodes, nodes[0], nodes[Math.floor(nodes.length / 2)], 1000n) === null) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      routeFailures = 0;
      load = await runPhase('load', windowSize, [], processes, () => {
        const a = Math.floor(Math.random() * nodes.length);
        const b = (a + 1 + Math.floor(Math.random() * (nodes.length - 1))) % nodes.length;
        return indexRoute(nodes, nodes[a], nodes[b], 1000n);
      }, phaseSeconds);
    }
    record(load, { nodes: nodes.length, route_failures: routeFailures });

    mkdirSync('results', { recursive: true });
    const sortedLatency = [...latency.latenciesMs].sort((a, b) => a - b);
    const sortedTwo = [...two.latenciesMs].sort((a, b) => a - b);
    const summary = {
      payments_per_s_2nodes: Number(two.paymentsPerS.toFixed(1)),
      payments_per_s_3hop: Number(three.paymentsPerS.toFixed(1)),
      // Latency at a stated load: `latency_window` payments in flight between the two nodes
      // (closed loop), which ran at `latency_payments_per_s`.
      p50_ms: Number(percentile(sortedLatency, 50).toFixed(1)),
      p99_ms: Number(percentile(sortedLatency, 99).toFixed(1)),
      latency_window: latencyWindow,
      latency_payments_per_s: Number(latency.paymentsPerS.toFixed(1)),
      // Latency at saturation: the throughput phase's `window` payments in flight.
      p50_ms_saturated: Number(percentile(sortedTwo, 50).toFixed(1)),
      p99_ms_saturated: Number(percentile(sortedTwo, 99).toFixed(1)),
      window: windowSize,
      success_rate: load.payments + load.failures > 0 ? Number((load.payments / (load.payments + load.failures)).toFixed(4)) : 0,
      load_payments_per_s: Number(load.paymentsPerS.toFixed(1)),
      load_nodes: nodes.length,
      cpu_us_per_payment_2nodes: summarize(two).cpu_us_per_payment,
      quick,
    };
    writeFileSync(join('results', 'network.json'), `${JSON.stringify({ summary, phases: results, histogram: histogram(load.latenciesMs) }, null, 2)}\n`);
    writeFileSync(join('results', 'network.svg'), svgChart(`load: ${nodes.length} nodes, ${load.payments} payments`, histogram(load.latenciesMs)));
    emit(summary);
  } finally {
    for (const n of all) n.app.close();
    await Promise.all(all.map((n) => n.fixture.program?.stop('SIGTERM')));
    await relay.program.stop('SIGTERM');
    await index.close();
  }
}

await main();
