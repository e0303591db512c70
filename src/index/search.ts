import { calcFee, type Rate } from '../common/rate.js';
import { DEFAULT_SEARCH_DEADLINE_MS, DEFAULT_SEARCH_WORK, MAX_ROUTE_LEN, MAX_ROUTES_PER_RESPONSE } from './constants.js';
import { ceilToDouble, type CurrencyGraph } from './snapshot.js';

/**
 * Route search over one currency's CSR snapshot: a bidirectional, level-synchronous BFS (the
 * smaller frontier grows each round, so the two searches meet in the middle) over typed arrays,
 * with scratch arrays reused across queries and reset by an epoch stamp instead of clearing.
 *
 * Fees: forwarder r_i of a route r_0 … r_(n-1) charges calcFee(rate r_i set for r_(i-1), x),
 * where x is the destination amount (src/common/rate.ts, the same functions the payment core
 * uses); that rate is stored on slot r_(i-1)→r_i. Hop r_i→r_(i+1) must carry x plus the fees of
 * every forwarder after it, and a route's capacity is the largest x for which every hop does.
 *
 * When no single route carries the amount, routes are collected greedily against a residual
 * overlay (capacity already promised to earlier routes), so the returned shares are feasible
 * together, not just one by one.
 */

export interface SearchParams {
  readonly source: number;
  readonly destination: number;
  readonly amount: bigint;
  /** Directed edge never used, or -1/-1. */
  readonly excludeFrom: number;
  readonly excludeTo: number;
  /** Longest route in edges; clamped to MAX_ROUTE_LEN - 1. */
  readonly maxHops: number;
  /** Largest fee one route may charge for its share; null for none. */
  readonly maxFee: bigint | null;
  readonly maxRoutes: number;
  /** Edges scanned, over all rounds of this query. */
  readonly workMax: number;
  readonly deadlineMs: number;
}

export interface FoundRoute {
  readonly nodes: number[];
  readonly capacity: bigint;
  readonly amount: bigint;
  readonly fee: bigint;
  readonly forwarderRates: Rate[];
}

export interface SearchOutcome {
  readonly routes: FoundRoute[];
  readonly complete: boolean;
  readonly truncated: boolean;
  readonly work: number;
}

export function defaultSearchParams(source: number, destination: number, amount: bigint): SearchParams {
  return {
    source,
    destination,
    amount,
    excludeFrom: -1,
    excludeTo: -1,
    maxHops: MAX_ROUTE_LEN - 1,
    maxFee: null,
    maxRoutes: 4,
    workMax: DEFAULT_SEARCH_WORK,
    deadlineMs: DEFAULT_SEARCH_DEADLINE_MS,
  };
}

const TWO_POW_32 = 4294967296;
const EPOCH_MAX = 0x7fffffff;

interface IncomingCapacity {
  /** capacity[mirror[r]] at r, valid for the rows whose `filled` flag is set. */
  readonly capacity: Float64Array;
  readonly filled: Uint8Array;
}

class Bounds {
  work = 0;
  truncated = false;
  private checkAt = 4096;
  constructor(readonly workMax: number, readonly deadline: number) {}
  /** Adds `n` units of work; true while the query may continue. */
  spend(n: number): boolean {
    this.work += n;
    if (this.work >= this.workMax) {
      this.truncated = true;
      return false;
    }
    if (this.work >= this.checkAt) {
      this.checkAt = this.work + 4096;
      if (performance.now() > this.deadline) {
        this.truncated = true;
        return false;
      }
    }
    return true;
  }
}

export class Searcher {
  private size = 0;
  private epoch = 0;
  private mark = new Int32Array(0);
  private parentF = new Int32Array(0);
  private parentB = new Int32Array(0);
  private queueF = new Uint32Array(0);
  private queueB = new Uint32Array(0);
  private readonly capacityIn = new WeakMap<CurrencyGraph, IncomingCapacity>();

  private ensure(nodeCount: number): void {
    if (nodeCount <= this.size) return;
    const size = Math.max(nodeCount, this.size * 2, 1024);
    this.mark = new Int32Array(size);
    this.parentF = new Int32Array(size);
    this.parentB = new Int32Array(size);
    this.queueF = new Uint32Array(size);
    this.queueB = new Uint32Array(size);
    this.size = size;
    this.epoch = 0;
  }

