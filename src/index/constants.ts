/**
 * Limits of the index server and client. The original left most of these unenforced on the
 * wire (reference §5.10); here every one of them is checked when a message is decoded or
 * accepted, so a peer cannot grow any structure past them.
 */

/** Longest route, counted in nodes including source and destination (the funder's limit). */
export const MAX_ROUTE_LEN = 32;
/** Ticks without an accepted update after which a node's reports are dropped. */
export const NODE_TIMEOUT_TICKS = 60;
/**
 * Ticks after which one report (a friend in a currency) is dropped unless set again, even while
 * its node stays alive. Clients resend their whole table well within this (src/index/client.ts).
 */
export const REPORT_TIMEOUT_TICKS = NODE_TIMEOUT_TICKS * 20;
/** Recent tick hashes a server keeps to judge freshness (same window as the node TTL). */
export const RECENT_TICK_HASHES = 60;
/** Default tick length. */
export const TICK_MS = 1000;
/** Mutations in one signed update. */
export const MAX_MUTATIONS_PER_UPDATE = 256;
/** Bytes in a currency name. */
export const MAX_CURRENCY_BYTES = 16;
/** Currencies one server keeps graphs for; a new name beyond this is refused. */
export const MAX_CURRENCIES = 1024;
/** Links in a forwarded update's time proof chain: bounds how far an update travels. */
export const MAX_CHAIN_LINKS = 8;
/** Hashes in one link (one tick's expansion: a random seed plus one hash per peer). */
export const MAX_LINK_HASHES = 65;
/** Routes returned for one request. */
export const MAX_ROUTES_PER_RESPONSE = 8;
/** Default work bound of one search: nodes settled across all its BFS rounds. */
export const DEFAULT_SEARCH_WORK = 400_000;
/** Default time bound of one search. */
export const DEFAULT_SEARCH_DEADLINE_MS = 50;
/** Route requests in one search-worker task (one batch message each way). */
export const SEARCH_BATCH_MAX = 256;
/** Largest frame the index protocol produces or accepts. */
export const MAX_INDEX_FRAME_BYTES = 1 << 20;
/**
 * Ticks a ratchet entry outlives its node: an update is fresh for at most one freshness window
 * per chain link, so after this long no copy of an old update can still be accepted.
 */
export const RATCHET_KEEP_TICKS = NODE_TIMEOUT_TICKS * (MAX_CHAIN_LINKS + 2);
