import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { randomBytes } from '../crypto/primitives.js';
import { toHex } from '../common/bytes.js';
import { OffsetError } from '../common/errors.js';
import { decodeSearchBatchResponse, encodeSearchBatch, type SearchRequestMsg, type SearchResponseMsg } from './codec.js';
import { SEARCH_BATCH_MAX } from './constants.js';
import type { SearchTaskResult } from './search-executor.js';
import type { SnapshotHandle } from './snapshot.js';

/**
 * The pool of search workers. A new snapshot is broadcast once to every worker (shared
 * buffers: nothing is copied); queries run against the newest snapshot a worker holds, so
 * compaction never waits for queries and queries never wait for compaction.
 *
 * Requests are batched: those submitted in one event-loop turn go to the workers as a few
 * SearchBatch tasks (one message each way per batch, buffers transferred), spread over the
 * workers that are idle. Each worker runs at most one batch and has at most one more waiting,
 * so under load requests gather here while the workers are busy and leave in larger batches;
 * at low load a request goes out alone in the turn it arrived.
 */
const defaultWorkerFile = (() => {
  const ts = import.meta.url.endsWith('.ts');
  return new URL(`../../workers/index_search.${ts ? 'ts' : 'js'}`, import.meta.url).href;
})();

export class SearchPoolError extends OffsetError {
  constructor(code: 'ERR_INDEX_SEARCH_QUEUE_FULL' | 'ERR_INDEX_SEARCH_FAILED' | 'ERR_INDEX_SEARCH_CLOSED', message: string) {
    super(code, message);
  }
}

/** Called once per submitted request, with its own response or the error that prevented one. */
export type SearchDone = (answer: SearchResponseMsg | SearchPoolError) => void;

export interface SearchPoolOptions {
  /** Requests waiting for a worker; submit() refuses beyond this. */
  readonly queueMax?: number;
  /** Requests in one batch (at most SEARCH_BATCH_MAX). */
  readonly batchMax?: number;
  /** Worker entry file (tests substitute failing workers). */
  readonly workerFile?: string;
}

interface Pending {
  readonly request: SearchRequestMsg;
  readonly done: SearchDone;
}

export interface SearchPoolStats {
  batches: number;
  requests: number;
  failedBatches: number;
  failedRequests: number;
}

export class SearchPool {
  private readonly pool: Piscina;
  private readonly channel: BroadcastChannel;
  private latest: SnapshotHandle | null = null;
  private pending: Pending[] = [];
  private inFlight = 0;
  private readonly inFlightMax: number;
  private readonly queueMax: number;
  private readonly batchMax: number;
  private flushScheduled = false;
  private closed = false;
  readonly stats: SearchPoolStats = { batches: 0, requests: 0, failedBatches: 0, failedRequests: 0 };

  constructor(
    readonly workers: number,
    options: SearchPoolOptions = {},
  ) {
    this.queueMax = options.queueMax ?? 4096;
    this.batchMax = Math.max(1, Math.min(options.batchMax ?? 64, SEARCH_BATCH_MAX));
    this.inFlightMax = 2 * workers;
    const snapshotChannel = `offset-index-snapshots:${toHex(randomBytes(8))}`;
    this.channel = new BroadcastChannel(snapshotChannel);
    this.pool = new Piscina({
      filename: options.workerFile ?? defaultWorkerFile,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: Infinity,
      // The pool never hands piscina more than two batches per worker.
      maxQueue: this.inFlightMax,
      concurrentTasksPerWorker: 2,
      // With sync atomics an idle worker parks outside its event loop, so a broadcast may wait;
      // the generation each batch carries makes a lagging worker ask for the snapshot instead.
      atomics: 'sync',
      workerData: { snapshotChannel },
    });
  }

  /** Requests waiting for a worker. */
  get queued(): number {
    return this.pending.length;
  }

  publish(handle: SnapshotHandle): void {
    this.latest = handle;
    this.channel.postMessage(handle);
  }

