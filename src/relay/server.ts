import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Identity } from '../crypto/identity.js';
import type { Logger } from '../common/log.js';
import { probePort } from '../transport/listen-port.js';
import { decodeWorkerMessage, encodeWorkerMessage, type WorkerMsg } from './codec.js';
import type { RelayConfig } from './config.js';
import { RelayListenError } from './errors.js';
import { MatchingCore, type CoreEffect } from './matching_core.js';
import { SharedCounters } from './shared_counters.js';

/**
 * The relay's main thread: starts one shard per worker thread on the shared port, owns the
 * matching core (and with it the directory of which worker holds which listener key), carries
 * out the core's effects by messaging the shards, gathers statistics, and drains on request.
 *
 * Why the core lives here rather than in shared memory: matches are rare next to frames (one per
 * tunnel, against thousands of frames per tunnel), so a single writer on its own thread keeps the
 * directory consistent by construction (no cross-worker races on "who listens for K", no
 * locking) at the cost of one thread hop per connection set-up. The data plane never passes
 * through this thread: shards talk to each other directly over MessagePorts.
 */

export interface RelayServerOptions {
  identity: Identity;
  host: string;
  port: number;
  config: RelayConfig;
  logger: Logger;
}

export interface WorkerStatsSnapshot {
  worker: number;
  [key: string]: unknown;
}

export interface RelayWorkerData {
  workerIndex: number;
  host: string;
  port: number;
  config: RelayConfig;
  counters: SharedArrayBuffer;
  seed: Uint8Array;
  peerPorts: (MessagePort | null)[];
}

const CORE_TICK_MS = 250;

const STATS_TIMEOUT_MS = 2_000;

const fromSource = import.meta.url.endsWith('.ts');

function workerEntry(): URL {
  return new URL(`../../workers/relay_worker.${fromSource ? 'ts' : 'js'}`, import.meta.url);
}

/**
 * Run from TypeScript sources (tests, benchmarks), a worker thread does not inherit the tsx
 * loader from the main thread on Node 20, so it registers tsx itself before importing the entry.
 */
function tsxBootstrap(entry: URL): string {
  const api = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
}

export class RelayServer {
  readonly counters = SharedCounters.create();
  private readonly core: MatchingCore;
  private readonly workers: Worker[] = [];
  private readonly exits: Promise<void>[] = [];
  private coreTimer: NodeJS.Timeout | null = null;
  private statsWaiters: ((s: WorkerStatsSnapshot) => void)[] = [];
  private readonly lastStats = new Map<number, WorkerStatsSnapshot>();
  private boundPort = 0;
  private state: 'starting' | 'running' | 'draining' | 'stopped' = 'starting';
  private readonly startedMs = performance.now();

  private constructor(private readonly o: RelayServerOptions) {
    const { limits, timeouts } = o.config;
    this.core = new MatchingCore({
      connectTimeoutMs: timeouts.connectMs,
      pendingPerListenerMax: limits.pendingPerListenerMax,
      pendingTotalMax: limits.pendingTotalMax,
    });
  }

  static async start(o: RelayServerOptions): Promise<RelayServer> {
    const server = new RelayServer(o);
    try {
      await server.spawn();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get port(): number {
    return this.boundPort;
  }

  get publicKey(): Uint8Array {
    return this.o.identity.publicKey;
  }

  get workerCount(): number {
    return this.workers.length;
  }

  get status(): string {
    return this.state;
  }

  private async spawn(): Promise<void> {
    const n = this.o.config.workers;
    // A full mesh of ports between shards, for tunnel frames that cross workers.
    const ports: (MessagePort | null)[][] = Array.from({ length: n }, () => new Array<MessagePort | null>(n).fill(null));
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) {
        const channel = new MessageChannel();
        ports[a][b] = channel.port1;
        ports[b][a] = channel.port2;
      }
    }
    // Every shard binds the same explicit port with SO_REUSEPORT. uWS neither shares a port it
    // was asked to choose itself nor gives it SO_REUSEADDR (without which the relay's closed
    // connections would keep a restart off the port for a minute, see listen-port.ts), so port 0
    // is first resolved to a free port. A given port is probed without SO_REUSEPORT first, so a
    // relay started on a port another server still holds fails instead of sharing it.
    const port = await probePort(this.o.host, this.o.port);
    if (port === null) throw new RelayListenError(`cannot listen on ${this.o.host}:${this.o.port}: address in use`);
    for (let index = 0; index < n; index++) await this.spawnWorker(index, port, ports[index]);
    this.boundPort = port;
    this.coreTimer = setInterval(() => this.apply(this.core.step({ type: 'tick' }, performance.now())), CORE_TICK_MS);
    this.state = 'running';
  }