  /**
   * capacity[mirror[r]] laid out along r: the backward search reads the capacity of each edge
   * u→v it scans from v, and through `mirror` that read was a cache miss per edge (over half the
   * search's time on a 1M-edge graph). Search-side memory (8 bytes per edge and 1 per node, per
   * graph and searcher; not part of the shared snapshot), filled row by row the first time the
   * backward search grows from a node, so a new snapshot costs no up-front pass and rows that
   * are never reached are never copied. Snapshots are immutable, so a filled row stays valid.
   */
  private incomingCapacity(graph: CurrencyGraph): IncomingCapacity {
    let derived = this.capacityIn.get(graph);
    if (derived === undefined) {
      derived = { capacity: new Float64Array(graph.edgeCount), filled: new Uint8Array(graph.nodeCount) };
      this.capacityIn.set(graph, derived);
    }
    return derived;
  }

  private nextEpoch(): number {
    if (this.epoch === EPOCH_MAX) {
      this.mark.fill(0);
      this.epoch = 0;
    }
    return ++this.epoch;
  }

  search(graph: CurrencyGraph, params: SearchParams): SearchOutcome {
    const bounds = new Bounds(params.workMax, performance.now() + params.deadlineMs);
    const n = graph.nodeCount;
    const { source, destination, amount } = params;
    const maxRoutes = Math.max(1, Math.min(params.maxRoutes, MAX_ROUTES_PER_RESPONSE));
    if (source === destination || source >= n || destination >= n || amount <= 0n) {
      return { routes: [], complete: false, truncated: false, work: 0 };
    }
    this.ensure(n);
    const maxEdges = Math.max(1, Math.min(params.maxHops, MAX_ROUTE_LEN - 1));
    const routes: FoundRoute[] = [];
    let residual: Map<number, number> | null = null;
    const banned = new Set<number>();
    let remaining = amount;
    let attempts = 0;
    const attemptsMax = maxRoutes * 4;
    while (remaining > 0n && routes.length < maxRoutes && attempts < attemptsMax && !bounds.truncated) {
      attempts++;
      const slotsLeft = maxRoutes - routes.length;
      // Ask for the whole remainder first; then for a fair share of it; then for anything.
      const ladder = [remaining];
      if (slotsLeft > 1) ladder.push((remaining + BigInt(slotsLeft) - 1n) / BigInt(slotsLeft));
      ladder.push(1n);
      let path: number[] | null = null;
      for (const need of ladder) {
        path = this.bfs(graph, params, ceilToDouble(need), maxEdges, residual, banned, bounds);
        if (path !== null || bounds.truncated) break;
      }
      if (path === null) break;
      const caps = path.map((s) => slotCapacity(graph, s, residual));
      const rates = forwarderRates(graph, path);
      const deliverable = maxDeliverable(caps, rates);
      const share = deliverable < remaining ? deliverable : remaining;
      const fee = share > 0n ? routeFeeOf(rates, share) : 0n;
      if (share === 0n || (params.maxFee !== null && fee > params.maxFee)) {
        banned.add(worstSlot(graph, path, caps, rates, share));
        continue;
      }
      const standalone = residual === null ? deliverable : maxDeliverable(path.map((s) => slotCapacity(graph, s, null)), rates);
      routes.push({ nodes: pathNodes(graph, path), capacity: standalone, amount: share, fee, forwarderRates: rates });
      remaining -= share;
      if (remaining > 0n) {
        residual ??= new Map();
        const carried = carriedPerHop(rates, share);
        for (let i = 0; i < path.length; i++) residual.set(path[i], (residual.get(path[i]) ?? 0) + Number(carried[i]));
      }
    }
    routes.sort((a, b) => {
      const fa = routeFeeOf(a.forwarderRates, amount);
      const fb = routeFeeOf(b.forwarderRates, amount);
      return fa < fb ? -1 : fa > fb ? 1 : a.nodes.length - b.nodes.length;
    });
    return { routes, complete: remaining === 0n, truncated: bounds.truncated, work: bounds.work };
  }

