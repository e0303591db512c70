import { bytesEqual } from '../common/bytes.js';
import { isValidRate, routeFee, type Rate } from '../common/rate.js';
import type { IndexRoute } from '../index/types.js';

/**
 * How a buyer splits an invoice over the routes an index server offered. Each forwarder charges
 * its fee on the share the destination receives through it (src/common/rate.ts), so a route
 * carrying `share` costs `routeFee(forwarderRates, share)` on top. When the server already assigned
 * shares that add up to the total and whose fees match, its plan is used (it knows about edges the
 * routes share); otherwise the amount is split here by each route's own limit.
 */

export interface PlannedTransaction {
  /** Full route, buyer first, seller last. */
  readonly route: readonly Uint8Array[];
  readonly destPayment: bigint;
  readonly fee: bigint;
}

export interface PaymentPlan {
  readonly transactions: readonly PlannedTransaction[];
  readonly totalFees: bigint;
}

function wellFormed(route: IndexRoute, source: Uint8Array, destination: Uint8Array): boolean {
  const n = route.nodes.length;
  return n >= 2 && bytesEqual(route.nodes[0], source) && bytesEqual(route.nodes[n - 1], destination)
    && route.forwarderRates.length === n - 2 && route.forwarderRates.every((r: Rate) => isValidRate(r))
    && route.capacity >= 0n;
}

/** The most a route can deliver to the destination on its own (the index reports it net of fees). */
export function routeLimit(route: IndexRoute): bigint {
  return route.capacity;
}

function serverPlan(routes: readonly IndexRoute[], amount: bigint): PlannedTransaction[] | null {
  const chosen = routes.filter((r) => r.amount > 0n);
  if (chosen.length === 0) return null;
  let sum = 0n;
  for (const r of chosen) {
    if (r.amount > routeLimit(r) || routeFee(r.forwarderRates, r.amount) !== r.fee) return null;
    sum += r.amount;
  }
  if (sum !== amount) return null;
  return chosen.map((r) => ({ route: r.nodes, destPayment: r.amount, fee: r.fee }));
}

/**
 * Our own split: the cheapest single route that carries the whole amount, else the fewest routes,
 * largest first, the last one taking the remainder.
 */
function localPlan(routes: readonly IndexRoute[], amount: bigint): PlannedTransaction[] | null {
  let best: PlannedTransaction | null = null;
  for (const r of routes) {
    if (routeLimit(r) < amount) continue;
    const fee = routeFee(r.forwarderRates, amount);
    if (fee === null) continue;
    if (best === null || fee < best.fee || (fee === best.fee && r.nodes.length < best.route.length)) {
      best = { route: r.nodes, destPayment: amount, fee };
    }
  }
  if (best !== null) return [best];
  const byLimit = [...routes].sort((a, b) => (routeLimit(b) > routeLimit(a) ? 1 : routeLimit(b) < routeLimit(a) ? -1 : 0));
  const plan: PlannedTransaction[] = [];
  let left = amount;
  for (const r of byLimit) {
    if (left === 0n) break;
    const share = routeLimit(r) < left ? routeLimit(r) : left;
    if (share === 0n) continue;
    const fee = routeFee(r.forwarderRates, share);
    if (fee === null) continue;
    plan.push({ route: r.nodes, destPayment: share, fee });
    left -= share;
  }
  return left === 0n ? plan : null;
}

/** A plan delivering exactly `amount`, or null when the routes together cannot carry it. */
export function planPayment(routes: readonly IndexRoute[], amount: bigint, source: Uint8Array, destination: Uint8Array): PaymentPlan | null {
  if (amount <= 0n) return null;
  const usable = routes.filter((r) => wellFormed(r, source, destination));
  const transactions = serverPlan(usable, amount) ?? localPlan(usable, amount);
  if (transactions === null) return null;
  return { transactions, totalFees: transactions.reduce((sum, t) => sum + t.fee, 0n) };
}

/** What all routes together could deliver, for an "insufficient capacity" message. */
export function totalLimit(routes: readonly IndexRoute[]): bigint {
  return routes.reduce((sum, r) => sum + routeLimit(r), 0n);
}
