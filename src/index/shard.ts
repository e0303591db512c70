import type { MessagePort } from 'node:worker_threads';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Identity } from '../crypto/identity.js';
import type { SecureChannel } from '../transport/transport.js';
import { FlatTable } from '../wire/flat_table.js';
import { ClientBody } from '../wire/generated/offset/index/client-body.js';
import { decodeClientMessage, encodeServerMessage } from './codec.js';
import { Admission, type AdmissionBuffers } from './admission.js';
import { listenClients, type ClientListener } from './client-listener.js';
import type { RouteRejection } from './core.js';
import { DEFAULT_INDEX_LIMITS, type IndexLimits } from './limits.js';
import { FairQueue } from './fair-queue.js';
import { TokenBucket } from './token-bucket.js';
import type { SearchBounds, SearchPlan } from './route-plan.js';
import { emptyAnswer, SearchExecutor } from './search-executor.js';
import type { ShardCounters, ShardRouteRejection } from './shard-counters.js';
import { decodeShardCommand, ShardReportBuilder } from './shard-codec.js';
import type { SnapshotHandle } from './snapshot.js';
import type { RequestRoutes } from './types.js';

/**
 * One client shard of the index server: a worker thread with its own uWS listener on the
 * shared client port (SO_REUSEPORT: the kernel spreads connections over the shards). It runs
 * the authenticated transport responder for its connections and answers their route requests
 * itself, from the newest snapshot it holds (shared buffers the main thread posts: nothing is
 * copied). Everything that changes state goes to the main thread, the single writer: update
 * frames (tagged with the connection's verified key, gathered into one ShardReport per
 * event-loop turn whose buffer is transferred) and connections opened and closed (the main
 * thread keeps one connection per key). The main thread sends each tick's time hash, which the
 * shard passes to its clients.
 *
 * Search work is bounded per turn: requests are answered as they arrive until a turn has spent
 * TURN_BUDGET_MS searching; the rest wait for the next turns, each connection in its own queue
 * and the queues served round robin (one request each in turn), so a connection that floods
 * waits behind itself, not in front of others. Waiting requests are bounded per connection
 * (`searchesPerConnectionMax`), per address over all shards (`searchesPerAddressMax`) and per
 * shard (`queueMax`); beyond, an empty answer and a counted rejection.
 *
 * Admission (src/index/admission.ts) happens before a connection's handshake, per address
 * first; each connection's updates pass a token bucket before they reach the main thread.
 */
export interface IndexShardOptions {
  readonly index: number;
  readonly host: string;
  readonly port: number;
  readonly identity: Identity;
  readonly mainPort: MessagePort;
  readonly counters: ShardCounters;
  readonly timeHash: Uint8Array;
  readonly snapshot: SnapshotHandle | null;
  readonly bounds: SearchBounds;
  /** Route requests waiting on this shard. Default 4,096. */
  readonly queueMax?: number;
  /** Update frames handed to the main thread and not yet taken in, all shards together. Default 16,384. */
  readonly backlogMax?: number;
  /** Search time a turn may spend (default 5 ms); negative queues every request (tests of the bounds). */
  readonly turnBudgetMs?: number;
  /** Default DEFAULT_INDEX_LIMITS. */
  readonly limits?: IndexLimits;
  /** Shared with the other shards; default a table of this shard's own (one-shard servers). */
  readonly admission?: AdmissionBuffers;
  readonly logger: Logger;
}

interface Client {
  readonly id: number;
  readonly channel: SecureChannel;
  readonly key: Uint8Array;
  /** Address bucket the connection is counted under (src/index/admission.ts). */
  readonly bucket: number;
  readonly updates: TokenBucket;
}

interface Pending {
  readonly client: Client;
  readonly request: RequestRoutes;
  readonly plan: SearchPlan;
  /** The key epoch the plan's node ids belong to (a reclaim renumbers them). */
  readonly keyEpoch: number;
  readonly startedMs: number;
}

/** Searching a turn may do before the remaining requests wait for the next turn. */
const TURN_BUDGET_MS = 5;

/** The union type of a ClientMessage without reading the rest (0 when unreadable). */
function clientBodyType(frame: Uint8Array): number {
  try {
    return FlatTable.root(frame).u8(0);
  } catch {
    return ClientBody.NONE;
  }
}

export class IndexShard {
  private listener: ClientListener | null = null;
  private readonly admission: Admission;
  private readonly limits: IndexLimits;
  /** Requests waiting for a search, per connection, served one request each in turn. */
  private readonly waiting = new FairQueue<Client, Pending>();
  private readonly clients = new Map<number, Client>();
  private nextId = 1;
  private readonly executor = new SearchExecutor();
  private timeFrame: Uint8Array;
  private report = new ShardReportBuilder();
  private reportScheduled = false;
  private turnOpen = false;
  private turnStartMs = 0;
  private stopped = false;
  private readonly queueMax: number;
  private readonly backlogMax: number;
  private readonly turnBudgetMs: number;
  private readonly log: Logger;

