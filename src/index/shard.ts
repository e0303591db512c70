import type { MessagePort } from 'node:worker_threads';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Identity } from '../crypto/identity.js';
import { listenSecure, type SecureChannel, type SecureListener } from '../transport/transport.js';
import { FlatTable } from '../wire/flat_table.js';
import { ClientBody } from '../wire/generated/offset/index/client-body.js';
import { decodeClientMessage, encodeServerMessage } from './codec.js';
import { MAX_OPEN_REQUESTS_PER_CLIENT } from './constants.js';
import type { RouteRejection } from './core.js';
import type { SearchBounds, SearchPlan } from './route-plan.js';
import { emptyAnswer, SearchExecutor } from './search-executor.js';
import type { ShardCounters } from './shard-counters.js';
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
 * TURN_BUDGET_MS searching; the rest wait for the next turns, at most
 * MAX_OPEN_REQUESTS_PER_CLIENT per client and `queueMax` in all (beyond: an empty answer and a
 * counted rejection), so one client's burst cannot hold the other connections of its shard.
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
  readonly logger: Logger;
}

interface Client {
  readonly id: number;
  readonly channel: SecureChannel;
  readonly key: Uint8Array;
  open: number;
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
  private listener: SecureListener | null = null;
  private readonly clients = new Map<number, Client>();
  private nextId = 1;
  private readonly executor = new SearchExecutor();
  private timeFrame: Uint8Array;
  private report = new ShardReportBuilder();
  private reportScheduled = false;
  private queue: Pending[] = [];
  private queueHead = 0;
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
    this.timeFrame = encodeServerMessage({ kind: 'time', hash: o.timeHash });
    if (o.snapshot !== null) this.executor.install(o.snapshot);
    o.mainPort.on('message', (data: unknown) => this.fromMain(data));
  }

  async start(): Promise<number> {
    this.listener = await listenSecure({
      host: this.o.host,
      port: this.o.port,
      identity: this.o.identity,
      purpose: 'index-client',
      sharedPort: true,
      onChannel: (channel) => this.onChannel(channel),
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
    const snapshot = (data as { snapshot?: SnapshotHandle } | null)?.snapshot;
    if (snapshot !== undefined) this.executor.install(snapshot);
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

  private onChannel(channel: SecureChannel): void {
    if (this.stopped) {
      channel.close('server closing');
      return;
    }
    const client: Client = { id: this.allocateId(), channel, key: channel.remoteKey, open: 0 };
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
    if (this.o.counters.backlog() + this.report.updateCount >= this.backlogMax) {
      this.o.counters.shed();
      return;
    }
    this.report.addUpdate(client.key, frame);
    this.scheduleReport();
  }

  private refuse(client: Client, requestId: Uint8Array, reason: RouteRejection | 'search-queue-full'): void {
    this.o.counters.rejected(reason);
    client.channel.send(emptyAnswer(requestId));
  }

  private route(client: Client, request: RequestRoutes): void {
    const startedMs = performance.now();
    this.o.counters.query();
    if (client.open >= MAX_OPEN_REQUESTS_PER_CLIENT) {
      this.refuse(client, request.requestId, 'too-many-open');
      return;
    }
    const plan = this.executor.plan(request, this.o.bounds);
    if (!plan.ok) {
      this.refuse(client, request.requestId, plan.reason);
      return;
    }
    if (this.queued === 0 && !this.overBudget()) {
      this.answer(client, plan.search, startedMs);
      return;
    }
    if (this.queued >= this.queueMax) {
      this.refuse(client, request.requestId, 'search-queue-full');
      return;
    }
    client.open++;
    this.queue.push({ client, request, plan: plan.search, keyEpoch: this.executor.keyEpoch, startedMs });
    this.overBudget(); // makes sure a turn is open, whose end drains the queue
  }

  private get queued(): number {
    return this.queue.length - this.queueHead;
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

  /** Answers waiting requests in arrival order: at least one per turn, then while the budget lasts. */
  private drain(): void {
    while (this.queued > 0) {
      const next = this.queue[this.queueHead++];
      next.client.open--;
      if (next.client.channel.isOpen) this.answerPending(next);
      if (this.overBudget()) break;
    }
    if (this.queued === 0) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 1024) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /** A waiting request, planned again when the snapshot's key ids were renumbered meanwhile. */
  private answerPending(next: Pending): void {
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
    try {
      frame = this.executor.answer(plan);
    } catch (err) {
      this.o.counters.rejected('search-failed');
      this.log.warn({ err: errorMessage(err) }, 'search failed');
      frame = emptyAnswer(plan.requestId);
    }
    client.channel.send(frame);
    this.o.counters.latency((performance.now() - startedMs) / 1000);
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
    this.queue = [];
    this.queueHead = 0;
    this.sendReport();
    this.o.mainPort.close();
  }
}
