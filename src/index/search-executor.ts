import { encodeServerMessage } from './codec.js';
import { KeyTable } from './graph.js';
import { planRoute, type PlanResult, type RouteView, type SearchBounds, type SearchPlan } from './route-plan.js';
import { Searcher } from './search.js';
import { Snapshot, type SnapshotHandle } from './snapshot.js';
import type { IndexRoute, RequestRoutes } from './types.js';

/**
 * Answers route requests from the newest snapshot it holds: plans them against the snapshot
 * (key lookups, currency, whether both ends report) and searches, producing the finished client
 * frame. Each client shard owns one, so a request is decoded, planned, searched and answered on
 * the thread that owns the client's socket. Also used in-process by tests and the benchmark.
 *
 * Key lookups use a key → id map built from the snapshots' shared key table. Ids are never
 * reused and a key's bytes never change, so a new snapshot only adds the keys after the last
 * one seen (the first snapshot of a large graph costs one pass over its keys).
 */
export class SearchExecutor implements RouteView {
  private snapshot: Snapshot | null = null;
  private reporting: Uint8Array = new Uint8Array(0);
  private readonly ids = new Map<string, number>();
  private readonly searcher = new Searcher();

  get generation(): number {
    return this.snapshot?.generation ?? 0;
  }

  /** The key epoch of the snapshot held: a plan made under another epoch names other nodes. */
  get keyEpoch(): number {
    return this.snapshot?.handle.keyEpoch ?? 0;
  }

  /** Adopts `handle` unless an equal or newer snapshot is already held. */
  install(handle: SnapshotHandle): void {
    if (this.snapshot !== null && handle.generation <= this.snapshot.generation) return;
    const snapshot = new Snapshot(handle);
    // Renumbered keys (dead ones reclaimed): the map is built again rather than extended.
    if (this.snapshot !== null && this.snapshot.handle.keyEpoch !== handle.keyEpoch) this.ids.clear();
    for (let id = this.ids.size; id < handle.keyCount; id++) this.ids.set(KeyTable.tag(snapshot.keyOf(id)), id);
    this.reporting = new Uint8Array(handle.reporting);
    this.snapshot = snapshot;
  }

  knowsCurrency(currency: string): boolean {
    return this.snapshot?.graphs.has(currency) ?? false;
  }

  lookup(key: Uint8Array): number | undefined {
    const id = this.ids.get(KeyTable.tag(key));
    return id !== undefined && id < (this.snapshot?.handle.keyCount ?? 0) ? id : undefined;
  }

  isReporting(id: number): boolean {
    return (this.reporting[id >>> 3] & (1 << (id & 7))) !== 0;
  }

  plan(request: RequestRoutes, bounds: SearchBounds): PlanResult {
    return planRoute(this, request, bounds);
  }

  /** Searches one planned request; the result is the ServerMessage frame to send. */
  answer(request: SearchPlan): Uint8Array {
    const snapshot = this.snapshot;
    const graph = snapshot?.graphs.get(request.currency);
    let routes: IndexRoute[] = [];
    let complete = false;
    let truncated = false;
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
    }
    return encodeServerMessage({ kind: 'routes', response: { requestId: request.requestId, routes, complete, truncated } });
  }
}

/** The answer to a request refused or failed before a search: no routes, with its own id. */
export function emptyAnswer(requestId: Uint8Array): Uint8Array {
  return encodeServerMessage({ kind: 'routes', response: { requestId, routes: [], complete: false, truncated: false } });
}