  constructor(private readonly o: IndexShardOptions) {
    this.queueMax = o.queueMax ?? 4096;
    this.backlogMax = o.backlogMax ?? 16_384;
    this.turnBudgetMs = o.turnBudgetMs ?? TURN_BUDGET_MS;
    this.log = o.logger;
    this.limits = o.limits ?? DEFAULT_INDEX_LIMITS;
    this.admission = o.admission === undefined ? new Admission(Admission.create(1), 0, this.limits) : new Admission(o.admission, o.index, this.limits);
    this.timeFrame = encodeServerMessage({ kind: 'time', hash: o.timeHash });
    if (o.snapshot !== null) this.executor.install(o.snapshot);
    o.mainPort.on('message', (data: unknown) => this.fromMain(data));
  }

  async start(): Promise<number> {
    this.listener = await listenClients({
      host: this.o.host,
      port: this.o.port,
      identity: this.o.identity,
      admission: this.admission,
      sendBufferBytesMax: this.limits.sendBufferBytesMax,
      onChannel: (channel, bucket) => this.onChannel(channel, bucket),
      onRefused: (reason) => this.o.counters.refused(reason),
    });
    this.report.markListening();
    this.sendReport();
    return this.listener.port;
  }

  // ------------------------------------------------------------ main thread

  private fromMain(data: unknown): void {
    if (data instanceof Uint8Array) {
      const decoded = decodeShardCommand(data);
      if (!decoded.ok) {
        this.log.error({ err: decoded.error.message }, 'undecodable command from the main thread');
        return;
      }
      const { timeHash, close, stop } = decoded.value;
      if (timeHash !== null) {
        this.timeFrame = encodeServerMessage({ kind: 'time', hash: timeHash });
        for (const client of this.clients.values()) client.channel.send(this.timeFrame);
      }
      for (const id of close) this.clients.get(id)?.channel.close('replaced');
      if (stop) this.stop();
      return;
    }
    // Rare messages travel as plain objects: snapshots and penalties.
    const message = data as { snapshot?: SnapshotHandle; penalise?: number } | null;
    if (message?.snapshot !== undefined) this.executor.install(message.snapshot);
    if (message?.penalise !== undefined) this.penalise(message.penalise);
  }

  /** The main thread judged the connection abusive: cut it and refuse its address for a while. */
  private penalise(id: number): void {
    const client = this.clients.get(id);
    if (client === undefined) return;
    this.admission.penalise(client.bucket, Date.now());
    client.channel.close('penalised');
  }

  private scheduleReport(): void {
    if (this.reportScheduled) return;
    this.reportScheduled = true;
    setImmediate(() => {
      this.reportScheduled = false;
      this.sendReport();
    });
  }

  private sendReport(): void {
    if (this.report.empty) return;
    const updates = this.report.updateCount;
    const bytes = this.report.finish();
    if (updates > 0) this.o.counters.forwarded(updates);
    this.o.mainPort.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
  }

  // ------------------------------------------------------------ clients

