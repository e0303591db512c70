import { createServer, type Server } from 'node:http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { compareBytes, toHex } from '../common/bytes.js';
import { errorMessage } from '../common/errors.js';
import { type Logger, silentLogger } from '../common/log.js';
import type { Identity } from '../crypto/identity.js';
import { FileKind } from '../files/formats.js';
import { readServerTicket } from '../files/tickets.js';
import { probePort } from '../transport/listen-port.js';
import { connectSecure, listenSecure, type SecureChannel, type SecureListener } from '../transport/transport.js';
import { decodeClientMessage, decodePeerMessage, encodePeerMessage } from './codec.js';
import { MAX_INDEX_FRAME_BYTES, TICK_MS } from './constants.js';
import { Admission, type AdmissionBuffers } from './admission.js';
import { byteTag } from './byte-tag.js';
import { IndexCore, UPDATE_REJECTIONS, type IngestOutcome } from './core.js';
import { resolveIndexLimits, type IndexLimits } from './limits.js';
import { RestartBudget } from './restart-budget.js';
import { IngestPipeline } from './ingest.js';
import type { SearchBounds } from './route-plan.js';
import { CONNECTION_REFUSALS, LATENCY_BUCKETS_S, SHARD_ROUTE_REJECTIONS, ShardCounters } from './shard-counters.js';
import { decodeShardReport, encodeShardCommand, type ShardCommandMsg, type ShardReportMsg } from './shard-codec.js';
import type { SnapshotHandle } from './snapshot.js';
import { InlineVerifier, VerifyPool } from './verify-pool.js';
import type { ForwardMutationsUpdate } from './types.js';

/**
 * The index server shell. Client connections belong to `workers` client shards (worker threads,
 * src/index/shard.ts), each with its own uWS listener on the shared client port (SO_REUSEPORT),
 * which run the transport handshakes and answer route requests from the newest snapshot. This
 * main thread is the single writer: it takes the update frames the shards pass on (with each
 * connection's verified key) into the ingest pipeline, runs the tick (hash clock, expiry,
 * trusted-directory refresh) and tells the shards each new time hash, compacts snapshots and
 * hands them to the shards (shared buffers, nothing copied), keeps one connection per client
 * key across the shards, runs the federation listener and links, and serves metrics (the
 * shards' counters are read from shared memory). All decisions are the core's; this file only
 * moves bytes and timers.
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
  /** Client shards (worker threads that own the client connections and answer route requests). */
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
  /** Route requests waiting on one shard before further ones are refused (default 4,096). */
  readonly shardQueueMax?: number;
  /** Search time one shard turn may spend before requests wait (default 5 ms; negative: tests of the bounds). */
  readonly shardTurnBudgetMs?: number;
  /** Update frames passed on by the shards and not yet taken in by this thread (default 16,384). */
  readonly shardBacklogMax?: number;
  /** Quotas against abusive clients and peers (src/index/limits.ts); unset ones take their defaults. */
  readonly limits?: Partial<IndexLimits>;
}

/** What a client shard thread is started with (workers/index_shard.ts). */
export interface IndexShardData {
  readonly index: number;
  readonly host: string;
  readonly port: number;
  readonly seed: Uint8Array;
  readonly counters: SharedArrayBuffer;
  readonly timeHash: Uint8Array;
  readonly snapshot: SnapshotHandle | null;
  readonly bounds: SearchBounds;
  readonly queueMax?: number;
  readonly turnBudgetMs?: number;
  readonly backlogMax?: number;
  readonly limits: IndexLimits;
  readonly admission: AdmissionBuffers;
}

interface ShardThread {
  readonly index: number;
  readonly worker: Worker;
  readonly exited: Promise<void>;
  alive: boolean;
}

const fromSource = import.meta.url.endsWith('.ts');
const shardEntry = new URL(`../../workers/index_shard.${fromSource ? 'ts' : 'js'}`, import.meta.url);

/**
 * Run from TypeScript sources (tests, benchmarks), a worker thread does not inherit the tsx
 * loader from the main thread on Node 20, so it registers tsx itself before importing the entry.
 */
function tsxBootstrap(entry: URL): string {
  const api = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
}

const SHARD_STOP_MS = 5_000;

