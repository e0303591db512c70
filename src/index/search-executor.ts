import { decodeSearchRequest, encodeSearchResponse, encodeServerMessage } from './codec.js';
import { Searcher } from './search.js';
import { Snapshot, type SnapshotHandle } from './snapshot.js';
import type { IndexRoute } from './types.js';

/**
 * Runs search requests (SearchRequest bytes) against the newest snapshot it holds and answers
 * with SearchResponse bytes whose client frame is the finished ServerMessage, so the main
 * thread sends it on without re-encoding. Used by the search workers and, in-process, by tests
 * and the benchmark.
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

  run(requestBytes: Uint8Array): Uint8Array {
    const started = process.hrtime.bigint();
    const decoded = decodeSearchRequest(requestBytes);
    if (!decoded.ok) {
      // Only the main thread writes these; a bad one is a programmer error, answered empty.
      return encodeSearchResponse({ clientFrame: new Uint8Array(0), routes: 0, work: 0, searchNs: 0, generation: this.generation, truncated: false });
    }
    const request = decoded.value;
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
    return encodeSearchResponse({
      clientFrame,
      routes: routes.length,
      work,
      searchNs: Math.min(searchNs, 0xffffffff),
      generation: this.generation,
      truncated,
    });
  }
}
