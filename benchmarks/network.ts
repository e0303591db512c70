/**
 * Network benchmark: durable payments end to end between real stnode processes over a real
 * relay (strelay), each node on its own RocksDB database, driven by apps over the app protocol.
 *
 *   phase 2nodes  A pays B directly;
 *   phase 3hop    A pays D through B and C (both forward and earn their fee);
 *   phase load    N nodes (default 20) with random friendships (a ring plus random chords) pay
 *                 between random pairs for a fixed time, along routes their apps ask the index
 *                 server for (every node reports its capacities to it).
 *
 * A payment counts once its receipt is in the buyer's hands (invoice, payment, transaction,
 * commit, close). Writes results/network.json and results/network.svg (latency histogram) and
 * prints one JSON summary as the last line.
 *
 *   npm run bench:network [-- --quick] [-- --nodes N] [-- --seconds S] [-- --window W]
 *                         [-- --phases 2nodes,3hop,load] [-- --profile DIR]
 *
 * --profile DIR starts every child process (relay, nodes) with --cpu-prof into DIR (through
 * OFFSET_NODE_FLAGS, which the launcher honours) and prints
 * each phase's window on the monotonic clock V8 profiles use, so samples can be cut per phase.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import cliProgress from 'cli-progress';
import { bytesEqual } from '../src/common/bytes.js';
import { calcFee, type Rate } from '../src/common/rate.js';
import { Identity } from '../src/crypto/identity.js';
import { randomBytes } from '../src/crypto/primitives.js';
import { IndexServer } from '../src/index/server.js';
import { AppErrorCode } from '../src/node/app_codec.js';
import { TestApp, befriend, prepareNode, startNode, startRelay, tempDir, type NodeFixture } from '../test/node/app_helper.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const arg = (name: string, fallback: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? Number(argv[i + 1]) : fallback;
};
const phaseSeconds = arg('--seconds', quick ? 6 : 20);
const loadNodes = arg('--nodes', quick ? 6 : 20);
const windowSize = arg('--window', 64);
const strArg = (name: string): string | null => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : null;
};
const phases = new Set((strArg('--phases') ?? '2nodes,3hop,load').split(','));
const profileDir = strArg('--profile');
if (profileDir !== null) {
  mkdirSync(profileDir, { recursive: true });
  process.env.OFFSET_NODE_FLAGS = `--cpu-prof --cpu-prof-dir=${profileDir}`;
}
/** Microseconds on the monotonic clock (the time base of V8 CPU profiles). */
const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);
const CURRENCY = 'FST';
const RATE: Rate = { mul: 0, add: 1 };

interface Node {
  fixture: NodeFixture;
  app: TestApp;
  key: Uint8Array;
}

interface PhaseResult {
  name: string;
  payments: number;
  failures: number;
  seconds: number;
  paymentsPerS: number;
  latenciesMs: number[];
}

function emit(value: object): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function startNodes(count: number, relay: { identity: { publicKey: Uint8Array }; address: string }): Promise<Node[]> {
  const fixtures = await Promise.all(Array.from({ length: count }, (_, i) => prepareNode(`bench${i}`)));
  // Started a few at a time: each boots a TypeScript runtime, and the machine is shared.
  for (let i = 0; i < fixtures.length; i += 4) await Promise.all(fixtures.slice(i, i + 4).map((f) => startNode(f)));
  const nodes: Node[] = [];
  for (const f of fixtures) {
    const app = await TestApp.connect(f.port, f.identity.publicKey, f.app);
    await app.must({ kind: 'addRelay', relay: { publicKey: relay.identity.publicKey, address: relay.address, name: 'bench' } });
    nodes.push({ fixture: f, app, key: f.identity.publicKey });
  }
  return nodes;
}