interface PeerLink {
  readonly channel: SecureChannel;
  latestHash: Uint8Array | null;
  /** Its share of the ingest backlog is counted under this source. */
  readonly source: string;
}

/** Keys in the penalty cooldown, at most (the oldest leave first): the map cannot grow without bound. */
const PENALISED_KEYS_MAX = 65_536;

const tagOf = (key: Uint8Array) => toHex(key);

export class IndexServer {
  readonly core: IndexCore;
  readonly registry = new Registry();
  private readonly ingest: IngestPipeline;
  private readonly log: Logger;
  private readonly shards: ShardThread[] = [];
  private readonly counters: ShardCounters;
  private boundClientPort = 0;
  private latestSnapshot: SnapshotHandle | null = null;
  private serverListener: SecureListener | null = null;
  private metricsServer: Server | null = null;
  /** Client key → where its connection lives: one connection per key, the newest wins. */
  private readonly clients = new Map<string, { shard: number; conn: number }>();
  private readonly peers = new Map<string, PeerLink>();
  private trusted = new Map<string, TrustedPeer>();
  private readonly dialing = new Set<string>();
  private readonly retryAtTick = new Map<string, number>();
  private tickTimer: NodeJS.Timeout | null = null;
  private compactTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly metrics;
  readonly limits: IndexLimits;
  private readonly admission: Admission;
  /** Bad signatures per client key since its connection opened (cleared when it closes). */
  private readonly badSignatures = new Map<string, number>();
  /** Client keys refused until a wall-clock time, after too many bad signatures. */
  private readonly penalisedKeys = new Map<string, number>();
  private readonly restarts: RestartBudget;
  private peerSources = 0;

