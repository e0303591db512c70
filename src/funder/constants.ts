/** Protocol limits of the payment core. Each is enforced on receipt as well as on sending. */

/**
 * Operations in one move token, counted across all currencies. The original used 16; every move
 * costs a signature, a verification and a synced write on the critical path, so a larger bound
 * carries many more payments per move. At most ~1 KiB per operation keeps a move well under the
 * 1 MiB frame limit.
 */
export const MAX_OPS_PER_MOVE = 256;
/** Keys in a full route (source and destination included). */
export const MAX_ROUTE_KEYS = 32;
/** Keys still to go in a received request: strictly fewer than a full route. */
export const MAX_REMAINING_ROUTE_KEYS = MAX_ROUTE_KEYS - 1;
/** Bytes in a currency name (at least 1). */
export const MAX_CURRENCY_BYTES = 16;
/** Currencies one side may announce to a friend. */
export const MAX_CURRENCIES_PER_FRIEND = 64;
/** Relays a node announces. */
export const MAX_RELAYS = 16;
/** Bytes in a relay address. */
export const MAX_ADDRESS_BYTES = 256;
/** Requests this node's apps may have queued towards one friend (sent up to MAX_OPS_PER_MOVE per move). */
export const MAX_PENDING_USER_REQUESTS = 1024;
/** Forwarded requests queued towards one friend before new ones are cancelled. */
export const MAX_QUEUED_REQUESTS = 4096;
/** Bytes in a friend's local name. */
export const MAX_NAME_BYTES = 64;

/** Default lifetime of an unanswered request, set by the buyer. */
export const DEFAULT_REQUEST_TTL_MS = 60_000;
/** Each forwarder shortens the lifetime by this much, so the hop below gives up first. */
export const HOP_TTL_MARGIN_MS = 2_000;