  /**
   * Shortest path (in hops) over edges whose free capacity is at least `need`; returns the slots
   * of the path or null. Levels grow on the side whose frontier has fewer edges. One stamp array
   * serves both sides (+epoch forward, -epoch backward), so each scanned edge touches one random
   * cache line. Every meeting found while growing a level closes a path of the same length
   * (levelF + 1 + levelB: a shallower meeting would have been seen a level earlier), so the first
   * one is a shortest path and the search stops there.
   */
  private bfs(
    graph: CurrencyGraph,
    params: SearchParams,
    need: number,
    maxEdges: number,
    residual: Map<number, number> | null,
    banned: Set<number>,
    bounds: Bounds,
  ): number[] | null {
    const { offsets, targets, mirror, capacity, rateMul, rateAdd } = graph;
    const incoming = this.incomingCapacity(graph);
    const capacityIn = incoming.capacity;
    const filled = incoming.filled;
    const { source, destination, excludeFrom, excludeTo } = params;
    const feeCap = params.maxFee === null ? Infinity : Number(params.maxFee) + 1;
    const amountF = Number(params.amount);
    const epoch = this.nextEpoch();
    const back = -epoch;
    const { mark, parentF, parentB, queueF, queueB } = this;
    const checkBanned = banned.size > 0;
    const plain = residual === null && !checkBanned && feeCap === Infinity;
    mark[source] = epoch;
    parentF[source] = -1;
    mark[destination] = back;
    parentB[destination] = -1;
    queueF[0] = source;
    queueB[0] = destination;
    let fStart = 0;
    let fEnd = 1;
    let bStart = 0;
    let bEnd = 1;
    let levelF = 0;
    let levelB = 0;
    let meetSlot = -1;
    // Edges leaving each frontier; -1 once that side has grown a new level.
    let degreesF = -1;
    let degreesB = -1;
    while (fStart < fEnd && bStart < bEnd && levelF + levelB < maxEdges) {
      if (degreesF < 0) {
        degreesF = 0;
        for (let i = fStart; i < fEnd; i++) degreesF += offsets[queueF[i] + 1] - offsets[queueF[i]];
      }
      if (degreesB < 0) {
        degreesB = 0;
        for (let i = bStart; i < bEnd; i++) degreesB += offsets[queueB[i] + 1] - offsets[queueB[i]];
      }
      if (degreesF <= degreesB) {
        if (!bounds.spend(degreesF + 1)) return null;
        const end = fEnd;
        scan: for (let i = fStart; i < end; i++) {
          const u = queueF[i];
          for (let s = offsets[u], e = offsets[u + 1]; s < e; s++) {
            const v = targets[s];
            const m = mark[v];
            if (m === epoch) continue;
            if (capacity[s] < need) continue;
            if (!plain) {
              if (residual !== null && capacity[s] - (residual.get(s) ?? 0) < need) continue;
              if (checkBanned && banned.has(s)) continue;
              if (v !== destination && (amountF * rateMul[s]) / TWO_POW_32 + rateAdd[s] > feeCap) continue;
            }
            if (u === excludeFrom && v === excludeTo) continue;
            if (m === back) {
              meetSlot = s;
              break scan;
            }
            mark[v] = epoch;
            parentF[v] = s;
            queueF[fEnd++] = v;
          }
        }
        fStart = end;
        levelF++;
        degreesF = -1;
      } else {
        if (!bounds.spend(degreesB + 1)) return null;
        const end = bEnd;
        scan: for (let i = bStart; i < end; i++) {
          const v = queueB[i];
          if (filled[v] === 0) {
            for (let r = offsets[v], e = offsets[v + 1]; r < e; r++) capacityIn[r] = capacity[mirror[r]];
            filled[v] = 1;
          }
          for (let r = offsets[v], e = offsets[v + 1]; r < e; r++) {
            const u = targets[r];
            const m = mark[u];
            if (m === back) continue;
            if (capacityIn[r] < need) continue;
            const s = mirror[r]; // the edge u→v
            if (!plain) {
              if (residual !== null && capacity[s] - (residual.get(s) ?? 0) < need) continue;
              if (checkBanned && banned.has(s)) continue;
              if (v !== destination && (amountF * rateMul[s]) / TWO_POW_32 + rateAdd[s] > feeCap) continue;
            }
            if (u === excludeFrom && v === excludeTo) continue;
            if (m === epoch) {
              meetSlot = s;
              break scan;
            }
            mark[u] = back;
            parentB[u] = s;
            queueB[bEnd++] = u;
          }
        }
        bStart = end;
        levelB++;
        degreesB = -1;
      }
      if (meetSlot >= 0) break;
    }
    if (meetSlot < 0) return null;
    // meetSlot is an edge u→v with u reached forward and v reached backward.
    const path: number[] = [];
    for (let w = targets[mirror[meetSlot]]; w !== source; ) {
      const s = parentF[w];
      path.push(s);
      w = targets[mirror[s]];
    }
    path.reverse();
    path.push(meetSlot);
    for (let w = targets[meetSlot]; w !== destination; ) {
      const s = parentB[w];
      path.push(s);
      w = targets[s];
    }
    return path;
  }
}

