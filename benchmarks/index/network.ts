import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Identity } from '../../src/crypto/identity.js';
import { IndexClient } from '../../src/index/client.js';
import { IndexCore } from '../../src/index/core.js';
import type { WriteGraph } from '../../src/index/graph.js';
import { IndexServer } from '../../src/index/server.js';
import type { SyntheticGraph } from './synthetic.js';
import { syntheticKey } from './synthetic.js';

export interface NetworkResult {
  p50_ms: number | null;
  p99_ms: number | null;
  queries_per_s: number | null;
  workers: number | null;
  by_workers: Record<string, unknown>[];
  federation_ms_per_hop: number | null;
}

export interface NetworkContext {
  quick: boolean;
  graph: SyntheticGraph;
  core: IndexCore;
  pairs: [number, number][];
  emit: (section: string, values: Record<string, unknown>) => void;
  e2e: boolean;
  federation: boolean;
  /** Load-client connections (64 requests in flight over all of them). Default 4. */
  e2eClients?: number;
}

const loadClientFile = fileURLToPath(new URL('./load_client.ts', import.meta.url));
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * CPU seconds of this process's main thread (Linux /proc; utime + stime in clock ticks of
 * 10 ms), so the server's main-thread share can be told from its workers' under contention.
 */
function mainThreadCpuS(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

const processCpuS = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function e2e(ctx: NetworkContext, workers: number): Promise<Record<string, unknown>> {
  const identity = Identity.generate();
  // The load generator is one address standing for many nodes: the per-address search shares
  // (which would cap it at a fraction of the shards, by design) are lifted for it.
  const limits = { searchMsPerSecondPerAddress: 1e9, searchesPerAddressMax: 1e6 };
  const server = await IndexServer.start({ identity, clientPort: 0, serverPort: 0, workers, tickMs: 60_000, core: ctx.core, limits });
  try {
    server.flushSnapshot();
    const hex = (i: number) => Buffer.from(syntheticKey(i)).toString('hex');
    const args = {
      port: server.clientPort,
      serverKey: Buffer.from(identity.publicKey).toString('hex'),
      pairs: ctx.pairs.map(([s, d]) => [hex(s), hex(d)]),
      clients: ctx.e2eClients ?? 4,
      window: Math.max(1, Math.round(64 / (ctx.e2eClients ?? 4))),
      latencyQueries: ctx.quick ? 600 : 5000,
      warmupMs: ctx.quick ? 1000 : 2000,
      durationMs: ctx.quick ? 3000 : 10_000,
      amount: '1000',
    };
    const argsFile = join(mkdtempSync(join(tmpdir(), 'index-load-')), 'args.json');
    writeFileSync(argsFile, JSON.stringify(args));
    const sample = () => ({ queries: server.routeQueries, main: mainThreadCpuS(), all: processCpuS(), spread: server.connectionsPerShard() });
    let start: ReturnType<typeof sample> | null = null;
    let end: ReturnType<typeof sample> | null = null;
    const child = spawn(process.execPath, [...process.execArgv, loadClientFile, argsFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (start === null && out.includes('saturation-start\n')) start = sample();
      if (end === null && out.includes('saturation-end\n')) end = sample();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0 || start === null || end === null) throw new Error(`load client exited with ${code}`);
    const s0: ReturnType<typeof sample> = start;
    const s1: ReturnType<typeof sample> = end;
    const queries = s1.queries - s0.queries;
    const mainS = s1.main - s0.main;
    const otherS = s1.all - s0.all - mainS;
    const latency = (await server.registry.getSingleMetric('index_route_latency_seconds')?.get())?.values ?? [];
    const buckets = Object.fromEntries(latency.filter((v) => (v as { metricName?: string }).metricName?.endsWith('_bucket')).map((v) => [String(v.labels.le), v.value]));
    return {
      workers,
      ...(JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>),
      // How the kernel spread the load client's connections over the client shards (SO_REUSEPORT).
      connections_per_shard: s0.spread,
      // CPU per query in the saturation phase: the server's main thread, and its other threads
      // (client shards, signature workers, V8's GC helpers, libuv).
      server_queries: queries,
      server_main_cpu_us_per_query: round((mainS * 1e6) / queries, 1),
      server_other_threads_cpu_us_per_query: round((otherS * 1e6) / queries, 1),
      server_latency_buckets: buckets,
    };
  } finally {
    await server.close();
  }
}

async function federation(ctx: NetworkContext): Promise<Record<string, unknown>> {
  const ids = [Identity.generate(), Identity.generate(), Identity.generate()];
  const tickMs = 100;
  const servers = await Promise.all(ids.map((identity) => IndexServer.start({ identity, clientPort: 0, serverPort: 0, workers: 1, tickMs, compactDelayMs: 1 })));
  try {
    const ticket = (i: number) => ({ publicKey: ids[i].publicKey, address: `127.0.0.1:${servers[i].serverPort}` });
    servers[0].setTrusted([ticket(1)]);
    servers[1].setTrusted([ticket(0), ticket(2)]);
    servers[2].setTrusted([ticket(1)]);
    const deadline = Date.now() + 20_000;
    while (!(servers[0].peerCount === 1 && servers[1].peerCount === 2 && servers[2].peerCount === 1)) {
      if (Date.now() > deadline) throw new Error('federation links did not come up');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, tickMs * 4));
    const at = (i: number) => [{ publicKey: ids[i].publicKey, address: `127.0.0.1:${servers[i].clientPort}` }];
    const trials = ctx.quick ? 10 : 50;
    const perHop: number[] = [];
    const observer = new IndexClient({ identity: Identity.generate(), servers: at(2), requestTimeoutMs: 5000 });
    observer.start();
    await observer.whenReady();
    for (let trial = 0; trial < trials; trial++) {
      const x = Identity.generate();
      const y = Identity.generate();
      const cx = new IndexClient({ identity: x, servers: at(0) });
      const cy = new IndexClient({ identity: y, servers: at(2) });
      cx.start();
      cy.start();
      await Promise.all([cx.whenReady(), cy.whenReady()]);
      cy.update([{ kind: 'update', friend: x.publicKey, currency: 'USD', recvCapacity: 1000n, rate: { mul: 0, add: 0 } }]);
      await new Promise((r) => setTimeout(r, 50));
      const t0 = performance.now();
      cx.update([{ kind: 'update', friend: y.publicKey, currency: 'USD', recvCapacity: 1000n, rate: { mul: 0, add: 0 } }]);
      for (;;) {
        const response = await observer.requestRoutes({ currency: 'USD', amount: 10n, source: x.publicKey, destination: y.publicKey }).catch(() => null);
        if (response !== null && response.routes.length > 0) break;
        if (performance.now() - t0 > 5000) {
          const stats = servers.map((srv) => ({ rejected: Object.fromEntries(srv.core.updateRejections), accepted: srv.core.updatesAccepted, nodes: srv.core.graph.reporterCount, routes: Object.fromEntries(srv.routeRejections()) }));
          throw new Error(`update did not reach the third server: ${JSON.stringify(stats)}`);
        }
      }
      perHop.push((performance.now() - t0) / 2);
      cx.close();
      cy.close();
    }
    observer.close();
    return { trials, hops: 2, ms_per_hop_p50: round(percentile(perHop, 0.5)), ms_per_hop_p99: round(percentile(perHop, 0.99)), tick_ms: tickMs };
  } finally {
    for (const s of servers) await s.close();
  }
}

export async function runNetworkSections(ctx: NetworkContext): Promise<NetworkResult> {
  const byWorkers: Record<string, unknown>[] = [];
  for (const workers of ctx.e2e ? [1, 2] : []) {
    const result = await e2e(ctx, workers);
    ctx.emit('e2e', result);
    byWorkers.push(result);
  }
  const fed = ctx.federation ? await federation(ctx) : null;
  if (fed !== null) ctx.emit('federation', fed);
  const two = byWorkers[1] as { p50_ms: number; p99_ms: number; queries_per_s: number } | undefined;
  return {
    p50_ms: two?.p50_ms ?? null,
    p99_ms: two?.p99_ms ?? null,
    queries_per_s: two?.queries_per_s ?? null,
    workers: 2,
    by_workers: byWorkers,
    federation_ms_per_hop: fed === null ? null : (fed.ms_per_hop_p50 as number),
  };
}

export type { WriteGraph };


