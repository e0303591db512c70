import { MAX_ROUTE_LEN } from './constants.js';
import type { RouteRejection } from './core.js';
import type { RequestRoutes } from './types.js';
import type { SearchParams } from './search.js';

/** A route request resolved to node ids of one snapshot's key table, with its bounds. */
export interface SearchPlan extends Omit<SearchParams, 'deadlineMs'> {
  readonly requestId: Uint8Array;
  readonly currency: string;
  readonly deadlineUs: number;
}

/** What planning needs to know of the graph: the write side (core) or a snapshot (shards). */
export interface RouteView {
  knowsCurrency(currency: string): boolean;
  lookup(key: Uint8Array): number | undefined;
  isReporting(id: number): boolean;
}

export interface SearchBounds {
  readonly workMax: number;
  readonly deadlineMs: number;
}

export type PlanResult = { ok: true; search: SearchPlan } | { ok: false; reason: RouteRejection };

/** Turns a route request into a search, or the reason it is refused before any search. */
export function planRoute(view: RouteView, request: RequestRoutes, bounds: SearchBounds): PlanResult {
  if (request.amount <= 0n) return { ok: false, reason: 'bad-amount' };
  if (!view.knowsCurrency(request.currency)) return { ok: false, reason: 'unknown-currency' };
  const source = view.lookup(request.source);
  const destination = view.lookup(request.destination);
  if (source === undefined || destination === undefined || !view.isReporting(source) || !view.isReporting(destination)) {
    return { ok: false, reason: 'absent-node' };
  }
  const excludeFrom = request.exclude === null ? -1 : (view.lookup(request.exclude.from) ?? -1);
  const excludeTo = request.exclude === null ? -1 : (view.lookup(request.exclude.to) ?? -1);
  return {
    ok: true,
    search: {
      requestId: request.requestId,
      currency: request.currency,
      amount: request.amount,
      source,
      destination,
      excludeFrom,
      excludeTo,
      maxHops: request.maxHops === 0 ? MAX_ROUTE_LEN - 1 : Math.min(request.maxHops, MAX_ROUTE_LEN - 1),
      maxFee: request.maxFee,
      maxRoutes: request.maxRoutes,
      workMax: bounds.workMax,
      deadlineUs: Math.round(bounds.deadlineMs * 1000),
    },
  };
}
