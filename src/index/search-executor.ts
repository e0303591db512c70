import {
  decodeSearchBatch,
  encodeSearchBatchResponse,
  encodeServerMessage,
  type SearchRequestMsg,
  type SearchResponseMsg,
} from './codec.js';
import { Searcher } from './search.js';
import { Snapshot, type SnapshotHandle } from './snapshot.js';
import type { IndexRoute } from './types.js';

/** One search-worker task: SearchBatch bytes (a buffer of its own, transferred with the task). */
export interface SearchTask {
  readonly batch: Uint8Array;
  /** Handed over when the worker said it lacks the snapshot the batch needs. */
  readonly snapshot?: SnapshotHandle;
}

/** SearchBatchResponse bytes (transferred back), or a request for the newest snapshot. */
export type SearchTaskResult = Uint8Array | { needSnapshot: true };

/**
 * Runs batches of search requests (SearchBatch bytes) against the newest snapshot it holds and
 * answers with one SearchBatchResponse, each response carrying the finished client frame (a
 * ServerMessage), so the main thread sends it on without re-encoding. Each request is answered
 * on its own: one that cannot be read or whose search throws is answered as failed, and the
 * rest of its batch is unaffected. Used by the search workers and, in-process, by tests.
 */
export class SearchExecutor {
  private snapshot: Snapshot | null = null;
  private readonly searcher = new Searcher();

  get generation(): number {
    return this.snapshot?.generation ?? 0;
  }

  /** Adopts `handle` unless an equal or newer snapshot is already held. */
  install(handle: SnapshotHandle): void {
    if (this.snapshot === null || handle.generation > this.snapshot.generation) this.snapshot = new Snapshot(handle);
  }

  /**
   * Answers every request of the batch, in order; null when the batch needs a newer snapshot
   * than this executor holds (the caller hands one over and runs it again).
   */
  runBatch(batchBytes: Uint8Array): Uint8Array | null {
    const decoded = decodeSearchBatch(batchBytes);
    // Only the main thread writes batches: an unreadable one is a programmer error.
    if (!decoded.ok) throw decoded.error;
    if (this.generation < decoded.value.generation) return null;
    const responses: SearchResponseMsg[] = [];
    for (const request of decoded.value.requests) {
      if (!request.ok) {
        responses.push(this.failed());
        continue;
      }
      try {
        responses.push(this.answer(request.value));
      } catch {
        responses.push(this.failed());
      }
    }
    return encodeSearchBatchResponse(responses);
  }

  private failed(): SearchResponseMsg {
    return { clientFrame: new Uint8Array(0), routes: 0, work: 0, searchNs: 0, generation: this.generation, truncated: false, failed: true };
  }

  /** Searches one request; the response's client frame is the ServerMessage to send. */
  answer(request: SearchRequestMsg): SearchResponseMsg {
    const started = process.hrtime.bigint();
    const snapshot = this.snapshot;
    const graph = snapshot?.graphs.get(request.currency);
    let routes: IndexRoute[] = [];
    let complete = false;
    let truncated = false;
    let work = 0;
    if (snapshot !== null && graph !== undefined) {
      const outcome = this.searcher.search(graph, {
        source: request.source,
        destination: request.destination,
        amount: request.amount,
        excludeFrom: request.excludeFrom,
        excludeTo: request.excludeTo,
        maxHops: request.maxHops,
        maxFee: request.maxFee,
        maxRoutes: request.maxRoutes === 0 ? 4 : request.maxRoutes,
        workMax: request.workMax,
        deadlineMs: request.deadlineUs / 1000,
      });
      routes = outcome.routes.map((r) => ({
        nodes: r.nodes.map((id) => snapshot.keyOf(id)),
        capacity: r.capacity,
        amount: r.amount,
        fee: r.fee,
        forwarderRates: r.forwarderRates,
      }));
      complete = outcome.complete;
      truncated = outcome.truncated;
      work = outcome.work;
    }
    const clientFrame = encodeServerMessage({ kind: 'routes', response: { requestId: request.requestId, routes, complete, truncated } });
    const searchNs = Number(process.hrtime.bigint() - started);
    return {
      clientFrame,
      routes: routes.length,
      work,
      searchNs: Math.min(searchNs, 0xffffffff),
      generation: this.generation,
      truncated,
      failed: false,
    };
  }
}
