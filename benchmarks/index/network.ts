import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
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
}

const loadClientFile = fileURLToPath(new URL('./load_client.ts', import.meta.url));
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function e2e(ctx: NetworkContext, workers: number): Promise<Record<string, unknown>> {
  const identity = Identity.generate();
  const server = await IndexServer.start({ identity, clientPort: 0, serverPort: 0, workers, tickMs: 60_000, core: ctx.core });
  try {
    server.flushSnapshot();
    const hex = (i: number) => Buffer.from(syntheticKey(i)).toString('hex');
    const args = {
      port: server.clientPort,
      serverKey: Buffer.from(identity.publicKey).toString('hex'),
      pairs: ctx.pairs.map(([s, d]) => [hex(s), hex(d)]),
      clients: 4,
      window: 16,
      latencyQueries: ctx.quick ? 600 : 5000,
      durationMs: ctx.quick ? 2000 : 10_000,
      amount: '1000',
    };
    const argsFile = join(mkdtempSync(join(tmpdir(), 'index-load-')), 'args.json');
    writeFileSync(argsFile, JSON.stringify(args));
    const child = spawn(process.execPath, [...process.execArgv, loadClientFile, argsFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`load client exited with ${code}`);
    const latency = (await server.registry.getSingleMetric('index_route_latency_seconds')?.get())?.values ?? [];
    const buckets = Object.fromEntries(latency.filter((v) => (v as { metricName?: string }).metricName?.endsWith('_bucket')).map((v) => [String(v.labels.le), v.value]));
    return { workers, ...(JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>), server_latency_buckets: buckets };
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
          const stats = servers.map((srv) => ({ rejected: Object.fromEntries(srv.core.updateRejections), accepted: srv.core.updatesAccepted, nodes: srv.core.graph.reporterCount, routes: Object.fromEntries(srv.core.routeRejections) }));
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
  for (const workers of [1, 2]) {
    const result = await e2e(ctx, workers);
    ctx.emit('e2e', result);
    byWorkers.push(result);
  }
  const fed = await federation(ctx);
  ctx.emit('federation', fed);
  const two = byWorkers[1] as { p50_ms: number; p99_ms: number; queries_per_s: number };
  return {
    p50_ms: two.p50_ms,
    p99_ms: two.p99_ms,
    queries_per_s: two.queries_per_s,
    workers: 2,
    by_workers: byWorkers,
    federation_ms_per_hop: fed.ms_per_hop_p50 as number,
  };
}

export type { WriteGraph };


