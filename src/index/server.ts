import { createServer, type Server } from 'node:http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { compareBytes, toHex } from '../common/bytes.js';
import { errorMessage } from '../common/errors.js';
import { type Logger, silentLogger } from '../common/log.js';
import type { Identity } from '../crypto/identity.js';
import { FileKind } from '../files/formats.js';
import { readServerTicket } from '../files/tickets.js';
import { connectSecure, listenSecure, type SecureChannel, type SecureListener } from '../transport/transport.js';
import {
  decodeClientMessage,
  decodePeerMessage,
  encodePeerMessage,
  encodeServerMessage,
} from './codec.js';
import { MAX_OPEN_REQUESTS_PER_CLIENT, TICK_MS } from './constants.js';
import { IndexCore, ROUTE_REJECTIONS, UPDATE_REJECTIONS, type IngestOutcome } from './core.js';
import { IngestPipeline } from './ingest.js';
import { SearchPool, SearchPoolError, type SearchPoolOptions } from './search-pool.js';
import { InlineVerifier, VerifyPool } from './verify-pool.js';
import type { ForwardMutationsUpdate } from './types.js';

/**
 * The index server shell: client and federation listeners on the authenticated transport, the
 * tick (hash clock, expiry, trusted-directory refresh), snapshot compaction and handover to the
 * search pool, federation links, metrics. All decisions are the core's; this file only moves
 * bytes and timers.
 */
export interface TrustedPeer {
  readonly publicKey: Uint8Array;
  readonly address: string;
}

export interface IndexServerOptions {
  readonly identity: Identity;
  readonly clientHost?: string;
  readonly clientPort: number;
  readonly serverHost?: string;
  readonly serverPort: number;
  /** Directory of peers' index tickets (their server ports); re-read every tick. */
  readonly trustedDir?: string;
  /** Or a fixed list (tests). */
  readonly trusted?: readonly TrustedPeer[];
  readonly workers?: number;
  /** Signature-check worker threads; 0 checks on the main thread. Defaults to `workers`. */
  readonly verifyWorkers?: number;
  readonly tickMs?: number;
  /** Delay between the first change and the snapshot that includes it. */
  readonly compactDelayMs?: number;
  /** Ticks to wait before redialling a peer. */
  readonly backoffTicks?: number;
  readonly ttlTicks?: number;
  readonly metricsHost?: string;
  readonly metricsPort?: number;
  readonly logger?: Logger;
  /** A prepared core (the benchmark loads a large graph once and serves it twice). */
  readonly core?: IndexCore;
  /** Search pool settings (queue and batch sizes; tests substitute the worker file). */
  readonly searchPool?: SearchPoolOptions;
}

interface PeerLink {
  readonly channel: SecureChannel;
  latestHash: Uint8Array | null;
}

const tagOf = (key: Uint8Array) => toHex(key);

export class IndexServer {
  readonly core: IndexCore;
  readonly registry = new Registry();
  private readonly pool: SearchPool;
  private readonly ingest: IngestPipeline;
  private readonly log: Logger;
  private clientListener: SecureListener | null = null;
  private serverListener: SecureListener | null = null;
  private metricsServer: Server | null = null;
  private readonly clients = new Map<string, { channel: SecureChannel; open: number }>();
  private readonly peers = new Map<string, PeerLink>();
  private trusted = new Map<string, TrustedPeer>();
  private readonly dialing = new Set<string>();
  private readonly retryAtTick = new Map<string, number>();
  private tickTimer: NodeJS.Timeout | null = null;
  private compactTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Route requests received, and those whose search failed in a worker (each answered empty). */
  routeQueries = 0;
  searchFailures = 0;
  private readonly metrics;

