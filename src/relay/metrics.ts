import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { toBase64Url } from '../common/bytes.js';
import type { Logger } from '../common/log.js';
import type { RelayServer, WorkerStatsSnapshot } from './server.js';

/**
 * Prometheus /metrics and JSON /status for a relay, on their own address (never the relay
 * port). Shards keep plain cumulative counters; each scrape asks them for a snapshot and this
 * module turns the totals into Prometheus counters (by adding the increase since the last
 * scrape), so shard code never touches prom-client.
 */
export class RelayMetrics {
  readonly registry = new Registry();
  private readonly previous = new Map<string, number>();
  private readonly connections: Gauge;
  private readonly tunnels: Gauge;
  private readonly listeners: Gauge;
  private readonly pending: Gauge;
  private readonly load: Gauge;
  private readonly rss: Gauge;
  private readonly counters: Record<string, Counter>;

  constructor(private readonly relay: RelayServer) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'strelay_' });
    this.connections = new Gauge({ name: 'strelay_connections', help: 'Open connections by state', labelNames: ['state'], registers });
    this.tunnels = new Gauge({ name: 'strelay_tunnels', help: 'Spliced tunnels open', registers });
    this.listeners = new Gauge({ name: 'strelay_listeners', help: 'Listener keys registered', registers });
    this.pending = new Gauge({ name: 'strelay_pending_connects', help: 'Connects waiting for their listener', registers });
    this.load = new Gauge({ name: 'strelay_worker_event_loop_utilization', help: 'Share of time each shard was busy since the previous scrape', labelNames: ['worker'], registers });
    this.rss = new Gauge({ name: 'strelay_rss_bytes', help: 'Resident set size of the relay process', registers });
    const counter = (name: string, help: string, labelNames: string[] = []): Counter => new Counter({ name, help, labelNames, registers });
    this.counters = {
      connectionsOpened: counter('strelay_connections_opened_total', 'Connections accepted'),
      tunnelsOpened: counter('strelay_tunnels_opened_total', 'Tunnels spliced'),
      bytesForwarded: counter('strelay_forwarded_bytes_total', 'Tunnel bytes forwarded'),
      framesForwarded: counter('strelay_forwarded_frames_total', 'Tunnel frames forwarded'),
      creditFrames: counter('strelay_credit_frames_total', 'Credit frames sent to tunnel senders'),
      crossBatches: counter('strelay_cross_worker_batches_total', 'Frame batches passed between shards'),
      handshakeFailures: counter('strelay_handshake_failures_total', 'Noise handshakes that failed or timed out'),
      malformedMessages: counter('strelay_malformed_messages_total', 'Messages that did not decode'),
      closes: counter('strelay_closes_total', 'Connections closed, by reason', ['reason']),
      refusals: counter('strelay_refused_total', 'Connections refused before the handshake, by reason', ['reason']),
      matching: counter('strelay_matching_events_total', 'Matching outcomes', ['event']),
    };
  }

  async refresh(): Promise<WorkerStatsSnapshot[]> {
    const shards = await this.relay.workerStats();
    const byState: Record<string, number> = {};
    let halves = 0;
    const totals: Record<string, number> = {};
    const closes: Record<string, number> = {};
    const refusals: Record<string, number> = {};
    for (const s of shards) {
      for (const [state, n] of Object.entries((s.connectionsByState ?? {}) as Record<string, number>)) byState[state] = (byState[state] ?? 0) + n;
      halves += Number(s.tunnelHalvesOpen ?? 0);
      for (const name of ['connectionsOpened', 'tunnelsOpened', 'bytesForwarded', 'framesForwarded', 'creditFrames', 'crossBatches', 'handshakeFailures', 'malformedMessages']) {
        totals[name] = (totals[name] ?? 0) + Number(s[name] ?? 0);
      }
      for (const [reason, n] of Object.entries((s.closes ?? {}) as Record<string, number>)) closes[reason] = (closes[reason] ?? 0) + n;
      for (const [reason, n] of Object.entries((s.refusals ?? {}) as Record<string, number>)) refusals[reason] = (refusals[reason] ?? 0) + n;
      this.load.set({ worker: String(s.worker) }, Number(s.eventLoopUtilization ?? 0));
    }
    for (const [state, n] of Object.entries(byState)) this.connections.set({ state }, n);
    this.tunnels.set(halves / 2);
    totals.tunnelsOpened = (totals.tunnelsOpened ?? 0) / 2;
    for (const [name, total] of Object.entries(totals)) this.advance(this.counters[name], name, {}, total);
    for (const [reason, n] of Object.entries(closes)) this.advance(this.counters.closes, `close:${reason}`, { reason }, n);
    for (const [reason, n] of Object.entries(refusals)) this.advance(this.counters.refusals, `refuse:${reason}`, { reason }, n);
    const core = this.relay.coreStats();
    this.listeners.set(core.listeners);
    this.pending.set(core.pendingConnects);
    for (const event of ['splices', 'replacedListeners', 'rejected', 'timedOut', 'pendingLimitHits', 'noPending', 'ignoredRejects'] as const) {
      this.advance(this.counters.matching, `core:${event}`, { event }, core[event]);
    }
    this.rss.set(process.memoryUsage.rss());
    return shards;
  }

  private advance(counter: Counter, key: string, labels: Record<string, string>, total: number): void {
    const delta = total - (this.previous.get(key) ?? 0);
    if (delta > 0) {
      counter.inc(labels, delta);
      this.previous.set(key, total);
    }
  }

  async status(): Promise<Record<string, unknown>> {
    const shards = await this.refresh();
    return {
      status: this.relay.status,
      publicKey: toBase64Url(this.relay.publicKey),
      port: this.relay.port,
      uptimeMs: Math.round(this.relay.uptimeMs()),
      rssBytes: process.memoryUsage.rss(),
      cpuMicros: process.cpuUsage(),
      connections: this.relay.counters.connections(),
      handshakesInProgress: this.relay.counters.handshakes(),
      matching: this.relay.coreStats(),
      workers: shards,
    };
  }
}

/** Serves /metrics and /status; resolves with the bound port. */
export function serveMetrics(metrics: RelayMetrics, host: string, port: number, logger: Logger): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = async (): Promise<void> => {
      if (path === '/metrics') {
        await metrics.refresh();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(await metrics.registry.metrics());
      } else if (path === '/status') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(await metrics.status()));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found: try /metrics or /status\n');
      }
    };
    reply().catch((err: Error) => {
      logger.error({ err: err.message }, 'metrics request failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address !== null ? address.port : port });
    });
  });
}
