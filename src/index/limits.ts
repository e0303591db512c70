/**
 * Every quota the index server applies to the clients and peers it serves, in one place with
 * its default and the reason for it. The server takes a partial object (`IndexServerOptions.limits`)
 * and fills the rest from here, so a later config file only has to produce a partial object.
 *
 * Defaults are sized for a public index on a small machine: an honest node has one connection,
 * tens of friends, a few currencies, and sends an update every few seconds at most; anything
 * far beyond that is refused and counted, never buffered.
 */
export interface IndexLimits {
  // ---- graph (per node key, applied the same to client and federated updates)
  /**
   * Currencies one node may report in at once. The global table holds MAX_CURRENCIES, so this
   * keeps one node from taking more than a small share of it.
   */
  readonly currenciesPerNodeMax: number;
  /**
   * Reports (friend × currency) one node may hold at once. Every friend key is interned and
   * costs memory and compaction time; this bounds what one node's key can make the server keep.
   */
  readonly reportsPerNodeMax: number;

  // ---- client port admission (all shards together)
  /** Open connections (handshaking or open), all addresses. */
  readonly connectionsMax: number;
  /** Open connections from one address (IPv6 grouped by /64), taken before the global budget. */
  readonly connectionsPerAddressMax: number;
  /** Handshakes in progress, all addresses. */
  readonly handshakesMax: number;
  /** Handshakes in progress from one address: a flood of slow handshakes holds only its own share. */
  readonly handshakesPerAddressMax: number;
  /** New connections per second, all addresses (each shard gets an equal share). */
  readonly acceptsPerSecond: number;
  /** New connections per second from one address (each shard gets an equal share). */
  readonly acceptsPerAddressPerSecond: number;
  /**
   * Bytes a connection may leave unsent before it is cut. The largest answer is about 10 KiB
   * (8 routes of 32 keys), so this holds every open request's answer many times over; a client
   * that does not read its answers is cut instead of being buffered for.
   */
  readonly sendBufferBytesMax: number;

  // ---- updates (per connection)
  /** Updates a second one connection may send (burst: `updateBurst`); beyond, they are refused. */
  readonly updatesPerSecond: number;
  readonly updateBurst: number;
  /** Updates of one connection waiting in the ingest backlog: its share, so no one fills it. */
  readonly backlogPerConnectionMax: number;
  /** Bad signatures after which the connection is cut and its key and address cool down. */
  readonly badSignaturesMax: number;
  /** How long a penalised key and address are refused. */
  readonly penaltyCooldownMs: number;

  // ---- searches
  /** Route requests of one connection waiting for a search. */
  readonly searchesPerConnectionMax: number;
  /** Route requests of one address waiting for a search (all its connections, all shards). */
  readonly searchesPerAddressMax: number;
  /**
   * Search time one address may use, in milliseconds per second, all shards together (each
   * shard gets an equal share; burst: one second's worth). Searches cannot be interrupted, so
   * an honest request that arrives while a shard runs an attacker's search waits for it; this
   * keeps any one address from keeping the shards busy. An honest node's search costs tens of
   * microseconds, so this is thousands of queries a second.
   */
  readonly searchMsPerSecondPerAddress: number;

  // ---- shards
  /** Restarts of failed client shards in any minute; past it, a failed shard stays down. */
  readonly shardRestartsPerMinute: number;
  /** First delay before a failed shard is restarted (doubles per restart in the last minute). */
  readonly shardRestartBackoffMs: number;

  // ---- federation
  /**
   * Bytes a peer link may leave unsent. Past it the link is closed (and redialled after the
   * backoff): a slow or malicious peer costs at most this much memory, and the updates it
   * missed reach it again through the nodes' periodic full resends.
   */
  readonly peerSendBytesMax: number;
}

export const DEFAULT_INDEX_LIMITS: IndexLimits = Object.freeze({
  currenciesPerNodeMax: 64,
  reportsPerNodeMax: 2048,
  connectionsMax: 10_000,
  connectionsPerAddressMax: 256,
  handshakesMax: 512,
  handshakesPerAddressMax: 16,
  acceptsPerSecond: 2_000,
  acceptsPerAddressPerSecond: 200,
  sendBufferBytesMax: 1024 * 1024,
  updatesPerSecond: 200,
  updateBurst: 400,
  backlogPerConnectionMax: 1024,
  badSignaturesMax: 3,
  penaltyCooldownMs: 60_000,
  searchesPerConnectionMax: 32,
  searchesPerAddressMax: 256,
  searchMsPerSecondPerAddress: 500,
  shardRestartsPerMinute: 5,
  shardRestartBackoffMs: 100,
  peerSendBytesMax: 16 * 1024 * 1024,
});

/** The defaults with `over` laid on top; every value must be a positive number. */
export function resolveIndexLimits(over: Partial<IndexLimits> = {}): IndexLimits {
  const limits = { ...DEFAULT_INDEX_LIMITS, ...over };
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || !(value > 0)) throw new Error(`index limit ${name} must be a positive number, not ${String(value)}`);
  }
  return Object.freeze(limits);
}