  private constructor(private readonly options: IndexServerOptions) {
    this.core = options.core ?? new IndexCore({ ttlTicks: options.ttlTicks });
    this.pool = new SearchPool(options.workers ?? 1, options.searchPool);
    const verifyWorkers = options.verifyWorkers ?? options.workers ?? 1;
    this.ingest = new IngestPipeline(this.core, verifyWorkers > 0 ? new VerifyPool(verifyWorkers) : new InlineVerifier());
    this.log = options.logger ?? silentLogger;
    const r = this.registry;
    this.metrics = {
      nodes: new Gauge({ name: 'index_nodes', help: 'Nodes with live reports', registers: [r] }),
      edges: new Gauge({ name: 'index_edges', help: 'Directed send edges in the newest snapshot', registers: [r] }),
      accepted: new Counter({ name: 'index_updates_accepted_total', help: 'Accepted mutations updates', labelNames: ['origin'], registers: [r] }),
      mutations: new Counter({ name: 'index_mutations_applied_total', help: 'Applied mutations', registers: [r] }),
      rejected: new Counter({ name: 'index_updates_rejected_total', help: 'Rejected updates by reason', labelNames: ['reason'], registers: [r] }),
      queries: new Counter({ name: 'index_route_queries_total', help: 'Route requests', registers: [r] }),
      routeRejected: new Counter({ name: 'index_route_rejected_total', help: 'Route requests refused by reason', labelNames: ['reason'], registers: [r] }),
      latency: new Histogram({
        name: 'index_route_latency_seconds',
        help: 'Route request latency inside the server',
        buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
        registers: [r],
      }),
      peers: new Gauge({ name: 'index_federation_peers', help: 'Open federation links', registers: [r] }),
      lag: new Histogram({
        name: 'index_federation_hops',
        help: 'Servers a forwarded update passed before it was accepted here (federation lag in hops)',
        buckets: [1, 2, 3, 4, 6, 8],
        registers: [r],
      }),
      compaction: new Histogram({ name: 'index_compaction_seconds', help: 'Snapshot compaction time', buckets: [0.001, 0.01, 0.1, 0.5, 1, 5], registers: [r] }),
    };
    for (const reason of UPDATE_REJECTIONS) this.metrics.rejected.inc({ reason }, 0);
    for (const reason of ROUTE_REJECTIONS) this.metrics.routeRejected.inc({ reason }, 0);
    for (const reason of ['search-failed', 'search-queue-full']) this.metrics.routeRejected.inc({ reason }, 0);
  }

  static async start(options: IndexServerOptions): Promise<IndexServer> {
    const server = new IndexServer(options);
    try {
      await server.begin();
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  get clientPort(): number {
    return this.clientListener?.port ?? 0;
  }
  get serverPort(): number {
    return this.serverListener?.port ?? 0;
  }
  get metricsPort(): number {
    const address = this.metricsServer?.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }
  get peerCount(): number {
    return this.peers.size;
  }

  private async begin(): Promise<void> {
    await this.ingest.started();
    this.publishSnapshot();
    this.refreshTrusted();
    const identity = this.options.identity;
    this.clientListener = await listenSecure({
      host: this.options.clientHost ?? '127.0.0.1',
      port: this.options.clientPort,
      identity,
      purpose: 'index-client',
      onChannel: (channel) => this.onClient(channel),
    });
    this.serverListener = await listenSecure({
      host: this.options.serverHost ?? '127.0.0.1',
      port: this.options.serverPort,
      identity,
      purpose: 'index-federation',
      authorize: (key) => this.trusted.has(tagOf(key)),
      onChannel: (channel) => this.onPeer(channel),
    });
    if (this.options.metricsPort !== undefined) {
      this.metricsServer = createServer((req, res) => {
        if (req.url !== '/metrics') {
          res.writeHead(404).end();
          return;
        }
        this.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
          () => res.writeHead(500).end(),
        );
      });
      await new Promise<void>((resolve, reject) => {
        this.metricsServer!.once('error', reject);
        this.metricsServer!.listen(this.options.metricsPort, this.options.metricsHost ?? '127.0.0.1', () => resolve());
      });
    }
    this.tickTimer = setInterval(() => this.onTick(), this.options.tickMs ?? TICK_MS);
    this.dialPeers();
  }

  // ------------------------------------------------------------ tick and trust

  private onTick(): void {
    const peerHashes: Uint8Array[] = [];
    for (const link of this.peers.values()) if (link.latestHash !== null) peerHashes.push(link.latestHash);
    const { timeHash, expired } = this.core.onTick(peerHashes);
    if (expired > 0) this.scheduleCompaction();
    const clientFrame = encodeServerMessage({ kind: 'time', hash: timeHash });
    for (const client of this.clients.values()) client.channel.send(clientFrame);
    const peerFrame = encodePeerMessage({ kind: 'time', hash: timeHash });
    for (const link of this.peers.values()) link.channel.send(peerFrame);
    this.refreshTrusted();
    this.dialPeers();
    this.metrics.nodes.set(this.core.graph.reporterCount);
  }

  /** Re-reads the trusted directory; links to peers no longer trusted are closed at once. */
  private refreshTrusted(): void {
    let list: readonly TrustedPeer[] = this.options.trusted ?? [];
    if (this.options.trustedDir !== undefined) {
      const found: TrustedPeer[] = [];
      try {
        for (const name of readdirSync(this.options.trustedDir)) {
          try {
            const ticket = readServerTicket(join(this.options.trustedDir, name), FileKind.IndexTicket);
            found.push({ publicKey: ticket.publicKey, address: ticket.address });
          } catch (err) {
            this.log.debug({ file: name, err: errorMessage(err) }, 'skipping unreadable trusted ticket');
          }
        }
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'cannot read trusted directory');
      }
      list = found;
    }
    const next = new Map<string, TrustedPeer>();
    for (const peer of list) next.set(tagOf(peer.publicKey), peer);
    this.trusted = next;
    for (const [tag, link] of this.peers) {
      if (!next.has(tag)) link.channel.close('no longer trusted');
    }
  }