async function link(a: Node, b: Node, relays: { publicKey: Uint8Array; address: string }[]): Promise<void> {
  await befriend({ app: a.app, key: a.key, relays }, { app: b.app, key: b.key, relays }, CURRENCY, 1n << 60n);
  await a.app.must({ kind: 'setRate', publicKey: b.key, currency: CURRENCY, rate: RATE });
  await b.app.must({ kind: 'setRate', publicKey: a.key, currency: CURRENCY, rate: RATE });
}

/** One payment along `route` (nodes, buyer first); resolves true once the receipt is in. */
async function payOnce(route: Node[], amount: bigint): Promise<boolean> {
  const buyer = route[0];
  const seller = route[route.length - 1];
  const invoiceId = randomBytes(32);
  const paymentId = randomBytes(16);
  const requestId = randomBytes(16);
  let fees = 0n;
  for (let i = 1; i < route.length - 1; i++) fees += calcFee(RATE, amount) ?? 0n;
  if (await seller.app.request({ kind: 'addInvoice', invoiceId, currency: CURRENCY, totalDestPayment: amount }) !== null) return false;
  if (await buyer.app.request({ kind: 'createPayment', paymentId, invoiceId, currency: CURRENCY, totalDestPayment: amount, destPublicKey: seller.key }) !== null) return false;
  const result = buyer.app.wait((m) => m.kind === 'transactionResult' && bytesEqual(m.requestId, requestId), 120_000);
  if (await buyer.app.request({ kind: 'createTransaction', paymentId, requestId, route: route.map((n) => n.key), destPayment: amount, fees }) !== null) return false;
  const tx = await result;
  if (tx.kind !== 'transactionResult' || tx.outcome.kind !== 'complete') return false;
  if (await seller.app.request({ kind: 'commitInvoice', commit: tx.outcome.commit }) !== null) return false;
  const closed = buyer.app.wait((m) => m.kind === 'closePayment' && bytesEqual(m.paymentId, paymentId), 120_000);
  if (await buyer.app.request({ kind: 'requestClosePayment', paymentId }) !== null) return false;
  const status = await closed;
  // The app keeps every message; drop them so a long run does not grow without bound.
  for (const app of [buyer.app, seller.app]) app.messages.length = 0;
  return status.kind === 'closePayment' && status.status.kind === 'success';
}

