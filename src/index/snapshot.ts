import { assert } from '../common/errors.js';

/**
 * The immutable, shared-memory form of one currency's graph (CSR adjacency). Node ids are the
 * dense ids of the key table. Send edges are structurally symmetric (an edge exists only when
 * both ends report each other, so u→v exists iff v→u does), hence one adjacency serves the
 * forward and the backward search: `mirror[s]` is the slot of the reverse edge of slot `s`.
 *
 * Slot s = the directed edge u→targets[s] for offsets[u] <= s < offsets[u+1], targets sorted:
 *   capacity[s] what u can still push to v (v's recvCapacity for u), rounded down to a double
 *               (exact below 2^53; above it the search is conservative, never optimistic)
 *   rateMul/rateAdd[s] the rate v charges to forward a payment that arrives from u
 * Bytes per directed edge: 4 (target) + 4 (mirror) + 8 (rate) + 8 (capacity) + 4·(N+1)/E.
 */
export interface CurrencyGraphHandle {
  readonly currency: string;
  readonly nodeCount: number;
  readonly edgeCount: number;
  readonly buffer: SharedArrayBuffer;
}

/** Everything a client shard needs to search; posting it shares the buffers, it copies nothing. */
export interface SnapshotHandle {
  readonly generation: number;
  /** Changes when key ids were renumbered (dead keys reclaimed): key → id maps must be rebuilt. */
  readonly keyEpoch: number;
  readonly keys: SharedArrayBuffer;
  readonly keyCount: number;
  /** Bit per node id (keyCount bits): set while the node reports (it is neither expired nor removed). */
  readonly reporting: SharedArrayBuffer;
  readonly currencies: readonly CurrencyGraphHandle[];
}

function layout(nodeCount: number, edgeCount: number) {
  const offsetsAt = 0;
  const targetsAt = offsetsAt + 4 * (nodeCount + 1);
  const mirrorAt = targetsAt + 4 * edgeCount;
  const rateMulAt = mirrorAt + 4 * edgeCount;
  const rateAddAt = rateMulAt + 4 * edgeCount;
  const capacityAt = Math.ceil((rateAddAt + 4 * edgeCount) / 8) * 8;
  const totalBytes = capacityAt + 8 * edgeCount;
  return { offsetsAt, targetsAt, mirrorAt, rateMulAt, rateAddAt, capacityAt, totalBytes };
}

export class CurrencyGraph {
  readonly offsets: Uint32Array;
  readonly targets: Uint32Array;
  readonly mirror: Uint32Array;
  readonly rateMul: Uint32Array;
  readonly rateAdd: Uint32Array;
  readonly capacity: Float64Array;

  private constructor(readonly handle: CurrencyGraphHandle) {
    const { nodeCount, edgeCount, buffer } = handle;
    const l = layout(nodeCount, edgeCount);
    assert(buffer.byteLength >= l.totalBytes, 'snapshot buffer too small');
    this.offsets = new Uint32Array(buffer, l.offsetsAt, nodeCount + 1);
    this.targets = new Uint32Array(buffer, l.targetsAt, edgeCount);
    this.mirror = new Uint32Array(buffer, l.mirrorAt, edgeCount);
    this.rateMul = new Uint32Array(buffer, l.rateMulAt, edgeCount);
    this.rateAdd = new Uint32Array(buffer, l.rateAddAt, edgeCount);
    this.capacity = new Float64Array(buffer, l.capacityAt, edgeCount);
  }

  get currency(): string {
    return this.handle.currency;
  }
  get nodeCount(): number {
    return this.handle.nodeCount;
  }
  get edgeCount(): number {
    return this.handle.edgeCount;
  }
  get bytes(): number {
    return this.handle.buffer.byteLength;
  }

  static allocate(currency: string, nodeCount: number, edgeCount: number): CurrencyGraph {
    const buffer = new SharedArrayBuffer(layout(nodeCount, edgeCount).totalBytes);
    return new CurrencyGraph({ currency, nodeCount, edgeCount, buffer });
  }

  static fromHandle(handle: CurrencyGraphHandle): CurrencyGraph {
    return new CurrencyGraph(handle);
  }

  /** Slot of the edge u→v, or -1. Adjacency is sorted, so this is a binary search. */
  slotOf(u: number, v: number): number {
    if (u >= this.nodeCount) return -1;
    let lo = this.offsets[u];
    let hi = this.offsets[u + 1] - 1;
    const targets = this.targets;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const t = targets[mid];
      if (t === v) return mid;
      if (t < v) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}

/** Read side of a snapshot: the key table and one graph per currency. */
export class Snapshot {
  readonly graphs = new Map<string, CurrencyGraph>();
  private readonly keyBytes: Uint8Array;

  constructor(readonly handle: SnapshotHandle) {
    this.keyBytes = new Uint8Array(handle.keys, 0, handle.keyCount * 32);
    for (const currency of handle.currencies) this.graphs.set(currency.currency, CurrencyGraph.fromHandle(currency));
  }

  get generation(): number {
    return this.handle.generation;
  }

  /** The public key of node `id` (a view into shared memory: copy it before keeping it). */
  keyOf(id: number): Uint8Array {
    assert(id < this.handle.keyCount, 'node id out of range');
    return this.keyBytes.subarray(id * 32, id * 32 + 32);
  }
}

const TWO_POW_53 = 2n ** 53n;

/** The largest double that is <= `value` (a u128). */
export function floorToDouble(value: bigint): number {
  if (value <= TWO_POW_53) return Number(value);
  let f = Number(value);
  if (BigInt(f) > value) {
    // Step one ulp down: doubles above 2^53 are integers, so the neighbour is exact.
    const buf = new Float64Array([f]);
    const bits = new BigUint64Array(buf.buffer);
    bits[0] -= 1n;
    f = buf[0];
  }
  return f;
}

/** The smallest double that is >= `value`. */
export function ceilToDouble(value: bigint): number {
  if (value <= TWO_POW_53) return Number(value);
  let f = Number(value);
  if (BigInt(f) < value) {
    const buf = new Float64Array([f]);
    const bits = new BigUint64Array(buf.buffer);
    bits[0] += 1n;
    f = buf[0];
  }
  return f;
}