  /**
   * Queues one request for the next batch; `done` is called exactly once with its response.
   * False (and `done` is never called) when the queue is full or the pool is closed.
   */
  submit(request: SearchRequestMsg, done: SearchDone): boolean {
    if (this.closed || this.pending.length >= this.queueMax) return false;
    this.pending.push({ request, done });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.dispatch();
      });
    }
    return true;
  }

  /** One request as a promise (tests and callers off the hot path). */
  search(request: SearchRequestMsg): Promise<SearchResponseMsg> {
    return new Promise((resolve, reject) => {
      const queued = this.submit(request, (answer) => (answer instanceof SearchPoolError ? reject(answer) : resolve(answer)));
      if (!queued) reject(new SearchPoolError(this.closed ? 'ERR_INDEX_SEARCH_CLOSED' : 'ERR_INDEX_SEARCH_QUEUE_FULL', 'search queue full'));
    });
  }

  /**
   * Sends what is pending: first one batch to each idle worker (split evenly), then, while
   * requests remain, one batch to queue behind each busy worker.
   */
  private dispatch(): void {
    while (this.pending.length > 0 && this.inFlight < this.inFlightMax && !this.closed) {
      const idle = Math.max(0, this.workers - this.inFlight);
      const slots = idle > 0 ? idle : this.inFlightMax - this.inFlight;
      const take = Math.min(this.batchMax, Math.ceil(this.pending.length / slots));
      const batch = this.pending.length === take ? this.pending : this.pending.slice(0, take);
      this.pending = batch === this.pending ? [] : this.pending.slice(take);
      this.runBatch(batch);
    }
  }

  private runBatch(batch: Pending[]): void {
    this.inFlight++;
    this.stats.batches++;
    this.stats.requests += batch.length;
    this.execute(batch).then(
      (response) => {
        this.inFlight--;
        this.answer(batch, response);
        this.dispatch();
      },
      (err: unknown) => {
        this.inFlight--;
        this.fail(batch, err);
        this.dispatch();
      },
    );
  }

  private async execute(batch: Pending[]): Promise<Uint8Array> {
    const generation = this.latest?.generation ?? 0;
    const encode = () => encodeSearchBatch({ generation, requests: batch.map((p) => p.request) });
    const bytes = encode();
    // The buffer is transferred, not copied (encodeSearchBatch returns a buffer of its own).
    const first = (await this.pool.run({ batch: bytes }, { transferList: [bytes.buffer as ArrayBuffer] })) as SearchTaskResult;
    if (first instanceof Uint8Array) return first;
    // This worker has not seen the newest snapshot yet (rare): hand it over with the batch.
    const again = encode();
    const second = (await this.pool.run({ batch: again, snapshot: this.latest ?? undefined }, { transferList: [again.buffer as ArrayBuffer] })) as SearchTaskResult;
    if (second instanceof Uint8Array) return second;
    throw new Error('worker refused the snapshot handed over with the batch');
  }

  private answer(batch: Pending[], responseBytes: Uint8Array): void {
    const decoded = decodeSearchBatchResponse(responseBytes);
    if (!decoded.ok || decoded.value.length !== batch.length) {
      this.fail(batch, decoded.ok ? new Error(`worker answered ${decoded.value.length} of ${batch.length} requests`) : decoded.error);
      return;
    }
    const responses = decoded.value;
    for (let i = 0; i < batch.length; i++) {
      const response = responses[i];
      if (response.failed) {
        this.stats.failedRequests++;
        batch[i].done(new SearchPoolError('ERR_INDEX_SEARCH_FAILED', 'the search of this request failed'));
      } else {
        batch[i].done(response);
      }
    }
  }

  private fail(batch: Pending[], err: unknown): void {
    this.stats.failedBatches++;
    this.stats.failedRequests += batch.length;
    const message = err instanceof Error ? err.message : String(err);
    for (const p of batch) p.done(new SearchPoolError('ERR_INDEX_SEARCH_FAILED', `search batch failed: ${message}`));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) p.done(new SearchPoolError('ERR_INDEX_SEARCH_CLOSED', 'search pool closed'));
    this.channel.close();
    await this.pool.destroy();
  }
}
