import { OffsetError, errorMessage } from '../common/errors.js';
import { toHex } from '../common/bytes.js';
import { type Logger, silentLogger } from '../common/log.js';
import type { Identity } from '../crypto/identity.js';
import { randomBytes } from '../crypto/primitives.js';
import { connectSecure, type SecureChannel } from '../transport/transport.js';
import { decodeServerMessage, encodeClientMessage } from './codec.js';
import { MAX_MUTATIONS_PER_UPDATE, NODE_TIMEOUT_TICKS } from './constants.js';
import { signMutationsUpdate } from './signing.js';
import type { ExcludedEdge, IndexMutation, ResponseRoutes } from './types.js';

/**
 * Index client used by a node: one server at a time from a list (rotating after a failure),
 * a session per connection (ordered epoch, fresh id, counter from 1) that starts with the
 * first time hash, the node's full table on every new session, its changes as they happen,
 * a refresh of the whole table that keeps the node inside the server's TTL, and route requests
 * with a timeout and a cap on open requests. The refresh counts the server's own ticks (one time
 * message each), so it keeps pace with a server of any tick length, and with a busy machine that
 * slows both down.
 */
export class IndexClientError extends OffsetError {}

export interface IndexServerAddress {
  readonly publicKey: Uint8Array;
  readonly address: string;
}

export interface IndexClientOptions {
  readonly identity: Identity;
  readonly servers: readonly IndexServerAddress[];
  readonly backoffMs?: number;
  readonly requestTimeoutMs?: number;
  readonly maxOpenRequests?: number;
  /** Send something at least this often so the server keeps the node (its TTL is 60 ticks). */
  readonly refreshMs?: number;
  /** Resend the table after this many server ticks without an update (default a quarter of its TTL). */
  readonly refreshTicks?: number;
  readonly logger?: Logger;
}

export interface RouteQuery {
  readonly currency: string;
  readonly amount: bigint;
  readonly source: Uint8Array;
  readonly destination: Uint8Array;
  readonly exclude?: ExcludedEdge | null;
  readonly maxHops?: number;
  readonly maxFee?: bigint | null;
  readonly maxRoutes?: number;
}

interface Pending {
  resolve: (response: ResponseRoutes) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

const entryKey = (m: IndexMutation) => `${toHex(m.friend)}/${m.currency}`;

export class IndexClient {
  private channel: SecureChannel | null = null;
  private server: IndexServerAddress | null = null;
  private timeHash: Uint8Array | null = null;
  private sessionEpoch = 0n;
  private sessionId: Uint8Array = new Uint8Array(16);
  private counter = 0n;
  private serverIndex = 0;
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private lastSentMs = 0;
  /** Server ticks since the whole table was last sent: other updates do not renew the reports they leave out. */
  private ticksSinceRefresh = 0;
  /** The node's current reports: friend/currency → update. */
  private readonly table = new Map<string, IndexMutation>();
  private readonly pending = new Map<string, Pending>();
  private readonly log: Logger;
  private sessionWaiters: (() => void)[] = [];

  constructor(private readonly options: IndexClientOptions) {
    this.log = options.logger ?? silentLogger;
  }

  /** The key of the server of the current session (null without one), for the node's report. */
  get connectedServer(): Uint8Array | null {
    return this.ready && this.server !== null ? this.server.publicKey : null;
  }

  /** True once a session is up (connected and a time hash received). */
  get ready(): boolean {
    return this.channel !== null && this.timeHash !== null;
  }

  start(): void {
    this.connect();
    const refreshMs = this.options.refreshMs ?? 20_000;
    // Every refresh resends the whole table, counted in server ticks (see onFrame) and at least
    // every `refreshMs`, so both the node's TTL and each report's own (20 node TTLs) are renewed.
    this.refreshTimer = setInterval(() => {
      if (this.ready && performance.now() - this.lastSentMs >= refreshMs) this.sendRefresh();
    }, Math.max(10, Math.floor(refreshMs / 4)));
  }

