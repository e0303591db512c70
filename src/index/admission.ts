import type { IndexLimits } from './limits.js';

/**
 * Admission of client connections by address, shared by every client shard through one
 * SharedArrayBuffer. Each shard writes only its own row (connections, handshakes and waiting
 * searches per address bucket, plus its totals) and readers sum the rows, so a shard that dies
 * can have its row zeroed by the main thread without touching anyone else's counts. Penalties
 * (a cooldown per address bucket) are one shared array any shard may set.
 *
 * Addresses are grouped before counting: IPv4 by address, IPv6 by its /64 (one subscriber
 * usually holds a whole /64, so counting single IPv6 addresses would give it 2^64 shares).
 * Groups are hashed with a per-server random seed into a fixed number of buckets: two groups
 * that share a bucket share its limits, which errs on the side of refusing, and an outsider
 * cannot choose addresses that land in an honest client's bucket. Nothing here grows with the
 * number of clients.
 *
 * No I/O and no clock of its own: the caller passes the time, so tests drive it directly.
 */
export const ADMISSION_BUCKETS = 4096;

export const ADMISSION_REFUSALS = [
  'penalised',
  'address-connections',
  'address-handshakes',
  'address-accept-rate',
  'accept-rate',
  'connections-max',
  'handshakes-max',
] as const;
export type AdmissionRefusal = (typeof ADMISSION_REFUSALS)[number];

// Int32 row layout: totals first, then three arrays of buckets.
const TOTAL_CONNECTIONS = 0;
const TOTAL_HANDSHAKES = 1;
const HEADER = 4;
const CONNECTIONS_AT = HEADER;
const HANDSHAKES_AT = CONNECTIONS_AT + ADMISSION_BUCKETS;
const SEARCHES_AT = HANDSHAKES_AT + ADMISSION_BUCKETS;
const ROW = SEARCHES_AT + ADMISSION_BUCKETS;