  private spawnWorker(index: number, port: number, peerPorts: (MessagePort | null)[]): Promise<number> {
    const data: RelayWorkerData = {
      workerIndex: index, host: this.o.host, port, config: this.o.config, counters: this.counters.buffer,
      seed: new Uint8Array(this.o.identity.seed), peerPorts,
    };
    const transfer = peerPorts.filter((p): p is MessagePort => p !== null);
    const worker = fromSource
      ? new Worker(tsxBootstrap(workerEntry()), { eval: true, workerData: data, transferList: transfer })
      : new Worker(fileURLToPath(workerEntry()), { workerData: data, transferList: transfer });
    this.workers.push(worker);
    this.exits.push(new Promise((resolve) => worker.once('exit', () => resolve())));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      worker.once('error', onError);
      worker.on('message', (bytes: Uint8Array) => {
        const decoded = decodeWorkerMessage(bytes);
        if (!decoded.ok) {
          this.o.logger.error({ worker: index, err: decoded.error.message }, 'undecodable message from a shard');
          return;
        }
        const msg = decoded.value;
        if (msg.kind === 'listening') {
          worker.off('error', onError);
          worker.on('error', (err) => this.o.logger.error({ worker: index, err: err.message }, 'relay shard failed'));
          resolve(msg.port);
          return;
        }
        this.fromWorker(msg);
      });
    });
  }

  private fromWorker(msg: WorkerMsg): void {
    const now = performance.now();
    switch (msg.kind) {
      case 'conn-init': {
        const { conn, key, init } = msg;
        if (init.kind === 'listen') this.apply(this.core.step({ type: 'listen', conn, key }, now));
        else if (init.kind === 'connect') this.apply(this.core.step({ type: 'connect', conn, key, target: init.target }, now));
        else if (init.kind === 'accept') this.apply(this.core.step({ type: 'accept', conn, key, caller: init.caller }, now));
        return;
      }
      case 'listener-reject':
        this.apply(this.core.step({ type: 'reject', conn: msg.conn, caller: msg.caller }, now));
        return;
      case 'conn-gone':
        this.apply(this.core.step({ type: 'gone', conn: msg.conn }, now));
        return;
      case 'stats': {
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(msg.json) as Record<string, unknown>;
        } catch {
          return;
        }
        const snapshot: WorkerStatsSnapshot = { ...parsed, worker: msg.worker };
        this.lastStats.set(msg.worker, snapshot);
        const waiters = this.statsWaiters;
        this.statsWaiters = [];
        for (const w of waiters) w(snapshot);
        return;
      }
      default:
        this.o.logger.error({ kind: msg.kind }, 'unexpected message from a shard');
    }
  }

  private apply(effects: CoreEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'notify':
          this.send(e.conn.worker, { kind: 'notify', conn: e.conn, caller: e.caller });
          break;
        case 'splice':
          this.send(e.caller.worker, { kind: 'splice', conn: e.caller, peer: e.callee, peerKey: e.calleeKey });
          this.send(e.callee.worker, { kind: 'splice', conn: e.callee, peer: e.caller, peerKey: e.callerKey });
          break;
        case 'end':
          this.send(e.conn.worker, { kind: 'end-conn', conn: e.conn, reason: e.reason });
          break;
      }
    }
  }

  private send(worker: number, msg: WorkerMsg): void {
    this.workers[worker]?.postMessage(encodeWorkerMessage(msg));
  }

  /** Fresh counters from every shard (the last known ones for a shard that does not answer). */
  async workerStats(): Promise<WorkerStatsSnapshot[]> {
    if (this.state === 'running' || this.state === 'draining') {
      const expected = this.workers.length;
      const got = new Map<number, WorkerStatsSnapshot>();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, STATS_TIMEOUT_MS);
        const waiter = (s: WorkerStatsSnapshot): void => {
          got.set(s.worker, s);
          if (got.size >= expected) {
            clearTimeout(timer);
            resolve();
          } else this.statsWaiters.push(waiter);
        };
        this.statsWaiters.push(waiter);
        for (let w = 0; w < expected; w++) this.send(w, { kind: 'stats-request' });
      });
    }
    return [...this.lastStats.values()].sort((a, b) => a.worker - b.worker);
  }

  coreStats(): ReturnType<MatchingCore['stats']> {
    return this.core.stats();
  }

  uptimeMs(): number {
    return performance.now() - this.startedMs;
  }

  /** Stops accepting, tells clients, closes everything after `graceMs`, then stops the shards. */
  async drain(graceMs = this.o.config.timeouts.drainGraceMs): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'draining';
    for (let w = 0; w < this.workers.length; w++) this.send(w, { kind: 'drain', graceMs });
    await new Promise((resolve) => setTimeout(resolve, graceMs + 100));
    await this.stop();
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.coreTimer !== null) clearInterval(this.coreTimer);
    for (let w = 0; w < this.workers.length; w++) this.send(w, { kind: 'stop' });
    const all = Promise.all(this.exits);
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5_000).unref());
    if ((await Promise.race([all, timeout])) === 'timeout') {
      this.o.logger.warn('relay shards did not exit in time; terminating them');
      await Promise.all(this.workers.map((w) => w.terminate()));
    }
  }
}