  /** Replaces the trusted list (tests and callers without a directory). */
  setTrusted(peers: readonly TrustedPeer[]): void {
    (this.options as { trusted?: readonly TrustedPeer[] }).trusted = peers;
    this.refreshTrusted();
    this.dialPeers();
  }

  /** Of two servers the one with the larger key dials, so each pair has one link. */
  private dialPeers(): void {
    if (this.closed) return;
    const own = this.options.identity.publicKey;
    for (const [tag, peer] of this.trusted) {
      if (this.peers.has(tag) || this.dialing.has(tag)) continue;
      if (compareBytes(own, peer.publicKey) <= 0) continue;
      if ((this.retryAtTick.get(tag) ?? 0) > this.core.tick) continue;
      this.dialing.add(tag);
      connectSecure(`ws://${peer.address}/`, {
        identity: this.options.identity,
        expectedRemoteKey: peer.publicKey,
        purpose: 'index-federation',
        connectTimeoutMs: 5000,
      }).then(
        (channel) => {
          this.dialing.delete(tag);
          if (this.closed || !this.trusted.has(tag)) channel.close('not wanted');
          else this.onPeer(channel);
        },
        (err: unknown) => {
          this.dialing.delete(tag);
          this.retryAtTick.set(tag, this.core.tick + (this.options.backoffTicks ?? 8));
          this.log.debug({ peer: tag, err: errorMessage(err) }, 'federation dial failed');
        },
      );
    }
  }

  // ------------------------------------------------------------ federation

  private onPeer(channel: SecureChannel): void {
    const tag = tagOf(channel.remoteKey);
    if (!this.trusted.has(tag) || this.closed) {
      channel.close('not trusted');
      return;
    }
    this.peers.get(tag)?.channel.close('replaced');
    const link: PeerLink = { channel, latestHash: null };
    this.peers.set(tag, link);
    this.metrics.peers.set(this.peers.size);
    channel.send(encodePeerMessage({ kind: 'time', hash: this.core.clock.latest }));
    channel.onFrame((frame) => this.onPeerFrame(tag, link, frame));
    channel.onClose(() => {
      if (this.peers.get(tag) === link) this.peers.delete(tag);
      this.metrics.peers.set(this.peers.size);
      // A link that drops is redialled after the backoff, not at once (no redial storms).
      this.retryAtTick.set(tag, this.core.tick + (this.options.backoffTicks ?? 8));
    });
  }

  private onPeerFrame(tag: string, link: PeerLink, frame: Uint8Array): void {
    const decoded = decodePeerMessage(frame);
    if (!decoded.ok) {
      this.countRejection(this.core.rejectUpdate('malformed'));
      return;
    }
    const msg = decoded.value;
    if (msg.kind === 'time') {
      link.latestHash = msg.hash;
      return;
    }
    const hops = msg.forward.chain.length;
    this.ingest.submitPeer(this.trusted.has(tag) && this.peers.get(tag) === link, msg.forward, (outcome) => {
      this.afterIngest(outcome, tag, 'server');
      if (outcome.ok) this.metrics.lag.observe(hops);
    });
  }

  private afterIngest(outcome: IngestOutcome, fromPeer: string | null, origin: 'client' | 'server'): void {
    if (!outcome.ok) {
      this.countRejection(outcome);
      return;
    }
    this.metrics.accepted.inc({ origin });
    this.metrics.mutations.inc(outcome.mutations);
    if (outcome.forward !== null) this.forward(outcome.forward, fromPeer);
    this.scheduleCompaction();
  }

  /** Forwards at once (not on the next tick) to every linked peer but the sender. */
  private forward(forward: ForwardMutationsUpdate, except: string | null): void {
    if (this.peers.size === 0 || (this.peers.size === 1 && except !== null && this.peers.has(except))) return;
    const frame = encodePeerMessage({ kind: 'forward', forward });
    for (const [tag, link] of this.peers) if (tag !== except) link.channel.send(frame);
  }