/** The group an address is counted under: IPv4 as is, IPv6 by its first 64 bits. */
export function addressGroup(address: string): string {
  const text = address.trim().toLowerCase();
  if (!text.includes(':')) return text;
  const groups = expandIpv6(text);
  if (groups === null) return text;
  // An IPv4 client of a dual-stack socket (::ffff:a.b.c.d) is that IPv4 address.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.${groups[7] & 255}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted IPv4 included), or null. */
function expandIpv6(text: string): number[] | null {
  let body = text;
  const tail: number[] = [];
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(body);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    body = body.slice(0, v4.index);
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  let groups: number[];
  if (body.includes('::')) {
    const [head, rest] = body.split('::', 2);
    const front = parse(head);
    const back = [...parse(rest), ...tail];
    groups = [...front, ...Array<number>(Math.max(0, 8 - front.length - back.length)).fill(0), ...back];
  } else groups = [...parse(body), ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/**
 * uWS gives the remote address as text: dotted IPv4, or IPv6 in full hex groups (an IPv4
 * client of a dual-stack socket as ::ffff:a.b.c.d). Both come through addressGroup.
 */
export function remoteGroup(addressText: ArrayBuffer): string {
  return addressGroup(Buffer.from(addressText).toString());
}

/** Token bucket state in two parallel arrays (one slot per bucket, no object per address). */
class BucketRates {
  private readonly tokens: Float64Array;
  private readonly lastMs: Float64Array;
  constructor(
    size: number,
    private readonly perSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = new Float64Array(size).fill(burst);
    this.lastMs = new Float64Array(size).fill(-1);
  }
  take(slot: number, nowMs: number): boolean {
    const last = this.lastMs[slot];
    let tokens = this.tokens[slot];
    if (last >= 0 && nowMs > last) tokens = Math.min(this.burst, tokens + ((nowMs - last) * this.perSecond) / 1000);
    this.lastMs[slot] = nowMs;
    if (tokens < 1) {
      this.tokens[slot] = tokens;
      return false;
    }
    this.tokens[slot] = tokens - 1;
    return true;
  }
}

export type AdmissionLimits = Pick<
  IndexLimits,
  | 'connectionsMax'
  | 'connectionsPerAddressMax'
  | 'handshakesMax'
  | 'handshakesPerAddressMax'
  | 'acceptsPerSecond'
  | 'acceptsPerAddressPerSecond'
  | 'searchesPerAddressMax'
  | 'searchMsPerSecondPerAddress'
  | 'penaltyCooldownMs'
>;

export interface AdmissionBuffers {
  readonly counts: SharedArrayBuffer;
  /** Per bucket: wall-clock ms until which the bucket is refused; last slot: the hash seed. */
  readonly cooldowns: SharedArrayBuffer;
}

export class Admission {
  private readonly counts: Int32Array;
  private readonly cooldowns: Float64Array;
  private readonly seed: number;
  private readonly shards: number;
  private readonly accepts: BucketRates;
  private readonly acceptsPerAddress: BucketRates;
  /** Per bucket, this shard's share of search time: milliseconds left, and when last refilled. */
  private readonly searchMs: Float64Array;
  private readonly searchAt: Float64Array;
  private readonly searchRate: number;

  /** `row` is the shard this thread writes (-1: read and reset only, the main thread). */
  constructor(
    readonly buffers: AdmissionBuffers,
    private readonly row: number,
    private readonly limits: AdmissionLimits,
  ) {
    this.counts = new Int32Array(buffers.counts);
    this.cooldowns = new Float64Array(buffers.cooldowns);
    this.seed = this.cooldowns[ADMISSION_BUCKETS] >>> 0;
    this.shards = this.counts.length / ROW;
    // The accept rates are this shard's share: the kernel spreads connections over the shards.
    const share = (perSecond: number) => perSecond / this.shards;
    this.accepts = new BucketRates(1, share(limits.acceptsPerSecond), Math.max(1, share(limits.acceptsPerSecond)));
    this.acceptsPerAddress = new BucketRates(ADMISSION_BUCKETS, share(limits.acceptsPerAddressPerSecond), Math.max(1, share(limits.acceptsPerAddressPerSecond)));
    this.searchRate = share(limits.searchMsPerSecondPerAddress);
    this.searchMs = new Float64Array(ADMISSION_BUCKETS).fill(this.searchRate);
    this.searchAt = new Float64Array(ADMISSION_BUCKETS);
  }

  /** Has the address search time left on this shard? (It may overdraw by one search.) */
  searchTimeLeft(bucket: number, nowMs: number): boolean {
    const elapsed = nowMs - this.searchAt[bucket];
    if (elapsed > 0) {
      this.searchMs[bucket] = Math.min(this.searchRate, this.searchMs[bucket] + (elapsed * this.searchRate) / 1000);
      this.searchAt[bucket] = nowMs;
    }
    return this.searchMs[bucket] > 0;
  }

  /** Charges a search's time to its address. */
  searchSpent(bucket: number, ms: number): void {
    this.searchMs[bucket] -= ms;
  }

  static create(shards: number): AdmissionBuffers {
    const cooldowns = new SharedArrayBuffer((ADMISSION_BUCKETS + 1) * 8);
    new Float64Array(cooldowns)[ADMISSION_BUCKETS] = Math.floor(Math.random() * 0x1_0000_0000);
    return { counts: new SharedArrayBuffer(ROW * 4 * Math.max(1, shards)), cooldowns };
  }

  /** The bucket of an address group (FNV-1a, seeded per server). */
  bucketOf(group: string): number {
    let h = (0x811c9dc5 ^ this.seed) >>> 0;
    for (let i = 0; i < group.length; i++) {
      h ^= group.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h % ADMISSION_BUCKETS;
  }

  private sum(slot: number): number {
    let total = 0;
    for (let r = 0; r < this.shards; r++) total += Atomics.load(this.counts, r * ROW + slot);
    return total;
  }

  private add(slot: number, n: number): void {
    Atomics.add(this.counts, this.row * ROW + slot, n);
  }

  /**
   * Null to let a new connection in (its connection and handshake are then counted: call
   * handshakeEnded and closed later), or why not. The address's own shares come before any
   * global budget, so a flooding address is refused on its own counts and does not use up the
   * accept rate or handshake slots that other addresses need.
   */
  admit(bucket: number, wallMs: number, nowMs: number): AdmissionRefusal | null {
    const l = this.limits;
    if (this.cooldowns[bucket] > wallMs) return 'penalised';
    if (this.sum(CONNECTIONS_AT + bucket) >= l.connectionsPerAddressMax) return 'address-connections';
    if (this.sum(HANDSHAKES_AT + bucket) >= l.handshakesPerAddressMax) return 'address-handshakes';
    if (!this.acceptsPerAddress.take(bucket, nowMs)) return 'address-accept-rate';
    if (!this.accepts.take(0, nowMs)) return 'accept-rate';
    if (this.sum(TOTAL_CONNECTIONS) >= l.connectionsMax) return 'connections-max';
    if (this.sum(TOTAL_HANDSHAKES) >= l.handshakesMax) return 'handshakes-max';
    this.add(TOTAL_CONNECTIONS, 1);
    this.add(CONNECTIONS_AT + bucket, 1);
    this.add(TOTAL_HANDSHAKES, 1);
    this.add(HANDSHAKES_AT + bucket, 1);
    return null;
  }

  handshakeEnded(bucket: number): void {
    this.add(TOTAL_HANDSHAKES, -1);
    this.add(HANDSHAKES_AT + bucket, -1);
  }

  closed(bucket: number): void {
    this.add(TOTAL_CONNECTIONS, -1);
    this.add(CONNECTIONS_AT + bucket, -1);
  }

  /** Takes a search slot of the address (waiting searches, all shards); false when it has none left. */
  searchStarted(bucket: number): boolean {
    if (this.sum(SEARCHES_AT + bucket) >= this.limits.searchesPerAddressMax) return false;
    this.add(SEARCHES_AT + bucket, 1);
    return true;
  }

  searchEnded(bucket: number): void {
    this.add(SEARCHES_AT + bucket, -1);
  }

  /** Refuses the bucket's addresses for the penalty cooldown (any thread). */
  penalise(bucket: number, wallMs: number): void {
    this.cooldowns[bucket] = Math.max(this.cooldowns[bucket], wallMs + this.limits.penaltyCooldownMs);
  }

  connectionsOf(bucket: number): number {
    return this.sum(CONNECTIONS_AT + bucket);
  }

  handshakesOf(bucket: number): number {
    return this.sum(HANDSHAKES_AT + bucket);
  }

  searchesOf(bucket: number): number {
    return this.sum(SEARCHES_AT + bucket);
  }

  get connections(): number {
    return this.sum(TOTAL_CONNECTIONS);
  }

  get handshakes(): number {
    return this.sum(TOTAL_HANDSHAKES);
  }

  /** Main thread: a shard that died leaves nothing behind (its connections are gone with it). */
  resetRow(row: number): void {
    for (let slot = 0; slot < ROW; slot++) Atomics.store(this.counts, row * ROW + slot, 0);
  }
}