async function runPhase(name: string, pickRoute: () => Node[] | Promise<Node[] | null>, seconds: number): Promise<PhaseResult> {
  const bar = new cliProgress.SingleBar({
    format: `${name.padEnd(7)} [{bar}] {percentage}% | {payments} payments | {rate}/s`, stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  bar.start(seconds, 0, { payments: 0, rate: 0 });
  const latenciesMs: number[] = [];
  let failures = 0;
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
  await Promise.all(Array.from({ length: windowSize }, () => worker()));
  clearInterval(ticker);
  bar.update(seconds, { payments: latenciesMs.length, rate: Math.round(latenciesMs.length / seconds) });
  bar.stop();
  if (profileDir !== null) process.stderr.write(`${JSON.stringify({ phase: name, mono_start_us: monoStartUs, mono_end_us: monoUs(), payments: latenciesMs.length })}\n`);
  const elapsedS = (performance.now() - start) / 1000;
  return { name, payments: latenciesMs.length, failures, seconds: elapsedS, paymentsPerS: latenciesMs.length / elapsedS, latenciesMs };
}

function summarize(r: PhaseResult): object {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  return {
    phase: r.name, payments: r.payments, failures: r.failures, seconds: Number(r.seconds.toFixed(2)),
    payments_per_s: Number(r.paymentsPerS.toFixed(1)),
    p50_ms: Number(percentile(sorted, 50).toFixed(1)), p99_ms: Number(percentile(sorted, 99).toFixed(1)),
    success_rate: r.payments + r.failures === 0 ? 0 : Number((r.payments / (r.payments + r.failures)).toFixed(4)),
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
    const answer = buyer.app.wait((m) => m.kind === 'routes' && bytesEqual(m.requestId, requestId), 60_000);
    const error = await buyer.app.request({
      kind: 'requestRoutes', requestId, currency: CURRENCY, amount, source: buyer.key, destination: seller.key,
      exclude: null, maxHops: 0, maxFee: null, maxRoutes: 1,
    });
    const m = await answer;
    if (error?.code === AppErrorCode.TooManyRouteRequests) {
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
      continue;
    }
    if (error !== null || m.kind !== 'routes' || m.outcome.kind !== 'found' || m.outcome.routes.length === 0) {
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
  const results: object[] = [];
  try {
    const chain = await startNodes(4, relay);
    all.push(...chain);
    if (profileDir !== null) {
      const pids = { driver: process.pid, relay: relay.program.child.pid, ...Object.fromEntries(chain.map((n, i) => [`node${i}`, n.fixture.program?.child.pid])) };
      process.stderr.write(`${JSON.stringify({ pids })}\n`);
    }
    for (let i = 0; i + 1 < chain.length; i++) await link(chain[i], chain[i + 1], relays);
    const skipped = (name: string): PhaseResult => ({ name, payments: 0, failures: 0, seconds: 0, paymentsPerS: 0, latenciesMs: [] });
    const two = phases.has('2nodes') ? await runPhase('2nodes', () => [chain[0], chain[1]], phaseSeconds) : skipped('2nodes');
    results.push(summarize(two));
    emit(summarize(two));
    const three = phases.has('3hop') ? await runPhase('3hop', () => chain, phaseSeconds) : skipped('3hop');
    results.push(summarize(three));
    emit(summarize(three));

    const extra = phases.has('load') ? await startNodes(Math.max(0, loadNodes - chain.length), relay) : [];
    all.push(...extra);
    const nodes = [...chain, ...extra];
    if (phases.has('load')) for (const n of nodes) await n.app.must({ kind: 'addIndexServer', server: indexServer });
    const adj = new Map<number, number[]>(nodes.map((_, i) => [i, []]));
    const edge = async (i: number, j: number): Promise<void> => {
      if (i === j || adj.get(i)!.includes(j)) return;
      adj.get(i)!.push(j);
      adj.get(j)!.push(i);
      if (!(Math.abs(i - j) === 1 && Math.max(i, j) < chain.length)) await link(nodes[i], nodes[j], relays);
    };
    let load = skipped('load');
    if (phases.has('load')) {
      for (let i = 0; i < nodes.length; i++) await edge(i, (i + 1) % nodes.length);
      for (let k = 0; k < nodes.length / 2; k++) await edge(Math.floor(Math.random() * nodes.length), Math.floor(Math.random() * nodes.length));
      // Every node must have reported its links before the index can route between any pair.
      routeFailures = 0;
      const deadline = performance.now() + 60_000;
      while (performance.now() < deadline && await indexRoute(nodes, nodes[0], nodes[Math.floor(nodes.length / 2)], 1000n) === null) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      routeFailures = 0;
      load = await runPhase('load', () => {
        const a = Math.floor(Math.random() * nodes.length);
        const b = (a + 1 + Math.floor(Math.random() * (nodes.length - 1))) % nodes.length;
        return indexRoute(nodes, nodes[a], nodes[b], 1000n);
      }, phaseSeconds);
    }
    const loadSummary = { ...summarize(load), nodes: nodes.length, route_failures: routeFailures };
    results.push(loadSummary);
    emit(loadSummary);

    mkdirSync('results', { recursive: true });
    const sorted2 = [...two.latenciesMs].sort((a, b) => a - b);
    const summary = {
      payments_per_s_2nodes: Number(two.paymentsPerS.toFixed(1)),
      payments_per_s_3hop: Number(three.paymentsPerS.toFixed(1)),
      p50_ms: Number(percentile(sorted2, 50).toFixed(1)),
      p99_ms: Number(percentile(sorted2, 99).toFixed(1)),
      success_rate: (summarize(load) as { success_rate: number }).success_rate,
      load_payments_per_s: Number(load.paymentsPerS.toFixed(1)),
      load_nodes: nodes.length,
      window: windowSize,
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