  private onChannel(channel: SecureChannel, bucket: number): void {
    if (this.stopped) {
      channel.close('server closing');
      return;
    }
    const limits = this.limits;
    const client: Client = {
      id: this.allocateId(),
      channel,
      key: channel.remoteKey,
      bucket,
      updates: new TokenBucket(limits.updatesPerSecond, limits.updateBurst, performance.now()),
    };
    this.clients.set(client.id, client);
    this.o.counters.connectionOpened();
    this.report.addOpened(client.key, client.id);
    this.scheduleReport();
    channel.send(this.timeFrame);
    channel.onFrame((frame) => {
      try {
        this.onFrame(client, frame);
      } catch (err) {
        // Input never takes a shard down; a frame that throws is a bug to see in the logs.
        this.log.error({ err: errorMessage(err) }, 'client frame handling failed');
      }
    });
    channel.onClose(() => {
      this.clients.delete(client.id);
      this.dropWaiting(client);
      this.o.counters.connectionClosed();
      if (!this.stopped) {
        this.report.addClosed(client.key, client.id);
        this.scheduleReport();
      }
    });
  }

  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
      if (!this.clients.has(id)) return id;
    }
  }

  private onFrame(client: Client, frame: Uint8Array): void {
    if (clientBodyType(frame) === ClientBody.RequestRoutes) {
      const decoded = decodeClientMessage(frame);
      if (decoded.ok && decoded.value.kind === 'routes') {
        this.route(client, decoded.value.request);
        return;
      }
    }
    // Updates, and anything unreadable, go to the main thread, which decodes them and counts
    // the unreadable ones (update rejection "malformed"), as one thread did before sharding.
    if (!client.updates.take(performance.now())) {
      this.o.counters.updateRateExceeded();
      return;
    }
    if (this.o.counters.backlog() + this.report.updateCount >= this.backlogMax) {
      this.o.counters.shed();
      return;
    }
    this.report.addUpdate(client.key, frame);
    this.scheduleReport();
  }

  private refuse(client: Client, requestId: Uint8Array, reason: RouteRejection | ShardRouteRejection): void {
    this.o.counters.rejected(reason);
    client.channel.send(emptyAnswer(requestId));
  }

  private route(client: Client, request: RequestRoutes): void {
    const startedMs = performance.now();
    this.o.counters.query();
    if (this.waiting.sizeOf(client) >= this.limits.searchesPerConnectionMax) {
      this.refuse(client, request.requestId, 'too-many-open');
      return;
    }
    if (!this.admission.searchTimeLeft(client.bucket, startedMs)) {
      this.refuse(client, request.requestId, 'address-search-time');
      return;
    }
    const plan = this.executor.plan(request, this.o.bounds);
    if (!plan.ok) {
      this.refuse(client, request.requestId, plan.reason);
      return;
    }
    if (this.waiting.size === 0 && !this.overBudget()) {
      this.answer(client, plan.search, startedMs);
      return;
    }
    if (this.waiting.size >= this.queueMax) {
      this.refuse(client, request.requestId, 'search-queue-full');
      return;
    }
    if (!this.admission.searchStarted(client.bucket)) {
      this.refuse(client, request.requestId, 'address-searches');
      return;
    }
    this.waiting.push(client, { client, request, plan: plan.search, keyEpoch: this.executor.keyEpoch, startedMs });
    this.overBudget(); // makes sure a turn is open, whose end drains the queues
  }

  /** A closed connection's waiting requests are dropped, and their address slots returned. */
  private dropWaiting(client: Client): void {
    for (const _ of this.waiting.drop(client)) this.admission.searchEnded(client.bucket);
  }

  /** Opens a turn on first use (its end drains the queue); true once the turn spent its budget. */
  private overBudget(): boolean {
    const now = performance.now();
    if (!this.turnOpen) {
      this.turnOpen = true;
      this.turnStartMs = now;
      setImmediate(() => {
        this.turnOpen = false;
        this.drain();
      });
    }
    return now - this.turnStartMs > this.turnBudgetMs;
  }

  /**
   * Answers waiting requests round robin over the connections: one request of the connection at
   * the ring's head, which goes to the back if it has more; at least one per turn, then while
   * the budget lasts.
   */
  private drain(): void {
    for (;;) {
      const next = this.waiting.shift();
      if (next === undefined) break;
      this.admission.searchEnded(next.owner.bucket);
      if (next.owner.channel.isOpen) this.answerPending(next.item);
      if (this.overBudget()) break;
    }
  }

  /** A waiting request, planned again when the snapshot's key ids were renumbered meanwhile. */
  private answerPending(next: Pending): void {
    if (!this.admission.searchTimeLeft(next.client.bucket, performance.now())) {
      this.refuse(next.client, next.request.requestId, 'address-search-time');
      return;
    }
    if (next.keyEpoch === this.executor.keyEpoch) {
      this.answer(next.client, next.plan, next.startedMs);
      return;
    }
    const plan = this.executor.plan(next.request, this.o.bounds);
    if (plan.ok) this.answer(next.client, plan.search, next.startedMs);
    else this.refuse(next.client, next.request.requestId, plan.reason);
  }

  private answer(client: Client, plan: SearchPlan, startedMs: number): void {
    let frame: Uint8Array;
    const searchStartedMs = performance.now();
    try {
      frame = this.executor.answer(plan);
    } catch (err) {
      this.o.counters.rejected('search-failed');
      this.log.warn({ err: errorMessage(err) }, 'search failed');
      frame = emptyAnswer(plan.requestId);
    }
    const now = performance.now();
    this.admission.searchSpent(client.bucket, now - searchStartedMs);
    client.channel.send(frame);
    this.o.counters.latency((now - startedMs) / 1000);
  }

  // ------------------------------------------------------------ stopping

  /**
   * Ends every connection (open channels say goodbye) and the listener, sends what is left to
   * the main thread and lets go of its port: with no handle left the thread ends on its own
   * (a uWS thread must not be terminated with sockets open: that aborts the process).
   */
  stop(options: { force?: boolean } = {}): void {
    if (this.stopped) return;
    this.stopped = true;
    this.listener?.close(options);
    for (const client of this.clients.values()) this.dropWaiting(client);
    this.sendReport();
    this.o.mainPort.close();
  }
}