  /** Resolves when a session is up. */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.sessionWaiters.push(resolve));
  }

  private connect(): void {
    if (this.closed || this.options.servers.length === 0) return;
    const server = this.options.servers[this.serverIndex % this.options.servers.length];
    this.serverIndex++;
    connectSecure(`ws://${server.address}/`, {
      identity: this.options.identity,
      expectedRemoteKey: server.publicKey,
      purpose: 'index-client',
      connectTimeoutMs: 5000,
    }).then(
      (channel) => {
        if (this.closed) {
          channel.close('client closed');
          return;
        }
        this.channel = channel;
        this.server = server;
        this.timeHash = null;
        channel.onFrame((frame) => this.onFrame(frame));
        channel.onClose(() => this.onDisconnect());
      },
      (err: unknown) => {
        this.log.debug({ err: errorMessage(err) }, 'index server connect failed');
        this.scheduleReconnect();
      },
    );
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, this.options.backoffMs ?? 8000);
  }

  private onDisconnect(): void {
    this.channel = null;
    this.server = null;
    this.timeHash = null;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new IndexClientError('ERR_INDEX_DISCONNECTED', 'index server disconnected'));
      this.pending.delete(id);
    }
    this.scheduleReconnect();
  }

  private onFrame(frame: Uint8Array): void {
    const decoded = decodeServerMessage(frame);
    if (!decoded.ok) {
      this.log.warn({ err: decoded.error.message }, 'bad frame from index server');
      return;
    }
    const msg = decoded.value;
    if (msg.kind === 'time') {
      const first = this.timeHash === null;
      this.timeHash = msg.hash;
      if (first) this.startSession();
      else if (++this.ticksSinceRefresh >= (this.options.refreshTicks ?? Math.floor(NODE_TIMEOUT_TICKS / 4))) this.sendRefresh();
      return;
    }
    const id = toHex(msg.response.requestId);
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(msg.response);
  }

  private startSession(): void {
    // Epochs only grow, even if the wall clock steps back, so a new session always wins.
    const now = BigInt(Date.now());
    this.sessionEpoch = now > this.sessionEpoch ? now : this.sessionEpoch + 1n;
    this.sessionId = randomBytes(16);
    this.counter = 0n;
    this.sendRefresh();
    const waiters = this.sessionWaiters;
    this.sessionWaiters = [];
    for (const w of waiters) w();
  }

  private send(mutations: IndexMutation[]): boolean {
    if (this.channel === null || this.timeHash === null) return false;
    const update = signMutationsUpdate(this.options.identity, {
      mutations,
      timeHash: this.timeHash,
      sessionEpoch: this.sessionEpoch,
      sessionId: this.sessionId,
      counter: ++this.counter,
      randNonce: randomBytes(16),
    });
    this.lastSentMs = performance.now();
    return this.channel.send(encodeClientMessage({ kind: 'update', update }));
  }

  /**
   * The whole table: keeps the node alive, and a server (or a federated peer) that lost some of
   * its entries has all of them again within one refresh.
   */
  private sendRefresh(): void {
    this.ticksSinceRefresh = 0;
    if (this.table.size === 0) this.send([]);
    else this.refreshAll();
  }

  /** Records the node's changes and sends them now if a session is up (else on the next one). */
  update(mutations: readonly IndexMutation[]): boolean {
    for (const m of mutations) {
      if (m.kind === 'update') this.table.set(entryKey(m), m);
      else this.table.delete(entryKey(m));
    }
    let sent = true;
    for (let i = 0; i < mutations.length; i += MAX_MUTATIONS_PER_UPDATE) sent = this.send(mutations.slice(i, i + MAX_MUTATIONS_PER_UPDATE)) && sent;
    return sent && this.ready;
  }

  /** Resends the whole table now. */
  refreshAll(): void {
    this.ticksSinceRefresh = 0;
    const entries = [...this.table.values()];
    for (let i = 0; i < entries.length; i += MAX_MUTATIONS_PER_UPDATE) this.send(entries.slice(i, i + MAX_MUTATIONS_PER_UPDATE));
  }

  requestRoutes(query: RouteQuery): Promise<ResponseRoutes> {
    if (!this.ready || this.channel === null) return Promise.reject(new IndexClientError('ERR_INDEX_DISCONNECTED', 'no index server session'));
    if (this.pending.size >= (this.options.maxOpenRequests ?? 8)) {
      return Promise.reject(new IndexClientError('ERR_INDEX_TOO_MANY_REQUESTS', 'too many open route requests'));
    }
    const requestId = randomBytes(16);
    const id = toHex(requestId);
    const channel = this.channel;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new IndexClientError('ERR_INDEX_TIMEOUT', 'route request timed out'));
      }, this.options.requestTimeoutMs ?? 10_000);
      this.pending.set(id, { resolve, reject, timer });
      channel.send(
        encodeClientMessage({
          kind: 'routes',
          request: {
            requestId,
            currency: query.currency,
            amount: query.amount,
            source: query.source,
            destination: query.destination,
            exclude: query.exclude ?? null,
            maxHops: query.maxHops ?? 0,
            maxFee: query.maxFee ?? null,
            maxRoutes: query.maxRoutes ?? 0,
          },
        }),
      );
    });
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.refreshTimer !== null) clearInterval(this.refreshTimer);
    this.channel?.close('client closed');
    this.channel = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new IndexClientError('ERR_INDEX_CLOSED', 'index client closed'));
    }
    this.pending.clear();
  }
}