  private constructor(private readonly options: IndexServerOptions) {
    this.limits = resolveIndexLimits(options.limits);
    this.core = options.core ?? new IndexCore({ ttlTicks: options.ttlTicks, limits: this.limits });
    const shardCount = Math.max(1, options.workers ?? 1);
    this.counters = new ShardCounters(ShardCounters.create(shardCount), -1);
    this.admission = new Admission(Admission.create(shardCount), -1, this.limits);
    this.restarts = new RestartBudget(this.limits.shardRestartsPerMinute, this.limits.shardRestartBackoffMs);
    const verifyWorkers = options.verifyWorkers ?? options.workers ?? 1;
    this.ingest = new IngestPipeline(this.core, verifyWorkers > 0 ? new VerifyPool(verifyWorkers) : new InlineVerifier(), {
      backlogPerSourceMax: this.limits.backlogPerConnectionMax,
    });
    this.log = options.logger ?? silentLogger;
    const r = this.registry;
    this.metrics = {
      nodes: new Gauge({ name: 'index_nodes', help: 'Nodes with live reports', registers: [r] }),
      edges: new Gauge({ name: 'index_edges', help: 'Directed send edges in the newest snapshot', registers: [r] }),
      accepted: new Counter({ name: 'index_updates_accepted_total', help: 'Accepted mutations updates', labelNames: ['origin'], registers: [r] }),
      mutations: new Counter({ name: 'index_mutations_applied_total', help: 'Applied mutations', registers: [r] }),
      rejected: new Counter({
        name: 'index_updates_rejected_total',
        help: 'Rejected updates by reason',
        labelNames: ['reason'],
        registers: [r],
        // Updates the shards dropped because this thread was too far behind are overload too.
        collect: (): void => this.collectShed(),
      }),
      queries: this.sharedCounter('index_route_queries_total', 'Route requests', () => this.counters.queries()),
      routeRejected: new Counter({
        name: 'index_route_rejected_total',
        help: 'Route requests refused by reason',
        labelNames: ['reason'],
        registers: [r],
        collect: () => this.collectRouteRejections(),
      }),
      connections: this.sharedGauge('index_client_connections', 'Open client connections, all shards', () => this.counters.connections()),
      refused: new Counter({
        name: 'index_client_refused_total',
        help: 'Client connections refused at admission or cut, by reason',
        labelNames: ['reason'],
        registers: [r],
        collect: () => this.collectRefusals(),
      }),
      restarts: new Counter({ name: 'index_client_shard_restarts_total', help: 'Client shards started again after they failed', registers: [r] }),
      peerCuts: new Counter({
        name: 'index_federation_cut_total',
        help: 'Federation links closed because the peer did not read what we sent (send backlog over its bound)',
        registers: [r],
      }),
      shards: this.sharedGauge('index_client_shards', 'Client shards (threads) serving', () => this.liveShards),
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
    for (const reason of SHARD_ROUTE_REJECTIONS) this.metrics.routeRejected.inc({ reason }, 0);
    for (const reason of [...CONNECTION_REFUSALS, 'bad-signatures']) this.metrics.refused.inc({ reason }, 0);
    this.registerLatencyHistogram();
  }

  // ------------------------------------------------------------ shard metrics

  private readonly seen = new Map<string, number>();

  /** How much a shared total grew since metrics last read it. */
  private delta(name: string, total: number): number {
    const before = this.seen.get(name) ?? 0;
    this.seen.set(name, total);
    return Math.max(0, total - before);
  }

  private sharedCounter(name: string, help: string, total: () => number): Counter {
    const counter: Counter = new Counter({ name, help, registers: [this.registry], collect: () => counter.inc(this.delta(name, total())) });
    return counter;
  }

  private sharedGauge(name: string, help: string, value: () => number): Gauge {
    const gauge: Gauge = new Gauge({ name, help, registers: [this.registry], collect: () => gauge.set(value()) });
    return gauge;
  }

  private collectShed(): void {
    this.metrics.rejected.inc({ reason: 'overloaded' }, this.delta('shed', this.counters.sheds()));
    this.metrics.rejected.inc({ reason: 'update-rate' }, this.delta('update-rate', this.counters.updateRateRefusals()));
  }

  private collectRefusals(): void {
    for (const reason of CONNECTION_REFUSALS) {
      this.metrics.refused.inc({ reason }, this.delta(`refused:${reason}`, this.counters.refusals(reason)));
    }
  }

  /** Connections refused or cut, by reason, all shards (and the main thread's penalties). */
  connectionRefusals(): Map<string, number> {
    const out = new Map<string, number>(CONNECTION_REFUSALS.map((reason) => [reason, this.counters.refusals(reason)]));
    out.set('penalised', (out.get('penalised') ?? 0) + this.keyRefusals);
    out.set('bad-signatures', this.penalties);
    return out;
  }

  /** Update rejections by reason, those counted on the shards included. */
  updateRejections(): Map<string, number> {
    const out = new Map<string, number>(this.core.updateRejections);
    out.set('overloaded', (out.get('overloaded') ?? 0) + this.counters.sheds());
    out.set('update-rate', (out.get('update-rate') ?? 0) + this.counters.updateRateRefusals());
    return out;
  }

  /** Connections cut for bad signatures. */
  private penalties = 0;
  /** Connections of penalised keys closed as they opened. */
  private keyRefusals = 0;
  /** Federation links closed for not reading. */
  peerCutCount = 0;
  /** Client shards started again after a failure. */
  shardRestarts = 0;

  private collectRouteRejections(): void {
    for (const reason of SHARD_ROUTE_REJECTIONS) {
      this.metrics.routeRejected.inc({ reason }, this.delta(`route:${reason}`, this.counters.rejections(reason)));
    }
  }

  /**
   * The shards' route latencies, as a Prometheus histogram read from the shared counters
   * (prom-client's Histogram only takes single observations, which would have to cross threads).
   */
  private registerLatencyHistogram(): void {
    const name = 'index_route_latency_seconds';
    const help = 'Route request latency inside the server (from the request frame to its answer, on the shard)';
    const metric = {
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      get: async () => {
        const { buckets, sumS } = this.counters.latencies();
        const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
        let count = 0;
        LATENCY_BUCKETS_S.forEach((le, i) => {
          count += buckets[i];
          values.push({ labels: { le }, value: count, metricName: `${name}_bucket` });
        });
        count += buckets[LATENCY_BUCKETS_S.length];
        values.push({ labels: { le: '+Inf' }, value: count, metricName: `${name}_bucket` });
        values.push({ labels: {}, value: sumS, metricName: `${name}_sum` });
        values.push({ labels: {}, value: count, metricName: `${name}_count` });
        return { name, help, type: 'histogram', values, aggregator: 'sum' };
      },
      reset: () => {},
    };
    // A metric object of prom-client's shape (name, help, type, get); the registry needs no more.
    this.registry.registerMetric(metric as unknown as Histogram);
  }

  /** Route requests received by the shards (all answered: with routes, or empty when refused or failed). */
  get routeQueries(): number {
    return this.counters.queries();
  }

  /** Route requests whose search threw (each answered empty). */
  get searchFailures(): number {
    return this.counters.rejections('search-failed');
  }

  /** Route requests refused, by reason, all shards. */
  routeRejections(): Map<string, number> {
    return new Map(SHARD_ROUTE_REJECTIONS.map((reason) => [reason, this.counters.rejections(reason)]));
  }

  /** Open client connections, all shards. */
  get clientConnections(): number {
    return this.counters.connections();
  }

  /** Open client connections of each shard (how the kernel spread them). */
  connectionsPerShard(): number[] {
    return this.counters.connectionsPerShard();
  }

  /** Shards serving (a shard that failed counts again once its replacement listens). */
  get liveShards(): number {
    return this.shards.filter((s) => s.alive).length;
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
    return this.boundClientPort;
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
    await this.startShards();
    this.serverListener = await listenSecure({
      host: this.options.serverHost ?? '127.0.0.1',
      port: this.options.serverPort,
      identity,
      purpose: 'index-federation',
      authorize: (key) => this.trusted.has(tagOf(key)),
      onChannel: (channel) => this.onPeer(channel),
      // Above our own bound (checked before every send), so uWS never drops a frame first.
      limits: { backpressureBytesMax: this.limits.peerSendBytesMax + MAX_INDEX_FRAME_BYTES * 2 },
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
    for (const shard of this.shards) this.command(shard, { timeHash, close: [], stop: false });
    const peerFrame = encodePeerMessage({ kind: 'time', hash: timeHash });
    for (const link of this.peers.values()) this.sendPeer(link, peerFrame);
    const now = Date.now();
    for (const [tag, until] of this.penalisedKeys) if (until <= now) this.penalisedKeys.delete(tag);
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
    const link: PeerLink = { channel, latestHash: null, source: `peer:${this.peerSources++}` };
    this.peers.set(tag, link);
    this.metrics.peers.set(this.peers.size);
    this.sendPeer(link, encodePeerMessage({ kind: 'time', hash: this.core.clock.latest }));
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
    this.ingest.submitPeer(
      this.trusted.has(tag) && this.peers.get(tag) === link,
      msg.forward,
      (outcome) => {
        this.afterIngest(outcome, tag, 'server');
        if (outcome.ok) this.metrics.lag.observe(hops);
      },
      link.source,
    );
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
    for (const [tag, link] of this.peers) if (tag !== except) this.sendPeer(link, frame);
  }

  /**
   * Sends to a peer unless it has left more than peerSendBytesMax unsent: then the link is
   * closed (and redialled after the backoff) instead of buffering for a peer that does not read.
   * What it missed reaches it again with the nodes' periodic full resends.
   */
  private sendPeer(link: PeerLink, frame: Uint8Array): void {
    if (link.channel.bufferedBytes() + frame.byteLength > this.limits.peerSendBytesMax) {
      if (!link.channel.isOpen) return;
      this.peerCutCount++;
      this.metrics.peerCuts.inc();
      this.log.warn({ peer: tagOf(link.channel.remoteKey), buffered: link.channel.bufferedBytes() }, 'federation peer does not read; closing the link');
      link.channel.close('send backlog over its bound');
      return;
    }
    link.channel.send(frame);
  }

  /**
   * A client whose updates keep failing their signature check costs a verify each and can
   * never be accepted: after badSignaturesMax its connection is cut, and its key and address
   * are refused for the cooldown.
   */
  private clientOutcome(node: Uint8Array, outcome: IngestOutcome): void {
    this.afterIngest(outcome, null, 'client');
    if (outcome.ok || outcome.reason !== 'bad-signature') return;
    const tag = byteTag(node);
    const bad = (this.badSignatures.get(tag) ?? 0) + 1;
    this.badSignatures.set(tag, bad);
    if (bad < this.limits.badSignaturesMax) return;
    this.badSignatures.delete(tag);
    this.penalties++;
    this.metrics.refused.inc({ reason: 'bad-signatures' });
    if (this.penalisedKeys.size >= PENALISED_KEYS_MAX) this.penalisedKeys.delete(this.penalisedKeys.keys().next().value!);
    this.penalisedKeys.delete(tag);
    this.penalisedKeys.set(tag, Date.now() + this.limits.penaltyCooldownMs);
    const at = this.clients.get(tagOf(node));
    const shard = at === undefined ? undefined : this.shards[at.shard];
    if (at !== undefined && shard?.alive === true) shard.worker.postMessage({ penalise: at.conn });
  }

  private isPenalised(tag: string): boolean {
    const until = this.penalisedKeys.get(tag);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.penalisedKeys.delete(tag);
    return false;
  }

  private countRejection(outcome: IngestOutcome): void {
    if (!outcome.ok) this.metrics.rejected.inc({ reason: outcome.reason });
  }

  // ------------------------------------------------------------ client shards

  private async startShards(): Promise<void> {
    const host = this.options.clientHost ?? '127.0.0.1';
    // Every shard binds the same port with SO_REUSEPORT (listenSecure's sharedPort). Port 0 is
    // resolved here first, and a given port is probed without SO_REUSEPORT, so a server started
    // on a port another still holds fails instead of sharing it (see listen-port.ts).
    const port = await probePort(host, this.options.clientPort);
    if (port === null) throw new Error(`cannot listen on ${host}:${this.options.clientPort}: address in use`);
    const count = Math.max(1, this.options.workers ?? 1);
    for (let index = 0; index < count; index++) await this.startShard(index, host, port);
    this.boundClientPort = port;
  }

  private startShard(index: number, host: string, port: number): Promise<void> {
    const data: IndexShardData = {
      index,
      host,
      port,
      seed: new Uint8Array(this.options.identity.seed),
      counters: this.counters.buffer,
      timeHash: this.core.clock.latest,
      snapshot: this.latestSnapshot,
      bounds: this.core.searchBounds,
      queueMax: this.options.shardQueueMax,
      turnBudgetMs: this.options.shardTurnBudgetMs,
      backlogMax: this.options.shardBacklogMax,
      limits: this.limits,
      admission: this.admission.buffers,
    };
    const worker = fromSource ? new Worker(tsxBootstrap(shardEntry), { eval: true, workerData: data }) : new Worker(fileURLToPath(shardEntry), { workerData: data });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const shard: ShardThread = { index, worker, exited, alive: false };
    this.shards[index] = shard;
    return new Promise((resolve, reject) => {
      let listening = false;
      worker.on('message', (bytes: unknown) => {
        if (!(bytes instanceof Uint8Array)) return;
        const decoded = decodeShardReport(bytes);
        if (!decoded.ok) {
          this.log.error({ shard: index, err: decoded.error.message }, 'undecodable report from a client shard');
          return;
        }
        if (decoded.value.listening && !listening) {
          listening = true;
          shard.alive = true;
          // A snapshot published while the thread started (it ignores one it already has).
          if (this.latestSnapshot !== null) worker.postMessage({ snapshot: this.latestSnapshot });
          resolve();
        }
        this.onShardReport(shard, decoded.value);
      });
      worker.on('error', (err) => {
        this.log.error({ shard: index, err: errorMessage(err) }, 'client shard failed');
        if (!listening) reject(err);
      });
      worker.once('exit', (code) => {
        const wasAlive = shard.alive;
        shard.alive = false;
        if (!listening) reject(new Error(`client shard ${index} exited (${code}) before listening on ${host}:${port}`));
        for (const [tag, at] of this.clients) if (at.shard === index) this.clients.delete(tag);
        if (this.closed || !wasAlive) return;
        // Its connections are gone with it: nothing of theirs may hold admission or counts.
        this.counters.clearConnections(index);
        this.admission.resetRow(index);
        const left = this.liveShards;
        // New connections reach the other shards' listeners (the kernel spreads over those left).
        if (left > 0) this.log.error({ shard: index, code, shardsLeft: left }, 'client shard exited; serving clients on the others');
        else this.log.fatal({ shard: index, code }, 'last client shard exited: no client is served until it is restarted');
        this.restartShard(index, host, port);
      });
    });
  }

  /**
   * Starts a failed shard again after a backoff that doubles with each restart in the last
   * minute; past shardRestartsPerMinute the shard stays down (a shard that fails at once every
   * time would otherwise spin), which is logged fatally.
   */
  private restartShard(index: number, host: string, port: number): void {
    const delay = this.restarts.next(Date.now());
    if (delay === null) {
      this.log.fatal({ shard: index }, 'client shard failed too often in the last minute; not restarting it');
      return;
    }
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.closed) return;
      this.startShard(index, host, port).then(
        () => {
          this.shardRestarts++;
          this.metrics.restarts.inc();
          this.log.info({ shard: index }, 'client shard restarted');
        },
        (err: unknown) => this.log.error({ shard: index, err: errorMessage(err) }, 'client shard restart failed'),
      );
    }, delay);
    this.restartTimers.add(timer);
  }

