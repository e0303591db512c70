import { ADMISSION_REFUSALS } from './admission.js';
import { ROUTE_REJECTIONS } from './core.js';

/**
 * Counters the client shards keep for the main thread's metrics, in one SharedArrayBuffer: each
 * shard writes only its own row (so shards never contend for a cache line) with Atomics, and the
 * main thread sums the rows when metrics are read. 64-bit slots: nothing wraps.
 */
export const SHARD_ROUTE_REJECTIONS = [...ROUTE_REJECTIONS, 'search-failed', 'search-queue-full', 'address-searches', 'address-search-time'] as const;
export type ShardRouteRejection = (typeof SHARD_ROUTE_REJECTIONS)[number];
/** Connections refused at admission, or cut because they did not read their answers. */
export const CONNECTION_REFUSALS = [...ADMISSION_REFUSALS, 'send-backpressure'] as const;
export type ConnectionRefusal = (typeof CONNECTION_REFUSALS)[number];

/** Upper bounds (seconds) of the route latency histogram buckets; one more slot counts the rest. */
export const LATENCY_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25] as const;

const SLOT_QUERIES = 0;
const SLOT_REJECTIONS = 1;
const SLOT_SHED = SLOT_REJECTIONS + SHARD_ROUTE_REJECTIONS.length;
const SLOT_CONNECTIONS = SLOT_SHED + 1;
const SLOT_FORWARDED = SLOT_CONNECTIONS + 1;
const SLOT_LATENCY_SUM_NS = SLOT_FORWARDED + 1;
const SLOT_BUCKETS = SLOT_LATENCY_SUM_NS + 1;
const SLOT_REFUSALS = SLOT_BUCKETS + LATENCY_BUCKETS_S.length + 1;
const SLOT_UPDATE_RATE = SLOT_REFUSALS + CONNECTION_REFUSALS.length;
/** Slots per shard row: 64 (512 bytes), well past the ones used, keeps rows on separate cache lines. */
const ROW = 64;
const SLOTS_USED = SLOT_UPDATE_RATE + 1;
/** One slot for every thread (row 0, last slot): forwarded update frames the main thread has not taken yet. */
const SLOT_BACKLOG = ROW - 1;
if (SLOTS_USED >= ROW) throw new Error('shard counter row too small');

export class ShardCounters {
  private readonly slots: BigInt64Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    /** The row this thread writes; -1 on the main thread (which only reads). */
    private readonly row: number,
  ) {
    this.slots = new BigInt64Array(buffer);
  }

  static create(shards: number): SharedArrayBuffer {
    return new SharedArrayBuffer(ROW * 8 * Math.max(1, shards));
  }

  get shards(): number {
    return this.slots.length / ROW;
  }

  private add(slot: number, n = 1n): void {
    Atomics.add(this.slots, this.row * ROW + slot, n);
  }

  // ---- shard side

  query(): void {
    this.add(SLOT_QUERIES);
  }

  rejected(reason: ShardRouteRejection): void {
    this.add(SLOT_REJECTIONS + SHARD_ROUTE_REJECTIONS.indexOf(reason));
  }

  /** A connection refused at admission or cut for not reading. */
  refused(reason: ConnectionRefusal): void {
    this.add(SLOT_REFUSALS + CONNECTION_REFUSALS.indexOf(reason));
  }

  /** An update refused on the shard because its connection sends faster than its rate. */
  updateRateExceeded(): void {
    this.add(SLOT_UPDATE_RATE);
  }

  /** An update refused on the shard because the main thread is too far behind. */
  shed(): void {
    this.add(SLOT_SHED);
  }

  connectionOpened(): void {
    this.add(SLOT_CONNECTIONS);
  }

  connectionClosed(): void {
    this.add(SLOT_CONNECTIONS, -1n);
  }

  /** Update frames handed to the main thread. */
  forwarded(n: number): void {
    this.add(SLOT_FORWARDED, BigInt(n));
    Atomics.add(this.slots, SLOT_BACKLOG, BigInt(n));
  }

  /** Update frames handed to the main thread and not yet taken into its ingest pipeline (all shards). */
  backlog(): number {
    return Number(Atomics.load(this.slots, SLOT_BACKLOG));
  }

  /** Main side: `n` forwarded frames were taken in. */
  consumed(n: number): void {
    Atomics.sub(this.slots, SLOT_BACKLOG, BigInt(n));
  }

  latency(seconds: number): void {
    let b = 0;
    while (b < LATENCY_BUCKETS_S.length && seconds > LATENCY_BUCKETS_S[b]) b++;
    this.add(SLOT_BUCKETS + b);
    this.add(SLOT_LATENCY_SUM_NS, BigInt(Math.round(seconds * 1e9)));
  }

  // ---- main side (sums over rows)

  private sum(slot: number): number {
    let total = 0n;
    for (let r = 0; r < this.shards; r++) total += Atomics.load(this.slots, r * ROW + slot);
    return Number(total);
  }

  queries(): number {
    return this.sum(SLOT_QUERIES);
  }

  rejections(reason: ShardRouteRejection): number {
    return this.sum(SLOT_REJECTIONS + SHARD_ROUTE_REJECTIONS.indexOf(reason));
  }

  sheds(): number {
    return this.sum(SLOT_SHED);
  }

  refusals(reason: ConnectionRefusal): number {
    return this.sum(SLOT_REFUSALS + CONNECTION_REFUSALS.indexOf(reason));
  }

  updateRateRefusals(): number {
    return this.sum(SLOT_UPDATE_RATE);
  }

  /** Main side: a shard that died has no connections left (its cumulative counts stay). */
  clearConnections(row: number): void {
    Atomics.store(this.slots, row * ROW + SLOT_CONNECTIONS, 0n);
  }

  connections(): number {
    return this.sum(SLOT_CONNECTIONS);
  }

  /** Open connections of each shard. */
  connectionsPerShard(): number[] {
    return Array.from({ length: this.shards }, (_, r) => Number(Atomics.load(this.slots, r * ROW + SLOT_CONNECTIONS)));
  }

  forwardedTotal(): number {
    return this.sum(SLOT_FORWARDED);
  }

  /** Per bucket (not cumulative), the last one above every bound; and the sum in seconds. */
  latencies(): { buckets: number[]; sumS: number } {
    const buckets = Array.from({ length: LATENCY_BUCKETS_S.length + 1 }, (_, b) => this.sum(SLOT_BUCKETS + b));
    return { buckets, sumS: this.sum(SLOT_LATENCY_SUM_NS) / 1e9 };
  }
}