  private countRejection(outcome: IngestOutcome): void {
    if (!outcome.ok) this.metrics.rejected.inc({ reason: outcome.reason });
  }

  // ------------------------------------------------------------ clients

  private onClient(channel: SecureChannel): void {
    if (this.closed) {
      channel.close('closing');
      return;
    }
    const tag = tagOf(channel.remoteKey);
    // One connection per key: the newest wins (a reconnecting node is not locked out).
    this.clients.get(tag)?.channel.close('replaced');
    const client = { channel, open: 0 };
    this.clients.set(tag, client);
    channel.send(encodeServerMessage({ kind: 'time', hash: this.core.clock.latest }));
    channel.onFrame((frame) => this.onClientFrame(client, frame));
    channel.onClose(() => {
      if (this.clients.get(tag) === client) this.clients.delete(tag);
    });
  }

  private onClientFrame(client: { channel: SecureChannel; open: number }, frame: Uint8Array): void {
    // The channel hands each frame over for good, so an update may keep views of it.
    const decoded = decodeClientMessage(frame, { borrow: true });
    if (!decoded.ok) {
      this.countRejection(this.core.rejectUpdate('malformed'));
      return;
    }
    const msg = decoded.value;
    if (msg.kind === 'update') {
      this.ingest.submitClient(client.channel.remoteKey, msg.update, (outcome) => this.afterIngest(outcome, null, 'client'));
      return;
    }
    const started = performance.now();
    this.metrics.queries.inc();
    this.routeQueries++;
    const request = msg.request;
    const empty = () => encodeServerMessage({ kind: 'routes', response: { requestId: request.requestId, routes: [], complete: false, truncated: false } });
    if (client.open >= MAX_OPEN_REQUESTS_PER_CLIENT) {
      this.core.rejectRoute('too-many-open');
      this.metrics.routeRejected.inc({ reason: 'too-many-open' });
      client.channel.send(empty());
      return;
    }
    const plan = this.core.planSearch(request);
    if (!plan.ok) {
      this.metrics.routeRejected.inc({ reason: plan.reason });
      client.channel.send(empty());
      return;
    }
    // Requests of one event-loop turn leave for the workers together (see SearchPool).
    const queued = this.pool.submit(plan.search, (answer) => {
      client.open--;
      if (answer instanceof SearchPoolError) {
        this.searchFailures++;
        this.log.warn({ err: answer.message }, 'search failed');
        this.metrics.routeRejected.inc({ reason: 'search-failed' });
        if (client.channel.isOpen) client.channel.send(empty());
        return;
      }
      if (client.channel.isOpen) client.channel.send(answer.clientFrame);
      this.metrics.latency.observe((performance.now() - started) / 1000);
    });
    if (!queued) {
      this.metrics.routeRejected.inc({ reason: 'search-queue-full' });
      client.channel.send(empty());
      return;
    }
    client.open++;
  }

  // ------------------------------------------------------------ snapshots

  private lastCompactionMs = 0;

  /**
   * Compaction runs a short delay after the first change, and never more often than twice its
   * own duration apart, so on a large graph at most about a third of the main thread goes to it.
   */
  private scheduleCompaction(): void {
    if (this.compactTimer !== null || this.closed) return;
    const delay = Math.max(this.options.compactDelayMs ?? 5, 2 * this.lastCompactionMs);
    this.compactTimer = setTimeout(() => {
      this.compactTimer = null;
      this.publishSnapshot();
    }, delay);
  }

  private publishSnapshot(): void {
    const { handle, stats } = this.core.graph.compact();
    this.pool.publish(handle);
    this.metrics.edges.set(stats.edges);
    this.metrics.compaction.observe(stats.millis / 1000);
    this.lastCompactionMs = stats.millis;
  }

  /** Compacts now (tests and the benchmark use it to skip the delay). */
  flushSnapshot(): void {
    if (this.compactTimer !== null) {
      clearTimeout(this.compactTimer);
      this.compactTimer = null;
    }
    this.publishSnapshot();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    if (this.compactTimer !== null) clearTimeout(this.compactTimer);
    for (const client of this.clients.values()) client.channel.close('server closing');
    for (const link of this.peers.values()) link.channel.close('server closing');
    this.clientListener?.close();
    this.serverListener?.close();
    if (this.metricsServer !== null) await new Promise<void>((resolve) => this.metricsServer!.close(() => resolve()));
    await this.ingest.close();
    await this.pool.close();
  }
}