  private readonly restartTimers = new Set<NodeJS.Timeout>();

  private command(shard: ShardThread, msg: ShardCommandMsg): void {
    if (!shard.alive) return;
    const bytes = encodeShardCommand(msg);
    shard.worker.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
  }

  private onShardReport(shard: ShardThread, report: ShardReportMsg): void {
    for (const { node, conn } of report.opened) {
      if (this.penalisedKeys.size > 0 && this.isPenalised(byteTag(node))) {
        this.keyRefusals++;
        this.metrics.refused.inc({ reason: 'penalised' });
        this.command(shard, { timeHash: null, close: [conn], stop: false });
        continue;
      }
      const tag = tagOf(node);
      const previous = this.clients.get(tag);
      // One connection per key: the newest wins (a reconnecting node is not locked out).
      if (previous !== undefined && (previous.shard !== shard.index || previous.conn !== conn)) {
        const at = this.shards[previous.shard];
        if (at !== undefined) this.command(at, { timeHash: null, close: [previous.conn], stop: false });
      }
      this.clients.set(tag, { shard: shard.index, conn });
    }
    if (report.updates.length > 0) this.counters.consumed(report.updates.length);
    for (const { node, frame } of report.updates) {
      // The report's buffer was transferred to this thread for good, so an update may keep views of it.
      const decoded = decodeClientMessage(frame, { borrow: true });
      if (!decoded.ok || decoded.value.kind !== 'update') {
        // Shards answer every readable route request themselves: what reaches here unreadable is malformed.
        this.countRejection(this.core.rejectUpdate('malformed'));
        continue;
      }
      // One connection per key (the newest wins), so the key names the connection's backlog share.
      const source = byteTag(node);
      if (this.penalisedKeys.size > 0 && this.isPenalised(source)) {
        this.countRejection(this.core.rejectUpdate('penalised'));
        continue;
      }
      this.ingest.submitClient(node, decoded.value.update, (outcome) => this.clientOutcome(node, outcome), source);
    }
    for (const { node, conn } of report.closed) {
      const tag = tagOf(node);
      const at = this.clients.get(tag);
      if (at !== undefined && at.shard === shard.index && at.conn === conn) {
        this.clients.delete(tag);
        this.badSignatures.delete(byteTag(node));
      }
    }
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
    this.latestSnapshot = handle;
    // Posting the handle shares its buffers with each shard: nothing is copied.
    for (const shard of this.shards) if (shard.alive) shard.worker.postMessage({ snapshot: handle });
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
    for (const timer of this.restartTimers) clearTimeout(timer);
    for (const link of this.peers.values()) link.channel.close('server closing');
    this.serverListener?.close();
    await this.stopShards();
    if (this.metricsServer !== null) await new Promise<void>((resolve) => this.metricsServer!.close(() => resolve()));
    await this.ingest.close();
  }

  /** Each shard says goodbye to its clients, closes its listener and ends its thread. */
  private async stopShards(): Promise<void> {
    for (const shard of this.shards) this.command(shard, { timeHash: null, close: [], stop: true });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), SHARD_STOP_MS);
    });
    const outcome = await Promise.race([Promise.all(this.shards.map((s) => s.exited)), timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      // A clean exit needs every socket closed; past the wait this may abort the process, which beats hanging.
      this.log.error('client shards did not stop in time; terminating them');
      await Promise.all(this.shards.map((s) => s.worker.terminate()));
    }
  }
}