function slotCapacity(graph: CurrencyGraph, slot: number, residual: Map<number, number> | null): bigint {
  const free = graph.capacity[slot] - (residual?.get(slot) ?? 0);
  return free <= 0 ? 0n : BigInt(Math.floor(free));
}

function pathNodes(graph: CurrencyGraph, path: number[]): number[] {
  const nodes = [graph.targets[graph.mirror[path[0]]]];
  for (const s of path) nodes.push(graph.targets[s]);
  return nodes;
}

/** Rates of the forwarders r_1 … r_(n-2): forwarder r_i's rate sits on slot r_(i-1)→r_i. */
function forwarderRates(graph: CurrencyGraph, path: number[]): Rate[] {
  const rates: Rate[] = [];
  for (let i = 0; i + 1 < path.length; i++) rates.push({ mul: graph.rateMul[path[i]], add: graph.rateAdd[path[i]] });
  return rates;
}

function routeFeeOf(rates: readonly Rate[], amount: bigint): bigint {
  let total = 0n;
  for (const rate of rates) total += calcFee(rate, amount) ?? 0n;
  return total;
}

/** What hop i (edge r_i→r_(i+1)) carries when the destination receives `amount`. */
export function carriedPerHop(rates: readonly Rate[], amount: bigint): bigint[] {
  const hops = rates.length + 1;
  const carried = new Array<bigint>(hops);
  let total = amount;
  carried[hops - 1] = total;
  for (let i = hops - 2; i >= 0; i--) {
    total += calcFee(rates[i], amount) ?? 0n;
    carried[i] = total;
  }
  return carried;
}

function fits(caps: readonly bigint[], rates: readonly Rate[], amount: bigint): boolean {
  const carried = carriedPerHop(rates, amount);
  for (let i = 0; i < caps.length; i++) if (carried[i] > caps[i]) return false;
  return true;
}

/**
 * Largest destination amount every hop can carry, fees included. Starts from the linear
 * (floor-free) estimate, which never overshoots by more than the flooring, then gallops and
 * bisects on the exact fee function.
 */
export function maxDeliverable(caps: readonly bigint[], rates: readonly Rate[]): bigint {
  let bound = caps[0];
  for (const c of caps) if (c < bound) bound = c;
  if (bound <= 0n || !fits(caps, rates, 1n)) return 0n;
  let estimate = Infinity;
  let mulSum = 0;
  let addSum = 0;
  for (let i = caps.length - 1; i >= 0; i--) {
    const x = (Number(caps[i]) - addSum) / (1 + mulSum / TWO_POW_32);
    if (x < estimate) estimate = x;
    if (i > 0) {
      mulSum += rates[i - 1].mul;
      addSum += rates[i - 1].add;
    }
  }
  let low = 1n;
  const guess = BigInt(Math.max(1, Math.floor(estimate * (1 - 1e-12)) - caps.length - 2));
  if (guess <= bound && fits(caps, rates, guess)) low = guess;
  let step = 1n;
  let high = low + step;
  while (high <= bound && fits(caps, rates, high)) {
    low = high;
    step *= 2n;
    high = low + step;
  }
  if (high > bound) high = bound + 1n;
  // low fits, high does not (or is past the bound).
  while (high - low > 1n) {
    const mid = (low + high) / 2n;
    if (fits(caps, rates, mid)) low = mid;
    else high = mid;
  }
  return low;
}

/** The slot to ban when a route is unusable: the tightest hop, or the dearest forwarder. */
function worstSlot(graph: CurrencyGraph, path: number[], caps: bigint[], rates: Rate[], share: bigint): number {
  if (share > 0n && rates.length > 0) {
    let worst = 0;
    let worstFee = -1n;
    for (let i = 0; i < rates.length; i++) {
      const fee = calcFee(rates[i], share) ?? 0n;
      if (fee > worstFee) {
        worstFee = fee;
        worst = i;
      }
    }
    return path[worst];
  }
  let tight = 0;
  for (let i = 1; i < caps.length; i++) if (caps[i] < caps[tight]) tight = i;
  void graph;
  return path[tight];
}
